import type { Socket } from 'node:net';
import type { StreamType } from '../docker/frames';
import type { CommandShell } from '../exec/commandShell';
import type { OutputSink } from '../exec/outputSink';
import type { DirectPipe, DirectPipes } from './directPipes';

/**
 * Wraps a sink so that the command's stdout comes to it from a FIFO the sidecar reads, straight
 * from the container, past Docker's stream copy (the HTTP API's streaming exec: bulk output at
 * the speed of a pipe). stderr, and stdout when no FIFO works for the container, still come
 * through the shell's stream. The sink sees one `write` either way.
 */
export class PipedStdout implements OutputSink {
  private pipe: DirectPipe | undefined;
  private reader: Socket | undefined;
  /** The command is over: the reader is no longer resumed for the sink. */
  private over = false;
  private finished = false;

  constructor(
    private readonly pipes: DirectPipes,
    private readonly sink: OutputSink,
    /** What a background job writes into the FIFO after the command is over (see DirectPipe.handOver). */
    private readonly onLeftover: (data: Buffer) => void,
  ) {}

  prepare(): Promise<void> {
    return this.sink.prepare?.() ?? Promise.resolve();
  }

  async attach(target: { containerId: string; shell: CommandShell }): Promise<{ stdoutFile?: string } | undefined> {
    await this.sink.attach?.(target);
    const pipe = await this.pipes.open(target.containerId, target.shell);
    if (!pipe) return undefined;
    const reader = pipe.readHere();
    reader.on('data', (data: Buffer) => {
      this.sink.write('stdout', data);
      if (!this.sink.congested) return;
      reader.pause();
      void this.sink.drained().then(() => this.over || reader.resume());
    });
    this.pipe = pipe;
    this.reader = reader;
    return { stdoutFile: pipe.containerPath };
  }

  write(stream: StreamType, data: Buffer): void {
    this.sink.write(stream, data);
  }

  get congested(): boolean {
    return this.sink.congested;
  }

  drained(): Promise<void> {
    return this.sink.drained();
  }

  /** Delivers what is left in the FIFO; a background job's later output goes to onLeftover. */
  async finish(): Promise<void> {
    this.over = true;
    const pipe = this.pipe;
    if (pipe) {
      this.finished = true;
      for (const data of pipe.takeRest()) this.sink.write('stdout', data);
      pipe.handOver(this.onLeftover)();
    }
    await this.sink.finish();
  }

  dispose(): void {
    this.over = true;
    if (!this.finished) {
      // The exec failed or gave up on the command: its output has nowhere to go.
      this.reader?.removeAllListeners('data');
      this.pipe?.close();
    }
    this.sink.dispose?.();
  }
}
