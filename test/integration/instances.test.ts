import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { exec, inspectContainer, instanceObjectNames, P, useSidecars, volumeExists } from './harness';

describe('two sidecars with different storage directories on one engine', () => {
  const [a, b] = useSidecars(2);
  let wa: P.WorkspaceInfo;
  let wb: P.WorkspaceInfo;
  let sa: P.SessionInfo;
  let sb: P.SessionInfo;

  before(async () => {
    wa = await a.createWorkspace('side-a');
    wb = await b.createWorkspace('side-b');
    sa = await a.startSession(wa.id);
    sb = await b.startSession(wb.id);
  });

  it('runs them as two processes with two instance ids', () => {
    assert.notEqual(a.pid, b.pid);
    assert.notEqual(a.instanceId, b.instanceId);
  });

  it("lists only each one's own workspaces and sessions", async () => {
    const listA = await a.client.request(P.ListWorkspacesRequest.type, {});
    const listB = await b.client.request(P.ListWorkspacesRequest.type, {});
    assert.deepEqual(listA.map((w) => w.id), [wa.id]);
    assert.deepEqual(listB.map((w) => w.id), [wb.id]);
    assert.deepEqual((await a.client.request(P.ListSessionsRequest.type, {})).map((s) => s.id), [sa.id]);
    assert.deepEqual((await b.client.request(P.ListSessionsRequest.type, {})).map((s) => s.id), [sb.id]);
  });

  it("labels each one's Docker objects with its own instance only", async () => {
    const objectsA = await instanceObjectNames(a.instanceId);
    const objectsB = await instanceObjectNames(b.instanceId);
    assert.ok(objectsA.volumes.includes(wa.volume) && !objectsA.volumes.includes(wb.volume));
    assert.ok(objectsB.volumes.includes(wb.volume) && !objectsB.volumes.includes(wa.volume));
    assert.equal((await inspectContainer(sa.containerId!))?.Config.Labels['sandkasten.instance'], a.instanceId);
    assert.equal((await inspectContainer(sb.containerId!))?.Config.Labels['sandkasten.instance'], b.instanceId);
  });

  it("refuses to act on the other one's workspace or session, with NotFound", async () => {
    for (const request of [
      a.client.request(P.StartSessionRequest.type, { workspaceId: wb.id }),
      a.client.request(P.DeleteWorkspaceRequest.type, { id: wb.id, force: true }),
      a.client.request(P.StopSessionRequest.type, { id: sb.id }),
      a.client.request(P.ExecRequest.type, { sessionId: sb.id, command: ['true'] }),
    ]) {
      await assert.rejects(request, (error: { code?: number }) => error.code === P.ErrorCode.NotFound);
    }
    assert.equal((await inspectContainer(sb.containerId!))?.State.Running, true);
  });

  it("never removes the other's containers or volumes when one restarts and reconciles", async () => {
    const beforeB = await instanceObjectNames(b.instanceId);
    await a.shutdown();
    await a.reconnect(); // a new sidecar for A: reconciliation runs before StatusRequest answers
    assert.deepEqual(await instanceObjectNames(b.instanceId), beforeB);
    assert.equal((await inspectContainer(sb.containerId!))?.State.Running, true);
    assert.ok(await volumeExists(wb.volume));
    assert.equal((await exec(b.client, sb.id, ['echo', 'still here'])).stdout, 'still here\n');
  });

  it("never removes the other's objects when one restarts after kill -9, nor its own", async () => {
    const beforeA = await instanceObjectNames(a.instanceId);
    const beforeB = await instanceObjectNames(b.instanceId);
    await b.kill9();
    await b.reconnect();
    assert.deepEqual(await instanceObjectNames(a.instanceId), beforeA);
    assert.deepEqual(await instanceObjectNames(b.instanceId), beforeB);
    assert.equal((await exec(a.client, sa.id, ['echo', 'a']).then((r) => r.stdout)), 'a\n');
    assert.equal((await exec(b.client, sb.id, ['echo', 'b']).then((r) => r.stdout)), 'b\n');
  });

  it("keeps the other's objects when one deletes all of its workspaces", async () => {
    const beforeB = await instanceObjectNames(b.instanceId);
    await a.client.request(P.DeleteWorkspaceRequest.type, { id: wa.id, force: true });
    assert.deepEqual(await instanceObjectNames(a.instanceId), { containers: [], volumes: [] });
    assert.deepEqual(await instanceObjectNames(b.instanceId), beforeB);
  });
});
