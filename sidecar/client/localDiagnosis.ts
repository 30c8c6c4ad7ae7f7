import * as fs from 'node:fs';
import * as path from 'node:path';
import { doctorCheck, doctorReport, type DoctorCheck, type DoctorReport } from './doctorProtocol';
import type { HomePaths } from './home';

/**
 * The diagnostics that need no sidecar: the storage directory's permissions (the sidecar
 * reports the same line), and the report a client makes when it cannot reach the sidecar
 * at all (a sidecar that will not start is the one problem the sidecar cannot report).
 */

/** Quotes a path for a shell command a person copies, only when it needs quoting. */
export function shellQuote(text: string): string {
  return /^[\w./@%+=:,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

const modeText = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');
const ANOTHER_DIRECTORY = 'choose another storage directory (SANDKASTEN_HOME, --home, or the sandkasten.storageDirectory setting)';

/**
 * The storage directory (and the socket's own directory, for a long storage path) must be this
 * user's and closed to everyone else (0700), and its files readable by this user only. It
 * holds the database, the API token and the socket, and the pipe directories whose FIFOs
 * (mode 0622) only the closed directory above them keeps other users from writing into.
 */
export function storageDirectoryCheck(
  paths: Pick<HomePaths, 'home' | 'socketDirectory'>,
  uid: number | undefined = typeof process.getuid === 'function' ? process.getuid() : undefined,
): DoctorCheck {
  if (process.platform === 'win32' || uid === undefined) {
    return doctorCheck('storage-directory', 'skip', `${paths.home}: permissions are not checked on this platform.`);
  }
  const directories = [paths.home, ...(paths.socketDirectory ? [paths.socketDirectory] : [])];
  for (const directory of directories) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(directory);
    } catch {
      if (directory === paths.home) return doctorCheck('storage-directory', 'pass', `${directory} does not exist yet; it is made, owner-only (0700), on first use.`);
      continue; // the socket directory is made (0700) before each connection
    }
    if (!stat.isDirectory()) {
      return doctorCheck('storage-directory', 'fail', `${directory} is not a directory.`, `Remove it, or ${ANOTHER_DIRECTORY}.`);
    }
    if (stat.uid !== uid) {
      return doctorCheck(
        'storage-directory',
        'fail',
        `${directory} belongs to another user (uid ${stat.uid}; you are uid ${uid}), who can read and replace Sandkasten's database and socket.`,
        `If it is yours: \`sudo chown -R ${uid} ${shellQuote(directory)}\`; otherwise ${ANOTHER_DIRECTORY}.`,
      );
    }
    if ((stat.mode & 0o077) !== 0) {
      const writable = (stat.mode & 0o022) !== 0;
      return doctorCheck(
        'storage-directory',
        'fail',
        writable
          ? `${directory} has mode ${modeText(stat.mode)}: other users can replace what is in it (the database, the API token, the socket). The sidecar and its clients refuse to use it until it is fixed.`
          : `${directory} has mode ${modeText(stat.mode)}: other users can enter it, write into the FIFOs that carry command output to your clients, and read what in it is not owner-only.`,
        `chmod 700 ${shellQuote(directory)}`,
      );
    }
  }
  const openFiles = filesOthersMayRead(paths.home);
  if (openFiles.length > 0) {
    return doctorCheck(
      'storage-directory',
      'fail',
      `Other users may read ${openFiles.map((file) => path.basename(file)).join(', ')} in ${paths.home}.`,
      `chmod 600 ${openFiles.map(shellQuote).join(' ')}`,
    );
  }
  return doctorCheck('storage-directory', 'pass', `${directories.join(' and ')}: yours, owner-only (0700).`);
}

/** Regular files right in the storage directory with any permission for group or others. */
function filesOthersMayRead(home: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(home, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(home, entry.name))
    .filter((file) => {
      try {
        return (fs.statSync(file).mode & 0o077) !== 0;
      } catch {
        return false; // gone meanwhile (a temporary file of an atomic write)
      }
    })
    .sort();
}

/**
 * What a client reports when it could not ask the sidecar (it would not start, the storage
 * directory is refused, it is too old to know diagnostics): the sidecar line with the reason,
 * and the storage directory.
 */
export function unreachableSidecarReport(paths: Pick<HomePaths, 'home' | 'socketDirectory' | 'log'>, reason: string): DoctorReport {
  return doctorReport([
    doctorCheck(
      'sidecar',
      'fail',
      `The sidecar of ${paths.home} could not be asked: ${reason.trim()}`,
      `Fix what fails below first. ${shellQuote(paths.log)} says why the sidecar stopped; \`sandkasten daemon --home ${shellQuote(paths.home)}\` runs it in the foreground with its log on the terminal.`,
    ),
    storageDirectoryCheck(paths),
  ]);
}
