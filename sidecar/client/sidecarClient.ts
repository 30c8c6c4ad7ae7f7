import {
  CancellationTokenSource,
  createMessageConnection,
  ErrorCodes,
  ResponseError,
  type MessageConnection,
  type NotificationType,
  type RequestParam,
  type RequestType,
} from 'vscode-languageserver-protocol/node';
import type { Socket } from 'node:net';
import { connectToSidecar, type LaunchOptions } from './launch';
import { RAW_CHANNEL_PREAMBLE } from './protocol';
import { RawChannelReader } from './rawChannelReader';

/**
 * A plain JSON-RPC client of the sidecar, for the CLI and the tests (the extension uses a
 * LanguageClient over the same socket instead).
 */
export class SidecarClient {
  private constructor(
    private readonly launch: LaunchOptions,
    readonly connection: MessageConnection,
    /** Exposed so a slow consumer can pause reading, which back-pressures the sidecar. */
    readonly socket: Socket,
  ) {}

  static async connect(options: LaunchOptions): Promise<SidecarClient> {
    const socket = await connectToSidecar(options);
    const connection = createMessageConnection(socket, socket);
    // vscode-jsonrpc rejects pending requests only on dispose: do it when the sidecar goes away,
    // so a request in flight fails instead of waiting forever.
    connection.onClose(() => connection.dispose());
    connection.listen();
    return new SidecarClient(options, connection, socket);
  }

  request<P, R>(type: RequestType<P, R, void>, params: RequestParam<P>, cancellation?: CancellationTokenSource): Promise<R> {
    return this.connection.sendRequest(type, params, cancellation?.token);
  }

  onNotification<P>(type: NotificationType<P>, handler: (params: P) => void): void {
    this.connection.onNotification(type, handler);
  }

  /**
   * Opens a raw byte channel (see RAW_CHANNEL_PREAMBLE) to pass as `rawChannelId` to an exec:
   * its stdout arrives here as plain bytes, the fastest way out of a sandbox. The stream ends
   * when the command's output is complete.
   */
  async openRawChannel(id: string): Promise<RawChannelReader> {
    const socket = await connectToSidecar({ ...this.launch, startIfMissing: false });
    socket.write(`${RAW_CHANNEL_PREAMBLE}${id}\n`);
    return new RawChannelReader(socket);
  }

  /**
   * Opens a raw channel to pass as `stdinChannelId` to an exec: what is written to the
   * returned socket becomes the command's stdin, with the socket's back-pressure; ending it
   * ends the command's input.
   */
  async openStdinChannel(id: string): Promise<Socket> {
    const socket = await connectToSidecar({ ...this.launch, startIfMissing: false });
    socket.write(`${RAW_CHANNEL_PREAMBLE}${id}\n`);
    return socket;
  }

  close(): void {
    this.connection.dispose();
    this.socket.destroy();
  }
}

export { CancellationTokenSource, ErrorCodes, RawChannelReader, ResponseError };
