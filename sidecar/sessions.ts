import { cryptoRandomHex, newSessionId } from './client/ids';
import type { ChangedArea, CreateWorkspaceParams, Origin, SessionInfo, SessionInspection, WorkspaceInfo } from './client/protocol';
import { conflict, dockerUnavailableError, notFound } from './errors';
import type { EngineAvailability } from './docker/engineHealth';
import type { Shells } from './exec/shells';
import type { Activity } from './lifecycle/activity';
import { duration } from './lifecycle/policy';
import type { Pool, PooledContainer } from './pool';
import type { PlannedWorkspace, WorkspaceDependencies, Workspaces } from './workspaces';

/** A workspace with this tag was made for one session and is deleted with its last one (the HTTP API makes such). */
export const DISPOSABLE_TAG = 'disposable';

/** Removing the pooled volume the workspace replaced and renaming the container wait this long. */
const TIDY_UP_DELAY_MS = 500;
/** A use of a session right after the engine's return waits at most this long for the catch-up (see engineCaughtUp). */
const CATCH_UP_WAIT_MS = 15_000;

/** What workspaces need, plus the modules sessions build on. */
export interface SessionDependencies extends WorkspaceDependencies {
  workspaces: Workspaces;
  shells: Shells;
  /** Pre-warmed containers for new workspaces; absent in setups without a pool. */
  pool?: Pool;
  /** Where uses of sessions are counted (the lifecycle freezes idle ones). */
  activity: Activity;
  /** Gives an archived workspace its files back before a session starts; absent: archived workspaces cannot start. */
  unarchive?: (workspaceId: string, progress?: (message: string) => void) => Promise<void>;
  /** Whether the engine answers: while it does not, live sessions are marked and uses fail at once. */
  engineHealth?: EngineAvailability;
}

/** Who starts a session, and for an API session how long its lease runs. */
export interface StartOptions {
  origin?: Origin;
  /** From now until the session is destroyed unless used (see ApiLeases); none: no lease. */
  leaseMs?: number;
  /** What long work before the start (restoring an archived workspace) says as it goes. */
  progress?: (message: string) => void;
}

/** Sessions: a container bound to one workspace, the lease on compute. */
export class Sessions {
  /**
   * The sessions that were live when the engine went away, and when that was: marked until
   * the catch-up after its return has seen to them (started again, or found as they are).
   */
  private waiting: { sessionIds: Set<string>; since: number; caughtUp: Promise<void>; done(): void } | undefined;

  constructor(private readonly deps: SessionDependencies) {
    deps.engineHealth?.onChange((change) => {
      if (change.state === 'away') this.waitForEngine();
    });
  }

  list(workspaceId?: string): SessionInfo[] {
    if (workspaceId !== undefined) this.deps.workspaces.get(workspaceId);
    const sessions = this.deps.store.sessions.list(workspaceId);
    return this.waiting || this.deps.engineHealth?.away ? sessions.map((session) => this.marked(session)) : sessions;
  }

  get(id: string): SessionInfo {
    const session = this.deps.store.sessions.get(id);
    if (!session) throw notFound(`No session "${id}". List sessions with \`sandkasten session list\`.`);
    return this.waiting || this.deps.engineHealth?.away ? this.marked(session) : session;
  }

  /** A second absence before the catch-up of the first keeps the first's list: those were live then. */
  private waitForEngine(): void {
    if (this.waiting) return;
    let done!: () => void;
    const caughtUp = new Promise<void>((resolve) => (done = resolve));
    const sessionIds = new Set(this.deps.store.sessions.listLive().map((session) => session.id));
    this.waiting = { sessionIds, since: this.deps.clock.now(), caughtUp, done };
  }

  /** The sessions waiting for the engine's return and since when, for the catch-up (see ContainerWatch); undefined when none waits. */
  waitingForEngine(): { sessionIds: ReadonlySet<string>; since: number } | undefined {
    return this.waiting;
  }

