import { systemClock, type Clock } from '../util/clock';
import { Database } from './database';
import { MetaStore } from './metaStore';
import { SessionStore } from './sessionStore';
import { TerminalStore } from './terminalStore';
import { WorkspaceStore } from './workspaceStore';

/**
 * The sidecar's state, one store per table over one database. Stores change the in-memory
 * database only; `commit()` makes every change made so far durable (concurrent callers
 * share one write), `commitSoon()` for changes nobody waits on.
 */
export class Store {
  readonly workspaces: WorkspaceStore;
  readonly sessions: SessionStore;
  readonly terminals: TerminalStore;
  readonly meta: MetaStore;

  private constructor(
    private readonly db: Database,
    clock: Clock,
  ) {
    this.workspaces = new WorkspaceStore(db);
    this.sessions = new SessionStore(db);
    this.terminals = new TerminalStore(db, clock);
    this.meta = new MetaStore(db);
  }

  /** The database in `file` (created and migrated as needed); without a file, in memory only. */
  static async open(file: string | undefined, clock: Clock = systemClock): Promise<Store> {
    return new Store(await Database.open(file, clock), clock);
  }

  commit(): Promise<void> {
    return this.db.commit();
  }

  commitSoon(): void {
    this.db.commitSoon();
  }

  close(): void {
    this.db.close();
  }
}
