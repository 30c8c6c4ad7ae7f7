/**
 * The workspace lifecycle against the real Docker engine: idle sessions frozen and thawed,
 * long-frozen ones stopped, unused workspaces warned about and deleted, pinned ones kept,
 * the dry run; archives restored transparently byte for byte; snapshots, clone, export and
 * import; kill -9 in the middle of a snapshot or an archive; and a pooled container that must
 * never replace a workspace's files.
 *
 * Time: the first suite runs a sidecar in this process with a clock whose `now()` the test
 * moves (its timers stay real), and applies the lifecycle on demand (LifecycleRunRequest), so
 * 400 days pass in a moment. The other suites use the harness's separate sidecar process.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { WorkDoneProgress, type WorkDoneProgressBegin, type WorkDoneProgressEnd, type WorkDoneProgressReport } from 'vscode-languageserver-protocol';
import { homePaths } from '../../sidecar/client/home';
import { Sidecar } from '../../sidecar/sidecar';
import type { Clock } from '../../sidecar/util/clock';
import type { Logger } from '../../sidecar/util/log';
import { ApiClient, enableApi } from './apiClient';
import {
  docker,
  exec,
  expectError,
  inspectContainer,
  instanceObjectNames,
  instanceObjects,
  makeHome,
  P,
  runCli,
  SIDECAR_SCRIPT,
  SidecarClient,
  TEST_IMAGE,
  useSidecar,
  volumeExists,
  waitFor,
  type SidecarHarness,
} from './harness';

const DEBIAN_IMAGE = 'debian:bookworm-slim';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Commands that wait for the test carry this timeout, so a failing test cannot hold a shell for good. */
const SAFETY_TIMEOUT_MS = 120_000;
/** Waiting for Docker-heavy work (a pool refill, a 200 MB snapshot to begin). */
const SLOW_LIMIT_MS = 120_000;

/** A unique workspace name (lowercase, starts with a letter, at most 32 characters). */
const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

/** Runs a shell command line in a session and requires it to succeed; returns its stdout. */
async function sh(client: SidecarClient, sessionId: string, line: string): Promise<string> {
  const result = await client.request(P.ExecRequest.type, { sessionId, line, timeoutMs: SAFETY_TIMEOUT_MS });
  assert.equal(result.exitCode, 0, `\`${line.slice(0, 200)}\` succeeds; stderr: ${result.stderr.slice(-2000)}`);
  return result.stdout;
}

const sessionOf = async (client: SidecarClient, id: string) => (await client.request(P.ListSessionsRequest.type, {})).find((s) => s.id === id);
const workspaceOf = async (client: SidecarClient, id: string) => (await client.request(P.ListWorkspacesRequest.type, {})).find((w) => w.id === id);
const historyOf = (client: SidecarClient, id: string) => client.request(P.WorkspaceHistoryRequest.type, { id });

/**
 * Checks whose failures are collected, so that a long scenario still runs to its end (and
 * checks what comes after) and then fails with every one of them.
 */
function collected() {
  const failures: string[] = [];
  return {
    check(what: () => void): void {
      try {
        what();
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
      }
    },
    verify(): void {
      if (failures.length > 0) assert.fail(`${failures.length} check(s) failed:\n\n${failures.join('\n\n')}`);
    },
  };
}

/** Every file under `directory` (relative paths, sorted), recursively; [] when it does not exist. */
function filesUnder(directory: string, prefix = ''): string[] {
  if (!fs.existsSync(directory)) return [];
  return fs
    .readdirSync(directory, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? filesUnder(path.join(directory, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`]))
    .sort();
}

/** Archive helper containers of an instance (role `archive`), running or not. */
async function archiveHelpers(instanceId: string): Promise<string[]> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`sandkasten.instance=${instanceId}`, 'sandkasten.role=archive'] } });
  return containers.map((c) => c.Names[0] ?? c.Id);
}

/**
 * Mount points left under an instance's workspace slot directory (see WorkspaceSlots); they
 * are unmounted and the directory removed, so a failed test leaks no mount (as the harness does).
 */
function removeSlotsOf(instanceId: string): string[] {
  const directory = `/run/sandkasten/${instanceId}`;
  const mounted = () =>
    fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '')
      .filter((point) => point === directory || point.startsWith(`${directory}/`));
  const left = mounted();
  for (const point of [...left].reverse()) spawnSync('umount', ['-l', point]);
  if (mounted().length === 0) fs.rmSync(directory, { recursive: true, force: true });
  return left;
}

// ---------------------------------------------------------------------------------------
// A sidecar in this process, with a clock the test moves
// ---------------------------------------------------------------------------------------

/** Real time plus an offset the test moves; timers and sleeps are real. */
class MovableClock implements Clock {
  private offsetMs = 0;

  now(): number {
    return Date.now() + this.offsetMs;
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }

  setTimeout(callback: () => void, ms: number): { cancel(): void } {
    const handle = setTimeout(callback, ms);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}

/**
 * `Sidecar.start` in this process on a MovableClock, with `lifecycle.checkSeconds` at its
 * maximum so that no scheduled round runs while a test looks; a real SidecarClient on its
 * socket. `cleanup` deletes every workspace, shuts it down, removes what Docker still holds
 * of its instance and asserts that there was nothing.
 */
class InProcessSidecar {
  readonly home = makeHome();
  readonly clock = new MovableClock();
  /** What the sidecar logged as an error. */
  readonly errors: string[] = [];
  sidecar: Sidecar | undefined;
  /** Set once connected (cleanup may run after a failed start). */
  client!: SidecarClient;
  instanceId = '';

  async start(): Promise<void> {
    const paths = homePaths(this.home);
    fs.writeFileSync(paths.config, `${JSON.stringify({ 'lifecycle.checkSeconds': 3600 })}\n`, { mode: 0o600 });
    const write = (line: string) => fs.appendFileSync(paths.log, `${new Date().toISOString()} ${line}\n`);
    const log: Logger = {
      info: write,
      error: (message, error) => {
        const text = `ERROR ${message}${error ? `: ${error instanceof Error ? error.message : String(error)}` : ''}`;
        this.errors.push(text);
        write(text);
      },
    };
    this.sidecar = await Sidecar.start({ home: this.home, log, clock: this.clock });
    this.client = await SidecarClient.connect({ home: this.home, sidecarScript: SIDECAR_SCRIPT, startIfMissing: false });
    const status = await this.client.request(P.StatusRequest.type, {});
    assert.equal(status.docker.available, true, `the Docker engine answers (${status.docker.error ?? ''}); run \`bash scripts/docker-up.sh\``);
    assert.equal(status.pid, process.pid, 'the sidecar that answers is the one in this process');
    this.instanceId = status.instanceId;
  }

  run(): Promise<P.LifecycleActionInfo[]> {
    return this.client.request(P.LifecycleRunRequest.type, {});
  }

  preview(): Promise<P.LifecycleActionInfo[]> {
    return this.client.request(P.LifecyclePreviewRequest.type, {});
  }

  logTail(lines = 40): string {
    try {
      return fs.readFileSync(homePaths(this.home).log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async cleanup(): Promise<void> {
    const problems: string[] = [];
    if (this.sidecar) {
      try {
        for (const workspace of await this.client.request(P.ListWorkspacesRequest.type, {})) {
          await this.client
            .request(P.DeleteWorkspaceRequest.type, { id: workspace.id, force: true })
            .catch((error: Error) => problems.push(`deleting ${workspace.id}: ${error.message}`));
        }
      } catch (error) {
        problems.push(`listing workspaces: ${(error as Error).message}`);
      }
      this.client?.close();
      await this.sidecar.shutdown('the lifecycle tests are done').catch((error: Error) => problems.push(`shutting down: ${error.message}`));
    }
    const left = this.instanceId ? await instanceObjects(this.instanceId) : { containers: [], volumes: [], networks: [] };
    await Promise.all([
      ...left.containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)),
      ...left.volumes.map((v) => docker.getVolume(v.Name).remove({ force: true }).catch(() => undefined)),
    ]);
    await Promise.all(left.networks.map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)));
    const log = this.logTail();
    const pipes = homePaths(this.home).pipes;
    const pipeDirectories = fs.existsSync(pipes) ? fs.readdirSync(pipes) : [];
    const slotMounts = this.instanceId ? removeSlotsOf(this.instanceId) : [];
    fs.rmSync(this.home, { recursive: true, force: true });
    assert.deepEqual(problems, [], `the in-process sidecar cleaned up without errors; its log ends with:\n${log}`);
    assert.deepEqual(pipeDirectories, [], 'every pipe directory left with its container');
    assert.deepEqual(slotMounts, [], 'no workspace slot of this instance is left mounted');
    assert.deepEqual(
      { containers: left.containers.map((c) => c.Names[0]), volumes: left.volumes.map((v) => v.Name), networks: left.networks.map((n) => n.Name) },
      { containers: [], volumes: [], networks: [] },
      'nothing of the in-process sidecar is left in Docker',
    );
    assert.deepEqual(this.errors, [], `the in-process sidecar logged no error; its log ends with:\n${log}`);
  }
}

