import type { Origin, SessionInfo, SessionState } from '../client/protocol';
import { isoTime } from '../util/clock';
import type { Database } from './database';

interface SessionRow {
  id: string;
  workspace_id: string;
  workspace_name: string;
  container_id: string | null;
  image: string;
  state: SessionState;
  from_pool: number;
  created_at: number;
  started_at: number | null;
  stopped_at: number | null;
  state_reason: string | null;
  origin: Origin | null;
  expires_at: number | null;
  frozen_at: number | null;
}

/** Sessions of workspaces that are not being deleted, with their workspace's name. */
const SELECT_SESSIONS = `SELECT s.*, w.name AS workspace_name FROM sessions s JOIN workspaces w ON w.id = s.workspace_id
  WHERE w.state != 'deleting'`;

export interface NewSession {
  id: string;
  workspaceId: string;
  containerId: string;
  image: string;
  fromPool: boolean;
  origin?: Origin;
  /** When an API session's lease ends (see ApiLeases); none for others. */
  expiresAt?: number;
  now: number;
}

/** The `sessions` table. Nothing here commits (see WorkspaceStore). */
export class SessionStore {
  constructor(private readonly db: Database) {}

  list(workspaceId?: string): SessionInfo[] {
    const rows =
      workspaceId === undefined
        ? this.db.all<SessionRow>(`${SELECT_SESSIONS} ORDER BY s.created_at, s.id`)
        : this.db.all<SessionRow>(`${SELECT_SESSIONS} AND s.workspace_id = ? ORDER BY s.created_at, s.id`, [workspaceId]);
    return rows.map(toSessionInfo);
  }

  get(id: string): SessionInfo | undefined {
    const row = this.db.get<SessionRow>(`${SELECT_SESSIONS} AND s.id = ?`, [id]);
    return row && toSessionInfo(row);
  }

  /** The workspace's most recently stopped session, the one a start resumes. */
  lastStoppedOf(workspaceId: string): string | undefined {
    return this.db.get<{ id: string }>(`SELECT id FROM sessions WHERE workspace_id = ? AND state = 'stopped' ORDER BY stopped_at DESC LIMIT 1`, [workspaceId])?.id;
  }

  insertRunning(session: NewSession): void {
    this.db.run(
      `INSERT INTO sessions (id, workspace_id, container_id, image, state, from_pool, origin, expires_at, created_at, started_at)
       VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)`,
      [session.id, session.workspaceId, session.containerId, session.image, session.fromPool ? 1 : 0, session.origin ?? null, session.expiresAt ?? null, session.now, session.now],
    );
  }

  markStarted(id: string, containerId: string, now: number): void {
    this.db.run(`UPDATE sessions SET state = 'running', container_id = ?, started_at = ?, stopped_at = NULL, state_reason = NULL, frozen_at = NULL WHERE id = ?`, [
      containerId,
      now,
      id,
    ]);
  }

  /** The image its next container runs (a workspace's image changed). */
  setImage(id: string, image: string): void {
    this.db.run('UPDATE sessions SET image = ? WHERE id = ?', [image, id]);
  }

  /** Moves an API session's lease end (see ApiLeases). */
  setLease(id: string, expiresAt: number): void {
    this.db.run('UPDATE sessions SET expires_at = ? WHERE id = ?', [expiresAt, id]);
  }

  /** Sessions whose lease ended by `now`, soonest first. */
  leasesEndedBy(now: number): string[] {
    return this.db.all<{ id: string }>('SELECT id FROM sessions WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at', [now]).map((row) => row.id);
  }

  /** The session whose container this is, if any. */
  byContainer(containerId: string): SessionInfo | undefined {
    const row = this.db.get<SessionRow>(`${SELECT_SESSIONS} AND s.container_id = ?`, [containerId]);
    return row && toSessionInfo(row);
  }

  /** Frozen, or thawed (back to running), by someone else; `reason` says by whom. */
  markPaused(id: string, paused: boolean, reason: string | null): void {
    this.db.run(`UPDATE sessions SET state = ?, state_reason = ?, frozen_at = NULL WHERE id = ?`, [paused ? 'paused' : 'running', reason, id]);
  }

  /** Frozen by the lifecycle after idle time (thawed by the next use: markPaused(id, false, null)). */
  markFrozen(id: string, now: number, reason: string): void {
    this.db.run(`UPDATE sessions SET state = 'paused', state_reason = ?, frozen_at = ? WHERE id = ?`, [reason, now, id]);
  }

