import type { ExecOutputParams } from '../sidecar/client/protocol';

/** Where one running command's output goes; disposing it stops the routing. */
export interface ExecStream {
  readonly streamId: string;
  dispose(): void;
}

/**
 * Routes the sidecar's `exec/output` notifications to the command waiting for them, by the
 * stream id that command's `exec` request chose. One per window, owned by Ctx, which feeds it
 * the notifications of every client connection.
 */
export class ExecStreamRouter {
  private readonly listeners = new Map<string, (output: ExecOutputParams) => void>();
  private nextStreamNumber = 1;

  /** Stream ids are `<prefix>-<n>`; the sidecar sends a stream only to the connection that asked. */
  constructor(private readonly streamIdPrefix: string) {}

  /** A new stream id whose output goes to `listener` until the stream is disposed. */
  open(listener: (output: ExecOutputParams) => void): ExecStream {
    const streamId = `${this.streamIdPrefix}-${this.nextStreamNumber++}`;
    this.listeners.set(streamId, listener);
    return { streamId, dispose: () => this.listeners.delete(streamId) };
  }

  /** Output for a stream nobody listens to (any more) is dropped. */
  deliver(output: ExecOutputParams): void {
    this.listeners.get(output.streamId)?.(output);
  }
}