/** Deletes (force) the workspaces a test made, one already gone included, and forgets them. */
async function deleteMade(client: SidecarClient, made: Set<string>): Promise<void> {
  for (const id of made) {
    await client.request(P.DeleteWorkspaceRequest.type, { id, force: true }).catch((error: unknown) => {
      if (!(error instanceof Error) || !/No workspace/.test(error.message)) throw error;
    });
  }
  made.clear();
}

describe('the lifecycle over time (a sidecar in this process, with a clock the test moves)', () => {
  const local = new InProcessSidecar();
  let started = false;
  /** Workspaces a test made: deleted (force) after each test, whatever happened. */
  const made = new Set<string>();

  before(async () => {
    await local.start();
    started = true;
  });

  afterEach(async () => {
    if (!started) return;
    await deleteMade(local.client, made);
  });

  after(() => local.cleanup());

  async function newWorkspace(prefix: string, extra: Partial<P.CreateWorkspaceParams> = {}): Promise<P.WorkspaceInfo> {
    const workspace = await local.client.request(P.CreateWorkspaceRequest.type, { name: uniqueName(prefix), image: TEST_IMAGE, ...extra });
    made.add(workspace.id);
    return workspace;
  }

  const startSession = (workspaceId: string) => local.client.request(P.StartSessionRequest.type, { workspaceId });

  it('freezes an idle session (processes kept), thaws it on the next command, stops it after long frozen, and resumes it cold with its files', async () => {
    const { client, clock } = local;
    const checks = collected();
    const workspace = await newWorkspace('freeze');
    const session = await startSession(workspace.id);
    assert.ok(session.containerId);
    await sh(client, session.id, 'echo kept > /workspace/kept.txt');
    await sh(client, session.id, 'sleep 1000 >/dev/null 2>&1 & echo $! > /tmp/pid');
    const pid = (await sh(client, session.id, 'cat /tmp/pid')).trim();
    assert.match(pid, /^\d+$/);

    // 29 minutes idle: nothing is due yet.
    clock.advance(29 * MINUTE);
    assert.deepEqual((await local.preview()).filter((a) => a.sessionId === session.id), [], 'not frozen before 30 minutes');

    clock.advance(2 * MINUTE);
    const before = clock.now();
    const done = await local.run();
    const after = clock.now();
    const freeze = done.find((a) => a.sessionId === session.id);
    assert.ok(freeze, `the run froze the session: ${JSON.stringify(done)}`);
    assert.equal(freeze.action, 'freeze');
    assert.equal(freeze.outcome, 'done', freeze.error);
    assert.match(freeze.reason, /idle for 31 min/);

    const frozen = await sessionOf(client, session.id);
    assert.equal(frozen?.state, 'paused');
    assert.ok(frozen?.frozenAt, 'frozenAt is set');
    const frozenAt = Date.parse(frozen.frozenAt);
    assert.ok(frozenAt >= before - 1000 && frozenAt <= after + 1000, `frozenAt (${frozen.frozenAt}) is the sidecar clock's now`);
    assert.match(frozen.stateReason ?? '', /frozen: idle for 31 min/);
    assert.equal((await inspectContainer(session.containerId))?.State.Paused, true, 'Docker says the container is paused');
    assert.equal(
      (await client.request(P.ListWorkspacesRequest.type, {})).find((w) => w.id === workspace.id)?.state,
      'active',
      'a frozen session still counts as live for its workspace',
    );

    // The next command thaws it; the background process started before the freeze still runs.
    const alive = await client.request(P.ExecRequest.type, { sessionId: session.id, line: `kill -0 ${pid} && tr '\\0' ' ' < /proc/${pid}/cmdline`, timeoutMs: SAFETY_TIMEOUT_MS });
    assert.equal(alive.exitCode, 0, `the process ${pid} is alive after the thaw: ${alive.stderr}`);
    assert.equal(alive.stdout.trim(), 'sleep 1000', 'the same process (pid and command line)');
    const thawed = await sessionOf(client, session.id);
    assert.equal(thawed?.state, 'running');
    assert.equal(thawed?.frozenAt, undefined, 'frozenAt is cleared');
    assert.equal((await inspectContainer(session.containerId))?.State.Paused, false, 'Docker says the container runs again');

    // Idle again: frozen after 30 min, stopped after 240 min frozen.
    clock.advance(31 * MINUTE);
    assert.deepEqual(
      (await local.run()).filter((a) => a.sessionId === session.id).map((a) => [a.action, a.outcome]),
      [['freeze', 'done']],
    );
    clock.advance(239 * MINUTE);
    assert.deepEqual((await local.preview()).filter((a) => a.sessionId === session.id), [], 'not stopped before 240 minutes frozen');
    clock.advance(2 * MINUTE);
    const stop = (await local.run()).find((a) => a.sessionId === session.id);
    assert.equal(stop?.action, 'stop', `the run stopped it: ${JSON.stringify(stop)}`);
    assert.equal(stop.outcome, 'done', stop.error);
    assert.match(stop.reason, /frozen for 4 h/);
    const stopped = await sessionOf(client, session.id);
    checks.check(() => assert.equal(stopped?.state, 'stopped', `the session is stopped once the stop is done (it says: ${stopped?.stateReason})`));
    checks.check(() => assert.match(stopped?.stateReason ?? '', /^frozen for 4 h \(stopped after 4 h\)$/, 'the session says why it was stopped'));
    assert.equal((await inspectContainer(session.containerId))?.State.Running, false, 'Docker says the container is stopped');

    // `session start` through the CLI resumes it (the same session), cold: files kept, processes gone.
    const cli = await runCli(local.home, ['session', 'start', workspace.id, '--json']);
    assert.equal(cli.code, 0, `the CLI starts the session: ${cli.stderr}`);
    const resumed = JSON.parse(cli.stdout) as P.SessionInfo;
    assert.equal(resumed.id, session.id, 'the stopped session is resumed, not a new one made');
    assert.equal(resumed.state, 'running');
    assert.equal(await sh(client, session.id, 'cat /workspace/kept.txt'), 'kept\n', 'the files in /workspace are kept');
    assert.doesNotMatch(await sh(client, session.id, 'ps -o pid,args'), /sleep 1000/, 'a cold start: the old processes are gone');

    // Every transition is in the history, with its reason (oldest first here).
    const history = (await historyOf(client, workspace.id)).reverse();
    checks.check(() =>
      assert.deepEqual(
        history.map((e) => e.kind),
        ['created', 'started', 'frozen', 'thawed', 'frozen', 'stopped', 'started'],
        `the history has each transition once:\n${history.map((e) => `${e.kind}: ${e.reason}`).join('\n')}`,
      ),
    );
    assert.match(history.find((e) => e.kind === 'frozen')?.reason ?? '', /idle for 31 min/);
    assert.ok(history.some((e) => e.kind === 'stopped' && /frozen for 4 h/.test(e.reason)), 'the stop is in the history with its reason');
    checks.verify();
  });

  it('never freezes a session while a command runs in it', async () => {
    const { client, clock } = local;
    const workspace = await newWorkspace('busy');
    const session = await startSession(workspace.id);
    const marker = `/tmp/release-${randomBytes(4).toString('hex')}`;
    const long = client.request(P.ExecRequest.type, {
      sessionId: session.id,
      command: ['sh', '-c', `while [ ! -e ${marker} ]; do sleep 0.1; done; echo released`],
      timeoutMs: SAFETY_TIMEOUT_MS,
    });
    // In flight once its process shows in the container (looked at through Docker, not the sidecar: no use counted).
    await waitFor('the long command to run in the container', async () => {
      const top = (await docker.getContainer(session.containerId!).top()) as { Processes?: string[][] };
      return top.Processes?.some((row) => row.join(' ').includes(marker)) ? true : undefined;
    });
    clock.advance(45 * MINUTE);
    const done = await local.run();
    assert.deepEqual(done.filter((a) => a.sessionId === session.id), [], 'a session with a command in flight is not idle');
    assert.equal((await sessionOf(client, session.id))?.state, 'running');
    assert.equal((await inspectContainer(session.containerId!))?.State.Paused, false);

    await client.request(P.ExecRequest.type, { sessionId: session.id, command: ['touch', marker], cleanShell: true });
    const result = await long;
    assert.deepEqual([result.exitCode, result.stdout], [0, 'released\n'], 'the command ran to its end, undisturbed');
    // Once nothing runs and it stays idle, it is frozen: the command was what kept it.
    clock.advance(31 * MINUTE);
    assert.deepEqual(
      (await local.preview()).filter((a) => a.sessionId === session.id).map((a) => a.action),
      ['freeze'],
    );
  });

  it('deletes an ephemeral workspace 5 minutes after its session ended; its history says why, its volume is gone', async () => {
    const { client, clock } = local;
    const workspace = await newWorkspace('eph', { kind: 'ephemeral' });
    const session = await startSession(workspace.id);
    await sh(client, session.id, 'echo data > /workspace/file');
    await client.request(P.StopSessionRequest.type, { id: session.id });
    assert.ok(await volumeExists(workspace.volume));

    clock.advance(4 * MINUTE);
    assert.deepEqual((await local.run()).filter((a) => a.workspaceId === workspace.id), [], 'kept for 5 minutes after its session ended');
    assert.ok(await workspaceOf(client, workspace.id), 'still there after 4 minutes');

    clock.advance(MINUTE + 5_000);
    const done = (await local.run()).filter((a) => a.workspaceId === workspace.id);
    assert.deepEqual(done.map((a) => [a.action, a.outcome]), [['delete', 'done']], JSON.stringify(done));
    assert.match(done[0].reason, /session ended 5 min ago/);
    assert.equal(await workspaceOf(client, workspace.id), undefined, 'the workspace is gone');
    made.delete(workspace.id);

    const history = await historyOf(client, workspace.id);
    assert.equal(history[0]?.kind, 'deleted', `the newest event says it was deleted: ${JSON.stringify(history[0])}`);
    assert.match(history[0].reason, /ephemeral/);
    assert.match(history[0].reason, /session ended 5 min ago/);
    const cli = await runCli(local.home, ['workspace', 'history', workspace.id, '--json']);
    assert.equal(cli.code, 0, `the CLI answers the history of a deleted workspace: ${cli.stderr}`);
    assert.equal((JSON.parse(cli.stdout) as P.WorkspaceEvent[])[0].kind, 'deleted');

    assert.equal(await volumeExists(workspace.volume), false, 'its volume is gone from Docker');
    assert.equal(await inspectContainer(session.containerId!), undefined, 'its container is gone from Docker');
  });

  it('warns about a persistent workspace unused for 28 days (the CLI shows ⚠), and Keep ends the warning', async () => {
    const { client, clock } = local;
    const workspace = await newWorkspace('warned', { kind: 'persistent' });
    const lastAccess = Date.parse(workspace.lastAccessedAt);
    assert.equal(workspace.lifecycle?.warning, undefined, 'no warning at first');

    clock.advance(28 * DAY);
    const done = (await local.run()).filter((a) => a.workspaceId === workspace.id);
    assert.deepEqual(done.map((a) => [a.action, a.outcome]), [['warn', 'done']], JSON.stringify(done));
    assert.match(done[0].reason, /unused for 28 days/);

    const warned = await workspaceOf(client, workspace.id);
    assert.ok(warned?.lifecycle?.warning, `the workspace carries a warning: ${JSON.stringify(warned?.lifecycle)}`);
    assert.match(warned.lifecycle.warning, /Will be deleted on \d{4}-\d{2}-\d{2}/);
    assert.ok(warned.lifecycle.deleteAt, 'and the date it goes');
    // Not before its warning is 72 h old: 28 days + 3 days after the last use.
    const deleteAt = Date.parse(warned.lifecycle.deleteAt);
    assert.ok(deleteAt >= lastAccess + 31 * DAY && deleteAt < lastAccess + 31 * DAY + HOUR, `deleteAt ${warned.lifecycle.deleteAt} is 31 days after the last use`);
    assert.equal(warned.lifecycle.warning.includes(warned.lifecycle.deleteAt.slice(0, 10)), true, 'the warning names that date');
    assert.equal((await historyOf(client, workspace.id))[0].kind, 'warned');

    const list = await runCli(local.home, ['workspace', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const row = list.stdout.split('\n').find((line) => line.startsWith(workspace.id));
    assert.ok(row, `the CLI lists the workspace:\n${list.stdout}`);
    assert.match(row, /⚠/, `its row shows the warning: ${row}`);

    const kept = await client.request(P.KeepWorkspaceRequest.type, { id: workspace.id });
    assert.equal(kept.lifecycle?.warning, undefined, 'Keep ends the warning');
    assert.ok(kept.lifecycle?.deleteAt && Date.parse(kept.lifecycle.deleteAt) >= clock.now() + 30 * DAY - MINUTE, 'its expiry starts again');
    assert.equal((await historyOf(client, workspace.id))[0].kind, 'kept');
    assert.deepEqual((await local.run()).filter((a) => a.workspaceId === workspace.id), [], 'nothing is due after Keep');
    const again = await runCli(local.home, ['workspace', 'list']);
    assert.doesNotMatch(again.stdout.split('\n').find((line) => line.startsWith(workspace.id)) ?? '', /⚠/);
  });

  it('keeps pinned workspaces of every kind for 400 days', async () => {
    const { client, clock } = local;
    const pinned: P.WorkspaceInfo[] = [];
    for (const kind of ['persistent', 'session'] as const) {
      const workspace = await newWorkspace(`pin-${kind.slice(0, 4)}`, { kind });
      const answer = await client.request(P.PinWorkspaceRequest.type, { id: workspace.id, pinned: true });
      assert.equal(answer.pinned, true);
      assert.equal(answer.lifecycle, undefined, 'a pinned workspace has no schedule');
      pinned.push(answer);
    }
    clock.advance(400 * DAY);
    assert.deepEqual((await local.preview()).filter((a) => pinned.some((w) => w.id === a.workspaceId)), [], 'nothing is due for pinned workspaces');
    const done = await local.run();
    assert.deepEqual(done.filter((a) => pinned.some((w) => w.id === a.workspaceId)), []);
    for (const workspace of pinned) {
      const listed = await workspaceOf(client, workspace.id);
      assert.ok(listed, `${workspace.id} is still there after 400 days`);
      assert.equal(listed.state, workspace.state, 'not archived');
      assert.equal(listed.pinned, true);
      assert.ok(await volumeExists(listed.volume), 'its volume is still there');
      assert.equal((await historyOf(client, workspace.id))[0].kind, 'pinned');
    }
  });

  it('lifecycle --dry-run --json (the CLI) lists what is due and why, and changes nothing', async () => {
    const { client, clock } = local;
    const running = await newWorkspace('dry-run');
    const session = await startSession(running.id);
    const ephemeral = await newWorkspace('dry-eph', { kind: 'ephemeral' });
    const ephemeralSession = await startSession(ephemeral.id);
    await client.request(P.StopSessionRequest.type, { id: ephemeralSession.id });
    const persistent = await newWorkspace('dry-per', { kind: 'persistent' });
    clock.advance(28 * DAY);

    const ids = [running.id, ephemeral.id, persistent.id];
    const state = async () => ({
      workspaces: (await client.request(P.ListWorkspacesRequest.type, {})).filter((w) => ids.includes(w.id)),
      sessions: (await client.request(P.ListSessionsRequest.type, {})).filter((s) => ids.includes(s.workspaceId)),
      histories: await Promise.all(ids.map((id) => historyOf(client, id))),
      container: (await inspectContainer(session.containerId!))?.State.Status,
      volumes: await Promise.all([running, ephemeral, persistent].map((w) => volumeExists(w.volume))),
    });
    const beforeDryRun = await state();
    assert.equal(beforeDryRun.workspaces.length, 3);

    const cli = await runCli(local.home, ['lifecycle', '--dry-run', '--json']);
    assert.equal(cli.code, 0, `the dry run succeeds: ${cli.stderr}`);
    const actions = (JSON.parse(cli.stdout) as P.LifecycleActionInfo[]).filter((a) => ids.includes(a.workspaceId));
    const summary = actions.map((a) => [a.action, a.sessionId ?? a.workspaceId]).sort();
    assert.deepEqual(summary, [['delete', ephemeral.id], ['freeze', session.id], ['warn', persistent.id]].sort(), JSON.stringify(actions, null, 2));
    for (const action of actions) {
      assert.ok(action.reason.trim().length > 10, `a reason for ${action.action}: "${action.reason}"`);
      assert.equal(action.outcome, undefined, 'nothing was done');
    }
    assert.match(actions.find((a) => a.action === 'freeze')!.reason, /idle for 28 days/);
    assert.match(actions.find((a) => a.action === 'delete')!.reason, /ephemeral/);
    assert.ok(actions.find((a) => a.action === 'warn')!.deleteAt, 'a warning says when the workspace would go');

    const human = await runCli(local.home, ['lifecycle', '--dry-run']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /ACTION\s+WORKSPACE\s+SESSION\s+REASON/);
    assert.ok(human.stdout.includes(ephemeral.id) && human.stdout.includes(session.id), human.stdout);

    assert.deepEqual(await state(), beforeDryRun, 'the dry run changed no workspace, session, history, container or volume');
    assert.equal(beforeDryRun.container, 'running');
  });
});

// ---------------------------------------------------------------------------------------
// Manifests: a workspace's tree as seen inside its session (debian: GNU find, sha256sum)
// ---------------------------------------------------------------------------------------

/**
 * Everything a restore must keep: random content in nested directories, an empty directory
 * and file, a name with spaces, modes 0600, 0755 and 4755, owners 1234:5678, symlinks
 * (inside, out of the volume, dangling), a hard-link pair, a 50 MiB sparse file with a few
 * bytes of data, a FIFO, set mtimes.
 */
const POPULATE = `set -e
cd /workspace
mkdir -p src/nested/deeper empty-dir
head -c 300000 /dev/urandom > src/random.bin
head -c 1 /dev/urandom > src/nested/deeper/one-byte
: > src/nested/empty-file
head -c 70000 /dev/urandom > 'src/name with spaces'
printf 'private\\n' > private; chown 1234:5678 private; chmod 0600 private
printf '#!/bin/sh\\necho hello\\n' > run.sh; chmod 0755 run.sh
printf 'suid\\n' > suid; chown 1234:5678 suid; chmod 4755 suid
chown 1234:5678 src/nested
ln -s src/random.bin link-inside
ln -s /etc/passwd link-out
ln -s does/not/exist link-dangling
head -c 5000 /dev/urandom > hard-a; ln hard-a src/hard-b
truncate -s 50M sparse
printf 'in the middle' | dd of=sparse bs=1 seek=30000000 conv=notrunc 2>/dev/null
mkfifo fifo
touch -d '2001-02-03 04:05:06.123456789' src/random.bin
touch -h -d '2002-03-04 05:06:07' link-out`;

const MANIFEST = `set -e
cd /workspace
find . -printf '%p\\t%y\\t%m\\t%U\\t%G\\t%s\\t%l\\t%i\\t%n\\t%T@\\n' | LC_ALL=C sort
echo --
find . -type f -exec sha256sum {} + | LC_ALL=C sort -k2
echo --
if [ -e sparse ]; then du -k sparse | cut -f1; fi`;

interface Entry {
  type: string;
  mode: string;
  uid: string;
  gid: string;
  /** Regular files and links only: a directory's size is its filesystem's business. */
  size?: string;
  target: string;
  links: string;
  mtime: string;
  sha256?: string;
  /** For a file with several names: the first of them (inode numbers differ between volumes). */
  sameInodeAs?: string;
}

interface Manifest {
  entries: Record<string, Entry>;
  /** KiB the sparse file takes on disk (absent without one). */
  sparseKb?: number;
}

async function manifestOf(client: SidecarClient, sessionId: string): Promise<Manifest> {
  const [listing, sums, du] = (await sh(client, sessionId, MANIFEST)).split('--\n');
  const entries: Record<string, Entry> = {};
  const firstNameOfInode = new Map<string, string>();
  for (const line of listing.trim().split('\n')) {
    const [name, type, mode, uid, gid, size, target, inode, links, mtime] = line.split('\t');
    const entry: Entry = { type, mode, uid, gid, target, links, mtime };
    if (type === 'f' || type === 'l') entry.size = size;
    if (type === 'f' && Number(links) > 1) {
      if (!firstNameOfInode.has(inode)) firstNameOfInode.set(inode, name);
      entry.sameInodeAs = firstNameOfInode.get(inode);
    }
    entries[name] = entry;
  }
  for (const line of sums.split('\n').filter(Boolean)) entries[line.slice(66)].sha256 = line.slice(0, 64);
  return { entries, ...(du.trim() ? { sparseKb: Number(du.trim()) } : {}) };
}

/** The tree POPULATE made is there as made: the manifest is not vacuous. */
function assertPopulated(manifest: Manifest): void {
  const e = manifest.entries;
  assert.deepEqual([e['./private']?.mode, e['./private']?.uid, e['./private']?.gid], ['600', '1234', '5678']);
  assert.equal(e['./run.sh']?.mode, '755');
  assert.deepEqual([e['./suid']?.mode, e['./suid']?.uid], ['4755', '1234']);
  assert.deepEqual([e['./src/nested']?.type, e['./src/nested']?.uid, e['./src/nested']?.gid], ['d', '1234', '5678']);
  assert.deepEqual([e['./link-inside']?.type, e['./link-inside']?.target], ['l', 'src/random.bin']);
  assert.deepEqual([e['./link-out']?.target, e['./link-dangling']?.target], ['/etc/passwd', 'does/not/exist']);
  assert.deepEqual([e['./hard-a']?.links, e['./src/hard-b']?.links, e['./src/hard-b']?.sameInodeAs], ['2', '2', './hard-a']);
  assert.equal(e['./hard-a']?.sha256, e['./src/hard-b']?.sha256);
  assert.deepEqual([e['./sparse']?.type, e['./sparse']?.size], ['f', String(50 * 1024 * 1024)]);
  assert.ok(manifest.sparseKb !== undefined && manifest.sparseKb < 1024, `the sparse file takes little space (${manifest.sparseKb} KiB)`);
  assert.equal(e['./fifo']?.type, 'p');
  assert.equal(e['./empty-dir']?.type, 'd');
  assert.equal(e['./src/nested/empty-file']?.size, '0');
  assert.match(e['./src/random.bin']?.mtime ?? '', /^981173106\.123456789/);
  assert.match(e['./src/random.bin']?.sha256 ?? '', /^[0-9a-f]{64}$/);
}

/** Progress notifications ($/progress) on one token, in arrival order. */
function progressOn(client: SidecarClient, token: string) {
  const values: Array<WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd> = [];
  const listener = client.connection.onProgress(WorkDoneProgress.type, token, (value) => {
    values.push(value);
  });
  return { values, dispose: () => listener.dispose() };
}

describe('archives, snapshots, clone, export and import, byte for byte', () => {
  const sidecar = useSidecar();
  const temporary: string[] = [];
  const made = new Set<string>();

  after(() => {
    for (const file of temporary) fs.rmSync(file, { recursive: true, force: true });
  });

  afterEach(async () => {
    await deleteMade(sidecar.client, made);
    assert.deepEqual(await archiveHelpers(sidecar.instanceId), [], 'every archive helper container is removed');
  });

  async function populated(prefix: string): Promise<{ workspace: P.WorkspaceInfo; session: P.SessionInfo; manifest: Manifest }> {
    const workspace = await sidecar.createWorkspace(uniqueName(prefix), { image: DEBIAN_IMAGE, kind: 'persistent' });
    made.add(workspace.id);
    const session = await sidecar.startSession(workspace.id);
    await sh(sidecar.client, session.id, POPULATE);
    const manifest = await manifestOf(sidecar.client, session.id);
    assertPopulated(manifest);
    return { workspace, session, manifest };
  }

  async function manifestOfWorkspace(workspaceId: string): Promise<Manifest> {
    const session = await sidecar.startSession(workspaceId);
    return manifestOf(sidecar.client, session.id);
  }

  const stopSessionsOf = async (workspaceId: string) => {
    for (const session of await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId })) {
      if (session.state !== 'stopped') await sidecar.client.request(P.StopSessionRequest.type, { id: session.id });
    }
  };

  it('archives a workspace (volume removed, file kept) and restores it transparently on session start, with progress', async () => {
    const { client } = sidecar;
    const { workspace, session, manifest } = await populated('archive');
    await expectError(client.request(P.ArchiveWorkspaceRequest.type, { id: workspace.id }), 'Conflict');
    assert.equal((await workspaceOf(client, workspace.id))?.state, 'active', 'refused while its session runs');
    assert.ok(await volumeExists(workspace.volume));
    await stopSessionsOf(workspace.id);

    const archived = await client.request(P.ArchiveWorkspaceRequest.type, { id: workspace.id });
    assert.equal(archived.state, 'archived');
    assert.equal(await volumeExists(workspace.volume), false, 'the volume is gone from Docker');
    const file = path.join(homePaths(sidecar.home).archives, `${workspace.id}.tar.gz`);
    assert.ok(fs.existsSync(file) && fs.statSync(file).size > 0, `the archive file ${file} exists`);
    assert.ok(fs.statSync(file).size < 5 * 1024 * 1024, 'the sparse file is not stored in full');
    assert.equal((await historyOf(client, workspace.id))[0].kind, 'archived');
    assert.equal(await inspectContainer(session.containerId!), undefined, "the stopped session's container (on the old volume) is gone");

    const token = `restore-${randomBytes(4).toString('hex')}`;
    const progress = progressOn(client, token);
    const restored = await client.request(P.StartSessionRequest.type, { workspaceId: workspace.id, workDoneToken: token });
    progress.dispose();
    assert.equal(restored.state, 'running');
    assert.equal(restored.id, session.id, 'its stopped session is resumed');
    const kinds = progress.values.map((v) => v.kind);
    assert.equal(kinds[0], 'begin', `progress begins: ${JSON.stringify(progress.values)}`);
    assert.equal(kinds.at(-1), 'end', 'and ends');
    const reports = progress.values.filter((v): v is WorkDoneProgressReport => v.kind === 'report');
    assert.ok(reports.length > 0, 'and reports on the way');
    assert.match(reports[0].message ?? '', /Restoring/);

    const after = await workspaceOf(client, workspace.id);
    assert.equal(after?.state, 'active');
    assert.notEqual(after?.volume, workspace.volume, 'a new volume');
    assert.ok(await volumeExists(after!.volume));
    assert.equal(fs.existsSync(file), false, 'the archive file is removed once restored');
    assert.equal((await historyOf(client, workspace.id)).some((e) => e.kind === 'restored'), true);

    assert.deepEqual(await manifestOf(client, restored.id), manifest, 'the restored tree is identical, byte for byte');

    // Archived again, then its stopped session resumed directly (the tree's ▷ on a session
    // row, `session resume`, the API's start): restored first, never an empty volume.
    await stopSessionsOf(workspace.id);
    await client.request(P.ArchiveWorkspaceRequest.type, { id: workspace.id });
    const resumed = await client.request(P.ResumeSessionRequest.type, { id: session.id });
    assert.equal(resumed.state, 'running');
    assert.deepEqual(await manifestOf(client, resumed.id), manifest, 'a resume restores the archive first');
    // Files of an archived workspace are refused, not written into a volume about to be replaced.
    await stopSessionsOf(workspace.id);
    await client.request(P.ArchiveWorkspaceRequest.type, { id: workspace.id });
    const { url, token: apiToken } = await enableApi(client);
    const api = new ApiClient(url, apiToken);
    try {
      const write = await api.post(`/v1/workspaces/${workspace.id}/fs/write`, { path: 'late.txt', text: 'late' });
      assert.equal(write.status, 409, write.text);
    } finally {
      api.close();
    }
  });

  it('snapshots: restore (with undo), delete, clone, export and import keep the tree; a running session or a corrupt file is refused', async () => {
    const { client } = sidecar;
    const { workspace, session, manifest: original } = await populated('snap');
    const snapshotDirectory = path.join(homePaths(sidecar.home).snapshots, workspace.id);

    // Taken while the session runs: it is paused for the copy and runs again after.
    const first = await client.request(P.CreateSnapshotRequest.type, { workspaceId: workspace.id, name: 'first' });
    assert.deepEqual([first.workspaceId, first.name, first.version], [workspace.id, 'first', 1]);
    assert.deepEqual(filesUnder(snapshotDirectory), [`${first.id}.tar.gz`]);
    assert.equal((await inspectContainer(session.containerId!))?.State.Paused, false, 'the session runs again after the snapshot');

    await sh(client, session.id, 'cd /workspace && echo changed > private && rm -r src/nested && echo new > new-file && chmod 0644 run.sh');
    const changed = await manifestOf(client, session.id);
    assert.notDeepEqual(changed, original);

    // Refused while a session runs; nothing changes.
    const volumeBefore = (await workspaceOf(client, workspace.id))!.volume;
    await expectError(client.request(P.RestoreSnapshotRequest.type, { id: first.id }), 'Conflict');
    assert.deepEqual((await client.request(P.ListSnapshotsRequest.type, { workspaceId: workspace.id })).map((s) => s.id), [first.id], 'no undo snapshot was made');
    assert.deepEqual(filesUnder(snapshotDirectory), [`${first.id}.tar.gz`]);
    assert.equal((await workspaceOf(client, workspace.id))!.volume, volumeBefore);
    assert.deepEqual(await manifestOf(client, session.id), changed, 'the files are as they were');

    await stopSessionsOf(workspace.id);
    const { restored, undo } = await client.request(P.RestoreSnapshotRequest.type, { id: first.id });
    assert.equal(restored.id, first.id);
    assert.equal(undo.version, 2);
    assert.equal(await volumeExists(volumeBefore), false, 'the replaced volume is removed');
    assert.deepEqual(await manifestOfWorkspace(workspace.id), original, 'the snapshot brought the tree back');

    await stopSessionsOf(workspace.id);
    await client.request(P.RestoreSnapshotRequest.type, { id: undo.id });
    assert.deepEqual(await manifestOfWorkspace(workspace.id), changed, 'the undo snapshot brought the changed tree back');

    const snapshots = await client.request(P.ListSnapshotsRequest.type, { workspaceId: workspace.id });
    assert.deepEqual(snapshots.map((s) => s.version).sort(), [1, 2, 3]);
    await client.request(P.DeleteSnapshotRequest.type, { id: first.id });
    assert.deepEqual(
      (await client.request(P.ListSnapshotsRequest.type, { workspaceId: workspace.id })).map((s) => s.id).sort(),
      snapshots.filter((s) => s.id !== first.id).map((s) => s.id).sort(),
    );
    assert.equal(fs.existsSync(path.join(snapshotDirectory, `${first.id}.tar.gz`)), false, 'its file is removed from the snapshot directory');
    assert.equal(filesUnder(snapshotDirectory).length, 2);

    // Clone, while the source session runs.
    const running = await sidecar.startSession(workspace.id);
    assert.deepEqual(await manifestOf(client, running.id), changed);
    const clone = await client.request(P.CloneWorkspaceRequest.type, { id: workspace.id, name: uniqueName('clone') });
    made.add(clone.id);
    assert.equal((await inspectContainer(running.containerId!))?.State.Paused, false, 'the source session runs again after the clone');
    assert.notEqual(clone.volume, (await workspaceOf(client, workspace.id))!.volume);
    assert.deepEqual([clone.kind, clone.image], ['persistent', DEBIAN_IMAGE]);
    assert.deepEqual(await manifestOfWorkspace(clone.id), changed, 'the clone has the same tree');

    // Export, refused over an existing file unless asked, then import.
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-export-'));
    temporary.push(directory);
    const file = path.join(directory, 'workspace.tar.gz');
    const exported = await client.request(P.ExportWorkspaceRequest.type, { id: workspace.id, file });
    assert.equal(exported.file, file);
    assert.equal(exported.bytes, fs.statSync(file).size);
    fs.writeFileSync(path.join(directory, 'other.tar.gz'), 'not mine');
    await expectError(client.request(P.ExportWorkspaceRequest.type, { id: workspace.id, file: path.join(directory, 'other.tar.gz') }), 'Conflict');
    assert.equal(fs.readFileSync(path.join(directory, 'other.tar.gz'), 'utf8'), 'not mine', 'an existing file is not overwritten');
    const overwritten = await client.request(P.ExportWorkspaceRequest.type, { id: workspace.id, file: path.join(directory, 'other.tar.gz'), overwrite: true });
    assert.equal(overwritten.bytes, fs.statSync(path.join(directory, 'other.tar.gz')).size, 'overwritten when asked');

    const imported = await client.request(P.ImportWorkspaceRequest.type, { file, name: uniqueName('imported'), image: DEBIAN_IMAGE });
    made.add(imported.id);
    assert.deepEqual(await manifestOfWorkspace(imported.id), changed, 'the import has the same tree');

    // A corrupt file: refused, and nothing is left of the attempt.
    const corrupt = path.join(directory, 'corrupt.tar.gz');
    const good = fs.readFileSync(file);
    fs.writeFileSync(corrupt, Buffer.concat([good.subarray(0, Math.floor(good.length / 2)), randomBytes(4096)]));
    const workspacesBefore = (await client.request(P.ListWorkspacesRequest.type, {})).map((w) => w.id).sort();
    const objectsBefore = await instanceObjectNames(sidecar.instanceId);
    await expectError(client.request(P.ImportWorkspaceRequest.type, { file: corrupt, name: uniqueName('corrupt'), image: DEBIAN_IMAGE }), 'InvalidInput');
    assert.deepEqual((await client.request(P.ListWorkspacesRequest.type, {})).map((w) => w.id).sort(), workspacesBefore, 'no workspace was made');
    assert.deepEqual((await instanceObjectNames(sidecar.instanceId)).volumes, objectsBefore.volumes, 'no volume is left');

    // The workspace's snapshot files go with it.
    await sidecar.removeWorkspace(workspace.id);
    made.delete(workspace.id);
    assert.equal(fs.existsSync(snapshotDirectory), false, `${snapshotDirectory} is removed with the workspace`);
  });
});

