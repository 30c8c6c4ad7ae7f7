import type { SnapshotInfo } from '../client/protocol';
import { isoTime } from '../util/clock';
import type { Database } from './database';

interface SnapshotRow {
  id: string;
  workspace_id: string;
  name: string;
  version: number;
  file: string;
  bytes: number;
  sha256: string;
  created_at: number;
}

export interface NewSnapshot {
  id: string;
  workspaceId: string;
  name: string;
  version: number;
  /** The archive's file name in the snapshot directory (never a path: the directory is the sidecar's). */
  file: string;
  bytes: number;
  sha256: string;
  now: number;
}

/** The `snapshots` table: only archives that were written and verified are recorded. Nothing here commits. */
export class SnapshotStore {
  constructor(private readonly db: Database) {}

  /** Newest first. */
  list(workspaceId: string): SnapshotInfo[] {
    return this.db.all<SnapshotRow>('SELECT * FROM snapshots WHERE workspace_id = ? ORDER BY version DESC', [workspaceId]).map(toSnapshotInfo);
  }

  get(id: string): (SnapshotInfo & { file: string }) | undefined {
    const row = this.db.get<SnapshotRow>('SELECT * FROM snapshots WHERE id = ?', [id]);
    return row && { ...toSnapshotInfo(row), file: row.file };
  }

  nextVersion(workspaceId: string): number {
    return (this.db.get<{ v: number | null }>('SELECT MAX(version) AS v FROM snapshots WHERE workspace_id = ?', [workspaceId])?.v ?? 0) + 1;
  }

  insert(snapshot: NewSnapshot): void {
    this.db.run('INSERT INTO snapshots (id, workspace_id, name, version, file, bytes, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
      snapshot.id,
      snapshot.workspaceId,
      snapshot.name,
      snapshot.version,
      snapshot.file,
      snapshot.bytes,
      snapshot.sha256,
      snapshot.now,
    ]);
  }

  delete(id: string): void {
    this.db.run('DELETE FROM snapshots WHERE id = ?', [id]);
  }

  /** Every recorded file name (the start-up sweep removes the others). */
  allFiles(): Set<string> {
    return new Set(this.db.column<string>('SELECT file FROM snapshots'));
  }
}

function toSnapshotInfo(row: SnapshotRow): SnapshotInfo {
  return { id: row.id, workspaceId: row.workspace_id, name: row.name, version: row.version, bytes: row.bytes, sha256: row.sha256, createdAt: isoTime(row.created_at)! };
}
