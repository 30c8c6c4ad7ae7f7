import type { WorkspaceEvent, WorkspaceEventKind } from '../client/protocol';
import { isoTime } from '../util/clock';
import type { Database } from './database';

/** Events kept per workspace; older ones go as new ones come. */
const EVENTS_PER_WORKSPACE = 200;
/**
 * Guests coming, going and being turned away are kept apart, fewer of them: anyone with a
 * share's link can make many, and they must never push out what the host and the lifecycle
 * did (a role change, a removal, an archive).
 */
const GUEST_KINDS: readonly WorkspaceEventKind[] = ['joined', 'left', 'refused'];
const GUEST_EVENTS_PER_WORKSPACE = 100;
const GUEST_KIND_LIST = GUEST_KINDS.map((kind) => `'${kind}'`).join(', ');

/**
 * The `workspace_events` table: every lifecycle transition of a workspace (kind, time,
 * reason), kept after the workspace is gone so its history says why. Nothing here commits.
 */
export class EventStore {
  constructor(private readonly db: Database) {}

  append(workspaceId: string, kind: WorkspaceEventKind, reason: string, at: number): void {
    this.db.run('INSERT INTO workspace_events (workspace_id, at, kind, reason) VALUES (?, ?, ?, ?)', [workspaceId, at, kind, reason]);
    // Only the events of the same group (guests' or the rest) make room for this one.
    const group = GUEST_KINDS.includes(kind) ? `kind IN (${GUEST_KIND_LIST})` : `kind NOT IN (${GUEST_KIND_LIST})`;
    this.db.run(
      `DELETE FROM workspace_events WHERE workspace_id = ? AND ${group} AND seq <= (
         SELECT seq FROM workspace_events WHERE workspace_id = ? AND ${group} ORDER BY seq DESC LIMIT 1 OFFSET ?)`,
      [workspaceId, workspaceId, GUEST_KINDS.includes(kind) ? GUEST_EVENTS_PER_WORKSPACE : EVENTS_PER_WORKSPACE],
    );
  }

  /** Newest first. */
  list(workspaceId: string, limit = EVENTS_PER_WORKSPACE + GUEST_EVENTS_PER_WORKSPACE): WorkspaceEvent[] {
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
