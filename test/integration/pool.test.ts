import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import {
  docker,
  exec,
  inspectContainer,
  instanceObjects,
  onEngine,
  P,
  runCli,
  sleep,
  TEST_ENGINE,
  TEST_IMAGE,
  useSidecar,
  volumeExists,
  waitFor,
  type SidecarHarness,
} from './harness';

/** The pool must settle within this bound; a burst of cold creates on 2 busy cores takes a while. */
const SETTLE_LIMIT_MS = 90_000;

async function setPool(sidecar: SidecarHarness, values: P.ConfigValues): Promise<void> {
  await sidecar.client.request(P.SetConfigRequest.type, { values });
}

/** The test image's line of PoolStatus (zeros when the pool does not list it). */
async function imageStatus(sidecar: SidecarHarness): Promise<P.PoolImageStatus> {
  const status = await sidecar.client.request(P.PoolStatusRequest.type, {});
  return status.images.find((i) => i.image === TEST_IMAGE) ?? { image: TEST_IMAGE, ready: 0, target: 0, refilling: 0 };
}

/**
 * Pool containers of this instance in Docker that no session owns: the ready ones plus any
 * being created. A handed-out container keeps its `pool` label, so sessions are subtracted.
 */
async function sparePoolContainers(sidecar: SidecarHarness): Promise<string[]> {
  const sessions = await sidecar.client.request(P.ListSessionsRequest.type, {});
  const owned = new Set(sessions.map((s) => s.containerId));
  const containers = await docker.listContainers({
    all: true,
    filters: { label: [`sandkasten.instance=${sidecar.instanceId}`, 'sandkasten.role=pool'] },
  });
  return containers.filter((c) => !owned.has(c.Id)).map((c) => c.Id).sort();
}

/**
 * Waits until the sidecar reports exactly `target` ready and nothing refilling, and Docker
 * holds exactly that many spare pool containers. Returns their ids.
 */
async function settledPool(sidecar: SidecarHarness, target: number): Promise<string[]> {
  return waitFor(
    `the pool to settle at ${target} ready containers`,
    async () => {
      const status = await imageStatus(sidecar);
      const spare = await sparePoolContainers(sidecar);
      return status.ready === target && status.refilling === 0 && spare.length === target ? spare : undefined;
    },
    SETTLE_LIMIT_MS,
  );
}