  /** The catch-up after the engine's return has seen to every waiting session: they are as the database says now. */
  engineCaughtUp(): void {
    const waiting = this.waiting;
    if (!waiting) return;
    this.waiting = undefined;
    waiting.done();
    this.deps.changes.emit('sessions', 'workspaces');
  }

  /** A live session is marked while the engine is away, and after its return until the catch-up saw to it. */
  private marked(session: SessionInfo): SessionInfo {
    const live = session.state === 'running' || session.state === 'paused';
    const waits = this.deps.engineHealth?.away || this.waiting?.sessionIds.has(session.id);
    return live && waits ? { ...session, engineUnreachable: true } : session;
  }

  /** DockerUnavailable while the engine is away; after its return, waits (bounded) for the catch-up. */
  private async untilEngineCaughtUp(): Promise<void> {
    const health = this.deps.engineHealth!;
    if (await health.stillAway()) throw health.unavailableError();
    const waiting = this.waiting;
    if (!waiting) return;
    let timer: { cancel(): void } | undefined;
    const late = new Promise<boolean>((resolve) => (timer = this.deps.clock.setTimeout(() => resolve(true), CATCH_UP_WAIT_MS)));
    const tooLate = await Promise.race([waiting.caughtUp.then(() => false), late]).finally(() => timer?.cancel());
    if (tooLate) throw dockerUnavailableError('The Docker engine is back, and Sandkasten is still catching up with it (starting again what it stopped); retry in a moment.');
  }

  /**
   * Docker's own view of the session's container, as `docker inspect` shows it. NotFound when
   * there is no container to look at (it went away): the session itself is still there.
   */
  async inspect(id: string): Promise<SessionInspection> {
    const { containerId } = this.get(id);
    const gone = () => notFound(`Session "${id}" has no container now (it was removed). Resume it (\`sandkasten session resume ${id}\`) to get a new one.`);
    if (!containerId) throw gone();
    const container = await this.deps.containers.engine.inspectContainerRaw(containerId);
    if (container === undefined) throw gone();
    return { containerId, container };
  }

  /**
   * The session, running, for something a user or agent does in it now (a command, a terminal,
   * a file): a session the lifecycle froze thaws first, and the use is counted. Conflict, as
   * `running`, when it is not running otherwise.
   */
  async ready(id: string): Promise<SessionInfo & { containerId: string }> {
    let session = this.get(id);
    // Nothing in the container can be reached while the engine is away: said at once (after a look, when the last is old).
    if (session.engineUnreachable) {
      await this.untilEngineCaughtUp();
      session = this.get(id);
    }
    if (!isFrozen(session)) {
      // The common path (on the way to every command): one read of the session.
      this.deps.activity.touch(id, session.workspaceId);
      return runningOrConflict(session);
    }
    await this.thawIfFrozen(id); // counts the use
    return this.running(id);
  }

  /** A use that needs no running session (opening a terminal decides itself): thaws a frozen session, counts the use. */
  async thawIfFrozen(id: string): Promise<void> {
    const session = this.get(id);
    this.deps.activity.touch(id, session.workspaceId);
    if (!isFrozen(session)) return;
    // Frozen for a copy of its files: the use waits for the copy's end, which thaws it.
    const held = this.heldForCopy.get(id);
    if (held) return held;
    let thawing = this.thawing.get(id);
    if (!thawing) {
      thawing = this.thaw(session).finally(() => this.thawing.delete(id));
      this.thawing.set(id, thawing);
    }
    await thawing;
  }

  private readonly thawing = new Map<string, Promise<void>>();
  /** Sessions frozen while their workspace's files are copied, with when that ends. */
  private readonly heldForCopy = new Map<string, Promise<void>>();

