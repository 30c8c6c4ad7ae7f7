import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/**
 * Writes a whole file so that a crash at any moment leaves either the old or the new
 * content, never a torn mix: write a temporary file, fsync it, rename it over the target,
 * then fsync the directory so the rename itself is durable.
 */
export async function writeFileAtomically(target: string, bytes: Uint8Array, mode = 0o600): Promise<void> {
  const temporary = `${target}.${process.pid}.tmp`;
  const handle = await fs.open(temporary, 'w', mode);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temporary, target);
  await syncDirectory(path.dirname(target));
}

async function syncDirectory(directory: string): Promise<void> {
  // Windows cannot open a directory for fsync; NTFS journals the rename itself.
  if (process.platform === 'win32') return;
  const handle = await fs.open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
