import * as fs from 'node:fs';
import * as net from 'node:net';
import { createMessageConnection, ExitNotification, InitializeRequest, ShutdownRequest, type MessageConnection } from 'vscode-languageserver-protocol/node';
import { version } from '../../package.json';
import { StateChangedNotification, type ChangedArea, type Origin } from '../client/protocol';
import type { RawChannels } from '../rawChannel/rawChannels';
import { NotificationFlow } from './flow';
import type { HandlerContext } from './handlers/context';
import { registerDaemonHandlers } from './handlers/daemon';
import { registerDoctorHandlers } from './handlers/doctor';
import { registerDashboardHandlers } from './handlers/dashboard';
import { registerExecHandlers } from './handlers/exec';
import { registerFileHandlers } from './handlers/files';
import { registerImageHandlers } from './handlers/images';
import { registerLifecycleHandlers } from './handlers/lifecycle';
import { registerPortHandlers } from './handlers/ports';
import { registerProcessHandlers } from './handlers/processes';
import { registerSessionHandlers } from './handlers/sessions';
import { registerShareHandlers } from './handlers/shares';
import { registerTerminalHandlers } from './handlers/terminals';
import { registerWorkspaceHandlers } from './handlers/workspaces';
import { registrar } from './registrar';
import type { Services } from './services';

/** On shutdown, how long a client's socket may take to take what was written to it. */
const FLUSH_LIMIT_MS = 1000;

/** Every area's handlers, registered on each new connection. */
const HANDLER_AREAS: Array<(context: HandlerContext) => void> = [
  registerDaemonHandlers,
  registerDoctorHandlers,
  registerWorkspaceHandlers,
  registerSessionHandlers,
  registerExecHandlers,
  registerProcessHandlers,
  registerTerminalHandlers,
  registerImageHandlers,
  registerLifecycleHandlers,
  registerFileHandlers,
  registerShareHandlers,
  registerDashboardHandlers,
  registerPortHandlers,
];

/**
 * The sidecar's socket: accepts clients (windows, CLI, tests), serves JSON-RPC on each with
 * its own notification flow, hands raw byte channels to RawChannels, and broadcasts state
 * changes. Tells its owner when the last client left.
 */
export class Server {
  /** Every JSON-RPC client, with the flow that paces notifications to it. */
  private readonly connections = new Map<MessageConnection, NotificationFlow>();
  private readonly sockets = new Set<net.Socket>();
  private readonly server = net.createServer((socket) => this.accept(socket));

  constructor(
    private readonly services: Services,
    private readonly rawChannels: RawChannels,
    private readonly events: { onClientConnected(): void; onLastClientGone(): void },
  ) {}

  get clientCount(): number {
    return this.connections.size;
  }

  async listen(socketPath: string): Promise<void> {
    // The caller's lock proves no live sidecar owns the socket, so a leftover file is stale.
    if (process.platform !== 'win32') fs.rmSync(socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(socketPath, () => resolve());
    });
    if (process.platform !== 'win32') fs.chmodSync(socketPath, 0o600);
  }

  /** Never throws: a client that is disconnecting fails the write (EPIPE) and simply misses it. */
  broadcast(areas: ChangedArea[]): void {
    for (const flow of this.connections.values()) flow.send(StateChangedNotification.type, { areas }, 0);
  }

  /** Stops accepting new clients; those connected are still answered until `disconnect()`. */
  stopAccepting(): void {
    this.server.close();
  }

  /**
   * Ends every client's connection once what was written to it went out (the answer to a
   * shutdown request among it), or after FLUSH_LIMIT_MS, then forgets the clients.
   */
  async disconnect(): Promise<void> {
    await Promise.all(
      [...this.sockets].map(
        (socket) =>
          new Promise<void>((resolve) => {
            const limit = this.services.clock.setTimeout(() => (socket.destroy(), resolve()), FLUSH_LIMIT_MS);
            socket.once('close', () => (limit.cancel(), resolve()));
            socket.end();
          }),
      ),
    );
    for (const connection of this.connections.keys()) connection.dispose();
    this.connections.clear();
  }

  /** A new connection is either a JSON-RPC client or a raw byte channel for one exec. */
  private accept(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    void this.rawChannels.classify(socket).then((isRawChannel) => {
      if (!isRawChannel) this.serveJsonRpc(socket);
    });
  }

  private serveJsonRpc(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const connection = createMessageConnection(socket, socket);
    const flow = new NotificationFlow(connection);
    this.connections.set(connection, flow);
    this.events.onClientConnected();
    const { handle, onNotification } = registrar(connection, this.services.log);
    // A LanguageClient (a VS Code window) says initialize first; the CLI's client does not.
    const client: { origin: Origin } = { origin: 'cli' };
    for (const register of HANDLER_AREAS) register({ handle, onNotification, connection, flow, services: this.services, client });
    // A LanguageClient speaks LSP's lifecycle; `exit` ends only this client's connection.
    connection.onRequest(InitializeRequest.type, () => {
      client.origin = 'vscode';
      return { capabilities: {}, serverInfo: { name: 'sandkasten-sidecar', version } };
    });
    connection.onRequest(ShutdownRequest.type, () => undefined);
    connection.onNotification(ExitNotification.type, () => {
      socket.end();
    });
    connection.onUnhandledNotification(() => undefined);
    const forget = () => {
      if (!this.connections.delete(connection)) return;
      connection.dispose();
      if (this.connections.size === 0) this.events.onLastClientGone();
    };
    connection.onClose(forget);
    socket.on('close', forget);
    connection.listen();
    socket.resume(); // classify() paused it to put back the first bytes
  }
}