  /**
   * Runs `work` (a snapshot, clone or export) with the workspace's running sessions frozen, so
   * the copy is of one moment; a use meanwhile waits for the end instead of thawing them. The
   * freeze is recorded (durably) before the pause: after a crash meanwhile a session is
   * frozen as after idle time, and its next use thaws it.
   */
  async frozenDuring<T>(workspaceId: string, work: () => Promise<T>): Promise<T> {
    const { store, clock, changes, containers } = this.deps;
    const running = store.sessions.list(workspaceId).filter((s) => s.state === 'running' && s.containerId);
    if (running.length === 0) return work();
    let finished!: () => void;
    const ended = new Promise<void>((resolve) => (finished = resolve));
    for (const session of running) {
      store.sessions.markFrozen(session.id, clock.now(), 'frozen: its files are being copied');
      this.heldForCopy.set(session.id, ended);
    }
    try {
      await store.commit();
      changes.emit('sessions');
      for (const session of running) await containers.engine.pauseContainer(session.containerId!);
      return await work();
    } finally {
      for (const session of running) {
        // A container that went away meanwhile: its die or destroy event says so.
        await containers.engine.unpauseContainer(session.containerId!).catch(() => undefined);
        // Unless it was stopped meanwhile.
        if (store.sessions.get(session.id)?.state === 'paused') store.sessions.markPaused(session.id, false, null);
        this.heldForCopy.delete(session.id);
      }
      // Undone in memory when it fails: the rows say frozen, and the next use thaws them.
      await store.commit().catch(() => undefined);
      changes.emit('sessions');
      finished();
    }
  }

  /** One Docker call and one durable write: the first command after a freeze answers in milliseconds. */
  private async thaw(session: SessionInfo): Promise<void> {
    const { store, containers, clock, changes } = this.deps;
    await containers.engine.unpauseContainer(session.containerId!);
    // A stop may have ended it meanwhile (it unpauses first too): then there is nothing to record.
    // Docker's unpause event may have been applied first (running again): the thaw is still ours.
    const now = store.sessions.get(session.id);
    if (!now || now.state === 'stopped') return;
    if (now.state === 'paused') store.sessions.markPaused(session.id, false, null);
    store.events.append(session.workspaceId, 'thawed', `session ${session.id} used after ${describeSince(session.frozenAt!, clock.now())} frozen`, clock.now());
    store.commitSoon();
    changes.emit('sessions', 'workspaces');
  }

  /** A command starts in the session: it is busy, never idle, until the returned function is called. */
  beginUse(id: string, workspaceId: string): () => void {
    return this.deps.activity.begin(id, workspaceId);
  }

  /** Freezes an idle session (the lifecycle's call): its container paused, processes and memory kept. */
  async freeze(id: string, reason: string, options: { evenIfBusy?: boolean; onlyIf?: () => boolean } = {}): Promise<boolean> {
    const { workspaceId } = this.get(id);
    return this.deps.locks.run(workspaceId, async () => {
      const { store, containers, clock, changes } = this.deps;
      const { activity } = this.deps;
      const session = this.get(id);
      if (session.state === 'paused' && session.frozenAt) return false;
      if (session.state !== 'running' || !session.containerId) throw conflict(`Session "${id}" is ${session.state}: only a running session can be frozen.`);
      if (activity.isBusy(id) && !options.evenIfBusy) return false;
      if (options.onlyIf && !options.onlyIf()) return false;
      const lastUse = activity.lastUseOf(id, 0);
      // Recorded first: after a crash before the pause, reconciliation finds the container
      // running and says so; the other way round the session would look running while frozen.
      store.sessions.markFrozen(id, clock.now(), `frozen: ${reason}`);
      store.events.append(workspaceId, 'frozen', `session ${id}: ${reason}`, clock.now());
      await store.commit();
      try {
        await containers.engine.pauseContainer(session.containerId);
      } catch (error) {
        store.sessions.markPaused(id, false, null);
        await store.commit();
        throw error;
      }
      changes.emit('sessions', 'workspaces');
      // A use that came while the container was being paused found it running and went in: thaw at once.
      if (!options.evenIfBusy && (activity.isBusy(id) || activity.lastUseOf(id, 0) !== lastUse)) await this.thaw(this.get(id));
      return true;
    });
  }

  /** Moves an API session's lease end to `leaseMs` from now (each API call that uses it does). */
  async extendLease(id: string, leaseMs: number): Promise<void> {
    const { store, clock } = this.deps;
    if (!store.sessions.get(id)?.expiresAt) return;
    store.sessions.setLease(id, clock.now() + leaseMs);
    store.commitSoon(); // a lease moved later is not worth a durable write per call
  }

