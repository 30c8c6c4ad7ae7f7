/**
 * The disk watch (issue 12): Docker's local volumes have no size limit, so the sidecar
 * measures each running workspace and acts on `limits.diskMb`.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { DiskWatch } from '../../sidecar/diskWatch';
import { makeDomain, TEST_IMAGE, type Domain } from './fakes/domain';

const MIB = 1024 * 1024;

describe('the disk watch', () => {
  let domain: Domain | undefined;
  afterEach(() => domain?.dispose());

  async function setUp() {
    domain = await makeDomain({ 'limits.diskMb': 100, 'limits.diskCheckSeconds': 30 });
    const { containers, store, sessions, workspaces, config, clock, changes } = domain;
    const logged: string[] = [];
    const watch = new DiskWatch({ containers, store, sessions, workspaces, config, clock, changes, log: { info: (m) => logged.push(m), error: (m) => logged.push(m) } });
    const workspace = await workspaces.create({ name: 'filling', image: TEST_IMAGE });
    const session = await sessions.start(workspace.id);
    const use = (volumeMb: number, containerMb = 0) => {
      domain!.engine.diskBytes.volumes.set(workspace.volume, volumeMb * MIB);
      domain!.engine.diskBytes.containers.set(session.containerId!, containerMb * MIB);
    };
    return { ...domain, watch, workspace, session, use, logged };
  }

  it('records what a workspace uses, volume and container together, for the tree and the CLI', async () => {
    const { watch, workspaces, workspace, use, sessions, session } = await setUp();
    use(30, 12);
    await watch.check();
    assert.equal(workspaces.get(workspace.id).diskBytes, 42 * MIB);
    assert.equal(workspaces.list()[0].diskBytes, 42 * MIB);
    assert.equal(sessions.get(session.id).stateReason, undefined, 'well below the limit: nothing to say');
  });

  it('warns once at 80 % of the limit, and again only after it went below', async () => {
    const { watch, use, sessions, session } = await setUp();
    use(70, 11);
    await watch.check();
    assert.match(sessions.get(session.id).stateReason ?? '', /^disk 81 % full \(81\.0 MiB of 100\.0 MiB\)/);
    assert.equal(sessions.get(session.id).state, 'running');
    use(10);
    await watch.check();
    use(85);
    await watch.check();
    assert.match(sessions.get(session.id).stateReason ?? '', /^disk 85 % full/);
  });

  it('stops the session at the limit, with the reason', async () => {
    const { watch, use, sessions, session, engine } = await setUp();
    use(90, 10);
    await watch.check();
    const stopped = sessions.get(session.id);
    assert.equal(stopped.state, 'stopped');
    assert.equal(stopped.stateReason, 'stopped: disk limit reached (100.0 MiB of 100.0 MiB)');
    assert.equal(engine.containers.get(session.containerId!)?.running, false);
  });

  it('measures on the clock, only while sessions run, and goes on after a failed measurement', async () => {
    const { watch, clock, engine, use, sessions, session, logged } = await setUp();
    use(5);
    watch.start();
    await clock.advance(30_000);
    assert.equal(engine.callsTo('diskUsage').length, 1);
    engine.available = false;
    await clock.advance(30_000);
    assert.match(logged.join('\n'), /could not measure disk use/);
    engine.available = true;
    await sessions.stop(session.id);
    const before = engine.callsTo('diskUsage').length;
    await clock.advance(60_000);
    assert.equal(engine.callsTo('diskUsage').length, before, 'nothing runs: nothing to measure');
    watch.stop();
  });

  it('asks again when the engine is busy measuring for someone else (Docker before 23 refuses a second caller)', async () => {
    const { watch, clock, engine, use, sessions, session, logged } = await setUp();
    use(95);
    engine.failNext('diskUsage', new Error('disk usage failed: a disk usage operation is already running'), 3);
    const round = watch.check();
    for (let pause = 0; pause < 3; pause++) await clock.advance(500);
    await round;
    assert.equal(engine.callsTo('diskUsage').length, 4, 'three refusals, then a measurement');
    assert.match(sessions.get(session.id).stateReason ?? '', /^disk 95 % full/);
    assert.doesNotMatch(logged.join('\n'), /could not measure/);
  });

  it('gives a busy engine up after a bounded number of tries, and any other failure at once', async () => {
    const { watch, clock, engine, use, logged } = await setUp();
    use(95);
    engine.failNext('diskUsage', new Error('a disk usage operation is already running'), 11);
    const round = watch.check();
    for (let pause = 0; pause < 20; pause++) await clock.advance(500);
    await round;
    assert.equal(engine.callsTo('diskUsage').length, 11, 'the first try and ten more');
    assert.match(logged.join('\n'), /could not measure disk use: a disk usage operation is already running/);
    engine.failNext('diskUsage', new Error('permission denied'));
    const before = engine.callsTo('diskUsage').length;
    await watch.check();
    assert.equal(engine.callsTo('diskUsage').length, before + 1, 'no second try for other failures');
  });
});
