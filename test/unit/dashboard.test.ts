/**
 * The dashboard's figures (issue 18): ring buffers, percentiles, the command recorder, the
 * parser of Docker's stats stream and the sampler, with a fake clock and a fake engine. The
 * sampler must cost nothing while nobody watches and close every stream it opened.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DASHBOARD_HISTORY_MS, DASHBOARD_INTERVAL_MS, type DashboardUpdate, type LifecycleActionInfo, type PoolStatus, type SessionInfo, type WorkspaceInfo } from '../../sidecar/client/protocol';
import { Dashboard, MAX_FOLLOWED_SESSIONS, type DashboardSubscriber } from '../../sidecar/dashboard/dashboard';
import { ExecMetrics } from '../../sidecar/dashboard/execMetrics';
import { Exec } from '../../sidecar/exec/exec';
import { CapturedOutput } from '../../sidecar/exec/sinks';
import { percentile, Series } from '../../sidecar/dashboard/series';
import { parseStatsStream } from '../../sidecar/docker/dockerEngine';
import type { StatsSample } from '../../sidecar/docker/engine';
import { FAKE_EPOCH_MS, FakeClock, settle } from './fakes/clock';
import { makeDomain } from './fakes/domain';
import { FakeEngine } from './fakes/engine';

const MIB = 1024 * 1024;

describe('a series (ring buffer)', () => {
  it('keeps the newest points up to its capacity, oldest first', () => {
    const series = new Series(3);
    for (let time = 1; time <= 5; time++) series.push(time, time * 10);
    assert.equal(series.length, 3);
    assert.deepEqual(series.pointsSince(0), [
      [3, 30],
      [4, 40],
      [5, 50],
    ]);
    assert.equal(series.newestTime, 5);
  });

  it('gives the points from a time on, and nothing when empty', () => {
    const series = new Series(10);
    assert.deepEqual(series.pointsSince(0), []);
    assert.equal(series.newestTime, undefined);
    for (let time = 1; time <= 4; time++) series.push(time, time);
    assert.deepEqual(series.pointsSince(3), [
      [3, 3],
      [4, 4],
    ]);
  });

  it('refuses a capacity that holds no point', () => {
    assert.throws(() => new Series(0), RangeError);
    assert.throws(() => new Series(1.5), RangeError);
  });
});

describe('percentiles (nearest rank)', () => {
  it('are always one of the values', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(hundred, 0.5), 50);
    assert.equal(percentile(hundred, 0.95), 95);
    assert.equal(percentile([7], 0.95), 7, 'the p95 of one command is that command');
    assert.equal(percentile([1, 2, 300], 0.95), 300);
    assert.equal(percentile([1, 2, 300], 0), 1);
  });

  it('of nothing are undefined', () => {
    assert.equal(percentile([], 0.5), undefined);
  });
});

describe('the command recorder', () => {
  it('gives p50 and p95 of the commands of the window only, and running totals', async () => {
    const clock = new FakeClock();
    const metrics = new ExecMetrics(clock);
    assert.equal(metrics.latency(60_000), undefined, 'no command yet: no latency');
    metrics.record(1000, 10);
    await clock.advance(61_000);
    for (const ms of [10, 20, 30, 40]) metrics.record(ms, 100);
    assert.deepEqual(metrics.latency(60_000), { p50: 20, p95: 40, count: 4 }, 'the command of over a minute ago is out');
    assert.deepEqual(metrics.totals(), { execs: 5, outputBytes: 410 });
  });

  it('stays bounded however many commands finish, using the newest', () => {
    const clock = new FakeClock();
    const metrics = new ExecMetrics(clock);
    for (let i = 0; i < 10_000; i++) metrics.record(i < 5000 ? 1 : 9, 0);
    const latency = metrics.latency(60_000)!;
    assert.equal(latency.count, 4096);
    assert.equal(latency.p50, 9, 'only the newest commands are kept');
    assert.equal(metrics.totals().execs, 10_000);
  });

  it('hears of every command Exec finishes, with the output it relayed', async () => {
    const domain = await makeDomain();
    try {
      const { engine, clock, sessions, workspaces, store, shells } = domain;
      const metrics = new ExecMetrics(clock);
      const exec = new Exec({ engine, sessions, workspaces, store, shells, clock, onFinished: (ms, bytes) => metrics.record(ms, bytes) });
      engine.script = () => ({ stdout: 'twelve bytes', stderr: 'four', exitCode: 3 });
      const session = await sessions.start((await workspaces.create({ name: 'counted' })).id);
      await exec.run({ sessionId: session.id, line: 'make' }, new CapturedOutput('utf8'));
      await exec.run({ sessionId: session.id, line: 'make' }, new CapturedOutput('utf8'));
      assert.deepEqual(metrics.totals(), { execs: 2, outputBytes: 32 }, 'a failing command counts too: it ran');
      await assert.rejects(exec.run({ sessionId: 'ses-nope', line: 'make' }, new CapturedOutput('utf8')));
      assert.equal(metrics.totals().execs, 2, 'a command that never ran is not counted');
    } finally {
      domain.dispose();
    }
  });

  it('takes no negative time or size', () => {
    const metrics = new ExecMetrics(new FakeClock());
    metrics.record(-5, -10);
    assert.deepEqual(metrics.latency(1000), { p50: 0, p95: 0, count: 1 });
    assert.deepEqual(metrics.totals(), { execs: 1, outputBytes: 0 });
  });
});

describe("the parser of Docker's stats stream", () => {
  const line = (fields: object) => Buffer.from(`${JSON.stringify(fields)}\n`);
  const dockerSample = {
    read: '2025-01-01T00:00:02.500000000Z',
    memory_stats: { usage: 50 * MIB, limit: 1024 * MIB, stats: { inactive_file: 8 * MIB } },
    cpu_stats: { cpu_usage: { total_usage: 3_000_000_000 } },
    pids_stats: { current: 4 },
  };

  it('reads samples split across chunks, memory without droppable page cache', () => {
    const samples: StatsSample[] = [];
    const feed = parseStatsStream((sample) => samples.push(sample));
    const bytes = line(dockerSample);
    feed(bytes.subarray(0, 17));
    assert.equal(samples.length, 0, 'half a line is no sample');
    feed(Buffer.concat([bytes.subarray(17), line({ ...dockerSample, memory_stats: { usage: MIB, stats: { total_inactive_file: 2 * MIB } } })]));
    assert.deepEqual(samples[0], { at: Date.parse('2025-01-01T00:00:02.500Z'), memoryBytes: 42 * MIB, memoryLimit: 1024 * MIB, cpuUsageUsec: 3_000_000, pids: 4 });
    assert.equal(samples[1].memoryBytes, 0, 'cgroup v1 spelling; never below zero');
  });

  it('skips what is not a sample, and drops a line longer than any of Docker', () => {
    const samples: StatsSample[] = [];
    const feed = parseStatsStream((sample) => samples.push(sample), () => 1234);
    feed(Buffer.from('not json\nnull\n"text"\n'));
    feed(Buffer.from('{"memory_stats":'.padEnd(300 * 1024, ' ')));
    feed(Buffer.from('1}\n'));
    assert.equal(samples.length, 0);
    feed(line({ read: '0001-01-01T00:00:00Z', memory_stats: { usage: 'lots' }, cpu_stats: { cpu_usage: { total_usage: -1 } } }));
    assert.deepEqual(samples, [{ at: 1234, memoryBytes: 0, memoryLimit: 0, cpuUsageUsec: 0, pids: 0 }], "Docker's year-1 time means no reading: the local time; nonsense counts are 0");
  });
});

/** A session as the store lists it. */
function session(id: string, name: string, containerId: string | null, startedAt = '2025-01-01T00:00:00.000Z', state: SessionInfo['state'] = 'running'): SessionInfo {
  return { id, workspaceId: `${name}-0000000${id.slice(-1)}`, workspaceName: name, image: 'img', state, containerId, createdAt: startedAt, startedAt, stoppedAt: null, fromPool: false };
}

