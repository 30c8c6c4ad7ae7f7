import type { Engine } from '../docker/engine';
import type { Clock } from '../util/clock';
import { CommandShell } from './commandShell';

/**
 * The persistent command shell of each running session, opened on first use (or ahead of
 * time by `prepare`, so the first command does not pay for the attach) and dropped when the
 * session ends or the shell dies.
 */
export class Shells {
  private readonly shells = new Map<string, Promise<CommandShell>>();

  constructor(
    private readonly engine: Engine,
    private readonly clock: Clock,
  ) {}

  get(sessionId: string, containerId: string): Promise<CommandShell> {
    const existing = this.shells.get(sessionId);
    if (existing) {
      return existing.then(
        (shell) => (shell.isAlive ? shell : this.open(sessionId, containerId)),
        () => this.open(sessionId, containerId),
      );
    }
    return this.open(sessionId, containerId);
  }

  /** Opens the shell in the background; a failure is retried on the first command. */
  prepare(sessionId: string, containerId: string): void {
    if (!this.shells.has(sessionId)) void this.open(sessionId, containerId).catch(() => undefined);
  }

  /** Hands over a shell opened elsewhere (a container's main shell, or the pool's). */
  adopt(sessionId: string, shell: CommandShell | Promise<CommandShell>): void {
    const opening = Promise.resolve(shell);
    opening.catch(() => undefined); // a failed main shell is replaced on the first command
    this.track(sessionId, opening);
  }

  private open(sessionId: string, containerId: string): Promise<CommandShell> {
    const opening = CommandShell.open(this.engine, this.clock, containerId);
    this.track(sessionId, opening);
    return opening;
  }

  private track(sessionId: string, shell: Promise<CommandShell>): void {
    this.shells.set(sessionId, shell);
    shell.then(
      (opened) => opened.onDidEnd(() => this.shells.get(sessionId) === shell && this.shells.delete(sessionId)),
      () => this.shells.get(sessionId) === shell && this.shells.delete(sessionId),
    );
  }

  close(sessionId: string): void {
    const shell = this.shells.get(sessionId);
    this.shells.delete(sessionId);
    void shell?.then((opened) => opened.dispose()).catch(() => undefined);
  }

  closeAll(): void {
    for (const sessionId of [...this.shells.keys()]) this.close(sessionId);
  }
}
