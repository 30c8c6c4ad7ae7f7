import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exec, inspectContainer, onEngine, P, TEST_IMAGE, useSidecar, volumeExists } from './harness';

describe(onEngine('sessions against the real Docker engine'), () => {
  const sidecar = useSidecar();

  const start = (workspaceId: string) => sidecar.startSession(workspaceId);
  const stop = (id: string) => sidecar.client.request(P.StopSessionRequest.type, { id });
  const destroy = (id: string) => sidecar.client.request(P.DestroySessionRequest.type, { id });
  const sessions = (workspaceId?: string) => sidecar.client.request(P.ListSessionsRequest.type, { workspaceId });

  it('starts a running session whose container carries the session labels', async () => {
    const workspace = await sidecar.createWorkspace('labels');
    const session = await start(workspace.id);
    assert.match(session.id, /^ses-[0-9a-f]+$/);
    assert.equal(session.state, 'running');
    assert.equal(session.workspaceId, workspace.id);
    assert.equal(session.workspaceName, 'labels');
    assert.equal(session.image, TEST_IMAGE);
    assert.ok(session.containerId, 'a running session has a container');
    const container = await inspectContainer(session.containerId);
    assert.ok(container, 'the container exists in Docker');
    assert.equal(container.State.Running, true);
    const labels = container.Config.Labels;
    assert.equal(labels['sandkasten.managed'], 'true');
    assert.equal(labels['sandkasten.role'], 'session');
    assert.equal(labels['sandkasten.workspace'], workspace.id);
    assert.equal(labels['sandkasten.session'], session.id);
    assert.equal(labels['sandkasten.instance'], sidecar.instanceId);
  });

  it('mounts the workspace volume at /workspace', async () => {
    const workspace = await sidecar.createWorkspace('mounted');
    const session = await start(workspace.id);
    const container = await inspectContainer(session.containerId!);
    const mount = container?.Mounts.find((m) => m.Destination === '/workspace');
    assert.ok(mount, 'something is mounted at /workspace');
    assert.equal(mount.Type, 'volume');
    assert.equal(mount.Name, workspace.volume);
  });

  it('applies the configured memory and pids limits to the container', async () => {
    const config = await sidecar.client.request(P.GetConfigRequest.type, {});
    const workspace = await sidecar.createWorkspace('limited');
    const session = await start(workspace.id);
    const container = await inspectContainer(session.containerId!);
    assert.equal(container?.HostConfig.Memory, (config['limits.memoryMb'] as number) * 1024 * 1024);
    assert.equal(container?.HostConfig.PidsLimit, config['limits.pids']);
  });

  it('lists a started session, also filtered by its workspace', async () => {
    const workspace = await sidecar.createWorkspace('listed');
    const session = await start(workspace.id);
    assert.ok((await sessions()).some((s) => s.id === session.id));
    assert.deepEqual(
      (await sessions(workspace.id)).map((s) => s.id),
      [session.id],
    );
  });

  it('stops a session: state stopped, the container still exists but does not run', async () => {
    const workspace = await sidecar.createWorkspace('stoppable');
    const session = await start(workspace.id);
    const stopped = await stop(session.id);
    assert.equal(stopped.state, 'stopped');
    assert.ok(stopped.stoppedAt, 'a stopped session says when it stopped');
    const container = await inspectContainer(session.containerId!);
    assert.ok(container, 'the stopped container is kept for a resume');
    assert.equal(container.State.Running, false);
    assert.equal((await sessions(workspace.id))[0].state, 'stopped');
  });

  it('resumes the same container when a session is started again on the same workspace', async () => {
    const workspace = await sidecar.createWorkspace('resumable');
    const first = await start(workspace.id);
    await stop(first.id);
    const again = await start(workspace.id);
    assert.equal(again.id, first.id, 'the stopped session is resumed, not replaced');
    assert.equal(again.containerId, first.containerId, 'the same container runs again');
    assert.equal(again.state, 'running');
    assert.equal((await inspectContainer(again.containerId!))?.State.Running, true);
    assert.equal((await sessions(workspace.id)).length, 1, 'no second session was created');
  });

  it('resumes a stopped session by id with session/resume', async () => {
    const workspace = await sidecar.createWorkspace('resume-by-id');
    const first = await start(workspace.id);
    await stop(first.id);
    const resumed = await sidecar.client.request(P.ResumeSessionRequest.type, { id: first.id });
    assert.equal(resumed.state, 'running');
    assert.equal(resumed.containerId, first.containerId);
  });

  it('answers a stop of an already stopped session with the stopped session, changing nothing', async () => {
    const workspace = await sidecar.createWorkspace('stop-twice');
    const first = await start(workspace.id);
    const stopped = await stop(first.id);
    const again = await stop(first.id);
    assert.deepEqual(again, stopped);
    assert.equal((await inspectContainer(first.containerId!))?.State.Running, false);
  });

  it('destroys a session: its container leaves Docker, the workspace and its volume stay', async () => {
    const workspace = await sidecar.createWorkspace('destroyable');
    const session = await start(workspace.id);
    const result = await destroy(session.id);
    assert.deepEqual(result, { id: session.id });
    assert.equal(await inspectContainer(session.containerId!), undefined, 'the container is removed');
    assert.ok(!(await sessions()).some((s) => s.id === session.id), 'the session is not listed');
    assert.ok((await sidecar.client.request(P.ListWorkspacesRequest.type, {})).some((w) => w.id === workspace.id), 'the workspace stays');
    assert.ok(await volumeExists(workspace.volume), 'the volume stays');
  });

  it('keeps files written in one session for the next session of the same workspace', async () => {
    const workspace = await sidecar.createWorkspace('persistent-files', { kind: 'persistent' });
    const first = await start(workspace.id);
    const write = await exec(sidecar.client, first.id, ['sh', '-c', 'echo data > /workspace/f']);
    assert.equal(write.exitCode, 0, write.stderr);
    await destroy(first.id);

    const second = await start(workspace.id);
    assert.notEqual(second.id, first.id, 'a new session');
    assert.notEqual(second.containerId, first.containerId, 'in a new container');
    const read = await exec(sidecar.client, second.id, ['cat', '/workspace/f']);
    assert.equal(read.exitCode, 0, read.stderr);
    assert.equal(read.stdout, 'data\n');
  });

  it('keeps the files of a workspace apart from those of another workspace', async () => {
    const a = await sidecar.createWorkspace('apart-a');
    const b = await sidecar.createWorkspace('apart-b');
    const sa = await start(a.id);
    const sb = await start(b.id);
    await exec(sidecar.client, sa.id, ['sh', '-c', 'echo only-a > /workspace/mine']);
    const read = await exec(sidecar.client, sb.id, ['ls', '-A', '/workspace']);
    assert.equal(read.stdout, '', 'the other workspace sees nothing of it');
  });

  it('counts sessions in the workspace statistics and marks the workspace active while one runs', async () => {
    const workspace = await sidecar.createWorkspace('stats');
    await start(workspace.id);
    const listed = (await sidecar.client.request(P.ListWorkspacesRequest.type, {})).find((w) => w.id === workspace.id)!;
    assert.equal(listed.stats.sessions, 1);
    assert.equal(listed.state, 'active');
  });
});
