// The second engine (over TLS) and the local engine are two engines: each sidecar's objects
// live on its own engine only, and status tells them apart.
import './tls';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type Docker from 'dockerode';
import { docker, inspectContainer, instanceObjects, onEngine, P, useSidecar, volumeExists, type SidecarHarness } from '../integration/harness';
import { dockerAt } from '../support/remoteEngine';

/** The local engine as the local suites reach it (docker-modem's default socket). */
const localDocker = dockerAt('/var/run/docker.sock');

/** This process's environment without what points it at the second engine. */
function localEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of ['DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'SANDKASTEN_TEST_ENGINE']) delete env[key];
  return env;
}

/** 'found' or 'missing' (Docker answered 404); any other failure fails the test. */
async function lookup(inspect: () => Promise<unknown>): Promise<'found' | 'missing'> {
  try {
    await inspect();
    return 'found';
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return 'missing';
    throw error;
  }
}

async function notOn(engine: Docker, what: string, session: P.SessionInfo, workspace: P.WorkspaceInfo, instanceId: string): Promise<void> {
  assert.equal(await lookup(() => engine.getContainer(session.containerId!).inspect()), 'missing', `the ${what} engine does not know the container`);
  assert.equal(await lookup(() => engine.getVolume(workspace.volume).inspect()), 'missing', `the ${what} engine does not know the volume`);
  const labelled = await instanceObjects(instanceId, engine);
  assert.deepEqual(
    { containers: labelled.containers.map((c) => c.Names[0]), volumes: labelled.volumes.map((v) => v.Name), networks: labelled.networks.map((n) => n.Name) },
    { containers: [], volumes: [], networks: [] },
    `the ${what} engine has nothing labelled with the instance`,
  );
}

describe(onEngine('the second engine beside the local one'), () => {
  const remote = useSidecar();
  const local = useSidecar({ env: localEnv(), docker: localDocker });

  it('are two engines with IDs of their own, and status says which one and how it is reached', async () => {
    const [remoteInfo, localInfo] = await Promise.all([docker.info(), localDocker.info()]);
    assert.notEqual(remoteInfo.ID, localInfo.ID, 'the second engine has an ID of its own');
    const [remoteStatus, localStatus] = await Promise.all([statusOf(remote), statusOf(local)]);
    assert.equal(remoteStatus.docker.transport, 'tls');
    assert.equal(remoteStatus.docker.engineId, remoteInfo.ID);
    assert.equal(remoteStatus.docker.outputPath, 'relayed', 'a remote engine cannot use the FIFO fast path');
    assert.equal(remoteStatus.hostIsolation.enforced, false, 'the host firewall of a remote engine is not ours to change');
    assert.ok(remoteStatus.hostIsolation.reason, 'and status says why');
    assert.equal(localStatus.docker.transport, 'unix');
    assert.equal(localStatus.docker.engineId, localInfo.ID);
  });

  it('keeps a session made over TLS on the second engine only', async () => {
    const workspace = await remote.createWorkspace('isolated');
    const session = await remote.startSession(workspace.id);
    assert.equal((await inspectContainer(session.containerId!))?.State.Running, true, 'the container runs on the second engine');
    assert.ok(await volumeExists(workspace.volume), 'the volume is on the second engine');
    await notOn(localDocker, 'local', session, workspace, remote.instanceId);
    await remote.removeWorkspace(workspace.id);
  });

  it('keeps a session made on the local engine off the second engine', async () => {
    const workspace = await local.createWorkspace('local-only');
    const session = await local.startSession(workspace.id);
    assert.equal((await localDocker.getContainer(session.containerId!).inspect()).State.Running, true, 'the container runs on the local engine');
    await notOn(docker, 'second', session, workspace, local.instanceId);
    await local.removeWorkspace(workspace.id);
  });
});

function statusOf(sidecar: SidecarHarness): Promise<P.SidecarStatus> {
  return sidecar.client.request(P.StatusRequest.type, {});
}
