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
    const { store, sessions, workspaces, config, containers, changes, log } = this.deps;
    const running = store.sessions.listLive().filter((session) => session.state === 'running' && session.containerId);
    if (running.length === 0) return;
    let usage: Awaited<ReturnType<Containers['engine']['diskUsage']>>;
    try {
      usage = await containers.engine.diskUsage();
    } catch (error) {
      log.info(`could not measure disk use: ${(error as Error).message}`);
      return;
    }
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
        await sessions.noteContainerEvent(session.containerId!, `disk ${Math.floor((used / limit) * 100)} % full (${share}); stopped at the limit`);
      } else {
        this.warned.delete(session.id);
      }
    }
    if (sizesChanged) changes.emit('workspaces');
  }
}
