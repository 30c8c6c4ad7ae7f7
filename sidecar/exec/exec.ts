import { randomBytes } from 'node:crypto';
import type { ExecParams } from '../client/protocol';
import type { Engine } from '../docker/engine';
import { CONFIRM_AFTER_MS } from '../docker/engineHealth';
import { conflict, dockerUnavailableError, hasCode, invalidInput } from '../errors';
import type { Sessions } from '../sessions';
import type { Store } from '../store/store';
import type { Clock } from '../util/clock';
import type { Workspaces } from '../workspaces';
import { CommandShell, INT_GRACE_MS, KILL_ESCALATION_MS, TERM_GRACE_MS, type RunOptions } from './commandShell';
import type { OutputSink } from './outputSink';
import type { Shells } from './shells';

export interface Cancellation {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => void): { dispose(): void };
}

/**
 * After a timeout or a cancel, how long the command gets to stop (the shell's whole
 * escalation, and a margin) before Exec stops waiting for it and says why: a paused or
 * stopped container never answers, and a deadline must hold whatever the container does.
 */
const GIVE_UP_AFTER_INTERRUPT_MS = INT_GRACE_MS + TERM_GRACE_MS + KILL_ESCALATION_MS + 2000;

/** What to run; where its output goes is the sink's business. */
export type ExecCommand = Pick<ExecParams, 'sessionId' | 'command' | 'line' | 'timeoutMs' | 'cleanShell' | 'queue'>;

export interface ExecOutcome {
  exitCode: number;
  durationMs: number;
  timedOut: boolean;
  cancelled: boolean;
  /** The shell ended during the command: its state starts afresh. */
  shellReset: boolean;
  /** It ran in a shell of its own beside a busy session shell (see ExecParams.queue). */
  sideBySide: boolean;
  /** The shell's working directory after the command (see RunResult.cwd). */
  cwd?: string;
}

/** Where a command's stdin comes from, when not /dev/null: bytes a client sends (see ExecParams.stdinChannelId). */
export interface StdinSource {
  /** Before a shell is chosen, e.g. waiting for the client's channel; may fail the exec. */
  prepare(): Promise<void>;
  /** Starts writing into the FIFO at `path` in the container (made by whoever comes first). */
  start(containerId: string, path: string): Promise<void>;
  /** Always called last: release what is still open. */
  dispose(): void;
}

/** Runs commands in a session's persistent shell, their output into a sink chosen by the caller. */
export class Exec {
  constructor(
    private readonly deps: {
      engine: Engine;
      sessions: Sessions;
      workspaces: Workspaces;
      store: Store;
      shells: Shells;
      clock: Clock;
      /** Told of every command that finished (the dashboard's latency and throughput); must be cheap. */
      onFinished?: (durationMs: number, outputBytes: number) => void;
    },
  ) {}

  /** Where the session's next command starts: its shell's cwd after the last one, /workspace before any. */
  cwdOf(sessionId: string): string {
    return this.deps.shells.cwdOf(sessionId) ?? '/workspace';
  }

