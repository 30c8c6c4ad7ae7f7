/**
 * The engine goes away and comes back (issue 19, faults): the health notices once, backs off,
 * and says when the engine is back; while it is away live sessions are marked, uses fail
 * with DockerUnavailable naming the engine, and nothing is removed or marked gone; after
 * its return the sessions its stop stopped run again in the same containers. A connection
 * cut during a command fails that command clearly, and the next one runs in a new shell.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { ApiLeases } from '../../sidecar/api/leases';
import type { ApiServices } from '../../sidecar/api/route';
import { ConfigStore } from '../../sidecar/config';
import { ContainerWatch } from '../../sidecar/containerWatch';
import { CONFIRM_AFTER_MS, EngineHealth, FIRST_RETRY_MS, MAX_RETRY_MS, type EngineChange } from '../../sidecar/docker/engineHealth';
import { SandkastenError } from '../../sidecar/errors';
import { Exec } from '../../sidecar/exec/exec';
import { CapturedOutput } from '../../sidecar/exec/sinks';
import { Shells } from '../../sidecar/exec/shells';
import { Activity } from '../../sidecar/lifecycle/activity';
import { Lifecycle } from '../../sidecar/lifecycle/lifecycle';
import { Sessions } from '../../sidecar/sessions';
import { Store } from '../../sidecar/store/store';
import { Changes } from '../../sidecar/util/changes';
import { KeyedLock } from '../../sidecar/util/keyedLock';
import { Workspaces } from '../../sidecar/workspaces';
import { eventually, FakeClock, settle } from './fakes/clock';
import { fakeContainers, TEST_IMAGE } from './fakes/domain';
import { FakeEngine } from './fakes/engine';

const disposers: Array<() => void> = [];
afterEach(() => {
  for (const dispose of disposers.splice(0)) dispose();
});

/** The fake engine, watched by a health, on the fake clock. */
function watchedEngine() {
  const engine = new FakeEngine({ images: [TEST_IMAGE] });
  const clock = new FakeClock();
  const logged: string[] = [];
  const log = { info: (message: string) => void logged.push(message), error: (message: string) => void logged.push(`error: ${message}`) };
  const health = new EngineHealth({ engine, clock, log });
  const changes: EngineChange[] = [];
  health.onChange((change) => changes.push(change));
  disposers.push(() => health.stop());
  return { engine, clock, health, logged, log, changes };
}

/** The session modules as sidecar.ts wires them, over the watched engine; a session runs and the container watch follows it. */
async function runningSession() {
  const parts = watchedEngine();
  const { health, clock, log } = parts;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-health-'));
  const config = await ConfigStore.open(path.join(directory, 'config.json'));
  await config.set({ 'pool.images': {} });
  const changes = new Changes();
  const locks = new KeyedLock();
  const store = await Store.open(undefined, clock);
  // fakeContainers types its engine as the fake; the watched one answers the same calls.
  const containers = fakeContainers(health.engine as unknown as FakeEngine, config, clock, directory);
  const shells = new Shells(health.engine, clock);
  const workspaces = new Workspaces({ store, containers, config, clock, changes, locks });
  const activity = new Activity(clock, (workspaceId) => workspaces.recordAccess(workspaceId));
  const sessions = new Sessions({ store, containers, config, clock, changes, locks, workspaces, shells, activity, engineHealth: health });
  const exec = new Exec({ engine: health.engine, sessions, workspaces, store, shells, clock });
  const watch = new ContainerWatch({ containers, store, sessions, config, clock, log, engineHealth: health });
  disposers.push(() => {
    watch.stop();
    shells.closeAll();
    store.close();
    fs.rmSync(directory, { recursive: true, force: true });
  });
  const workspace = await workspaces.create({ name: 'faults' });
  const session = await sessions.start(workspace.id);
  await watch.start();
  const run = async (line: string) => {
    const sink = new CapturedOutput('utf8');
    const outcome = await exec.run({ sessionId: session.id, line }, sink);
    return { ...outcome, stdout: sink.text('stdout') };
  };
  return { ...parts, config, store, workspaces, sessions, exec, watch, workspace, session, containerId: session.containerId!, run, activity };
}

/** Rejects with a DockerUnavailable error whose message matches. */
async function rejectsUnavailable(promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof SandkastenError, String(error));
    assert.equal(error.codeName, 'DockerUnavailable');
    assert.match(error.message, message);
    return true;
  });
}