  /**
   * Marks the session stopped (forgetting its container when it is gone) and returns what it
   * was, so the caller can account its run time; undefined when there is no such session.
   */
  markStopped(id: string, now: number, containerGone: boolean, reason: string | null = null): { workspaceId: string; ranSince: number | undefined } | undefined {
    const row = this.db.get<{ workspace_id: string; state: SessionState; started_at: number | null }>(
      'SELECT workspace_id, state, started_at FROM sessions WHERE id = ?',
      [id],
    );
    if (!row) return undefined;
    this.db.run(
      `UPDATE sessions SET state = 'stopped', stopped_at = ?, container_id = CASE WHEN ? THEN NULL ELSE container_id END, state_reason = ?, frozen_at = NULL WHERE id = ?`,
      [now, containerGone ? 1 : 0, reason, id],
    );
    const ran = (row.state === 'running' || row.state === 'paused') && row.started_at;
    return { workspaceId: row.workspace_id, ranSince: ran ? row.started_at! : undefined };
  }

  /** Notes what happened to a live session's container (a process killed for memory); its state stays. */
  noteReason(id: string, reason: string): void {
    this.db.run(`UPDATE sessions SET state_reason = ? WHERE id = ?`, [reason, id]);
  }

  /** Found running in Docker although the database said otherwise (reconciliation). */
  markFoundRunning(id: string, reason: string | null = null): void {
    this.db.run(`UPDATE sessions SET state = 'running', stopped_at = NULL, state_reason = ?, frozen_at = NULL WHERE id = ?`, [reason, id]);
  }

  /** The database lost track of the session's container (reconciliation), or a stopped one's container was removed (null). */
  setContainer(id: string, containerId: string | null): void {
    this.db.run('UPDATE sessions SET container_id = ? WHERE id = ?', [containerId, id]);
  }

  delete(id: string): void {
    this.db.run('DELETE FROM sessions WHERE id = ?', [id]);
  }

  /** Sessions whose container runs (a paused one counts: it holds its memory and processes). */
  countRunning(workspaceId: string): number {
    return this.db.get<{ count: number }>(`SELECT COUNT(*) AS count FROM sessions WHERE workspace_id = ? AND state IN ('running', 'paused')`, [workspaceId])!.count;
  }

  /** Sessions the database believes have a running (or paused) container: what events and re-lists check. */
  listLive(): SessionInfo[] {
    return this.db.all<SessionRow>(`${SELECT_SESSIONS} AND s.state IN ('running', 'paused') AND s.container_id IS NOT NULL`).map(toSessionInfo);
  }

  /** Sessions that are not stopped (running or starting). */
  countActive(workspaceId: string): number {
    return this.db.get<{ count: number }>(`SELECT COUNT(*) AS count FROM sessions WHERE workspace_id = ? AND state != 'stopped'`, [workspaceId])!.count;
  }

  idsOf(workspaceId: string): string[] {
    return this.db.all<{ id: string }>('SELECT id FROM sessions WHERE workspace_id = ?', [workspaceId]).map((row) => row.id);
  }

  containerIdsOf(workspaceId: string): string[] {
    return this.db
      .all<{ container_id: string }>('SELECT container_id FROM sessions WHERE workspace_id = ? AND container_id IS NOT NULL', [workspaceId])
      .map((row) => row.container_id);
  }

  ownsContainer(containerId: string): boolean {
    return this.db.get('SELECT 1 FROM sessions WHERE container_id = ?', [containerId]) !== undefined;
  }

  /** What reconciliation compares with Docker: every session, of any workspace. */
  listForReconciliation(): Array<{ id: string; workspaceId: string; containerId: string | null; state: string }> {
    return this.db.all('SELECT id, workspace_id AS workspaceId, container_id AS containerId, state FROM sessions');
  }
}

function toSessionInfo(row: SessionRow): SessionInfo {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    workspaceName: row.workspace_name,
    image: row.image,
    state: row.state,
    containerId: row.container_id,
    createdAt: isoTime(row.created_at)!,
    startedAt: isoTime(row.started_at),
    stoppedAt: isoTime(row.stopped_at),
    fromPool: row.from_pool === 1,
    ...(row.state_reason ? { stateReason: row.state_reason } : {}),
    ...(row.origin ? { origin: row.origin } : {}),
    ...(row.expires_at !== null ? { expiresAt: isoTime(row.expires_at)! } : {}),
    ...(row.frozen_at !== null ? { frozenAt: isoTime(row.frozen_at)! } : {}),
  };
}
