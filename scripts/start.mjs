#!/usr/bin/env node
// `npm start`: build and package the extension, make sure Docker and its default image are
// there, install the VSIX into a private code-server (a real VS Code in the browser) and
// serve it on localhost until Ctrl-C. Everything lives in .cache/, so a second run only
// rebuilds the extension.
//
// stdout carries exactly one line, the URL; progress goes to stderr.
// Options (after `npm start --`): --no-build  use the existing VSIX as is
//                                 --vsix FILE install FILE instead of sandkasten.vsix
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = path.join(repoRoot, '.cache');
const dataDir = path.join(cacheDir, 'code-server-data');
const userDataDir = path.join(dataDir, 'user');
const extensionsDir = path.join(dataDir, 'extensions');
const tryFolder = path.join(cacheDir, 'try-folder');
const serverLog = path.join(cacheDir, 'logs', 'code-server.log');
const firstPort = 8080;
const readyTimeoutMs = 60_000;
const stopGraceMs = 5_000;

const { values: options } = parseArgs({
  options: { 'no-build': { type: 'boolean', default: false }, vsix: { type: 'string' } },
});
const vsixPath = path.resolve(repoRoot, options.vsix ?? 'sandkasten.vsix');

const log = (message) => process.stderr.write(`[start] ${message}\n`);
function fail(message, output = '') {
  log(`error: ${message}`);
  if (output) process.stderr.write(output.endsWith('\n') ? output : `${output}\n`);
  process.exit(1);
}

// Under `npm start` we inherit npm's npm_* variables (its Node, its install-script policy);
// a nested npm must behave as if run by hand.
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(npm_|NODE$|INIT_CWD$)/.test(name)));

