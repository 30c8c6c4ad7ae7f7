// `npm test`: everything CI runs, on a bare machine too. It brings up what the tests need
// (a Docker engine, the local test image, code-server), builds and packages the extension,
// then runs every suite in ONE `node --test` so the closing summary counts them all.
// A prerequisite that cannot be brought up fails the run: nothing is silently skipped.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();

function step(title, command, args) {
  process.stderr.write(`\n▶ ${title}\n`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (result.status !== 0) {
    process.stderr.write(`\n✖ ${title} failed (exit ${result.status ?? result.signal}). The tests cannot run without it.\n`);
    process.exit(result.status || 1);
  }
}

step('Type-check', 'npx', ['tsc', '-p', '.']);
step('Type-check the dashboard webview (DOM types)', 'npx', ['tsc', '-p', 'src/dashboard/webview']);
step('Lint (ESLint, zero warnings)', 'npm', ['run', 'lint', '--silent']);
step('Bundle and package the VSIX', 'npm', ['run', 'package', '--silent']);
step('Docker engine', 'bash', ['scripts/docker-up.sh']);
step('Local test images (busybox, and Debian with bash)', 'bash', ['scripts/build-test-image.sh', '--debian']);
step('code-server and Chromium for the end-to-end suite', 'bash', ['scripts/code-server-setup.sh', '--with-browser']);
step('A second Docker engine for the remote suites (TLS and ssh on loopback)', 'bash', ['scripts/remote-engine.sh', 'up']);

// Node 20's --test takes no globs: list the files (unit first: they fail fastest).
// test/remote runs integration suites again against the second engine (see test/support/remoteEngine.ts).
const listed = (suites) =>
  suites.flatMap((suite) =>
    readdirSync(join(root, 'test', suite))
      .filter((name) => name.endsWith('.test.ts'))
      .sort()
      .map((name) => join('test', suite, name)),
  );
// --test-force-exit: a file whose tests all finished must not hang the run on a stray handle;
// --test-timeout: no single test may hang CI (10 min, far above any real one).
const runTests = (files) => spawnSync('node', ['--import', 'tsx', '--test', '--test-force-exit', '--test-timeout=600000', ...files], { cwd: root, stdio: 'inherit' }).status ?? 1;

const suites = ['unit', 'package', 'integration', 'remote', 'e2e'];
const files = listed(suites);
process.stderr.write(`\n▶ Tests: ${files.length} files in test/{${suites.join(',')}}\n`);
const main = runTests(files);
// test/faults stops and starts the second engine: alone, after everything else that uses it.
const faultFiles = listed(['faults']);
process.stderr.write(`\n▶ Faults of the second engine, alone (it is stopped and started): ${faultFiles.length} file(s) in test/faults\n`);
const faults = runTests(faultFiles);
process.stderr.write(`\nnpm test finished in ${((Date.now() - started) / 1000).toFixed(0)} s: ${main === 0 ? 'the suites passed' : 'the suites FAILED'}, ${faults === 0 ? 'the faults passed' : 'the faults FAILED'}\n`);
process.exit(main || faults);
