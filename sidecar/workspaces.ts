import type { Changes } from './util/changes';
import { isoTime, type Clock } from './util/clock';
import type { ConfigStore } from './config';
import { LABEL, type DockerEngine } from './docker/engine';
import { conflict, invalidInput, notFound, SandkastenError } from './errors';
import { cryptoRandomHex, newWorkspaceId, workspaceNameProblem, type RandomHex } from './client/ids';
import type { KeyedLock } from './util/keyedLock';
import { WORKSPACE_KINDS, type CreateWorkspaceParams, type WorkspaceInfo, type WorkspaceKind, type WorkspaceState } from './client/protocol';
import type { Database } from './store/database';

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
  created_at: number;
  last_accessed_at: number;
  sessions_count: number;
  commands_count: number;
  run_time_ms: number;
}

const MAX_DESCRIPTION_LENGTH = 1000;
const MAX_TAGS = 32;

export interface WorkspaceDependencies {
  db: Database;
  docker: DockerEngine;
  config: ConfigStore;
  clock: Clock;
  changes: Changes;
  locks: KeyedLock;
  randomHex?: RandomHex;
}

/** Workspaces: named persistent storage, one Docker volume each, mounted at /workspace. */
export class Workspaces {
  constructor(private readonly deps: WorkspaceDependencies) {}

  list(): WorkspaceInfo[] {
    return this.deps.db
      .all<WorkspaceRow>(`SELECT * FROM workspaces WHERE state != 'deleting' ORDER BY created_at, id`)
      .map(toWorkspaceInfo);
  }

  /** The workspace, or NotFound (a workspace being deleted counts as gone). */
  get(id: string): WorkspaceInfo {
    const row = this.deps.db.get<WorkspaceRow>('SELECT * FROM workspaces WHERE id = ?', [id]);
    if (!row || row.state === 'deleting') {
      throw notFound(`No workspace "${id}". List workspaces with \`sandkasten workspace list\`.`);
    }
    return toWorkspaceInfo(row);
  }

  async create(params: CreateWorkspaceParams): Promise<WorkspaceInfo> {
    const { db, docker, config, clock, changes } = this.deps;
    const nameProblem = workspaceNameProblem(params.name);
    if (nameProblem) throw new SandkastenError('InvalidName', `${nameProblem} Example: "my-api".`);
    const kind = params.kind ?? 'session';
    if (!WORKSPACE_KINDS.includes(kind)) throw invalidInput(`Unknown kind "${kind}". Choose one of ${WORKSPACE_KINDS.join(', ')}.`);
    const description = params.description ?? '';
    if (description.length > MAX_DESCRIPTION_LENGTH) throw invalidInput(`The description has more than ${MAX_DESCRIPTION_LENGTH} characters.`);
    const tags = params.tags ?? [];
    if (tags.length > MAX_TAGS || tags.some((tag) => tag.trim() === '' || tag.length > 64)) {
      throw invalidInput(`Tags must be at most ${MAX_TAGS} non-empty words of up to 64 characters.`);
    }
    const image = params.image?.trim() || config.current.defaultImage;

    await docker.requireAvailable();
    await docker.ensureImage(image);

    const id = newWorkspaceId(params.name, this.deps.randomHex ?? cryptoRandomHex);
    const volume = `sandkasten-${docker.instanceId}-${id}`;
    // The volume first: a crash before the commit leaves a labelled volume that the next
    // start's reconciliation removes, never a workspace row without storage.
    await docker.createVolume(volume, id);
    const now = clock.now();
    db.run(
      `INSERT INTO workspaces (id, name, kind, image, description, tags, state, volume, created_at, last_accessed_at)
       VALUES (?, ?, ?, ?, ?, ?, 'created', ?, ?, ?)`,
      [id, params.name, kind, image, description, JSON.stringify(tags), volume, now, now],
    );
    await db.commit();
    changes.emit('workspaces');
    return this.get(id);
  }

  /**
   * Marks the workspace `deleting` (durably) before touching Docker, so a crash half-way is
   * finished by the next start instead of leaving a half-deleted workspace.
   */
  async delete(id: string, force: boolean): Promise<void> {
    const { db, docker, changes, locks } = this.deps;
    await locks.run(id, async () => {
      this.get(id);
      const running = db.get<{ count: number }>(
        `SELECT COUNT(*) AS count FROM sessions WHERE workspace_id = ? AND state != 'stopped'`,
        [id],
      )!.count;
      if (running > 0 && !force) {
        throw conflict(`Workspace "${id}" has ${running} running session(s). Stop them first, or delete with force (--force).`);
      }
      await docker.requireAvailable();
      db.run(`UPDATE workspaces SET state = 'deleting' WHERE id = ?`, [id]);
      await db.commit();
      changes.emit('workspaces', 'sessions');
      await this.finishDeletion(id);
    });
  }

  /** Removes the workspace's containers and volume, then its rows. Idempotent. */
  async finishDeletion(id: string): Promise<void> {
    const { db, docker, changes } = this.deps;
    const row = db.get<WorkspaceRow>('SELECT * FROM workspaces WHERE id = ?', [id]);
    // By label, and by the session rows: a container that came from the pool has no workspace label.
    const sessionContainers = new Set(
      db.all<{ container_id: string }>('SELECT container_id FROM sessions WHERE workspace_id = ? AND container_id IS NOT NULL', [id]).map((r) => r.container_id),
    );
    const containers = (await docker.listOwnContainers()).filter((c) => c.labels[LABEL.workspace] === id || sessionContainers.has(c.id));
    await Promise.all(containers.map((c) => docker.removeContainer(c.id)));
    if (row) await docker.removeVolume(row.volume);
    for (const session of db.all<{ id: string }>('SELECT id FROM sessions WHERE workspace_id = ?', [id])) changes.sessionEnded(session.id);
    db.transaction(() => {
      db.run('DELETE FROM sessions WHERE workspace_id = ?', [id]);
      db.run('DELETE FROM workspaces WHERE id = ?', [id]);
    });
    await db.commit();
    changes.emit('workspaces', 'sessions');
  }

  /** Records use of the workspace (not awaited by callers: statistics, not acknowledged state). */
  recordAccess(id: string, stats: { sessions?: number; commands?: number; runTimeMs?: number; state?: WorkspaceState } = {}): void {
    this.deps.db.run(
      `UPDATE workspaces SET last_accessed_at = ?, sessions_count = sessions_count + ?, commands_count = commands_count + ?,
         run_time_ms = run_time_ms + ?, state = COALESCE(?, state) WHERE id = ?`,
      [this.deps.clock.now(), stats.sessions ?? 0, stats.commands ?? 0, Math.round(stats.runTimeMs ?? 0), stats.state ?? null, id],
    );
  }
}

function toWorkspaceInfo(row: WorkspaceRow): WorkspaceInfo {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    image: row.image,
    description: row.description,
    tags: JSON.parse(row.tags) as string[],
    pinned: row.pinned === 1,
    state: row.state,
    volume: row.volume,
    createdAt: isoTime(row.created_at)!,
    lastAccessedAt: isoTime(row.last_accessed_at)!,
    stats: { sessions: row.sessions_count, commands: row.commands_count, runTimeMs: row.run_time_ms },
  };
}
