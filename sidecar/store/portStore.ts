import type { Database } from './database';

export interface PortRow {
  session_id: string;
  port: number;
  label: string | null;
  /** Set while the port is forwarded: the local port it listens on. */
  local_port: number | null;
  /** 1: forwarded by `ports.autoForward`, not by someone asking. */
  auto: number;
  forwarded_at: number | null;
}

/**
 * The `ports` table (migration 9): the ports of a session someone forwarded or labelled. A
 * row goes when it is neither; rows go with their session (ON DELETE CASCADE) and are
 * cleared when the session stops. Nothing here commits (see Store).
 */
export class PortStore {
  constructor(private readonly db: Database) {}

  list(sessionId?: string): PortRow[] {
    return sessionId === undefined
      ? this.db.all<PortRow>('SELECT * FROM ports ORDER BY session_id, port')
      : this.db.all<PortRow>('SELECT * FROM ports WHERE session_id = ? ORDER BY port', [sessionId]);
  }

  get(sessionId: string, port: number): PortRow | undefined {
    return this.db.get<PortRow>('SELECT * FROM ports WHERE session_id = ? AND port = ?', [sessionId, port]);
  }

  setForward(sessionId: string, port: number, forward: { localPort: number; auto: boolean; at: number } | null): void {
    if (forward) {
      this.db.run(
        `INSERT INTO ports (session_id, port, local_port, auto, forwarded_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (session_id, port) DO UPDATE SET local_port = excluded.local_port, auto = excluded.auto, forwarded_at = excluded.forwarded_at`,
        [sessionId, port, forward.localPort, forward.auto ? 1 : 0, forward.at],
      );
    } else {
      this.db.run('UPDATE ports SET local_port = NULL, auto = 0, forwarded_at = NULL WHERE session_id = ? AND port = ?', [sessionId, port]);
      this.dropIfEmpty(sessionId, port);
    }
  }

  setLabel(sessionId: string, port: number, label: string | null): void {
    this.db.run(
      `INSERT INTO ports (session_id, port, label) VALUES (?, ?, ?)
       ON CONFLICT (session_id, port) DO UPDATE SET label = excluded.label`,
      [sessionId, port, label],
    );
    this.dropIfEmpty(sessionId, port);
  }

  /** The session stopped: its forwards and labels go. */
  clear(sessionId: string): void {
    this.db.run('DELETE FROM ports WHERE session_id = ?', [sessionId]);
  }

  private dropIfEmpty(sessionId: string, port: number): void {
    this.db.run('DELETE FROM ports WHERE session_id = ? AND port = ? AND label IS NULL AND local_port IS NULL', [sessionId, port]);
  }
}
