import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { docker, expectError, instanceObjects, onEngine, P, TEST_IMAGE, useSidecar, volumeExists, waitFor } from './harness';

describe(onEngine('workspaces against the real Docker engine'), () => {
  const sidecar = useSidecar();

  it('creates a workspace whose id is its name followed by 8 hex digits', async () => {
    const workspace = await sidecar.createWorkspace('my-api');
    assert.match(workspace.id, /^my-api-[0-9a-f]{8}$/);
    assert.equal(workspace.name, 'my-api');
    assert.equal(workspace.image, TEST_IMAGE);
    assert.equal(workspace.kind, 'session', 'the default kind is session');
    assert.equal(workspace.state, 'created');
  });

  it('accepts names at the edges of the rules: one letter, 32 characters, digits and inner hyphens', async () => {
    for (const name of ['a', 'a'.repeat(32), 'x1-2-y']) {
      const workspace = await sidecar.createWorkspace(name);
      assert.equal(workspace.id.slice(0, -9), name);
      assert.match(workspace.id.slice(-9), /^-[0-9a-f]{8}$/);
    }
  });

  it('gives two workspaces of the same name different ids', async () => {
    const a = await sidecar.createWorkspace('twin');
    const b = await sidecar.createWorkspace('twin');
    assert.notEqual(a.id, b.id);
    for (const w of [a, b]) assert.match(w.id, /^twin-[0-9a-f]{8}$/);
  });

  it('keeps the kind, description and tags it was given', async () => {
    const workspace = await sidecar.createWorkspace('described', {
      kind: 'persistent',
      description: 'a long-lived project',
      tags: ['api', 'backend'],
    });
    assert.equal(workspace.kind, 'persistent');
    assert.equal(workspace.description, 'a long-lived project');
    assert.deepEqual(workspace.tags, ['api', 'backend']);
    const listed = (await sidecar.client.request(P.ListWorkspacesRequest.type, {})).find((w) => w.id === workspace.id);
    assert.deepEqual(listed, workspace);
  });

  it('creates a Docker volume labelled managed, with its instance and workspace', async () => {
    const workspace = await sidecar.createWorkspace('labelled');
    const volume = await docker.getVolume(workspace.volume).inspect();
    assert.equal(volume.Labels['sandkasten.managed'], 'true');
    assert.equal(volume.Labels['sandkasten.instance'], sidecar.instanceId);
    assert.equal(volume.Labels['sandkasten.workspace'], workspace.id);
    const own = await instanceObjects(sidecar.instanceId);
    assert.ok(own.volumes.some((v) => v.Name === workspace.volume), 'the volume is found by its instance label');
  });

  it('lists the workspaces it created', async () => {
    const workspace = await sidecar.createWorkspace('listed');
    const list = await sidecar.client.request(P.ListWorkspacesRequest.type, {});
    const found = list.find((w) => w.id === workspace.id);
    assert.ok(found, `${workspace.id} is in the list`);
    assert.equal(found.volume, workspace.volume);
    assert.equal(new Set(list.map((w) => w.id)).size, list.length, 'no workspace is listed twice');
  });

  it('deletes a workspace: it leaves the list and its volume leaves Docker', async () => {
    const workspace = await sidecar.createWorkspace('doomed');
    assert.ok(await volumeExists(workspace.volume));
    const result = await sidecar.client.request(P.DeleteWorkspaceRequest.type, { id: workspace.id });
    assert.deepEqual(result, { id: workspace.id });
    const list = await sidecar.client.request(P.ListWorkspacesRequest.type, {});
    assert.ok(!list.some((w) => w.id === workspace.id), 'the deleted workspace is not listed');
    assert.equal(await volumeExists(workspace.volume), false, 'its volume is gone from Docker');
  });

  it('deletes a workspace with a running session when forced, removing the container and the volume', async () => {
    const workspace = await sidecar.createWorkspace('forced');
    const session = await sidecar.startSession(workspace.id);
    assert.ok(session.containerId);
    await sidecar.client.request(P.DeleteWorkspaceRequest.type, { id: workspace.id, force: true });
    assert.ok(!(await sidecar.client.request(P.ListWorkspacesRequest.type, {})).some((w) => w.id === workspace.id));
    assert.ok(!(await sidecar.client.request(P.ListSessionsRequest.type, {})).some((s) => s.id === session.id), 'its session is gone too');
    const own = await instanceObjects(sidecar.instanceId);
    assert.ok(!own.containers.some((c) => c.Id === session.containerId), 'the session container is gone from Docker');
    assert.equal(await volumeExists(workspace.volume), false, 'the volume is gone from Docker');
  });

  it('renames a workspace: its id and volume stay, its sessions show the name, clients hear of it, a restart keeps it', async () => {
    const workspace = await sidecar.createWorkspace('first-name');
    const session = await sidecar.startSession(workspace.id);
    const told: P.ChangedArea[] = [];
    sidecar.client.onNotification(P.StateChangedNotification.type, ({ areas }) => void told.push(...areas));

    const renamed = await sidecar.client.request(P.RenameWorkspaceRequest.type, { id: workspace.id, name: 'second-name' });

    assert.equal(renamed.name, 'second-name');
    assert.equal(renamed.id, workspace.id);
    assert.equal(renamed.volume, workspace.volume);
    const sessions = await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId: workspace.id });
    assert.deepEqual(
      sessions.map((s) => [s.id, s.workspaceName]),
      [[session.id, 'second-name']],
    );
    await waitFor('workspaces and sessions to be announced', () => (told.includes('workspaces') && told.includes('sessions') ? true : undefined));
    await sidecar.shutdown();
    await sidecar.reconnect();
    assert.equal((await sidecar.client.request(P.ListWorkspacesRequest.type, {})).find((w) => w.id === workspace.id)?.name, 'second-name');
  });

  it('refuses to rename to a bad name (InvalidName) or an unknown workspace (NotFound), changing nothing', async () => {
    const workspace = await sidecar.createWorkspace('steady');
    const refused = await expectError(sidecar.client.request(P.RenameWorkspaceRequest.type, { id: workspace.id, name: 'Not OK' }), 'InvalidName');
    assert.match(refused.message, /lowercase/);
    await expectError(sidecar.client.request(P.RenameWorkspaceRequest.type, { id: 'ghost-00000000', name: 'fine' }), 'NotFound');
    assert.equal((await sidecar.client.request(P.ListWorkspacesRequest.type, {})).find((w) => w.id === workspace.id)?.name, 'steady');
  });

  it('survives a restart of its sidecar: the workspaces are still listed afterwards', async () => {
    const workspace = await sidecar.createWorkspace('durable');
    const before = await sidecar.client.request(P.ListWorkspacesRequest.type, {});
    const oldPid = sidecar.pid;
    await sidecar.shutdown();
    await sidecar.reconnect();
    assert.notEqual(sidecar.pid, oldPid, 'a new sidecar process answers');
    const after = await sidecar.client.request(P.ListWorkspacesRequest.type, {});
    assert.deepEqual(
      after.map((w) => w.id),
      before.map((w) => w.id),
    );
    assert.ok(await volumeExists(workspace.volume), 'reconciliation kept the volume of a known workspace');
  });
});
