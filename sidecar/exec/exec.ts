import type { ExecParams } from '../client/protocol';
import type { Engine } from '../docker/engine';
import { invalidInput } from '../errors';
import type { Sessions } from '../sessions';
import type { Store } from '../store/store';
import type { Clock } from '../util/clock';
import type { Workspaces } from '../workspaces';
import { CommandShell, type RunOptions } from './commandShell';
import type { OutputSink } from './outputSink';
import type { Shells } from './shells';

export interface Cancellation {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => void): { dispose(): void };
}

/** What to run; where its output goes is the sink's business. */
export type ExecCommand = Pick<ExecParams, 'sessionId' | 'command' | 'line' | 'timeoutMs' | 'cleanShell'>;

export interface ExecOutcome {
  exitCode: number;
  durationMs: number;
  timedOut: boolean;
  cancelled: boolean;
  /** The shell ended during the command: its state starts afresh. */
  shellReset: boolean;
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
    },
  ) {}

  async run(command: ExecCommand, sink: OutputSink, cancellation?: Cancellation): Promise<ExecOutcome> {
    const { sessions, workspaces, store, shells, clock, engine } = this.deps;
    if ((command.command === undefined) === (command.line === undefined)) throw invalidInput('Give either "command" (a list of words) or "line" (a shell command line).');
    const { containerId, workspaceId } = sessions.running(command.sessionId);
    const started = clock.now();
    let shell: CommandShell | undefined;
    try {
      // The sink first (a raw channel the client is still opening): if it never comes, no shell was opened for nothing.
      await sink.prepare?.();
      if (cancellation?.isCancellationRequested) return { exitCode: 130, durationMs: 0, timedOut: false, cancelled: true, shellReset: false };
      shell = command.cleanShell ? await CommandShell.open(engine, clock, containerId) : await shells.get(command.sessionId, containerId);
      const redirect = await sink.attach?.({ containerId, shell });

      const run = shell.run({
        command: command.line !== undefined ? { line: command.line } : { argv: command.command! },
        stdoutFile: redirect?.stdoutFile,
        onOutput: (stream, data) => sink.write(stream, data),
        isCongested: () => sink.congested,
        waitForDrain: () => sink.drained(),
      } satisfies RunOptions);
      let timedOut = false;
      let cancelled = false;
      const timer = command.timeoutMs
        ? clock.setTimeout(() => {
            timedOut = true;
            void run.interrupt();
          }, command.timeoutMs)
        : undefined;
      const cancelListener = cancellation?.onCancellationRequested(() => {
        cancelled = true;
        void run.interrupt();
      });
      try {
        const result = await run.result;
        await sink.finish();
        workspaces.recordAccess(workspaceId, { commands: 1 });
        store.commitSoon(); // statistics: not worth a durable write per command
        return { exitCode: result.exitCode, durationMs: clock.now() - started, timedOut, cancelled, shellReset: result.shellEnded && !command.cleanShell };
      } finally {
        timer?.cancel();
        cancelListener?.dispose();
      }
    } finally {
      sink.dispose?.();
      if (command.cleanShell) shell?.dispose();
    }
  }
}
