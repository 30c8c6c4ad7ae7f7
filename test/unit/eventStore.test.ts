import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Store } from '../../sidecar/store/store';
import { FakeClock } from './fakes/clock';

const DAY = 24 * 60 * 60_000;

describe('workspace events', () => {
  it('keep 200 per workspace, newest first, and outlive their workspace for a while', async () => {
    const clock = new FakeClock();
    const store = await Store.open(undefined, clock);
    try {
      const now = clock.now();
      store.workspaces.insert({ id: 'alive-1', name: 'alive', kind: 'session', image: 'img', description: '', tags: [], volume: 'v1', hostNetwork: false, now });
      for (let i = 0; i < 205; i++) store.events.append('alive-1', 'started', `start ${i}`, now + i);
      const events = store.events.list('alive-1');
      assert.equal(events.length, 200, 'the oldest go first');
      assert.equal(events[0].reason, 'start 204');
      assert.equal(events.at(-1)!.reason, 'start 5');

      store.events.append('gone-long-ago', 'deleted', 'unused for 30 days', now - 40 * DAY);
      store.events.append('gone-lately', 'deleted', 'its session ended', now - DAY);
      store.events.pruneDeleted(now - 30 * DAY);
      assert.deepEqual(store.events.list('gone-long-ago'), [], 'a history of a workspace deleted long ago goes');
      assert.equal(store.events.list('gone-lately').length, 1, 'a recent one stays: it says why the workspace went');
      assert.equal(store.events.list('alive-1').length, 200, 'a living workspace keeps its history, however old');
    } finally {
      store.close();
    }
  });

  it("keeps guests' comings and goings apart: however many, they never push out what the host did", async () => {
    const clock = new FakeClock();
    const store = await Store.open(undefined, clock);
    try {
      const now = clock.now();
      store.workspaces.insert({ id: 'shared-1', name: 'shared', kind: 'collaborative', image: 'img', description: '', tags: [], volume: 'v1', hostNetwork: false, now });
      store.events.append('shared-1', 'role-changed', '"alice" is now editor', now);
      store.events.append('shared-1', 'removed', 'the host removed "mallory"', now + 1);
      for (let i = 0; i < 500; i++) store.events.append('shared-1', i % 2 ? 'left' : 'joined', `churn ${i}`, now + 2 + i);
      const events = store.events.list('shared-1');
      assert.equal(events.filter((event) => event.kind === 'joined' || event.kind === 'left').length, 100, 'the newest 100 of the guests\' events are kept');
      assert.equal(events[0].reason, 'churn 499');
      assert.deepEqual(events.filter((event) => event.kind === 'role-changed' || event.kind === 'removed').map((event) => event.reason), ['the host removed "mallory"', '"alice" is now editor']);
      for (let i = 0; i < 210; i++) store.events.append('shared-1', 'started', `start ${i}`, now + 1000 + i);
      const after = store.events.list('shared-1');
      assert.equal(after.filter((event) => event.kind === 'started').length, 200, 'the rest keep their own 200');
      assert.equal(after.filter((event) => event.kind === 'joined' || event.kind === 'left').length, 100, "and leave the guests' alone");
    } finally {
      store.close();
    }
  });
});
