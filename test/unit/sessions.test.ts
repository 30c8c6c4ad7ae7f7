import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { isoTime } from '../../sidecar/util/clock';
import { SandkastenError } from '../../sidecar/errors';
import { eventually, settle } from './fakes/clock';
import { makeDomain, TEST_IMAGE, type Domain } from './fakes/domain';

/** How long after a hand-out the replaced volume is removed and the container renamed (see sessions.ts). */
const TIDY_UP_DELAY_MS = 500;
/** How often the pool looks for pool objects nobody owns (see pool.ts). */
const JANITOR_INTERVAL_MS = 30_000;

let domain: Domain | undefined;
afterEach(() => {
  domain?.dispose();
  domain = undefined;
});

async function setUp(settings: Parameters<typeof makeDomain>[0] = {}) {
  domain = await makeDomain(settings);
  return domain;
}

/** A domain whose pool keeps `count` containers of the test image ready, filled. */
async function setUpWithPool(count = 1) {
  const parts = await setUp({ 'pool.images': { [TEST_IMAGE]: count } });
  await parts.pool.start();
  await eventually(() => parts.pool.status().images[0]?.ready === count, 'the pool to fill');
  return parts;
}

const mountedVolumes = (parts: Domain, containerId: string) =>
  parts.engine.containers
    .get(containerId)
    ?.mounts.filter((mount) => mount.type === 'volume')
    .map((mount) => mount.source);

const rejectsWith = (promise: Promise<unknown>, codeName: string) =>
  assert.rejects(promise, (error: unknown) => error instanceof SandkastenError && error.codeName === codeName);

