import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { LifecycleActionInfo, WorkspaceKind } from '../../sidecar/client/protocol';
import { SandkastenError } from '../../sidecar/errors';
import { CapturedOutput } from '../../sidecar/exec/sinks';
import { Lifecycle } from '../../sidecar/lifecycle/lifecycle';
import { readableTime } from '../../sidecar/lifecycle/policy';
import { isoTime } from '../../sidecar/util/clock';
import { eventually } from './fakes/clock';
import { makeDomain, type Domain } from './fakes/domain';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const disposals: Array<() => void> = [];
afterEach(() => {
  for (const dispose of disposals.splice(0)) dispose();
});

/**
 * The fake domain with a Lifecycle built from its parts, as sidecar.ts builds it, with an
 * archive step that records its calls and marks the workspace archived (standing in for the
 * workspace archives). `errors`: what the lifecycle logged as errors.
 */
async function setUp(settings: Parameters<typeof makeDomain>[0] = {}) {
  const domain: Domain = await makeDomain(settings);
  const { store, workspaces, sessions, activity, config, clock, changes } = domain;
  const errors: string[] = [];
  const archived: Array<{ workspaceId: string; reason: string }> = [];
  const archive = async (workspaceId: string, reason: string, onlyIf: () => boolean) => {
    if (!onlyIf()) return false;
    archived.push({ workspaceId, reason });
    store.workspaces.setState(workspaceId, 'archived');
    store.events.append(workspaceId, 'archived', reason, clock.now());
    await store.commit();
    return true;
  };
  const lifecycle = new Lifecycle({
    store,
    workspaces,
    sessions,
    activity,
    config,
    clock,
    changes,
    log: { info: () => undefined, error: (message) => errors.push(message) },
    archive,
  });
  disposals.push(() => {
    lifecycle.stop();
    domain.dispose();
  });
  return { ...domain, lifecycle, errors, archived };
}

type Parts = Awaited<ReturnType<typeof setUp>>;

/** A workspace of `kind` with a running session (cold: the pool is not started). */
async function withSession(parts: Parts, name: string, kind: WorkspaceKind = 'session') {
  const workspace = await parts.workspaces.create({ name, kind });
  const session = await parts.sessions.start(workspace.id);
  assert.equal(session.state, 'running');
  return { workspace, session, containerId: session.containerId! };
}

/** [action, session or workspace id] of each action: what was (or would be) done, to what. */
const done = (actions: LifecycleActionInfo[]) => actions.map((a) => [a.action, a.sessionId ?? a.workspaceId]);

const isNotFound = (error: unknown) => error instanceof SandkastenError && error.codeName === 'NotFound';

/** The kinds of the workspace's events, oldest first. */
const eventKinds = (parts: Parts, workspaceId: string) =>
  parts.store.events
    .list(workspaceId)
    .map((event) => event.kind)
    .reverse();

