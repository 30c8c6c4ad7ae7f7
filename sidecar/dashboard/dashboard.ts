import {
  DASHBOARD_HISTORY_MS,
  DASHBOARD_INTERVAL_MS,
  type DashboardDiskUse,
  type DashboardLifecycleAction,
  type DashboardPoint,
  type DashboardSessionSeries,
  type DashboardSnapshot,
  type DashboardUpdate,
} from '../client/dashboardProtocol';
import type { Engine, StatsSample } from '../docker/engine';
import type { Lifecycle } from '../lifecycle/lifecycle';
import type { Pool } from '../pool';
import type { Sessions } from '../sessions';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { Repeating } from '../util/repeating';
import type { Workspaces } from '../workspaces';
import type { ExecMetrics } from './execMetrics';
import { Series } from './series';

/** Points a series keeps: the history at one point per interval. */
const SERIES_CAPACITY = Math.ceil(DASHBOARD_HISTORY_MS / DASHBOARD_INTERVAL_MS);
/** Running sessions followed at most (one engine stats stream each), the newest first: more lines than this are unreadable anyway. */
export const MAX_FOLLOWED_SESSIONS = 32;
/** Sessions kept as history (no longer followed) at most: an agent's churn of short sessions stays bounded. */
const MAX_SESSION_HISTORIES = 64;
/** Disk use and the lifecycle change slowly (disk is measured every minute): looked at every this many updates. */
const SLOW_EVERY_UPDATES = 5;
/** Latency percentiles are over the commands of the last minute: a few per interval would be noise. */
const LATENCY_WINDOW_MS = 60_000;
const MAX_DISK_ROWS = 20;
const MAX_LIFECYCLE_ROWS = 50;

/** Who gets updates: one client connection. */
export interface DashboardSubscriber {
  send(update: DashboardUpdate): void;
  /** Its connection is behind: this update is skipped for it (its charts show a gap), not queued. */
  readonly congested?: boolean;
}

export interface DashboardDependencies {
  engine: Pick<Engine, 'followStats'>;
  sessions: Pick<Sessions, 'list'>;
  workspaces: Pick<Workspaces, 'list'>;
  pool: Pick<Pool, 'status'>;
  lifecycle: Pick<Lifecycle, 'preview'>;
  execMetrics: ExecMetrics;
  /** `limits.diskMb` in bytes. */
  diskLimitBytes: () => number;
  clock: Clock;
  log: Logger;
}

/** One session's series and the engine stats stream that feeds them while it runs. */
interface SessionTrack {
  sessionId: string;
  workspaceId: string;
  workspaceName: string;
  cpu: Series;
  memory: Series;
  memoryLimit: number;
  /** Followed now: a stream is open or opening (or reopened next round after it ended). */
  followed: boolean;
  stream?: { close(): void };
  opening: boolean;
  /** Its last attempt to open a stream failed, and the log said so: said once, not every round. */
  failed?: boolean;
  /** The newest sample the stream brought; only it is kept. */
  latest?: StatsSample;
  /** The sample the last point was made of: CPU % is the difference to it. */
  used?: StatsSample;
}

/**
 * The dashboard's figures. Samples only while a client is subscribed: then every
 * DASHBOARD_INTERVAL_MS it reads running sessions' use from engine stats streams (one per
 * session, opened on the first subscriber, closed when the session stops or the last
 * subscriber goes), the pool's fill, the commands' latency and throughput, and every few
 * rounds disk use and what the lifecycle will do, and sends the new points to each
 * subscriber. History is kept in ring buffers, so a subscriber gets the last minutes at once.
 */
export class Dashboard {
  private readonly subscribers = new Set<DashboardSubscriber>();
  private readonly rounds: Repeating;
  private readonly tracks = new Map<string, SessionTrack>();
  private readonly pools = new Map<string, { ready: Series; target: Series }>();
  private readonly exec = { p50Ms: series(), p95Ms: series(), execsPerSecond: series(), outputBytesPerSecond: series() };
  private disk: DashboardDiskUse[] = [];
  private lifecycle: DashboardLifecycleAction[] = [];
  private notFollowed = 0;
  private updates = 0;
  /** The command totals at the last round, for throughput. */
  private lastTotals: { execs: number; outputBytes: number; at: number } | undefined;

