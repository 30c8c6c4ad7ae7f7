import type { LifecycleActionInfo, SessionInfo, WorkspaceInfo, WorkspaceKind } from '../client/protocol';
import type { ConfigStore } from '../config';
import type { Sessions } from '../sessions';
import type { Store } from '../store/store';
import type { Changes } from '../util/changes';
import type { Clock } from '../util/clock';
import { isoTime } from '../util/clock';
import type { Logger } from '../util/log';
import { Repeating } from '../util/repeating';
import type { Workspaces } from '../workspaces';
import type { Activity } from './activity';
import { planLifecycle, type LifecycleAction, type SessionFacts, type WorkspaceFacts } from './policy';

/** How long a deleted workspace's history is kept. */
const DELETED_HISTORY_KEPT_MS = 30 * 24 * 60 * 60_000;
/** Pruning reads the whole events table: once a day is enough. */
const PRUNE_EVERY_MS = 24 * 60 * 60_000;

export interface LifecycleDependencies {
  store: Store;
  workspaces: Workspaces;
  sessions: Sessions;
  activity: Activity;
  config: ConfigStore;
  clock: Clock;
  changes: Changes;
  log: Logger;
  /** Saves the workspace's volume to a file and removes it (see WorkspaceArchives) unless `onlyIf` says no, under its lock; absent: archiving fails. */
  archive?: (workspaceId: string, reason: string, onlyIf: () => boolean) => Promise<boolean>;
}

/**
 * Applies each workspace kind's policy (see policy.ts) every `lifecycle.checkSeconds` and on
 * demand: freezes idle sessions, stops long-frozen ones, warns before deleting unused
 * workspaces, archives and deletes them. Every transition is an event in the database.
 */
export class Lifecycle {
  private readonly rounds: Repeating;
  /** When this sidecar started, or the engine came back: sessions count as used then (activity is not kept across restarts). */
  private startedAt: number;
  private lastPrune = Number.NEGATIVE_INFINITY;
  /** One round at a time: the schedule and `run` on demand never overlap. */
  private running: Promise<LifecycleActionInfo[]> | undefined;

  constructor(private readonly deps: LifecycleDependencies) {
    this.startedAt = deps.clock.now();
    this.rounds = new Repeating(deps.clock, () => deps.config.current['lifecycle.checkSeconds'] * 1000, async () => {
      if (!deps.config.current['lifecycle.enabled']) return;
      const done = await this.run();
      for (const action of done.filter((a) => a.outcome === 'failed')) deps.log.error(`lifecycle: ${action.action} ${action.sessionId ?? action.workspaceId} failed: ${action.error}`);
    });
  }

  start(): void {
    this.rounds.start();
  }

  stop(): void {
    this.rounds.stop();
  }

  /**
   * The Docker engine is back after it was away: nobody could use a session meanwhile, so
   * each counts as used now, as after a restart, and none is frozen or stopped for the gap.
   */
  countAsUsedNow(): void {
    this.startedAt = this.deps.clock.now();
  }

  /** A changed `lifecycle.checkSeconds` takes effect now. */
  reschedule(): void {
    this.rounds.reschedule();
  }

  /** What is due now and why; changes nothing. */
  preview(): LifecycleActionInfo[] {
    return this.plan().map(toInfo);
  }

  /** Applies what is due now; each action's outcome is reported, one failure does not stop the others. */
  run(): Promise<LifecycleActionInfo[]> {
    this.running ??= this.apply().finally(() => (this.running = undefined));
    return this.running;
  }

  private plan(): LifecycleAction[] {
    const { store, clock, config } = this.deps;
    const sessions = store.sessions.list().filter((s) => s.state !== 'stopped');
    const live = new Map<string, number>();
    for (const session of sessions) live.set(session.workspaceId, (live.get(session.workspaceId) ?? 0) + 1);
    const workspaces = store.workspaces.list();
    const kinds = new Map(workspaces.map((w) => [w.id, w.kind]));
    const sessionFacts: SessionFacts[] = sessions.flatMap((session) => {
      const kind = kinds.get(session.workspaceId);
      return kind ? [this.sessionFacts(session, kind)] : [];
    });
    const workspaceFacts = workspaces.map((workspace) => this.factsOf(workspace, live.get(workspace.id) ?? 0));
    return planLifecycle({ workspaces: workspaceFacts, sessions: sessionFacts, now: clock.now(), settings: config.current });
  }

  private sessionFacts(session: SessionInfo, kind: WorkspaceKind): SessionFacts {
    const { activity } = this.deps;
    return {
      id: session.id,
      workspaceId: session.workspaceId,
      kind,
      state: session.state,
      ...(session.frozenAt ? { frozenAt: Date.parse(session.frozenAt) } : {}),
      // The later of its last use seen and its (re)start: a session started again is not idle since before.
      lastActivityAt: Math.max(activity.lastUseOf(session.id, 0), lastKnownUse(session, this.startedAt)),
      busy: activity.isBusy(session.id),
    };
  }

