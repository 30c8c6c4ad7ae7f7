import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { syncDirectory } from '../util/syncDirectory';

/**
 * The target was replaced, but syncing its directory failed: the new content is in place
 * now, yet the rename may not survive a power loss. Whoever keeps the previous content and
 * treats the write as failed should put that content back.
 */
export class UnsyncedRenameError extends Error {
  constructor(
    readonly target: string,
    cause: unknown,
  ) {
    super(`${path.basename(target)} was replaced but its directory could not be synced: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'UnsyncedRenameError';
  }
}

/**
 * Writes a whole file so that a crash at any moment leaves either the old or the new
 * content, never a torn mix: write a temporary file, fsync it, rename it over the target,
 * then fsync the directory so the rename itself is durable. A write that fails before the
 * rename leaves the target as it was and removes its temporary file; a process killed
 * mid-write leaves one behind, for `removeStaleTemporaryFiles` at the next start.
 */
export async function writeFileAtomically(target: string, bytes: Uint8Array, mode = 0o600): Promise<void> {
  const temporary = temporaryFileOf(target, process.pid);
  try {
    const handle = await fs.open(temporary, 'w', mode);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, target);
  } catch (error) {
    // A half-written temporary file holds on to the space a full disk needs back.
    await fs.rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
  try {
    await syncDirectory(path.dirname(target));
  } catch (error) {
    throw new UnsyncedRenameError(target, error);
  }
}

/**
 * Removes the temporary files that writes of `target` killed half-way left beside it
 * (`<target>.<pid>.tmp`, regular files only; nothing else is touched) and returns their
 * names. Call it only while no write of `target` can be running, such as at the start of
 * the process that owns the file (the sidecar's lock makes its storage directory its own).
 */
export async function removeStaleTemporaryFiles(target: string): Promise<string[]> {
  const directory = path.dirname(target);
  const pattern = new RegExp(`^${escapeRegExp(path.basename(target))}\\.\\d+\\.tmp$`);
  const names = await fs.readdir(directory).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const removed: string[] = [];
  for (const name of names.filter((candidate) => pattern.test(candidate))) {
    const file = path.join(directory, name);
    const stat = await fs.lstat(file).catch(() => undefined);
    if (!stat?.isFile()) continue;
    await fs.rm(file, { force: true });
    removed.push(name);
  }
  return removed;
}

function temporaryFileOf(target: string, pid: number): string {
  return `${target}.${pid}.tmp`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