describe('lifecycle: ephemeral workspaces', () => {
  it('an ephemeral workspace goes 5 min after its session was destroyed, and its history says why', async () => {
    const parts = await setUp();
    const { clock, workspaces, sessions, lifecycle, engine } = parts;
    const { workspace, session } = await withSession(parts, 'one-off', 'ephemeral');
    await clock.advance(2 * MINUTE);
    await sessions.destroy(session.id);

    await clock.advance(5 * MINUTE - 1);
    assert.deepEqual(await lifecycle.run(), [], 'a millisecond early: nothing');
    assert.equal(workspaces.get(workspace.id).id, workspace.id);

    await clock.advance(1);
    const reason = 'its session ended 5 min ago (ephemeral workspaces go 5 min after)';
    assert.deepEqual(await lifecycle.run(), [{ action: 'delete', workspaceId: workspace.id, workspaceName: 'one-off', reason, outcome: 'done' }]);

    assert.throws(() => workspaces.get(workspace.id), isNotFound);
    assert.equal(engine.volumes.has(workspace.volume), false, 'its volume is gone');
    const [last] = workspaces.history(workspace.id);
    assert.deepEqual(last, { at: isoTime(clock.now()), kind: 'deleted', reason }, 'the deleted event outlives the workspace');
    assert.deepEqual(eventKinds(parts, workspace.id), ['created', 'started', 'stopped', 'deleted']);
  });

  it('an ephemeral workspace in use is kept, and its info shows no deletion date in the past', async () => {
    const parts = await setUp({ 'lifecycle.freezeAfterMinutes': { ephemeral: 0 } });
    const { clock, workspaces, lifecycle } = parts;
    const { workspace } = await withSession(parts, 'long-run', 'ephemeral');

    await clock.advance(HOUR);

    assert.deepEqual(await lifecycle.run(), [], 'its session runs: nothing to do');
    const deleteAt = workspaces.get(workspace.id).lifecycle?.deleteAt;
    assert.ok(deleteAt === undefined || Date.parse(deleteAt) >= clock.now(), `shown as deleted at ${deleteAt}, an hour into its session`);
  });

  it('an ephemeral workspace whose session was stopped goes 5 min later too', async () => {
    const parts = await setUp();
    const { clock, workspaces, sessions, lifecycle, engine } = parts;
    const { workspace, session, containerId } = await withSession(parts, 'stopped-one', 'ephemeral');
    await clock.advance(MINUTE);
    await sessions.stop(session.id);

    await clock.advance(5 * MINUTE - 1);
    assert.deepEqual(await lifecycle.run(), []);
    await clock.advance(1);
    const results = await lifecycle.run();

    assert.deepEqual(done(results), [['delete', workspace.id]]);
    assert.equal(results[0].outcome, 'done');
    assert.throws(() => workspaces.get(workspace.id), isNotFound);
    assert.equal(engine.containers.has(containerId), false, 'its stopped container went with it');
    assert.equal(workspaces.history(workspace.id)[0].kind, 'deleted');
  });
});

describe('lifecycle: session workspaces', () => {
  it('a command run through exec counts as use: the workspace’s deletion date moves with it', async () => {
    const parts = await setUp();
    const { clock, workspaces, exec, lifecycle } = parts;
    const { workspace, session } = await withSession(parts, 'interactive');
    assert.equal(workspaces.get(workspace.id).lifecycle, undefined, 'no date while its session runs: nothing is due while in use');

    await clock.advance(20 * MINUTE);
    const outcome = await exec.run({ sessionId: session.id, line: 'make' }, new CapturedOutput('utf8'));
    assert.equal(outcome.exitCode, 0);
    const commandAt = clock.now();

    await parts.sessions.stop(session.id);
    await clock.advance(MINUTE);
    const lastAccess = Date.parse(workspaces.get(workspace.id).lastAccessedAt);
    assert.ok(lastAccess >= commandAt, 'the command counted as a use');
    assert.equal(workspaces.get(workspace.id).lifecycle?.deleteAt, isoTime(lastAccess + DAY), '24 h from the last use');
    await clock.advance(DAY - 2 * MINUTE);
    assert.deepEqual(done(await lifecycle.run()).filter(([action]) => action === 'delete'), [], 'not before 24 h from the last use');
    await clock.advance(2 * MINUTE);
    assert.deepEqual(done(await lifecycle.run()).filter(([action]) => action === 'delete'), [['delete', workspace.id]]);
  });

  it('a use after its session ended pushes the deletion back by as much', async () => {
    const parts = await setUp();
    const { clock, workspaces, sessions, activity, lifecycle } = parts;
    const { workspace, session } = await withSession(parts, 'later');
    await sessions.destroy(session.id);
    const ended = clock.now();

    await clock.advance(23 * HOUR);
    activity.touch(session.id, workspace.id);
    assert.equal(workspaces.get(workspace.id).lifecycle?.deleteAt, isoTime(ended + 23 * HOUR + DAY));

    await clock.advance(HOUR);
    assert.deepEqual(await lifecycle.run(), [], '24 h after the session ended, but only 1 h after the last use');
    await clock.advance(23 * HOUR - 1);
    assert.deepEqual(await lifecycle.run(), []);
    await clock.advance(1);
    const results = await lifecycle.run();
    assert.deepEqual(results, [
      { action: 'delete', workspaceId: workspace.id, workspaceName: 'later', reason: 'unused for 24 h (session workspaces expire after 24 h without use)', outcome: 'done' },
    ]);
    assert.throws(() => workspaces.get(workspace.id), isNotFound);
    assert.equal(workspaces.history(workspace.id)[0].reason, results[0].reason);
  });
});

