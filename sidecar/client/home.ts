import { createHash } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The storage directory ("home") owns one sidecar, its database, config and socket.
 * Resolution order: an explicit path, then SANDKASTEN_HOME, then ~/.sandkasten. The extension
 * and the CLI resolve it the same way, so they find the same sidecar by default.
 */
export function resolveHome(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = explicit?.trim() || env.SANDKASTEN_HOME?.trim() || path.join(os.homedir(), '.sandkasten');
  return path.resolve(chosen);
}

/** Unix socket paths are limited to ~104 bytes; longer homes get a private directory elsewhere. */
const MAX_UNIX_SOCKET_PATH = 100;

/**
 * Where the socket of a home whose path is too long lives: a directory of this user's in
 * /tmp (0700, made and checked before any use: see privateDirectory.ts), named with the uid
 * and a hash of the home. A fixed parent, not $TMPDIR or $XDG_RUNTIME_DIR: every client of
 * the home (VS Code, a CLI over ssh, cron) must find the same socket whatever its environment.
 */
function socketDirectoryFor(digest: string): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return path.join('/tmp', `sandkasten-${uid}-${digest}`);
}

export function homePaths(home: string) {
  const digest = createHash('sha256').update(home).digest('hex').slice(0, 16);
  const preferredSocket = path.join(home, 'sidecar.sock');
  const socketDirectory =
    process.platform === 'win32' || preferredSocket.length <= MAX_UNIX_SOCKET_PATH ? undefined : socketDirectoryFor(digest);
  const socket =
    process.platform === 'win32'
      ? `\\\\.\\pipe\\sandkasten-${digest}`
      : socketDirectory
        ? path.join(socketDirectory, 'sidecar.sock')
        : preferredSocket;
  return {
    home,
    socket,
    /** The private directory the socket lives in when the home's path is too long for it. */
    socketDirectory,
    database: path.join(home, 'state.sqlite'),
    config: path.join(home, 'config.json'),
    lock: path.join(home, 'sidecar.pid'),
    log: path.join(home, 'sidecar.log'),
    /** The HTTP API's bearer token, owner-only (see ApiToken). */
    apiToken: path.join(home, 'api-token'),
    /** Per-container directories of stdout FIFOs (see DirectPipes). */
    pipes: path.join(home, 'pipes'),
    /** Archived workspaces' files, one .tar.gz each (see WorkspaceArchives). */
    archives: path.join(home, 'archives'),
    /** Snapshots, `<workspace>/<snapshot>.tar.gz`. */
    snapshots: path.join(home, 'snapshots'),
  };
}
export type HomePaths = ReturnType<typeof homePaths>;
