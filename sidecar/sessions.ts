import { cryptoRandomHex, newSessionId } from './client/ids';
import type { SessionInfo, WorkspaceInfo } from './client/protocol';
import { conflict, notFound } from './errors';
import type { Shells } from './exec/shells';
import type { Pool, PooledContainer } from './pool';
import type { WorkspaceDependencies, Workspaces } from './workspaces';

/** Removing the pooled volume the workspace replaced and renaming the container wait this long. */
const TIDY_UP_DELAY_MS = 500;

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
    return this.deps.store.sessions.list(workspaceId);
  }

  get(id: string): SessionInfo {
    const session = this.deps.store.sessions.get(id);
    if (!session) throw notFound(`No session "${id}". List sessions with \`sandkasten session list\`.`);
    return session;
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
    const stopped = this.deps.store.sessions.lastStoppedOf(workspaceId);
    if (stopped) return this.resume(stopped);
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
    const { containers, shells } = this.deps;
    // Docker first, database second: a crash in between leaves a labelled container that the
    // next start's reconciliation removes, never a session row pointing at nothing.
    const { containerId, shell } = await containers.createAndStart(containers.spec({ role: 'session', sessionId: id, workspace }));
    shells.adopt(id, shell); // answers while the database is written
    await this.recordStarted(workspace, id, containerId, false);
    this.deps.changes.emit('sessions', 'workspaces');
    return this.get(id);
  }

  /** The hand-out path: no Docker call unless an ephemeral workspace must lose its network. */
  private async startFromPool(workspace: WorkspaceInfo, id: string, pooled: PooledContainer): Promise<SessionInfo> {
    const { store, containers, changes, shells } = this.deps;
    try {
      if (containers.networkFor(workspace.kind) === 'none' && pooled.network !== 'none') {
        await containers.engine.disconnectNetwork(pooled.containerId, pooled.network);
      }
      store.workspaces.setVolume(workspace.id, pooled.volume);
      await this.recordStarted(workspace, id, pooled.containerId, true);
    } finally {
      // Recorded (owned by the session now) or failed (a leftover the pool's janitor removes).
      this.deps.pool?.handedOver(pooled);
    }
    const emptyVolume = workspace.volume;
    shells.adopt(id, pooled.shell);
    changes.emit('sessions', 'workspaces');
    // Tidy-ups nobody waits for, after the first command had its chance to run; if the
    // sidecar dies first, reconciliation removes the unused volume.
    this.deps.clock.setTimeout(() => {
      void containers.engine.removeVolume(emptyVolume).catch(() => undefined);
      void containers.engine.renameContainer(pooled.containerId, containers.sessionContainerName(id)).catch(() => undefined);
    }, TIDY_UP_DELAY_MS);
    return this.get(id);
  }

  private async recordStarted(workspace: WorkspaceInfo, id: string, containerId: string, fromPool: boolean): Promise<void> {
    const { store, clock, workspaces } = this.deps;
    store.sessions.insertRunning({ id, workspaceId: workspace.id, containerId, image: workspace.image, fromPool, now: clock.now() });
    workspaces.recordAccess(workspace.id, { sessions: 1, state: 'active' });
    await store.commit();
  }

  /** Starts a stopped session again; recreates its container when Docker lost it. */
  async resume(id: string): Promise<SessionInfo> {
    const { workspaceId } = this.get(id);
    return this.deps.locks.run(workspaceId, async () => {
      const { store, containers, shells, clock, changes, workspaces } = this.deps;
      const session = this.get(id);
      if (session.state === 'running') return session;
      await containers.engine.requireAvailable();
      const existing = session.containerId ? await containers.inspect(session.containerId) : undefined;
      let containerId: string;
      if (existing && session.containerId) {
        containerId = session.containerId;
        if (containers.hasCurrentMainShell(existing) && !existing.running) {
          shells.adopt(id, (await containers.startWithMainShell(containerId)).shell);
        } else {
          // Running already, or made by a version with another main shell: an exec'd shell.
          await containers.engine.startContainer(containerId);
          shells.prepare(id, containerId);
        }
      } else {
        const created = await containers.createAndStart(containers.spec({ role: 'session', sessionId: id, workspace: workspaces.get(workspaceId) }));
        containerId = created.containerId;
        shells.adopt(id, created.shell);
      }
      store.sessions.markStarted(id, containerId, clock.now());
      workspaces.recordAccess(workspaceId, { state: 'active' });
      await store.commit();
      changes.emit('sessions', 'workspaces');
      return this.get(id);
    });
  }

  async stop(id: string): Promise<SessionInfo> {
    const { workspaceId } = this.get(id);
    return this.deps.locks.run(workspaceId, async () => {
      const { store, containers, changes } = this.deps;
      const session = this.get(id);
      if (session.state === 'stopped') return session;
      await containers.engine.requireAvailable();
      if (session.containerId) await containers.engine.stopContainer(session.containerId);
      this.markStopped(id);
      await store.commit();
      changes.emit('sessions', 'workspaces');
      return this.get(id);
    });
  }

  async destroy(id: string): Promise<void> {
    const { workspaceId } = this.get(id);
    await this.deps.locks.run(workspaceId, async () => {
      const { store, containers, changes } = this.deps;
      const session = this.get(id);
      await containers.engine.requireAvailable();
      if (session.containerId) await containers.remove(session.containerId);
      if (session.state !== 'stopped') this.markStopped(id);
      store.sessions.delete(id);
      await store.commit();
      changes.emit('sessions', 'workspaces');
    });
  }

  /** Marks a session stopped and adds its run time to the workspace; no commit. */
  markStopped(id: string, containerGone = false): void {
    const { store, clock, workspaces, changes } = this.deps;
    const now = clock.now();
    const stopped = store.sessions.markStopped(id, now, containerGone);
    if (!stopped) return;
    changes.sessionEnded(id);
    workspaces.recordAccess(stopped.workspaceId, {
      runTimeMs: stopped.ranSince !== undefined ? now - stopped.ranSince : 0,
      state: store.sessions.countRunning(stopped.workspaceId) === 0 ? 'suspended' : undefined,
    });
  }
}
