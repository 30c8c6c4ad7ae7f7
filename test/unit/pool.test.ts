import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { ConfigValues } from '../../sidecar/client/protocol';
import { ConfigStore } from '../../sidecar/config';
import { LABEL } from '../../sidecar/docker/engine';
import { imageMissing } from '../../sidecar/errors';
import { Pool } from '../../sidecar/pool';
import { Changes } from '../../sidecar/util/changes';
import { eventually, FakeClock, settle } from './fakes/clock';
import { fakeContainers } from './fakes/domain';
import { FakeEngine } from './fakes/engine';

const IMAGE = 'debian:bookworm-slim';
const OTHER_IMAGE = 'alpine:3';
/** Pool timings the tests step over (see pool.ts). */
const REFILL_DELAY_MS = 250;
const RETRY_AFTER_FAILURE_MS = 10_000;
const JANITOR_INTERVAL_MS = 30_000;
const DRAIN_POLL_MS = 50;

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

/** A pool over the fake engine, with the settings given, not started. */
async function makePool(settings: ConfigValues = { 'pool.images': { [IMAGE]: 2 } }) {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-pool-'));
  directories.push(directory);
  const config = await ConfigStore.open(path.join(directory, 'config.json'));
  await config.set(settings);
  const engine = new FakeEngine({ images: [IMAGE, OTHER_IMAGE] });
  const clock = new FakeClock();
  const changes = new Changes();
  const containers = fakeContainers(engine, config, clock, directory);
  /** What sessions and workspaces hold: a pool object handed out is theirs. */
  const owned = { containers: new Set<string>(), volumes: new Set<string>() };
  const errors: string[] = [];
  const pool = new Pool({
    containers,
    config,
    clock,
    changes,
    log: { info: () => undefined, error: (message) => errors.push(message) },
    owned: { container: (id) => owned.containers.has(id), volume: (name) => owned.volumes.has(name) },
  });
  const imageStatus = (image = IMAGE) => pool.status().images.find((entry) => entry.image === image);
  const ready = (image = IMAGE) => imageStatus(image)?.ready ?? 0;
  /** Settled: as many ready as the target, nothing being made. */
  const full = (image = IMAGE) => {
    const status = imageStatus(image);
    return (status?.ready ?? 0) === (status?.target ?? 0) && (status?.refilling ?? 0) === 0;
  };
  /** Takes a ready container as a session would: it becomes theirs. */
  const takeForSession = (image = IMAGE) => {
    const entry = pool.take(image);
    if (entry) {
      owned.containers.add(entry.containerId);
      owned.volumes.add(entry.volume);
    }
    return entry;
  };
  return { pool, engine, clock, config, changes, owned, errors, ready, full, imageStatus, takeForSession };
}

