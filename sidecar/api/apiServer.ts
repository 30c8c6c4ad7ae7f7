import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import type { ApiInfo } from '../client/protocol';
import type { Logger } from '../util/log';
import { ApiError, sendError, sendJson, toApiError } from './apiError';
import type { ApiToken } from './apiToken';
import type { ApiServices, Route, RouteContext } from './route';
import { ROUTES } from './routes';

/** How long a client may take to send its headers (a request whose headers never end is cut off). */
const HEADERS_TIMEOUT_MS = 10_000;
/** How long a client may take to send a whole request, body included. */
const REQUEST_TIMEOUT_MS = 60_000;
/** Connections served at once; more wait in the kernel's queue. */
const MAX_CONNECTIONS = 512;
const LOOPBACK = new Set(['127.0.0.1', '::1']);

/** What the API needs of the sidecar besides the domain: its settings and the port it had last time. */
export interface ApiServerDependencies {
  services: ApiServices;
  token: ApiToken;
  log: Logger;
  settings(): { enabled: boolean; port: number; bindAddress: string };
  lastPort(): number;
  rememberPort(port: number): Promise<void>;
}

/**
 * The HTTP API (Sandkasten v1's routes and ours, see routes.ts) on its own port. Off unless
 * `api.enabled`; `apply()` follows the settings (start, stop, move). Every route but
 * `/healthz` needs the bearer token, checked before routing, so without it nothing about the
 * routes leaks either. Errors are JSON (`error_code`, `message`) and never say anything internal.
 */
export class ApiServer {
  private server: http.Server | undefined;
  private listening: { address: string; port: number } | undefined;
  private readonly router = FindMyWay({ ignoreTrailingSlash: true, maxParamLength: 256, caseSensitive: true });
  private readonly methodsByPattern = new Map<string, HTTPMethod[]>();
  private applying: Promise<void> = Promise.resolve();
  private lastError: string | undefined;

  constructor(private readonly deps: ApiServerDependencies) {
    for (const route of ROUTES) {
      this.router.on(route.method, route.path, () => undefined, route);
      this.methodsByPattern.set(route.path, [...(this.methodsByPattern.get(route.path) ?? []), route.method]);
    }
  }

  /** Starts, stops or moves the listener to match the settings; one change at a time. */
  apply(): Promise<void> {
    this.applying = this.applying.then(() => this.applyNow()).catch((error: unknown) => {
      this.lastError = (error as Error).message;
      this.deps.log.error('the HTTP API could not listen', error);
    });
    return this.applying;
  }

