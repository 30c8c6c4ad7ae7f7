/**
 * Shared set-up of the integration tests: the real sidecar bundle (dist/sidecar.js) started as
 * a separate process in a temporary storage directory, real JSON-RPC clients, the real Docker
 * engine. Nothing is mocked. Every helper that creates something has a matching clean-up.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before } from 'node:test';
import Docker from 'dockerode';
import { ResponseError, SidecarClient } from '../../sidecar/client/sidecarClient';
import { homePaths } from '../../sidecar/client/home';
import * as P from '../../sidecar/client/protocol';
import { remoteDocker, testEngine } from '../support/remoteEngine';

export { P, ResponseError, SidecarClient };

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const SIDECAR_SCRIPT = path.join(REPO_ROOT, 'dist', 'sidecar.js');
export const CLI_SCRIPT = path.join(REPO_ROOT, 'bin', 'sandkasten');
export const TEST_IMAGE = 'sandkasten-test/busybox:latest';
/** The label every object of one storage directory carries. */
export const INSTANCE_LABEL = 'sandkasten.instance';

/**
 * The engine this test process runs against: undefined for the local one, 'tls' or 'ssh' when
 * an entry file in test/remote pointed it at the second engine (see test/support/remoteEngine).
 */
export const TEST_ENGINE = testEngine();

/**
 * Docker as the tests see it: only for assertions and for staging crashes, never mocked. The
 * same engine the sidecar uses (the second engine through its own socket when remote).
 */
export const docker = TEST_ENGINE ? remoteDocker() : new Docker();

/** A suite's title, saying which engine it runs against when that is not the local one. */
export function onEngine(title: string): string {
  return TEST_ENGINE ? `${title} (remote engine over ${TEST_ENGINE === 'tls' ? 'TLS' : 'ssh'})` : title;
}

const POLL_INTERVAL_MS = 100;
const POLL_LIMIT_MS = 30_000;

assert.ok(
  fs.existsSync(SIDECAR_SCRIPT),
  `${SIDECAR_SCRIPT} is missing: run \`npm run build\` before the integration tests.`,
);

/** A new, short storage directory (it hosts a Unix socket, whose path is limited to ~104 bytes). */
export function makeHome(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sk-'));
}

/** Polls `probe` until it returns something other than undefined; fails after a bound. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, limitMs = POLL_LIMIT_MS): Promise<T> {
  const deadline = Date.now() + limitMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`Gave up waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}.`);
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * True once the process has exited. A zombie waiting for its parent counts as exited, but only
 * once all its threads are gone: after SIGKILL the main thread of a Node process shows `Z` while
 * its other threads still hold the open files (the listening socket among them).
 */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const zombie = stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
    return zombie && fs.readdirSync(`/proc/${pid}/task`).length <= 1;
  } catch {
    return true;
  }
}

