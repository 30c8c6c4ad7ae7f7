import type { StreamType } from '../docker/frames';
import type { CommandShell } from './commandShell';

/**
 * Where a command's output goes. Exec knows nothing of transports: the caller (a request
 * handler, later the HTTP API) picks the sink — captured into the result, streamed as
 * notifications, or a raw byte channel — and Exec drives it with back-pressure.
 */
export interface OutputSink {
  /** Before a shell is chosen, e.g. waiting for the client's raw channel; may fail the exec. */
  prepare?(): Promise<void>;
  /** The shell is ready and the command not yet written: may send stdout to a file in the container instead. */
  attach?(target: { containerId: string; shell: CommandShell }): Promise<{ stdoutFile?: string } | undefined>;
  write(stream: StreamType, data: Buffer): void;
  /** True while the consumer is behind: the shell's stream pauses until `drained()`. */
  readonly congested: boolean;
  drained(): Promise<void>;
  /** The command is over: deliver what is held back and end channels. */
  finish(): Promise<void>;
  /** Always called last, after success or failure: release what is still open. */
  dispose?(): void;
}

/** stdout to one sink, stderr (and the rest of the life cycle) to both. */
export function splitStdout(stdout: OutputSink, rest: OutputSink): OutputSink {
  const both = [stdout, rest];
  return {
    prepare: async () => {
      for (const sink of both) await sink.prepare?.();
    },
    attach: async (target) => {
      let redirect: { stdoutFile?: string } | undefined;
      for (const sink of both) redirect = (await sink.attach?.(target)) ?? redirect;
      return redirect;
    },
    write: (stream, data) => (stream === 'stdout' ? stdout : rest).write(stream, data),
    get congested() {
      return stdout.congested || rest.congested;
    },
    drained: async () => {
      await stdout.drained();
      await rest.drained();
    },
    finish: async () => {
      await rest.finish();
      await stdout.finish();
    },
    dispose: () => both.forEach((sink) => sink.dispose?.()),
  };
}
