import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultSettings, type SettingsValues } from '../../sidecar/client/configSchema';
import type { WorkspaceKind } from '../../sidecar/client/protocol';
import { duration, planLifecycle, policyOf, readableTime, scheduleOf, WARNING_REPEAT_MS, type SessionFacts, type WorkspaceFacts } from '../../sidecar/lifecycle/policy';
import { isoTime } from '../../sidecar/util/clock';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The last use every fact below counts from. */
const T0 = Date.UTC(2025, 5, 1, 12);

function workspace(overrides: Partial<WorkspaceFacts> = {}): WorkspaceFacts {
  return { id: 'ws-a1b2c3d4', name: 'my-api', kind: 'session', pinned: false, state: 'suspended', lastAccessedAt: T0, liveSessions: 0, ...overrides };
}

function session(overrides: Partial<SessionFacts> = {}): SessionFacts {
  return { id: 'ses-000000000001', workspaceId: 'ws-a1b2c3d4', kind: 'session', state: 'running', lastActivityAt: T0, busy: false, ...overrides };
}

/** Settings as a fresh install has them, with `changes` on top. */
function settings(changes: Partial<SettingsValues> = {}): SettingsValues {
  return { ...defaultSettings(), ...changes };
}

const plan = (input: { workspaces?: WorkspaceFacts[]; sessions?: SessionFacts[]; now: number; settings?: SettingsValues }) =>
  planLifecycle({ workspaces: input.workspaces ?? [], sessions: input.sessions ?? [], now: input.now, settings: input.settings ?? settings() });

/** What the planner does with one workspace at `now`. */
const planFor = (facts: WorkspaceFacts, now: number, values: SettingsValues = settings()) => plan({ workspaces: [facts], now, settings: values });

describe('lifecycle policy: expiry per kind', () => {
  it('an ephemeral workspace is deleted 5 min after its session ended, not a millisecond before, saying so', () => {
    const facts = workspace({ kind: 'ephemeral' });

    assert.deepEqual(planFor(facts, T0 + 5 * MINUTE - 1), []);
    assert.deepEqual(planFor(facts, T0 + 5 * MINUTE), [
      { action: 'delete', workspaceId: 'ws-a1b2c3d4', workspaceName: 'my-api', reason: 'its session ended 5 min ago (ephemeral workspaces go 5 min after)' },
    ]);
  });

  it('a session workspace is deleted after 24 h without use, not a millisecond before, and the reason names its kind', () => {
    const facts = workspace({ kind: 'session' });

    assert.deepEqual(planFor(facts, T0 + DAY - 1), []);
    assert.deepEqual(planFor(facts, T0 + DAY), [
      { action: 'delete', workspaceId: 'ws-a1b2c3d4', workspaceName: 'my-api', reason: 'unused for 24 h (session workspaces expire after 24 h without use)' },
    ]);
  });

  for (const kind of ['persistent', 'collaborative'] as const) {
    it(`a ${kind} workspace warned 72 h ahead is deleted after 30 days without use, not a millisecond before`, () => {
      // Warned on time, and again daily; archived already (so only expiry is in play).
      const facts = workspace({ kind, state: 'archived', warnedAt: T0 + 27 * DAY, lastWarnedAt: T0 + 29 * DAY });

      assert.deepEqual(planFor(facts, T0 + 30 * DAY - 1), []);
      assert.deepEqual(planFor(facts, T0 + 30 * DAY), [
        { action: 'delete', workspaceId: 'ws-a1b2c3d4', workspaceName: 'my-api', reason: `unused for 30 days (${kind} workspaces expire after 30 days without use)` },
      ]);
    });
  }

  it('a later use pushes the expiry back by as much', () => {
    const usedLater = workspace({ kind: 'session', lastAccessedAt: T0 + 10 * HOUR });

    assert.deepEqual(planFor(usedLater, T0 + DAY), [], 'the day counts from the last use, not the first');
    assert.deepEqual(planFor(usedLater, T0 + 10 * HOUR + DAY - 1), []);
    assert.equal(planFor(usedLater, T0 + 10 * HOUR + DAY)[0]?.action, 'delete');

    const ephemeral = workspace({ kind: 'ephemeral', lastAccessedAt: T0 + 4 * MINUTE });
    assert.deepEqual(planFor(ephemeral, T0 + 5 * MINUTE), []);
    assert.equal(planFor(ephemeral, T0 + 9 * MINUTE)[0]?.action, 'delete');
  });
});