describe(onEngine('the pre-warmed pool against the real Docker engine'), () => {
  const sidecar = useSidecar();

  it('fills to its target, and not beyond', async () => {
    await setPool(sidecar, { 'pool.images': { [TEST_IMAGE]: 2 } });
    const ready = await settledPool(sidecar, 2);
    // Give an over-eager refill every chance to show itself before looking again.
    await sleep(1_000);
    assert.deepEqual(await sparePoolContainers(sidecar), ready, 'Docker still holds exactly the 2 ready containers');
    const status = await imageStatus(sidecar);
    assert.deepEqual({ ready: status.ready, target: status.target, refilling: status.refilling }, { ready: 2, target: 2, refilling: 0 });
    for (const id of ready) assert.equal((await inspectContainer(id))?.State.Running, true, 'a ready container runs');
  });

  it("serves a new workspace's first session from the pool; its files outlive stop, resume and destroy", async () => {
    await setPool(sidecar, { 'pool.images': { [TEST_IMAGE]: 2 } });
    const ready = await settledPool(sidecar, 2);
    const workspace = await sidecar.createWorkspace('pooled');

    const first = await sidecar.startSession(workspace.id);
    assert.equal(first.fromPool, true);
    assert.ok(ready.includes(first.containerId!), 'the session runs in one of the containers that were ready');
    const written = await exec(sidecar.client, first.id, ['sh', '-c', 'echo kept > /workspace/note && cat /workspace/note']);
    assert.equal(written.stdout, 'kept\n');

    await sidecar.client.request(P.StopSessionRequest.type, { id: first.id });
    const resumed = await sidecar.startSession(workspace.id);
    assert.equal(resumed.id, first.id, 'starting the workspace again resumes its stopped session');
    assert.equal(resumed.containerId, first.containerId, 'in the same container');
    assert.equal((await exec(sidecar.client, resumed.id, ['cat', '/workspace/note'])).stdout, 'kept\n');

    await sidecar.client.request(P.DestroySessionRequest.type, { id: resumed.id });
    const cold = await sidecar.startSession(workspace.id);
    assert.notEqual(cold.id, first.id);
    // A used workspace takes a pooled container through a workspace slot (root beside a local engine), else starts cold:
    // a slot is a host bind mount, which a remote engine cannot see.
    const slots = process.getuid?.() === 0 && !TEST_ENGINE;
    assert.equal(cold.fromPool, slots, slots ? 'a used workspace comes from the pool through a workspace slot' : 'a used workspace starts cold without workspace slots');
    assert.equal((await exec(sidecar.client, cold.id, ['cat', '/workspace/note'])).stdout, 'kept\n', 'its new session has the same storage');

    // The workspace adopted the pooled volume; the empty one it was created with does not linger.
    const listed = (await sidecar.client.request(P.ListWorkspacesRequest.type, {})).find((w) => w.id === workspace.id)!;
    assert.ok(await volumeExists(listed.volume));
    if (listed.volume !== workspace.volume) {
      await waitFor(`the replaced volume ${workspace.volume} to be removed`, async () => ((await volumeExists(workspace.volume)) ? undefined : true));
    }
    await sidecar.removeWorkspace(workspace.id);
  });

  it('refills to its target after a hand-out, with a new container', async () => {
    await setPool(sidecar, { 'pool.images': { [TEST_IMAGE]: 2 } });
    const ready = await settledPool(sidecar, 2);
    const workspace = await sidecar.createWorkspace('refill');
    const session = await sidecar.startSession(workspace.id);
    assert.equal(session.fromPool, true);

    const refilled = await settledPool(sidecar, 2);
    assert.ok(!refilled.includes(session.containerId!), 'the handed-out container is no longer counted as ready');
    assert.equal(refilled.filter((id) => !ready.includes(id)).length, 1, 'exactly one container was added');
    await sidecar.removeWorkspace(workspace.id);
  });

  it('serves a burst of 20 concurrent starts with a pool of 3 (the rest cold) and settles back at exactly 3', async () => {
    await setPool(sidecar, { 'pool.images': { [TEST_IMAGE]: 3 } });
    const ready = await settledPool(sidecar, 3);
    const workspaces: P.WorkspaceInfo[] = [];
    for (let i = 0; i < 20; i++) workspaces.push(await sidecar.createWorkspace(`burst-${i}`));

    const sessions = await Promise.all(workspaces.map((w) => sidecar.startSession(w.id)));
    assert.equal(new Set(sessions.map((s) => s.containerId)).size, 20, 'every session has a container of its own');
    const pooled = sessions.filter((s) => s.fromPool);
    assert.ok(pooled.length >= 1, 'some came from the pool');
    assert.ok(pooled.length < 20, 'the rest were created cold');
    for (const id of ready) assert.ok(pooled.some((s) => s.containerId === id), `ready container ${id.slice(0, 12)} was handed out`);

    const results = await Promise.all(sessions.map((s) => exec(sidecar.client, s.id, ['echo', 'ok'])));
    assert.deepEqual(results.map((r) => [r.exitCode, r.stdout]), sessions.map(() => [0, 'ok\n']), 'all 20 sessions run commands');

    const after = await settledPool(sidecar, 3);
    await sleep(1_000);
    assert.deepEqual(await sparePoolContainers(sidecar), after, 'the refill stopped at the target');
    await Promise.all(workspaces.map((w) => sidecar.removeWorkspace(w.id)));
  });

  it('grows and shrinks live when the setting changes (3 → 1 → 2), and Docker follows', async () => {
    await setPool(sidecar, { 'pool.images': { [TEST_IMAGE]: 3 } });
    const three = await settledPool(sidecar, 3);
    await setPool(sidecar, { 'pool.images': { [TEST_IMAGE]: 1 } });
    const one = await settledPool(sidecar, 1);
    assert.ok(three.includes(one[0]), 'shrinking keeps one of the ready containers instead of making a new one');
    assert.equal((await imageStatus(sidecar)).target, 1);
    await setPool(sidecar, { 'pool.images': { [TEST_IMAGE]: 2 } });
    const two = await settledPool(sidecar, 2);
    assert.ok(two.includes(one[0]), 'growing keeps the container that was ready');
    assert.equal((await imageStatus(sidecar)).target, 2);
  });

  it('is reported by `sandkasten pool status --json` and resized by `sandkasten config set pool.images`', async () => {
    await setPool(sidecar, { 'pool.images': { [TEST_IMAGE]: 1 } });
    await settledPool(sidecar, 1);
    const cliStatus = async () => {
      const result = await runCli(sidecar.home, ['pool', 'status', '--json']);
      assert.equal(result.code, 0, `pool status failed: ${result.stderr}`);
      return JSON.parse(result.stdout) as P.PoolStatus;
    };
    const shown = await cliStatus();
    assert.equal(shown.enabled, true);
    assert.deepEqual(shown.images.find((i) => i.image === TEST_IMAGE), { image: TEST_IMAGE, ready: 1, target: 1, refilling: 0 });

    const set = await runCli(sidecar.home, ['config', 'set', 'pool.images', JSON.stringify({ [TEST_IMAGE]: 2 })]);
    assert.equal(set.code, 0, `config set failed: ${set.stderr}`);
    await waitFor('the CLI to report 2 ready', async () => {
      const line = (await cliStatus()).images.find((i) => i.image === TEST_IMAGE);
      return line?.ready === 2 && line.target === 2 && line.refilling === 0 ? true : undefined;
    });
    await settledPool(sidecar, 2);
  });

  it("hands an ephemeral workspace a pooled container without any network", async () => {
    await setPool(sidecar, { 'pool.images': { [TEST_IMAGE]: 2 } });
    const ready = await settledPool(sidecar, 2);
    const ephemeral = await sidecar.createWorkspace('offline', { kind: 'ephemeral' });
    const session = await sidecar.startSession(ephemeral.id);
    assert.equal(session.fromPool, true);
    assert.ok(ready.includes(session.containerId!));

    const networks = Object.keys((await inspectContainer(session.containerId!))!.NetworkSettings.Networks ?? {});
    assert.deepEqual(networks.filter((name) => name !== 'none'), [], `no network, found: ${networks.join(', ')}`);
    const routes = await exec(sidecar.client, session.id, ['cat', '/proc/net/route']);
    assert.equal(routes.stdout.trim().split('\n').length, 1, `no route but the header:\n${routes.stdout}`);

    // The contrast: a normal workspace's pooled session keeps the configured bridge network.
    const online = await sidecar.createWorkspace('online');
    const other = await sidecar.startSession(online.id);
    assert.equal(other.fromPool, true);
    const otherRoutes = await exec(sidecar.client, other.id, ['cat', '/proc/net/route']);
    assert.ok(otherRoutes.stdout.trim().split('\n').length > 1, 'a bridged container has routes');
    await Promise.all([ephemeral, online].map((w) => sidecar.removeWorkspace(w.id)));
  });

  it('drains to 0 when pool.enabled is false', async () => {
    await setPool(sidecar, { 'pool.images': { [TEST_IMAGE]: 2 } });
    await settledPool(sidecar, 2);
    await setPool(sidecar, { 'pool.enabled': false });
    await settledPool(sidecar, 0);
    const status = await sidecar.client.request(P.PoolStatusRequest.type, {});
    assert.equal(status.enabled, false);
    assert.deepEqual(status.images.filter((i) => i.ready > 0 || i.refilling > 0), []);

    // Sessions still start, cold.
    const workspace = await sidecar.createWorkspace('no-pool');
    const session = await sidecar.startSession(workspace.id);
    assert.equal(session.fromPool, false);
    await sidecar.removeWorkspace(workspace.id);
    await setPool(sidecar, { 'pool.enabled': null, 'pool.images': null });
  });
});

