import * as fs from 'node:fs';
import * as path from 'node:path';
import initSqlJs, { type Database as SqlJsDatabase, type SqlJsStatic, type SqlValue, type Statement } from 'sql.js';
import { systemClock, type Clock } from '../util/clock';
import { stderrLogger, type Logger } from '../util/log';
import { removeStaleTemporaryFiles, UnsyncedRenameError, writeFileAtomically } from './durableFile';
import { migrate } from './migrations';
import { WriteCoalescer } from './writeCoalescer';

export type Row = Record<string, SqlValue>;
export type Params = SqlValue[] | Record<string, SqlValue>;

const LAZY_COMMIT_DELAY_MS = 1000;

export interface DatabaseOptions {
  /** Where failed writes and removed leftovers are reported (default: stderr). */
  log?: Logger;
  /** How an image reaches the disk (default: writeFileAtomically); tests inject failures here. */
  writeFile?: (target: string, bytes: Uint8Array) => Promise<void>;
}

/** A `commit()` caller, waiting until the change numbered `through` is settled. */
interface Waiter {
  through: number;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * The sidecar's state: SQLite in memory (sql.js), written whole to `file` on `commit()`.
 * Only one process may own a file (the sidecar's lock guarantees it), else updates are lost.
 * The SQL itself lives in the per-table stores beside this file.
 *
 * **The store never lies**: a caller hears that its change is durable only once it is, and a
 * change whose write failed is never written later. Each change has a number (SQLite's change
 * count); `commit()` waits for the number current at its call. A write carries every change
 * made before it exports the image and answers each waiting caller it carries. When a write
 * fails, the database is reopened from the image last written successfully (kept in memory
 * for this) and every change since is undone: those the write carried *and* those made while
 * it ran, which may build on them (a session row of a workspace that never became durable).
 * So every caller waiting at that moment gets an error, and nothing of theirs is written
 * later; changes made after the failure start from the restored state and are written as
 * usual. A failed lazy write (`commitSoon()`, usage statistics) is undone too, and logged.
 *
 * Hence the rule for callers: make a change and call `commit()` (or `commitSoon()`) in the
 * same synchronous step. A change left uncommitted across an `await` may be undone by a
 * failed write of others without its later `commit()` noticing.
 */
export class Database {
  private readonly writer: WriteCoalescer;
  private lazyCommit: { cancel(): void } | undefined;
  /** Prepared once per SQL text: preparing costs more than running on hot paths such as exec. */
  private readonly statements = new Map<string, Statement>();
  private waiters: Waiter[] = [];
  /** Changes counted by handles before the current one (SQLite counts per handle). */
  private changesOfEarlierHandles = 0;
  private closed = false;

  private constructor(
    private readonly SQL: SqlJsStatic,
    private db: SqlJsDatabase,
    /** undefined: in memory only (unit tests), commits write nothing. */
    readonly file: string | undefined,
    /** The image last written successfully (or read at open): what a failed write returns to. */
    private durableImage: Uint8Array | undefined,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly writeFile: (target: string, bytes: Uint8Array) => Promise<void>,
  ) {
    this.writer = new WriteCoalescer(() => this.writeImage());
  }

  /**
   * Opens (or creates) the database in `file`, migrated; without a file, an in-memory one.
   * Removes what writes killed half-way left beside `file` first.
   */
  static async open(file: string | undefined, clock: Clock = systemClock, options: DatabaseOptions = {}): Promise<Database> {
    const log = options.log ?? stderrLogger;
    const writeFile = options.writeFile ?? ((target: string, bytes: Uint8Array) => writeFileAtomically(target, bytes));
    const SQL = await initSqlJs({ locateFile: locateWasm });
    if (file) {
      for (const name of await removeStaleTemporaryFiles(file)) log.info(`removed ${name}, left by an interrupted write`);
    }
    let image: Uint8Array | undefined = file && fs.existsSync(file) ? fs.readFileSync(file) : undefined;
    const db = openHandle(SQL, image);
    try {
      const applied = migrate(db);
      if (file && (applied.length > 0 || !image)) {
        image = db.export();
        await writeFile(file, image);
      }
    } catch (error) {
      db.close();
      throw error;
    }
    return new Database(SQL, db, file, image, clock, log, writeFile);
  }

  all<T = Row>(sql: string, params: Params = []): T[] {
    const statement = this.prepared(sql);
    try {
      statement.bind(params);
      const rows: T[] = [];
      while (statement.step()) rows.push(statement.getAsObject() as T);
      return rows;
    } finally {
      statement.reset();
    }
  }

  get<T = Row>(sql: string, params: Params = []): T | undefined {
    return this.all<T>(sql, params)[0];
  }

  run(sql: string, params: Params = []): void {
    const statement = this.prepared(sql);
    try {
      statement.run(params);
    } finally {
      statement.reset();
    }
  }

  private prepared(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs `change` atomically in memory; call `commit()` to make it durable. */
  transaction<T>(change: () => T): T {
    this.db.run('BEGIN');
    try {
      const result = change();
      this.db.run('COMMIT');
      return result;
    } catch (error) {
      this.db.run('ROLLBACK');
      throw error;
    }
  }

  /**
   * Resolves once every change made before the call is durably on disk; rejects when the
   * write failed, and then those changes are undone (see the class comment).
   */
  commit(): Promise<void> {
    this.cancelLazyCommit();
    if (this.closed) return Promise.reject(new Error('The database is closed: the change was not saved.'));
    if (!this.file) return Promise.resolve();
    // Writes even when nothing changed since the last write, as commits always did.
    const through = this.changeCount();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ through, resolve, reject });
      void this.writer.flush().catch(() => undefined); // each waiter hears the outcome itself
    });
  }

  /**
   * For changes nobody waits on (usage statistics): written within `delayMs`, together with
   * whatever else changed by then, or earlier by any `commit()`. Keeps a hot path such as
   * exec free of a whole-database write per call.
   */
  commitSoon(delayMs = LAZY_COMMIT_DELAY_MS): void {
    if (this.lazyCommit) return;
    this.lazyCommit = this.clock.setTimeout(() => {
      this.lazyCommit = undefined;
      void this.writer.flush().catch(() => undefined); // logged by writeImage
    }, delayMs);
  }

  private cancelLazyCommit(): void {
    this.lazyCommit?.cancel();
    this.lazyCommit = undefined;
  }

  close(): void {
    this.closed = true;
    this.cancelLazyCommit();
    this.statements.clear(); // close() frees them
    this.db.close();
  }

  /** Every change so far, over all handles: SQLite's own count, so no change goes unnoticed. */
  private changeCount(): number {
    return this.changesOfEarlierHandles + (this.get<{ n: number }>('SELECT total_changes() AS n')?.n ?? 0);
  }

  /** One durable write (the WriteCoalescer runs one at a time), answering the waiters it settles. */
  private async writeImage(): Promise<void> {
    if (this.closed) {
      this.settle(() => true, new Error('The database was closed before the change was saved.'));
      return;
    }
    if (!this.file) return;
    const exported = this.changeCount();
    let image: Uint8Array;
    try {
      image = this.db.export();
      await this.writeFile(this.file, image);
    } catch (error) {
      await this.undoSinceDurableImage(this.file, error);
      throw error;
    }
    this.durableImage = image;
    this.settle((waiter) => waiter.through <= exported);
  }

  /** After a failed write: memory back to the last durable image, every waiting caller told. */
  private async undoSinceDurableImage(file: string, cause: unknown): Promise<void> {
    const message = `Saving the state to ${file} failed (${(cause as Error)?.message ?? String(cause)}); the change was undone.`;
    const failure = new Error(message, { cause });
    if (this.closed) {
      this.settle(() => true, failure);
      return;
    }
    // Everyone waiting now had changed memory before the undo; later callers had not.
    const undone = new Set(this.waiters);
    const undoneThrough = this.changeCount();
    this.statements.clear(); // close() frees them
    this.db.close();
    this.db = openHandle(this.SQL, this.durableImage);
    this.changesOfEarlierHandles = undoneThrough;
    this.log.error(`writing ${file} failed; every change since the last successful write is undone`, cause);
    if (cause instanceof UnsyncedRenameError && this.durableImage) {
      // The new image is in place already: put the one memory now holds back, so a restart
      // does not bring the undone changes back.
      await this.writeFile(file, this.durableImage).catch((error: unknown) =>
        this.log.error(`putting the last durable state back into ${file} failed too: the next start may show undone changes`, error),
      );
    }
    this.settle((waiter) => undone.has(waiter), failure);
  }

  private settle(settled: (waiter: Waiter) => boolean, failure?: Error): void {
    const answered = this.waiters.filter(settled);
    this.waiters = this.waiters.filter((waiter) => !settled(waiter));
    for (const waiter of answered) {
      if (failure) waiter.reject(failure);
      else waiter.resolve();
    }
  }
}

function openHandle(SQL: SqlJsStatic, image: Uint8Array | undefined): SqlJsDatabase {
  const db = new SQL.Database(image);
  db.run('PRAGMA foreign_keys = ON');
  return db;
}

/** In the bundle the wasm file sits beside the script; from source, beside sql.js itself. */
function locateWasm(file: string): string {
  const bundled = path.join(__dirname, file);
  return fs.existsSync(bundled) ? bundled : path.join(path.dirname(require.resolve('sql.js')), file);
}
