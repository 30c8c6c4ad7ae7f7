import * as fs from 'node:fs';
import { homePaths } from './home';

/** How long a sidecar that restarts (a new engine setting, a switch of engines) may take to let go: it drains the pool first. */
export const RESTART_LIMIT_MS = 60_000;
const POLL_MS = 50;

/** The sidecar that owns the storage directory now, from its lock file (see sidecar/util/lock.ts). */
export function sidecarPid(home: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(homePaths(home).lock, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Waits until the sidecar `pid` has let go of the storage directory (its lock file names it no
 * more), so that connecting starts its successor instead of reaching it while it shuts down.
 * Throws after `limitMs`.
 */
export async function waitUntilReleased(home: string, pid: number, limitMs = RESTART_LIMIT_MS): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (sidecarPid(home) === pid && processExists(pid)) {
    if (Date.now() > deadline) {
      throw new Error(`The sidecar (pid ${pid}) did not restart within ${limitMs / 1000} s. See ${homePaths(home).log}.`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