  private async applyNow(): Promise<void> {
    const { enabled, port, bindAddress } = this.deps.settings();
    const wanted = enabled ? { address: bindAddress, port } : undefined;
    if (this.listening && wanted && this.listening.address === wanted.address && (wanted.port === 0 || wanted.port === this.listening.port)) return;
    await this.close();
    this.lastError = undefined;
    if (!wanted) return;
    // Port 0: the port of last time when it is still free, so clients keep their URL.
    const remembered = wanted.port === 0 ? this.deps.lastPort() : 0;
    // Host is not required (curl --http1.0 and raw clients omit it; nothing here uses it);
    // timeouts are checked every second, so a stalled request ends near its limit.
    const server = http.createServer({ requireHostHeader: false, connectionsCheckingInterval: 1000 }, (req, res) => void this.handle(req, res));
    server.headersTimeout = HEADERS_TIMEOUT_MS;
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    server.maxConnections = MAX_CONNECTIONS;
    // What Node refuses before a request exists (bad syntax, huge headers, timeouts), an
    // Expect it does not know and CONNECT get the same JSON errors as everything else.
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerOnSocket(socket, clientErrorOf(error)));
    server.on('checkExpectation', (_req: http.IncomingMessage, res: http.ServerResponse) =>
      sendError(res, new ApiError(417, 'EXPECTATION_FAILED', 'Only "Expect: 100-continue" is understood.'), { Connection: 'close' }),
    );
    server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => answerOnSocket(socket, new ApiError(405, 'METHOD_NOT_ALLOWED', 'CONNECT is not served: this is not a proxy.')));
    const bound = await listen(server, wanted.address, wanted.port || remembered).catch((error: NodeJS.ErrnoException) => {
      if (remembered && error.code === 'EADDRINUSE') return listen(server, wanted.address, 0);
      throw error;
    });
    this.server = server;
    this.listening = { address: wanted.address, port: bound.port };
    if (bound.port !== this.deps.lastPort()) await this.deps.rememberPort(bound.port);
    this.deps.log.info(`HTTP API listening on ${this.url()}`);
    if (!LOOPBACK.has(wanted.address)) this.deps.log.info(`warning: ${this.warning()}`);
  }

  private url(): string | undefined {
    if (!this.listening) return undefined;
    const { address, port } = this.listening;
    const host = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '[::1]' : address.includes(':') ? `[${address}]` : address;
    return `http://${host}:${port}`;
  }

  private warning(): string | undefined {
    if (!this.listening || LOOPBACK.has(this.listening.address)) return undefined;
    return `the HTTP API listens on ${this.listening.address}, reachable from the network, without TLS: anyone who sees the token on the wire controls the sandboxes. Set api.bindAddress to 127.0.0.1 unless that is meant.`;
  }

  /** Where it listens and its token, once a settings change under way has been applied. */
  async info(): Promise<ApiInfo> {
    await this.applying;
    const { enabled, bindAddress } = this.deps.settings();
    const warning = this.warning();
    const url = this.url();
    return {
      enabled,
      bindAddress,
      token: this.deps.token.value,
      ...(url ? { url, port: this.listening!.port } : {}),
      ...(warning ? { warning } : {}),
      ...(enabled && !url && this.lastError ? { error: this.lastError } : {}),
    };
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.listening = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections(); // streams and long execs end with their connection (their commands are cancelled)
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const requestId = requestIdOf(req);
    res.setHeader('X-Request-ID', requestId);
    let notFoundCode = 'NOT_FOUND';
    try {
      const url = parseUrl(req.url);
      const method = (req.method ?? 'GET').toUpperCase() as HTTPMethod;
      if (url.pathname === '/healthz' && (method === 'GET' || method === 'HEAD')) return sendJson(res, 200, { status: 'ok' });
      if (!this.deps.token.accepts(req.headers.authorization)) {
        throw new ApiError(401, 'UNAUTHORIZED', 'missing or invalid authorization: send "Authorization: Bearer <token>" (sandkasten api info)');
      }
      const found = this.router.find(method, url.pathname);
      if (!found) throw this.noRoute(url.pathname);
      const route = found.store as Route;
      notFoundCode = route.notFound ?? notFoundCode;
      const params = Object.fromEntries(Object.entries(found.params).map(([key, value]) => [key, value ?? '']));
      const abort = new AbortController();
      // The client left before the answer: its command is cancelled, its stream ends.
      res.once('close', () => {
        if (!res.writableFinished) abort.abort();
      });
      const context: RouteContext = { req, res, params, query: url.searchParams, services: this.deps.services, signal: abort.signal };
      const result = await route.handle(context);
      if (result) sendJson(res, result.status ?? 200, result.body);
      else if (!res.headersSent) sendJson(res, 200, { ok: true });
    } catch (error) {
      const apiError = toApiError(error, notFoundCode);
      if (apiError.status >= 500) this.deps.log.error(`HTTP ${req.method} ${req.url} failed (${requestId})`, error);
      if (res.headersSent) res.destroy();
      else sendError(res, apiError, apiError.status === 405 ? { Allow: String(apiError.details?.allow ?? '') } : {});
    }
  }

  /** 404, or 405 with Allow when the path exists for other methods. */
  private noRoute(pathname: string): ApiError {
    const allowed = [...new Set(ROUTES.filter((route) => this.router.find(route.method, pathname)?.store === route).map((route) => route.method))];
    if (allowed.length > 0) return new ApiError(405, 'METHOD_NOT_ALLOWED', `${pathname} accepts ${allowed.join(', ')}.`, { allow: allowed.join(', ') });
    return new ApiError(404, 'NOT_FOUND', `No route ${pathname}. The routes are listed in the README ("HTTP API").`);
  }
}

function listen(server: http.Server, address: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const failed = (error: Error) => reject(error);
    server.once('error', failed);
    server.listen(port, address, () => {
      server.off('error', failed);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * The path and query of a request target, taken as sent: a path with `.` or `..` segments
 * (plain or percent-encoded) or empty ones is a 400, never resolved into another route
 * (`DELETE /v1/workspaces/x/../../sessions/S` must not destroy S).
 */
function parseUrl(target: string | undefined): URL {
  if (!target?.startsWith('/')) throw new ApiError(400, 'INVALID_REQUEST', 'The request target must be a path.');
  const pathPart = target.split('?', 1)[0];
  const segments = pathPart.split('/').slice(1);
  const decoded = segments.map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw new ApiError(400, 'INVALID_REQUEST', 'The request path has a malformed percent-encoding.');
    }
  });
  if (decoded.some((segment, index) => segment === '.' || segment === '..' || (segment === '' && index < decoded.length - 1))) {
    throw new ApiError(400, 'INVALID_REQUEST', 'The request path must not hold ".", ".." or empty segments.');
  }
  try {
    return new URL(target, 'http://api.invalid');
  } catch {
    throw new ApiError(400, 'INVALID_REQUEST', 'The request target is not a valid URL path.');
  }
}

/** The status Node's own refusal stands for: headers too large, too slow, or not HTTP. */
function clientErrorOf(error: NodeJS.ErrnoException): ApiError {
  if (error.code === 'HPE_HEADER_OVERFLOW') return new ApiError(431, 'HEADERS_TOO_LARGE', 'The request line or headers are too large.');
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new ApiError(408, 'REQUEST_TIMEOUT', 'The request did not arrive in time.');
  return new ApiError(400, 'INVALID_REQUEST', 'The request is not valid HTTP/1.1.');
}

/** A JSON error written straight to a socket that has no response object, then closed. */
function answerOnSocket(socket: Duplex, error: ApiError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${JSON.stringify({ error_code: error.errorCode, message: error.message })}\n`;
  const reason = http.STATUS_CODES[error.status] ?? 'Error';
  socket.end(`HTTP/1.1 ${error.status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** The caller's X-Request-ID when it is short and plain, else a new one (echoed, for logs). */
function requestIdOf(req: http.IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomBytes(4).toString('hex');
}