describe('lifecycle policy: warnings before deletion', () => {
  // Archived already, so that the 14-day archive does not stand in front of the warning.
  const persistent = (overrides: Partial<WorkspaceFacts> = {}) => workspace({ kind: 'persistent', state: 'archived', ...overrides });

  it('warns from 72 h before the deletion date, with that date', () => {
    assert.deepEqual(planFor(persistent(), T0 + 27 * DAY - 1), []);
    const [warning] = planFor(persistent(), T0 + 27 * DAY);

    assert.equal(warning?.action, 'warn');
    assert.ok(warning?.action === 'warn');
    assert.equal(warning.deleteAt, T0 + 30 * DAY);
    assert.equal(warning.workspaceName, 'my-api');
    assert.equal(warning.reason, `unused for 27 days: deleted on ${readableTime(T0 + 30 * DAY)} unless used, kept or pinned before`);
  });

  it('never deletes a workspace that was not warned, however long past the deadline (the sidecar was off): it warns, 72 h ahead of now', () => {
    for (const now of [T0 + 30 * DAY, T0 + 40 * DAY, T0 + 400 * DAY]) {
      const actions = planFor(persistent(), now);
      assert.equal(actions.length, 1);
      const [warning] = actions;
      assert.ok(warning.action === 'warn', `at day ${(now - T0) / DAY}: ${warning.action}`);
      assert.equal(warning.deleteAt, now + 72 * HOUR, 'a full warning period from now');
    }
  });

  it('keeps a late warning period whole: deleted only once the first warning is 72 h old', () => {
    const warnedAt = T0 + 40 * DAY;
    const facts = persistent({ warnedAt, lastWarnedAt: warnedAt + 2 * DAY });

    assert.deepEqual(planFor(facts, warnedAt + 72 * HOUR - 1), [], 'past the date by use, but the warning is younger than 72 h');
    const [deletion] = planFor(facts, warnedAt + 72 * HOUR);
    assert.equal(deletion?.action, 'delete');
  });

  it('deletes only once both the date by use and the warning period have passed', () => {
    // Warned early (say the settings were longer then): the date by use still holds.
    const facts = persistent({ warnedAt: T0 + 20 * DAY, lastWarnedAt: T0 + 29 * DAY + 12 * HOUR });

    assert.deepEqual(planFor(facts, T0 + 30 * DAY - 1), []);
    assert.equal(planFor(facts, T0 + 30 * DAY)[0]?.action, 'delete');
  });

  it('repeats the warning only after 24 h, with the same deletion date', () => {
    const warnedAt = T0 + 27 * DAY;
    const facts = persistent({ warnedAt, lastWarnedAt: warnedAt });

    assert.equal(WARNING_REPEAT_MS, DAY);
    assert.deepEqual(planFor(facts, warnedAt + 1), [], 'just warned');
    assert.deepEqual(planFor(facts, warnedAt + DAY - 1), []);
    const [repeat] = planFor(facts, warnedAt + DAY);
    assert.ok(repeat?.action === 'warn');
    assert.equal(repeat.deleteAt, T0 + 30 * DAY);

    const again = persistent({ warnedAt, lastWarnedAt: warnedAt + DAY });
    assert.deepEqual(planFor(again, warnedAt + 2 * DAY - 1), []);
    assert.equal(planFor(again, warnedAt + 2 * DAY)[0]?.action, 'warn');
  });

  it('kinds that do not warn are deleted at their date without a warning', () => {
    assert.equal(planFor(workspace({ kind: 'session' }), T0 + 23 * HOUR).length, 0, 'no warning for a session workspace');
    assert.equal(planFor(workspace({ kind: 'ephemeral' }), T0 + 4 * MINUTE).length, 0);
  });
});

describe('lifecycle policy: what is exempt', () => {
  it('a pinned workspace is never warned, archived or deleted, of any kind, however old', () => {
    for (const kind of ['ephemeral', 'session', 'persistent', 'collaborative'] as const) {
      for (const now of [T0 + 14 * DAY, T0 + 27 * DAY, T0 + 30 * DAY, T0 + 1000 * DAY]) {
        assert.deepEqual(planFor(workspace({ kind, pinned: true }), now), [], `${kind} at day ${(now - T0) / DAY}`);
      }
    }
    // Even one warned before it was pinned.
    assert.deepEqual(planFor(workspace({ kind: 'persistent', pinned: true, warnedAt: T0 + 27 * DAY, lastWarnedAt: T0 + 27 * DAY }), T0 + 100 * DAY), []);
  });

  it('a workspace with live sessions is left alone, however long since its last recorded use', () => {
    for (const kind of ['ephemeral', 'session', 'persistent', 'collaborative'] as const) {
      assert.deepEqual(planFor(workspace({ kind, liveSessions: 1 }), T0 + 1000 * DAY), [], kind);
    }
  });

  it('a workspace being deleted is left to its deletion', () => {
    assert.deepEqual(planFor(workspace({ kind: 'session', state: 'deleting' }), T0 + 1000 * DAY), []);
  });
});

