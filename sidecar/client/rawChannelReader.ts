import * as fs from 'node:fs';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { RAW_CHANNEL_HEADER } from './protocol';

/** After the sidecar ended the channel, a FIFO that stays silent this long is done (a background job may hold it open). */
const PIPE_IDLE_AFTER_END_MS = 100;

/**
 * The client's end of a raw channel: reads the header line, then passes on the bytes that
 * follow on the socket, or those of the FIFO it names (see RAW_CHANNEL_HEADER).
 */
export class RawChannelReader extends Readable {
  private source: Readable | undefined;
  private header = '';
  /** How the bytes came, once the exec said so: straight from a FIFO, or relayed on the socket. */
  transport: 'pipe' | 'socket' | undefined;

  constructor(private readonly socket: Socket) {
    super();
    socket.on('data', this.onHeader);
    socket.on('error', (error) => this.destroy(error));
    // The socket's end is the stream's end, unless the bytes come from a FIFO (see readPipe).
    socket.once('end', () => this.transport !== 'pipe' && this.push(null));
  }

  private readonly onHeader = (chunk: Buffer): void => {
    this.header += chunk.toString('latin1');
    const newline = this.header.indexOf('\n');
    if (newline < 0) return;
    this.socket.off('data', this.onHeader);
    const line = this.header.slice(0, newline);
    const rest = Buffer.from(this.header.slice(newline + 1), 'latin1');
    if (line.startsWith(RAW_CHANNEL_HEADER.pipe)) this.readPipe(line.slice(RAW_CHANNEL_HEADER.pipe.length));
    else this.readSocket(rest);
  };

  private readSocket(rest: Buffer): void {
    this.transport = 'socket';
    this.source = this.socket;
    if (rest.length > 0) this.push(rest);
    this.forward(this.socket);
  }

  private readPipe(hostPath: string): void {
    let fd: number;
    try {
      fd = fs.openSync(hostPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (error) {
      this.destroy(error as Error);
      this.socket.destroy();
      return;
    }
    const pipe = new Socket({ fd, readable: true, writable: false });
    this.transport = 'pipe';
    this.source = pipe;
    this.forward(pipe);
    pipe.on('error', (error) => this.destroy(error));
    // Done when the sidecar ended the socket (the command is over) and the FIFO is read to its
    // end. What the command wrote is in the FIFO by then; a background job that still holds
    // it open only delays the end by a short silence.
    let socketEnded = false;
    let pipeEnded = false;
    let idle: NodeJS.Timeout | undefined;
    const finishIfDone = () => {
      if (!socketEnded || !pipeEnded) return;
      clearTimeout(idle);
      pipe.destroy();
      this.push(null);
    };
    const endOfPipe = () => {
      pipeEnded = true;
      finishIfDone();
    };
    const armIdle = () => {
      clearTimeout(idle);
      // Silence only counts while the consumer keeps up: a paused FIFO may still hold bytes.
      idle = setTimeout(() => (pipe.isPaused() ? armIdle() : endOfPipe()), PIPE_IDLE_AFTER_END_MS);
    };
    pipe.once('end', endOfPipe);
    this.socket.once('end', () => {
      socketEnded = true;
      finishIfDone();
      if (!pipeEnded) {
        armIdle();
        pipe.on('data', armIdle);
      }
    });
    this.socket.resume();
    this.socket.write('\n'); // opened: the command may run
  }

  /** Moves the source's bytes on, pausing it while the consumer is behind. */
  private forward(source: Readable): void {
    source.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) source.pause();
    });
  }

  override _read(): void {
    this.source?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    if (this.source !== this.socket) this.source?.destroy();
    callback(error);
  }
}
