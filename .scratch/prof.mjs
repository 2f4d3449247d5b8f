// usage: node prof.mjs file.cpuprofile [top]
import { readFileSync } from 'node:fs';
const profile = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const top = Number(process.argv[3] ?? 40);
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfTime = new Map();
const dt = profile.timeDeltas;
for (let i = 0; i < profile.samples.length; i++) selfTime.set(profile.samples[i], (selfTime.get(profile.samples[i]) ?? 0) + (dt[i] ?? 0));
const total = [...selfTime.values()].reduce((a, b) => a + b, 0);
const key = (n) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/.*node_modules\//, '').replace(/.*\/work\/main\//, '')}:${n.callFrame.lineNumber}`;
const pkg = (n) => { const u = n.callFrame.url; if (!u) return n.callFrame.functionName; const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(u); if (m) return m[1]; if (u.includes('/work/main/')) return u.replace(/.*\/work\/main\//, ''); return u.startsWith('node:') ? 'node:' + u.slice(5).split('/')[0] : u; };
const agg = (f) => { const m = new Map(); for (const [id, t] of selfTime) { const k = f(nodes.get(id)); m.set(k, (m.get(k) ?? 0) + t); } return [...m].sort((a, b) => b[1] - a[1]); };
console.log('total ms', (total / 1000).toFixed(0));
console.log('--- self by package');
for (const [k, t] of agg(pkg).slice(0, 30)) console.log((100 * t / total).toFixed(1).padStart(5), k);
console.log('--- self by function');
for (const [k, t] of agg(key).slice(0, top)) console.log((100 * t / total).toFixed(1).padStart(5), k);
// inclusive by function name (counting once per stack)
const incl = new Map();
for (const [id, t] of selfTime) { const seen = new Set(); let cur = id; while (cur !== undefined) { const k = key(nodes.get(cur)); if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + t); } cur = parent.get(cur); } }
console.log('--- inclusive');
for (const [k, t] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log((100 * t / total).toFixed(1).padStart(5), k);