  /** The session if it runs, or a Conflict saying why not and how to go on. */
  running(id: string): SessionInfo & { containerId: string } {
    return runningOrConflict(this.get(id));
  }

  /**
   * Resumes the workspace's stopped session if it has one (no cold create), else starts a new
   * one. A session the database believes runs but whose container stopped or went away is
   * repaired first, so the workspace never gets a second session by mistake.
   */
  async start(workspaceId: string, options: StartOptions = {}): Promise<SessionInfo> {
    const workspace = this.deps.workspaces.get(workspaceId);
    for (const session of this.deps.store.sessions.list(workspaceId)) {
      if (session.state === 'running' || session.state === 'paused') await this.checkContainer(session);
    }
    const stopped = this.deps.store.sessions.lastStoppedOf(workspaceId);
    if (stopped) return this.resume(stopped, options);
    return this.deps.locks.run(workspaceId, () => this.startNew(workspace, options));
  }

  /**
   * An archived workspace gets its files back before any container mounts its volume (Docker
   * would make an empty one of that name). Under the workspace's lock, so an archive that
   * finished while a start waited for it is seen.
   */
  private async unarchiveIfArchived(workspaceId: string, progress?: (message: string) => void): Promise<void> {
    if (this.deps.workspaces.get(workspaceId).state !== 'archived') return;
    const { unarchive } = this.deps;
    if (!unarchive) throw conflict(`Workspace "${workspaceId}" is archived and cannot be restored here.`);
    await unarchive(workspaceId, progress);
  }

  private async startNew(workspace: WorkspaceInfo, options: StartOptions): Promise<SessionInfo> {
    await this.unarchiveIfArchived(workspace.id, options.progress);
    const fresh = this.deps.workspaces.get(workspace.id); // it may have changed while we waited for the lock
    const id = newSessionId(this.deps.randomHex ?? cryptoRandomHex);
    // A workspace still `created` (never a session, never a file written, not born of a clone
    // or import) has an empty volume, so it can take a pooled container together with the
    // pooled container's (equally empty) volume.
    const suits = this.deps.containers.poolSuits(fresh);
    const pooled = fresh.state === 'created' && fresh.stats.sessions === 0 && suits ? this.deps.pool?.take(fresh.image) : undefined;
    if (pooled) return this.startFromPool({ existing: fresh }, id, pooled, options);
    // A used workspace: a pooled container with a slot, onto which its own volume is bound.
    const slotted = suits && fresh.state !== 'archived' ? this.deps.pool?.take(fresh.image, { withSlot: true }) : undefined;
    if (slotted) {
      const started = await this.startInSlot(fresh, id, slotted, options);
      if (started) return started;
    }
    return this.startCold(fresh, id, options);
  }

  /** False only for a container with a slot at /workspace that no longer has a volume bound onto it. */
  private async slotStillBound(containerId: string, mounts: Array<{ source: string; target: string }>): Promise<boolean> {
    const { containers } = this.deps;
    const slot = containers.slots && (await containers.slotOf(containerId, mounts));
    return !slot || containers.slots!.isBound(slot);
  }

