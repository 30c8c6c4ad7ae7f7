import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { homePaths } from './home';
import { checkPrivateDirectory, ensurePrivateDirectory } from './privateDirectory';
import { processExists, sidecarPid } from './sidecarRestart';

/** How long a client waits for a sidecar it started to answer. */
const START_TIMEOUT_MS = 20_000;
const RETRY_INTERVAL_MS = 50;

export interface LaunchOptions {
  home: string;
  /** Path of dist/sidecar.js, started when no sidecar answers. */
  sidecarScript: string;
  /** false: only connect (e.g. `sandkasten daemon stop`). */
  startIfMissing?: boolean;
  env?: NodeJS.ProcessEnv;
}

/**
 * Connects to the storage directory's sidecar, starting it detached when none answers.
 * Several clients may race here: each may spawn one, the lock lets exactly one survive,
 * and everybody connects to the survivor.
 */
export async function connectToSidecar(options: LaunchOptions): Promise<net.Socket> {
  const paths = homePaths(options.home);
  // A socket in a directory someone else controls may be theirs: never send it a request.
  // The socket's own directory is made here (0700) when missing, so no one else can make it
  // first, and checked again before every attempt.
  const checked = () => {
    if (paths.socketDirectory) ensurePrivateDirectory(paths.socketDirectory, 'socket directory', { allowSymlink: false });
    return paths.socket;
  };
  if (fs.existsSync(paths.home)) checkPrivateDirectory(paths.home, 'storage directory', { allowSymlink: true });
  const first = await tryConnect(checked());
  if (first) return first;
  if (options.startIfMissing === false) {
    throw new Error(`No sidecar is running for ${options.home}.`);
  }
  let exitedEarly: string | undefined;
  const start = () => {
    exitedEarly = undefined;
    startDetached(options).once('exit', (code) => (exitedEarly = `exited with code ${code}`));
  };
  start();
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const socket = await tryConnect(checked());
    if (socket) return socket;
    // Exit code 0 means another sidecar held the lock: keep waiting for its socket — unless
    // that one was shutting down (a restart for another engine) and is gone now: start again.
    if (exitedEarly === 'exited with code 0' && !lockHeld(options.home)) start();
    else if (exitedEarly && exitedEarly !== 'exited with code 0') break;
    await new Promise((resolve) => setTimeout(resolve, RETRY_INTERVAL_MS));
  }
  throw new Error(
    `The Sandkasten sidecar did not start (${exitedEarly ?? `no answer within ${START_TIMEOUT_MS / 1000} s`}). See ${paths.log}.`,
  );
}

function startDetached(options: LaunchOptions) {
  const paths = homePaths(options.home);
  ensurePrivateDirectory(paths.home, 'storage directory', { allowSymlink: true });
  const log = fs.openSync(paths.log, 'a', 0o600);
  const child = spawn(process.execPath, [options.sidecarScript, '--home', options.home], {
    detached: true,
    stdio: ['ignore', log, log],
    // Inside VS Code process.execPath is Electron: make it behave as plain Node.
    env: { ...(options.env ?? process.env), ELECTRON_RUN_AS_NODE: '1' },
    windowsHide: true,
  });
  fs.closeSync(log);
  child.unref();
  return child;
}

/** Whether a live sidecar owns the storage directory (its lock file names a running process). */
function lockHeld(home: string): boolean {
  const pid = sidecarPid(home);
  return pid !== undefined && processExists(pid);
}

function tryConnect(socketPath: string): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(undefined);
    });
  });
}