/** True when nothing accepts connections on the socket (or it does not exist). */
export function socketRefuses(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

export function waitForExit(pid: number): Promise<true> {
  return waitFor(`process ${pid} to exit`, () => (processGone(pid) ? true : undefined));
}

/** Awaits a request that must fail, and checks its typed error code. */
export async function expectError(promise: Promise<unknown>, code: P.ErrorCodeName): Promise<ResponseError<unknown>> {
  let result: unknown;
  try {
    result = await promise;
  } catch (error) {
    assert.ok(error instanceof ResponseError, `expected a ResponseError ${code}, got ${String(error)}`);
    assert.equal(
      P.errorCodeName(error.code) ?? error.code,
      code,
      `expected error ${code}, got ${P.errorCodeName(error.code) ?? error.code}: ${error.message}`,
    );
    assert.ok(error.message.trim().length > 0, 'the error carries a message');
    assert.doesNotMatch(error.message, /\n\s+at /, 'the message is a sentence, not a stack trace');
    return error;
  }
  assert.fail(`expected error ${code}, but the request succeeded with ${JSON.stringify(result)}`);
}

/** iptables rules that name an instance's sandbox bridge (empty where iptables is missing). */
function hostFirewallRules(instanceId: string): string[] {
  try {
    const rules = execFileSync('iptables', ['-S'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return rules.split('\n').filter((rule) => rule.includes(`sk-${instanceId.slice(0, 12)}`));
  } catch {
    return [];
  }
}

/** The containers, volumes and networks labelled with one instance, straight from Docker. */
export async function instanceObjects(
  instanceId: string,
  engine: Docker = docker,
): Promise<{ containers: Docker.ContainerInfo[]; volumes: Docker.VolumeInspectInfo[]; networks: Docker.NetworkInspectInfo[] }> {
  const filters = { label: [`${INSTANCE_LABEL}=${instanceId}`] };
  const [containers, volumes, networks] = await Promise.all([
    engine.listContainers({ all: true, filters }),
    engine.listVolumes({ filters }),
    engine.listNetworks({ filters }),
  ]);
  return { containers, volumes: volumes.Volumes ?? [], networks };
}

/** Names of an instance's containers and volumes, sorted: a snapshot to compare. */
export async function instanceObjectNames(instanceId: string): Promise<{ containers: string[]; volumes: string[] }> {
  const { containers, volumes } = await instanceObjects(instanceId);
  return {
    containers: containers.map((c) => c.Names[0]?.replace(/^\//, '') ?? c.Id).sort(),
    volumes: volumes.map((v) => v.Name).sort(),
  };
}

/** undefined when the container does not exist. */
export async function inspectContainer(id: string): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await docker.getContainer(id).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

export async function volumeExists(name: string): Promise<boolean> {
  try {
    await docker.getVolume(name).inspect();
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return false;
    throw error;
  }
}

export interface StartOptions {
  home?: string;
  /** Environment of the spawned sidecar (e.g. a DOCKER_HOST that leads nowhere). */
  env?: NodeJS.ProcessEnv;
  /** Fail at once, with a clear message, when the sidecar cannot reach Docker (default true). */
  requireDocker?: boolean;
  /** The engine that `env` points the sidecar at, for the clean-up's checks (default: `docker`). */
  docker?: Docker;
}

/**
 * One storage directory and its sidecar, seen through real clients. `client` is the main
 * connection; `connectAgain()` opens more. `pid` and `instanceId` come from StatusRequest.
 * Suites get one from `useSidecar()`; `SidecarHarness.start()` is for one-off connections.
 */
export class SidecarHarness {
  client!: SidecarClient;
  pid = 0;
  instanceId = '';
  status!: P.SidecarStatus;
  readonly home: string;
  readonly env: NodeJS.ProcessEnv | undefined;
  private readonly clients = new Set<SidecarClient>();

  /** Makes the storage directory (unless given); nothing runs until `start()`. */
  constructor(private readonly options: StartOptions = {}) {
    this.home = options.home ?? makeHome();
    this.env = options.env;
  }

  static async start(options: StartOptions = {}): Promise<SidecarHarness> {
    const harness = new SidecarHarness(options);
    await harness.start();
    return harness;
  }

  /** Connects the main client, which starts the sidecar when none runs in this directory. */
  async start(): Promise<void> {
    await this.reconnect();
    if (this.options.requireDocker !== false && !this.status.docker.available) {
      await this.shutdown().catch(() => undefined);
      if (!this.options.home) fs.rmSync(this.home, { recursive: true, force: true });
      assert.fail(
        `The Docker engine is not reachable (${(this.status.docker.error ?? this.status.docker.endpoint).replace(/\.$/, '')}). ` +
          (TEST_ENGINE
            ? 'Run `bash scripts/remote-engine.sh up`; integration tests never skip.'
            : 'Run `bash scripts/docker-up.sh` (and `bash scripts/build-test-image.sh`); integration tests never skip.'),
      );
    }
    // A suite meant for the second engine really runs there, on the path a remote engine allows.
    if (TEST_ENGINE && !this.options.env && this.status.docker.available) {
      assert.equal(this.status.docker.transport, TEST_ENGINE, `the sidecar reaches the second engine over ${TEST_ENGINE} (${this.status.docker.endpoint})`);
      assert.equal(this.status.docker.outputPath, 'relayed', 'output from a remote engine is relayed: no FIFOs on this machine');
      assert.equal(this.status.hostIsolation.enforced, false, "a remote engine's firewall is not the sidecar's to change");
    }
  }

  /** A workspace of the test image, made through the main client. */
  createWorkspace(name: string, extra: Partial<P.CreateWorkspaceParams> = {}): Promise<P.WorkspaceInfo> {
    return createWorkspace(this.client, name, extra);
  }

  /** Starts (or resumes) the workspace's session through the main client. */
  startSession(workspaceId: string): Promise<P.SessionInfo> {
    return this.client.request(P.StartSessionRequest.type, { workspaceId });
  }

  /** A new workspace of the test image and a running session on it. */
  async newSession(name: string, extra: Partial<P.CreateWorkspaceParams> = {}): Promise<P.SessionInfo> {
    return this.startSession((await this.createWorkspace(name, extra)).id);
  }

  /** Deletes a workspace with its sessions (force): a test tidying up what it made. */
  removeWorkspace(id: string): Promise<{ id: string }> {
    return this.client.request(P.DeleteWorkspaceRequest.type, { id, force: true });
  }

  /**
   * A new client of this storage directory; starts a sidecar when none runs. When its
   * connection drops, its pending requests fail (SidecarClient alone leaves them pending
   * forever, see crash.test.ts), so a sidecar that dies during a test fails that test clearly.
   */
  async connectAgain(): Promise<SidecarClient> {
    const client = await this.rawClient();
    client.connection.onClose(() => client.connection.dispose());
    this.clients.add(client);
    return client;
  }

  /** A plain SidecarClient exactly as the CLI uses it, tracked for closing. */
  async rawClient(): Promise<SidecarClient> {
    const client = await SidecarClient.connect({ home: this.home, sidecarScript: SIDECAR_SCRIPT, env: this.env });
    this.clients.add(client);
    return client;
  }

  /** Connects the main client again (a new sidecar if the old one is gone) and refreshes pid/instance. */
  async reconnect(): Promise<P.SidecarStatus> {
    this.client = await this.connectAgain();
    this.status = await this.client.request(P.StatusRequest.type, {});
    this.pid = this.status.pid;
    this.instanceId = this.status.instanceId;
    return this.status;
  }

  /** kill -9 of the sidecar process; returns once it is gone. Clients see their connection drop. */
  async kill9(): Promise<void> {
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
    await waitForExit(this.pid);
    const socket = homePaths(this.home).socket;
    await waitFor(`${socket} to refuse connections`, async () => ((await socketRefuses(socket)) ? true : undefined));
    this.closeClients();
  }

  /** ShutdownSidecarRequest, then waits for the process to exit. */
  async shutdown(): Promise<void> {
    await this.client.request(P.ShutdownSidecarRequest.type, {});
    await waitForExit(this.pid);
    this.closeClients();
  }

  /** The last lines of the sidecar's log, for failure messages. */
  logTail(lines = 40): string {
    try {
      return fs.readFileSync(path.join(this.home, 'sidecar.log'), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  closeClients(): void {
    for (const client of this.clients) client.close();
    this.clients.clear();
  }

  /**
   * Deletes every workspace (force), shuts the sidecar down, removes anything of this instance
   * still in Docker (so a failure leaks nothing) and then asserts that there was nothing left.
   */
  async cleanup(): Promise<void> {
    const problems: string[] = [];
    try {
      if (!this.pid || processGone(this.pid)) await this.reconnect();
      const workspaces = await this.client.request(P.ListWorkspacesRequest.type, {});
      for (const workspace of workspaces) {
        await this.client
          .request(P.DeleteWorkspaceRequest.type, { id: workspace.id, force: true })
          .catch((error: Error) => problems.push(`deleting ${workspace.id}: ${error.message}`));
      }
      await this.shutdown();
    } catch (error) {
      problems.push(`cleaning up through the sidecar: ${(error as Error).message}`);
      if (this.pid && !processGone(this.pid)) process.kill(this.pid, 'SIGKILL');
      this.closeClients();
    }
    const engine = this.options.docker ?? docker;
    const left = this.instanceId ? await instanceObjects(this.instanceId, engine) : { containers: [], volumes: [], networks: [] };
    await Promise.all([
      ...left.containers.map((c) => engine.getContainer(c.Id).remove({ force: true }).catch(() => undefined)),
      ...left.volumes.map((v) => engine.getVolume(v.Name).remove({ force: true }).catch(() => undefined)),
    ]);
    await Promise.all(left.networks.map((n) => engine.getNetwork(n.Id).remove().catch(() => undefined)));
    // Host firewall rules of its sandbox network go with the network (root only: see HostFirewall).
    const firewallRules = this.instanceId && process.getuid?.() === 0 ? hostFirewallRules(this.instanceId) : [];
    const log = this.logTail();
    const pipeDirectories = fs.existsSync(homePaths(this.home).pipes) ? fs.readdirSync(homePaths(this.home).pipes) : [];
    const slotMounts = this.instanceId ? removeSlotsOf(this.instanceId) : [];
    fs.rmSync(this.home, { recursive: true, force: true });
    assert.deepEqual(problems, [], `the sidecar cleaned up without errors; its log ends with:\n${log}`);
    assert.deepEqual(pipeDirectories, [], 'every pipe directory left with its container');
    assert.deepEqual(slotMounts, [], 'every workspace slot was unmounted with its container');
    assert.deepEqual(firewallRules, [], 'no host firewall rule of this instance remains');
    assert.deepEqual(
      { containers: left.containers.map((c) => c.Names[0]), volumes: left.volumes.map((v) => v.Name), networks: left.networks.map((n) => n.Name) },
      { containers: [], volumes: [], networks: [] },
      `no container, volume or network labelled ${INSTANCE_LABEL}=${this.instanceId} remains`,
    );
  }

  /** After a failed `start()`: stops what did start and removes the directory made for it. */
  discard(): void {
    this.closeClients();
    if (this.pid && !processGone(this.pid)) process.kill(this.pid, 'SIGKILL');
    if (!this.options.home) fs.rmSync(this.home, { recursive: true, force: true });
  }
}

export interface UseSidecarOptions extends StartOptions {
  /**
   * 'before' (the default): `before` starts the sidecar and connects. 'after': the suite starts
   * it its own way (the CLI, racing clients) in `sidecar.home`; `after` connects to clean up.
   */
  connect?: 'before' | 'after';
}

/**
 * The set-up and tear-down every integration suite shares, as node:test hooks of the enclosing
 * `describe` (call it first there, so the suite's own `before` runs once the sidecar is up):
 * `before` starts a real sidecar in a new storage directory through a real client; `after`
 * deletes every workspace, shuts the sidecar down and asserts that nothing labelled with its
 * instance is left in Docker (see `SidecarHarness.cleanup`).
 */
export function useSidecar(options: UseSidecarOptions = {}): SidecarHarness {
  return useSidecars(1, options)[0];
}

/**
 * `count` sidecars (own storage directories and instances) in one pair of hooks, so each is
 * cleaned up and checked even when another's check fails (a failing `after` ends the rest).
 */
export function useSidecars(count: number, options: UseSidecarOptions = {}): SidecarHarness[] {
  assert.ok(count === 1 || !options.home, 'sidecars of one storage directory are one sidecar');
  const sidecars = Array.from({ length: count }, () => new SidecarHarness(options));
  let started = options.connect === 'after';
  if (!started) {
    before(async () => {
      await Promise.all(sidecars.map((sidecar) => sidecar.start()));
      started = true;
    });
  }
  after(async () => {
    // A failed start has failed the suite already, with its reason; nothing is left to check.
    if (!started) {
      for (const sidecar of sidecars) sidecar.discard();
      return;
    }
    const failed = (await Promise.allSettled(sidecars.map((sidecar) => sidecar.cleanup()))).find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
  });
  return sidecars;
}

/** A workspace of the test image. */
export function createWorkspace(client: SidecarClient, name: string, extra: Partial<P.CreateWorkspaceParams> = {}): Promise<P.WorkspaceInfo> {
  return client.request(P.CreateWorkspaceRequest.type, { name, image: TEST_IMAGE, ...extra });
}

/** Runs an argv command in a session. */
export function exec(client: SidecarClient, sessionId: string, command: string[], extra: Partial<P.ExecParams> = {}): Promise<P.ExecResult> {
  return client.request(P.ExecRequest.type, { sessionId, command, ...extra });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/sandkasten ARGS` with SANDKASTEN_HOME=home. */
export function runCli(home: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI_SCRIPT, ...args],
      { env: { ...env, SANDKASTEN_HOME: home }, cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A CLI run that must succeed with JSON on stdout, parsed. */
export function cliJson<T>(result: CliResult): T {
  assert.equal(result.code, 0, `exit code 0 expected; stderr: ${result.stderr}`);
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    assert.fail(`stdout is not JSON: ${result.stdout}`);
  }
}

/**
 * The mounts left under the instance's workspace slot directory (see WorkspaceSlots), which
 * are then unmounted and the directory removed, so a failed test leaks no mount either.
 */
function removeSlotsOf(instanceId: string): string[] {
  const directory = `/run/sandkasten/${instanceId}`;
  const mounted = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point === directory || point.startsWith(`${directory}/`));
  for (const point of [...mounted].reverse()) spawnSync('umount', ['-l', point]);
  if (mounted.length === 0 || fs.readFileSync('/proc/self/mountinfo', 'utf8').indexOf(directory) < 0) fs.rmSync(directory, { recursive: true, force: true });
  return mounted;
}