describe('lifecycle policy: archive', () => {
  it('archives a persistent workspace after 14 days without use, saying why', () => {
    const facts = workspace({ kind: 'persistent' });

    assert.deepEqual(planFor(facts, T0 + 14 * DAY - 1), []);
    assert.deepEqual(planFor(facts, T0 + 14 * DAY), [
      { action: 'archive', workspaceId: 'ws-a1b2c3d4', workspaceName: 'my-api', reason: 'unused for 14 days (archived after 14 days)' },
    ]);
    assert.equal(planFor(workspace({ kind: 'collaborative' }), T0 + 14 * DAY)[0]?.action, 'archive');
  });

  it('does not archive one that is archived already, nor kinds that are not archived', () => {
    assert.deepEqual(planFor(workspace({ kind: 'persistent', state: 'archived' }), T0 + 20 * DAY), []);
    assert.deepEqual(planFor(workspace({ kind: 'session' }), T0 + DAY - 1), []);
  });

  it('one action per workspace: a due deletion beats the archive', () => {
    const facts = workspace({ kind: 'persistent', state: 'suspended', warnedAt: T0 + 27 * DAY, lastWarnedAt: T0 + 29 * DAY });

    const actions = planFor(facts, T0 + 30 * DAY);

    assert.deepEqual(
      actions.map((a) => a.action),
      ['delete'],
    );
  });
});

describe('lifecycle policy: sessions', () => {
  it('freezes a running session idle for 30 min, not a millisecond before, saying why', () => {
    assert.deepEqual(plan({ sessions: [session()], now: T0 + 30 * MINUTE - 1 }), []);
    assert.deepEqual(plan({ sessions: [session()], now: T0 + 30 * MINUTE }), [
      { action: 'freeze', sessionId: 'ses-000000000001', workspaceId: 'ws-a1b2c3d4', reason: 'idle for 30 min (frozen after 30 min)' },
    ]);
  });

  it("an ephemeral workspace's session is frozen after 10 min", () => {
    assert.deepEqual(plan({ sessions: [session({ kind: 'ephemeral' })], now: T0 + 10 * MINUTE - 1 }), []);
    assert.equal(plan({ sessions: [session({ kind: 'ephemeral' })], now: T0 + 10 * MINUTE })[0]?.action, 'freeze');
  });

  it('never freezes a busy session (a command runs), a stopped, starting or already paused one', () => {
    const now = T0 + 100 * DAY;
    assert.deepEqual(plan({ sessions: [session({ busy: true })], now }), []);
    assert.deepEqual(plan({ sessions: [session({ state: 'stopped' })], now }), []);
    assert.deepEqual(plan({ sessions: [session({ state: 'starting' })], now }), []);
    assert.deepEqual(plan({ sessions: [session({ state: 'paused', frozenAt: now - 1 })], now }), []);
  });

  it('stops a session frozen for 240 min, not a millisecond before, saying why', () => {
    const frozenAt = T0 + 30 * MINUTE;
    const frozen = session({ state: 'paused', frozenAt });

    assert.deepEqual(plan({ sessions: [frozen], now: frozenAt + 240 * MINUTE - 1 }), []);
    assert.deepEqual(plan({ sessions: [frozen], now: frozenAt + 240 * MINUTE }), [
      { action: 'stop', sessionId: 'ses-000000000001', workspaceId: 'ws-a1b2c3d4', reason: 'frozen for 4 h (stopped after 4 h)' },
    ]);
  });

  it('leaves alone a session someone else paused (no frozenAt), however long ago', () => {
    assert.deepEqual(plan({ sessions: [session({ state: 'paused' })], now: T0 + 100 * DAY }), []);
  });

  it('sessions come first, then one action per workspace', () => {
    const actions = plan({
      workspaces: [workspace({ id: 'ws-eeeeeeee', name: 'gone', kind: 'ephemeral' }), workspace({ id: 'ws-ffffffff', name: 'old', kind: 'persistent' })],
      sessions: [session({ id: 'ses-000000000009', workspaceId: 'ws-99999999' })],
      now: T0 + 14 * DAY,
    });

    assert.deepEqual(
      actions.map((a) => [a.action, 'sessionId' in a ? a.sessionId : a.workspaceId]),
      [
        ['freeze', 'ses-000000000009'],
        ['delete', 'ws-eeeeeeee'],
        ['archive', 'ws-ffffffff'],
      ],
    );
  });
});