  constructor(private readonly deps: DashboardDependencies) {
    this.rounds = new Repeating(deps.clock, () => DASHBOARD_INTERVAL_MS, async () => {
      const update = this.collectSafely();
      if (update) this.publish(update);
    });
  }

  /** Engine stats streams open (or opening) now. */
  get openStatsStreams(): number {
    return [...this.tracks.values()].filter((track) => track.stream || track.opening).length;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** The last minutes at once; updates follow until `unsubscribe`. Subscribing again just answers a new snapshot. */
  subscribe(subscriber: DashboardSubscriber): DashboardSnapshot {
    const before = { subscribers: this.subscribers.size - (this.subscribers.has(subscriber) ? 1 : 0), statsStreams: this.openStatsStreams };
    if (!this.subscribers.has(subscriber)) {
      this.subscribers.add(subscriber);
      if (this.subscribers.size === 1) this.startSampling();
    }
    return this.snapshot(before);
  }

  /** Idempotent; the last subscriber going stops every stream and the rounds. */
  unsubscribe(subscriber: DashboardSubscriber): void {
    if (!this.subscribers.delete(subscriber) || this.subscribers.size > 0) return;
    this.stopSampling();
  }

  /** On shutdown: no subscriber, no stream, no round. */
  dispose(): void {
    this.subscribers.clear();
    this.stopSampling();
  }

  private startSampling(): void {
    this.updates = 0;
    this.lastTotals = undefined;
    this.rounds.start();
    // A first round at once: streams open, and the snapshot has the pool, disk and lifecycle of now.
    this.collectSafely();
  }

  private stopSampling(): void {
    this.rounds.stop();
    for (const track of this.tracks.values()) this.unfollow(track);
  }

  private publish(update: DashboardUpdate): void {
    for (const subscriber of this.subscribers) {
      if (!subscriber.congested) subscriber.send(update);
    }
  }

  /** A round that failed (a bug) is logged and skipped: the next one may do better, and a subscribe still answers. */
  private collectSafely(): DashboardUpdate | undefined {
    try {
      return this.collect();
    } catch (error) {
      this.deps.log.error('dashboard: sampling failed', error);
      return undefined;
    }
  }

  /** One round: records a point per series and returns them as an update. */
  private collect(): DashboardUpdate {
    const now = this.deps.clock.now();
    const slow = this.updates++ % SLOW_EVERY_UPDATES === 0;
    const sessions = this.followSessions(now);
    const update: DashboardUpdate = { now, running: sessions.map((track) => track.sessionId), sessions: sessions.map((track) => this.sampleSession(track, now)), pools: this.samplePools(now), exec: this.sampleExec(now) };
    if (slow) {
      this.disk = this.diskUse();
      this.lifecycle = this.upcomingLifecycle(now);
      update.disk = this.disk;
      update.lifecycle = this.lifecycle;
    }
    return update;
  }

  /** Follows the running sessions (the newest MAX_FOLLOWED_SESSIONS), stops following the others; returns those followed. */
  private followSessions(now: number): SessionTrack[] {
    const running = this.deps.sessions
      .list()
      .filter((session) => (session.state === 'running' || session.state === 'paused') && session.containerId)
      .sort((a, b) => (b.startedAt ?? b.createdAt).localeCompare(a.startedAt ?? a.createdAt));
    this.notFollowed = Math.max(0, running.length - MAX_FOLLOWED_SESSIONS);
    const followed = running.slice(0, MAX_FOLLOWED_SESSIONS);
    const ids = new Set(followed.map((session) => session.id));
    for (const track of this.tracks.values()) {
      if (!ids.has(track.sessionId)) this.unfollow(track);
    }
    const tracks = followed.map((session) => {
      let track = this.tracks.get(session.id);
      if (!track) {
        track = { sessionId: session.id, workspaceId: session.workspaceId, workspaceName: session.workspaceName, cpu: series(), memory: series(), memoryLimit: 0, followed: true, opening: false };
        this.tracks.set(session.id, track);
      }
      track.workspaceName = session.workspaceName; // renamed meanwhile
      track.followed = true;
      if (!track.stream && !track.opening) this.follow(track, session.containerId!);
      return track;
    });
    this.forgetOldHistories(now);
    return tracks;
  }

  private follow(track: SessionTrack, containerId: string): void {
    track.opening = true;
    this.deps.engine
      .followStats(
        containerId,
        (sample) => {
          if (track.followed) track.latest = sample;
        },
        () => {
          // The container stopped, or the engine dropped the stream: the next round opens another while it runs.
          track.stream = undefined;
        },
      )
      .then(
        (stream) => {
          track.opening = false;
          track.failed = false;
          if (track.followed) track.stream = stream;
          else stream.close(); // no longer wanted while it opened
        },
        (error: Error) => {
          track.opening = false;
          if (track.failed) return;
          track.failed = true;
          this.deps.log.info(`dashboard: could not follow the use of session ${track.sessionId}: ${error.message}`);
        },
      );
  }

  private unfollow(track: SessionTrack): void {
    track.followed = false;
    track.stream?.close();
    track.stream = undefined;
    track.latest = undefined;
    track.used = undefined;
  }

  /** Drops sessions no longer followed whose last point is older than the history, and the oldest beyond MAX_SESSION_HISTORIES. */
  private forgetOldHistories(now: number): void {
    const histories = [...this.tracks.values()].filter((track) => !track.followed && !track.opening);
    const stale = histories.filter((track) => (track.memory.newestTime ?? Number.NEGATIVE_INFINITY) < now - DASHBOARD_HISTORY_MS);
    const excess = histories
      .filter((track) => !stale.includes(track))
      .sort((a, b) => (a.memory.newestTime ?? 0) - (b.memory.newestTime ?? 0))
      .slice(0, Math.max(0, histories.length - stale.length - MAX_SESSION_HISTORIES));
    for (const track of [...stale, ...excess]) this.tracks.delete(track.sessionId);
  }

  /** A point of memory for each new sample, and of CPU once there are two to tell apart. */
  private sampleSession(track: SessionTrack, now: number): DashboardSessionSeries {
    const points = { cpu: [] as DashboardPoint[], memory: [] as DashboardPoint[] };
    const { latest, used } = track;
    if (latest && latest !== used) {
      track.memoryLimit = latest.memoryLimit;
      points.memory.push([now, latest.memoryBytes]);
      if (used && latest.at > used.at) {
        // CPU time over wall time, both as the engine read them; a counter that went back (a restart) is no point.
        const percent = ((latest.cpuUsageUsec - used.cpuUsageUsec) / ((latest.at - used.at) * 1000)) * 100;
        if (percent >= 0) points.cpu.push([now, round(percent, 1)]);
      }
      track.used = latest;
    }
    for (const [time, value] of points.cpu) track.cpu.push(time, value);
    for (const [time, value] of points.memory) track.memory.push(time, value);
    return { sessionId: track.sessionId, workspaceId: track.workspaceId, workspaceName: track.workspaceName, memoryLimit: track.memoryLimit, ...points };
  }

  private samplePools(now: number): DashboardUpdate['pools'] {
    return this.deps.pool.status().images.map(({ image, ready, target }) => {
      let pool = this.pools.get(image);
      if (!pool) {
        pool = { ready: series(), target: series() };
        this.pools.set(image, pool);
      }
      pool.ready.push(now, ready);
      pool.target.push(now, target);
      return { image, ready: [[now, ready]], target: [[now, target]] };
    });
  }

  private sampleExec(now: number): DashboardUpdate['exec'] {
    const points: DashboardUpdate['exec'] = { p50Ms: [], p95Ms: [], execsPerSecond: [], outputBytesPerSecond: [] };
    const latency = this.deps.execMetrics.latency(LATENCY_WINDOW_MS);
    if (latency) {
      points.p50Ms.push([now, round(latency.p50, 1)]);
      points.p95Ms.push([now, round(latency.p95, 1)]);
    }
    const totals = this.deps.execMetrics.totals();
    const last = this.lastTotals;
    if (last && now > last.at) {
      const seconds = (now - last.at) / 1000;
      points.execsPerSecond.push([now, round((totals.execs - last.execs) / seconds, 2)]);
      points.outputBytesPerSecond.push([now, Math.round((totals.outputBytes - last.outputBytes) / seconds)]);
    }
    this.lastTotals = { ...totals, at: now };
    for (const key of Object.keys(points) as Array<keyof typeof points>) {
      for (const [time, value] of points[key]) this.exec[key].push(time, value);
    }
    return points;
  }

  /** The workspaces using the most disk, as last measured. */
  private diskUse(): DashboardDiskUse[] {
    const limitBytes = this.deps.diskLimitBytes();
    return this.deps.workspaces
      .list()
      .filter((workspace) => workspace.diskBytes !== undefined && workspace.state !== 'deleting')
      .sort((a, b) => b.diskBytes! - a.diskBytes!)
      .slice(0, MAX_DISK_ROWS)
      .map((workspace) => ({ workspaceId: workspace.id, workspaceName: workspace.name, bytes: workspace.diskBytes!, limitBytes }));
  }

  /** What is due now (the dry run), then what each workspace's schedule says, soonest first. */
  private upcomingLifecycle(now: number): DashboardLifecycleAction[] {
    const workspaces = this.deps.workspaces.list();
    const names = new Map(workspaces.map((workspace) => [workspace.id, workspace.name]));
    const nowIso = new Date(now).toISOString();
    const due: DashboardLifecycleAction[] = this.deps.lifecycle.preview().map((action) => ({
      action: action.action,
      workspaceId: action.workspaceId,
      workspaceName: action.workspaceName ?? names.get(action.workspaceId) ?? action.workspaceId,
      ...(action.sessionId ? { sessionId: action.sessionId } : {}),
      at: nowIso,
      due: true,
      reason: action.reason,
    }));
    const isDue = new Set(due.map((action) => `${action.workspaceId}|${action.action}`));
    const scheduled = workspaces.flatMap((workspace) => {
      const { lifecycle } = workspace;
      if (!lifecycle || workspace.state === 'deleting') return [];
      const lastUse = `not used since ${readableTime(workspace.lastAccessedAt)}`;
      const planned: DashboardLifecycleAction[] = [];
      if (lifecycle.archiveAt) planned.push({ action: 'archive', workspaceId: workspace.id, workspaceName: workspace.name, at: lifecycle.archiveAt, due: false, reason: lastUse });
      if (lifecycle.deleteAt) planned.push({ action: 'delete', workspaceId: workspace.id, workspaceName: workspace.name, at: lifecycle.deleteAt, due: false, reason: lifecycle.warning ?? lastUse });
      return planned.filter((action) => !isDue.has(`${action.workspaceId}|${action.action}`));
    });
    scheduled.sort((a, b) => a.at.localeCompare(b.at));
    return [...due, ...scheduled].slice(0, MAX_LIFECYCLE_ROWS);
  }

  private snapshot(before: DashboardSnapshot['before']): DashboardSnapshot {
    const now = this.deps.clock.now();
    const since = now - DASHBOARD_HISTORY_MS;
    const sessions = [...this.tracks.values()]
      .filter((track) => track.followed || (track.memory.newestTime ?? Number.NEGATIVE_INFINITY) >= since)
      .map((track) => ({
        sessionId: track.sessionId,
        workspaceId: track.workspaceId,
        workspaceName: track.workspaceName,
        memoryLimit: track.memoryLimit,
        cpu: track.cpu.pointsSince(since),
        memory: track.memory.pointsSince(since),
      }));
    return {
      now,
      intervalMs: DASHBOARD_INTERVAL_MS,
      historyMs: DASHBOARD_HISTORY_MS,
      running: [...this.tracks.values()].filter((track) => track.followed).map((track) => track.sessionId),
      sessions,
      pools: [...this.pools.entries()]
        .map(([image, pool]) => ({ image, ready: pool.ready.pointsSince(since), target: pool.target.pointsSince(since) }))
        .filter((pool) => pool.ready.length > 0),
      exec: {
        p50Ms: this.exec.p50Ms.pointsSince(since),
        p95Ms: this.exec.p95Ms.pointsSince(since),
        execsPerSecond: this.exec.execsPerSecond.pointsSince(since),
        outputBytesPerSecond: this.exec.outputBytesPerSecond.pointsSince(since),
      },
      disk: this.disk,
      lifecycle: this.lifecycle,
      notFollowed: this.notFollowed,
      before,
    };
  }
}

function series(): Series {
  return new Series(SERIES_CAPACITY);
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** `2025-01-01 10:00 UTC`: a time in a sentence, the same for every reader. */
function readableTime(iso: string): string {
  const time = Date.parse(iso);
  return Number.isFinite(time) ? `${new Date(time).toISOString().slice(0, 16).replace('T', ' ')} UTC` : iso;
}
