import type { Origin, WorkspaceFilter, WorkspaceInfo, WorkspaceKind, WorkspaceState } from '../client/protocol';
import { isoTime } from '../util/clock';
import type { Database } from './database';

interface WorkspaceRow {
  id: string;
  name: string;
  kind: WorkspaceKind;
  image: string;
  description: string;
  tags: string;
  pinned: number;
  state: WorkspaceState;
  volume: string;
  host_network: number;
  origin: Origin | null;
  created_at: number;
  last_accessed_at: number;
  sessions_count: number;
  commands_count: number;
  run_time_ms: number;
  warned_at: number | null;
}

export interface NewWorkspace {
  id: string;
  name: string;
  kind: WorkspaceKind;
  image: string;
  description: string;
  tags: string[];
  volume: string;
  hostNetwork: boolean;
  origin?: Origin;
  now: number;
  /** `created` (an empty volume) unless it is born with files (a clone, an import): then `suspended`. */
  state?: 'created' | 'suspended';
}

/** Usage to add to a workspace's statistics, and optionally its new state. */
export interface WorkspaceAccess {
  sessions?: number;
  commands?: number;
  runTimeMs?: number;
  state?: WorkspaceState;
}

/**
 * The `workspaces` table. Nothing here commits: the domain decides when a change must be
 * durable (Database.commit) and what the rules are.
 */
export class WorkspaceStore {
  /**
   * Rows made into (frozen) WorkspaceInfo once and kept until their row changes: a list of
   * ten thousand then costs an index walk for the ids, not ten thousand conversions. Every
   * change goes through this class, which forgets the row it changes; an undo of the whole
   * database (a failed append) forgets them all.
   */
  private readonly cache = new Map<string, WorkspaceInfo>();

  /** When each workspace in its warning period was first warned (few: read once, kept in step). */
  private warned = new Map<string, number>();

  constructor(private readonly db: Database) {
    this.loadWarned();
    db.onReset(() => {
      this.cache.clear();
      this.loadWarned();
    });
  }

  private loadWarned(): void {
    const rows = this.db.all<{ id: string; warned_at: number }>('SELECT id, warned_at FROM workspaces WHERE warned_at IS NOT NULL');
    this.warned = new Map(rows.map((row) => [row.id, row.warned_at]));
  }

  /** When the workspace's current warning period began; undefined when it is not in one. */
  warnedAt(id: string): number | undefined {
    return this.warned.get(id);
  }

  /** A warning was given (the first of a period sets its start). */
  markWarned(id: string, now: number): void {
    if (this.warned.has(id)) return;
    this.changed(id);
    this.db.run('UPDATE workspaces SET warned_at = ? WHERE id = ?', [now, id]);
    this.warned.set(id, now);
  }

  /** Pinning ends a warning period too: once unpinned, a workspace is warned afresh before it goes. */
  setPinned(id: string, pinned: boolean): void {
    this.changed(id);
    this.warned.delete(id);
    this.db.run('UPDATE workspaces SET pinned = ?, warned_at = NULL WHERE id = ?', [pinned ? 1 : 0, id]);
  }

  /** A new kind ends a warning period too: the new kind's policy warns afresh. */
  setKind(id: string, kind: WorkspaceKind): void {
    this.changed(id);
    this.warned.delete(id);
    this.db.run('UPDATE workspaces SET kind = ?, warned_at = NULL WHERE id = ?', [kind, id]);
  }

  setImage(id: string, image: string): void {
    this.changed(id);
    this.db.run('UPDATE workspaces SET image = ? WHERE id = ?', [image, id]);
  }

  setState(id: string, state: WorkspaceState): void {
    this.changed(id);
    this.db.run('UPDATE workspaces SET state = ? WHERE id = ?', [state, id]);
  }

  /** Every workspace but those being deleted, oldest first. */
  list(): WorkspaceInfo[] {
    return this.byIds(this.db.column<string>(`SELECT id FROM workspaces WHERE state != 'deleting' ORDER BY created_at, id`));
  }

  /** The workspaces of these ids, in this order: cached ones as they are, the others read in batches. */
  private byIds(ids: string[]): WorkspaceInfo[] {
    const missing = ids.filter((id) => !this.cache.has(id));
    for (let at = 0; at < missing.length; at += READ_BATCH) {
      const batch = missing.slice(at, at + READ_BATCH);
      const rows = this.db.all<WorkspaceRow>(`SELECT * FROM workspaces WHERE id IN (${batch.map(() => '?').join(', ')})`, batch);
      for (const row of rows) this.cache.set(row.id, toWorkspaceInfo(row));
    }
    return ids.flatMap((id) => this.cache.get(id) ?? []);
  }

  private changed(id: string): void {
    this.cache.delete(id);
  }

