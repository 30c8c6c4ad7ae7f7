import type { MessageConnection, NotificationType, RequestParam } from 'vscode-languageserver-protocol';

/** Bytes of notifications queued for one client before producers are asked to pause. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;
const LOW_WATER_BYTES = 1 * 1024 * 1024;

/**
 * Back-pressure for notifications to one client. vscode-jsonrpc queues messages in memory
 * until the socket accepted them, so a slow client would grow the sidecar without bound;
 * producers (a command's output) check `congested` and wait for `drained()` instead.
 */
export class NotificationFlow {
  private inflight = 0;
  private waiters: Array<() => void> = [];

  constructor(private readonly connection: MessageConnection) {}

  /** Never throws: a client that went away simply gets nothing more. */
  send<P>(type: NotificationType<P>, params: RequestParam<P>, bytes: number): void {
    let sent: Promise<void>;
    try {
      // vscode-jsonrpc throws synchronously once the connection is closed or disposed.
      sent = this.connection.sendNotification(type, params);
    } catch {
      return;
    }
    this.inflight += bytes;
    void sent
      .catch(() => undefined)
      .finally(() => {
        this.inflight -= bytes;
        if (this.inflight <= LOW_WATER_BYTES && this.waiters.length > 0) {
          const waiters = this.waiters;
          this.waiters = [];
          for (const wake of waiters) wake();
        }
      });
  }

  get congested(): boolean {
    return this.inflight > HIGH_WATER_BYTES;
  }

  drained(): Promise<void> {
    if (this.inflight <= LOW_WATER_BYTES) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