// ---------------------------------------------------------------------------------------
// kill -9 in the middle
// ---------------------------------------------------------------------------------------

describe('a sidecar killed with kill -9 during a snapshot or an archive', () => {
  const sidecar = useSidecar();
  const made = new Set<string>();

  afterEach(async () => {
    await deleteMade(sidecar.client, made);
  });

  /** A workspace with 200 MB of random data (so that saving it takes a moment); its checksum. */
  async function bigWorkspace(prefix: string): Promise<{ workspace: P.WorkspaceInfo; session: P.SessionInfo; sum: string }> {
    const workspace = await sidecar.createWorkspace(uniqueName(prefix), { kind: 'persistent' });
    made.add(workspace.id);
    const session = await sidecar.startSession(workspace.id);
    const sum = await sh(sidecar.client, session.id, 'dd if=/dev/urandom of=/workspace/big bs=1048576 count=200 2>/dev/null && echo small > /workspace/small && sha256sum /workspace/big /workspace/small');
    return { workspace, session, sum };
  }

  /** Starts `work` on a client of its own, kills the sidecar once a `.partial-` file shows in `directory`, and restarts it. */
  async function killDuring(directory: string, work: (client: SidecarClient) => Promise<unknown>): Promise<void> {
    const client = await sidecar.connectAgain();
    const outcome = work(client).then(
      () => 'completed',
      () => 'failed',
    );
    const partial = await waitFor(
      `a partial file in ${directory}`,
      async () => {
        if (fs.existsSync(directory) && fs.readdirSync(directory).some((name) => name.includes('.partial-'))) return 'partial';
        return (await Promise.race([outcome, new Promise<undefined>((resolve) => setImmediate(() => resolve(undefined)))])) ?? undefined;
      },
      SLOW_LIMIT_MS,
    );
    assert.equal(partial, 'partial', 'the work was still writing its file when the sidecar was killed');
    await sidecar.kill9();
    assert.equal(await outcome, 'failed', 'the request in flight failed with the connection');
    await sidecar.reconnect(); // StatusRequest waits for reconciliation and the sweep
  }

  it('records no half snapshot and leaves no partial file or helper container; the session works on', async () => {
    const { workspace, session, sum } = await bigWorkspace('crash-snap');
    const directory = path.join(homePaths(sidecar.home).snapshots, workspace.id);
    await killDuring(directory, (client) => client.request(P.CreateSnapshotRequest.type, { workspaceId: workspace.id, name: 'interrupted' }));

    assert.deepEqual(await sidecar.client.request(P.ListSnapshotsRequest.type, { workspaceId: workspace.id }), [], 'no snapshot is recorded');
    assert.deepEqual(filesUnder(homePaths(sidecar.home).snapshots), [], 'no partial or unrecorded file is left under the snapshot directory');
    assert.deepEqual(await archiveHelpers(sidecar.instanceId), [], 'no archive helper container of this instance is left');
    assert.equal(
      (await sidecar.client.request(P.WorkspaceHistoryRequest.type, { id: workspace.id })).some((e) => e.kind === 'snapshot-created'),
      false,
    );

    // The session was frozen for the copy (recorded before the pause) when the sidecar died: it
    // is frozen now, as after idle time, and its next use thaws it — never stuck.
    const checks = collected();
    const listed = await sessionOf(sidecar.client, session.id);
    checks.check(() => assert.equal(listed?.state, 'paused'));
    checks.check(() => assert.ok(listed?.frozenAt, `frozen, not paused by someone else (it says: ${listed?.stateReason ?? 'no reason'})`));
    const after = await exec(sidecar.client, session.id, ['sha256sum', '/workspace/big', '/workspace/small'], { timeoutMs: SAFETY_TIMEOUT_MS });
    assert.deepEqual([after.exitCode, after.stdout], [0, sum], 'the next command thaws it; the files are intact');
    const thawed = await sessionOf(sidecar.client, session.id);
    const container = await inspectContainer(session.containerId!);
    checks.check(() => assert.equal(`${thawed?.state} / paused in Docker: ${container?.State.Paused}`, 'running / paused in Docker: false'));
    checks.verify();
  });

  it('leaves the workspace unarchived and usable with its files, and no stray archive file or helper container', async () => {
    const { workspace, session, sum } = await bigWorkspace('crash-arch');
    await sidecar.client.request(P.StopSessionRequest.type, { id: session.id });
    const directory = homePaths(sidecar.home).archives;
    await killDuring(directory, (client) => client.request(P.ArchiveWorkspaceRequest.type, { id: workspace.id }));

    const listed = await workspaceOf(sidecar.client, workspace.id);
    assert.equal(listed?.state, 'suspended', 'not archived');
    assert.equal(listed.volume, workspace.volume);
    assert.ok(await volumeExists(workspace.volume), 'its volume is still there');
    assert.deepEqual(filesUnder(directory), [], 'no archive file (partial or whole) is left');
    assert.deepEqual(await archiveHelpers(sidecar.instanceId), [], 'no archive helper container of this instance is left');

    const resumed = await sidecar.startSession(workspace.id);
    const after = await exec(sidecar.client, resumed.id, ['sha256sum', '/workspace/big', '/workspace/small'], { timeoutMs: SAFETY_TIMEOUT_MS });
    assert.deepEqual([after.exitCode, after.stdout], [0, sum], 'its files are intact');

    // And archiving works after the crash.
    await sidecar.client.request(P.StopSessionRequest.type, { id: resumed.id });
    assert.equal((await sidecar.client.request(P.ArchiveWorkspaceRequest.type, { id: workspace.id })).state, 'archived');
    assert.deepEqual(filesUnder(directory), [`${workspace.id}.tar.gz`]);
    // Deleting the archived workspace removes its archive file.
    await sidecar.removeWorkspace(workspace.id);
    made.delete(workspace.id);
    assert.deepEqual(filesUnder(directory), [], 'the archive file goes with the workspace');
  });
});

