import type { DockerEngine } from '../docker/engine';
import { CommandShell } from './commandShell';

/**
 * The persistent command shell of each running session, opened on first use (or ahead of
 * time by `prepare`, so the first command does not pay for the attach) and dropped when the
 * session ends or the shell dies.
 */
export class Shells {
  private readonly shells = new Map<string, Promise<CommandShell>>();

  constructor(private readonly docker: DockerEngine) {}

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
    const opening = CommandShell.open(this.docker.docker, containerId);
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

/**
 * Starts a created container with its main shell attached, so the first command needs no
 * exec. Attach and start run together: the shell says nothing until it is asked, so an
 * attach that lands after the start misses nothing. Resolves once Docker started the
 * container; `shell` resolves once the shell answered.
 */
export async function startWithMainShell(docker: DockerEngine, containerId: string): Promise<{ shell: Promise<CommandShell> }> {
  const attaching = CommandShell.attachMain(docker.docker, containerId);
  try {
    await docker.startContainer(containerId);
  } catch (error) {
    void attaching.then((attached) => attached.abandon(), () => undefined);
    throw error;
  }
  const attached = await attaching;
  return { shell: attached.ready() };
}