  /**
   * Hands a pooled container to a used workspace: its volume replaces the container's empty
   * one on the slot (two mounts on the host, no Docker call), the main shell steps into it,
   * and the session is recorded. Undefined when the slot would not take the volume: the
   * container is removed and the caller starts one cold.
   */
  private async startInSlot(workspace: WorkspaceInfo, id: string, pooled: PooledContainer, options: StartOptions): Promise<SessionInfo | undefined> {
    const { containers, shells, changes } = this.deps;
    let recorded = false;
    try {
      if (!(await containers.slots!.rebind(pooled.slot!, workspace.volume))) return undefined;
      if (containers.networkFor(workspace.kind) === 'none' && pooled.network !== 'none') {
        await containers.engine.disconnectNetwork(pooled.containerId, pooled.network);
      }
      // The main shell started inside the empty volume that was on the slot: into the
      // workspace's, with its first command (no round trip of its own).
      pooled.shell.enterBeforeNextCommand('/workspace');
      await this.recordStarted(workspace, id, pooled.containerId, true, options);
      recorded = true;
    } finally {
      this.deps.pool?.handedOver(pooled);
      if (!recorded) {
        pooled.shell.dispose();
        await containers.remove(pooled.containerId).catch(() => undefined);
        await containers.engine.removeVolume(pooled.volume).catch(() => undefined);
      }
    }
    shells.adopt(id, pooled.shell);
    changes.emit('sessions', 'workspaces');
    this.deps.clock.setTimeout(() => {
      // The pool's empty volume is on no slot any more.
      void containers.engine.removeVolume(pooled.volume).catch(() => undefined);
      void containers.engine.renameContainer(pooled.containerId, containers.sessionContainerName(id)).catch(() => undefined);
    }, TIDY_UP_DELAY_MS);
    return this.get(id);
  }

  private async startCold(workspace: WorkspaceInfo, id: string, options: StartOptions): Promise<SessionInfo> {
    const { containers, shells } = this.deps;
    // Docker first, database second: a crash in between leaves a labelled container that the
    // next start's reconciliation removes, never a session row pointing at nothing.
    const { containerId, shell } = await containers.createAndStart(containers.spec({ role: 'session', sessionId: id, workspace }));
    shells.adopt(id, shell); // answers while the database is written
    await this.recordStarted(workspace, id, containerId, false, options);
    this.deps.changes.emit('sessions', 'workspaces');
    return this.get(id);
  }

  /**
   * A new workspace and its first session in one step (the HTTP API's create). When the pool
   * has a container of the image, the workspace is born on that container's volume and both
   * are recorded in one write, with no Docker call; else the workspace is made, then started
   * (and removed again when its session cannot start).
   */
  async startInNewWorkspace(params: CreateWorkspaceParams, options: StartOptions & { id?: string } = {}): Promise<SessionInfo> {
    const { workspaces, containers, pool, locks } = this.deps;
    const planned = workspaces.plan(params, { origin: options.origin, id: options.id });
    const pooled = containers.poolSuits(planned) ? pool?.take(planned.image) : undefined;
    if (pooled) return locks.run(planned.id, () => this.startFromPool({ planned }, newSessionId(this.deps.randomHex ?? cryptoRandomHex), pooled, options));
    const workspace = await workspaces.create(params, { origin: options.origin, id: options.id });
    try {
      return await this.start(workspace.id, options);
    } catch (error) {
      await workspaces.delete(workspace.id, true).catch(() => undefined);
      throw error;
    }
  }

  /**
   * The hand-out path: no Docker call unless an ephemeral workspace must lose its network. An
   * existing workspace swaps its empty volume for the pooled one; a planned one is born on it.
   */
  private async startFromPool(target: { existing: WorkspaceInfo } | { planned: PlannedWorkspace }, id: string, pooled: PooledContainer, options: StartOptions): Promise<SessionInfo> {
    const { store, containers, changes, shells, workspaces } = this.deps;
    const workspace = 'existing' in target ? target.existing : { ...target.planned, volume: pooled.volume };
    try {
      if (containers.networkFor(workspace.kind) === 'none' && pooled.network !== 'none') {
        await containers.engine.disconnectNetwork(pooled.containerId, pooled.network);
      }
      if ('planned' in target) workspaces.insertPlanned(target.planned, pooled.volume);
      else store.workspaces.setVolume(workspace.id, pooled.volume);
      await this.recordStarted(workspace, id, pooled.containerId, true, options);
    } finally {
      // Recorded (owned by the session now) or failed (a leftover the pool's janitor removes).
      this.deps.pool?.handedOver(pooled);
    }
    shells.adopt(id, pooled.shell);
    changes.emit('sessions', 'workspaces');
    // Tidy-ups nobody waits for, after the first command had its chance to run; if the
    // sidecar dies first, reconciliation removes the unused volume.
    const emptyVolume = 'existing' in target ? target.existing.volume : undefined;
    this.deps.clock.setTimeout(() => {
      if (emptyVolume) void containers.engine.removeVolume(emptyVolume).catch(() => undefined);
      void containers.engine.renameContainer(pooled.containerId, containers.sessionContainerName(id)).catch(() => undefined);
    }, TIDY_UP_DELAY_MS);
    return this.get(id);
  }

