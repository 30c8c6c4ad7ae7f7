import * as fs from 'node:fs';
import * as path from 'node:path';
import initSqlJs, { type Database as SqlJsDatabase, type SqlJsStatic, type SqlValue, type Statement } from 'sql.js';
import { systemClock, type Clock } from '../util/clock';
import { stderrLogger, type Logger } from '../util/log';
import { removeStaleTemporaryFiles, UnsyncedRenameError, writeFileAtomically } from './durableFile';
import { migrate } from './migrations';
import { Journal, type JournalRecord, type JournalStatement } from './journal';
import { WriteCoalescer } from './writeCoalescer';

export type Row = Record<string, SqlValue>;
export type Params = SqlValue[] | Record<string, SqlValue>;

const LAZY_COMMIT_DELAY_MS = 1000;
/** A checkpoint (the whole database written as the file) once the journal is this big… */
const CHECKPOINT_JOURNAL_BYTES = 4 * 1024 * 1024;
/** …or its oldest record this old, so a restart replays little either way. */
const CHECKPOINT_AGE_MS = 5 * 60_000;

export interface DatabaseOptions {
  /** Where failed writes and removed leftovers are reported (default: stderr). */
  log?: Logger;
  /** How a checkpoint image reaches the disk (default: writeFileAtomically); tests inject failures here. */
  writeFile?: (target: string, bytes: Uint8Array) => Promise<void>;
  /** Runs before each journal append; a throw fails the append as a full disk would (tests). */
  beforeAppend?: () => Promise<void>;
}

