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

/**
 * stdout to one sink, stderr to the other, the life cycle to both. When the stdout sink sent
 * stdout to a file in the container (a FIFO), what still arrives on the shell's stdout is a
 * stray (an earlier background job's output) and goes to the other sink, as stderr does.
 */
export function splitStdout(stdout: OutputSink, rest: OutputSink): OutputSink {
  const both = [stdout, rest];
  let stdoutRedirected = false;
  return {
    prepare: async () => {
      for (const sink of both) await sink.prepare?.();
    },
    attach: async (target) => {
      const redirect = await stdout.attach?.(target);
      stdoutRedirected = redirect?.stdoutFile !== undefined;
      await rest.attach?.(target);
      return redirect;
    },
    write: (stream, data) => (stream === 'stdout' && !stdoutRedirected ? stdout : rest).write(stream, data),
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
