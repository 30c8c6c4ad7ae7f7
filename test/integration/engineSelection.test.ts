// Which Docker engine the sidecar uses (settings, environment, Docker contexts), how it says so
// and why it cannot reach one (TLS and ssh failures), and the explicit switch of a storage
// directory from one engine to another. Runs against the local engine and the second engine
// (scripts/remote-engine.sh), whatever engine the rest of the process is pointed at.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { homePaths } from '../../sidecar/client/home';
import { dockerAt, remoteDocker, remoteEngineEnv, type RemoteTransport, type RemoteVariant } from '../support/remoteEngine';
import { exec, expectError, instanceObjects, makeHome, P, runCli, SidecarHarness, waitForExit } from './harness';

const LOCAL_SOCKET = '/var/run/docker.sock';
const TLS_ADDRESS = 'tcp://127.0.0.1:23760';
const SSH_ADDRESS = 'ssh://root@sandkasten-test-remote';

const localDocker = dockerAt(LOCAL_SOCKET);
const secondDocker = remoteDocker();

/** A directory of the test, removed at the end. */
const temporary: string[] = [];
after(() => {
  for (const directory of temporary) fs.rmSync(directory, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temporary.push(directory);
  return directory;
}

/**
 * This process's environment with nothing that names an engine (and an empty Docker config
 * directory, so no current context of this machine's user leaks in), plus `extra`.
 */
function sidecarEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: tempDir('sk-dcfg-') };
  for (const key of ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'SANDKASTEN_TEST_ENGINE']) delete env[key];
  return { ...env, ...extra };
}

/** The second engine's environment for one of its transports (variant: deliberately broken). */
function secondEngineEnv(transport: RemoteTransport, variant?: RemoteVariant): NodeJS.ProcessEnv {
  return sidecarEnv(remoteEngineEnv(transport, variant));
}

/** A storage directory whose config.json holds `settings` before any sidecar starts. */
function homeWithSettings(settings: Record<string, unknown>): string {
  const home = makeHome();
  fs.writeFileSync(homePaths(home).config, JSON.stringify(settings, null, 2));
  return home;
}

/** The client certificates remote-engine.sh made, as DOCKER_CERT_PATH names them. */
function clientCertificates(): string {
  return remoteEngineEnv('tls').DOCKER_CERT_PATH!;
}

/** A Docker config directory with one context, laid out as `docker context create` does. */
function dockerConfigWithContext(name: string, host: string, certificates?: string): string {
  const directory = tempDir('sk-dcfg-');
  const digest = createHash('sha256').update(name).digest('hex');
  fs.mkdirSync(path.join(directory, 'contexts', 'meta', digest), { recursive: true });
  fs.writeFileSync(path.join(directory, 'contexts', 'meta', digest, 'meta.json'), JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } }));
  if (certificates) {
    const tls = path.join(directory, 'contexts', 'tls', digest, 'docker');
    fs.mkdirSync(tls, { recursive: true });
    for (const file of ['ca.pem', 'cert.pem', 'key.pem']) fs.copyFileSync(path.join(certificates, file), path.join(tls, file));
  }
  return directory;
}

function status(sidecar: SidecarHarness): Promise<P.SidecarStatus> {
  return sidecar.client.request(P.StatusRequest.type, {});
}