// ---------------------------------------------------------------------------------------
// Regression: a pooled container's empty volume must never replace a workspace's files
// ---------------------------------------------------------------------------------------

describe('files written before the first session survive a pooled start', () => {
  const sidecar = useSidecar();
  let api: ApiClient;
  const temporary: string[] = [];
  const made = new Set<string>();

  before(async () => {
    const { url, token } = await enableApi(sidecar.client, { 'pool.images': { [TEST_IMAGE]: 1 } });
    api = new ApiClient(url, token);
  });

  after(() => {
    api?.close();
    for (const file of temporary) fs.rmSync(file, { recursive: true, force: true });
  });

  afterEach(async () => {
    await deleteMade(sidecar.client, made);
  });

  /** Waits until the pool holds a ready container of the test image (so a start could take it). */
  const poolReady = (harness: SidecarHarness) =>
    waitFor(
      'a ready pool container of the test image',
      async () => {
        const status = await harness.client.request(P.PoolStatusRequest.type, {});
        const line = status.images.find((i) => i.image === TEST_IMAGE);
        return line && line.ready >= 1 && line.refilling === 0 ? true : undefined;
      },
      SLOW_LIMIT_MS,
    );

  async function readInSession(workspaceId: string, file: string): Promise<{ text: string; session: P.SessionInfo }> {
    await poolReady(sidecar);
    const session = await sidecar.startSession(workspaceId);
    const result = await exec(sidecar.client, session.id, ['cat', `/workspace/${file}`], { timeoutMs: SAFETY_TIMEOUT_MS });
    return { text: result.exitCode === 0 ? result.stdout : `(cat failed: ${result.stderr.trim()})`, session };
  }

  it('keeps a file written through the HTTP API to a new workspace before its first session', async () => {
    await poolReady(sidecar);
    // The pool hands out a container to a really new workspace (so the pool is in play at all).
    const fresh = await sidecar.createWorkspace(uniqueName('pool-fresh'));
    made.add(fresh.id);
    assert.equal((await sidecar.startSession(fresh.id)).fromPool, true, 'a new workspace without files starts from the pool');

    const workspace = await sidecar.createWorkspace(uniqueName('pool-write'));
    made.add(workspace.id);
    assert.equal(workspace.state, 'created');
    const written = await api.post(`/v1/workspaces/${workspace.id}/fs/write`, { path: 'before-first-session.txt', text: 'written before any session\n' });
    assert.equal(written.status, 200, written.text);
    const { text } = await readInSession(workspace.id, 'before-first-session.txt');
    assert.equal(text, 'written before any session\n', 'the file written before the first session is there');
  });

  it('keeps a file written through the HTTP API to a workspace that the write itself made', async () => {
    const id = uniqueName('pool-api');
    const written = await api.post(`/v1/workspaces/${id}/fs/write`, { path: 'made-by-write.txt', text: 'the write made me\n' });
    assert.equal(written.status, 200, written.text);
    const workspace = (await sidecar.client.request(P.ListWorkspacesRequest.type, {})).find((w) => w.id === id);
    assert.ok(workspace, `the write made workspace ${id}`);
    made.add(id);
    const { text } = await readInSession(id, 'made-by-write.txt');
    assert.equal(text, 'the write made me\n');
  });

  it('keeps the files of a used workspace whose session was destroyed, at its next session', async () => {
    const workspace = await sidecar.createWorkspace(uniqueName('pool-used'));
    made.add(workspace.id);
    const first = await sidecar.startSession(workspace.id);
    await sh(sidecar.client, first.id, 'echo from-the-first-session > /workspace/used.txt');
    await sidecar.client.request(P.DestroySessionRequest.type, { id: first.id });
    const { text, session } = await readInSession(workspace.id, 'used.txt');
    assert.notEqual(session.id, first.id, 'a new session');
    assert.equal(text, 'from-the-first-session\n', 'the files of the first session are there in the next');
    // What the new session writes is in the workspace's volume: there after this session is gone too.
    await sh(sidecar.client, session.id, 'echo from-the-second-session > /workspace/second.txt');
    await sidecar.client.request(P.DestroySessionRequest.type, { id: session.id });
    const third = await readInSession(workspace.id, 'second.txt');
    assert.equal(third.text, 'from-the-second-session\n');
  });

  it('keeps the files of a clone and of an import at their first session', async () => {
    const source = await sidecar.createWorkspace(uniqueName('pool-src'));
    made.add(source.id);
    const session = await sidecar.startSession(source.id);
    await sh(sidecar.client, session.id, 'echo from-the-source > /workspace/source.txt');
    await sidecar.client.request(P.StopSessionRequest.type, { id: session.id });

    const clone = await sidecar.client.request(P.CloneWorkspaceRequest.type, { id: source.id, name: uniqueName('pool-clone') });
    made.add(clone.id);
    assert.equal((await readInSession(clone.id, 'source.txt')).text, 'from-the-source\n', "the clone's files are there at its first session");

    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-export-'));
    temporary.push(directory);
    const file = path.join(directory, 'source.tar.gz');
    await sidecar.client.request(P.ExportWorkspaceRequest.type, { id: source.id, file });
    const imported = await sidecar.client.request(P.ImportWorkspaceRequest.type, { file, name: uniqueName('pool-import'), image: TEST_IMAGE });
    made.add(imported.id);
    assert.equal((await readInSession(imported.id, 'source.txt')).text, 'from-the-source\n', "the import's files are there at its first session");
  });
});
