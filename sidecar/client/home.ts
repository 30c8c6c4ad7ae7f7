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

/** Unix socket paths are limited to ~104 bytes; longer homes get a hashed path in tmp. */
const MAX_UNIX_SOCKET_PATH = 100;

export function homePaths(home: string) {
  const digest = createHash('sha256').update(home).digest('hex').slice(0, 16);
  const preferredSocket = path.join(home, 'sidecar.sock');
  const socket =
    process.platform === 'win32'
      ? `\\\\.\\pipe\\sandkasten-${digest}`
      : preferredSocket.length <= MAX_UNIX_SOCKET_PATH
        ? preferredSocket
        : path.join(os.tmpdir(), `sandkasten-${digest}.sock`);
  return {
    home,
    socket,
    database: path.join(home, 'state.sqlite'),
    config: path.join(home, 'config.json'),
    lock: path.join(home, 'sidecar.pid'),
    log: path.join(home, 'sidecar.log'),
    /** Per-container directories of stdout FIFOs (see DirectPipes). */
    pipes: path.join(home, 'pipes'),
  };
}
export type HomePaths = ReturnType<typeof homePaths>;
