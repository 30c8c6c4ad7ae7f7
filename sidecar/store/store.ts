import { systemClock, type Clock } from '../util/clock';
import { Database, type DatabaseOptions } from './database';
import { EventStore } from './eventStore';
import { MetaStore } from './metaStore';
import { PortStore } from './portStore';
import { SessionStore } from './sessionStore';
import { SnapshotStore } from './snapshotStore';
import { TerminalStore } from './terminalStore';
import { WorkspaceStore } from './workspaceStore';

/**
 * The sidecar's state, one store per table over one database. Stores change the in-memory
 * database only; `commit()` makes every change made so far durable (concurrent callers
 * share one write), `commitSoon()` for changes nobody waits on. A failed write undoes every
 * change it would have made durable, so its callers' errors are the whole story (see
 * Database): make a change and commit it in the same synchronous step.
 */
export class Store {
  readonly workspaces: WorkspaceStore;
  readonly sessions: SessionStore;
  readonly terminals: TerminalStore;
  readonly ports: PortStore;
  readonly meta: MetaStore;
  readonly events: EventStore;
  readonly snapshots: SnapshotStore;

  private constructor(
    private readonly db: Database,
    clock: Clock,
  ) {
    this.workspaces = new WorkspaceStore(db);
    this.sessions = new SessionStore(db);
    this.terminals = new TerminalStore(db, clock);
    this.ports = new PortStore(db);
    this.meta = new MetaStore(db);
    this.events = new EventStore(db);
    this.snapshots = new SnapshotStore(db);
  }

  /** The database in `file` (created and migrated as needed); without a file, in memory only. */
  static async open(file: string | undefined, clock: Clock = systemClock, options: DatabaseOptions = {}): Promise<Store> {
    return new Store(await Database.open(file, clock, options), clock);
  }

  commit(): Promise<void> {
    return this.db.commit();
  }

  commitSoon(): void {
    this.db.commitSoon();
  }

  /** Everything durable, and in a checkpoint: the next open replays nothing (at shutdown). */
  checkpoint(): Promise<void> {
    return this.db.checkpointNow();
  }

  close(): void {
    this.db.close();
  }
}