describe('lifecycle: persistent workspaces', () => {
  it('archived after 14 days, warned 3 days before deletion (in its info too, and daily), then deleted after 30 days', async () => {
    const parts = await setUp();
    const { clock, workspaces, lifecycle, archived, engine } = parts;
    const workspace = await workspaces.create({ name: 'thesis', kind: 'persistent' });
    const created = clock.now();
    assert.deepEqual(workspaces.get(workspace.id).lifecycle, { deleteAt: isoTime(created + 30 * DAY), archiveAt: isoTime(created + 14 * DAY) });

    await clock.advance(14 * DAY);
    assert.deepEqual(done(await lifecycle.run()), [['archive', workspace.id]]);
    assert.deepEqual(archived, [{ workspaceId: workspace.id, reason: 'unused for 14 days (archived after 14 days)' }]);

    await clock.advance(13 * DAY - 1);
    assert.deepEqual(await lifecycle.run(), [], 'no warning before 72 h ahead');
    await clock.advance(1);
    const warned = await lifecycle.run();
    assert.deepEqual(warned, [
      {
        action: 'warn',
        workspaceId: workspace.id,
        workspaceName: 'thesis',
        deleteAt: isoTime(created + 30 * DAY),
        reason: `unused for 27 days: deleted on ${readableTime(created + 30 * DAY)} unless used, kept or pinned before`,
        outcome: 'done',
      },
    ]);
    const [event] = workspaces.history(workspace.id);
    assert.deepEqual(event, { at: isoTime(clock.now()), kind: 'warned', reason: warned[0].reason });
    assert.deepEqual(workspaces.get(workspace.id).lifecycle, {
      deleteAt: isoTime(created + 30 * DAY),
      warning: 'Will be deleted on 2025-01-31 unless used, kept or pinned.',
    });

    assert.deepEqual(await lifecycle.run(), [], 'warned once a day, not every round');
    await clock.advance(DAY);
    assert.deepEqual(done(await lifecycle.run()), [['warn', workspace.id]], 'the daily repeat');
    assert.equal(eventKinds(parts, workspace.id).filter((kind) => kind === 'warned').length, 2);

    await clock.advance(2 * DAY - 1);
    assert.deepEqual(done(await lifecycle.run()), [['warn', workspace.id]], 'the last repeat, still not deleted');
    await clock.advance(1);
    const deleted = await lifecycle.run();
    assert.deepEqual(deleted, [
      { action: 'delete', workspaceId: workspace.id, workspaceName: 'thesis', reason: 'made 30 days ago and never used (persistent workspaces expire after 30 days without use)', outcome: 'done' },
    ]);
    assert.throws(() => workspaces.get(workspace.id), isNotFound);
    assert.equal(engine.volumes.has(workspace.volume), false);
    assert.deepEqual(eventKinds(parts, workspace.id), ['created', 'archived', 'warned', 'warned', 'warned', 'deleted']);
  });

  it('a Keep or Pin that comes while a round is busy with other actions wins: the planned delete does not happen', async () => {
    const parts = await setUp();
    const { clock, engine, workspaces, lifecycle } = parts;
    const first = await workspaces.create({ name: 'first', kind: 'session' });
    const kept = await workspaces.create({ name: 'kept', kind: 'session' });
    const pinned = await workspaces.create({ name: 'pinned', kind: 'session' });
    await clock.advance(DAY);
    // The first deletion waits on Docker; meanwhile the person keeps one and pins the other.
    const held = engine.hold('removeVolume');
    const round = lifecycle.run();
    await eventually(() => engine.callsTo('removeVolume').length > 0, 'the first deletion to reach Docker');
    await workspaces.keep(kept.id);
    await workspaces.setPinned(pinned.id, true);
    held.release();
    const results = await round;
    assert.deepEqual(done(results), [['delete', first.id], ['delete', kept.id], ['delete', pinned.id]], 'all three were due when the round planned');
    assert.deepEqual(results.map((r) => r.outcome), ['done', 'skipped', 'skipped']);
    assert.throws(() => workspaces.get(first.id), isNotFound);
    assert.equal(workspaces.get(kept.id).id, kept.id, 'kept: still there');
    assert.equal(workspaces.get(pinned.id).pinned, true, 'pinned: still there');
    assert.deepEqual(await lifecycle.preview(), [], 'and nothing is due now');
  });

  it('keep ends the warning and starts its expiry again', async () => {
    const parts = await setUp();
    const { clock, workspaces, lifecycle } = parts;
    const workspace = await workspaces.create({ name: 'keeper', kind: 'persistent' });
    const created = clock.now();
    await clock.advance(28 * DAY);
    assert.deepEqual(done(await lifecycle.run()), [['warn', workspace.id]], 'the warning comes before the (overdue) archive');
    assert.ok(workspaces.get(workspace.id).lifecycle?.warning);

    const kept = await workspaces.keep(workspace.id);

    assert.equal(kept.lifecycle?.warning, undefined, 'the warning ended');
    assert.equal(kept.lifecycle?.deleteAt, isoTime(clock.now() + 30 * DAY), '30 days from the keep');
    assert.equal(workspaces.history(workspace.id)[0].kind, 'kept');
    await clock.advance(created + 30 * DAY - clock.now());
    assert.deepEqual(await lifecycle.run(), [], 'the old deadline passes');
    await clock.advance(DAY);
    assert.deepEqual(await lifecycle.run(), []);
    assert.equal(workspaces.get(workspace.id).id, workspace.id);
  });

  it('when the sidecar was off past the deadline, the workspace is warned first and deleted only 72 h later', async () => {
    const parts = await setUp({ 'lifecycle.archiveAfterDays': { persistent: 0 } });
    const { clock, workspaces, lifecycle } = parts;
    const workspace = await workspaces.create({ name: 'forgotten', kind: 'persistent' });

    await clock.advance(40 * DAY);
    const [warning] = await lifecycle.run();
    assert.equal(warning.action, 'warn');
    assert.equal(warning.deleteAt, isoTime(clock.now() + 72 * HOUR));
    const warnedAt = clock.now();

    for (const at of [DAY, 2 * DAY, 72 * HOUR - 1]) {
      await clock.advance(warnedAt + at - clock.now());
      assert.ok(
        (await lifecycle.run()).every((action) => action.action !== 'delete'),
        `${at} ms after the first warning`,
      );
      assert.equal(workspaces.get(workspace.id).id, workspace.id);
    }
    await clock.advance(1);
    assert.deepEqual(done(await lifecycle.run()), [['delete', workspace.id]]);
    assert.throws(() => workspaces.get(workspace.id), isNotFound);
  });

  it('a pinned workspace is never warned, archived or deleted; unpinned, the lifecycle applies again', async () => {
    const parts = await setUp();
    const { clock, workspaces, lifecycle, archived } = parts;
    const workspace = await workspaces.create({ name: 'precious', kind: 'persistent' });
    const pinned = await workspaces.setPinned(workspace.id, true);
    assert.equal(pinned.pinned, true);
    assert.equal(pinned.lifecycle, undefined, 'no dates for a pinned workspace');

    for (let day = 0; day < 400; day += 10) {
      await clock.advance(10 * DAY);
      assert.deepEqual(lifecycle.preview(), []);
      assert.deepEqual(await lifecycle.run(), [], `day ${day + 10}`);
    }
    assert.deepEqual(archived, []);
    assert.deepEqual(eventKinds(parts, workspace.id), ['created', 'pinned']);
    assert.equal(workspaces.get(workspace.id).lifecycle, undefined);

    const unpinned = await workspaces.setPinned(workspace.id, false);
    assert.ok(unpinned.lifecycle?.deleteAt, 'its dates are back');
    assert.deepEqual(done(await lifecycle.run()), [['warn', workspace.id]], 'unused for 400 days: warned (not deleted unwarned)');
    await clock.advance(72 * HOUR);
    await lifecycle.run();
    assert.throws(() => workspaces.get(workspace.id), isNotFound, 'deleted 72 h after the warning');
  });

  it('a workspace pinned during its warning period and unpinned later is warned again before it is deleted', async () => {
    const parts = await setUp({ 'lifecycle.archiveAfterDays': { persistent: 0 } });
    const { clock, workspaces, lifecycle } = parts;
    const workspace = await workspaces.create({ name: 'saved', kind: 'persistent' });
    await clock.advance(27 * DAY);
    assert.deepEqual(done(await lifecycle.run()), [['warn', workspace.id]]);
    await clock.advance(DAY);
    await workspaces.setPinned(workspace.id, true); // the user's answer to the warning
    await clock.advance(30 * DAY);
    await workspaces.setPinned(workspace.id, false);

    const actions = await lifecycle.run();

    // The warning it had was answered by the pin, a month ago: deleting now would come without
    // the 72 h notice the policy promises.
    assert.deepEqual(done(actions), [['warn', workspace.id]]);
    assert.equal(workspaces.get(workspace.id).id, workspace.id);
  });
});

