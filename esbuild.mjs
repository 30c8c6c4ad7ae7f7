// Bundles the extension, the sidecar and the CLI into dist/, with sql.js's wasm beside them.
// Usage: node esbuild.mjs [--watch] [--production]
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  // ssh2 (dockerode's optional SSH transport) and ws load these optional native helpers inside try/catch.
  external: ['cpu-features', './crypto/build/Release/sshcrypto.node', 'bufferutil', 'utf-8-validate'],
  // sql.js is bundled; database.ts only resolves its package when run from source (tests).
  logOverride: { 'require-resolve-not-external': 'silent' },
};

const entries = [
  { entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', external: [...common.external, 'vscode'] },
  { entryPoints: ['sidecar/main.ts'], outfile: 'dist/sidecar.js' },
  { entryPoints: ['cli/main.ts'], outfile: 'dist/cli.js' },
  // The dashboard webview's script, run by the browser inside VS Code; its CSS import becomes dist/webview/dashboard.css.
  { entryPoints: ['src/dashboard/webview/main.ts'], outfile: 'dist/webview/dashboard.js', platform: 'browser', format: 'iife', target: 'es2022', external: [] },
];

mkdirSync('dist', { recursive: true });
copyFileSync(join(dirname(require.resolve('sql.js')), 'sql-wasm.wasm'), 'dist/sql-wasm.wasm');

const contexts = await Promise.all(entries.map((entry) => esbuild.context({ ...common, ...entry })));
if (watch) {
  await Promise.all(contexts.map((context) => context.watch()));
} else {
  await Promise.all(contexts.map((context) => context.rebuild()));
  await Promise.all(contexts.map((context) => context.dispose()));
}
