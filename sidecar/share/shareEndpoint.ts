import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type Socket } from 'node:net';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { invalidConfig } from '../errors';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import type { Refusals } from './refusals';
import { MAX_MESSAGE_BYTES, SHARE_PATH, WIRE_VERSION } from './wire';

/** Who the upgrade request says it is, once its secret was looked up. */
export type ShareAuthentication = { kind: 'join'; sessionId: string } | { kind: 'resume'; sessionId: string; guestId: string } | { full: true };

export interface EndpointSettings {
  bindAddress: string;
  port: number;
  /** The host name or address put in links when the endpoint listens beyond loopback. */
  publicAddress: string;
  tlsCertFile: string;
  tlsKeyFile: string;
}

export interface EndpointAddress {
  /** `ws://127.0.0.1:PORT/share` or `wss://host:PORT/share`. */
  url: string;
  /** SHA-256 of the TLS certificate, lowercase hex, for the links to pin. */
  fingerprint?: string;
  warning?: string;
}

export interface EndpointDependencies {
  clock: Clock;
  log: Logger;
  refusals: Refusals;
  authenticate(authorization: string | undefined): ShareAuthentication | undefined;
  accept(auth: Exclude<ShareAuthentication, { full: true }>, socket: WebSocket, name: string, address: string): void;
  /** A wrong secret was refused (for the history). */
  onRefused(): void;
}

/** Connections that have not finished their upgrade yet, at most; from one address (beyond loopback). */
const MAX_UNFINISHED = 128;
const MAX_UNFINISHED_PER_ADDRESS = 32;
/** An upgrade request must arrive within this long of the connection. */
const HEADERS_WITHIN_MS = 5000;
/** Pings keep NAT mappings open and find guests whose machine went away. */
const PING_EVERY_MS = 15_000;

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * The host's share endpoint: an HTTP(S) server that only upgrades to WebSocket, on
 * `share.bindAddress` (loopback by default). The secret travels in the upgrade request's
 * Authorization header — `Bearer <link secret>` to ask to join, `Guest <token>` to come back
 * — and is checked before the upgrade: a wrong one gets a bare 401 that says nothing about
 * whether the session exists, and too many from one address get 429 without a look at the
 * secret. Listening beyond loopback needs a certificate (TLS), whose fingerprint the links
 * carry. It listens only while something is shared.
 */