  private async recordStarted(workspace: Pick<WorkspaceInfo, 'id' | 'image'>, id: string, containerId: string, fromPool: boolean, options: StartOptions): Promise<void> {
    const { store, clock, workspaces } = this.deps;
    const now = clock.now();
    const expiresAt = options.leaseMs === undefined ? undefined : now + options.leaseMs;
    store.sessions.insertRunning({ id, workspaceId: workspace.id, containerId, image: workspace.image, fromPool, origin: options.origin, expiresAt, now });
    store.events.append(workspace.id, 'started', `session ${id} started${fromPool ? ' from the pool' : ''}`, now);
    workspaces.recordAccess(workspace.id, { sessions: 1, state: 'active' });
    await store.commit();
  }

  /**
   * Looks at the container of a session the database believes runs, and records what Docker
   * says if that is not so (stopped, removed or paused behind the sidecar's back): the same
   * thing the container watch does when Docker's event comes first.
   */
  async checkContainer(session: SessionInfo): Promise<void> {
    if (!session.containerId) return;
    const state = await this.deps.containers.inspect(session.containerId);
    await this.recordContainerState(session.containerId, state ? { running: state.running, paused: state.paused } : 'gone');
  }

  /**
   * What Docker says about a session's container, applied to the session when it differs
   * from what the database believes; `reason` explains a stop the sidecar did not make.
   */
  async recordContainerState(containerId: string, found: { running: boolean; paused: boolean } | 'gone', reason?: string): Promise<void> {
    await this.changeSessionOfContainer(containerId, (session) => {
      const { store } = this.deps;
      if (found === 'gone') {
        this.markStopped(session.id, true, reason ?? 'its container was removed outside Sandkasten');
      } else if (!found.running) {
        if (session.state === 'stopped') return undefined;
        this.markStopped(session.id, false, reason ?? 'its container was stopped outside Sandkasten');
      } else if (session.state === 'stopped') {
        store.sessions.markFoundRunning(session.id, 'its container was started outside Sandkasten');
        if (found.paused) store.sessions.markPaused(session.id, true, 'its container was paused outside Sandkasten');
      } else if (found.paused !== (session.state === 'paused')) {
        store.sessions.markPaused(session.id, found.paused, found.paused ? 'its container was paused outside Sandkasten' : null);
      } else {
        return undefined;
      }
      return ['sessions', 'workspaces'];
    });
  }

  /**
   * The engine is back after it went away while this session was live, and the session's
   * container exists but is stopped: an engine that stops stops its containers (unless it
   * runs with live-restore), so no person stopped it, and the session is started again in
   * that same container, as Docker's own `unless-stopped` restart policy would. Its files
   * are as they were, its processes are not; its port forwards stay. False when the
   * container is not (or no longer) in that state: the caller records what it is.
   */
  async restartAfterEngineReturn(id: string, ranUntil: number): Promise<boolean> {
    const { workspaceId } = this.get(id);
    return this.deps.locks.run(workspaceId, async () => {
      const { store, containers, shells, clock, changes, workspaces } = this.deps;
      const session = this.get(id);
      if ((session.state !== 'running' && session.state !== 'paused') || !session.containerId) return false;
      const containerId = session.containerId;
      const found = await containers.inspect(containerId);
      if (!found || found.running) return false;
      shells.close(id); // its shells went with the engine
      if (containers.hasCurrentMainShell(found)) {
        shells.adopt(id, (await containers.startWithMainShell(containerId)).shell);
      } else {
        await containers.engine.startContainer(containerId);
        shells.prepare(id, containerId);
      }
      const now = clock.now();
      const ranSince = session.startedAt ? Date.parse(session.startedAt) : ranUntil;
      workspaces.recordAccess(workspaceId, { runTimeMs: Math.max(0, ranUntil - ranSince) });
      store.sessions.markStarted(id, containerId, now);
      store.events.append(workspaceId, 'started', `session ${id} started again: its container stopped while the Docker engine was unreachable`, now);
      await store.commit();
      changes.emit('sessions', 'workspaces');
      return true;
    });
  }