describe('sessions', () => {
  it("start a new workspace's first session on a pooled container, the workspace adopting its volume", async () => {
    const parts = await setUpWithPool();
    const { engine, clock, workspaces, sessions, containers } = parts;
    const workspace = await workspaces.create({ name: 'my-api' });
    const [pooled] = engine.containersWithRole('pool');
    const pooledVolume = pooled.name; // the container is renamed later; its volume keeps the name
    const creates = engine.callsTo('createContainer').length;

    const session = await sessions.start(workspace.id);

    assert.equal(session.fromPool, true);
    assert.equal(session.state, 'running');
    assert.equal(session.workspaceId, workspace.id);
    assert.equal(session.containerId, pooled.id);
    assert.equal(engine.callsTo('createContainer').length, creates, 'nothing is created on the hand-out path');
    assert.equal(workspaces.get(workspace.id).volume, pooledVolume, 'the workspace adopts the pooled volume');
    assert.equal(workspaces.get(workspace.id).stats.sessions, 1);

    assert.equal(engine.volumes.has(workspace.volume), true, 'the empty volume stays until the tidy-up');
    await clock.advance(TIDY_UP_DELAY_MS);
    assert.equal(engine.volumes.has(workspace.volume), false, 'the empty volume it replaced is removed');
    assert.equal(engine.containers.get(pooled.id)?.name, containers.sessionContainerName(session.id), 'the container is renamed for the session');
    assert.equal(engine.volumes.has(pooledVolume), true);
  });

  it('start a session in a new workspace born on the pooled volume: one write, no Docker call, origin and lease recorded', async () => {
    const parts = await setUpWithPool();
    const { engine, clock, workspaces, sessions } = parts;
    const [pooled] = engine.containersWithRole('pool');
    const calls = engine.calls.length;

    const session = await sessions.startInNewWorkspace({ name: 'api-session', image: TEST_IMAGE }, { origin: 'api', leaseMs: 60_000 });

    assert.equal(session.fromPool, true);
    assert.equal(session.containerId, pooled.id);
    assert.deepEqual(engine.calls.slice(calls).map((call) => call.method), [], 'no Docker call before the answer');
    const workspace = workspaces.get(session.workspaceId);
    assert.equal(workspace.volume, pooled.name, 'born on the pooled volume: no volume of its own was made');
    assert.equal(workspace.origin, 'api');
    assert.equal(workspace.state, 'active');
    assert.equal(session.origin, 'api');
    assert.equal(session.expiresAt, isoTime(clock.now() + 60_000));
    await clock.advance(TIDY_UP_DELAY_MS);
    assert.deepEqual(engine.callsTo('removeVolume'), [], 'no empty volume to tidy up');
  });

  it('start a session in a new workspace with a caller-chosen id; cold without a pool, and no workspace left when the start fails', async () => {
    const { engine, workspaces, sessions } = await setUp();
    const session = await sessions.startInNewWorkspace({ name: 'user123-project456' }, { id: 'user123-project456', origin: 'api' });
    assert.equal(session.workspaceId, 'user123-project456');
    assert.equal(session.fromPool, false);
    await rejectsWith(sessions.startInNewWorkspace({ name: 'x' }, { id: 'user123-project456' }), 'Conflict');
    await rejectsWith(sessions.startInNewWorkspace({ name: 'x' }, { id: '-bad-' }), 'InvalidInput');

    engine.failNext('startContainer', new Error('the engine refused'));
    await assert.rejects(sessions.startInNewWorkspace({ name: 'doomed' }, { origin: 'api' }));
    assert.deepEqual(
      workspaces.list().map((workspace) => workspace.id),
      ['user123-project456'],
      'the workspace made for the failed start is gone',
    );
  });

  it("keep a pool-born session's container and volume out of the pool's clean-up rounds", async () => {
    const { engine, clock, workspaces, sessions, pool } = await setUpWithPool();
    const workspace = await workspaces.create({ name: 'keeper' });
    const session = await sessions.start(workspace.id);
    await sessions.stop(session.id);

    await clock.advance(JANITOR_INTERVAL_MS);
    await pool.removeUnknownPoolObjects();

    assert.equal(engine.containers.has(session.containerId!), true);
    assert.equal(engine.volumes.has(workspaces.get(workspace.id).volume), true);
  });

  it("delete with its workspace a pool-born session's container and the volume it adopted", async () => {
    const { engine, clock, workspaces, sessions } = await setUpWithPool();
    const workspace = await workspaces.create({ name: 'doomed' });
    const session = await sessions.start(workspace.id);
    const adopted = workspaces.get(workspace.id).volume;

    await workspaces.delete(workspace.id, true);
    await clock.advance(TIDY_UP_DELAY_MS);

    assert.equal(engine.containers.has(session.containerId!), false, 'found by its session row: it carries no workspace label');
    assert.equal(engine.volumes.has(adopted), false);
    assert.equal(engine.volumes.has(workspace.volume), false, 'the empty volume it replaced is gone too');
    assert.deepEqual(sessions.list(), []);
  });

  it('start a cold container for a workspace that had a session before: its volume is not empty', async () => {
    const { engine, workspaces, sessions } = await setUpWithPool();
    const workspace = await workspaces.create({ name: 'used' });
    const first = await sessions.start(workspace.id);
    await sessions.destroy(first.id);
    const volume = workspaces.get(workspace.id).volume;

    const second = await sessions.start(workspace.id);

    assert.equal(second.fromPool, false);
    assert.notEqual(second.id, first.id);
    assert.deepEqual(mountedVolumes(domain!, second.containerId!), [volume]);
    assert.equal(engine.containers.get(second.containerId!)?.labels['sandkasten.session'], second.id);
    assert.equal(workspaces.get(workspace.id).stats.sessions, 2);
  });

  it('gives each kind the network the settings name for it, and uses the pool only when it fits', async () => {
    const { engine, workspaces, sessions, config, containers } = await setUpWithPool();
    await config.set({ 'sandbox.network': { persistent: 'none' }, 'sandbox.readOnlyRoot': { collaborative: true } });
    const offline = await sessions.start((await workspaces.create({ name: 'offline', kind: 'persistent' })).id);
    assert.equal(offline.fromPool, true, 'a pooled container can be cut off the network');
    assert.equal(engine.containers.get(offline.containerId!)?.network, 'none');
    const locked = await sessions.start((await workspaces.create({ name: 'locked', kind: 'collaborative' })).id);
    assert.equal(locked.fromPool, false, 'a read-only root is made at create: never from the pool');
    assert.equal(engine.containers.get(locked.containerId!)?.network, containers.sandboxNetworkName());
    await config.set({ network: 'none', 'sandbox.network': { session: 'bridge' } });
    assert.equal(containers.networkFor('session'), containers.sandboxNetworkName());
    assert.equal(containers.networkFor('persistent'), 'none');
    assert.equal(containers.networkFor('ephemeral'), 'none');
    assert.equal(containers.poolSuits({ kind: 'session' }), false, 'the pool (made with no network now) cannot give a session kind its bridge');
  });

  it("cut an ephemeral workspace's pooled container off the network", async () => {
    const { engine, workspaces, sessions } = await setUpWithPool();
    const workspace = await workspaces.create({ name: 'untrusted', kind: 'ephemeral' });

    const session = await sessions.start(workspace.id);

    assert.equal(session.fromPool, true);
    assert.deepEqual(engine.callsTo('disconnectNetwork'), [[session.containerId, `sandkasten-${engine.instanceId}-sandboxes`]]);
    assert.equal(engine.containers.get(session.containerId!)?.network, 'none');
  });

  it(
    "keep a pooled container being cut off the network out of the pool's clean-up round",
    async () => {
      const { engine, workspaces, sessions, pool } = await setUpWithPool();
      const workspace = await workspaces.create({ name: 'racy', kind: 'ephemeral' });
      const disconnecting = engine.hold('disconnectNetwork');

      const starting = sessions.start(workspace.id);
      await settle();
      await pool.removeUnknownPoolObjects(); // the janitor's round, while Docker disconnects
      disconnecting.release();
      const session = await starting;

      assert.equal(engine.containers.has(session.containerId!), true);
    },
  );

  it("resume a workspace's stopped session on start: same session, same container, nothing created", async () => {
    const { engine, workspaces, sessions } = await setUp();
    const workspace = await workspaces.create({ name: 'resumable' });
    const started = await sessions.start(workspace.id);
    await sessions.stop(started.id);

    const resumed = await sessions.start(workspace.id);

    assert.equal(resumed.id, started.id);
    assert.equal(resumed.state, 'running');
    assert.equal(resumed.containerId, started.containerId);
    assert.equal(engine.callsTo('createContainer').length, 1);
    assert.equal(engine.containers.get(started.containerId!)?.running, true);
    assert.equal(engine.callsTo('attach').length, 2, 'its main shell is attached again');
    assert.equal(sessions.list(workspace.id).length, 1);
  });

  it('recreate on resume a session whose container vanished, with the same volume', async () => {
    const parts = await setUpWithPool();
    const { engine, clock, workspaces, sessions } = parts;
    const workspace = await workspaces.create({ name: 'fragile' });
    const started = await sessions.start(workspace.id);
    await clock.advance(TIDY_UP_DELAY_MS);
    const volume = workspaces.get(workspace.id).volume;
    await sessions.stop(started.id);
    engine.vanish(started.containerId!);

    const resumed = await sessions.resume(started.id);

    assert.equal(resumed.id, started.id);
    assert.equal(resumed.state, 'running');
    assert.ok(resumed.containerId);
    assert.notEqual(resumed.containerId, started.containerId);
    assert.deepEqual(mountedVolumes(parts, resumed.containerId), [volume], 'the adopted pooled volume, not a new one');
    assert.equal(engine.containers.get(resumed.containerId)?.running, true);
  });

  it('stop a session: its container stops, it is marked stopped and its run time is added to the workspace', async () => {
    const { engine, clock, workspaces, sessions, changes } = await setUp();
    const workspace = await workspaces.create({ name: 'timed' });
    const started = await sessions.start(workspace.id);
    const ended: string[] = [];
    changes.onSessionEnded((id) => ended.push(id));

    await clock.advance(90_000);
    const stopped = await sessions.stop(started.id);

    assert.equal(stopped.state, 'stopped');
    assert.equal(stopped.stoppedAt, isoTime(clock.now()));
    assert.equal(stopped.containerId, started.containerId, 'the container is kept for a resume');
    assert.equal(engine.containers.get(started.containerId!)?.running, false);
    assert.deepEqual(ended, [started.id]);
    const after = workspaces.get(workspace.id);
    assert.equal(after.stats.runTimeMs, 90_000);
    assert.equal(after.state, 'suspended');

    await clock.advance(60_000);
    assert.deepEqual(await sessions.stop(started.id), stopped, 'stopping again changes nothing');
    assert.equal(workspaces.get(workspace.id).stats.runTimeMs, 90_000);
  });

  it('destroy a session: its container and its row go, the workspace and its volume stay', async () => {
    const { engine, workspaces, sessions } = await setUp();
    const workspace = await workspaces.create({ name: 'short-lived' });
    const session = await sessions.start(workspace.id);

    await sessions.destroy(session.id);

    assert.equal(engine.containers.has(session.containerId!), false);
    assert.deepEqual(sessions.list(workspace.id), []);
    assert.throws(() => sessions.get(session.id), (error: unknown) => error instanceof SandkastenError && error.codeName === 'NotFound');
    assert.equal(engine.volumes.has(workspace.volume), true);
    assert.equal(workspaces.get(workspace.id).state, 'suspended');
  });

  it('leave no container and no session when the container fails to start', async () => {
    const { engine, workspaces, sessions } = await setUp();
    const workspace = await workspaces.create({ name: 'unlucky' });
    engine.failNext('startContainer', new Error('OCI runtime create failed'));

    await assert.rejects(sessions.start(workspace.id), /OCI runtime create failed/);
    await settle();

    assert.deepEqual(engine.containersWithRole('session'), []);
    assert.deepEqual(sessions.list(workspace.id), []);
    assert.equal(workspaces.get(workspace.id).stats.sessions, 0);
  });

  it('answer unknown ids with NotFound', async () => {
    const { workspaces, sessions } = await setUp();
    const workspace = await workspaces.create({ name: 'known' });
    const unknown = 'ses-000000000000';

    assert.throws(() => sessions.get(unknown), (error: unknown) => error instanceof SandkastenError && error.codeName === 'NotFound' && error.message.includes(unknown));
    await rejectsWith(sessions.stop(unknown), 'NotFound');
    await rejectsWith(sessions.resume(unknown), 'NotFound');
    await rejectsWith(sessions.destroy(unknown), 'NotFound');
    await rejectsWith(sessions.start('missing-00000000'), 'NotFound');
    assert.throws(() => sessions.list('missing-00000000'), (error: unknown) => error instanceof SandkastenError && error.codeName === 'NotFound');
    assert.throws(() => sessions.running(unknown), (error: unknown) => error instanceof SandkastenError && error.codeName === 'NotFound');
    assert.deepEqual(sessions.list(workspace.id), []);
  });
});

