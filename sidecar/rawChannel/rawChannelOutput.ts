import type { Socket } from 'node:net';
import { RAW_CHANNEL_HEADER } from '../client/protocol';
import { invalidInput } from '../errors';
import type { CommandShell } from '../exec/commandShell';
import type { OutputSink } from '../exec/outputSink';
import type { Clock } from '../util/clock';
import type { DirectPipe, DirectPipes } from './directPipes';
import type { RawChannels } from './rawChannels';
import { SocketBatches } from './socketBatches';

/** How long the client of a raw channel may take to open the FIFO it was offered. */
const PIPE_OPEN_WAIT_MS = 5000;
/** Bytes queued on a raw channel before the command's output is paused. */
const RAW_HIGH_WATER_BYTES = 1024 * 1024;

/**
 * The server's half of a raw channel (see RAW_CHANNEL_PREAMBLE), as a sink for a command's
 * stdout: it takes the channel the client opened, says in its header line how stdout comes
 * (a FIFO straight from the container when one works, else relayed on the socket), and ends
 * the channel once the command is over. The client's half is RawChannelReader.
 */
export class RawChannelOutput implements OutputSink {
  private socket: Socket | undefined;
  private pipe: DirectPipe | undefined;
  /** Relayed stdout's writes (none when the client reads a FIFO). */
  private batches: SocketBatches | undefined;

  constructor(
    private readonly deps: { channels: RawChannels; pipes: DirectPipes; clock: Clock },
    private readonly channelId: string,
    /** What a background job writes into the FIFO after the command is over (see DirectPipe.handOver). */
    private readonly onLeftover: (data: Buffer) => void = () => undefined,
  ) {}

  async prepare(): Promise<void> {
    this.socket = await this.deps.channels.take(this.channelId);
  }

  /** Offers a FIFO when one works for this container (the client must open it before the command runs). */
  async attach(target: { containerId: string; shell: CommandShell }): Promise<{ stdoutFile?: string }> {
    const socket = this.socket!;
    const pipe = await this.deps.pipes.open(target.containerId, target.shell);
    if (!pipe) {
      socket.write(`${RAW_CHANNEL_HEADER.socket}\n`);
      return {};
    }
    socket.write(`${RAW_CHANNEL_HEADER.pipe}${pipe.hostPath}\n`);
    const opened = await new Promise<boolean>((resolve) => {
      const done = (answer: boolean) => () => {
        timer.cancel();
        socket.off('data', yes).off('close', no);
        resolve(answer);
      };
      const yes = done(true);
      const no = done(false);
      const timer = this.deps.clock.setTimeout(no, PIPE_OPEN_WAIT_MS);
      socket.once('data', yes).once('close', no);
      socket.resume(); // RawChannels hands channels over paused
    });
    if (!opened) {
      pipe.close();
      socket.destroy();
      throw invalidInput(`The raw channel's client did not open the pipe ${pipe.hostPath} within ${PIPE_OPEN_WAIT_MS / 1000} s.`);
    }
    // A reader that goes away early must not block the command: the sidecar reads and drops the rest.
    socket.once('close', () => pipe.discard());
    this.pipe = pipe;
    return { stdoutFile: pipe.containerPath };
  }

  /** Relayed stdout: no copy, no encoding, in batches (see SocketBatches). */
  write(_stream: 'stdout' | 'stderr', data: Buffer): void {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    this.batches ??= new SocketBatches(socket, this.deps.clock);
    this.batches.write(data);
  }

  get congested(): boolean {
    return (this.socket?.writableLength ?? 0) > RAW_HIGH_WATER_BYTES;
  }

  drained(): Promise<void> {
    const socket = this.socket;
    if (!socket || !this.congested || socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => (socket.off('close', done), socket.off('drain', done), resolve());
      socket.once('drain', done);
      socket.once('close', done);
    });
  }

  /** Ends the channel once every byte was handed to the kernel (the FIFO's reader then sees its end). */
  async finish(): Promise<void> {
    const socket = this.socket;
    if (this.pipe && socket) {
      // Background output is the sidecar's once the client stopped reading (it closes the channel then).
      const takeOver = this.pipe.handOver(this.onLeftover);
      if (socket.destroyed) takeOver();
      else socket.once('close', takeOver);
    }
    this.batches?.flush();
    if (socket) await new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.end(resolve)));
  }

  dispose(): void {
    this.batches?.flush();
    this.pipe?.close();
    if (this.socket && !this.socket.writableEnded) this.socket.destroy();
  }
}