describe('lifecycle policy: settings', () => {
  it('the defaults are the table of PRODUCT.md', () => {
    const defaults = settings();
    assert.deepEqual(policyOf(defaults, 'ephemeral'), { expireAfterMs: 5 * MINUTE, warnBeforeMs: 0, archiveAfterMs: 0, freezeAfterMs: 10 * MINUTE, stopAfterMs: 60 * MINUTE });
    assert.deepEqual(policyOf(defaults, 'session'), { expireAfterMs: DAY, warnBeforeMs: 0, archiveAfterMs: 0, freezeAfterMs: 30 * MINUTE, stopAfterMs: 240 * MINUTE });
    for (const kind of ['persistent', 'collaborative'] as const) {
      assert.deepEqual(policyOf(defaults, kind), { expireAfterMs: 30 * DAY, warnBeforeMs: 72 * HOUR, archiveAfterMs: 14 * DAY, freezeAfterMs: 30 * MINUTE, stopAfterMs: 240 * MINUTE });
    }
  });

  it('a setting that names one kind changes only that kind; the others keep their defaults', () => {
    const values = settings({ 'lifecycle.expireAfterMinutes': { session: 60 } });

    assert.equal(policyOf(values, 'session').expireAfterMs, HOUR);
    assert.equal(policyOf(values, 'ephemeral').expireAfterMs, 5 * MINUTE);
    assert.equal(policyOf(values, 'persistent').expireAfterMs, 30 * DAY);
    assert.equal(policyOf(values, 'collaborative').expireAfterMs, 30 * DAY);

    assert.deepEqual(planFor(workspace({ kind: 'session' }), T0 + HOUR - 1, values), []);
    assert.deepEqual(planFor(workspace({ kind: 'session' }), T0 + HOUR, values), [
      { action: 'delete', workspaceId: 'ws-a1b2c3d4', workspaceName: 'my-api', reason: 'unused for 1 h (session workspaces expire after 1 h without use)' },
    ]);
    assert.equal(planFor(workspace({ kind: 'ephemeral' }), T0 + 5 * MINUTE, values)[0]?.action, 'delete', 'ephemeral keeps its 5 min');
    assert.deepEqual(planFor(workspace({ kind: 'persistent', state: 'archived' }), T0 + 2 * HOUR, values), [], 'persistent keeps its 30 days');
  });

  it('per-kind settings of sessions override only their kind too', () => {
    const values = settings({ 'lifecycle.freezeAfterMinutes': { session: 5 }, 'lifecycle.stopAfterMinutes': { persistent: 10 } });

    assert.equal(plan({ sessions: [session({ kind: 'session' })], now: T0 + 5 * MINUTE, settings: values })[0]?.action, 'freeze');
    assert.deepEqual(plan({ sessions: [session({ kind: 'persistent' })], now: T0 + 5 * MINUTE, settings: values }), [], 'persistent keeps its 30 min');
    assert.equal(plan({ sessions: [session({ kind: 'persistent', state: 'paused', frozenAt: T0 })], now: T0 + 10 * MINUTE, settings: values })[0]?.action, 'stop');
    assert.deepEqual(plan({ sessions: [session({ kind: 'session', state: 'paused', frozenAt: T0 })], now: T0 + 10 * MINUTE, settings: values }), [], 'session keeps its 240 min');
  });

  it('0 means never, for each setting', () => {
    const never = (key: 'lifecycle.expireAfterMinutes' | 'lifecycle.archiveAfterDays' | 'lifecycle.freezeAfterMinutes' | 'lifecycle.stopAfterMinutes', kind: WorkspaceKind) =>
      settings({ [key]: { [kind]: 0 } });
    const decade = T0 + 3650 * DAY;

    assert.deepEqual(planFor(workspace({ kind: 'session' }), decade, never('lifecycle.expireAfterMinutes', 'session')), []);
    assert.deepEqual(planFor(workspace({ kind: 'ephemeral' }), decade, never('lifecycle.expireAfterMinutes', 'ephemeral')), []);
    assert.deepEqual(
      planFor(workspace({ kind: 'persistent' }), decade, never('lifecycle.expireAfterMinutes', 'persistent')).map((a) => a.action),
      ['archive'],
      'no expiry, no warning: archiving still applies',
    );
    assert.deepEqual(planFor(workspace({ kind: 'persistent' }), T0 + 20 * DAY, never('lifecycle.archiveAfterDays', 'persistent')), []);
    assert.deepEqual(plan({ sessions: [session()], now: decade, settings: never('lifecycle.freezeAfterMinutes', 'session') }), []);
    assert.deepEqual(plan({ sessions: [session({ state: 'paused', frozenAt: T0 })], now: decade, settings: never('lifecycle.stopAfterMinutes', 'session') }), []);
  });

  it('without a warning period (warnBeforeHours 0) a persistent workspace is deleted at its date, unwarned', () => {
    const values = settings({ 'lifecycle.warnBeforeHours': { persistent: 0 } });
    const facts = workspace({ kind: 'persistent', state: 'archived' });

    assert.deepEqual(planFor(facts, T0 + 30 * DAY - 1, values), []);
    assert.equal(planFor(facts, T0 + 30 * DAY, values)[0]?.action, 'delete');
  });
});

