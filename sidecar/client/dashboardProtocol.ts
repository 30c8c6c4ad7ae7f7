/**
 * The dashboard's live figures: what runs, what it costs, what the pool and the lifecycle do.
 * Part of the wire protocol, re-exported by protocol.ts. A client subscribes and gets the
 * last minutes at once, then an update every DASHBOARD_INTERVAL_MS with the new points only.
 * The sidecar samples only while someone is subscribed: a closed dashboard costs nothing.
 */
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';
import * as S from './schema';

/** How often the sidecar samples and sends an update while someone is subscribed. */
export const DASHBOARD_INTERVAL_MS = 2000;
/** How far back the figures go: what a subscription gets at once, and what a chart shows. */
export const DASHBOARD_HISTORY_MS = 10 * 60_000;

/** One point of a series: [time in ms since the epoch (the sidecar's clock), value]. */
export type DashboardPoint = [number, number];

/** One running (or recently running) session's use, as the engine measures it from the host. */
export interface DashboardSessionSeries {
  sessionId: string;
  workspaceId: string;
  /** The workspace's name: user text, shown as text only. */
  workspaceName: string;
  /** Percent of one CPU (100 = one core busy the whole time), over the last interval. */
  cpu: DashboardPoint[];
  /** Memory in use, in bytes, as `docker stats` counts it (page cache that can be dropped left out). */
  memory: DashboardPoint[];
  /** Its memory limit in bytes, as last read (0 when unknown). */
  memoryLimit: number;
}

/** One pool image over time. */
export interface DashboardPoolSeries {
  image: string;
  ready: DashboardPoint[];
  target: DashboardPoint[];
}

/** Commands run through the sidecar (Run Command, the CLI's exec, the HTTP API). */
export interface DashboardExecSeries {
  /** Latency of the commands that finished in the last minute: median and 95th percentile, in ms. */
  p50Ms: DashboardPoint[];
  p95Ms: DashboardPoint[];
  /** Commands finished per second over the last interval. */
  execsPerSecond: DashboardPoint[];
  /** Output relayed through the sidecar per second over the last interval (raw channels' direct pipes are not counted). */
  outputBytesPerSecond: DashboardPoint[];
}

/** A workspace's disk use as last measured (see `limits.diskMb`). */
export interface DashboardDiskUse {
  workspaceId: string;
  workspaceName: string;
  bytes: number;
  /** `limits.diskMb` in bytes: where its sessions are stopped. */
  limitBytes: number;
}

/** Something the lifecycle will do: due now (what a dry run would do), or later as scheduled. */
export interface DashboardLifecycleAction {
  action: 'freeze' | 'stop' | 'warn' | 'archive' | 'delete';
  workspaceId: string;
  workspaceName: string;
  sessionId?: string;
  /** When: now for what is due, else the scheduled time (ISO 8601). */
  at: string;
  /** Due now: the next lifecycle round does it. */
  due: boolean;
  reason: string;
}

/** The figures of one update: the points sampled since the previous one. */
export interface DashboardUpdate {
  /** When it was sampled (ms since the epoch, the sidecar's clock). */
  now: number;
  /** Sessions whose use is followed now; a series of another is history. */
  running: string[];
  sessions: DashboardSessionSeries[];
  pools: DashboardPoolSeries[];
  exec: DashboardExecSeries;
  /** Sent when measured anew (every few updates); absent: unchanged. */
  disk?: DashboardDiskUse[];
  /** Sent when looked at anew (every few updates); absent: unchanged. Soonest first. */
  lifecycle?: DashboardLifecycleAction[];
}

/** What a subscription gets at once: the last DASHBOARD_HISTORY_MS of every series. */
export interface DashboardSnapshot extends DashboardUpdate {
  intervalMs: number;
  historyMs: number;
  disk: DashboardDiskUse[];
  lifecycle: DashboardLifecycleAction[];
  /** Running sessions beyond the ones followed (the dashboard follows at most a few dozen). */
  notFollowed: number;
  /**
   * What was sampling when this subscription came: the other subscribers and the engine
   * stats streams open for them (both 0 when the dashboard was closed everywhere).
   */
  before: { subscribers: number; statsStreams: number };
}

export namespace DashboardSubscribeRequest {
  export const params = S.noParams;
  export const method = 'dashboard/subscribe';
  /**
   * The last minutes at once; then DashboardUpdateNotification on this connection every
   * DASHBOARD_INTERVAL_MS until DashboardUnsubscribeRequest or the connection closes.
   * Subscribing again on the same connection just answers a new snapshot.
   */
  export const type = new RequestType<Record<string, never>, DashboardSnapshot, void>(method);
}

export namespace DashboardUnsubscribeRequest {
  export const params = S.noParams;
  export const method = 'dashboard/unsubscribe';
  /** No more updates on this connection; the last subscriber going stops all sampling. Idempotent. */
  export const type = new RequestType<Record<string, never>, null, void>(method);
}

export namespace DashboardUpdateNotification {
  export const method = 'dashboard/update';
  /** The points sampled since the last update, to subscribed connections only. */
  export const type = new NotificationType<DashboardUpdate>(method);
}