function workspace(id: string, name: string, extra: Partial<WorkspaceInfo> = {}): WorkspaceInfo {
  return {
    id,
    name,
    kind: 'persistent',
    image: 'img',
    description: '',
    tags: [],
    pinned: false,
    state: 'suspended',
    volume: `v-${id}`,
    createdAt: '2024-12-01T00:00:00.000Z',
    lastAccessedAt: '2024-12-01T00:00:00.000Z',
    stats: { sessions: 0, commands: 0, runTimeMs: 0 },
    ...extra,
  };
}

/** The dashboard over a fake engine and clock, with sessions, workspaces, pool and lifecycle a test sets. */
function setUp() {
  const clock = new FakeClock();
  const engine = new FakeEngine();
  const execMetrics = new ExecMetrics(clock);
  const world = {
    sessions: [] as SessionInfo[],
    workspaces: [] as WorkspaceInfo[],
    pool: { enabled: true, images: [] } as PoolStatus,
    due: [] as LifecycleActionInfo[],
    /** The pool's status throws: a bug somewhere a round reaches. */
    brokenPool: false,
  };
  const logged: string[] = [];
  const dashboard = new Dashboard({
    engine,
    sessions: { list: () => world.sessions },
    workspaces: { list: () => world.workspaces },
    pool: {
      status: () => {
        if (world.brokenPool) throw new Error('a bug');
        return world.pool;
      },
    },
    lifecycle: { preview: () => world.due },
    execMetrics,
    diskLimitBytes: () => 100 * MIB,
    clock,
    log: { info: (message) => logged.push(message), error: (message) => logged.push(message) },
  });
  /** A running session with a container the engine knows. */
  const run = (id: string, name: string, startedAt?: string) => {
    const containerId = engine.addContainer({ name: `c-${id}`, role: 'session', running: true });
    world.sessions.push(session(id, name, containerId, startedAt));
    return containerId;
  };
  const subscriber = () => {
    const updates: DashboardUpdate[] = [];
    const value: DashboardSubscriber & { updates: DashboardUpdate[]; congested: boolean } = { updates, congested: false, send: (update) => void updates.push(update) };
    return value;
  };
  /** One engine reading: `cpuSeconds` of CPU time so far at `atMs` after the epoch. */
  const reading = (cpuSeconds: number, atMs: number, memoryBytes = 10 * MIB): StatsSample => ({ at: FAKE_EPOCH_MS + atMs, cpuUsageUsec: cpuSeconds * 1_000_000, memoryBytes, memoryLimit: 512 * MIB, pids: 3 });
  return { clock, engine, execMetrics, world, dashboard, run, subscriber, reading, logged };
}

