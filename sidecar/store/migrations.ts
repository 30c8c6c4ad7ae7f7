import type { Database } from 'sql.js';

/**
 * Versioned schema changes, applied in order on open. The database's `user_version` pragma
 * records the last one applied. Never edit a released migration: append a new one.
 */
export interface Migration {
  version: number;
  description: string;
  up(db: Database): void;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'workspaces, sessions and instance metadata',
    up(db) {
      db.run(`
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE workspaces (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          kind TEXT NOT NULL,
          image TEXT NOT NULL,
          description TEXT NOT NULL DEFAULT '',
          tags TEXT NOT NULL DEFAULT '[]',
          pinned INTEGER NOT NULL DEFAULT 0,
          state TEXT NOT NULL,
          volume TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          last_accessed_at INTEGER NOT NULL,
          sessions_count INTEGER NOT NULL DEFAULT 0,
          commands_count INTEGER NOT NULL DEFAULT 0,
          run_time_ms INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE sessions (
          id TEXT PRIMARY KEY,
          workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
          container_id TEXT,
          image TEXT NOT NULL,
          state TEXT NOT NULL,
          from_pool INTEGER NOT NULL DEFAULT 0,
          created_at INTEGER NOT NULL,
          started_at INTEGER,
          stopped_at INTEGER
        );
        CREATE INDEX sessions_by_workspace ON sessions(workspace_id);
      `);
    },
  },
  {
    version: 2,
    description: 'terminals with the state their shell last reported',
    up(db) {
      db.run(`
        CREATE TABLE terminals (
          id TEXT PRIMARY KEY,
          session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
          name TEXT NOT NULL,
          cwd TEXT NOT NULL,
          env TEXT NOT NULL DEFAULT '{}',
          history TEXT NOT NULL DEFAULT '',
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL
        );
        CREATE INDEX terminals_by_session ON terminals(session_id);
      `);
    },
  },
  {
    version: 3,
    description: 'why a session is in its state, and sessions by container',
    up(db) {
      db.run(`
        ALTER TABLE sessions ADD COLUMN state_reason TEXT;
        CREATE INDEX sessions_by_container ON sessions(container_id);
      `);
    },
  },
  {
    version: 4,
    description: "a workspace's explicit choice of the host's network",
    up(db) {
      db.run('ALTER TABLE workspaces ADD COLUMN host_network INTEGER NOT NULL DEFAULT 0;');
    },
  },
  {
    version: 5,
    description: 'where workspaces and sessions were made (VS Code, CLI, API), and API session leases',
    up(db) {
      db.run(`
        ALTER TABLE workspaces ADD COLUMN origin TEXT;
        ALTER TABLE sessions ADD COLUMN origin TEXT;
        ALTER TABLE sessions ADD COLUMN expires_at INTEGER;
      `);
    },
  },
  {
    version: 6,
    description: 'indexes for listing workspaces in order, by kind, state and name, and sessions by lease',
    up(db) {
      db.run(`
        CREATE INDEX workspaces_by_created ON workspaces(created_at, id);
        CREATE INDEX workspaces_by_kind ON workspaces(kind, created_at, id);
        CREATE INDEX workspaces_by_state ON workspaces(state, created_at, id);
        CREATE INDEX workspaces_by_name ON workspaces(name);
        CREATE INDEX sessions_by_lease ON sessions(expires_at) WHERE expires_at IS NOT NULL;
      `);
    },
  },
  {
    version: 7,
    description: 'lifecycle: warnings, frozen sessions, workspace events, snapshots',
    up(db) {
      // Events outlive their workspace (the history says why it went), so no foreign key.
      db.run(`
        ALTER TABLE workspaces ADD COLUMN warned_at INTEGER;
        ALTER TABLE sessions ADD COLUMN frozen_at INTEGER;
        CREATE TABLE workspace_events (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          workspace_id TEXT NOT NULL,
          at INTEGER NOT NULL,
          kind TEXT NOT NULL,
          reason TEXT NOT NULL
        );
        CREATE INDEX workspace_events_by_workspace ON workspace_events(workspace_id, seq);
        CREATE TABLE snapshots (
          id TEXT PRIMARY KEY,
          workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
          name TEXT NOT NULL,
          version INTEGER NOT NULL,
          file TEXT NOT NULL,
          bytes INTEGER NOT NULL,
          sha256 TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          UNIQUE (workspace_id, version)
        );
      `);
    },
  },
  {
    version: 8,
    description: "sharing: terminals only the host sees",
    up(db) {
      db.run('ALTER TABLE terminals ADD COLUMN private INTEGER NOT NULL DEFAULT 0;');
    },
  },
  {
    version: 9,
    description: 'ports: forwards and labels of a session\'s ports',
    up(db) {
      db.run(`
        CREATE TABLE ports (
          session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
          port INTEGER NOT NULL,
          label TEXT,
          local_port INTEGER,
          auto INTEGER NOT NULL DEFAULT 0,
          forwarded_at INTEGER,
          PRIMARY KEY (session_id, port)
        );
      `);
    },
  },
];

export function schemaVersion(db: Database): number {
  return Number(db.exec('PRAGMA user_version')[0].values[0][0]);
}

/** Applies every migration newer than the database, each in its own transaction. */
export function migrate(db: Database, migrations: Migration[] = MIGRATIONS): number[] {
  const applied: number[] = [];
  const current = schemaVersion(db);
  const newest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  if (current > newest) {
    throw new Error(
      `The database has schema version ${current}, newer than this Sandkasten knows (${newest}). Update Sandkasten.`,
    );
  }
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (migration.version <= current) continue;
    db.run('BEGIN');
    try {
      migration.up(db);
      db.run(`PRAGMA user_version = ${migration.version}`);
      db.run('COMMIT');
    } catch (error) {
      db.run('ROLLBACK');
      throw new Error(`Migration ${migration.version} (${migration.description}) failed: ${(error as Error).message}`);
    }
    applied.push(migration.version);
  }
  return applied;
}
