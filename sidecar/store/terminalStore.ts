import type { Clock } from '../util/clock';
import type { Database } from './database';
import type { TerminalState } from '../terminals/state';

export interface TerminalRow {
  id: string;
  session_id: string;
  name: string;
  cwd: string;
  /** JSON object of the exported variables to restore. */
  env: string;
  history: string;
  created_at: number;
  updated_at: number;
  /** 1: only the host sees it (guests of a share neither list nor open it). */
  private: number;
}

/**
 * The `terminals` table (migration 2): which terminals exist and the last state their shell
 * reported. Rows go with their session (ON DELETE CASCADE). Nothing here commits (see Store).
 */
export class TerminalStore {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  get(id: string): TerminalRow | undefined {
    return this.db.get<TerminalRow>('SELECT * FROM terminals WHERE id = ?', [id]);
  }

  list(sessionId?: string): TerminalRow[] {
    return sessionId === undefined
      ? this.db.all<TerminalRow>('SELECT * FROM terminals ORDER BY created_at, id')
      : this.db.all<TerminalRow>('SELECT * FROM terminals WHERE session_id = ? ORDER BY created_at, id', [sessionId]);
  }

  /** "Terminal N", one more than the highest number the session's terminals use. */
  nextName(sessionId: string): string {
    const numbers = this.list(sessionId).map((row) => Number(/^Terminal (\d+)$/.exec(row.name)?.[1] ?? 0));
    return `Terminal ${Math.max(0, ...numbers) + 1}`;
  }

  insert(id: string, sessionId: string, name: string, state: TerminalState, onlyHost = false): void {
    const now = this.clock.now();
    this.db.run(
      `INSERT INTO terminals (id, session_id, name, cwd, env, history, created_at, updated_at, private) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [id, sessionId, name, state.cwd, JSON.stringify(state.env), state.history, now, now, onlyHost ? 1 : 0],
    );
  }

  saveState(id: string, state: TerminalState): void {
    this.db.run('UPDATE terminals SET cwd = ?, env = ?, history = ?, updated_at = ? WHERE id = ?', [
      state.cwd,
      JSON.stringify(state.env),
      state.history,
      this.clock.now(),
      id,
    ]);
  }

  delete(id: string): void {
    this.db.run('DELETE FROM terminals WHERE id = ?', [id]);
  }
}

export function stateOf(row: TerminalRow): TerminalState {
  let env: Record<string, string> = {};
  try {
    env = JSON.parse(row.env) as Record<string, string>;
  } catch {
    // A row written by hand or by a bug: restore without its environment rather than fail.
  }
  return { cwd: row.cwd, env, history: row.history };
}
