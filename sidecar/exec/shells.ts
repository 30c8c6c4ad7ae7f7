import type { Engine } from '../docker/engine';
import type { StreamType } from '../docker/frames';
import type { Clock } from '../util/clock';
import { CommandShell } from './commandShell';

/** Idle side shells kept per session, ready for the next command run side by side. */
const MAX_IDLE_SIDE_SHELLS = 2;

/**
 * The persistent command shell of each running session, opened on first use (or ahead of
 * time by `prepare`, so the first command does not pay for the attach) and dropped when the
 * session ends or the shell dies; and the side shells that run commands while the session's
 * shell is busy, kept warm between uses.
 */
export class Shells {
  private readonly shells = new Map<string, Promise<CommandShell>>();
  private readonly idleSideShells = new Map<string, CommandShell[]>();
  /** Where each session's own shell was after its last command (see RunResult.cwd). */
  private readonly cwds = new Map<string, string>();

  constructor(
    private readonly engine: Engine,
    private readonly clock: Clock,
    /** Output of a session's shells that arrives between commands (background jobs'). */
    private readonly strayOutput: (sessionId: string, stream: StreamType, data: Buffer) => void = () => undefined,
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
      (opened) => {
        opened.onStrayOutput = (stream, data) => this.strayOutput(sessionId, stream, data);
        opened.onDidEnd(() => this.shells.get(sessionId) === shell && this.shells.delete(sessionId));
      },
      () => this.shells.get(sessionId) === shell && this.shells.delete(sessionId),
    );
  }

  /**
   * A shell of its own for a command that runs beside the session's busy shell: an idle side
   * shell when there is one (no exec to wait for), else a new one. `release` hands it back.
   */
  async side(sessionId: string, containerId: string): Promise<{ shell: CommandShell; release(): void }> {
    const idle = this.idleSideShells.get(sessionId) ?? [];
    let shell = idle.pop();
    while (shell && !shell.isAlive) shell = idle.pop();
    shell ??= await CommandShell.open(this.engine, this.clock, containerId);
    shell.onStrayOutput = (stream, data) => this.strayOutput(sessionId, stream, data);
    const taken = shell;
    return {
      shell: taken,
      release: () => {
        const list = this.idleSideShells.get(sessionId) ?? [];
        if (!taken.isAlive || taken.isBusy || list.length >= MAX_IDLE_SIDE_SHELLS || !this.shells.has(sessionId)) return taken.dispose();
        list.push(taken);
        this.idleSideShells.set(sessionId, list);
      },
    };
  }

  /** The session shell's cwd after its last command; undefined before one ran in this shell, or after it ended. */
  cwdOf(sessionId: string): string | undefined {
    return this.cwds.get(sessionId);
  }

  noteCwd(sessionId: string, cwd: string | undefined): void {
    if (cwd === undefined) this.cwds.delete(sessionId);
    else this.cwds.set(sessionId, cwd);
  }

  close(sessionId: string): void {
    const shell = this.shells.get(sessionId);
    this.shells.delete(sessionId);
    this.cwds.delete(sessionId);
    void shell?.then((opened) => opened.dispose()).catch(() => undefined);
    for (const side of this.idleSideShells.get(sessionId) ?? []) side.dispose();
    this.idleSideShells.delete(sessionId);
  }

  closeAll(): void {
    for (const sessionId of new Set([...this.shells.keys(), ...this.idleSideShells.keys()])) this.close(sessionId);
  }
}
