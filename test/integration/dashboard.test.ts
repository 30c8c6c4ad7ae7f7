/**
 * The dashboard (issue 18) against the real sidecar and the real Docker engine: a subscribed
 * client sees a busy session's CPU and memory from the engine's stats stream and a command's
 * latency; unsubscribing, closing the connection or stopping the session closes the streams.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectError, P, useSidecar, waitFor, type SidecarClient } from './harness';

/** A session is busy this long: enough for a few updates, gone by itself when a test fails. */
const BUSY_SECONDS = 60;

/**
 * What was sampling before a new subscription came, as that subscription's snapshot says,
 * from a client of its own that unsubscribes at once (so it leaves nothing open itself).
 */
async function samplingBefore(client: SidecarClient): Promise<P.DashboardSnapshot['before']> {
  const snapshot = await client.request(P.DashboardSubscribeRequest.type, {});
  await client.request(P.DashboardUnsubscribeRequest.type, {});
  return snapshot.before;
}

describe('the dashboard against the real Docker engine', () => {
  const sidecar = useSidecar();

  it("sends a busy session's CPU and memory, and a command's latency, to a subscribed client only", async () => {
    const session = await sidecar.newSession('dash-busy');
    const watcher = await sidecar.connectAgain();
    const bystander = await sidecar.connectAgain();
    const updates: P.DashboardUpdate[] = [];
    let bystanderUpdates = 0;
    watcher.onNotification(P.DashboardUpdateNotification.type, (update) => void updates.push(update));
    bystander.onNotification(P.DashboardUpdateNotification.type, () => void bystanderUpdates++);

    const snapshot = await watcher.request(P.DashboardSubscribeRequest.type, {});
    assert.deepEqual(snapshot.before, { subscribers: 0, statsStreams: 0 }, 'nothing sampled while no dashboard was open');
    assert.deepEqual(snapshot.running, [session.id]);
    assert.equal(snapshot.historyMs, P.DASHBOARD_HISTORY_MS);

    await sidecar.client.request(P.ExecRequest.type, { sessionId: session.id, line: `timeout ${BUSY_SECONDS} sh -c 'while :; do :; done' >/dev/null 2>&1 &` });
    const busy = await waitFor('an update with the busy session using most of a CPU', () => {
      const line = updates.flatMap((update) => update.sessions).find((s) => s.sessionId === session.id && s.cpu.some(([, percent]) => percent > 50));
      return line;
    });
    assert.equal(busy.workspaceName, 'dash-busy');
    assert.ok(busy.memory.length === 1 && busy.memory[0][1] > 0, 'its memory in use, as the engine measures it');
    assert.ok(busy.memoryLimit > 0 && busy.memoryLimit <= 1024 * 1024 * 1024, 'its memory limit (limits.memoryMb)');

    const result = await sidecar.client.request(P.ExecRequest.type, { sessionId: session.id, line: 'echo measured' });
    assert.equal(result.exitCode, 0);
    const latency = await waitFor('the command in the latency chart', () => updates.find((update) => update.exec.p50Ms.length > 0)?.exec);
    assert.ok(latency.p95Ms[0][1] >= latency.p50Ms[0][1], 'p95 is at least p50');
    assert.ok(
      updates.some((update) => update.exec.execsPerSecond.some(([, rate]) => rate > 0)),
      'throughput counts the commands',
    );

    assert.equal(bystanderUpdates, 0, 'a client that did not subscribe gets no update');
    await watcher.request(P.DashboardUnsubscribeRequest.type, {});
    await sidecar.removeWorkspace(session.workspaceId);
  });

  it('closes the stats streams when the last subscriber unsubscribes or its connection closes', async () => {
    const session = await sidecar.newSession('dash-close');
    const first = await sidecar.connectAgain();
    const second = await sidecar.connectAgain();
    const probe = await sidecar.connectAgain();

    await first.request(P.DashboardSubscribeRequest.type, {});
    assert.deepEqual((await second.request(P.DashboardSubscribeRequest.type, {})).before, { subscribers: 1, statsStreams: 1 }, 'one stream for the one running session');
    await second.request(P.DashboardUnsubscribeRequest.type, {});
    await second.request(P.DashboardUnsubscribeRequest.type, {}); // idempotent
    assert.deepEqual(await samplingBefore(probe), { subscribers: 1, statsStreams: 1 }, 'the other subscriber keeps it open');

    first.close();
    await waitFor('the closed connection to be unsubscribed and its stream closed', async () => {
      const before = await samplingBefore(probe);
      return before.subscribers === 0 && before.statsStreams === 0 ? true : undefined;
    });

    // A stopped session's stream closes while the dashboard stays open.
    await second.request(P.DashboardSubscribeRequest.type, {});
    await sidecar.client.request(P.StopSessionRequest.type, { id: session.id });
    await waitFor("the stopped session's stream to close", async () => {
      const before = await samplingBefore(probe);
      return before.subscribers === 1 && before.statsStreams === 0 ? true : undefined;
    });
    const snapshot = await probe.request(P.DashboardSubscribeRequest.type, {});
    await probe.request(P.DashboardUnsubscribeRequest.type, {});
    assert.deepEqual(snapshot.running, [], 'no session runs');
    await second.request(P.DashboardUnsubscribeRequest.type, {});
    await sidecar.removeWorkspace(session.workspaceId);
  });

  it('refuses parameters that are not an object, and changes nothing', async () => {
    const client = await sidecar.connectAgain();
    await expectError(client.connection.sendRequest(P.DashboardSubscribeRequest.method, ['not', 'an', 'object']), 'InvalidInput');
    await expectError(client.connection.sendRequest(P.DashboardUnsubscribeRequest.method, 42), 'InvalidInput');
    assert.deepEqual(await samplingBefore(client), { subscribers: 0, statsStreams: 0 }, 'the refused request subscribed nobody');
  });
});
