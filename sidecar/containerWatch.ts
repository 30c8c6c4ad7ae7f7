import type { ConfigStore } from './config';
import type { Containers } from './containers';
import type { ContainerEvent } from './docker/engine';
import type { EngineAvailability, EngineChange } from './docker/engineHealth';
import type { Sessions } from './sessions';
import type { Store } from './store/store';
import { isoTime, type Clock } from './util/clock';
import type { Logger } from './util/log';

/** After the event stream ended (the engine restarted, the connection dropped), wait this long before re-listing and following again. */
const RESUBSCRIBE_DELAY_MS = 1000;
/** While the engine does not answer, try again this often. */
const RETRY_INTERVAL_MS = 5000;

/**
 * Follows Docker's events for this instance's containers, so a session whose container was
 * stopped, killed, paused, removed or killed for memory behind the sidecar's back says so
 * within a second (tree, CLI, API) instead of answering every exec with an engine error.
 * When the stream ends it re-lists the containers (catching up on what it missed) and
 * follows again. What the sidecar does itself is seen too, and changes nothing: the session
 * is already in that state once the workspace's lock lets the event through.
 *
 * While the engine is away (see EngineHealth) it waits for it instead of retrying on its own;
 * once it is back it follows again and catches up, and the sessions that were live when it
 * went away and whose containers it stopped meanwhile are started again in them.
 */
export class ContainerWatch {
  private subscription: { close(): void } | undefined;
  private starting: Promise<void> | undefined;
  private retryTimer: { cancel(): void } | undefined;
  /** Started once (after reconciliation): only then does the engine's return make it follow again. */
  private begun = false;
  private stopped = false;
  /** Containers Docker reported out of memory: their next death is explained by it. */
  private readonly outOfMemory = new Set<string>();
  private readonly stopFollowingHealth: (() => void) | undefined;

  constructor(
    private readonly deps: {
      containers: Containers;
      store: Store;
      sessions: Sessions;
      config: ConfigStore;
      clock: Clock;
      log: Logger;
      engineHealth?: EngineAvailability;
    },
  ) {
    this.stopFollowingHealth = deps.engineHealth?.onChange((change) => this.onEngineChange(change));
  }

  /** Catches up with Docker, then follows its events. Never throws: retried while the engine is away. */
  start(): Promise<void> {
    this.begun = true;
    this.starting ??= this.subscribe().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async subscribe(): Promise<void> {
    if (this.stopped || this.subscription) return;
    try {
      // Subscribe first, then list: nothing that happens in between is missed.
      this.subscription = await this.deps.containers.engine.followContainerEvents(
        (event) => void this.onEvent(event).catch((error) => this.deps.log.error(`following a container ${event.action} event failed`, error)),
        (error) => this.onStreamEnd(error),
      );
      await this.catchUp();
    } catch (error) {
      this.subscription?.close();
      this.subscription = undefined;
      // An engine known to be away says when it is back; no need to ask it every few seconds.
      if (this.deps.engineHealth?.away) return;
      this.deps.log.info(`following Docker's events postponed: ${(error as Error).message}`);
      this.retryLater(RETRY_INTERVAL_MS);
    }
  }

  stop(): void {
    this.stopped = true;
    this.stopFollowingHealth?.();
    this.retryTimer?.cancel();
    this.subscription?.close();
    this.subscription = undefined;
  }

  /**
   * Compares every session the database believes runs with what Docker lists now. One that
   * was live when the engine went away and whose container is stopped now was stopped by the
   * engine, not by a person: it starts again (see Sessions.restartAfterEngineReturn).
   */
  private async catchUp(): Promise<void> {
    const { store, containers, sessions, log } = this.deps;
    const live = store.sessions.listLive();
    const away = sessions.waitingForEngine();
    if (live.length > 0) {
      const found = new Map((await containers.engine.listOwnContainers()).map((container) => [container.id, container]));
      for (const session of live) {
        const containerId = session.containerId!;
        const container = found.get(containerId);
        if (container && !container.running && away?.sessionIds.has(session.id)) {
          const restarted = await sessions.restartAfterEngineReturn(session.id, away.since).catch((error: unknown) => {
            log.error(`starting session ${session.id} again after the engine's return failed`, error);
            return false;
          });
          if (restarted) {
            log.info(`session ${session.id} started again: its container stopped while the Docker engine was unreachable`);
            continue;
          }
        }
        if (!container) containers.forgetRemoved(containerId);
        const reason = away?.sessionIds.has(session.id) ? `its container ${container ? 'stopped' : 'was removed'} while the Docker engine was unreachable` : undefined;
        await sessions.recordContainerState(containerId, container ? { running: container.running, paused: container.paused } : 'gone', reason);
      }
    }
    sessions.engineCaughtUp();
  }

  /** Away: the stream is gone (Sessions notes who was live). Back: follow again and catch up. */
  private onEngineChange(change: EngineChange): void {
    if (this.stopped) return;
    if (change.state === 'away') {
      this.retryTimer?.cancel();
      this.subscription?.close();
      this.subscription = undefined;
      return;
    }
    this.retryTimer?.cancel();
    if (this.begun) void this.start();
  }

  private async onEvent(event: ContainerEvent): Promise<void> {
    const { sessions } = this.deps;
    switch (event.action) {
      case 'oom':
        // A process of the container was killed for memory; if it was the main one, a die follows.
        this.outOfMemory.add(event.containerId);
        return sessions.noteContainerEvent(event.containerId, `a process was killed: out of memory (limit ${this.deps.config.current['limits.memoryMb']} MiB) at ${isoTime(this.deps.clock.now())}`);
      case 'die': {
        const reason = this.outOfMemory.delete(event.containerId)
          ? `stopped: out of memory (limit ${this.deps.config.current['limits.memoryMb']} MiB)`
          : `its container was stopped outside Sandkasten (exit code ${event.exitCode ?? 'unknown'})`;
        // An engine that shuts down refuses new connections, then stops its containers (their
        // events still reach this stream): such a death is its absence, which the health now
        // knows, and the catch-up after its return starts the session again.
        if (await this.deps.engineHealth?.awayNow()) return;
        return sessions.recordContainerState(event.containerId, { running: false, paused: false }, reason);
      }
      case 'destroy':
        this.outOfMemory.delete(event.containerId);
        this.deps.containers.forgetRemoved(event.containerId);
        return sessions.recordContainerState(event.containerId, 'gone');
      case 'pause':
      case 'unpause':
        return sessions.recordPauseEvent(event.containerId);
      case 'start':
        return sessions.recordContainerState(event.containerId, { running: true, paused: false });
      default:
        return; // stop and kill come with a die
    }
  }

  private onStreamEnd(error?: Error): void {
    this.subscription = undefined;
    if (this.stopped) return;
    this.deps.log.info(`Docker's event stream ended${error ? ` (${error.message})` : ''}; following again after a re-list`);
    this.retryLater(RESUBSCRIBE_DELAY_MS);
  }

  private retryLater(delayMs: number): void {
    if (this.stopped) return;
    this.retryTimer?.cancel();
    this.retryTimer = this.deps.clock.setTimeout(() => void this.start(), delayMs);
  }
}
