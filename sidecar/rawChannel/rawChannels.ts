import type { Socket } from 'node:net';
import { invalidInput } from '../errors';
import type { Clock } from '../util/clock';
import { RAW_CHANNEL_PREAMBLE } from '../client/protocol';

/** How long an exec waits for the raw channel it names (the two connections race). */
const CHANNEL_WAIT_MS = 5000;
const MAX_ID_LENGTH = 128;

/**
 * Raw byte channels that clients open beside their JSON-RPC connection (see
 * RAW_CHANNEL_PREAMBLE), keyed by the id the client chose.
 */
export class RawChannels {
  private readonly channels = new Map<string, Socket>();
  private readonly waiters = new Map<string, (socket: Socket) => void>();

  constructor(private readonly clock: Clock) {}

  /**
   * Decides what a new connection is from its first bytes: a raw channel (registered here,
   * returns true) or JSON-RPC (the bytes are put back, returns false).
   */
  async classify(socket: Socket): Promise<boolean> {
    const preamble = Buffer.from(RAW_CHANNEL_PREAMBLE, 'latin1');
    let received = Buffer.alloc(0);
    while (true) {
      const chunk = await new Promise<Buffer | undefined>((resolve) => {
        const onData = (data: Buffer) => (cleanup(), resolve(data));
        const onEnd = () => (cleanup(), resolve(undefined));
        const cleanup = () => {
          socket.off('data', onData);
          socket.off('end', onEnd);
          socket.off('close', onEnd);
        };
        socket.on('data', onData);
        socket.once('end', onEnd);
        socket.once('close', onEnd);
      });
      if (!chunk) return true; // closed before saying anything: nothing to serve
      received = Buffer.concat([received, chunk]);
      const compared = Math.min(received.length, preamble.length);
      if (!received.subarray(0, compared).equals(preamble.subarray(0, compared))) {
        socket.pause();
        socket.unshift(received);
        return false;
      }
      const newline = received.indexOf(0x0a, preamble.length);
      if (newline < 0) {
        if (received.length > preamble.length + MAX_ID_LENGTH) socket.destroy();
        continue;
      }
      // What follows the preamble line is the channel's first bytes (a stdin channel's input): put it back.
      // Paused until its consumer reads it: a stdin channel's input (the first of it may have
      // come with the preamble, put back here) must not flow away unread, nor its end be seen
      // (and the channel forgotten) before it was read.
      socket.pause();
      if (newline + 1 < received.length) socket.unshift(received.subarray(newline + 1));
      this.register(received.subarray(preamble.length, newline).toString('utf8'), socket);
      return true;
    }
  }

  private register(id: string, socket: Socket): void {
    socket.on('error', () => socket.destroy());
    socket.once('close', () => this.channels.get(id) === socket && this.channels.delete(id));
    const waiter = this.waiters.get(id);
    if (waiter) {
      this.waiters.delete(id);
      waiter(socket);
    } else {
      this.channels.set(id, socket);
    }
  }

  /** The channel with this id, once it is there; InvalidInput if it never comes. */
  take(id: string): Promise<Socket> {
    const ready = this.channels.get(id);
    if (ready) {
      this.channels.delete(id);
      return Promise.resolve(ready);
    }
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.waiters.delete(id);
        reject(invalidInput(`No raw channel "${id}" was opened. Open it (see RAW_CHANNEL_PREAMBLE) before or while sending the request.`));
      }, CHANNEL_WAIT_MS);
      this.waiters.set(id, (socket) => {
        timer.cancel();
        resolve(socket);
      });
    });
  }
}