  /**
   * Docker paused or unpaused the container (`docker pause`, or the sidecar itself): the
   * session follows the container's state as it is now. Only a
   * running or paused session moves: an unpause never starts a stopped one (a stop unpauses
   * first, and its event may come after the stop was recorded), and a pause of a session the
   * sidecar froze (or is freezing) is already known.
   */
  async recordPauseEvent(containerId: string): Promise<void> {
    // Events come late and in bursts (a copy pauses and unpauses in a second): what counts is
    // whether the container is paused now, not what this event said then — and "now" is read
    // with the workspace's lock held: a copy holds it while it pauses the sessions, so an
    // answer from the middle of a copy is never applied after the copy thawed them.
    await this.changeSessionOfContainer(containerId, async (session) => {
      if (session.state !== 'running' && session.state !== 'paused') return undefined;
      const state = await this.deps.containers.engine.inspectContainer(containerId).catch(() => undefined);
      if (!state?.running) return undefined; // stopped or gone: its die or destroy event says so
      if (state.paused === (session.state === 'paused')) return undefined;
      this.deps.store.sessions.markPaused(session.id, state.paused, state.paused ? 'its container was paused outside Sandkasten' : null);
      return ['sessions', 'workspaces'];
    });
  }

  /** Something happened in a live session's container that a person should see (a process killed for memory). */
  async noteContainerEvent(containerId: string, reason: string): Promise<void> {
    await this.changeSessionOfContainer(containerId, (session) => {
      if (session.state === 'stopped') return undefined;
      this.deps.store.sessions.noteReason(session.id, reason);
      return ['sessions'];
    });
  }

  /**
   * Applies `change` to the session that owns `containerId`, as it is once its workspace's
   * lock is held (after the sidecar's own work on it); commits and tells the areas `change`
   * names, or nothing when it changed nothing (undefined).
   */
  private async changeSessionOfContainer(containerId: string, change: (session: SessionInfo) => ChangedArea[] | undefined | Promise<ChangedArea[] | undefined>): Promise<void> {
    const owner = this.deps.store.sessions.byContainer(containerId);
    if (!owner) return;
    await this.deps.locks.run(owner.workspaceId, async () => {
      const session = this.deps.store.sessions.byContainer(containerId);
      const areas = session && (await change(session));
      if (!areas) return;
      await this.deps.store.commit();
      this.deps.changes.emit(...areas);
    });
  }