/** Removes every object labelled with `instanceId` from `engine` (what a test made there). */
async function removeInstance(instanceId: string, engine: Docker): Promise<void> {
  const left = await instanceObjects(instanceId, engine);
  // Containers first: a volume a container still uses cannot be removed.
  await Promise.all(left.containers.map((c) => engine.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  await Promise.all(left.volumes.map((v) => engine.getVolume(v.Name).remove({ force: true }).catch(() => undefined)));
  await Promise.all(left.networks.map((n) => engine.getNetwork(n.Id).remove().catch(() => undefined)));
  assert.deepEqual(await objectNames(instanceId, engine), { containers: [], volumes: [] }, `instance ${instanceId} leaves nothing on the engine`);
}

/** Container names and volume names of an instance on one engine, sorted. */
async function objectNames(instanceId: string, engine: Docker): Promise<{ containers: string[]; volumes: string[] }> {
  const { containers, volumes } = await instanceObjects(instanceId, engine);
  return { containers: containers.map((c) => c.Names[0]?.replace(/^\//, '') ?? c.Id).sort(), volumes: volumes.map((v) => v.Name).sort() };
}

/** 'missing' when the engine has no such container (404); any other failure fails the test. */
async function containerOn(engine: Docker, id: string): Promise<Docker.ContainerInspectInfo | 'missing'> {
  try {
    return await engine.getContainer(id).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return 'missing';
    throw error;
  }
}

describe('the sidecar on the second engine', () => {
  let secondInfo: { ID: string; Name: string };
  let secondVersion: string;
  before(async () => {
    [secondInfo, { Version: secondVersion }] = await Promise.all([secondDocker.info(), secondDocker.version()]);
  });

  /** A sidecar that must reach the second engine; cleaned up (and checked) on that engine. */
  async function onSecondEngine(t: { after(fn: () => Promise<void>): void }, options: { env: NodeJS.ProcessEnv; home?: string }): Promise<SidecarHarness> {
    const sidecar = new SidecarHarness({ ...options, docker: secondDocker });
    t.after(() => sidecar.cleanup());
    await sidecar.start();
    return sidecar;
  }

  function assertSecondEngine(docker: P.DockerStatus, transport: 'tls' | 'ssh', endpoint: string): void {
    assert.equal(docker.available, true, docker.error);
    assert.equal(docker.transport, transport);
    assert.equal(docker.endpoint, endpoint);
    assert.equal(docker.version, secondVersion);
    assert.equal(docker.engineId, secondInfo.ID, 'the second engine answers, not the local one');
    assert.equal(docker.engineName, secondInfo.Name);
    assert.equal(typeof docker.roundTripMs, 'number');
    assert.ok(docker.roundTripMs! > 0, 'the round trip was measured');
    assert.equal(docker.outputPath, 'relayed', 'no FIFOs on a remote engine');
    assert.equal(docker.mismatch, undefined);
  }

  it('reaches it over TLS through DOCKER_HOST, and the CLI prints the engine line', async (t) => {
    const env = secondEngineEnv('tls');
    const sidecar = await onSecondEngine(t, { env });
    assertSecondEngine((await status(sidecar)).docker, 'tls', `${TLS_ADDRESS} (DOCKER_HOST)`);
    const cli = await runCli(sidecar.home, ['status'], env);
    assert.equal(cli.code, 0, cli.stderr);
    const line = cli.stdout.split('\n').find((text) => text.startsWith('docker '));
    assert.ok(line, `a docker line in:\n${cli.stdout}`);
    assert.ok(line.includes(`engine ${secondVersion} at ${TLS_ADDRESS} (DOCKER_HOST)`), line);
    assert.match(line, /— tls, [\d.]+ ms round trip, output relayed$/);
  });

  it('reaches it over TLS through the docker.host setting in config.json, with DOCKER_CERT_PATH', async (t) => {
    const tls = remoteEngineEnv('tls');
    const env = sidecarEnv({ DOCKER_TLS_VERIFY: tls.DOCKER_TLS_VERIFY, DOCKER_CERT_PATH: tls.DOCKER_CERT_PATH });
    const sidecar = await onSecondEngine(t, { env, home: homeWithSettings({ 'docker.host': TLS_ADDRESS }) });
    assertSecondEngine((await status(sidecar)).docker, 'tls', `${TLS_ADDRESS} (setting docker.host)`);
  });

  it('reaches it over TLS through a Docker context named by docker.context, and works there', async (t) => {
    const env = sidecarEnv({ DOCKER_CONFIG: dockerConfigWithContext('sk-second', TLS_ADDRESS, clientCertificates()) });
    const sidecar = await onSecondEngine(t, { env, home: homeWithSettings({ 'docker.context': 'sk-second', 'pool.enabled': false }) });
    assertSecondEngine((await status(sidecar)).docker, 'tls', `${TLS_ADDRESS} (setting docker.context "sk-second")`);
    const session = await sidecar.newSession('through-a-context');
    assert.equal(((await containerOn(secondDocker, session.containerId!)) as Docker.ContainerInspectInfo).State.Running, true, 'its container runs on the second engine');
    assert.equal(await containerOn(localDocker, session.containerId!), 'missing', 'and not on the local one');
    assert.equal((await exec(sidecar.client, session.id, ['echo', 'over', 'tls'])).stdout, 'over tls\n');
  });

  it('reaches it over ssh through the docker.host setting in config.json, and works there', async (t) => {
    const env = secondEngineEnv('ssh');
    delete env.DOCKER_HOST; // only the setting names the engine; PATH keeps the test's ssh configuration
    const sidecar = await onSecondEngine(t, { env, home: homeWithSettings({ 'docker.host': SSH_ADDRESS, 'pool.enabled': false }) });
    assertSecondEngine((await status(sidecar)).docker, 'ssh', `${SSH_ADDRESS} (setting docker.host)`);
    const session = await sidecar.newSession('over-ssh');
    assert.equal(((await containerOn(secondDocker, session.containerId!)) as Docker.ContainerInspectInfo).State.Running, true, 'its container runs on the second engine');
    assert.equal(await containerOn(localDocker, session.containerId!), 'missing', 'and not on the local one');
    assert.equal((await exec(sidecar.client, session.id, ['echo', 'over', 'ssh'])).stdout, 'over ssh\n');
  });

  it('reaches it over ssh through DOCKER_HOST', async (t) => {
    const sidecar = await onSecondEngine(t, { env: secondEngineEnv('ssh') });
    assertSecondEngine((await status(sidecar)).docker, 'ssh', `${SSH_ADDRESS} (DOCKER_HOST)`);
  });

  const failures: Array<{ transport: RemoteTransport; variant: RemoteVariant; words: RegExp }> = [
    { transport: 'tls', variant: 'wrong-ca', words: /TLS certificate is not signed by the CA in ca\.pem \(certificate mismatch/ },
    { transport: 'tls', variant: 'wrong-client', words: /refused our client certificate/ },
    { transport: 'ssh', variant: 'unknown-host', words: /ssh does not know the host key of root@sandkasten-test-remote/ },
    { transport: 'ssh', variant: 'refused-key', words: /ssh to root@sandkasten-test-remote was refused: none of your keys is accepted there/ },
  ];
  for (const { transport, variant, words } of failures) {
    it(`says in one sentence why it cannot reach the engine over ${transport} (${variant}), and changes nothing`, async () => {
      const sidecar = await SidecarHarness.start({ env: secondEngineEnv(transport, variant), requireDocker: false, docker: secondDocker });
      try {
        const { docker } = await status(sidecar);
        assert.equal(docker.available, false);
        assert.equal(docker.transport, transport);
        const address = transport === 'tls' ? TLS_ADDRESS : SSH_ADDRESS;
        assert.ok(docker.error?.startsWith(`Docker is not reachable at ${address} (DOCKER_HOST): `), docker.error);
        assert.match(docker.error!, words);
        assert.doesNotMatch(docker.error!, /\n|\bat .*\(.*:\d+:\d+\)/, 'one line, no stack trace');
        assert.equal(docker.engineId, undefined);
        assert.equal(docker.mismatch, undefined);
        const refused = await expectError(sidecar.createWorkspace('never'), 'DockerUnavailable');
        // The reason is the message, or (once the sidecar counts the engine as away) the error's detail.
        assert.match(`${refused.message} ${(refused.data as P.ErrorData | undefined)?.detail ?? ''}`, words, 'a request gives the reason too');
        assert.deepEqual(await sidecar.client.request(P.ListWorkspacesRequest.type, {}), []);
        for (const engine of [secondDocker, localDocker]) assert.deepEqual(await objectNames(sidecar.instanceId, engine), { containers: [], volumes: [] });
      } finally {
        await sidecar.cleanup();
      }
    });
  }
});

describe('switching a storage directory between engines', () => {
  const home = homeWithSettings({ 'pool.enabled': false });
  // TLS settings in the environment only matter once docker.host names the tcp:// engine.
  const tls = remoteEngineEnv('tls');
  const env = sidecarEnv({ DOCKER_TLS_VERIFY: tls.DOCKER_TLS_VERIFY, DOCKER_CERT_PATH: tls.DOCKER_CERT_PATH });
  const sidecar = new SidecarHarness({ home, env, docker: localDocker });
  const secondInstances = new Set<string>();
  let localInfo: { ID: string; Name: string };
  let secondInfo: { ID: string; Name: string };

  before(async () => {
    [localInfo, secondInfo] = await Promise.all([localDocker.info(), secondDocker.info()]);
    assert.notEqual(localInfo.ID, secondInfo.ID);
    await sidecar.start();
  });

  after(async () => {
    try {
      // The storage directory ends on the local engine: the harness deletes its workspace there and checks.
      await sidecar.cleanup();
    } finally {
      for (const instanceId of secondInstances) await removeInstance(instanceId, secondDocker);
    }
  });

  /** Sets the docker.host setting, which restarts the sidecar; reconnects to its successor. */
  async function pointAt(host: string): Promise<P.SidecarStatus> {
    const pid = sidecar.pid;
    const values = await sidecar.client.request(P.SetConfigRequest.type, { values: { 'docker.host': host } });
    assert.equal(values['docker.host'], host);
    await waitForExit(pid);
    sidecar.closeClients();
    return sidecar.reconnect();
  }

  /** SwitchEngineRequest, which restarts the sidecar; reconnects to its successor. */
  async function switchTo(engineId: string): Promise<P.SidecarStatus> {
    const pid = sidecar.pid;
    assert.equal(await sidecar.client.request(P.SwitchEngineRequest.type, { engineId }), null);
    await waitForExit(pid);
    sidecar.closeClients();
    return sidecar.reconnect();
  }

  /** What the storage directory's records say, in the fields a switch must never change. */
  async function records() {
    const workspaces = await sidecar.client.request(P.ListWorkspacesRequest.type, {});
    const sessions = await sidecar.client.request(P.ListSessionsRequest.type, {});
    return {
      workspaces: workspaces.map(({ id, name, state, volume, image, createdAt }) => ({ id, name, state, volume, image, createdAt })),
      sessions: sessions.map(({ id, workspaceId, state, containerId, startedAt, stoppedAt }) => ({ id, workspaceId, state, containerId, startedAt, stoppedAt })),
    };
  }

  /** The container as Docker last started it: the same Id and StartedAt mean nobody touched it. */
  async function containerFacts(engine: Docker, id: string) {
    const info = await containerOn(engine, id);
    assert.notEqual(info, 'missing', `container ${id} exists`);
    const { Id, State } = info as Docker.ContainerInspectInfo;
    return { Id, running: State.Running, paused: State.Paused, startedAt: State.StartedAt, restarts: (info as Docker.ContainerInspectInfo).RestartCount };
  }

  /** A mismatch naming both engines, in status and in the refusal of anything that needs Docker. */
  function assertMismatch(docker: P.DockerStatus, boundTo: { ID: string }, current: { ID: string }, currentEndpoint: string): void {
    assert.equal(docker.available, true, docker.error);
    assert.ok(docker.mismatch, 'status shows the mismatch');
    assert.equal(docker.mismatch.boundTo.id, boundTo.ID);
    assert.equal(docker.mismatch.current.id, current.ID);
    assert.equal(docker.mismatch.current.endpoint, currentEndpoint);
    assert.equal(docker.engineId, current.ID);
  }

  it('refuses another engine, keeps everything, switches on request and back, and finds its sessions as they were', async () => {
    // On the local engine: a workspace and a running session.
    const first = await status(sidecar);
    assert.equal(first.docker.engineId, localInfo.ID);
    assert.equal(first.docker.mismatch, undefined);
    const localInstance = sidecar.instanceId;
    const workspace = await sidecar.createWorkspace('stays-local');
    const session = await sidecar.startSession(workspace.id);
    await exec(sidecar.client, session.id, ['sh', '-c', 'echo kept > /workspace/mark']);
    const recordsBefore = await records();
    const objectsBefore = await objectNames(localInstance, localDocker);
    const containerBefore = await containerFacts(localDocker, session.containerId!);
    assert.equal(containerBefore.running, true);

    // Pointed at the second engine: a mismatch, and nothing that needs Docker runs.
    const pointed = await pointAt(TLS_ADDRESS);
    assert.equal(pointed.instanceId, localInstance, 'the same storage directory, the same instance');
    assertMismatch(pointed.docker, localInfo, secondInfo, `${TLS_ADDRESS} (setting docker.host)`);
    assert.equal(pointed.docker.mismatch!.boundTo.endpoint, `unix://${LOCAL_SOCKET}`);
    for (const refused of [
      await expectError(sidecar.createWorkspace('refused'), 'DockerUnavailable'),
      await expectError(sidecar.startSession(workspace.id), 'DockerUnavailable'),
      await expectError(exec(sidecar.client, session.id, ['true']), 'DockerUnavailable'),
      await expectError(sidecar.client.request(P.DeleteWorkspaceRequest.type, { id: workspace.id, force: true }), 'DockerUnavailable'),
    ]) {
      assert.match(refused.message, /belongs to Docker engine ".*" at unix:\/\/\/var\/run\/docker\.sock/, 'names the engine it belongs to');
      assert.match(refused.message, /now reaches ".*" at tcp:\/\/127\.0\.0\.1:23760/, 'and the one answering');
    }
    assert.deepEqual(await records(), recordsBefore, 'the records are untouched');
    assert.deepEqual(await objectNames(localInstance, localDocker), objectsBefore, 'the local engine is untouched');
    assert.deepEqual(await containerFacts(localDocker, session.containerId!), containerBefore, 'the session container was not touched');
    assert.deepEqual(await objectNames(localInstance, secondDocker), { containers: [], volumes: [] }, 'nothing was made on the second engine');
    const cli = await runCli(home, ['status'], env);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /This storage directory belongs to Docker engine .* but Sandkasten now reaches /);
    assert.match(cli.stdout, /sandkasten engine switch/);

    // Only the engine that answers can be switched to.
    await expectError(sidecar.client.request(P.SwitchEngineRequest.type, { engineId: 'NOT:AN:ENGINE' }), 'Conflict');
    await expectError(sidecar.client.request(P.SwitchEngineRequest.type, { engineId: localInfo.ID }), 'Conflict');
    assert.equal((await status(sidecar)).pid, pointed.pid, 'a refused switch does not restart the sidecar');

    // Switched: a new, empty state on the second engine, which works.
    const switched = await switchTo(secondInfo.ID);
    assert.notEqual(switched.instanceId, localInstance, 'a new instance for the new engine');
    secondInstances.add(switched.instanceId);
    assert.equal(switched.docker.engineId, secondInfo.ID);
    assert.equal(switched.docker.mismatch, undefined);
    assert.deepEqual(await records(), { workspaces: [], sessions: [] });
    const remoteSession = await sidecar.newSession('on-the-second-engine');
    assert.equal((await exec(sidecar.client, remoteSession.id, ['echo', 'remote'])).stdout, 'remote\n');
    const remoteContainer = await containerFacts(secondDocker, remoteSession.containerId!);
    assert.equal(remoteContainer.running, true);
    assert.equal(await containerOn(localDocker, remoteSession.containerId!), 'missing', 'it appears only on the second engine');
    assert.deepEqual(await objectNames(switched.instanceId, localDocker), { containers: [], volumes: [] });
    assert.deepEqual(await containerFacts(localDocker, session.containerId!), containerBefore, 'the local session still runs, untouched');

    // Pointed back: a mismatch the other way round.
    const back = await pointAt(`unix://${LOCAL_SOCKET}`);
    assert.equal(back.instanceId, switched.instanceId);
    assertMismatch(back.docker, secondInfo, localInfo, `unix://${LOCAL_SOCKET} (setting docker.host)`);
    await expectError(sidecar.createWorkspace('refused-again'), 'DockerUnavailable');
    assert.deepEqual(await containerFacts(secondDocker, remoteSession.containerId!), remoteContainer, 'the second engine\'s session was not touched');

    // Switched back: the original workspace and session, as they were.
    const restored = await switchTo(localInfo.ID);
    assert.equal(restored.instanceId, localInstance);
    assert.equal(restored.docker.mismatch, undefined);
    assert.deepEqual(await records(), recordsBefore, 'the same workspace and session, same ids and state');
    assert.deepEqual(await objectNames(localInstance, localDocker), objectsBefore);
    assert.deepEqual(await containerFacts(localDocker, session.containerId!), containerBefore, 'its container was never touched');
    assert.equal((await exec(sidecar.client, session.id, ['cat', '/workspace/mark'])).stdout, 'kept\n', 'and it works');
    assert.deepEqual(await containerFacts(secondDocker, remoteSession.containerId!), remoteContainer, 'the second engine keeps its own session');
  });
});
