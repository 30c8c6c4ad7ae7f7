import { newInstanceId } from '../client/ids';
import type { BoundEngine } from '../client/protocol';
import type { Database } from './database';

/** The `meta` table: facts about the storage directory itself. Nothing here commits. */
export class MetaStore {
  constructor(private readonly db: Database) {}

  /** The instance id labelling this storage directory's Docker objects; made on first use. */
  instanceId(): { id: string; isNew: boolean } {
    const existing = this.db.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'instance'`)?.value;
    if (existing) return { id: existing, isNew: false };
    const id = newInstanceId();
    this.db.run(`INSERT INTO meta (key, value) VALUES ('instance', ?)`, [id]);
    return { id, isNew: true };
  }

  /** The Docker engine this storage directory's objects live on (see EngineBinding); undefined until first reached. */
  boundEngine(): BoundEngine | undefined {
    const value = this.db.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'engine'`)?.value;
    if (!value) return undefined;
    try {
      const parsed = JSON.parse(value) as Partial<BoundEngine>;
      return typeof parsed.id === 'string' ? { id: parsed.id, name: String(parsed.name ?? ''), endpoint: String(parsed.endpoint ?? '') } : undefined;
    } catch {
      return undefined;
    }
  }

  bindEngine(engine: BoundEngine): void {
    this.db.run(`INSERT INTO meta (key, value) VALUES ('engine', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, [JSON.stringify(engine)]);
  }

  /** The HTTP API's last port, tried first next time so clients keep their URL (0: none yet). */
  apiPort(): number {
    return Number(this.db.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'apiPort'`)?.value ?? 0) || 0;
  }

  setApiPort(port: number): void {
    this.db.run(`INSERT INTO meta (key, value) VALUES ('apiPort', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, [String(port)]);
  }
}
