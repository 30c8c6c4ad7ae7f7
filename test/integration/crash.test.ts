import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { homePaths } from '../../sidecar/client/home';
import {
  docker,
  exec,
  inspectContainer,
  instanceObjects,
  onEngine,
  P,
  TEST_IMAGE,
  sleep,
  useSidecar,
  volumeExists,
  waitFor,
  waitForExit,
} from './harness';

describe(onEngine('a sidecar killed with kill -9'), () => {
  const sidecar = useSidecar();

  it('comes back with the workspace and the session that were acknowledged just before the kill', async () => {
    const workspace = await sidecar.createWorkspace('crash');
    const session = await sidecar.startSession(workspace.id).then((acknowledged) => {
      process.kill(sidecar.pid, 'SIGKILL'); // right after the acknowledgement, before anything else runs
      return acknowledged;
    });
    const oldPid = sidecar.pid;
    await sidecar.kill9(); // already sent: waits until the process is gone
    await sidecar.reconnect();
    assert.notEqual(sidecar.pid, oldPid, 'a new sidecar process answers');

    const workspaces = await sidecar.client.request(P.ListWorkspacesRequest.type, {});
    const listed = workspaces.find((w) => w.id === workspace.id);
    assert.ok(listed, 'the workspace is still listed');
    assert.equal(listed.volume, workspace.volume);
    const sessions = await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId: workspace.id });
    assert.deepEqual(
      sessions.map((s) => [s.id, s.state, s.containerId]),
      [[session.id, 'running', session.containerId]],
      'the session is still listed, running in its container',
    );
    const result = await exec(sidecar.client, session.id, ['echo', 'alive']);
    assert.equal(result.stdout, 'alive\n', 'the restarted sidecar can run commands in it');
  });

  it('opens the database cleanly after the kill and keeps the same instance id', async () => {
    const instanceId = sidecar.instanceId;
    const created = await sidecar.createWorkspace('db-check');
    await sidecar.kill9();
    const status = await sidecar.reconnect();
    assert.equal(status.instanceId, instanceId, 'the instance id survives in the database');
    assert.equal(status.docker.available, true);
    assert.ok((await sidecar.client.request(P.ListWorkspacesRequest.type, {})).some((w) => w.id === created.id));
    const log = fs.readFileSync(path.join(sidecar.home, 'sidecar.log'), 'utf8');
    const lastStart = log.slice(log.lastIndexOf(`(pid ${sidecar.pid}`));
    assert.doesNotMatch(lastStart, /ERROR/, `the new sidecar logged no error:\n${lastStart}`);
  });

  it('keeps every acknowledged workspace and leaks no volume when killed while other creates are in flight', async () => {
    const acknowledged: P.WorkspaceInfo[] = [];
    const requests = Array.from({ length: 6 }, (_, i) =>
      sidecar.createWorkspace(`burst-${i}`).then((w) => {
        acknowledged.push(w);
        if (acknowledged.length === 2) process.kill(sidecar.pid, 'SIGKILL');
      }),
    );
    await Promise.allSettled(requests);
    await sidecar.kill9();
    assert.ok(acknowledged.length >= 2);
    await sidecar.reconnect(); // StatusRequest waits for the start-up reconciliation

    const listed = await sidecar.client.request(P.ListWorkspacesRequest.type, {});
    for (const w of acknowledged) assert.ok(listed.some((l) => l.id === w.id), `acknowledged ${w.id} is listed`);
    const { volumes } = await instanceObjects(sidecar.instanceId);
    const known = new Set(listed.map((w) => w.volume));
    const strays = volumes.filter((v) => !known.has(v.Name) && v.Labels?.['sandkasten.role'] !== 'pool').map((v) => v.Name);
    assert.deepEqual(strays, [], 'every volume of this instance belongs to a listed workspace');
  });

  it('fails a request that is in flight when the sidecar dies, instead of leaving it pending forever', async () => {
    const workspace = await sidecar.createWorkspace('in-flight');
    const session = await sidecar.startSession(workspace.id);
    const plain = await sidecar.rawClient(); // the client the CLI uses, without the harness's guard
    const outcome = exec(plain, session.id, ['sleep', '30']).then(
      () => 'resolved',
      () => 'rejected',
    );
    process.kill(sidecar.pid, 'SIGKILL');
    await waitForExit(sidecar.pid);
    // The client is not closed here: only the dropped connection may settle the request.
    const settled = await Promise.race([outcome, sleep(5_000).then(() => 'still pending 5 s after the connection dropped')]);
    await sidecar.kill9();
    await sidecar.reconnect();
    assert.equal(settled, 'rejected');
  });

  it('removes a labelled container, volume and pipe directory of its instance that nothing knows', async () => {
    const labels = {
      'sandkasten.managed': 'true',
      'sandkasten.instance': sidecar.instanceId,
      'sandkasten.role': 'session',
      'sandkasten.session': 'ses-orphan00000',
      'sandkasten.workspace': 'ghost-00000000',
    };
    await sidecar.kill9();
    const volumeName = `sandkasten-${sidecar.instanceId}-ghost-00000000`;
    await docker.createVolume({ Name: volumeName, Labels: { ...labels, 'sandkasten.role': 'workspace' } });
    const orphan = await docker.createContainer({
      name: `sandkasten-${sidecar.instanceId}-ses-orphan00000`,
      Image: TEST_IMAGE,
      Cmd: ['sleep', '3600'],
      Labels: labels,
      HostConfig: { Mounts: [{ Type: 'volume', Source: volumeName, Target: '/workspace' }] },
    });
    await orphan.start();
    // A pipe directory no container mounts (its container's create never reached Docker).
    const strayPipes = path.join(homePaths(sidecar.home).pipes, 'stray00000000000');
    fs.mkdirSync(strayPipes, { recursive: true });

    await sidecar.reconnect();
    await waitFor('the stray pipe directory to be removed', async () => (fs.existsSync(strayPipes) ? undefined : true));
    await waitFor('the orphans to be removed', async () => {
      await sidecar.client.request(P.StatusRequest.type, {});
      const containerGone = (await inspectContainer(orphan.id)) === undefined;
      const volumeGone = !(await volumeExists(volumeName));
      return containerGone && volumeGone ? true : undefined;
    });
    assert.ok(!(await sidecar.client.request(P.ListWorkspacesRequest.type, {})).some((w) => w.id === 'ghost-00000000'));
    assert.ok(!(await sidecar.client.request(P.ListSessionsRequest.type, {})).some((s) => s.id === 'ses-orphan00000'));
  });

  it('marks a session stopped when its container was removed while the sidecar was dead, and recreates it on start', async () => {
    const workspace = await sidecar.createWorkspace('vanished');
    const session = await sidecar.startSession(workspace.id);
    await exec(sidecar.client, session.id, ['sh', '-c', 'echo kept > /workspace/kept']);
    await sidecar.kill9();
    await docker.getContainer(session.containerId!).remove({ force: true });

    await sidecar.reconnect();
    const after = (await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId: workspace.id }))[0];
    assert.equal(after.id, session.id);
    assert.equal(after.state, 'stopped');

    const restarted = await sidecar.startSession(workspace.id);
    assert.equal(restarted.state, 'running');
    assert.ok(restarted.containerId, 'it has a container again');
    assert.notEqual(restarted.containerId, session.containerId, 'a new container');
    const container = await inspectContainer(restarted.containerId);
    assert.equal(container?.State.Running, true);
    assert.equal(container?.Config.Labels['sandkasten.instance'], sidecar.instanceId);
    const read = await exec(sidecar.client, restarted.id, ['cat', '/workspace/kept']);
    assert.equal(read.stdout, 'kept\n', 'the workspace files are still there');
  });

  it('marks a session stopped when its container was stopped while the sidecar was dead', async () => {
    const workspace = await sidecar.createWorkspace('halted');
    const session = await sidecar.startSession(workspace.id);
    await sidecar.kill9();
    await docker.getContainer(session.containerId!).stop({ t: 0 });

    await sidecar.reconnect();
    const after = (await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId: workspace.id }))[0];
    assert.equal(after.state, 'stopped');
    const resumed = await sidecar.startSession(workspace.id);
    assert.equal(resumed.containerId, session.containerId, 'the stopped container is started again');
    assert.equal((await exec(sidecar.client, resumed.id, ['true'])).exitCode, 0);
  });

  it('brings back a workspace volume that was removed while the sidecar was dead', async () => {
    const workspace = await sidecar.createWorkspace('lost-volume');
    await sidecar.kill9();
    await docker.getVolume(workspace.volume).remove({ force: true });
    await sidecar.reconnect();
    assert.ok(await volumeExists(workspace.volume), 'an empty volume was created again');
    const session = await sidecar.startSession(workspace.id);
    assert.equal(session.state, 'running');
  });
});
