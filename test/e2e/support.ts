/**
 * What the end-to-end suites stand on, below the workbench: where things are (the VSIX,
 * code-server, Chromium, artifacts), how long a wait may last, polling, running a process,
 * free ports, files, Docker seen from the test (never through the extension) and the
 * prerequisites, each failing with the command that fixes it.
 *
 * No assertion is about time: waits are bounded only so a broken build fails instead of
 * hanging.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** The packaged extension (`npm run package`); SANDKASTEN_VSIX tests another build. */
export const VSIX = path.resolve(REPO_ROOT, process.env.SANDKASTEN_VSIX ?? 'sandkasten.vsix');
export const CODE_SERVER = path.join(REPO_ROOT, '.cache', 'bin', 'code-server');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = path.join(REPO_ROOT, 'artifacts', 'e2e');
export const TEST_IMAGE = 'sandkasten-test/busybox:latest';
/** The label every Docker object of one sidecar (one storage directory) carries. */
export const INSTANCE_LABEL = 'sandkasten.instance';
export const WORKSPACE_LABEL = 'sandkasten.workspace';
export const SESSION_LABEL = 'sandkasten.session';

/** Bounds, not expectations: the machine has 2 shared cores and everything here is real. */
export const LIMITS = {
  /** code-server answering /healthz. */
  serverMs: 60_000,
  /** The workbench and then the extension's activity bar icon (~5 s and ~10 s when idle). */
  workbenchMs: 90_000,
  /** A UI reaction: a palette row, an input box, a menu, a tree refresh. */
  uiMs: 30_000,
  /** Work that reaches Docker: creating a workspace, starting a session, running a command. */
  dockerMs: 90_000,
  /** One test, end to end. */
  testMs: 240_000,
  /** Starting or stopping a whole suite (code-server, browser, sidecar, Docker clean-up). */
  suiteMs: 240_000,
};

const POLL_MS = 250;

// ---------------------------------------------------------------------------------------------
// Small utilities

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Matches the whole (whitespace-trimmed) text, nothing more. */
export function exactly(text: string): RegExp {
  return new RegExp(`^\\s*${escapeRegExp(text)}\\s*$`);
}

/**
 * Polls `probe` until it returns something other than undefined. On giving up, the error names
 * what was awaited and what was last seen (`describe`), which is what a failure needs.
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  options: { limitMs?: number; describe?: () => Promise<string> | string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.limitMs ?? LIMITS.uiMs);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      let seen = '';
      try {
        seen = options.describe ? `; last seen: ${await options.describe()}` : '';
      } catch {
        /* the description is best effort */
      }
      throw new Error(`Gave up waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}${seen}`);
    }
    await sleep(POLL_MS);
  }
}

export function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 70);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { env: options.env ?? process.env, cwd: REPO_ROOT, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) || (error && typeof error.code !== 'number' ? error.message : '') });
      },
    );
  });
}

export { freePort } from '../support/localPorts';

/** code-server's /healthz needs no auth and answers {"status": …} once it serves. */
export function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 1000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(response.statusCode === 200 && body.includes('"status"')));
    });
    request.once('error', () => resolve(false));
    request.once('timeout', () => {
      request.destroy();
      resolve(false);
    });
  });
}

export function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function tail(text: string | undefined, lines = 30): string {
  return (text ?? '(empty)').trimEnd().split('\n').slice(-lines).join('\n');
}

export function findFiles(dir: string, match: (name: string) => boolean): string[] {
  const found: string[] = [];
  const walk = (current: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (match(entry.name)) found.push(full);
    }
  };
  walk(dir);
  return found.sort();
}

/**
 * The processes whose command line contains `text` (Linux: read from /proc), e.g. a suite's
 * unique temporary directory: what is left of that suite's code-server or sidecar.
 */
export function processesMentioning(text: string): Array<{ pid: number; args: string }> {
  const found: Array<{ pid: number; args: string }> = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const args = (readIfExists(path.join('/proc', entry, 'cmdline')) ?? '').split('\0').join(' ').trim();
    if (args.includes(text)) found.push({ pid: Number(entry), args });
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Docker, seen from the test (never through the extension)

export interface DockerObjects {
  containers: string[];
  volumes: string[];
}

/** Names of the containers (any state) and volumes carrying `label=value`. */
export async function dockerObjects(label: string, value: string): Promise<DockerObjects> {
  const filter = `label=${label}=${value}`;
  const [containers, volumes] = await Promise.all([
    run('docker', ['ps', '-a', '--filter', filter, '--format', '{{.Names}}']),
    run('docker', ['volume', 'ls', '--filter', filter, '--format', '{{.Name}}']),
  ]);
  if (containers.code !== 0 || volumes.code !== 0) {
    throw new Error(`docker could not list objects labelled ${label}=${value}: ${containers.stderr}${volumes.stderr}`);
  }
  const lines = (text: string) => text.split('\n').map((line) => line.trim()).filter(Boolean).sort();
  return { containers: lines(containers.stdout), volumes: lines(volumes.stdout) };
}

/** Names of the running containers carrying `label=value`. */
export async function runningContainers(label: string, value: string): Promise<string[]> {
  const result = await run('docker', ['ps', '--filter', `label=${label}=${value}`, '--format', '{{.Names}}']);
  if (result.code !== 0) throw new Error(`docker ps failed: ${result.stderr}`);
  return result.stdout.split('\n').map((line) => line.trim()).filter(Boolean);
}

export async function removeDockerObjects(objects: DockerObjects): Promise<void> {
  if (objects.containers.length > 0) await run('docker', ['rm', '-f', '-v', ...objects.containers]);
  if (objects.volumes.length > 0) await run('docker', ['volume', 'rm', '-f', ...objects.volumes]);
}

// ---------------------------------------------------------------------------------------------
// Prerequisites: each failure names the command that fixes it

let prerequisitesChecked: Promise<void> | undefined;

/** Fails (never skips) with the command to run when something the suite needs is missing. */
export function checkPrerequisites(): Promise<void> {
  prerequisitesChecked ??= (async () => {
    assert.ok(
      fs.existsSync(VSIX),
      `${VSIX} is missing. The end-to-end tests install the packaged extension: run \`npm run package\` first (and again after changing src/ or sidecar/).`,
    );
    assert.ok(
      fs.existsSync(CODE_SERVER),
      `code-server is not installed (${CODE_SERVER} is missing): run \`bash scripts/code-server-setup.sh\` (installs code-server 4.139.1 and Node 24 under .cache/, once).`,
    );
    assert.ok(fs.existsSync(CHROMIUM), `Chromium is missing (${CHROMIUM}): run \`apt-get install -y chromium\` (or set CHROMIUM_PATH).`);
    const info = await run('docker', ['info', '--format', '{{.ServerVersion}}']);
    assert.equal(info.code, 0, `The Docker engine does not answer (docker info: ${info.stderr.trim()}): run \`bash scripts/docker-up.sh\`.`);
    const image = await run('docker', ['image', 'inspect', TEST_IMAGE, '--format', '{{.Id}}']);
    assert.equal(image.code, 0, `The test image ${TEST_IMAGE} is missing: run \`bash scripts/build-test-image.sh\`.`);
  })();
  return prerequisitesChecked;
}

/** How the tree and pickers show a session id: "ses-38b84b7f5016" → "38b84b7f" (src/views/items.ts). */
export function shortId(id: string): string {
  return id.replace(/^[a-z]+-/, '').slice(0, 8);
}