describe('the engine health', () => {
  it('takes a failed call for a reason to look, and the engine for away only when the look fails too', async () => {
    const { engine, clock, health, changes, logged } = watchedEngine();
    engine.failNext('listOwnContainers', new SandkastenError('DockerUnavailable', 'Docker is not reachable (connect ECONNRESET).'));
    await assert.rejects(health.engine.listOwnContainers());
    await eventually(() => engine.callsTo('status').length === 1, 'a look');
    await settle(); // and its answer
    assert.equal(health.away, false, 'the engine answered the look: a passing failure');
    assert.deepEqual(changes, []);

    // A look that fails once (a kept-alive connection that broke too) asks again before saying "away".
    engine.failNext('status', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    engine.failNext('listOwnContainers', new SandkastenError('DockerUnavailable', 'Docker is not reachable (the ssh connection to build-box was cut).'));
    await assert.rejects(health.engine.listOwnContainers());
    await settle();
    await clock.advance(CONFIRM_AFTER_MS);
    await eventually(() => engine.callsTo('status').length === 3, 'a look asked twice');
    await settle();
    assert.equal(health.away, false);

    engine.available = false;
    await assert.rejects(health.engine.listOwnContainers());
    await settle();
    assert.equal(health.away, false, 'not before the second ask');
    await clock.advance(CONFIRM_AFTER_MS);
    await eventually(() => health.away, 'the engine to be away');
    assert.deepEqual(changes, [{ state: 'away', reason: 'The fake engine is off.' }]);
    assert.equal(logged.filter((line) => line.includes('The fake engine is off')).length, 1, 'said once');
  });

  it('fails calls at once while away, naming the engine, and looks again after 0.5 s, doubling up to 10 s', async () => {
    const { engine, clock, health, changes, logged } = watchedEngine();
    engine.available = false;
    await health.engine.status(); // any status answer is a look
    assert.equal(health.away, true);

    const callsBefore = engine.calls.length;
    await rejectsUnavailable(health.engine.exec('c0ffee', { command: ['true'] }), /The Docker engine at fake:\/\/engine has not answered for \d+ s\. .*removes nothing meanwhile/);
    assert.equal(engine.calls.length, callsBefore, 'the call never reached the engine');

    const looks = () => engine.callsTo('status').length;
    const lookTimes: number[] = [];
    const start = clock.now();
    for (let i = 0; i < 7; i++) {
      const before = looks();
      await clock.advance(clock.nextDueIn()!);
      await eventually(() => looks() === before + 1, 'the next look');
      lookTimes.push(clock.now() - start);
    }
    assert.deepEqual(lookTimes, [500, 1500, 3500, 7500, 15_500, 25_500, 35_500], `after ${FIRST_RETRY_MS} ms, doubling, at most ${MAX_RETRY_MS} ms apart`);

    engine.available = true;
    await clock.advance(MAX_RETRY_MS);
    await eventually(() => !health.away, 'the engine to be back');
    assert.deepEqual(changes.map((change) => change.state), ['away', 'back']);
    const back = changes[1] as Extract<EngineChange, { state: 'back' }>;
    assert.equal(back.awayMs, 45_500);
    assert.ok(logged.some((line) => /answers again, after 46 s away/.test(line)), logged.join('\n'));
    assert.equal(clock.pendingTimers, 0, 'no more looks once it is back');
  });

  it('lets a call right after the return through: it looks first when the last look is older than 0.5 s', async () => {
    const { engine, clock, health } = watchedEngine();
    engine.available = false;
    await health.engine.status();
    await clock.advance(FIRST_RETRY_MS + 1000); // looks at 0.5 s and 1.5 s; the next is due at 3.5 s
    engine.available = true;
    await clock.advance(FIRST_RETRY_MS);
    assert.equal(health.away, true, 'no scheduled look yet');
    const volumes = await health.engine.listOwnVolumes();
    assert.deepEqual(volumes, []);
    assert.equal(health.away, false);
  });

  it('looks when the events stream ends', async () => {
    const { engine, clock, health } = watchedEngine();
    await health.engine.followContainerEvents(() => undefined, () => undefined);
    engine.available = false;
    engine.endContainerEvents(new Error('aborted'));
    await settle();
    await clock.advance(CONFIRM_AFTER_MS);
    await eventually(() => health.away, 'the engine to be found away');
  });
});

describe('sessions while the engine is away', () => {
  it('are marked, refuse uses with DockerUnavailable, and lose nothing; after the return they run again in the same containers', async () => {
    const { engine, clock, health, sessions, store, session, containerId, workspace, run, logged } = await runningSession();
    assert.equal((await run('echo before')).exitCode, 0);
    const volumes = [...engine.volumes.keys()].sort();

    engine.shutDown(); // its containers die (events arrive), then the streams break
    await settle();
    await clock.advance(CONFIRM_AFTER_MS);
    await eventually(() => health.away, 'the engine to be found away');
    const marked = sessions.get(session.id);
    assert.equal(marked.state, 'running', 'the state stays what it was: the die events were the engine stopping');
    assert.equal(marked.engineUnreachable, true);
    assert.equal(marked.stateReason, undefined);
    assert.deepEqual(sessions.list().map((s) => s.engineUnreachable), [true]);
    await rejectsUnavailable(run('echo during'), /has not answered for/);

    // Nothing was removed or forgotten: the records, the container, the volume.
    assert.deepEqual(store.sessions.list().map((s) => [s.id, s.state, s.containerId]), [[session.id, 'running', containerId]]);
    assert.ok(store.workspaces.get(workspace.id));
    assert.ok(engine.containers.has(containerId));
    assert.deepEqual([...engine.volumes.keys()].sort(), volumes);
    assert.equal(engine.callsTo('removeContainer').length + engine.callsTo('removeVolume').length, 0);

    engine.startUp();
    await clock.advance(FIRST_RETRY_MS);
    await eventually(() => !health.away && engine.containers.get(containerId)!.running, 'the session to be started again');
    await eventually(() => engine.eventFollowers.size === 1, 'the events to be followed again');
    const after = sessions.get(session.id);
    assert.equal(after.state, 'running');
    assert.equal(after.engineUnreachable, undefined);
    assert.equal(after.containerId, containerId, 'the same container');
    engine.script = () => ({ stdout: 'after\n' });
    assert.equal((await run('echo after')).stdout, 'after\n', 'commands run again');
    assert.ok(store.events.list(workspace.id).some((event) => /started again: its container stopped while the Docker engine was unreachable/.test(event.reason)), 'the history says why');
    assert.ok(logged.some((line) => line.includes(`session ${session.id} started again`)), logged.join('\n'));
  });

  it('stay marked after the return until the catch-up saw to them; a use meanwhile waits for it', async () => {
    const { engine, clock, health, sessions, session, containerId, run } = await runningSession();
    engine.shutDown();
    await settle();
    await clock.advance(CONFIRM_AFTER_MS);
    await eventually(() => health.away, 'the engine to be found away');

    const catchUp = engine.hold('listOwnContainers');
    engine.startUp();
    await clock.advance(FIRST_RETRY_MS);
    await eventually(() => !health.away && engine.callsTo('listOwnContainers').length > 0, 'the catch-up to begin');
    assert.equal(sessions.get(session.id).engineUnreachable, true, 'still marked: its container is not started again yet');
    engine.script = () => ({ stdout: 'ran\n' });
    let finished = false;
    const using = run('echo ran').finally(() => (finished = true));
    await settle();
    assert.equal(finished, false, 'the command waits for the catch-up');

    catchUp.release();
    assert.equal((await using).stdout, 'ran\n');
    assert.equal(engine.containers.get(containerId)!.running, true);
    assert.equal(sessions.get(session.id).engineUnreachable, undefined);
  });

  it('see a death as a stop when the engine answers a new connection; as its absence when it does not', async () => {
    const { engine, clock, health, sessions, session, containerId } = await runningSession();
    engine.containers.get(containerId)!.running = false;
    engine.emitContainerEvent({ containerId, action: 'die', exitCode: 137 });
    await eventually(() => sessions.get(session.id).state === 'stopped', 'the session to be stopped');
    assert.match(sessions.get(session.id).stateReason ?? '', /stopped outside Sandkasten \(exit code 137\)/);
    assert.equal(health.away, false);

    // An engine shutting down: it refuses new connections, then its containers die.
    const again = await sessions.resume(session.id);
    engine.available = false;
    engine.containers.get(again.containerId!)!.running = false;
    engine.emitContainerEvent({ containerId: again.containerId!, action: 'die', exitCode: 143 });
    await settle();
    await clock.advance(CONFIRM_AFTER_MS);
    await eventually(() => health.away, 'the engine to be found away');
    await settle();
    assert.equal(sessions.get(session.id).state, 'running', 'the death was the engine going: not a stop of the session');
    assert.equal(sessions.get(session.id).engineUnreachable, true);
  });

  it('follow the normal rule for a container removed while the engine was away', async () => {
    const { engine, clock, health, sessions, session, containerId } = await runningSession();
    engine.shutDown();
    await settle();
    await clock.advance(CONFIRM_AFTER_MS);
    await eventually(() => health.away, 'the engine to be found away');
    engine.containers.delete(containerId); // removed on the engine's host meanwhile
    engine.startUp();
    await clock.advance(FIRST_RETRY_MS);
    await eventually(() => sessions.get(session.id).state === 'stopped', 'the session to be stopped');
    const stopped = sessions.get(session.id);
    assert.equal(stopped.containerId, null);
    assert.match(stopped.stateReason ?? '', /removed while the Docker engine was unreachable/);
    const resumed = await sessions.resume(session.id);
    assert.equal(resumed.state, 'running', 'resume makes it a new container on the same volume');
  });

  it('fail a command in flight clearly when the engine goes away under it', async () => {
    const { engine, clock, health, run } = await runningSession();
    engine.script = () => ({ hang: true });
    const running = run('sleep 100');
    await eventually(() => engine.shellsOf([...engine.containers.keys()][0]).some((shell) => shell.running !== undefined), 'the command to run');
    const failed = rejectsUnavailable(running, /lost while the command ran, and the engine does not answer now: whether the command finished is unknown/);
    engine.shutDown();
    await settle();
    await clock.advance(2 * CONFIRM_AFTER_MS); // the health's second look, and the command's second ask
    await failed;
    assert.ok(health.away);
  });
});

describe('a connection cut during a command', () => {
  it('fails that command with a clear error; the next one runs in a new shell of the same session', async () => {
    const { engine, health, sessions, session, containerId, run } = await runningSession();
    assert.equal((await run('cd /tmp')).exitCode, 0);
    engine.script = (_text, command) => (command.line === 'sleep 100' ? { hang: true } : { stdout: 'fine\n' });
    const running = run('sleep 100');
    await eventually(() => engine.shellsOf(containerId).some((shell) => shell.running !== undefined), 'the command to run');

    engine.cutConnections(new Error('the ssh connection to build-box was cut.'));
    await rejectsUnavailable(running, /The connection to the Docker engine was cut while the command ran \(the ssh connection to build-box was cut\.\): whether the command finished is unknown/);
    assert.equal(health.away, false, 'the engine itself answers');

    const next = await run('echo again');
    assert.equal(next.exitCode, 0);
    assert.equal(next.stdout, 'fine\n');
    assert.equal(sessions.get(session.id).state, 'running');
    assert.equal(sessions.get(session.id).containerId, containerId);
    assert.equal(engine.shellsOf(containerId).filter((shell) => shell.alive).length, 1, 'one new shell');
  });
});

describe('timers that act on sessions, after the engine was away', () => {
  it('count every session as used at the return, so the gap freezes none', async () => {
    const { store, sessions, workspaces, activity, config, clock, session, log } = await runningSession();
    const lifecycle = new Lifecycle({ store, workspaces, sessions, activity, config, clock, changes: new Changes(), log });
    await clock.advance(31 * 60_000); // longer than lifecycle.freezeAfterMinutes for a session workspace
    assert.deepEqual(lifecycle.preview().map((action) => [action.action, action.sessionId]), [['freeze', session.id]]);
    lifecycle.countAsUsedNow();
    assert.deepEqual(lifecycle.preview(), []);
  });

  it('move API leases on by the time the engine was away', async () => {
    const { store, sessions, workspaces, clock, log } = await runningSession();
    const leased = await sessions.start((await workspaces.create({ name: 'leased' })).id, { origin: 'api', leaseMs: 60_000 });
    const leases = new ApiLeases({ services: {} as ApiServices, store, clock, log });
    const before = Date.parse(sessions.get(leased.id).expiresAt!);
    await leases.extendBy(45_000);
    assert.equal(Date.parse(sessions.get(leased.id).expiresAt!), before + 45_000);
  });
});