  /** Starts a stopped session again (a paused one is unpaused); recreates its container when Docker lost it. */
  async resume(id: string, options: Pick<StartOptions, 'leaseMs' | 'progress'> = {}): Promise<SessionInfo> {
    const before = this.get(id);
    if (before.state === 'running' || before.state === 'paused') await this.checkContainer(before);
    const { workspaceId } = before;
    return this.deps.locks.run(workspaceId, async () => {
      const { store, containers, shells, clock, changes, workspaces } = this.deps;
      const session = this.get(id);
      if (session.state === 'running') return session;
      await containers.engine.requireAvailable();
      await this.unarchiveIfArchived(workspaceId, options.progress);
      if (session.state === 'paused' && session.containerId) {
        await containers.engine.unpauseContainer(session.containerId);
        this.deps.activity.touch(id, workspaceId);
        store.sessions.markPaused(id, false, null);
        if (session.frozenAt) store.events.append(workspaceId, 'thawed', `session ${id} resumed`, clock.now());
        await store.commit();
        changes.emit('sessions', 'workspaces');
        return this.get(id);
      }
      const workspace = workspaces.get(workspaceId);
      let existing = session.containerId ? await containers.inspect(session.containerId) : undefined;
      if (existing && session.containerId && (session.image !== workspace.image || !(await this.slotStillBound(session.containerId, existing.mounts)))) {
        // The workspace's image changed (Change Image…), or the container came from the pool
        // and its slot lost the workspace's volume (a reboot clears those mounts): a new
        // container, the same volume.
        await containers.remove(session.containerId);
        existing = undefined;
      }
      store.sessions.setImage(id, workspace.image);
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
        const created = await containers.createAndStart(containers.spec({ role: 'session', sessionId: id, workspace }));
        containerId = created.containerId;
        shells.adopt(id, created.shell);
      }
      store.sessions.markStarted(id, containerId, clock.now());
    store.events.append(workspaceId, 'started', `session ${id} started again`, clock.now());
      if (options.leaseMs !== undefined) store.sessions.setLease(id, clock.now() + options.leaseMs);
      workspaces.recordAccess(workspaceId, { state: 'active' });
      await store.commit();
      changes.emit('sessions', 'workspaces');
      return this.get(id);
    });
  }

  /** Stops the session; `reason` (shown with its state) says why when it was not asked for. */
  async stop(id: string, reason: string | null = null, options: { onlyIf?: () => boolean } = {}): Promise<SessionInfo> {
    const { workspaceId } = this.get(id);
    return this.deps.locks.run(workspaceId, async () => {
      const { store, containers, changes } = this.deps;
      const session = this.get(id);
      if (session.state === 'stopped' || (options.onlyIf && !options.onlyIf())) return session;
      await containers.engine.requireAvailable();
      if (session.containerId) {
        if (session.state === 'paused') await containers.engine.unpauseContainer(session.containerId); // a frozen process cannot receive TERM
        await containers.engine.stopContainer(session.containerId);
      }
      this.markStopped(id, false, reason);
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
    // A workspace made for one session (tagged `disposable`) goes with its last one, whoever destroys it.
    const workspace = this.deps.store.workspaces.get(workspaceId);
    if (workspace?.tags.includes(DISPOSABLE_TAG) && workspace.state !== 'deleting' && this.deps.store.sessions.list(workspaceId).length === 0) {
      await this.deps.workspaces.delete(workspaceId, true);
    }
  }

  /** Marks a session stopped (with why, when the sidecar did not stop it) and adds its run time to the workspace; no commit. */
  markStopped(id: string, containerGone = false, reason: string | null = null): void {
    const { store, clock, workspaces, changes } = this.deps;
    const now = clock.now();
    const stopped = store.sessions.markStopped(id, now, containerGone, reason);
    if (!stopped) return;
    this.deps.activity.forget(id);
    store.events.append(stopped.workspaceId, 'stopped', `session ${id} stopped${reason ? `: ${reason}` : ''}`, now);
    changes.sessionEnded(id);
    workspaces.recordAccess(stopped.workspaceId, {
      runTimeMs: stopped.ranSince !== undefined ? now - stopped.ranSince : 0,
      state: store.sessions.countRunning(stopped.workspaceId) === 0 ? 'suspended' : undefined,
    });
  }
}

/** "3 min" since an ISO time. */
function describeSince(iso: string, now: number): string {
  return duration(now - Date.parse(iso));
}

/** Frozen by the lifecycle (a pause by someone else is theirs to undo). */
function isFrozen(session: SessionInfo): boolean {
  return session.state === 'paused' && session.frozenAt !== undefined && session.containerId !== null;
}

function runningOrConflict(session: SessionInfo): SessionInfo & { containerId: string } {
  if (session.state === 'running' && session.containerId) return session as SessionInfo & { containerId: string };
  const { id } = session;
  const why = session.stateReason ? ` (${session.stateReason})` : '';
  if (session.state === 'paused') {
    throw conflict(`Session "${id}" is paused${why}: nothing in its container can run. Resume it (\`sandkasten session resume ${id}\`) first.`);
  }
  throw conflict(`Session "${id}" is ${session.state}${why}. Resume it (\`sandkasten session resume ${id}\`) first.`);
}
