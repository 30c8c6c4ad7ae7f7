import type { WorkspaceEvent, WorkspaceEventKind } from '../client/protocol';
import { isoTime } from '../util/clock';
import type { Database } from './database';

/** Events kept per workspace; older ones go as new ones come. */
const EVENTS_PER_WORKSPACE = 200;

/**
 * The `workspace_events` table: every lifecycle transition of a workspace (kind, time,
 * reason), kept after the workspace is gone so its history says why. Nothing here commits.
 */
export class EventStore {
  constructor(private readonly db: Database) {}

  append(workspaceId: string, kind: WorkspaceEventKind, reason: string, at: number): void {
    this.db.run('INSERT INTO workspace_events (workspace_id, at, kind, reason) VALUES (?, ?, ?, ?)', [workspaceId, at, kind, reason]);
    this.db.run(
      `DELETE FROM workspace_events WHERE workspace_id = ? AND seq <= (
         SELECT seq FROM workspace_events WHERE workspace_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`,
      [workspaceId, workspaceId, EVENTS_PER_WORKSPACE],
    );
  }

  /** Newest first. */
  list(workspaceId: string, limit = EVENTS_PER_WORKSPACE): WorkspaceEvent[] {
    return this.db
      .all<{ at: number; kind: WorkspaceEventKind; reason: string }>('SELECT at, kind, reason FROM workspace_events WHERE workspace_id = ? ORDER BY seq DESC LIMIT ?', [workspaceId, limit])
      .map((row) => ({ at: isoTime(row.at)!, kind: row.kind, reason: row.reason }));
  }

  /** Forgets the history of workspaces deleted before `before` (a deleted one's stays a while: it says why it went). */
  pruneDeleted(before: number): void {
    this.db.run(
      `DELETE FROM workspace_events WHERE workspace_id NOT IN (SELECT id FROM workspaces)
         AND workspace_id NOT IN (SELECT workspace_id FROM workspace_events WHERE at >= ?)`,
      [before],
    );
  }

  /** When the workspace last had an event of this kind. */
  lastOf(workspaceId: string, kind: WorkspaceEventKind): number | undefined {
    return this.db.get<{ at: number }>('SELECT at FROM workspace_events WHERE workspace_id = ? AND kind = ? ORDER BY seq DESC LIMIT 1', [workspaceId, kind])?.at;
  }
}