describe('lifecycle policy: scheduleOf (the same whenever it is asked: lists cache it)', () => {
  it('a persistent workspace not warned yet: its deletion date by use and its archive date, no warning', () => {
    assert.deepEqual(scheduleOf(workspace({ kind: 'persistent' }), policyOf(settings(), 'persistent')), {
      deleteAt: isoTime(T0 + 30 * DAY),
      archiveAt: isoTime(T0 + 14 * DAY),
    });
  });

  it('one in its warning period: the date the warning gave, and the sentence for the user', () => {
    const warnedAt = T0 + 29 * DAY; // late: the period runs 72 h from then
    const schedule = scheduleOf(workspace({ kind: 'persistent', state: 'archived', warnedAt }), policyOf(settings(), 'persistent'));

    assert.deepEqual(schedule, {
      deleteAt: isoTime(warnedAt + 72 * HOUR),
      warning: `Will be deleted on ${isoTime(warnedAt + 72 * HOUR)!.slice(0, 10)} unless used, kept or pinned.`,
    });
  });

  it('an archived one has no archive date; an ephemeral or session one only a deletion date', () => {
    assert.deepEqual(scheduleOf(workspace({ kind: 'persistent', state: 'archived' }), policyOf(settings(), 'persistent')), { deleteAt: isoTime(T0 + 30 * DAY) });
    assert.deepEqual(scheduleOf(workspace({ kind: 'ephemeral' }), policyOf(settings(), 'ephemeral')), { deleteAt: isoTime(T0 + 5 * MINUTE) });
    assert.deepEqual(scheduleOf(workspace({ kind: 'session' }), policyOf(settings(), 'session')), { deleteAt: isoTime(T0 + DAY) });
  });

  it('nothing for a pinned workspace, one being deleted, or a kind with nothing planned', () => {
    assert.equal(scheduleOf(workspace({ kind: 'persistent', pinned: true }), policyOf(settings(), 'persistent')), undefined);
    assert.equal(scheduleOf(workspace({ kind: 'session', state: 'deleting' }), policyOf(settings(), 'session')), undefined);
    const nothing = settings({ 'lifecycle.expireAfterMinutes': { session: 0 } });
    assert.equal(scheduleOf(workspace({ kind: 'session' }), policyOf(nothing, 'session')), undefined);
  });
});

describe('lifecycle policy: duration', () => {
  it('reads in the unit a person would use', () => {
    assert.equal(duration(0), '0 s');
    assert.equal(duration(45 * SECOND), '45 s');
    assert.equal(duration(MINUTE), '1 min');
    assert.equal(duration(12 * MINUTE), '12 min');
    assert.equal(duration(59 * MINUTE), '59 min');
    assert.equal(duration(HOUR), '1 h');
    assert.equal(duration(5 * HOUR), '5 h');
    assert.equal(duration(DAY), '24 h');
    assert.equal(duration(2 * DAY - HOUR), '47 h');
    assert.equal(duration(2 * DAY), '2 days');
    assert.equal(duration(3 * DAY), '3 days');
    assert.equal(duration(30 * DAY), '30 days');
  });

  it('rounds to the nearest unit and never goes below zero', () => {
    assert.equal(duration(12 * MINUTE + 29 * SECOND), '12 min');
    assert.equal(duration(12 * MINUTE + 31 * SECOND), '13 min');
    assert.equal(duration(-5 * MINUTE), '0 s');
  });
});