// npm's own output is noise unless it fails: keep it and show it only then.
function runQuietly(title, command, args) {
  log(`${title}…`);
  const result = spawnSync(command, args, { cwd: repoRoot, env: cleanEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status !== 0) fail(`${title} failed`, `${result.stdout ?? ''}${result.stderr ?? ''}`);
}

// Our scripts already print one short line per step on stderr: let it through. Their
// stdout is a result (code-server-setup.sh prints the launcher's path).
function runScript(script, ...args) {
  const result = spawnSync(path.join(repoRoot, 'scripts', script), args, {
    cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (result.status !== 0) fail(`scripts/${script} failed`);
  return result.stdout.trim();
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

async function choosePort() {
  if (process.env.PORT) {
    const port = Number(process.env.PORT);
    // Checked here: otherwise whatever holds the port could pass for a ready code-server.
    if (!(await portIsFree(port))) fail(`PORT=${port} is already in use`);
    return port;
  }
  for (let port = firstPort; port < firstPort + 100; port++) {
    if (await portIsFree(port)) return port;
  }
  fail(`no free port in ${firstPort}-${firstPort + 99}; set PORT`);
}

// code-server's /healthz is cheap, needs no auth and answers {"status": …} once it serves.
function answers(port) {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 1000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { body += chunk; });
      response.on('end', () => resolve(response.statusCode === 200 && body.includes('"status"')));
    });
    request.once('error', () => resolve(false));
    request.once('timeout', () => { request.destroy(); resolve(false); });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// code-server's flags that keep all its state inside .cache/ (--config too: otherwise it
// writes ~/.config/code-server/config.yaml).
const stateFlags = [
  '--user-data-dir', userDataDir,
  '--extensions-dir', extensionsDir,
  '--config', path.join(dataDir, 'config.yaml'),
];

// `npm run package` writes fresh timestamps into the VSIX every time, so fingerprint what it
// holds instead of its bytes: each entry's name, CRC-32 and size from the zip's central directory.
function vsixFingerprint(file) {
  const zip = fs.readFileSync(file);
  const endOfDirectory = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (endOfDirectory < 0) fail(`${file} is not a VSIX (zip) file`);
  const entries = zip.readUInt16LE(endOfDirectory + 10);
  let offset = zip.readUInt32LE(endOfDirectory + 16);
  const hash = createHash('sha256');
  for (let i = 0; i < entries; i++) {
    const nameLength = zip.readUInt16LE(offset + 28);
    hash.update(zip.subarray(offset + 16, offset + 20)); // CRC-32
    hash.update(zip.subarray(offset + 24, offset + 28)); // uncompressed size
    hash.update(zip.subarray(offset + 46, offset + 46 + nameLength));
    offset += 46 + nameLength + zip.readUInt16LE(offset + 30) + zip.readUInt16LE(offset + 32);
  }
  return hash.digest('hex');
}

// Installing takes a few seconds: skip it when this same VSIX content is already installed.
function installExtension(codeServer) {
  if (!fs.existsSync(vsixPath)) fail(`${vsixPath} does not exist (npm run package makes it)`);
  const hash = vsixFingerprint(vsixPath);
  const hashFile = path.join(dataDir, 'installed-vsix.sha256');
  // Uninstalling in the UI first lists the folder in .obsolete and deletes it later.
  const obsoleteFile = path.join(extensionsDir, '.obsolete');
  const installed = fs.existsSync(extensionsDir)
    && fs.readdirSync(extensionsDir).some((name) => name.startsWith('sandkasten.sandkasten-'))
    && !(fs.existsSync(obsoleteFile) && fs.readFileSync(obsoleteFile, 'utf8').includes('sandkasten.sandkasten-'));
  if (installed && fs.existsSync(hashFile) && fs.readFileSync(hashFile, 'utf8') === hash) {
    log('the extension is installed and up to date');
    return;
  }
  // --force: a rebuilt VSIX with the same version replaces the installed one.
  runQuietly('installing the extension into code-server', codeServer,
    [...stateFlags, '--install-extension', vsixPath, '--force']);
  fs.writeFileSync(hashFile, hash);
}

// Written only once, so the user's own changes survive. Workspace trust would open the folder
// in Restricted Mode; the try folder sits inside this git checkout, and git would ask about it.
function writeDefaultSettings() {
  const settingsFile = path.join(userDataDir, 'User', 'settings.json');
  if (fs.existsSync(settingsFile)) return;
  const settings = { 'security.workspace.trust.enabled': false, 'git.openRepositoryInParentFolders': 'never' };
  fs.mkdirSync(path.dirname(settingsFile), { recursive: true });
  fs.writeFileSync(settingsFile, `${JSON.stringify(settings, null, 2)}\n`);
}

async function serve(codeServer, port) {
  const logFd = fs.openSync(serverLog, 'w');
  // detached: its own process group, so we can stop it with its children in one kill, and a
  // Ctrl-C in the terminal reaches only us.
  const server = spawn(codeServer, [
    '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`,
    '--disable-telemetry', '--disable-update-check', ...stateFlags, tryFolder,
  ], { cwd: repoRoot, detached: true, stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);

  let exited = false;
  let stopping = false;
  const tail = () => fs.readFileSync(serverLog, 'utf8').split('\n').slice(-20).join('\n');
  server.once('exit', (code, signal) => {
    exited = true;
    if (!stopping) fail(`code-server exited (${signal ?? `code ${code}`}); log ${serverLog}:`, tail());
  });

  const killGroup = (signal) => { try { process.kill(-server.pid, signal); } catch { /* already gone */ } };
  const stopServer = async () => {
    stopping = true;
    killGroup('SIGTERM');
    for (let waited = 0; !exited && waited < stopGraceMs; waited += 100) await sleep(100);
    killGroup('SIGKILL');
  };
  const onSignal = async () => {
    if (stopping) return;
    log('stopping code-server…');
    await stopServer();
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, onSignal);

  log(`starting code-server on port ${port} (log: ${path.relative(repoRoot, serverLog)})…`);
  const deadline = Date.now() + readyTimeoutMs;
  while (!(await answers(port))) {
    if (exited || stopping) return;
    if (Date.now() > deadline) {
      await stopServer();
      fail(`code-server did not answer on port ${port} within ${readyTimeoutMs / 1000} s`, tail());
    }
    await sleep(250);
  }
  process.stdout.write(`Sandkasten is running in VS Code at http://127.0.0.1:${port}/\n`);
  log('press Ctrl-C to stop');
}

if (!options['no-build']) {
  // A fresh clone: install the locked dependencies first (npm ci is idempotent but slow,
  // so only when they are missing).
  if (!fs.existsSync(path.join(repoRoot, 'node_modules', '.package-lock.json'))) {
    runQuietly('installing dependencies (npm ci)', 'npm', ['ci', '--no-audit', '--no-fund']);
  }
  // `package` bundles too (production, no source maps): one build is enough.
  runQuietly('building and packaging the VSIX (npm run package)', 'npm', ['run', 'package']);
}
runScript('docker-up.sh');
runScript('build-test-image.sh', '--debian');
const codeServer = runScript('code-server-setup.sh');
fs.mkdirSync(path.dirname(serverLog), { recursive: true });
fs.mkdirSync(tryFolder, { recursive: true });
installExtension(codeServer);
writeDefaultSettings();
await serve(codeServer, await choosePort());