describe('session inspect', () => {
  it("answers with the container's id and Docker's own inspect JSON of it", async () => {
    const { workspaces, sessions } = await setUp();
    const session = await sessions.start((await workspaces.create({ name: 'looked-at' })).id);

    const inspection = await sessions.inspect(session.id);

    assert.equal(inspection.containerId, session.containerId);
    const container = inspection.container as { Id: string; Name: string; State: { Running: boolean } };
    assert.equal(container.Id, session.containerId);
    assert.equal(container.Name, `/sandkasten-fakeinstance-${session.id}`);
    assert.equal(container.State.Running, true);
  });

  it('answers an unknown session with NotFound, asking Docker nothing', async () => {
    const { engine, sessions } = await setUp();
    await rejectsWith(sessions.inspect('ses-000000000000'), 'NotFound');
    assert.deepEqual(engine.callsTo('inspectContainerRaw'), []);
  });

  it('answers with NotFound, in a sentence that says what to do, when the container went away', async () => {
    const { engine, workspaces, sessions } = await setUp();
    const session = await sessions.start((await workspaces.create({ name: 'vanishing' })).id);
    engine.vanish(session.containerId!);

    // Docker has no such container, the database still names it.
    await assert.rejects(
      sessions.inspect(session.id),
      (error: unknown) => error instanceof SandkastenError && error.codeName === 'NotFound' && /has no container now.*session resume/.test(error.message),
    );

    // Once the sidecar noticed, the session names no container at all.
    await sessions.recordContainerState(session.containerId!, 'gone');
    assert.equal(sessions.get(session.id).containerId, null);
    await rejectsWith(sessions.inspect(session.id), 'NotFound');
  });
});
