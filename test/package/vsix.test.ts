import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as yauzl from 'yauzl';

const VSIX = path.join(__dirname, '..', '..', 'sandkasten.vsix');

function listEntries(file: string): Promise<Array<{ name: string; size: number }>> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (error, zip) => {
      if (error || !zip) return reject(error);
      const entries: Array<{ name: string; size: number }> = [];
      zip.on('entry', (entry: yauzl.Entry) => {
        entries.push({ name: entry.fileName, size: entry.uncompressedSize });
        zip.readEntry();
      });
      zip.on('end', () => resolve(entries));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

describe('the VSIX package', () => {
  it('exists (built by `npm run package`)', () => {
    assert.ok(fs.existsSync(VSIX), `${VSIX} is missing: run \`npm run package\` first (npm test does).`);
  });

  it('contains the three bundles, the dashboard webview, the sql.js wasm, the CLI launcher, the API declarations and the manifest', async () => {
    const names = new Set((await listEntries(VSIX)).map((e) => e.name));
    for (const required of [
      'extension/dist/extension.js',
      'extension/dist/sidecar.js',
      'extension/dist/cli.js',
      'extension/dist/webview/dashboard.js',
      'extension/dist/webview/dashboard.css',
      'extension/dist/sql-wasm.wasm',
      'extension/bin/sandkasten',
      'extension/api/sandkasten.d.ts',
      'extension/package.json',
      'extension/media/sandkasten.svg',
    ]) {
      assert.ok(names.has(required), `${required} is missing from the VSIX`);
    }
  });

  it('ships nothing the bundles already include: no node_modules, sources, tests or source maps (the API declarations aside)', async () => {
    const entries = await listEntries(VSIX);
    const offending = entries
      .map((e) => e.name)
      .filter((name) => name !== 'extension/api/sandkasten.d.ts')
      .filter((name) => /(^|\/)node_modules\//.test(name) || /\.(ts|map)$/.test(name) || /^extension\/(src|sidecar|cli|test|scripts|\.cache)\//.test(name));
    assert.deepEqual(offending, []);
    const total = entries.reduce((sum, e) => sum + e.size, 0);
    const packed = fs.statSync(VSIX).size;
    console.log(`VSIX: ${(packed / 1024).toFixed(0)} KiB packed, ${(total / 1024).toFixed(0)} KiB unpacked, ${entries.length} files`);
  });
});
