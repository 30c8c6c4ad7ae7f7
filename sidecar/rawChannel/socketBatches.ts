import type { Clock } from '../util/clock';

/** A batch this big goes at once: the client reads up to 64 KiB per wake-up. */
const BATCH_BYTES = 64 * 1024;
/** Output is streaming when the last batch went less than this long ago… */
const STREAMING_WITHIN_MS = 2;
/** …and then a smaller batch waits at most this long for more. */
const HOLD_MS = 1;

/** The part of a socket that SocketBatches drives (net.Socket). */
export interface CorkableSocket {
  cork(): void;
  uncork(): void;
  write(data: Buffer): boolean;
}

/**
 * Gathers relayed output into fewer, larger writes. Docker's stream arrives in small reads
 * (one TLS record, often 8 KiB, or one frame of a few KiB) and a write per read wakes the
 * client per read: the relay then cost more CPU than the docker CLI it is measured against.
 * So what arrives in one turn of the event loop leaves in one writev, and while output
 * streams (the last batch left under STREAMING_WITHIN_MS ago) a batch below BATCH_BYTES
 * waits up to HOLD_MS for more. Output that comes now and then goes at the end of its turn,
 * without waiting. Slices are passed on, never copied; ending the socket sends what is held.
 */
export class SocketBatches {
  private held = 0;
  private turnEnding = false;
  private holding: { cancel(): void } | undefined;
  private lastBatchAt = -Infinity;

  constructor(
    private readonly socket: CorkableSocket,
    private readonly clock: Clock,
  ) {}

  write(data: Buffer): void {
    if (this.held === 0) this.socket.cork();
    this.held += data.length;
    this.socket.write(data);
    if (!this.turnEnding) {
      this.turnEnding = true;
      setImmediate(this.endOfTurn);
    }
  }

  /** Sends what is held now (before the socket ends, or is given up). */
  flush(): void {
    this.holding?.cancel();
    this.holding = undefined;
    if (this.held === 0) return;
    this.held = 0;
    this.lastBatchAt = this.clock.now();
    this.socket.uncork();
  }

  private readonly endOfTurn = (): void => {
    this.turnEnding = false;
    if (this.held === 0) return;
    const streaming = this.clock.now() - this.lastBatchAt < STREAMING_WITHIN_MS;
    if (this.held >= BATCH_BYTES || !streaming) return this.flush();
    this.holding ??= this.clock.setTimeout(() => this.flush(), HOLD_MS);
  };
}
