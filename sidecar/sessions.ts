import { isoTime } from './util/clock';
import { statusCode, type ContainerSpec } from './docker/engine';
import { conflict, notFound } from './errors';
import { cryptoRandomHex, newSessionId } from './client/ids';
import type { Pool, PooledContainer } from './pool';
import type { SessionInfo, SessionState, WorkspaceInfo } from './client/protocol';
import { startWithMainShell, type Shells } from './exec/shells';
import type { WorkspaceDependencies, Workspaces } from './workspaces';

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
}

/** Removing the pooled volume the workspace replaced and renaming the container wait this long. */
const TIDY_UP_DELAY_MS = 500;

const SELECT_SESSIONS = `SELECT s.*, w.name AS workspace_name FROM sessions s JOIN workspaces w ON w.id = s.workspace_id
  WHERE w.state != 'deleting'`;

/** What workspaces need, plus the modules sessions build on. */
export interface SessionDependencies extends WorkspaceDependencies {
  workspaces: Workspaces;
  shells: Shells;
  /** Pre-warmed containers for new workspaces; absent in setups without a pool. */
  pool?: Pool;
}

/** Sessions: a container bound to one workspace, the lease on compute. */
export class Sessions {
  constructor(private readonly deps: SessionDependencies) {}

  list(workspaceId?: string): SessionInfo[] {
    if (workspaceId !== undefined) this.deps.workspaces.get(workspaceId);
    const rows = workspaceId
      ? this.deps.db.all<SessionRow>(`${SELECT_SESSIONS} AND s.workspace_id = ? ORDER BY s.created_at, s.id`, [workspaceId])
      : this.deps.db.all<SessionRow>(`${SELECT_SESSIONS} ORDER BY s.created_at, s.id`);
    return rows.map(toSessionInfo);
  }

  get(id: string): SessionInfo {
    const row = this.deps.db.get<SessionRow>(`${SELECT_SESSIONS} AND s.id = ?`, [id]);
    if (!row) throw notFound(`No session "${id}". List sessions with \`sandkasten session list\`.`);
    return toSessionInfo(row);
  }

  /** The running session's container id, or a Conflict saying how to start it. */
  runningContainer(id: string): string {
    return this.running(id).containerId;
  }

  /** The session if it runs, or a Conflict saying how to start it. */
  running(id: string): SessionInfo & { containerId: string } {
    const session = this.get(id);
    if (session.state !== 'running' || !session.containerId) {
      throw conflict(`Session "${id}" is ${session.state}. Start it again (\`sandkasten session start ${session.workspaceId}\`) first.`);
    }
    return session as SessionInfo & { containerId: string };
  }

  /** Resumes the workspace's stopped session if it has one (no cold create), else starts a new one. */
  async start(workspaceId: string): Promise<SessionInfo> {
    const workspace = this.deps.workspaces.get(workspaceId);
    const stopped = this.deps.db.get<{ id: string }>(
      `SELECT id FROM sessions WHERE workspace_id = ? AND state = 'stopped' ORDER BY stopped_at DESC LIMIT 1`,
      [workspaceId],
    );
    if (stopped) return this.resume(stopped.id);
    return this.deps.locks.run(workspaceId, () => this.startNew(workspace));
  }

  private async startNew(workspace: WorkspaceInfo): Promise<SessionInfo> {
    const fresh = this.deps.workspaces.get(workspace.id); // it may have changed while we waited for the lock
    const id = newSessionId(this.deps.randomHex ?? cryptoRandomHex);
    // A workspace that never had a session has an empty volume, so it can take a pooled
    // container together with the pooled container's (equally empty) volume.
    const pooled = fresh.stats.sessions === 0 ? this.deps.pool?.take(fresh.image) : undefined;
    if (pooled) return this.startFromPool(fresh, id, pooled);
    return this.startCold(fresh, id);
  }

  private async startCold(workspace: WorkspaceInfo, id: string): Promise<SessionInfo> {
    const { docker, shells } = this.deps;
    // Docker first, database second: a crash in between leaves a labelled container that the
    // next start's reconciliation removes, never a session row pointing at nothing.
    const containerId = await this.createContainerPullingIfNeeded(this.containerSpec(workspace, id));
    try {
      const { shell } = await startWithMainShell(docker, containerId);
      shells.adopt(id, shell); // answers while the database is written
    } catch (error) {
      await docker.removeContainer(containerId);
      throw error;
    }
    await this.recordStarted(workspace, id, containerId, false);
    this.deps.changes.emit('sessions', 'workspaces');
    return this.get(id);
  }

  /** Creates at once; only when Docker says the image is missing, pulls it and tries again. */
  private async createContainerPullingIfNeeded(spec: ContainerSpec): Promise<string> {
    try {
      return await this.deps.docker.createContainer(spec);
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
      await this.deps.docker.ensureImage(spec.image);
      return this.deps.docker.createContainer(spec);
    }
  }

