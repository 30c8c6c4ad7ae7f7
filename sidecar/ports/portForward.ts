import * as net from 'node:net';
import type { PortForwardInfo } from '../client/portProtocol';
import type { Engine } from '../docker/engine';
import { isoTime, type Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { connectDirect, relayCommand, spliceSockets, spliceThroughExec, type RelayTool } from './portRelay';
import { isLoopback, isWildcard } from './socketTable';

/** Connections one forward relays at once; more wait in the listen backlog's place: refused. */
export const MAX_CONNECTIONS_PER_FORWARD = 512;

/** Where a new connection goes (asked per connection: the container may have been replaced). */
export interface ForwardTarget {
  containerId: string;
  /** The container's addresses this machine may reach it at (empty for a remote engine or network `none`). */
  addresses: string[];
  /** The address the port listens on inside, when seen listening. */
  listeningOn?: string;
  relayTool(): Promise<RelayTool | undefined>;
}

export interface PortForwardOptions {
  sessionId: string;
  port: number;
  auto: boolean;
  since: number;
  engine: Engine;
  log: Logger;
  target(): Promise<ForwardTarget>;
  /** A connection came: a use of the session; a frozen one thaws (resolves once it runs). */
  onConnection(): Promise<void>;
  /** Bytes came on a connection (called for every chunk: it must be cheap): a use too. */
  onTraffic(): void;
  clock: Clock;
}

/**
 * One forwarded port: a listener on this machine whose connections are relayed to the port
 * inside the session's container, directly when the container's address is reachable and
 * the server listens on it, through a relay process in the container otherwise (see
 * portRelay.ts). SANDKASTEN_PORT_RELAY=exec makes every connection take the relay (tests).
 */
export class PortForward {
  private server: net.Server | undefined;
  private readonly connections = new Set<net.Socket>();
  /** Set once a direct connection failed to connect: later ones take the relay at once. */
  private directFailed = false;
  private closed = false;
  address = '';
  localPort = 0;
  /** Said when it listens elsewhere than asked (the port was taken) or beyond loopback. */
  warning: string | undefined;
  /** When a connection last came or carried bytes from this machine's side. */
  lastUsedAt: number;

  constructor(private readonly options: PortForwardOptions) {
    this.lastUsedAt = options.clock.now();
  }

  get sessionId(): string {
    return this.options.sessionId;
  }
  get port(): number {
    return this.options.port;
  }
  get since(): number {
    return this.options.since;
  }
  get auto(): boolean {
    return this.options.auto;
  }

  /** Listens on address:port (0: any free port); rejects with the listen error (EADDRINUSE, EACCES). */
  listen(address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.accept(socket));
      server.maxConnections = MAX_CONNECTIONS_PER_FORWARD;
      server.once('error', reject);
      server.listen({ host: address, port, exclusive: true }, () => {
        server.removeListener('error', reject);
        server.on('error', (error) => this.options.log.error(`forward of port ${this.port} failed`, error));
        const bound = server.address() as net.AddressInfo;
        this.server = server;
        this.address = bound.address;
        this.localPort = bound.port;
        resolve();
      });
    });
  }

  info(): PortForwardInfo {
    const host = isWildcard(this.address) ? '127.0.0.1' : this.address;
    return {
      localAddress: this.address,
      localPort: this.localPort,
      url: `http://${net.isIPv6(host) ? `[${host}]` : host}:${this.localPort}/`,
      auto: this.options.auto,
      connections: this.connections.size,
      since: isoTime(this.options.since)!,
    };
  }

  /** Stops listening and ends every connection it relays. */
  close(): void {
    this.closed = true;
    this.server?.close();
    for (const socket of this.connections) socket.destroy();
    this.connections.clear();
  }

  private accept(local: net.Socket): void {
    if (this.closed) return void local.destroy();
    this.connections.add(local);
    local.on('error', () => undefined); // ended below; an error alone must not throw
    // A browser's keep-alive connection or a WebSocket is use too, not only its opening.
    local.on('data', () => {
      this.lastUsedAt = this.options.clock.now();
      this.options.onTraffic();
    });
    // Connections come and go by the hundred: their count is read when listed, never announced.
    const done = (relayError?: string) => {
      if (!this.connections.delete(local)) return;
      if (relayError) this.options.log.info(`port ${this.port} of session ${this.sessionId}: the relay said: ${relayError.slice(0, 300)}`);
    };
    void this.connect(local, done).catch((error) => {
      this.options.log.info(`port ${this.port} of session ${this.sessionId}: no connection: ${(error as Error).message}`);
      local.resetAndDestroy();
      done();
    });
  }

  private async connect(local: net.Socket, done: (relayError?: string) => void): Promise<void> {
    this.lastUsedAt = this.options.clock.now();
    await this.options.onConnection(); // a frozen container takes no exec, and answers nothing until thawed
    const target = await this.options.target();
    const direct = this.directAddress(target);
    if (direct) {
      try {
        const remote = await connectDirect(direct, this.port);
        if (this.closed || local.destroyed) return void remote.destroy();
        spliceSockets(local, remote, done);
        local.resume();
        return;
      } catch (error) {
        // Unreachable (another machine's engine, a firewall) or refused there: the relay decides.
        if ((error as NodeJS.ErrnoException).code !== 'ECONNREFUSED') this.directFailed = true;
      }
    }
    const tool = await target.relayTool();
    if (!tool) throw new Error('the image has none of perl, python3, node, nc or bash to relay the connection with');
    if (this.closed || local.destroyed) return;
    const inside = target.listeningOn && !isWildcard(target.listeningOn) ? target.listeningOn : '127.0.0.1';
    await spliceThroughExec(this.options.engine, target.containerId, relayCommand(tool, inside, this.port), local, done);
    local.resume();
  }

  /** The container address to connect to directly, or undefined when the relay must go. */
  private directAddress(target: ForwardTarget): string | undefined {
    if (this.directFailed || relayOnly()) return undefined;
    const listeningOn = target.listeningOn;
    if (listeningOn && isLoopback(listeningOn)) return undefined; // only reachable from inside
    if (listeningOn && !isWildcard(listeningOn)) return target.addresses.includes(listeningOn) ? listeningOn : undefined;
    return target.addresses.find((address) => net.isIPv4(address)) ?? target.addresses[0];
  }
}

function relayOnly(): boolean {
  return process.env.SANDKASTEN_PORT_RELAY === 'exec';
}
