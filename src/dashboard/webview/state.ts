/**
 * What the dashboard webview knows: a snapshot, then each update's new points appended and
 * the points older than the history dropped. Pure, so it is tested without a browser.
 */
import type {
  DashboardDiskUse,
  DashboardExecSeries,
  DashboardLifecycleAction,
  DashboardPoint,
  DashboardPoolSeries,
  DashboardSessionSeries,
  DashboardSnapshot,
  DashboardUpdate,
} from '../../../sidecar/client/dashboardProtocol';

export interface DashboardView {
  now: number;
  intervalMs: number;
  historyMs: number;
  running: Set<string>;
  sessions: Map<string, DashboardSessionSeries>;
  pools: Map<string, DashboardPoolSeries>;
  exec: DashboardExecSeries;
  disk: DashboardDiskUse[];
  lifecycle: DashboardLifecycleAction[];
  notFollowed: number;
}

/** The view of a snapshot (copied: later updates never change the message it came in). */
export function viewOf(snapshot: DashboardSnapshot): DashboardView {
  return {
    now: snapshot.now,
    intervalMs: snapshot.intervalMs,
    historyMs: snapshot.historyMs,
    running: new Set(snapshot.running),
    sessions: new Map(snapshot.sessions.map((session) => [session.sessionId, { ...session, cpu: [...session.cpu], memory: [...session.memory] }])),
    pools: new Map(snapshot.pools.map((pool) => [pool.image, { ...pool, ready: [...pool.ready], target: [...pool.target] }])),
    exec: copyExec(snapshot.exec),
    disk: snapshot.disk,
    lifecycle: snapshot.lifecycle,
    notFollowed: snapshot.notFollowed,
  };
}

/** Appends an update's points, forgets what fell out of the history, and returns the view. */
export function applyUpdate(view: DashboardView, update: DashboardUpdate): DashboardView {
  const since = update.now - view.historyMs;
  view.now = update.now;
  view.running = new Set(update.running);
  for (const session of update.sessions) {
    const known = view.sessions.get(session.sessionId);
    if (!known) {
      view.sessions.set(session.sessionId, { ...session, cpu: [...session.cpu], memory: [...session.memory] });
      continue;
    }
    known.workspaceName = session.workspaceName;
    known.memoryLimit = session.memoryLimit || known.memoryLimit;
    known.cpu.push(...session.cpu);
    known.memory.push(...session.memory);
  }
  for (const pool of update.pools) {
    const known = view.pools.get(pool.image);
    if (!known) view.pools.set(pool.image, { ...pool, ready: [...pool.ready], target: [...pool.target] });
    else {
      known.ready.push(...pool.ready);
      known.target.push(...pool.target);
    }
  }
  for (const key of Object.keys(view.exec) as Array<keyof DashboardExecSeries>) view.exec[key].push(...update.exec[key]);
  if (update.disk) view.disk = update.disk;
  if (update.lifecycle) view.lifecycle = update.lifecycle;

  for (const [id, session] of view.sessions) {
    session.cpu = recent(session.cpu, since);
    session.memory = recent(session.memory, since);
    if (!view.running.has(id) && session.memory.length === 0) view.sessions.delete(id);
  }
  for (const [image, pool] of view.pools) {
    pool.ready = recent(pool.ready, since);
    pool.target = recent(pool.target, since);
    if (pool.ready.length === 0) view.pools.delete(image);
  }
  for (const key of Object.keys(view.exec) as Array<keyof DashboardExecSeries>) view.exec[key] = recent(view.exec[key], since);
  return view;
}

/** The charts show at least this much time, so a young dashboard's first points are not a sliver. */
export const SHORTEST_WINDOW_MS = 2 * 60_000;

/**
 * The time the charts span: back to the oldest point there is (at least SHORTEST_WINDOW_MS),
 * at most the whole history; it grows as the dashboard stays open.
 */
export function chartWindow(view: DashboardView): { from: number; to: number } {
  const series = [
    ...[...view.sessions.values()].flatMap((session) => [session.cpu, session.memory]),
    ...[...view.pools.values()].map((pool) => pool.ready),
    ...Object.values(view.exec),
  ];
  const oldest = Math.min(view.now, ...series.filter((points) => points.length > 0).map((points) => points[0][0]));
  return { from: Math.max(view.now - view.historyMs, Math.min(oldest, view.now - SHORTEST_WINDOW_MS)), to: view.now };
}

function recent(points: DashboardPoint[], since: number): DashboardPoint[] {
  const first = points.findIndex(([time]) => time >= since);
  return first === 0 ? points : first < 0 ? [] : points.slice(first);
}

function copyExec(exec: DashboardExecSeries): DashboardExecSeries {
  return { p50Ms: [...exec.p50Ms], p95Ms: [...exec.p95Ms], execsPerSecond: [...exec.execsPerSecond], outputBytesPerSecond: [...exec.outputBytesPerSecond] };
}