  private factsOf(workspace: WorkspaceInfo, liveSessions: number): WorkspaceFacts {
    const { store } = this.deps;
    const warnedAt = store.workspaces.warnedAt(workspace.id);
    const lastWarnedAt = warnedAt === undefined ? undefined : store.events.lastOf(workspace.id, 'warned');
    return {
      id: workspace.id,
      name: workspace.name,
      kind: workspace.kind,
      pinned: workspace.pinned,
      state: workspace.state,
      lastAccessedAt: Date.parse(workspace.lastAccessedAt),
      ...(warnedAt !== undefined ? { warnedAt } : {}),
      ...(lastWarnedAt !== undefined ? { lastWarnedAt } : {}),
      liveSessions,
      sessionsEver: workspace.stats.sessions,
    };
  }

  private async apply(): Promise<LifecycleActionInfo[]> {
    const { store, clock, activity } = this.deps;
    if (clock.now() - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = clock.now();
      store.events.pruneDeleted(clock.now() - DELETED_HISTORY_KEPT_MS);
      store.commitSoon();
      activity.prune();
    }
    const results: LifecycleActionInfo[] = [];
    for (const action of this.plan()) {
      try {
        const applied = await this.applyOne(action);
        results.push({ ...toInfo(action), outcome: applied ? 'done' : 'skipped' });
      } catch (error) {
        results.push({ ...toInfo(action), outcome: 'failed', error: error instanceof Error ? error.message : String(error) });
      }
    }
    return results;
  }

  /**
   * Whether the action is still due now, from fresh facts of its one session or workspace: a
   * round's actions run one after another, and a Keep, Pin, keystroke or command that came
   * meanwhile wins. Called under the workspace's lock by the action itself.
   */
  private stillDue(action: LifecycleAction): boolean {
    const { store, clock, config } = this.deps;
    const workspace = store.workspaces.get(action.workspaceId);
    if (!workspace || workspace.state === 'deleting') return false;
    const now = clock.now();
    const settings = config.current;
    if ('sessionId' in action) {
      const session = store.sessions.get(action.sessionId);
      if (!session) return false;
      const facts = this.sessionFacts(session, workspace.kind);
      return planLifecycle({ workspaces: [], sessions: [facts], now, settings }).some((due) => due.action === action.action);
    }
    const facts = this.factsOf(workspace, store.sessions.countActive(workspace.id));
    return planLifecycle({ workspaces: [facts], sessions: [], now, settings }).some((due) => due.action === action.action);
  }

  /** False when the action was no longer due once its turn came. */
  private async applyOne(action: LifecycleAction): Promise<boolean> {
    const { store, sessions, workspaces, clock, changes } = this.deps;
    const onlyIf = () => this.stillDue(action);
    switch (action.action) {
      case 'freeze':
        return sessions.freeze(action.sessionId, action.reason, { onlyIf });
      case 'stop':
        return (await sessions.stop(action.sessionId, action.reason, { onlyIf })).state === 'stopped';
      case 'warn': {
        if (!onlyIf()) return false;
        store.workspaces.markWarned(action.workspaceId, clock.now());
        store.events.append(action.workspaceId, 'warned', action.reason, clock.now());
        await store.commit();
        changes.emit('workspaces');
        return true;
      }
      case 'archive':
        if (!this.deps.archive) throw new Error('archiving is not available in this sidecar');
        return this.deps.archive(action.workspaceId, action.reason, onlyIf);
      case 'delete': {
        if (!(await workspaces.delete(action.workspaceId, false, { onlyIf }))) return false;
        // Events outlive their workspace: its history says why it went.
        store.events.append(action.workspaceId, 'deleted', action.reason, clock.now());
        await store.commit();
        return true;
      }
    }
  }
}

/** A session's last use as the database knows it, for one this sidecar has not seen used. */
function lastKnownUse(session: SessionInfo, sidecarStartedAt: number): number {
  const started = session.startedAt ? Date.parse(session.startedAt) : 0;
  return Math.max(started, sidecarStartedAt);
}

function toInfo(action: LifecycleAction): LifecycleActionInfo {
  return {
    action: action.action,
    workspaceId: action.workspaceId,
    ...('workspaceName' in action ? { workspaceName: action.workspaceName } : {}),
    ...('sessionId' in action ? { sessionId: action.sessionId } : {}),
    reason: action.reason,
    ...(action.action === 'warn' ? { deleteAt: isoTime(action.deleteAt)! } : {}),
  };
}
