import { StringDecoder } from 'node:string_decoder';
import type { StreamType } from '../docker/frames';
import type { OutputSink } from './outputSink';

export type OutputEncoding = 'utf8' | 'base64' | undefined;

/** Output kept per command when it is returned in the result instead of streamed. */
const MAX_CAPTURED_BYTES = 16 * 1024 * 1024;
/** Streamed output is batched into messages of up to this size. */
const MESSAGE_BYTES = 256 * 1024;

/** Output returned in the result: bounded, with a count of what did not fit. */
export class CapturedOutput implements OutputSink {
  private readonly chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  private size = 0;
  dropped = 0;
  readonly congested = false;

  constructor(private readonly encoding: OutputEncoding) {}

  write(stream: StreamType, data: Buffer): void {
    if (this.size + data.length > MAX_CAPTURED_BYTES) {
      this.dropped += data.length;
      return;
    }
    this.chunks[stream].push(Buffer.from(data));
    this.size += data.length;
  }

  async drained(): Promise<void> {}

  async finish(): Promise<void> {}

  text(stream: StreamType): string {
    return Buffer.concat(this.chunks[stream]).toString(this.encoding === 'base64' ? 'base64' : 'utf8');
  }
}

/** The consumer of streamed output: sends one message, and says when it is behind. */
export interface OutputChannel {
  send(stream: StreamType, data: string): void;
  readonly congested: boolean;
  drained(): Promise<void>;
}

/**
 * Output sent as it comes, batched into messages, as text (a UTF-8 character split across
 * chunks is held until whole) or base64, with the channel's back-pressure.
 */
export class StreamedOutput implements OutputSink {
  private readonly pending = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  private readonly pendingBytes = { stdout: 0, stderr: 0 };
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  private flushScheduled = false;

  constructor(
    private readonly channel: OutputChannel,
    private readonly encoding: OutputEncoding,
  ) {}

  get congested(): boolean {
    return this.channel.congested;
  }

  drained(): Promise<void> {
    return this.channel.drained();
  }

  write(stream: StreamType, data: Buffer): void {
    this.pending[stream].push(Buffer.from(data));
    this.pendingBytes[stream] += data.length;
    if (this.pendingBytes[stream] >= MESSAGE_BYTES) this.flush(stream);
    else if (!this.flushScheduled) {
      // Small output goes out at the end of this turn of the event loop (not a timer), so
      // interactive output is not delayed while a burst still shares one message.
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush('stdout');
        this.flush('stderr');
      });
    }
  }

  private flush(stream: StreamType, final = false): void {
    const bytes = Buffer.concat(this.pending[stream]);
    this.pending[stream] = [];
    this.pendingBytes[stream] = 0;
    const data = this.encoding === 'base64' ? bytes.toString('base64') : this.decoders[stream].write(bytes) + (final ? this.decoders[stream].end() : '');
    if (data.length > 0) this.channel.send(stream, data);
  }

  async finish(): Promise<void> {
    this.flush('stdout', true);
    this.flush('stderr', true);
  }
}