  async run(command: ExecCommand, sink: OutputSink, cancellation?: Cancellation, stdin?: StdinSource): Promise<ExecOutcome> {
    const { sessions, workspaces, store, shells, clock, engine } = this.deps;
    if ((command.command === undefined) === (command.line === undefined)) throw invalidInput('Give either "command" (a list of words) or "line" (a shell command line).');
    const { containerId, workspaceId } = await sessions.ready(command.sessionId);
    const endUse = sessions.beginUse(command.sessionId, workspaceId);
    const started = clock.now();
    let shell: CommandShell | undefined;
    let releaseSideShell: (() => void) | undefined;
    let outputBytes = 0;
    try {
      // The sink first (a raw channel the client is still opening): if it never comes, no shell was opened for nothing.
      await sink.prepare?.();
      await stdin?.prepare();
      if (cancellation?.isCancellationRequested) return { exitCode: 130, durationMs: 0, timedOut: false, cancelled: true, shellReset: false, sideBySide: false };
      let role: RunOptions['role'];
      if (command.cleanShell) {
        shell = await CommandShell.open(engine, clock, containerId);
      } else {
        shell = await shells.get(command.sessionId, containerId);
        role = 'session';
        if (shell.isBusy && !command.queue) {
          // Another command runs: this one starts at once beside it, where the session is.
          const side = await shells.side(command.sessionId, containerId);
          shell = side.shell;
          releaseSideShell = side.release;
          role = 'side';
        }
      }
      const redirect = await sink.attach?.({ containerId, shell });
      const stdinFifo = stdin ? `/dev/shm/.sandkasten-stdin-${randomBytes(8).toString('hex')}` : undefined;
      if (stdin && stdinFifo) await stdin.start(containerId, stdinFifo);

      const run = shell.run({
        role,
        command: command.line !== undefined ? { line: command.line } : { argv: command.command! },
        stdoutFile: redirect?.stdoutFile,
        stdinFifo,
        onOutput: (stream, data) => {
          outputBytes += data.length;
          sink.write(stream, data);
        },
        isCongested: () => sink.congested,
        waitForDrain: () => sink.drained(),
      } satisfies RunOptions);
      let timedOut = false;
      let cancelled = false;
      let giveUp: { cancel(): void } | undefined;
      let stopWaiting: (error: Error) => void = () => undefined;
      const abandoned = new Promise<never>((_resolve, reject) => (stopWaiting = reject));
      abandoned.catch(() => undefined);
      const interrupt = () => {
        void run.interrupt();
        giveUp ??= clock.setTimeout(() => {
          void this.whyNoAnswer(containerId).then((error) => {
            shell?.dispose(); // its state is unknown now: the next command gets a new shell
            stopWaiting(error);
          });
        }, GIVE_UP_AFTER_INTERRUPT_MS);
      };
      const timer = command.timeoutMs
        ? clock.setTimeout(() => {
            timedOut = true;
            interrupt();
          }, command.timeoutMs)
        : undefined;
      const cancelListener = cancellation?.onCancellationRequested(() => {
        cancelled = true;
        interrupt();
      });
      try {
        const result = await Promise.race([run.result, abandoned]);
        if (role === 'session') shells.noteCwd(command.sessionId, result.shellEnded ? undefined : result.cwd);
        if (result.cut) await this.failIfConnectionLost(containerId, result.cut.error);
        await sink.finish();
        workspaces.recordAccess(workspaceId, { commands: 1 });
        store.commitSoon(); // statistics: not worth a durable write per command
        const durationMs = clock.now() - started;
        this.deps.onFinished?.(durationMs, outputBytes);
        return {
          exitCode: result.exitCode,
          durationMs,
          timedOut,
          cancelled,
          shellReset: result.shellEnded && role === 'session',
          sideBySide: role === 'side',
          ...(result.cwd !== undefined ? { cwd: result.cwd } : {}),
        };
      } finally {
        timer?.cancel();
        giveUp?.cancel();
        cancelListener?.dispose();
      }
    } finally {
      endUse();
      stdin?.dispose();
      sink.dispose?.();
      if (command.cleanShell) shell?.dispose();
      releaseSideShell?.();
    }
  }

  /**
   * The command's shell stream was cut. When the container stopped, that is the command's end
   * (exit code -1, as always); when the engine does not answer, or the stream broke while the
   * container runs on, the connection went: whether the command finished is unknown, and
   * saying -1 would be a guess. The shell is gone either way: the next command gets a new one.
   */
  private async failIfConnectionLost(containerId: string, streamError?: Error): Promise<void> {
    const why = streamError ? ` (${streamError.message.split('\n')[0]})` : '';
    const inspect = () => this.deps.engine.inspectContainer(containerId);
    let state: Awaited<ReturnType<Engine['inspectContainer']>>;
    try {
      // Asked again after a moment: the first ask may take a kept-alive connection that broke with the shell's.
      state = await inspect().catch(async (error: unknown) => {
        if (!hasCode(error, 'DockerUnavailable')) throw error;
        await this.deps.clock.sleep(CONFIRM_AFTER_MS);
        return inspect();
      });
    } catch (error) {
      if (!hasCode(error, 'DockerUnavailable')) return;
      throw dockerUnavailableError(
        `The connection to the Docker engine was lost while the command ran${why}, and the engine does not answer now: whether the command finished is unknown. The session waits for the engine; run the command again once it is back.`,
        (error as Error).message,
      );
    }
    if (streamError && state?.running && !state.paused) {
      throw dockerUnavailableError(`The connection to the Docker engine was cut while the command ran${why}: whether the command finished is unknown. The session is fine; its next command runs in a new shell.`);
    }
  }

  /** The sentence for a command that did not stop when told to, from the container's state. */
  private async whyNoAnswer(containerId: string): Promise<Error> {
    const state = await this.deps.engine.inspectContainer(containerId).catch(() => undefined);
    if (state?.paused) {
      return conflict(
        `The session's container is paused, so the command could not be stopped; it may still run once the container is unpaused. Unpause it (docker unpause ${containerId.slice(0, 12)}) or stop the session.`,
      );
    }
    if (!state?.running) return conflict(`The session's container ${state ? 'stopped' : 'is gone'} while the command ran. Start the session again.`);
    return conflict('The command did not stop when told to, and its shell did not answer; the session will use a new shell for the next command.');
  }
}