describe('lifecycle: freezing and stopping sessions', () => {
  it('a running session idle for 30 min is frozen: its container paused, the session paused with frozenAt and why', async () => {
    const parts = await setUp();
    const { clock, sessions, engine, lifecycle, workspaces } = parts;
    const { workspace, session, containerId } = await withSession(parts, 'idle');

    await clock.advance(30 * MINUTE - 1);
    assert.deepEqual(await lifecycle.run(), []);
    assert.equal(engine.callsTo('pauseContainer').length, 0);

    await clock.advance(1);
    const reason = 'idle for 30 min (frozen after 30 min)';
    assert.deepEqual(await lifecycle.run(), [{ action: 'freeze', workspaceId: workspace.id, sessionId: session.id, reason, outcome: 'done' }]);

    assert.deepEqual(engine.callsTo('pauseContainer'), [[containerId]]);
    assert.equal(engine.containers.get(containerId)?.paused, true);
    const frozen = sessions.get(session.id);
    assert.equal(frozen.state, 'paused');
    assert.equal(frozen.frozenAt, isoTime(clock.now()));
    assert.equal(frozen.stateReason, `frozen: ${reason}`);
    assert.deepEqual(workspaces.history(workspace.id)[0], { at: isoTime(clock.now()), kind: 'frozen', reason: `session ${session.id}: ${reason}` });
  });

  it('sessions.ready thaws a frozen session: container unpaused, running again, a thawed event, and counted as use', async () => {
    const parts = await setUp();
    const { clock, sessions, engine, lifecycle, workspaces } = parts;
    const { workspace, session, containerId } = await withSession(parts, 'thaw');
    await clock.advance(30 * MINUTE);
    await lifecycle.run();
    assert.equal(sessions.get(session.id).state, 'paused');
    await clock.advance(5 * MINUTE);

    const ready = await sessions.ready(session.id);

    assert.equal(ready.state, 'running');
    assert.equal(ready.containerId, containerId);
    assert.deepEqual(engine.callsTo('unpauseContainer'), [[containerId]]);
    assert.equal(engine.containers.get(containerId)?.paused, false);
    const thawed = sessions.get(session.id);
    assert.equal(thawed.frozenAt, undefined);
    assert.equal(thawed.stateReason, undefined);
    assert.deepEqual(workspaces.history(workspace.id)[0], { at: isoTime(clock.now()), kind: 'thawed', reason: `session ${session.id} used after 5 min frozen` });
    assert.deepEqual(await lifecycle.run(), [], 'just used: not frozen again');
    await clock.advance(30 * MINUTE);
    assert.deepEqual(done(await lifecycle.run()), [['freeze', session.id]], 'idle 30 min from the thaw');
  });

  it('a session with a command in flight is never frozen, however long it runs; its end counts as use', async () => {
    const parts = await setUp();
    const { clock, sessions, engine, lifecycle } = parts;
    const { workspace, session } = await withSession(parts, 'busy');
    const endUse = sessions.beginUse(session.id, workspace.id);

    for (let hour = 0; hour < 10; hour++) {
      await clock.advance(HOUR);
      assert.deepEqual(await lifecycle.run(), []);
    }
    assert.equal(engine.callsTo('pauseContainer').length, 0);
    assert.equal(sessions.get(session.id).state, 'running');

    endUse();
    await clock.advance(30 * MINUTE - 1);
    assert.deepEqual(await lifecycle.run(), [], 'idle counts from the end of the command');
    await clock.advance(1);
    assert.deepEqual(done(await lifecycle.run()), [['freeze', session.id]]);
  });

  it('a frozen session is stopped after 240 min frozen, with its reason', async () => {
    const parts = await setUp();
    const { clock, sessions, engine, lifecycle, workspaces } = parts;
    const { workspace, session, containerId } = await withSession(parts, 'sleepy');
    await clock.advance(30 * MINUTE);
    assert.deepEqual(done(await lifecycle.run()), [['freeze', session.id]]);

    await clock.advance(240 * MINUTE - 1);
    assert.deepEqual(await lifecycle.run(), []);
    await clock.advance(1);
    const reason = 'frozen for 4 h (stopped after 4 h)';
    assert.deepEqual(await lifecycle.run(), [{ action: 'stop', workspaceId: workspace.id, sessionId: session.id, reason, outcome: 'done' }]);

    const stopped = sessions.get(session.id);
    assert.equal(stopped.state, 'stopped');
    assert.equal(stopped.frozenAt, undefined);
    assert.match(stopped.stateReason ?? '', /frozen for 4 h \(stopped after 4 h\)/);
    assert.equal(engine.containers.get(containerId)?.running, false);
    const calls = engine.calls.map((call) => call.method).filter((method) => method === 'unpauseContainer' || method === 'stopContainer');
    assert.deepEqual(calls, ['unpauseContainer', 'stopContainer'], 'thawed first: a frozen process cannot receive TERM');
    assert.equal(workspaces.get(workspace.id).state, 'suspended');
    assert.equal(workspaces.history(workspace.id)[0].kind, 'stopped');
  });

  it("the history entry of the lifecycle's stop says why, once", async () => {
    const parts = await setUp();
    const { clock, lifecycle, workspaces } = parts;
    const { workspace, session } = await withSession(parts, 'twice');
    await clock.advance(30 * MINUTE);
    await lifecycle.run();
    await clock.advance(240 * MINUTE);
    await lifecycle.run();

    const [event] = workspaces.history(workspace.id);
    assert.equal(event.kind, 'stopped');
    assert.equal(event.reason, `session ${session.id} stopped: frozen for 4 h (stopped after 4 h)`);
  });

  it('a use that thaws a frozen session while the lifecycle stops it: afterwards the database agrees with Docker', async () => {
    const parts = await setUp();
    const { clock, sessions, engine, lifecycle } = parts;
    const { session, containerId } = await withSession(parts, 'racing');
    await clock.advance(30 * MINUTE);
    await lifecycle.run(); // frozen
    await clock.advance(240 * MINUTE);

    const gate = engine.hold('unpauseContainer'); // the thaw's unpause is slow
    const use = sessions.ready(session.id);
    await eventually(() => engine.callsTo('unpauseContainer').length === 1, 'the thaw to begin');
    const round = await lifecycle.run(); // meanwhile the round stops the session
    gate.release();
    await use.catch(() => undefined);

    const container = engine.containers.get(containerId);
    const state = sessions.get(session.id).state;
    assert.deepEqual(done(round), [['stop', session.id]]);
    assert.equal(state === 'running', container?.running === true && container.paused !== true, `the session is ${state}, its container ${container?.running ? 'running' : 'stopped'}`);
  });

  it('a session paused by someone else is left alone: neither stopped nor thawed by the lifecycle', async () => {
    const parts = await setUp();
    const { clock, sessions, engine, lifecycle } = parts;
    const { workspace, session, containerId } = await withSession(parts, 'theirs');
    await engine.pauseContainer(containerId);
    await sessions.recordContainerState(containerId, { running: true, paused: true });
    assert.equal(sessions.get(session.id).state, 'paused');
    assert.equal(sessions.get(session.id).frozenAt, undefined);
    const before = engine.calls.length;

    await clock.advance(100 * DAY);
    const actions = await lifecycle.run();

    assert.deepEqual(actions, [], `nothing for the session, nor for its workspace (${workspace.id}) while it lives`);
    assert.equal(sessions.get(session.id).state, 'paused');
    assert.deepEqual(engine.calls.slice(before), []);
  });

  it('a frozen session resumed with `session resume` is not frozen again at the next round', async () => {
    const parts = await setUp();
    const { clock, sessions, lifecycle } = parts;
    const { session } = await withSession(parts, 'resumed');
    await clock.advance(30 * MINUTE);
    assert.deepEqual(done(await lifecycle.run()), [['freeze', session.id]]);
    await clock.advance(5 * MINUTE);

    const resumed = await sessions.resume(session.id);
    assert.equal(resumed.state, 'running');
    await clock.advance(MINUTE);

    assert.deepEqual(await lifecycle.run(), [], 'resumed a minute ago: not idle');
  });

  it('a used session that the lifecycle stopped and the user started again is not frozen again at the next round', async () => {
    const parts = await setUp();
    const { clock, sessions, lifecycle } = parts;
    const { workspace, session } = await withSession(parts, 'restarted');
    await sessions.ready(session.id); // used once
    await clock.advance(30 * MINUTE);
    await lifecycle.run(); // frozen
    await clock.advance(240 * MINUTE);
    await lifecycle.run(); // stopped
    assert.equal(sessions.get(session.id).state, 'stopped');
    await clock.advance(HOUR);

    const again = await sessions.start(workspace.id);
    assert.equal(again.id, session.id, 'the stopped session resumed');
    assert.equal(again.state, 'running');
    await clock.advance(MINUTE);

    assert.deepEqual(await lifecycle.run(), [], 'started a minute ago: not idle');
  });
});

