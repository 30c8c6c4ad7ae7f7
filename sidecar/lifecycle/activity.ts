import type { Clock } from '../util/clock';

/** A workspace's last use is written at most this often (statistics, not acknowledged state). */
const WORKSPACE_USE_EVERY_MS = 60_000;

/**
 * When each session was last used — a command, a keystroke, a terminal open, a file access, an
 * API call — and whether a command runs in it now. In memory: after a restart every session
 * counts as used at the start. What the lifecycle freezes and stops by.
 */
export class Activity {
  private readonly lastUse = new Map<string, number>();
  private readonly running = new Map<string, number>();
  private readonly workspaceWritten = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    /** Records a workspace's use (its last access, which its expiry counts from). */
    private readonly onWorkspaceUse: (workspaceId: string) => void,
  ) {}

  touch(sessionId: string, workspaceId: string): void {
    const now = this.clock.now();
    this.lastUse.set(sessionId, now);
    if (now - (this.workspaceWritten.get(workspaceId) ?? -Infinity) >= WORKSPACE_USE_EVERY_MS) {
      this.workspaceWritten.set(workspaceId, now);
      this.onWorkspaceUse(workspaceId);
    }
  }

  /** A command starts: the session is busy (never idle) until the returned function is called. */
  begin(sessionId: string, workspaceId: string): () => void {
    this.touch(sessionId, workspaceId);
    this.running.set(sessionId, (this.running.get(sessionId) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = (this.running.get(sessionId) ?? 1) - 1;
      if (left > 0) this.running.set(sessionId, left);
      else this.running.delete(sessionId);
      this.touch(sessionId, workspaceId);
    };
  }

  lastUseOf(sessionId: string, otherwise: number): number {
    return this.lastUse.get(sessionId) ?? otherwise;
  }

  isBusy(sessionId: string): boolean {
    return this.running.has(sessionId);
  }

  /** Forgets when workspaces were last written that long ago: the next use writes again anyway. */
  prune(): void {
    const now = this.clock.now();
    for (const [workspaceId, at] of this.workspaceWritten) if (now - at >= WORKSPACE_USE_EVERY_MS) this.workspaceWritten.delete(workspaceId);
  }

  forget(sessionId: string): void {
    this.lastUse.delete(sessionId);
    this.running.delete(sessionId);
  }
}