  /**
   * Up to `limit` workspaces the filter matches, oldest first, after the position `after`
   * (keyset paging on the (created_at, id) index: stable while rows come and go), and how
   * many match in all.
   */
  page(filter: WorkspaceFilter, after: WorkspacePosition | undefined, limit: number, options: { count: boolean } = { count: true }): WorkspaceRowsPage {
    const { where, params } = filterClause(filter);
    const total = options.count ? this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM workspaces WHERE ${where}`, params)!.n : undefined;
    const afterClause = after ? ' AND (created_at, id) > (?, ?)' : '';
    // One more than asked: whether another page follows, without a second query.
    const rows = this.db.all<{ id: string; created_at: number }>(`SELECT id, created_at FROM workspaces WHERE ${where}${afterClause} ORDER BY created_at, id LIMIT ?`, [
      ...params,
      ...(after ? [after.createdAt, after.id] : []),
      limit + 1,
    ]);
    const last = rows.length > limit ? rows[limit - 1] : undefined;
    return {
      workspaces: this.byIds(rows.slice(0, limit).map((row) => row.id)),
      ...(last ? { next: { createdAt: last.created_at, id: last.id } } : {}),
      ...(total !== undefined ? { total } : {}),
    };
  }

  /** Also returns a workspace being deleted (its state says so). */
  get(id: string): WorkspaceInfo | undefined {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const row = this.db.get<WorkspaceRow>('SELECT * FROM workspaces WHERE id = ?', [id]);
    if (!row) return undefined;
    const workspace = toWorkspaceInfo(row);
    this.cache.set(id, workspace);
    return workspace;
  }

  insert(workspace: NewWorkspace): void {
    this.changed(workspace.id);
    this.db.run(
      `INSERT INTO workspaces (id, name, kind, image, description, tags, state, volume, host_network, origin, created_at, last_accessed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        workspace.id,
        workspace.name,
        workspace.kind,
        workspace.image,
        workspace.description,
        JSON.stringify(workspace.tags),
        workspace.state ?? 'created',
        workspace.volume,
        workspace.hostNetwork ? 1 : 0,
        workspace.origin ?? null,
        workspace.now,
        workspace.now,
      ],
    );
  }

  rename(id: string, name: string): void {
    this.changed(id);
    this.db.run('UPDATE workspaces SET name = ? WHERE id = ?', [name, id]);
  }

  markDeleting(id: string): void {
    this.changed(id);
    this.db.run(`UPDATE workspaces SET state = 'deleting' WHERE id = ?`, [id]);
  }

  /** The workspace adopted another (equally empty) volume: a pooled one. */
  setVolume(id: string, volume: string): void {
    this.changed(id);
    this.db.run('UPDATE workspaces SET volume = ? WHERE id = ?', [volume, id]);
  }

  /** Removes the workspace and its sessions (terminals follow by cascade) in one transaction. */
  deleteWithSessions(id: string): void {
    this.changed(id);
    this.warned.delete(id);
    this.db.transaction(() => {
      this.db.run('DELETE FROM sessions WHERE workspace_id = ?', [id]);
      this.db.run('DELETE FROM workspaces WHERE id = ?', [id]);
    });
  }

  /** Use ends a warning period. */
  recordAccess(id: string, now: number, access: WorkspaceAccess): void {
    this.changed(id);
    this.warned.delete(id);
    this.db.run(
      `UPDATE workspaces SET last_accessed_at = ?, sessions_count = sessions_count + ?, commands_count = commands_count + ?,
         run_time_ms = run_time_ms + ?, state = COALESCE(?, state), warned_at = NULL WHERE id = ?`,
      [now, access.sessions ?? 0, access.commands ?? 0, Math.round(access.runTimeMs ?? 0), access.state ?? null, id],
    );
  }

  ownsVolume(volume: string): boolean {
    return this.db.get('SELECT 1 FROM workspaces WHERE volume = ?', [volume]) !== undefined;
  }

  /** What reconciliation compares with Docker: every workspace, being deleted or not. */
  listForReconciliation(): Array<{ id: string; volume: string; state: string }> {
    return this.db.all('SELECT id, volume, state FROM workspaces');
  }
}

/** Where a page ends: the last workspace's creation time (ms) and id. */
export interface WorkspacePosition {
  createdAt: number;
  id: string;
}

export interface WorkspaceRowsPage {
  workspaces: WorkspaceInfo[];
  /** Where the next page starts; absent on the last. */
  next?: WorkspacePosition;
  total?: number;
}

/** The filter as SQL over the indexed columns; a name prefix as a range, so the name index serves it. */
function filterClause(filter: WorkspaceFilter): { where: string; params: Array<string | number> } {
  const conditions = ["state != 'deleting'"];
  const params: Array<string | number> = [];
  const add = (condition: string, ...values: Array<string | number>) => {
    conditions.push(condition);
    params.push(...values);
  };
  if (filter.kind) add('kind = ?', filter.kind);
  if (filter.state) add('state = ?', filter.state);
  if (filter.namePrefix) add('name >= ? AND name < ?', filter.namePrefix, `${filter.namePrefix}\uffff`);
  if (filter.tag) add('EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?)', filter.tag);
  if (filter.warned) add('warned_at IS NOT NULL');
  return { where: conditions.join(' AND '), params };
}

/** Rows read per query when many are not cached (well within SQLite's parameter limit). */
const READ_BATCH = 500;

/** Frozen: the object is shared by every list that returns it until its row changes. */
function toWorkspaceInfo(row: WorkspaceRow): WorkspaceInfo {
  const tags = Object.freeze(JSON.parse(row.tags) as string[]) as string[];
  const stats = Object.freeze({ sessions: row.sessions_count, commands: row.commands_count, runTimeMs: row.run_time_ms });
  return Object.freeze({
    id: row.id,
    name: row.name,
    kind: row.kind,
    image: row.image,
    description: row.description,
    tags,
    pinned: row.pinned === 1,
    state: row.state,
    volume: row.volume,
    ...(row.host_network === 1 ? { hostNetwork: true } : {}),
    ...(row.origin ? { origin: row.origin } : {}),
    createdAt: isoTime(row.created_at)!,
    lastAccessedAt: isoTime(row.last_accessed_at)!,
    stats,
  });
}