describe('lifecycle: preview, failures and the schedule', () => {
  it('preview() changes nothing and lists exactly what run() then applies', async () => {
    const parts = await setUp();
    const { clock, store, engine, workspaces, sessions, lifecycle } = parts;
    const ephemeral = await withSession(parts, 'quick', 'ephemeral');
    await sessions.destroy(ephemeral.session.id);
    const busy = await withSession(parts, 'idle');
    const persistent = await workspaces.create({ name: 'archive-me', kind: 'persistent' });
    await clock.advance(14 * DAY);

    const snapshot = () => structuredClone({ workspaces: store.workspaces.list(), sessions: store.sessions.list(), calls: engine.calls.length, containers: [...engine.containers.values()].map((c) => ({ id: c.id, running: c.running, paused: c.paused })) });
    const events = () => [ephemeral.workspace.id, busy.workspace.id, persistent.id].map((id) => store.events.list(id));
    const before = snapshot();
    const eventsBefore = events();

    const preview = lifecycle.preview();

    assert.deepEqual(done(preview)[0], ['freeze', busy.session.id], 'sessions first');
    assert.deepEqual(
      done(preview.slice(1)).sort(),
      [
        ['archive', persistent.id],
        ['delete', ephemeral.workspace.id],
      ].sort(),
    );
    assert.ok(preview.every((action) => action.outcome === undefined && action.reason.length > 0));
    assert.deepEqual(snapshot(), before, 'no change in the store nor a Docker call');
    assert.deepEqual(events(), eventsBefore, 'no event');
    assert.deepEqual(lifecycle.preview(), preview, 'previewing twice gives the same');

    const results = await lifecycle.run();

    assert.deepEqual(
      results.map(({ outcome: _outcome, ...action }) => action),
      preview,
    );
    assert.ok(results.every((result) => result.outcome === 'done'));
    assert.deepEqual(lifecycle.preview(), [], 'nothing left to do');
  });

  it('one failing action does not stop the others and is reported as failed, with its error', async () => {
    const parts = await setUp();
    const { clock, engine, sessions, lifecycle } = parts;
    const first = await withSession(parts, 'refuses');
    const second = await withSession(parts, 'complies');
    engine.failNextFor('pauseContainer', first.containerId, new Error('pause refused'));
    await clock.advance(30 * MINUTE);

    const results = await lifecycle.run();

    const outcomeOf = (sessionId: string) => results.filter((r) => r.sessionId === sessionId).map((r) => [r.action, r.outcome, r.error]);
    assert.equal(results.length, 2);
    assert.deepEqual(outcomeOf(first.session.id), [['freeze', 'failed', 'pause refused']]);
    assert.deepEqual(outcomeOf(second.session.id), [['freeze', 'done', undefined]]);
    assert.equal(sessions.get(first.session.id).state, 'running', 'the failed one is as it was');
    assert.equal(sessions.get(first.session.id).frozenAt, undefined);
    assert.equal(sessions.get(second.session.id).state, 'paused');
    assert.equal(engine.containers.get(second.containerId)?.paused, true);

    assert.deepEqual(done(await lifecycle.run()), [['freeze', first.session.id]], 'tried again at the next round');
    assert.equal(sessions.get(first.session.id).state, 'paused');
  });

  it('the schedule applies what is due every lifecycle.checkSeconds and logs failures', async () => {
    const parts = await setUp();
    const { clock, engine, sessions, lifecycle, errors } = parts;
    const first = await withSession(parts, 'scheduled');
    const second = await withSession(parts, 'failing');
    engine.failNextFor('pauseContainer', second.containerId, new Error('pause refused'));
    lifecycle.start();

    await clock.advance(29 * MINUTE);
    assert.equal(sessions.get(first.session.id).state, 'running');
    await clock.advance(MINUTE);
    await eventually(() => sessions.get(first.session.id).state === 'paused', 'the scheduled round to freeze the idle session');

    assert.equal(engine.containers.get(first.containerId)?.paused, true);
    assert.deepEqual(errors, [`lifecycle: freeze ${second.session.id} failed: pause refused`]);
    await clock.advance(MINUTE);
    await eventually(() => sessions.get(second.session.id).state === 'paused', 'the next round to retry');
  });

  it('lifecycle.enabled false stops the scheduled rounds (and the dates shown); true again resumes them', async () => {
    const parts = await setUp();
    const { clock, config, engine, sessions, workspaces, lifecycle } = parts;
    const { workspace, session } = await withSession(parts, 'off');
    await config.set({ 'lifecycle.enabled': false });
    lifecycle.start();

    await clock.advance(3 * HOUR);

    assert.equal(sessions.get(session.id).state, 'running');
    assert.equal(engine.callsTo('pauseContainer').length, 0);
    assert.equal(workspaces.get(workspace.id).lifecycle, undefined, 'no dates while the lifecycle is off');

    await config.set({ 'lifecycle.enabled': true });
    await clock.advance(MINUTE);
    await eventually(() => sessions.get(session.id).state === 'paused', 'the next round to freeze it');
    await sessions.stop(session.id);
    assert.ok(workspaces.get(workspace.id).lifecycle?.deleteAt, 'dates again once the lifecycle is on and the workspace is not in use');
  });
});