describe(onEngine('the pool across the end of a sidecar'), () => {
  const sidecar = useSidecar();

  /** Pool-labelled volumes of this instance that no container of this instance mounts. */
  async function orphanPoolVolumes(): Promise<string[]> {
    const { containers, volumes } = await instanceObjects(sidecar.instanceId);
    // A container with a workspace slot has its volume bound onto the slot on the host (Docker does not know).
    const boundOntoSlots = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' '))
      .filter((fields) => (fields[4] ?? '').startsWith(`/run/sandkasten/${sidecar.instanceId}/slots/`))
      .flatMap((fields) => /\/volumes\/([^/]+)\/_data$/.exec(fields[3] ?? '')?.[1] ?? []);
    const mounted = new Set([...containers.flatMap((c) => c.Mounts.map((m) => m.Name)), ...boundOntoSlots]);
    return volumes.filter((v) => v.Labels?.['sandkasten.role'] === 'pool' && !mounted.has(v.Name)).map((v) => v.Name);
  }

  it('leaves exactly the target and no orphan after a kill -9 during a refill', async () => {
    await setPool(sidecar, { 'pool.images': { [TEST_IMAGE]: 3 } });
    await waitFor('the pool to be caught refilling with a container ready', async () => {
      const status = await imageStatus(sidecar);
      return status.ready >= 1 && status.refilling > 0 ? true : undefined;
    });
    const killed = sidecar.pid;
    await sidecar.kill9();
    const leftBehind = await instanceObjects(sidecar.instanceId);
    assert.ok(leftBehind.containers.length >= 1, 'the killed sidecar left pool containers behind for the next one to deal with');
    await sidecar.reconnect();
    assert.notEqual(sidecar.pid, killed, 'a new sidecar answers');

    const spare = await settledPool(sidecar, 3);
    const { containers } = await instanceObjects(sidecar.instanceId);
    assert.deepEqual(containers.map((c) => c.Id).sort(), spare, 'the only containers of the instance are the 3 ready ones');
    assert.deepEqual(await orphanPoolVolumes(), [], 'every pool volume is mounted by a ready container');
    const { volumes } = await instanceObjects(sidecar.instanceId);
    assert.equal(volumes.length, 3, 'one volume per ready container, nothing else');
  });

  it('is drained by a shutdown, even while it refills', async () => {
    await setPool(sidecar, { 'pool.images': { [TEST_IMAGE]: 2 } });
    await settledPool(sidecar, 2);
    await setPool(sidecar, { 'pool.images': { [TEST_IMAGE]: 4 } });
    await waitFor('the pool to refill', async () => ((await imageStatus(sidecar)).refilling > 0 ? true : undefined));
    const instanceId = sidecar.instanceId;
    await sidecar.shutdown();

    const { containers, volumes } = await instanceObjects(instanceId);
    assert.deepEqual(containers.map((c) => c.Names[0]), [], 'no pool container of the instance remains');
    assert.deepEqual(volumes.map((v) => v.Name), [], 'no pool volume of the instance remains');
    // Leave the next sidecar (started by cleanup) nothing to warm.
    await sidecar.reconnect();
    await setPool(sidecar, { 'pool.images': null });
  });
});
