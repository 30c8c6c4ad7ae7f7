import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ApiLeases } from '../../sidecar/api/leases';
import type { ApiServices } from '../../sidecar/api/route';
import { KeyedLock } from '../../sidecar/util/keyedLock';
import { eventually } from './fakes/clock';
import { makeDomain, type Domain } from './fakes/domain';

/** How often ended leases are looked for (see leases.ts). */
const CHECK_INTERVAL_MS = 30_000;

let domain: Domain | undefined;
afterEach(() => {
  domain?.dispose();
  domain = undefined;
});

async function setUp() {
  domain = await makeDomain();
  const logged: string[] = [];
  const log = { info: (message: string) => void logged.push(message), error: (message: string) => void logged.push(`error: ${message}`) };
  const services = { ...domain, processes: undefined, log, locks: new KeyedLock() } as unknown as ApiServices;
  const leases = new ApiLeases({ services, store: domain.store, clock: domain.clock, log });
  return { ...domain, leases, logged };
}

describe('API session leases', () => {
  it('destroy a session once its lease ended, with the disposable workspace made for it; a named workspace stays', async () => {
    const { sessions, workspaces, clock, leases, logged } = await setUp();
    const disposable = await sessions.startInNewWorkspace({ name: 'api-session', tags: ['disposable'] }, { origin: 'api', leaseMs: 60_000 });
    const named = await sessions.startInNewWorkspace({ name: 'project-7' }, { origin: 'api', id: 'project-7', leaseMs: 90_000 });
    const mine = await sessions.start((await workspaces.create({ name: 'by-hand' })).id);
    leases.start();

    await clock.advance(CHECK_INTERVAL_MS * 2); // 60 s: the first lease ends
    await eventually(() => sessions.list().length === 2, 'the first lease to end');
    assert.deepEqual(
      sessions.list().map((session) => session.id).sort(),
      [named.id, mine.id].sort(),
      'the session whose lease ended is gone',
    );
    assert.ok(!workspaces.list().some((workspace) => workspace.id === disposable.workspaceId), 'its disposable workspace went with it');

    // Use extends a lease: 30 s later it would end, but a call moved it.
    await sessions.extendLease(named.id, 120_000);
    await clock.advance(CHECK_INTERVAL_MS * 2);
    assert.ok(sessions.list().some((session) => session.id === named.id), 'the extended lease has not ended');
    await clock.advance(CHECK_INTERVAL_MS * 3);
    await eventually(() => sessions.list().length === 1, 'the extended lease to end');
    assert.deepEqual(sessions.list().map((session) => session.id), [mine.id], 'a session made by hand has no lease');
    assert.ok(workspaces.list().some((workspace) => workspace.id === 'project-7'), 'a named workspace stays, as in v1');
    assert.ok(logged.some((line) => line.includes(`session ${disposable.id}: its API lease ended`)), logged.join('\n'));
    leases.stop();
  });
});