describe('pool', () => {
  it('fills each image to its target on start: running containers, each with its own volume and a shell', async () => {
    const { pool, engine, full, ready } = await makePool({ 'pool.images': { [IMAGE]: 3 } });
    await pool.start();
    await eventually(() => full(), 'the pool to fill');

    assert.equal(ready(), 3);
    const pooled = engine.containersWithRole('pool');
    assert.equal(pooled.length, 3);
    for (const container of pooled) {
      assert.equal(container.running, true);
      assert.equal(container.image, IMAGE);
      assert.deepEqual(
        container.mounts.map((mount) => [mount.source, mount.target]),
        [[container.name, '/workspace']],
        'the volume shares the container name',
      );
      assert.ok(engine.volumes.get(container.name)?.labels[LABEL.role] === 'pool');
      assert.equal(engine.shellsOf(container.id).filter((shell) => shell.alive).length, 1, 'the main shell is attached');
    }
  });

  it('refills to its target after a burst of takes, not beyond', async () => {
    const { pool, engine, clock, changes, full, ready, imageStatus, takeForSession } = await makePool({ 'pool.images': { [IMAGE]: 3 } });
    let highest = 0;
    changes.subscribe(() => {
      const status = imageStatus();
      if (status) highest = Math.max(highest, status.ready + status.refilling);
    });
    await pool.start();
    await eventually(() => full(), 'the pool to fill');

    const taken = [takeForSession(), takeForSession(), takeForSession()];
    assert.ok(taken.every((entry) => entry !== undefined));
    assert.equal(new Set(taken.map((entry) => entry!.containerId)).size, 3, 'each take hands out a different container');
    assert.equal(ready(), 0);

    await clock.advance(REFILL_DELAY_MS);
    await eventually(() => full() && ready() === 3, 'the pool to refill');
    await clock.advance(JANITOR_INTERVAL_MS * 2); // later refills and the janitor change nothing
    await settle();

    assert.equal(ready(), 3);
    assert.equal(engine.callsTo('createContainer').length, 6, 'three to fill, three to refill');
    assert.equal(engine.containersWithRole('pool').length, 6, 'three ready and the three handed out');
    assert.ok(highest <= 3, `ready + refilling reached ${highest}`);
  });

  it('hands out nothing and never waits when it is empty', async () => {
    const { pool, engine, full, ready } = await makePool({ 'pool.images': { [IMAGE]: 1 } });
    assert.equal(pool.take(IMAGE), undefined, 'before start');

    const creating = engine.hold('createContainer');
    await pool.start();
    await settle();
    assert.equal(pool.status().images[0].refilling, 1);
    assert.equal(pool.take(IMAGE), undefined, 'while the first container is still being made');
    assert.equal(pool.take(OTHER_IMAGE), undefined, 'an image without a pool');

    creating.release();
    await eventually(() => full() && ready() === 1, 'the pool to fill');
    const entry = pool.take(IMAGE);
    assert.ok(entry);
    assert.equal(entry.image, IMAGE);
    assert.equal(entry.shell.isAlive, true);
    assert.equal(engine.containers.get(entry.containerId)?.running, true);
    assert.equal(pool.take(IMAGE), undefined, 'the only one is gone');
  });

  it('recycles every ready container when a setting that shapes containers changes', async () => {
    const { pool, engine, config, full, ready } = await makePool({ 'pool.images': { [IMAGE]: 2 } });
    await pool.start();
    await eventually(() => full(), 'the pool to fill');
    const before = engine.containersWithRole('pool').map((container) => container.id);

    await config.set({ 'limits.memoryMb': 2048 });
    await eventually(() => full() && ready() === 2 && !before.some((id) => engine.containers.has(id)), 'the pool to be recycled');

    const after = engine.containersWithRole('pool');
    assert.equal(after.length, 2);
    assert.ok(after.every((container) => container.spec?.memoryMb === 2048));
    assert.deepEqual(engine.volumesWithRole('pool').sort(), after.map((container) => container.name).sort(), 'the old volumes went with their containers');
  });

  it('keeps its containers when a setting that does not shape containers changes', async () => {
    const { pool, engine, config, full } = await makePool({ 'pool.images': { [IMAGE]: 2 } });
    await pool.start();
    await eventually(() => full(), 'the pool to fill');
    const before = engine.containersWithRole('pool').map((container) => container.id);

    await config.set({ idleShutdownSeconds: 60, defaultImage: 'ubuntu:24.04' });
    await settle();

    assert.deepEqual(
      engine.containersWithRole('pool').map((container) => container.id),
      before,
    );
    assert.equal(engine.callsTo('createContainer').length, 2);
  });

  it('recycles a container that was being made with the old settings when they changed', async () => {
    const { pool, engine, config, full } = await makePool({ 'pool.images': { [IMAGE]: 1 } });
    const creating = engine.hold('createContainer');
    await pool.start();
    await settle();

    await config.set({ 'limits.memoryMb': 2048 });
    creating.release();
    await eventually(() => full(), 'the pool to fill');
    await settle();

    assert.deepEqual(
      engine.containersWithRole('pool').map((container) => container.spec?.memoryMb),
      [2048],
    );
  });

  it('grows and shrinks with pool.images, per image, and empties when disabled', async () => {
    const { pool, engine, config, full, ready } = await makePool({ 'pool.images': { [IMAGE]: 1 } });
    await pool.start();
    await eventually(() => full(), 'the pool to fill');

    await config.set({ 'pool.images': { [IMAGE]: 3, [OTHER_IMAGE]: 1 } });
    await eventually(() => full(IMAGE) && full(OTHER_IMAGE) && ready(IMAGE) === 3, 'the pool to grow');
    assert.equal(ready(OTHER_IMAGE), 1);
    assert.equal(engine.containersWithRole('pool').length, 4);

    await config.set({ 'pool.images': { [IMAGE]: 1 } });
    await eventually(() => engine.containersWithRole('pool').length === 1, 'the pool to shrink');
    assert.equal(ready(IMAGE), 1);
    assert.equal(ready(OTHER_IMAGE), 0);
    assert.deepEqual(
      engine.volumesWithRole('pool'),
      engine.containersWithRole('pool').map((container) => container.name),
      'the surplus volumes are gone too',
    );
    assert.deepEqual(
      pool.status().images.map((entry) => entry.image),
      [IMAGE],
      'an image with nothing left is not listed',
    );

    await config.set({ 'pool.enabled': false });
    await eventually(() => engine.containersWithRole('pool').length === 0, 'the pool to empty');
    assert.equal(pool.status().enabled, false);
    assert.deepEqual(engine.volumesWithRole('pool'), []);
  });

  it('removes every ready container and volume on drain, keeps what it handed out, and stops refilling', async () => {
    const { pool, engine, clock, full, takeForSession } = await makePool({ 'pool.images': { [IMAGE]: 2 } });
    await pool.start();
    await eventually(() => full(), 'the pool to fill');
    const handedOut = takeForSession()!;

    await pool.drain();
    assert.deepEqual(
      engine.containersWithRole('pool').map((container) => container.id),
      [handedOut.containerId],
    );
    assert.deepEqual(engine.volumesWithRole('pool'), [handedOut.volume]);

    const creates = engine.callsTo('createContainer').length;
    await clock.advance(REFILL_DELAY_MS + JANITOR_INTERVAL_MS * 2);
    assert.equal(engine.callsTo('createContainer').length, creates, 'nothing is made after a drain');
    assert.equal(pool.take(IMAGE), undefined);
  });

  it('waits on drain for a container being made and removes it with its volume', async () => {
    const { pool, engine, clock } = await makePool({ 'pool.images': { [IMAGE]: 1 } });
    const creating = engine.hold('createContainer');
    await pool.start();
    await settle();

    let drained = false;
    const draining = pool.drain().then(() => (drained = true));
    await clock.advance(DRAIN_POLL_MS * 3);
    assert.equal(drained, false, 'the creation in flight is not finished yet');

    creating.release();
    await settle();
    await clock.advance(DRAIN_POLL_MS);
    await draining;
    assert.deepEqual(engine.containersWithRole('pool'), []);
    assert.deepEqual(engine.volumesWithRole('pool'), []);
  });

  it('removes leftover pool containers and volumes nobody owns when it starts', async () => {
    const { pool, engine, owned } = await makePool({ 'pool.images': {} });
    const leftoverName = `sandkasten-${engine.instanceId}-pool-leftover`;
    engine.addVolume(leftoverName, { role: 'pool' });
    const leftover = engine.addContainer({ name: leftoverName, role: 'pool', mounts: [{ type: 'volume', source: leftoverName, target: '/workspace' }] });
    engine.addVolume('pool-volume-alone', { role: 'pool' });
    // Handed out before a restart: a session's container and a workspace's volume now.
    const adoptedName = `sandkasten-${engine.instanceId}-pool-adopted`;
    engine.addVolume(adoptedName, { role: 'pool' });
    const adopted = engine.addContainer({ name: adoptedName, role: 'pool', mounts: [{ type: 'volume', source: adoptedName, target: '/workspace' }] });
    owned.containers.add(adopted);
    owned.volumes.add(adoptedName);
    const otherInstance = engine.addContainer({ name: 'sandkasten-other-pool-x', role: 'pool', labels: { [LABEL.instance]: 'other' } });
    engine.addVolume('a-workspace-volume', { role: 'workspace', workspaceId: 'w-1' });

    await pool.start();

    assert.equal(engine.containers.has(leftover), false);
    assert.equal(engine.volumes.has(leftoverName), false, 'its volume goes after it');
    assert.equal(engine.volumes.has('pool-volume-alone'), false);
    assert.equal(engine.containers.has(adopted), true);
    assert.equal(engine.volumes.has(adoptedName), true);
    assert.equal(engine.containers.has(otherInstance), true, "another instance's container is not ours to remove");
    assert.equal(engine.volumes.has('a-workspace-volume'), true);
  });

  it('spares on its rounds the containers it is making and the ones it handed out', async () => {
    const { pool, engine, clock, full, takeForSession } = await makePool({ 'pool.images': { [IMAGE]: 1 } });
    await pool.start();
    await eventually(() => full(), 'the pool to fill');
    const handedOut = takeForSession()!;
    await clock.advance(REFILL_DELAY_MS);
    const creating = engine.hold('createContainer');
    await eventually(() => engine.callsTo('createContainer').length === 2, 'the refill to begin');

    await clock.advance(JANITOR_INTERVAL_MS);
    creating.release();
    await eventually(() => full(), 'the refill to finish');

    assert.equal(engine.containers.has(handedOut.containerId), true);
    assert.equal(engine.containersWithRole('pool').length, 2);
    assert.equal(engine.volumesWithRole('pool').length, 2);
  });

  it('keeps a container that finishes while a round lists Docker', async () => {
    const { pool, engine, clock, full, ready, takeForSession } = await makePool({ 'pool.images': { [IMAGE]: 1 } });
    await pool.start();
    await eventually(() => full(), 'the pool to fill');
    takeForSession();
    const creating = engine.hold('createContainer');
    await clock.advance(REFILL_DELAY_MS);
    await eventually(() => engine.callsTo('createContainer').length === 2, 'the refill to begin');

    const listing = engine.hold('listOwnContainers');
    await clock.advance(JANITOR_INTERVAL_MS); // the round starts and waits for Docker's answer
    creating.release();
    await eventually(() => ready() === 1, 'the refill to finish');
    const warmed = engine.containersWithRole('pool').at(-1)!.id;
    listing.release();
    await settle();

    assert.equal(engine.containers.has(warmed), true, 'the warmed container is still there');
    assert.equal(engine.callsTo('createContainer').length, 2, 'and was not replaced');
  });

  it('pulls the image when Docker says it is missing, and creates the container again', async () => {
    const { pool, engine, full, ready } = await makePool({ 'pool.images': { [IMAGE]: 1 } });
    engine.failNext('createContainer', imageMissing(`No such image: ${IMAGE}`));
    await pool.start();
    await eventually(() => full() && ready() === 1, 'the pool to fill');

    assert.equal(engine.callsTo('createContainer').length, 2);
    const methods = engine.calls.map((call) => call.method);
    const failedCreate = methods.indexOf('createContainer');
    assert.ok(methods.indexOf('ensureImage', failedCreate) > failedCreate, 'the image is pulled between the two tries');
    assert.equal(engine.containersWithRole('pool').length, 1);
  });

  it('reports a failed creation, removes its volume, and tries again after a pause', async () => {
    const { pool, engine, clock, errors, full, ready, imageStatus } = await makePool({ 'pool.images': { [IMAGE]: 1 } });
    engine.failNext('createContainer', new Error('no space left on device\nmore detail'));
    await pool.start();
    await eventually(() => imageStatus()?.error !== undefined, 'the failure to show');

    assert.match(imageStatus()!.error!, /Could not warm a container of debian:bookworm-slim: no space left on device$/);
    assert.equal(errors.length, 1);
    assert.deepEqual(engine.volumesWithRole('pool'), [], 'the volume made for it is gone');
    assert.equal(ready(), 0);

    await clock.advance(RETRY_AFTER_FAILURE_MS);
    await eventually(() => full() && ready() === 1, 'the retry to fill the pool');
    assert.equal(imageStatus()!.error, undefined);
  });

  it('replaces a ready container that disappeared', async () => {
    const { pool, engine, full, ready } = await makePool({ 'pool.images': { [IMAGE]: 1 } });
    await pool.start();
    await eventually(() => full(), 'the pool to fill');
    const [gone] = engine.containersWithRole('pool');

    engine.vanish(gone.id);
    await eventually(() => full() && ready() === 1 && engine.containersWithRole('pool').length === 1, 'the pool to replace it');

    assert.notEqual(engine.containersWithRole('pool')[0].id, gone.id);
    assert.equal(engine.volumes.has(gone.name), false, 'its volume is removed');
    assert.notEqual(pool.take(IMAGE)?.containerId, gone.id);
  });
});
