import { formatBytes } from './client/units';
import type { ConfigStore } from './config';
import type { Containers } from './containers';
import type { Sessions } from './sessions';
import type { Store } from './store/store';
import type { Changes } from './util/changes';
import type { Clock } from './util/clock';
import type { Logger } from './util/log';
import { Repeating } from './util/repeating';
import type { Workspaces } from './workspaces';

/** Share of `limits.diskMb` from which a session says its disk is filling up. */
export const DISK_WARNING_SHARE = 0.8;
const MIB = 1024 * 1024;
/**
 * Docker before 23 measures for one caller at a time and refuses the others ("a disk usage
 * operation is already running"): another sidecar, `docker system df`. Such a round asks
 * again after a pause rather than going without a measurement until the next round.
 */
const BUSY_RETRIES = 10;
const BUSY_PAUSE_MS = 500;
const isBusy = (error: unknown) => /disk usage operation is already running/i.test((error as Error)?.message ?? '');

/**
 * Watches how much disk each running session's workspace uses (its volume and its
 * container's writable layer), as Docker measures it from the host. Docker's local volumes
 * have no size limit, so this is the limit: at DISK_WARNING_SHARE of `limits.diskMb` the
 * session notes it (the tree and the CLI show it), at the limit the session is stopped with
 * that reason. Measures every `limits.diskCheckSeconds`, and only while sessions run.
 */
export class DiskWatch {
  private readonly rounds: Repeating;
  /** Sessions already told they are near the limit (told again once they went below and back). */
  private readonly warned = new Set<string>();

  constructor(
    private readonly deps: { containers: Containers; store: Store; sessions: Sessions; workspaces: Workspaces; config: ConfigStore; clock: Clock; changes: Changes; log: Logger },
  ) {
    this.rounds = new Repeating(deps.clock, () => deps.config.current['limits.diskCheckSeconds'] * 1000, () => this.check());
    // A new interval (or limit) takes effect now, not after the old interval.
    deps.config.onDidChange(() => this.rounds.reschedule());
  }

  start(): void {
    this.rounds.start();
  }

  stop(): void {
    this.rounds.stop();
  }

  /** One measurement: records each running workspace's use, warns, and stops what is over the limit. */
  async check(): Promise<void> {
    const { store, sessions, workspaces, config, changes, log } = this.deps;
    const runningNow = () => store.sessions.listLive().filter((session) => session.state === 'running' && session.containerId);
    if (runningNow().length === 0) return;
    const usage = await this.measure();
    if (!usage) return;
    // Asked again: a measurement can take seconds, in which sessions stop.
    const running = runningNow();
    const limit = config.current['limits.diskMb'] * MIB;
    let sizesChanged = false;
    for (const session of running) {
      const workspace = store.workspaces.get(session.workspaceId);
      if (!workspace) continue;
      const used = (usage.volumes.get(workspace.volume) ?? 0) + (usage.containers.get(session.containerId!) ?? 0);
      if (workspaces.recordDiskUse(workspace.id, used)) sizesChanged = true;
      const share = `${formatBytes(used)} of ${formatBytes(limit)}`;
      if (used >= limit) {
        this.warned.delete(session.id);
        log.info(`stopping session ${session.id}: its disk use reached the limit (${share})`);
        await sessions.stop(session.id, `stopped: disk limit reached (${share})`).catch((error: Error) => log.error(`stopping session ${session.id} at its disk limit failed`, error));
      } else if (used >= DISK_WARNING_SHARE * limit) {
        if (this.warned.has(session.id)) continue;
        this.warned.add(session.id);
        log.info(`session ${session.id}: its disk is filling up (${share})`);
        await sessions.noteContainerEvent(session.containerId!, `disk ${Math.floor((used / limit) * 100)} % full (${share}); stopped at the limit`);
      } else {
        this.warned.delete(session.id);
      }
    }
    if (sizesChanged) changes.emit('workspaces');
  }

  /** Docker's measurement of every volume and container; undefined (logged) when it failed. */
  private async measure(): Promise<Awaited<ReturnType<Containers['engine']['diskUsage']>> | undefined> {
    const { containers, clock, log } = this.deps;
    for (let attempt = 0; ; attempt++) {
      try {
        return await containers.engine.diskUsage();
      } catch (error) {
        if (!isBusy(error) || attempt === BUSY_RETRIES) {
          log.info(`could not measure disk use: ${(error as Error).message}`);
          return undefined;
        }
        await clock.sleep(BUSY_PAUSE_MS);
      }
    }
  }
}
