import * as fs from 'node:fs';
import * as path from 'node:path';
import initSqlJs, { type Database as SqlJsDatabase, type SqlValue, type Statement } from 'sql.js';
import { systemClock, type Clock } from '../util/clock';
import { writeFileAtomically } from './durableFile';
import { migrate } from './migrations';
import { WriteCoalescer } from './writeCoalescer';

export type Row = Record<string, SqlValue>;
export type Params = SqlValue[] | Record<string, SqlValue>;

const LAZY_COMMIT_DELAY_MS = 1000;

/**
 * The sidecar's state: SQLite in memory (sql.js), written whole to `file` on `commit()`.
 * Only one process may own a file (the sidecar's lock guarantees it), else updates are lost.
 * The SQL itself lives in the per-table stores beside this file.
 */
export class Database {
  private readonly writer: WriteCoalescer;
  private lazyCommit: { cancel(): void } | undefined;
  /** Prepared once per SQL text: preparing costs more than running on hot paths such as exec. */
  private readonly statements = new Map<string, Statement>();

  private constructor(
    private readonly db: SqlJsDatabase,
    /** undefined: in memory only (unit tests), commits write nothing. */
    readonly file: string | undefined,
    private readonly clock: Clock,
  ) {
    this.writer = new WriteCoalescer(async () => {
      if (this.file) await writeFileAtomically(this.file, this.db.export());
    });
  }

  /** Opens (or creates) the database in `file`, migrated; without a file, an in-memory one. */
  static async open(file: string | undefined, clock: Clock = systemClock): Promise<Database> {
    const SQL = await initSqlJs({ locateFile: locateWasm });
    const bytes = file && fs.existsSync(file) ? fs.readFileSync(file) : undefined;
    const db = new SQL.Database(bytes);
    db.run('PRAGMA foreign_keys = ON');
    const database = new Database(db, file, clock);
    const applied = migrate(db);
    if (applied.length > 0 || !bytes) await database.commit();
    return database;
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

  /** Resolves once every change made before the call is durably on disk. */
  commit(): Promise<void> {
    this.cancelLazyCommit();
    return this.writer.flush();
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
      void this.writer.flush().catch(() => undefined);
    }, delayMs);
  }

  private cancelLazyCommit(): void {
    this.lazyCommit?.cancel();
    this.lazyCommit = undefined;
  }

  close(): void {
    this.cancelLazyCommit();
    this.statements.clear(); // close() frees them
    this.db.close();
  }
}

/** In the bundle the wasm file sits beside the script; from source, beside sql.js itself. */
function locateWasm(file: string): string {
  const bundled = path.join(__dirname, file);
  return fs.existsSync(bundled) ? bundled : path.join(path.dirname(require.resolve('sql.js')), file);
}