  /** The hand-out path: no Docker call unless an ephemeral workspace must lose its network. */
  private async startFromPool(workspace: WorkspaceInfo, id: string, pooled: PooledContainer): Promise<SessionInfo> {
    const { db, docker, changes, shells } = this.deps;
    if (workspace.kind === 'ephemeral' && pooled.network !== 'none') await docker.disconnectNetwork(pooled.containerId, pooled.network);
    const emptyVolume = workspace.volume;
    db.run('UPDATE workspaces SET volume = ? WHERE id = ?', [pooled.volume, workspace.id]);
    await this.recordStarted(workspace, id, pooled.containerId, true);
    shells.adopt(id, pooled.shell);
    changes.emit('sessions', 'workspaces');
    // Tidy-ups nobody waits for, after the first command had its chance to run; if the
    // sidecar dies first, reconciliation removes the unused volume.
    this.deps.clock.setTimeout(() => {
      void docker.removeVolume(emptyVolume).catch(() => undefined);
      void docker.renameContainer(pooled.containerId, this.containerName(id)).catch(() => undefined);
    }, TIDY_UP_DELAY_MS);
    return this.get(id);
  }

  private async recordStarted(workspace: WorkspaceInfo, id: string, containerId: string, fromPool: boolean): Promise<void> {
    const { db, clock, workspaces } = this.deps;
    const now = clock.now();
    db.run(
      `INSERT INTO sessions (id, workspace_id, container_id, image, state, from_pool, created_at, started_at)
       VALUES (?, ?, ?, ?, 'running', ?, ?, ?)`,
      [id, workspace.id, containerId, workspace.image, fromPool ? 1 : 0, now, now],
    );
    workspaces.recordAccess(workspace.id, { sessions: 1, state: 'active' });
    await db.commit();
  }

  /** Starts a stopped session again; recreates its container when Docker lost it. */
  async resume(id: string): Promise<SessionInfo> {
    const { workspaceId } = this.get(id);
    return this.deps.locks.run(workspaceId, async () => {
      const { db, docker, clock, changes, workspaces } = this.deps;
      const session = this.get(id);
      if (session.state === 'running') return session;
      await docker.requireAvailable();
      const existing = session.containerId ? await docker.inspectContainer(session.containerId) : undefined;
      const containerId =
        existing && session.containerId ? session.containerId : await this.createContainerPullingIfNeeded(this.containerSpec(workspaces.get(workspaceId), id));
      if (!existing || (existing.hasMainShell && !existing.running)) {
        this.deps.shells.adopt(id, (await startWithMainShell(docker, containerId)).shell);
      } else {
        // Running already, or made before containers had a main shell: an exec'd shell.
        await docker.startContainer(containerId);
        this.deps.shells.prepare(id, containerId);
      }
      db.run(`UPDATE sessions SET state = 'running', container_id = ?, started_at = ?, stopped_at = NULL WHERE id = ?`, [
        containerId,
        clock.now(),
        id,
      ]);
      workspaces.recordAccess(workspaceId, { state: 'active' });
      await db.commit();
      changes.emit('sessions', 'workspaces');
      return this.get(id);
    });
  }

  async stop(id: string): Promise<SessionInfo> {
    const { workspaceId } = this.get(id);
    return this.deps.locks.run(workspaceId, async () => {
      const { db, docker, changes } = this.deps;
      const session = this.get(id);
      if (session.state === 'stopped') return session;
      await docker.requireAvailable();
      if (session.containerId) await docker.stopContainer(session.containerId);
      this.markStopped(id);
      await db.commit();
      changes.emit('sessions', 'workspaces');
      return this.get(id);
    });
  }

  async destroy(id: string): Promise<void> {
    const { workspaceId } = this.get(id);
    await this.deps.locks.run(workspaceId, async () => {
      const { db, docker, changes } = this.deps;
      const session = this.get(id);
      await docker.requireAvailable();
      if (session.containerId) await docker.removeContainer(session.containerId);
      if (session.state !== 'stopped') this.markStopped(id);
      db.run('DELETE FROM sessions WHERE id = ?', [id]);
      await db.commit();
      changes.emit('sessions', 'workspaces');
    });
  }

  /** Marks a session stopped and adds its run time to the workspace; no commit. */
  markStopped(id: string, containerGone = false): void {
    const { db, clock, workspaces, changes } = this.deps;
    const row = db.get<SessionRow>('SELECT * FROM sessions WHERE id = ?', [id]);
    if (!row) return;
    changes.sessionEnded(id);
    const now = clock.now();
    db.run(`UPDATE sessions SET state = 'stopped', stopped_at = ?, container_id = ? WHERE id = ?`, [
      now,
      containerGone ? null : row.container_id,
      id,
    ]);
    const stillRunning = db.get<{ count: number }>(
      `SELECT COUNT(*) AS count FROM sessions WHERE workspace_id = ? AND state = 'running'`,
      [row.workspace_id],
    )!.count;
    workspaces.recordAccess(row.workspace_id, {
      runTimeMs: row.state === 'running' && row.started_at ? now - row.started_at : 0,
      state: stillRunning === 0 ? 'suspended' : undefined,
    });
  }

  private containerName(sessionId: string): string {
    return `sandkasten-${this.deps.docker.instanceId}-${sessionId}`;
  }

  containerSpec(workspace: WorkspaceInfo, sessionId: string): ContainerSpec {
    const settings = this.deps.config.current;
    return {
      name: this.containerName(sessionId),
      image: workspace.image,
      role: 'session',
      workspaceId: workspace.id,
      sessionId,
      volume: workspace.volume,
      cpus: settings['limits.cpus'],
      memoryMb: settings['limits.memoryMb'],
      pids: settings['limits.pids'],
      // Ephemeral workspaces are for untrusted one-off runs: no network, whatever the setting.
      network: workspace.kind === 'ephemeral' ? 'none' : settings.network,
    };
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
  };
}
