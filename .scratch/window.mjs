// usage: node window.mjs file.cpuprofile  -> per-second busy fraction; with FROM TO (s) prints profile restricted to window
import { readFileSync, writeFileSync } from 'node:fs';
const [file, from, to] = process.argv.slice(2);
const p = JSON.parse(readFileSync(file, 'utf8'));
const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
let t = 0; const times = [];
for (const d of p.timeDeltas) { t += d; times.push(t / 1e6); }
if (!from) {
  const buckets = new Map();
  p.samples.forEach((s, i) => { const b = Math.floor(times[i]); const e = buckets.get(b) ?? [0, 0]; e[1]++; if (!idle.has(s)) e[0]++; buckets.set(b, e); });
  for (const [b, [busy, all]] of buckets) console.log(b, (busy / all).toFixed(2));
} else {
  const keep = p.samples.map((_, i) => times[i] >= Number(from) && times[i] < Number(to));
  const samples = [], deltas = [];
  p.samples.forEach((s, i) => { if (keep[i]) { samples.push(s); deltas.push(p.timeDeltas[i]); } });
  writeFileSync('/tmp/window.cpuprofile', JSON.stringify({ ...p, samples, timeDeltas: deltas }));
  console.log('written', samples.length);
}
