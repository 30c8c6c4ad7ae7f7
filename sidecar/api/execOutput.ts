import type { ServerResponse } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import type { StreamType } from '../docker/frames';
import type { OutputSink } from '../exec/outputSink';
import type { Clock } from '../util/clock';

/**
 * A blocking exec's output for the HTTP API: stdout and stderr together, in the order they
 * came (Sandkasten v1 has one `output`), kept up to `limit` bytes; what comes after is
 * dropped and the result says `truncated`.
 */
export class CombinedOutput implements OutputSink {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  readonly congested = false;

  constructor(private readonly limit: number) {}

  write(_stream: StreamType, data: Buffer): void {
    const room = this.limit - this.size;
    if (data.length > room) this.truncated = true;
    if (room <= 0) return;
    const kept = data.length > room ? data.subarray(0, room) : data;
    this.chunks.push(Buffer.from(kept));
    this.size += kept.length;
  }

  async drained(): Promise<void> {}

  async finish(): Promise<void> {}

  /** As UTF-8; a character cut by the limit becomes U+FFFD. */
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** Output per `chunk` event, at most: small events arrive whole in one read, which the TypeScript SDK's parser needs. */
const EVENT_OUTPUT_BYTES = 16 * 1024;
/** A comment line this often while a command is silent, so clients with a read timeout (the Python SDK's 120 s) keep waiting. */
const KEEPALIVE_MS = 15_000;

/**
 * Server-Sent Events on an HTTP response, framed as Sandkasten v1's SDKs read them: each
 * event is `event: NAME\ndata: <one line of JSON>\n\n`, written in one piece, with a space
 * after each colon. Writes after the client left are dropped, never thrown.
 */
export class SseStream {
  constructor(private readonly res: ServerResponse) {}

  /** Headers go out now: the client sees the stream start before the first output. */
  open(): void {
    this.res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    this.res.flushHeaders();
  }

  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  /** JSON.stringify escapes every newline, so the data is always one line. */
  send(event: 'chunk' | 'done' | 'error', data: unknown): void {
    if (!this.closed) this.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /**
   * A comment line (clients ignore it) every KEEPALIVE_MS until stopped, between events
   * only (each write is whole), so clients with a read timeout keep waiting through silence.
   */
  keepAlive(clock: Clock): { stop(): void } {
    let timer: { cancel(): void } | undefined;
    const next = () => {
      timer = clock.setTimeout(() => {
        if (this.closed) return;
        this.res.write(': keep-alive\n\n');
        next();
      }, KEEPALIVE_MS);
    };
    next();
    return { stop: () => timer?.cancel() };
  }

  get congested(): boolean {
    return this.res.writableNeedDrain;
  }

  /** Resolves once the client took what was written, or is gone. */
  drained(): Promise<void> {
    if (!this.congested || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.once('drain', done);
      this.res.once('close', done);
    });
  }

  end(): void {
    if (!this.closed) this.res.end();
  }
}

/**
 * A streaming exec's output as `chunk` events, as it comes (text, a UTF-8 character split
 * across reads held until whole), with the response's back-pressure. `stream` says whether
 * it was stdout or stderr (our addition; v1 clients read `chunk` and `timestamp`).
 */
export class SseOutput implements OutputSink {
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };

  constructor(
    private readonly sse: SseStream,
    private readonly now: () => number,
  ) {}

  get congested(): boolean {
    return this.sse.congested;
  }

  drained(): Promise<void> {
    return this.sse.drained();
  }

  write(stream: StreamType, data: Buffer): void {
    for (let at = 0; at < data.length; at += EVENT_OUTPUT_BYTES) this.emit(stream, this.decoders[stream].write(data.subarray(at, at + EVENT_OUTPUT_BYTES)));
  }

  private emit(stream: StreamType, text: string): void {
    if (text.length > 0) this.sse.send('chunk', { chunk: text, timestamp: this.now(), stream });
  }

  async finish(): Promise<void> {
    this.emit('stdout', this.decoders.stdout.end());
    this.emit('stderr', this.decoders.stderr.end());
  }
}