describe('the dashboard', () => {
  it('samples nothing and opens no stream while nobody is subscribed', async () => {
    const { clock, engine, run, dashboard } = setUp();
    run('ses-1', 'api');
    await clock.advance(60_000);
    assert.equal(clock.pendingTimers, 0, 'no round is scheduled');
    assert.equal(engine.callsTo('followStats').length, 0);
    assert.equal(dashboard.openStatsStreams, 0);
  });

  it('follows each running session from the first subscriber on, and sends CPU % and memory every interval', async () => {
    const { clock, engine, run, dashboard, subscriber, reading } = setUp();
    const container = run('ses-1', 'api');
    const watcher = subscriber();
    const snapshot = dashboard.subscribe(watcher);
    assert.deepEqual(snapshot.before, { subscribers: 0, statsStreams: 0 });
    assert.deepEqual(snapshot.running, ['ses-1']);
    assert.equal(snapshot.intervalMs, DASHBOARD_INTERVAL_MS);
    await settle();
    assert.equal(engine.openStatsStreams, 1);

    engine.emitStats(container, reading(1, 0));
    await clock.advance(DASHBOARD_INTERVAL_MS);
    assert.equal(watcher.updates.length, 1);
    const first = watcher.updates[0].sessions[0];
    assert.deepEqual(first.memory, [[FAKE_EPOCH_MS + DASHBOARD_INTERVAL_MS, 10 * MIB]]);
    assert.deepEqual(first.cpu, [], 'one reading tells no CPU share yet');
    assert.equal(first.workspaceName, 'api');
    assert.equal(first.memoryLimit, 512 * MIB);

    // 1.5 s of CPU time in 2 s of wall time: 75 % of one CPU.
    engine.emitStats(container, reading(2, 1000, 12 * MIB));
    engine.emitStats(container, reading(2.5, 2000, 14 * MIB));
    await clock.advance(DASHBOARD_INTERVAL_MS);
    const second = watcher.updates[1].sessions[0];
    assert.deepEqual(second.cpu, [[FAKE_EPOCH_MS + 2 * DASHBOARD_INTERVAL_MS, 75]]);
    assert.deepEqual(second.memory, [[FAKE_EPOCH_MS + 2 * DASHBOARD_INTERVAL_MS, 14 * MIB]], 'only the newest reading counts');

    await clock.advance(DASHBOARD_INTERVAL_MS);
    assert.deepEqual(watcher.updates[2].sessions[0].cpu, [], 'no new reading: no point (a gap, not a made-up value)');
    dashboard.dispose();
  });

  it('closes every stream and stops its rounds when the last subscriber goes, and keeps the history', async () => {
    const { clock, engine, run, dashboard, subscriber, reading } = setUp();
    const container = run('ses-1', 'api');
    const [first, second] = [subscriber(), subscriber()];
    dashboard.subscribe(first);
    await settle();
    assert.deepEqual(dashboard.subscribe(second).before, { subscribers: 1, statsStreams: 1 }, 'one stream per session, however many watch');
    assert.equal(engine.openStatsStreams, 1);
    engine.emitStats(container, reading(1, 0));
    await clock.advance(DASHBOARD_INTERVAL_MS);

    dashboard.unsubscribe(first);
    assert.equal(engine.openStatsStreams, 1, 'another subscriber still watches');
    dashboard.unsubscribe(second);
    dashboard.unsubscribe(second);
    assert.equal(engine.openStatsStreams, 0);
    assert.equal(clock.pendingTimers, 0);
    const updatesSoFar = second.updates.length;
    await clock.advance(10 * DASHBOARD_INTERVAL_MS);
    assert.equal(second.updates.length, updatesSoFar, 'no update after unsubscribing');

    const again = dashboard.subscribe(subscriber());
    assert.deepEqual(again.before, { subscribers: 0, statsStreams: 0 });
    assert.deepEqual(again.sessions[0].memory, [[FAKE_EPOCH_MS + DASHBOARD_INTERVAL_MS, 10 * MIB]], 'the history of before is there at once');
    dashboard.dispose();
    assert.equal(engine.openStatsStreams, 0);
  });

  it('closes a stream that was still opening when it stopped being wanted', async () => {
    const { engine, run, dashboard, subscriber } = setUp();
    run('ses-1', 'api');
    const opening = engine.hold('followStats');
    const watcher = subscriber();
    dashboard.subscribe(watcher);
    assert.equal(dashboard.openStatsStreams, 1, 'opening counts as open');
    dashboard.unsubscribe(watcher);
    opening.release();
    await settle();
    assert.equal(engine.openStatsStreams, 0);
    assert.equal(dashboard.openStatsStreams, 0);
  });

  it("stops following a session that stopped, keeps its line as history, and reopens a stream the engine ended while it runs", async () => {
    const { clock, engine, world, run, dashboard, subscriber, reading } = setUp();
    const first = run('ses-1', 'api');
    const second = run('ses-2', 'web');
    const watcher = subscriber();
    dashboard.subscribe(watcher);
    await settle();
    engine.emitStats(first, reading(1, 0));
    engine.emitStats(second, reading(1, 0));
    await clock.advance(DASHBOARD_INTERVAL_MS);
    assert.equal(engine.openStatsStreams, 2);

    world.sessions[0] = { ...world.sessions[0], state: 'stopped' };
    engine.endStats(second); // e.g. the engine restarted its stats collector
    await clock.advance(DASHBOARD_INTERVAL_MS);
    assert.deepEqual(watcher.updates.at(-1)!.running, ['ses-2']);
    await settle();
    assert.equal(engine.callsTo('followStats').filter(([id]) => id === second).length, 2, "the ended stream of a running session is opened again");
    assert.equal(engine.openStatsStreams, 1, 'the stopped session is not followed');
    const snapshot = dashboard.subscribe(subscriber());
    assert.deepEqual(
      snapshot.sessions.map((s) => [s.workspaceName, s.memory.length]),
      [
        ['api', 1],
        ['web', 1],
      ],
      'the stopped session stays as history',
    );
    assert.deepEqual(snapshot.running, ['ses-2']);

    await clock.advance(DASHBOARD_HISTORY_MS + DASHBOARD_INTERVAL_MS);
    assert.deepEqual(
      dashboard.subscribe(subscriber()).sessions.map((s) => s.workspaceName),
      ['web'],
      'history older than the window is forgotten',
    );
    dashboard.dispose();
  });

  it(`follows at most ${MAX_FOLLOWED_SESSIONS} sessions, the newest, and says how many more run`, async () => {
    const { engine, run, dashboard, subscriber } = setUp();
    for (let i = 0; i < MAX_FOLLOWED_SESSIONS + 3; i++) run(`ses-${String(i).padStart(3, '0')}`, `w${i}`, new Date(FAKE_EPOCH_MS - (1000 - i) * 1000).toISOString());
    const snapshot = dashboard.subscribe(subscriber());
    await settle();
    assert.equal(engine.openStatsStreams, MAX_FOLLOWED_SESSIONS);
    assert.equal(snapshot.notFollowed, 3);
    assert.ok(!snapshot.running.includes('ses-000'), 'the oldest are left out');
    assert.ok(snapshot.running.includes(`ses-${String(MAX_FOLLOWED_SESSIONS + 2).padStart(3, '0')}`));
    dashboard.dispose();
  });

  it('skips an update for a subscriber whose connection is behind', async () => {
    const { clock, dashboard, subscriber } = setUp();
    const [slow, fast] = [subscriber(), subscriber()];
    dashboard.subscribe(slow);
    dashboard.subscribe(fast);
    slow.congested = true;
    await clock.advance(DASHBOARD_INTERVAL_MS);
    slow.congested = false;
    await clock.advance(DASHBOARD_INTERVAL_MS);
    assert.equal(fast.updates.length, 2);
    assert.equal(slow.updates.length, 1);
    dashboard.dispose();
  });

  it("records the pool's ready and target per image, and command latency and throughput", async () => {
    const { clock, world, execMetrics, dashboard, subscriber } = setUp();
    world.pool = { enabled: true, images: [{ image: 'debian:bookworm-slim', ready: 1, target: 3, refilling: 2 }] };
    const watcher = subscriber();
    dashboard.subscribe(watcher);
    world.pool = { enabled: true, images: [{ image: 'debian:bookworm-slim', ready: 3, target: 3, refilling: 0 }] };
    for (const ms of [10, 30, 50, 70]) execMetrics.record(ms, 1000);
    await clock.advance(DASHBOARD_INTERVAL_MS);
    const update = watcher.updates[0];
    assert.deepEqual(update.pools, [{ image: 'debian:bookworm-slim', ready: [[FAKE_EPOCH_MS + DASHBOARD_INTERVAL_MS, 3]], target: [[FAKE_EPOCH_MS + DASHBOARD_INTERVAL_MS, 3]] }]);
    const at = FAKE_EPOCH_MS + DASHBOARD_INTERVAL_MS;
    assert.deepEqual(update.exec, { p50Ms: [[at, 30]], p95Ms: [[at, 70]], execsPerSecond: [[at, 2]], outputBytesPerSecond: [[at, 2000]] });

    const snapshot = dashboard.subscribe(subscriber());
    assert.deepEqual(
      snapshot.pools[0].ready.map(([, value]) => value),
      [1, 3],
      'the first round at subscribe time and the one after',
    );
    dashboard.dispose();
  });

  it('lists disk use, largest first, and the lifecycle: what is due now, then what is scheduled, soonest first', async () => {
    const { clock, world, dashboard, subscriber } = setUp();
    world.workspaces = [
      workspace('small-00000001', 'small', { diskBytes: 1 * MIB }),
      workspace('big-00000002', 'big', { diskBytes: 90 * MIB, lifecycle: { archiveAt: '2025-01-20T00:00:00.000Z', deleteAt: '2025-02-01T00:00:00.000Z' } }),
      workspace('unmeasured-00000003', 'unmeasured', { lifecycle: { deleteAt: '2025-01-03T00:00:00.000Z', warning: 'Deleted on 3 January unless used.' } }),
      workspace('stale-00000004', 'stale', { lifecycle: { deleteAt: '2024-12-31T00:00:00.000Z' } }),
    ];
    world.due = [{ action: 'delete', workspaceId: 'stale-00000004', workspaceName: 'stale', reason: 'unused for 30 days' }];
    const snapshot = dashboard.subscribe(subscriber());
    assert.deepEqual(snapshot.disk, [
      { workspaceId: 'big-00000002', workspaceName: 'big', bytes: 90 * MIB, limitBytes: 100 * MIB },
      { workspaceId: 'small-00000001', workspaceName: 'small', bytes: 1 * MIB, limitBytes: 100 * MIB },
    ]);
    assert.deepEqual(
      snapshot.lifecycle.map((a) => [a.action, a.workspaceName, a.due, a.at]),
      [
        ['delete', 'stale', true, new Date(FAKE_EPOCH_MS).toISOString()],
        ['delete', 'unmeasured', false, '2025-01-03T00:00:00.000Z'],
        ['archive', 'big', false, '2025-01-20T00:00:00.000Z'],
        ['delete', 'big', false, '2025-02-01T00:00:00.000Z'],
      ],
      'the due delete is not listed twice',
    );
    assert.equal(snapshot.lifecycle[1].reason, 'Deleted on 3 January unless used.');
    assert.equal(snapshot.lifecycle[2].reason, 'not used since 2024-12-01 00:00 UTC');

    const watcher = subscriber();
    dashboard.subscribe(watcher);
    await clock.advance(DASHBOARD_INTERVAL_MS);
    assert.equal(watcher.updates[0].disk, undefined, 'disk and lifecycle are looked at every few rounds, not every one');
    dashboard.dispose();
  });

  it('logs a round that failed, still answers the subscribe, and goes on sampling', async () => {
    const { clock, world, dashboard, subscriber, logged } = setUp();
    world.brokenPool = true;
    const watcher = subscriber();
    const snapshot = dashboard.subscribe(watcher);
    assert.deepEqual(snapshot.pools, []);
    assert.match(logged.join('\n'), /dashboard: sampling failed/);
    world.brokenPool = false;
    await clock.advance(DASHBOARD_INTERVAL_MS);
    assert.equal(watcher.updates.length, 1, 'the rounds went on');
    dashboard.dispose();
  });

  it('says (once) why it could not follow a session, and tries again next round', async () => {
    const { clock, engine, world, dashboard, subscriber, logged } = setUp();
    world.sessions.push(session('ses-9', 'gone', 'no-such-container'));
    dashboard.subscribe(subscriber());
    await settle();
    assert.match(logged.join('\n'), /could not follow the use of session ses-9/);
    await clock.advance(DASHBOARD_INTERVAL_MS);
    assert.equal(engine.callsTo('followStats').length, 2);
    assert.equal(engine.openStatsStreams, 0);
    assert.equal(logged.length, 1, 'said once, not every round');
    dashboard.dispose();
  });
});
