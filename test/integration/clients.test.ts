import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createWorkspace, exec, P, SIDECAR_SCRIPT, SidecarClient, useSidecar, waitFor } from './harness';

/** Collects a client's StateChangedNotifications so a test can wait for one. */
function watchChanges(client: SidecarClient) {
  const seen: P.ChangedArea[][] = [];
  client.onNotification(P.StateChangedNotification.type, ({ areas }) => seen.push(areas));
  return {
    seen,
    clear: () => void seen.splice(0),
    waitFor: (area: P.ChangedArea) =>
      waitFor(`a StateChangedNotification naming "${area}"`, () => (seen.some((areas) => areas.includes(area)) ? true : undefined)),
  };
}

describe('several clients of one storage directory', () => {
  const sidecar = useSidecar();

  it('serves a second client from the same sidecar process', async () => {
    const second = await sidecar.connectAgain();
    const status = await second.request(P.StatusRequest.type, {});
    assert.equal(status.pid, sidecar.pid);
    assert.equal(status.instanceId, sidecar.instanceId);
    assert.ok(status.clients >= 2, `the sidecar counts both clients (says ${status.clients})`);
  });

  it("shows each client the other's changes", async () => {
    const second = await sidecar.connectAgain();
    const fromFirst = await sidecar.createWorkspace('from-first');
    assert.ok((await second.request(P.ListWorkspacesRequest.type, {})).some((w) => w.id === fromFirst.id));

    const fromSecond = await createWorkspace(second, 'from-second');
    const session = await second.request(P.StartSessionRequest.type, { workspaceId: fromSecond.id });
    assert.ok((await sidecar.client.request(P.ListWorkspacesRequest.type, {})).some((w) => w.id === fromSecond.id));
    const seenByFirst = (await sidecar.client.request(P.ListSessionsRequest.type, {})).find((s) => s.id === session.id);
    assert.equal(seenByFirst?.state, 'running');

    // A command run by one client in a session started by the other.
    const result = await exec(sidecar.client, session.id, ['echo', 'shared']);
    assert.equal(result.stdout, 'shared\n');
  });

  it('notifies the second client with StateChangedNotification when the first creates a workspace', async () => {
    const second = await sidecar.connectAgain();
    await second.request(P.StatusRequest.type, {}); // the start-up reconciliation has finished
    const changes = watchChanges(second);
    await sidecar.createWorkspace('notified');
    await changes.waitFor('workspaces');
  });

  it('notifies the second client about sessions started and stopped by the first', async () => {
    const second = await sidecar.connectAgain();
    await second.request(P.StatusRequest.type, {});
    const workspace = await sidecar.createWorkspace('session-news');
    const changes = watchChanges(second);
    const session = await sidecar.startSession(workspace.id);
    await changes.waitFor('sessions');
    changes.clear();
    await sidecar.client.request(P.StopSessionRequest.type, { id: session.id });
    await changes.waitFor('sessions');
  });

  it('notifies the other clients when the configuration changes', async () => {
    const second = await sidecar.connectAgain();
    await second.request(P.StatusRequest.type, {});
    const changes = watchChanges(second);
    await sidecar.client.request(P.SetConfigRequest.type, { values: { 'limits.pids': 300 } });
    await changes.waitFor('config');
    assert.deepEqual(await second.request(P.GetConfigRequest.type, { key: 'limits.pids' }), { 'limits.pids': 300 });
    await sidecar.client.request(P.SetConfigRequest.type, { values: { 'limits.pids': null } });
  });

  it('keeps serving the other clients when one client disconnects', async () => {
    const leaving = await sidecar.connectAgain();
    await leaving.request(P.StatusRequest.type, {});
    leaving.close();
    const status = await sidecar.client.request(P.StatusRequest.type, {});
    assert.equal(status.pid, sidecar.pid);
    assert.ok(Array.isArray(await sidecar.client.request(P.ListWorkspacesRequest.type, {})));
  });

  it('stops counting a client once it closed its connection', async () => {
    const leaving = await sidecar.connectAgain();
    const before = await leaving.request(P.StatusRequest.type, {});
    leaving.close();
    await waitFor(`the sidecar to count ${before.clients - 1} clients after one of ${before.clients} closed`, async () => {
      const now = await sidecar.client.request(P.StatusRequest.type, {});
      return now.clients === before.clients - 1 ? true : undefined;
    }, 5_000);
  });
});

describe('clients racing to start the sidecar of a new storage directory', () => {
  // The clients start the sidecar; the harness connects only afterwards, to clean up.
  const sidecar = useSidecar({ connect: 'after' });

  it('ends with every client on one sidecar process', async () => {
    const clients = await Promise.all(
      Array.from({ length: 4 }, () => SidecarClient.connect({ home: sidecar.home, sidecarScript: SIDECAR_SCRIPT })),
    );
    try {
      const statuses = await Promise.all(clients.map((c) => c.request(P.StatusRequest.type, {})));
      assert.equal(new Set(statuses.map((s) => s.pid)).size, 1, `pids: ${statuses.map((s) => s.pid).join(', ')}`);
      assert.equal(new Set(statuses.map((s) => s.instanceId)).size, 1);
      const created = await createWorkspace(clients[0], 'raced');
      for (const client of clients) {
        assert.ok((await client.request(P.ListWorkspacesRequest.type, {})).some((w) => w.id === created.id));
      }
    } finally {
      for (const client of clients) client.close();
    }
  });
});