export class ShareEndpoint {
  private server: http.Server | https.Server | undefined;
  private opening: Promise<EndpointAddress> | undefined;
  private readonly webSockets = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: true });
  private current: EndpointAddress | undefined;
  private unfinished = 0;
  private readonly unfinishedFrom = new Map<string, number>();
  /** How to mark an unfinished connection upgraded, by its remote address and port (the TCP and the TLS socket share them). */
  private readonly upgradeMarks = new Map<string, () => void>();
  private pinger: { cancel(): void } | undefined;

  constructor(private readonly deps: EndpointDependencies) {}

  get address(): EndpointAddress | undefined {
    return this.current;
  }

  /** Listens (once; later calls get the same address). Settings are read when it starts. */
  open(settings: EndpointSettings): Promise<EndpointAddress> {
    if (this.current) return Promise.resolve(this.current);
    this.opening ??= this.listen(settings).finally(() => (this.opening = undefined));
    return this.opening;
  }

  /**
   * Stops listening. With `stillIdle`, only if it still says so once an open under way has
   * finished (a share that started meanwhile keeps its endpoint).
   */
  async close(stillIdle?: () => boolean): Promise<void> {
    if (this.opening) await this.opening.catch(() => undefined);
    if (stillIdle && !stillIdle()) return;
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.current = undefined;
    this.pinger?.cancel();
    for (const socket of this.webSockets.clients) socket.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async listen(settings: EndpointSettings): Promise<EndpointAddress> {
    const loopback = LOOPBACK.has(settings.bindAddress);
    let tls: { cert: Buffer; key: Buffer; fingerprint: string } | undefined;
    if (!loopback || settings.tlsCertFile) tls = readCertificate(settings);
    const server = tls ? https.createServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2', handshakeTimeout: HEADERS_WITHIN_MS }) : http.createServer();
    server.on('request', (_request, response: http.ServerResponse) => {
      response.writeHead(426, { 'content-type': 'text/plain', connection: 'close' }).end('Sandkasten share endpoint: join with a Sandkasten link.\n');
    });
    server.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        this.onUpgrade(request, socket as Socket, head);
      } catch (error) {
        // Whatever a stranger's request does, the sidecar stays up.
        this.deps.log.error('share endpoint: an upgrade request failed', error);
        socket.destroy();
      }
    });
    // Counted on the TCP socket in both modes (a TLS handshake that never ends counts too).
    server.on('connection', (socket: Socket) => this.guardConnection(socket));
    server.on('clientError', (_error, socket: Duplex) => socket.destroy());
    server.headersTimeout = HEADERS_WITHIN_MS;
    server.requestTimeout = HEADERS_WITHIN_MS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(settings.port, settings.bindAddress, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((error: NodeJS.ErrnoException) => {
      throw invalidConfig(`The share endpoint cannot listen on ${settings.bindAddress}:${settings.port}: ${error.code === 'EADDRINUSE' ? 'the port is taken' : error.message}. Change share.port or share.bindAddress.`);
    });
    this.server = server;
    const port = (server.address() as { port: number }).port;
    const host = loopback ? settings.bindAddress.replace('localhost', '127.0.0.1') : settings.publicAddress || (isWildcard(settings.bindAddress) ? hostname() : settings.bindAddress);
    const url = `${tls ? 'wss' : 'ws'}://${isIP(host) === 6 ? `[${host}]` : host}:${port}${SHARE_PATH}`;
    this.current = {
      url,
      ...(tls ? { fingerprint: tls.fingerprint } : {}),
      ...(loopback ? {} : { warning: `The share endpoint listens on ${settings.bindAddress}: anyone who can reach this machine and has a link can ask to join (TLS, certificate pinned in the link).` }),
    };
    this.schedulePing();
    this.deps.log.info(`share endpoint listening on ${url}`);
    return this.current;
  }

  /**
   * Caps connections that have not upgraded yet — overall and per address, so one stranger
   * cannot hold every slot — and how long they may take (TLS handshake and headers together).
   */
  private guardConnection(socket: Socket): void {
    const from = socket.remoteAddress ?? '?';
    const fromHere = this.unfinishedFrom.get(from) ?? 0;
    // Loopback is everyone behind an SSH tunnel (and local users, who have other means): only the overall cap.
    const perAddressCap = isLoopback(from) ? MAX_UNFINISHED : MAX_UNFINISHED_PER_ADDRESS;
    if (this.unfinished >= MAX_UNFINISHED || fromHere >= perAddressCap) {
      socket.destroy();
      return;
    }
    this.unfinished++;
    this.unfinishedFrom.set(from, fromHere + 1);
    const key = `${from}:${socket.remotePort ?? '?'}`;
    let counted = true;
    const done = () => {
      if (!counted) return;
      counted = false;
      timer.cancel();
      this.upgradeMarks.delete(key);
      this.unfinished--;
      const left = (this.unfinishedFrom.get(from) ?? 1) - 1;
      if (left > 0) this.unfinishedFrom.set(from, left);
      else this.unfinishedFrom.delete(from);
    };
    const timer = this.deps.clock.setTimeout(() => {
      if (counted) socket.destroy();
    }, HEADERS_WITHIN_MS);
    socket.once('close', done);
    this.upgradeMarks.set(key, done);
  }

  private onUpgrade(request: http.IncomingMessage, socket: Socket, head: Buffer): void {
    const address = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? '?'}`;
    const from = request.socket.remoteAddress ?? '?';
    socket.on('error', () => socket.destroy());
    if (pathOf(request.url) !== SHARE_PATH) return reject(socket, 404, 'Not Found');
    if (request.headers['sandkasten-share-version'] !== WIRE_VERSION) return reject(socket, 400, 'Bad Request', 'This Sandkasten speaks another version of the share protocol: update both sides.');
    const auth = this.deps.authenticate(request.headers.authorization);
    // A guest coming back with its own token is never locked out by someone else's guessing
    // from the same address (behind an SSH tunnel, everyone is 127.0.0.1); a 256-bit token
    // is no oracle. Asking to join, even with the right secret, waits out the limit.
    const returning = auth !== undefined && 'kind' in auth && auth.kind === 'resume';
    if (!returning && this.deps.refusals.isLimited(from)) return reject(socket, 429, 'Too Many Requests');
    if (!auth) {
      this.deps.refusals.record(from);
      this.deps.onRefused();
      return reject(socket, 401, 'Unauthorized');
    }
    if ('full' in auth) return reject(socket, 503, 'Service Unavailable', 'The share is full.');
    const name = decodeName(request.headers['sandkasten-guest-name']);
    this.upgradeMarks.get(`${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? '?'}`)?.();
    this.webSockets.handleUpgrade(request, socket, head, (webSocket) => {
      const alive = webSocket as WebSocket & { alive?: boolean };
      alive.alive = true;
      webSocket.on('pong', () => (alive.alive = true));
      this.deps.accept(auth, webSocket, name, address);
    });
  }

  private schedulePing(): void {
    this.pinger = this.deps.clock.setTimeout(() => {
      if (!this.server) return;
      this.ping();
      this.schedulePing();
    }, PING_EVERY_MS);
  }

  /** A guest that missed a whole ping round is gone (its machine slept, its network dropped). */
  private ping(): void {
    for (const socket of this.webSockets.clients) {
      const alive = socket as WebSocket & { alive?: boolean };
      if (alive.alive === false) {
        socket.terminate();
        continue;
      }
      alive.alive = false;
      socket.ping();
    }
  }
}

function reject(socket: Socket, status: number, text: string, body = ''): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  socket.once('finish', () => socket.destroy());
}

/** The request target's path, or undefined when it is not one (`//[`, `http://x:99999/`). */
function pathOf(target: string | undefined): string | undefined {
  try {
    return new URL(target ?? '/', 'http://share').pathname;
  } catch {
    return undefined;
  }
}

function decodeName(header: string | string[] | undefined): string {
  const raw = Array.isArray(header) ? header[0] : header;
  if (!raw) return '';
  try {
    return decodeURIComponent(raw.slice(0, 1024));
  } catch {
    return '';
  }
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

function readCertificate(settings: EndpointSettings): { cert: Buffer; key: Buffer; fingerprint: string } {
  if (!settings.tlsCertFile || !settings.tlsKeyFile) {
    throw invalidConfig(
      `Sharing beyond this machine (share.bindAddress ${settings.bindAddress}) needs TLS: set share.tlsCertFile and share.tlsKeyFile (a self-signed certificate works; the link pins it), or keep share.bindAddress at 127.0.0.1 and let guests reach it through an SSH tunnel.`,
    );
  }
  try {
    const cert = fs.readFileSync(settings.tlsCertFile);
    const key = fs.readFileSync(settings.tlsKeyFile);
    const fingerprint = new X509Certificate(cert).fingerprint256.replaceAll(':', '').toLowerCase();
    return { cert, key, fingerprint };
  } catch (error) {
    throw invalidConfig(`The share endpoint's certificate could not be read (share.tlsCertFile, share.tlsKeyFile): ${(error as Error).message}`);
  }
}
