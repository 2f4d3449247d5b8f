// The rooms of src/ stay apart. ARCHITECTURE.md's table is the one list of
// rooms and of which rooms each may import; this test reads it, reads the
// imports of every src/**/*.ts file with TypeScript's own preProcessFile
// (static, type-only, dynamic import('…') and export … from alike), and
// fails on an import the table does not allow, on rooms importing each
// other (directly or round a longer circle) and on anything importing a
// composition root.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import ts from 'typescript';

const repository = fileURLToPath(new URL('..', import.meta.url));
const sourceRoot = join(repository, 'src');
const roots = ['server.ts', 'cli.ts'];

interface Import {
  /** Both paths relative to src/ (or to the repository, for a target outside src/). */
  from: string;
  to: string;
  fromRoom: string;
  toRoom: string;
}

/** The room of a file under src/: its folder, a root by name, or `shared` for the other top-level modules. */
function roomOf(pathInSource: string): string {
  const [first, ...rest] = pathInSource.split('/');
  if (rest.length > 0) return `${first}/`;
  return roots.includes(first!) ? first! : 'shared';
}

function sourceFiles(directory = sourceRoot): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Relative module specifiers of one file's source, as the compiler reads them. */
function importSpecifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((file) => file.fileName).filter((name) => name.startsWith('.'));
}

function importsOfSource(): Import[] {
  return sourceFiles().flatMap((file) =>
    importSpecifiers(readFileSync(file, 'utf8')).map((specifier) => {
      const target = resolve(dirname(file), specifier);
      const from = relative(sourceRoot, file);
      const insideSource = target.startsWith(`${sourceRoot}/`);
      const to = insideSource ? relative(sourceRoot, target) : relative(repository, target);
      return { from, to, fromRoom: roomOf(from), toRoom: insideSource ? roomOf(to) : to.startsWith('views/') ? 'views/' : 'outside src/' };
    }),
  );
}

/** ARCHITECTURE.md's table: each room (first cell) and the rooms it may import (third cell). */
function allowedImports(): Map<string, string[]> {
  const rows = readFileSync(join(repository, 'ARCHITECTURE.md'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('| `'));
  return new Map(
    rows.map((row) => {
      const cells = row.split(' | ');
      const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
      return [names(cells[0]!)[0]!, names(cells[2] ?? '')];
    }),
  );
}

/** Circles in a graph of rooms (at least one through every tangle), each as the rooms along it, the first repeated at the end. */
function circles(edges: Map<string, Set<string>>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const visit = (room: string, path: string[]) => {
    if (path.includes(room)) {
      found.push([...path.slice(path.indexOf(room)), room]);
      return;
    }
    if (done.has(room)) return;
    for (const next of edges.get(room) ?? []) visit(next, [...path, room]);
    done.add(room);
  };
  for (const room of edges.keys()) visit(room, []);
  return found;
}

const crossing = (edge: Import) => edge.fromRoom !== edge.toRoom;
const describeEdge = (edge: Import) => `src/${edge.from} imports ${edge.to} (${edge.fromRoom} -> ${edge.toRoom})`;

describe('the rooms of src/ (ARCHITECTURE.md)', () => {
  const imports = importsOfSource();
  const allowed = allowedImports();

  it('reads static, type-only, dynamic and re-export imports alike', () => {
    const source = [
      "import { a } from './a.ts';",
      "import type { B } from '../b/b.ts';",
      "export { c } from './c.ts';",
      "const d = await import('./d.ts');",
      "import { z } from 'zod';",
    ].join('\n');
    expect(importSpecifiers(source)).to.have.members(['./a.ts', '../b/b.ts', './c.ts', './d.ts']);
  });

  it('lists every room of src/ in the table, and only rooms it lists as allowed targets', () => {
    const rooms = new Set(sourceFiles().map((file) => roomOf(relative(sourceRoot, file))));
    const unlisted = [...rooms].filter((room) => !roots.includes(room) && !allowed.has(room));
    const unknownTargets = [...allowed.values()].flat().filter((room) => !allowed.has(room));
    expect(unlisted, 'rooms missing from ARCHITECTURE.md').to.deep.equal([]);
    expect(unknownTargets, 'targets that are no room of the table').to.deep.equal([]);
  });

  it('imports across rooms only where the table allows', () => {
    const forbidden = imports
      .filter(crossing)
      .filter((edge) => !roots.includes(edge.fromRoom))
      .filter((edge) => !(allowed.get(edge.fromRoom) ?? []).includes(edge.toRoom))
      .map(describeEdge);
    expect(forbidden).to.deep.equal([]);
  });

  it('has no two rooms importing each other, directly or round a circle, in the code or in the table', () => {
    const edges = new Map<string, Set<string>>();
    for (const edge of imports.filter(crossing)) {
      edges.set(edge.fromRoom, (edges.get(edge.fromRoom) ?? new Set()).add(edge.toRoom));
    }
    expect(circles(edges).map((circle) => circle.join(' -> ')), 'in the code').to.deep.equal([]);
    const table = new Map([...allowed].map(([room, targets]) => [room, new Set(targets)]));
    expect(circles(table).map((circle) => circle.join(' -> ')), 'in ARCHITECTURE.md').to.deep.equal([]);
  });

  it('imports neither composition root (server.ts, cli.ts)', () => {
    const intoRoots = imports.filter((edge) => roots.includes(edge.toRoom)).map(describeEdge);
    expect(intoRoots).to.deep.equal([]);
  });
});
