import type { Socket } from 'node:net';
import type { Engine, ExecProcess } from '../docker/engine';
import type { StdinSource } from '../exec/exec';
import { shellQuote } from '../exec/shellText';
import type { RawChannels } from './rawChannels';

/**
 * A command's stdin from a raw channel the client opened (see ExecParams.stdinChannelId):
 * what the client writes goes, with the socket's back-pressure, into `cat` in a one-off
 * exec that writes into the FIFO the command reads; the client's end of the channel is the
 * command's end of input. Works on any engine (the bytes travel on Docker's exec stream).
 */
export class RawChannelStdin implements StdinSource {
  private socket: Socket | undefined;
  private writer: ExecProcess | undefined;

  constructor(
    private readonly deps: { channels: RawChannels; engine: Engine },
    private readonly channelId: string,
  ) {}

  async prepare(): Promise<void> {
    this.socket = await this.deps.channels.take(this.channelId);
  }

  async start(containerId: string, path: string): Promise<void> {
    const fifo = shellQuote(path);
    this.writer = await this.deps.engine.exec(containerId, { command: ['sh', '-c', `mkfifo -m 600 ${fifo} 2>/dev/null; exec cat >${fifo}`] });
    const socket = this.socket!;
    const stream = this.writer.stream;
    stream.on('error', () => socket.destroy());
    stream.resume(); // cat prints nothing; errors end the stream
    socket.on('error', () => stream.end());
    socket.pipe(stream); // ends cat's stdin, so the command sees end-of-file, when the client ends the channel
  }

  dispose(): void {
    this.socket?.destroy();
    this.writer?.stream.destroy();
  }
}
