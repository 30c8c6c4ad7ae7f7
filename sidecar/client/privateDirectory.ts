import * as fs from 'node:fs';

/**
 * Directories only this user may change: the storage directory (database, config, socket)
 * and, for a long storage path, the socket's own directory. One that already exists is used
 * only when it is this user's and no one else can enter it; otherwise another local user
 * could replace the database, listen on the socket first and read every request, or write
 * into a running command's output pipe.
 */
export class UnsafeDirectoryError extends Error {}

/** Creates `directory` (0700) when missing, then checks it; throws UnsafeDirectoryError with what to do. */
export function ensurePrivateDirectory(directory: string, what: string, options: { allowSymlink: boolean }): void {
  fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
  checkPrivateDirectory(directory, what, options);
}

/** Checks an existing directory as ensurePrivateDirectory does (a client, before it connects). */
export function checkPrivateDirectory(directory: string, what: string, options: { allowSymlink: boolean }): void {
  if (process.platform === 'win32' || typeof process.getuid !== 'function') return;
  const link = fs.lstatSync(directory);
  if (link.isSymbolicLink() && !options.allowSymlink) {
    throw new UnsafeDirectoryError(`The ${what} ${directory} is a symbolic link; it must be a directory of its own. Remove it and try again.`);
  }
  const stat = fs.statSync(directory);
  if (!stat.isDirectory()) throw new UnsafeDirectoryError(`The ${what} ${directory} is not a directory.`);
  const uid = process.getuid();
  if (stat.uid !== uid) {
    throw new UnsafeDirectoryError(`The ${what} ${directory} belongs to another user (uid ${stat.uid}, you are ${uid}); it must be yours. Choose another one (SANDKASTEN_HOME) or remove it.`);
  }
  if ((stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    // Reading or passing through is enough to do harm: the command pipes inside take anyone's bytes once reached.
    const how = (stat.mode & 0o022) !== 0 ? 'can be written by other users' : 'can be entered by other users';
    throw new UnsafeDirectoryError(
      `The ${what} ${directory} ${how} (mode ${mode}), who could replace or reach what is in it. Run \`chmod 700 ${directory}\` and try again.`,
    );
  }
}
