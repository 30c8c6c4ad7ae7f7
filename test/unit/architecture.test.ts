/**
 * The structure the README's folder map promises, checked on the source: where SQL and
 * Docker calls may live, which way imports flow, and no import cycle — type-only imports
 * included, which ESLint's import-x/no-cycle does not follow.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

const root = path.join(__dirname, '..', '..');

function sourceFiles(folder: string): string[] {
  return fs
    .readdirSync(path.join(root, folder), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => path.join(folder, name));
}

const files = ['sidecar', 'src', 'cli', 'bench'].flatMap(sourceFiles);
const text = new Map(files.map((file) => [file, fs.readFileSync(path.join(root, file), 'utf8')]));

/** Relative imports of a file (value and type), resolved to repository paths. */
function importsOf(file: string): string[] {
  const found: string[] = [];
  for (const match of text.get(file)!.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
    const target = path.join(path.dirname(file), match[1]);
    for (const candidate of [`${target}.ts`, path.join(target, 'index.ts'), target]) {
      if (text.has(candidate)) {
        found.push(candidate);
        break;
      }
    }
  }
  return found;
}

describe('architecture', () => {
  // The extension's modules take `ctx: Ctx` by type while Ctx builds some of them (the
  // rust-analyzer pattern); their value imports are checked by ESLint's import-x/no-cycle.
  it('has no import cycle in the sidecar, the CLI or the bench, counting type-only imports', () => {
    const graph = new Map(files.filter((file) => !file.startsWith('src')).map((file) => [file, importsOf(file)]));
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, trail: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...trail.slice(trail.indexOf(file)), file].join(' → '));
        return;
      }
      state.set(file, 'visiting');
      for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    assert.deepEqual(cycles, []);
  });

  it('keeps every SQL statement in sidecar/store/', () => {
    const sql = /\b(SELECT\s+[\w*]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX))\b/;
    const outside = files.filter((file) => !file.startsWith(path.join('sidecar', 'store')) && sql.test(text.get(file)!));
    assert.deepEqual(outside, []);
  });

  it('calls Docker only from sidecar/docker/', () => {
    const docker = /from 'dockerode'|getContainer\(|getVolume\(|getImage\(/;
    const outside = files.filter((file) => !file.startsWith(path.join('sidecar', 'docker')) && file !== path.join('bench', 'bench.ts') && docker.test(text.get(file)!));
    assert.deepEqual(outside, [], 'bench.ts may drive dockerode directly: it measures it as a baseline');
  });

  it('lets the extension, the CLI and the bench reach the sidecar only through sidecar/client/', () => {
    const clientFolder = path.join('sidecar', 'client') + path.sep;
    // The scale bench makes databases of 10,000 workspaces directly, with the store itself
    // (no Docker object behind them): its one way past the client, and only into store/.
    const storeForScale = (file: string, target: string) => file === path.join('bench', 'scale.ts') && target.startsWith(path.join('sidecar', 'store') + path.sep);
    const offenders = files
      .filter((file) => !file.startsWith('sidecar'))
      .flatMap((file) =>
        importsOf(file)
          .filter((target) => target.startsWith('sidecar') && !target.startsWith(clientFolder) && !storeForScale(file, target))
          .map((target) => `${file} → ${target}`),
      );
    assert.deepEqual(offenders, []);
  });

  it('keeps the client library free of the daemon, vscode and dockerode', () => {
    const clientFiles = files.filter((file) => file.startsWith(path.join('sidecar', 'client')));
    const offenders = clientFiles.flatMap((file) =>
      [...importsOf(file).filter((target) => !target.startsWith(path.join('sidecar', 'client'))), ...(/from '(vscode|dockerode)'/.test(text.get(file)!) ? ['vscode/dockerode'] : [])].map(
        (target) => `${file} → ${target}`,
      ),
    );
    assert.deepEqual(offenders, []);
  });

  it('imports the exec output notification in one module only', () => {
    const users = files.filter((file) => /ExecOutputNotification\b/.test(text.get(file)!.replace(/^\s*(\/\/|\*).*$/gm, '')) && !file.endsWith(path.join('client', 'protocol.ts')));
    assert.deepEqual(users.filter((file) => file.startsWith('sidecar')), [path.join('sidecar', 'server', 'handlers', 'exec.ts')]);
  });
});