/** A `commit()` caller, waiting until the statements noted before its call (`through`) are settled. */
interface Waiter {
  through: number;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * The sidecar's state: SQLite in memory (sql.js), made durable by a write-ahead journal
 * beside `file` (see Journal). Only one process may own the files (the sidecar's lock
 * guarantees it). The SQL itself lives in the per-table stores beside this file.
 *
 * **Durable means journaled.** Every statement that changes the database is noted as it runs
 * (a transaction's once it commits). `commit()` appends what was noted since the last append
 * as one record and fsyncs it; callers arriving while an append runs share the next one
 * (group commit). So an acknowledgement costs the change's bytes, whatever the database's size.
 * In the background, once the journal is big or old, a checkpoint writes the whole database
 * as `file` (atomically, as before the journal) at a moment when everything in memory is
 * journaled, records in the image which record it holds, and then the journal keeps only the
 * records after it. Opening loads the checkpoint and replays the journal's intact records after
 * it; a torn or corrupted tail (a crash mid-append) is dropped: it was never acknowledged.
 *
 * **The store never lies**: a caller hears that its change is durable only once it is, and a
 * change whose append failed is never written later. When an append fails, memory goes back to
 * what is durable (the checkpoint image, kept in memory, plus the records appended since) and
 * every change since is undone: those the append carried *and* those made while it ran, which
 * may build on them. So every caller waiting at that moment gets an error. A failed lazy
 * append (`commitSoon()`, usage statistics) is undone too, and logged.
 *
 * Hence the rule for callers: make a change and call `commit()` (or `commitSoon()`) in the
 * same synchronous step. A change left uncommitted across an `await` may be undone by a
 * failed append of others without its later `commit()` noticing.
 */
export class Database {
  private readonly writer: WriteCoalescer;
  private lazyCommit: { cancel(): void } | undefined;
  /** Prepared once per SQL text: preparing costs more than running on hot paths such as exec. */
  private readonly statements = new Map<string, Statement>();
  private waiters: Waiter[] = [];
  /** Changing statements run since the last append, in order. */
  private noted: JournalStatement[] = [];
  /** How many statements were ever noted: a waiter waits for the append that carries its count. */
  private notedCount = 0;
  /** Inside `transaction()`: its statements, noted once it commits. */
  private transactionNotes: JournalStatement[] | undefined;
  /** Appended since the checkpoint in `durableImage`: memory is that image plus these. */
  private durableRecords: Array<JournalRecord & { at: number }> = [];
  private nextSeq: number;
  /** Journal appends and rewrites, one at a time, in order. */
  private journalQueue: Promise<void> = Promise.resolve();
  private checkpointing = false;
  private closed = false;
  private readonly resetListeners: Array<() => void> = [];

  private constructor(
    private readonly SQL: SqlJsStatic,
    private db: SqlJsDatabase,
    /** undefined: in memory only (unit tests), commits write nothing. */
    readonly file: string | undefined,
    private readonly journal: Journal | undefined,
    /** The last checkpoint (or what was read at open): with the journal, what a failed append returns to. */
    private durableImage: Uint8Array | undefined,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly options: Required<Pick<DatabaseOptions, 'writeFile'>> & Pick<DatabaseOptions, 'beforeAppend'>,
    lastSeq: number,
  ) {
    // A write carries what was noted when it starts (synchronously), and answers every caller
    // whose changes it carries, those who called while it ran without changing anything too.
    this.writer = new WriteCoalescer(() => {
      const batch = { statements: this.noted, through: this.notedCount };
      this.noted = [];
      return this.inJournalQueue(() => this.append(batch));
    });
    this.nextSeq = lastSeq + 1;
  }

  /**
   * Opens (or creates) the database in `file` and its journal (`file` + ".journal"), replayed
   * and migrated; without a file, an in-memory one. Removes what writes killed half-way left
   * beside them first.
   */
  static async open(file: string | undefined, clock: Clock = systemClock, options: DatabaseOptions = {}): Promise<Database> {
    const log = options.log ?? stderrLogger;
    const writeFile = options.writeFile ?? ((target: string, bytes: Uint8Array) => writeFileAtomically(target, bytes));
    const SQL = await initSqlJs({ locateFile: locateWasm });
    if (!file) {
      const db = openHandle(SQL, undefined);
      migrate(db);
      return new Database(SQL, db, undefined, undefined, undefined, clock, log, { writeFile, beforeAppend: options.beforeAppend }, 0);
    }
    for (const target of [file, journalFileOf(file)]) {
      for (const name of await removeStaleTemporaryFiles(target)) log.info(`removed ${name}, left by an interrupted write`);
    }
    const image: Uint8Array | undefined = fs.existsSync(file) ? fs.readFileSync(file) : undefined;
    const { journal, records, droppedBytes } = await Journal.open(journalFileOf(file));
    if (droppedBytes > 0) log.info(`dropped ${droppedBytes} bytes at the end of ${path.basename(journalFileOf(file))}: an append a crash cut short (never acknowledged)`);
    const db = openHandle(SQL, image);
    try {
      const checkpointSeq = checkpointSeqOf(db);
      const replayed = records.filter((record) => record.seq > checkpointSeq);
      replay(db, replayed);
      const applied = migrate(db);
      const lastSeq = Math.max(checkpointSeq, ...records.map((record) => record.seq));
      const database = new Database(SQL, db, file, journal, image, clock, log, { writeFile, beforeAppend: options.beforeAppend }, lastSeq);
      if (replayed.length > 0) log.info(`replayed ${replayed.length} journal record(s) after the checkpoint`);
      // A new, replayed or migrated database starts from a checkpoint of its own.
      if (!image || replayed.length > 0 || applied.length > 0) await database.checkpoint();
      return database;
    } catch (error) {
      db.close();
      await journal.close();
      throw error;
    }
  }

  /**
   * The rows as objects. Column names are read once per query, values as arrays: sql.js's
   * getAsObject reads the names again for every row, five times the cost at 10,000 rows.
   */
  all<T = Row>(sql: string, params: Params = []): T[] {
    const statement = this.prepared(sql);
    try {
      statement.bind(params);
      const rows: T[] = [];
      let names: string[] | undefined;
      while (statement.step()) {
        names ??= statement.getColumnNames();
        const values = statement.get();
        const row: Row = {};
        for (let column = 0; column < names.length; column++) row[names[column]] = values[column];
        rows.push(row as T);
      }
      return rows;
    } finally {
      statement.reset();
    }
  }

  get<T = Row>(sql: string, params: Params = []): T | undefined {
    return this.all<T>(sql, params)[0];
  }

  /** The first column of every row, as values: no object per row (ids of ten thousand rows, say). */
  column<T extends SqlValue = SqlValue>(sql: string, params: Params = []): T[] {
    const statement = this.prepared(sql);
    try {
      statement.bind(params);
      const values: T[] = [];
      while (statement.step()) values.push(statement.get()[0] as T);
      return values;
    } finally {
      statement.reset();
    }
  }

  /** Called whenever memory is put back to what is durable (a failed append): caches of rows must go. */
  onReset(listener: () => void): void {
    this.resetListeners.push(listener);
  }

  /** Runs a statement that changes the database; it is journaled with the next `commit()`. */
  run(sql: string, params: Params = []): void {
    const statement = this.prepared(sql);
    try {
      statement.run(params);
    } finally {
      statement.reset();
    }
    const note: JournalStatement = [sql, Array.isArray(params) ? [...params] : { ...params }];
    if (this.transactionNotes) this.transactionNotes.push(note);
    else this.note(note);
  }

  private note(statement: JournalStatement): void {
    this.noted.push(statement);
    this.notedCount++;
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
    if (this.transactionNotes) return change(); // nested: part of the outer one
    this.db.run('BEGIN');
    this.transactionNotes = [];
    try {
      const result = change();
      this.db.run('COMMIT');
      for (const note of this.transactionNotes) this.note(note);
      return result;
    } catch (error) {
      this.db.run('ROLLBACK');
      throw error;
    } finally {
      this.transactionNotes = undefined;
    }
  }

  /**
   * Resolves once every change made before the call is durably journaled; rejects when the
   * append failed, and then those changes are undone (see the class comment).
   */
  commit(): Promise<void> {
    this.cancelLazyCommit();
    if (this.closed) return Promise.reject(new Error('The database is closed: the change was not saved.'));
    if (!this.file) return Promise.resolve();
    const through = this.notedCount;
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ through, resolve, reject });
      void this.writer.flush().catch(() => undefined); // each waiter hears the outcome itself
    });
  }

  /**
   * For changes nobody waits on (usage statistics): journaled within `delayMs`, together with
   * whatever else changed by then, or earlier by any `commit()`.
   */
  commitSoon(delayMs = LAZY_COMMIT_DELAY_MS): void {
    if (this.lazyCommit || !this.file) return;
    this.lazyCommit = this.clock.setTimeout(() => {
      this.lazyCommit = undefined;
      void this.writer.flush().catch(() => undefined); // logged by append
    }, delayMs);
  }

  private cancelLazyCommit(): void {
    this.lazyCommit?.cancel();
    this.lazyCommit = undefined;
  }

  /**
   * Journals what is noted, then writes a checkpoint, so the next open replays nothing (a
   * clean shutdown). A checkpoint that fails is logged; the journal still holds everything.
   */
  async checkpointNow(): Promise<void> {
    if (!this.file || this.closed) return;
    await this.commit();
    await this.journalQueue;
    await this.checkpoint();
  }

  close(): void {
    this.closed = true;
    this.cancelLazyCommit();
    this.statements.clear(); // close() frees them
    this.db.close();
    const journal = this.journal;
    if (journal) void this.journalQueue.then(() => journal.close());
  }

  private inJournalQueue(task: () => Promise<void>): Promise<void> {
    const run = this.journalQueue.then(task);
    this.journalQueue = run.catch(() => undefined);
    return run;
  }

  /** One append (the WriteCoalescer runs one at a time) of a batch of statements, answering the waiters it carries. */
  private async append({ statements, through }: { statements: JournalStatement[]; through: number }): Promise<void> {
    if (this.closed) {
      this.settle(() => true, new Error('The database was closed before the change was saved.'));
      return;
    }
    const journal = this.journal;
    if (journal && statements.length > 0) {
      const record = { seq: this.nextSeq, statements, at: this.clock.now() };
      try {
        await this.options.beforeAppend?.();
        await journal.append([record]);
      } catch (error) {
        this.undoSinceDurable(error);
        throw error;
      }
      this.nextSeq++;
      this.durableRecords.push(record);
    }
    this.settle((waiter) => waiter.through <= through);
    if (this.noted.length === 0 && this.checkpointDue()) void this.checkpoint().catch(() => undefined);
  }

  private checkpointDue(): boolean {
    if (this.checkpointing || this.durableRecords.length === 0) return false;
    return this.journal!.bytes > CHECKPOINT_JOURNAL_BYTES || this.clock.now() - this.durableRecords[0].at > CHECKPOINT_AGE_MS;
  }

  /**
   * Writes the whole database as the file, then keeps in the journal only what came after.
   * Exported at once (synchronously) while everything in memory is journaled, so the image
   * holds only durable changes; appends go on while it is written. A failed checkpoint
   * changes nothing: the journal still holds every record.
   */
  private async checkpoint(): Promise<void> {
    if (this.closed || !this.file || this.checkpointing || this.noted.length > 0 || this.transactionNotes) return;
    this.checkpointing = true;
    try {
      const seq = this.nextSeq - 1;
      // Not journaled: it describes the image itself, and the image is what carries it.
      this.db.run(`INSERT INTO meta (key, value) VALUES ('journalSeq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, [String(seq)]);
      const image = this.db.export();
      try {
        await this.options.writeFile(this.file, image);
      } catch (error) {
        // An image in place whose rename was not synced holds only journaled changes: harmless.
        if (!(error instanceof UnsyncedRenameError)) {
          this.log.error(`writing the checkpoint ${this.file} failed; the journal keeps every change`, error);
          return;
        }
      }
      await this.inJournalQueue(async () => {
        this.durableImage = image;
        this.durableRecords = this.durableRecords.filter((record) => record.seq > seq);
        await this.journal!.rewrite(this.durableRecords);
      }).catch((error: unknown) => this.log.error('shortening the journal after a checkpoint failed; it is replayed from the checkpoint on', error));
    } finally {
      this.checkpointing = false;
    }
  }

  /** After a failed append: memory back to what is durable, every waiting caller told. */
  private undoSinceDurable(cause: unknown): void {
    const message = `Saving the state to ${this.file} failed (${(cause as Error)?.message ?? String(cause)}); the change was undone.`;
    const failure = new Error(message, { cause });
    this.noted = [];
    this.statements.clear(); // close() frees them
    this.db.close();
    this.db = openHandle(this.SQL, this.durableImage);
    replay(this.db, this.durableRecords);
    for (const listener of this.resetListeners) listener();
    this.log.error(`appending to the journal of ${this.file} failed; every change since the last durable one is undone`, cause);
    // Everyone waiting now had changed memory before the undo; later callers had not.
    this.settle(() => true, failure);
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

/** The journal beside a database file. */
export function journalFileOf(file: string): string {
  return `${file}.journal`;
}

/** Which journal record the image holds the changes of (0: none, or an image from before the journal). */
function checkpointSeqOf(db: SqlJsDatabase): number {
  try {
    const result = db.exec(`SELECT value FROM meta WHERE key = 'journalSeq'`);
    return Number(result[0]?.values[0]?.[0] ?? 0) || 0;
  } catch {
    return 0; // no meta table yet: a new database
  }
}

/** Runs journal records in order, each as one transaction. */
function replay(db: SqlJsDatabase, records: JournalRecord[]): void {
  for (const record of records) {
    db.run('BEGIN');
    try {
      for (const [sql, params] of record.statements) db.run(sql, params);
      db.run('COMMIT');
    } catch (error) {
      db.run('ROLLBACK');
      throw new Error(`Replaying journal record ${record.seq} failed: ${(error as Error).message}`);
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
