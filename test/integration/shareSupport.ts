/**
 * Helpers of the share suites: a terminal watcher per client, a raw guest that speaks the
 * share's wire protocol itself (for many guests at once and for hostile ones), a raw upgrade
 * attempt that reports the HTTP status, and a TCP proxy whose connections a test can cut.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import WebSocket from 'ws';
import { expectError, P, waitFor, type SidecarClient } from './harness';

export { plainText, SIZE, TerminalWatcher } from './terminalWatcher';

// ----- the share's requests, shortened -----

export function listShares(client: SidecarClient): Promise<P.ShareInfo[]> {
  return client.request(P.ListSharesRequest.type, {});
}

export async function shareOf(client: SidecarClient, sessionId: string): Promise<P.ShareInfo> {
  const share = (await listShares(client)).find((candidate) => candidate.sessionId === sessionId);
  assert.ok(share, `session ${sessionId} is shared`);
  return share;
}

export async function joinedShare(client: SidecarClient, joinedShareId: string): Promise<P.JoinedShareInfo | undefined> {
  return (await client.request(P.ListJoinedSharesRequest.type, {})).find((share) => share.id === joinedShareId);
}

/** Waits until a joined share is in `state` (and returns it). */
export function joinedShareState(client: SidecarClient, joinedShareId: string, state: P.JoinedShareInfo['state'], limitMs?: number): Promise<P.JoinedShareInfo> {
  return waitFor(`joined share ${joinedShareId} to be ${state}`, async () => {
    const share = await joinedShare(client, joinedShareId);
    return share?.state === state ? share : undefined;
  }, limitMs);
}

/** The host's pending request of the guest named `name`, once it shows. */
export function pendingRequest(host: SidecarClient, sessionId: string, name: string): Promise<P.JoinRequestInfo> {
  return waitFor(`a join request of "${name}"`, async () => (await shareOf(host, sessionId)).pending.find((pending) => pending.name === name));
}

/**
 * Asks to join with `code` from the guest sidecar; the host answers (allow with `role`, or
 * deny when role is 'deny'). Returns what share/join answered, or the error it failed with.
 */
export async function joinThroughHost(
  host: SidecarClient,
  guest: SidecarClient,
  sessionId: string,
  code: string,
  name: string,
  role: P.ShareRole | 'deny',
): Promise<P.JoinedShareInfo> {
  const joining = guest.request(P.JoinShareRequest.type, { code, name });
  joining.catch(() => undefined);
  const pending = await pendingRequest(host, sessionId, name);
  if (role === 'deny') await host.request(P.AnswerJoinRequest.type, { requestId: pending.id, allow: false });
  else await host.request(P.AnswerJoinRequest.type, { requestId: pending.id, allow: true, role });
  return joining;
}

export async function participant(host: SidecarClient, sessionId: string, name: string): Promise<P.ParticipantInfo | undefined> {
  return (await shareOf(host, sessionId)).participants.find((candidate) => candidate.name === name);
}

export async function historyKinds(client: SidecarClient, workspaceId: string): Promise<P.WorkspaceEventKind[]> {
  return (await client.request(P.WorkspaceHistoryRequest.type, { id: workspaceId, limit: 1000 })).map((event) => event.kind);
}

export function expectForbidden(promise: Promise<unknown>): Promise<unknown> {
  return expectError(promise, 'Forbidden');
}

// ----- codes -----

export function codeParts(code: string): { host: string; port: number; secret: string } {
  const url = new URL(code);
  return { host: url.hostname, port: Number(url.port), secret: url.hash.slice(1) };
}

/** The same code, pointed at another port of this machine (a proxy's). */
export function codeAtPort(code: string, port: number): string {
  const url = new URL(code);
  url.port = String(port);
  return url.toString();
}

/** A secret of the right shape that no share has. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

// ----- raw clients of the share endpoint -----

export interface RawConnectOptions {
  authorization?: string;
  /** The Sandkasten-Share-Version header; undefined leaves the header out. */
  version?: string | undefined;
  name?: string;
  path?: string;
  /** A loopback address of its own (127.0.0.x), so its refusals are counted apart. */
  localAddress?: string;
  extraHeaders?: Record<string, string>;
  /** wss:// (any certificate: the raw guest checks nothing). */
  tls?: boolean;
}

type RawMessage = { t: string } & Record<string, unknown>;

/**
 * A guest that speaks the wire protocol itself. `connect` answers the upgrade's HTTP status
 * when it is refused, or the open guest.
 */
export class RawGuest {
  readonly messages: RawMessage[] = [];
  private nextId = 1;
  closeCode: number | undefined;
  readonly closed: Promise<number>;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      try {
        this.messages.push(JSON.parse(data.toString()) as RawMessage);
      } catch {
        this.messages.push({ t: '(not json)' });
      }
      for (const waiter of this.waiters) waiter();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', (code) => {
        this.closeCode = code;
        for (const waiter of this.waiters) waiter();
        resolve(code);
      }),
    );
  }

  static connect(port: number, options: RawConnectOptions = {}): Promise<RawGuest | { status: number } | { error: string }> {
    const headers: Record<string, string> = { ...options.extraHeaders };
    if (options.authorization !== undefined) headers.authorization = options.authorization;
    if (!('version' in options)) headers['sandkasten-share-version'] = '1';
    else if (options.version !== undefined) headers['sandkasten-share-version'] = options.version;
    if (options.name !== undefined) headers['sandkasten-guest-name'] = encodeURIComponent(options.name);
    const socket = new WebSocket(`${options.tls ? 'wss' : 'ws'}://127.0.0.1:${port}${options.path ?? '/share'}`, {
      headers,
      ...(options.tls ? { rejectUnauthorized: false } : {}),
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      maxPayload: 256 * 1024 * 1024,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    return new Promise((resolve) => {
      socket.once('open', () => resolve(new RawGuest(socket)));
      socket.once('unexpected-response', (_request, response) => {
        resolve({ status: response.statusCode ?? 0 });
        response.resume();
        socket.terminate();
      });
      socket.once('error', (error) => resolve({ error: error.message }));
    });
  }

  /** Connects with the link's secret and waits for the first message (welcome, or waiting). */
  static async join(port: number, secret: string, name: string, options: RawConnectOptions = {}): Promise<RawGuest> {
    const guest = await RawGuest.connect(port, { authorization: `Bearer ${secret}`, name, ...options });
    if (!(guest instanceof RawGuest)) assert.fail(`the raw guest "${name}" did not get in (${JSON.stringify(guest)})`);
    await guest.next((message) => message.t === 'welcome' || message.t === 'waiting');
    return guest;
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /** The first message (from `from` on) matching, waiting for it. */
  next(match: (message: RawMessage) => boolean, limitMs = 15_000, from = 0): Promise<RawMessage> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.slice(from).find(match);
        if (found) {
          done();
          resolve(found);
        } else if (this.closeCode !== undefined) {
          done();
          reject(new Error(`the connection closed (${this.closeCode}) before the message came; got ${JSON.stringify(this.messages.map((m) => m.t))}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no such message within ${limitMs} ms; got ${JSON.stringify(this.messages.map((m) => m.t))}`));
      }, limitMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  welcome(): RawMessage | undefined {
    return this.messages.find((message) => message.t === 'welcome');
  }

  send(message: unknown): void {
    this.socket.send(JSON.stringify(message));
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.socket.send(data, { binary });
  }

  /** A request; answers the whole `res` message. */
  async request(fields: Record<string, unknown>, limitMs = 15_000): Promise<{ result?: unknown; error?: { code: string; message: string } }> {
    const id = this.nextId++;
    const from = this.messages.length;
    this.send({ t: 'req', id, ...fields });
    return (await this.next((message) => message.t === 'res' && message.id === id, limitMs, from)) as { result?: unknown; error?: { code: string; message: string } };
  }

  /** The text of every `output` message of one terminal so far. */
  output(terminalId: string): string {
    return this.messages.filter((message) => message.t === 'output' && message.terminalId === terminalId).map((message) => String(message.data)).join('');
  }

  close(): void {
    this.socket.terminate();
  }
}

/**
 * A WebSocket upgrade sent with node's http client, so every header can be chosen; answers
 * the HTTP status the endpoint gave, 101 when it upgraded, or 'closed' when it hung up.
 */
export function upgradeStatus(port: number, options: { path?: string; headers?: Record<string, string>; localAddress?: string } = {}): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    const request = http.request({
      host: '127.0.0.1',
      port,
      path: options.path ?? '/share',
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...options.headers,
      },
    });
    request.on('upgrade', (_response, socket) => {
      socket.destroy();
      resolve(101);
    });
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', () => resolve('closed'));
    request.setTimeout(15_000, () => request.destroy());
    request.end();
  });
}

/** Bytes written straight to the endpoint; answers what came back before it closed (or the limit passed). */
export function rawExchange(port: number, bytes: string | Buffer, options: { localAddress?: string; limitMs?: number } = {}): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ reply, closed: false });
    }, options.limitMs ?? 10_000);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (data) => (reply += data.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ reply, closed: true });
    });
  });
}

/** A TCP proxy on loopback to `targetPort`; `drop()` cuts every connection through it, `refuse` turns new ones away. */
export class TcpProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  refuse = false;
  connections = 0;
  port = 0;

  constructor(private readonly targetPort: number) {
    this.server = net.createServer((client) => {
      if (this.refuse) {
        client.destroy();
        return;
      }
      this.connections++;
      const upstream = net.connect(this.targetPort, '127.0.0.1');
      const pair = { client, upstream };
      this.pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', end);
      upstream.on('error', end);
      client.on('close', end);
      upstream.on('close', end);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  get open(): number {
    return this.pairs.size;
  }

  /** Destroys both ends of every connection, as a network that drops does (no close frame). */
  drop(): void {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.drop();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A server WebSocket text frame (unmasked), as a host sends it. */
export function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const length = payload.length;
  const header = length < 126 ? Buffer.from([0x81, length]) : length < 65536 ? Buffer.from([0x81, 126, length >> 8, length & 0xff]) : Buffer.concat([Buffer.from([0x81, 127]), bigLength(length)]);
  return Buffer.concat([header, payload]);
}

function bigLength(length: number): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64BE(BigInt(length));
  return buffer;
}

export interface FakeUpgrade {
  authorization: string;
  /** The connection, upgraded: what the fake host writes next goes to the guest as is. */
  socket: net.Socket;
}

/**
 * A host that is not a Sandkasten: it answers each upgrade with whatever `respond` says,
 * written in ONE piece together with the 101 (as a proxy or a busy host may deliver it).
 */
export class FakeHost {
  private readonly server: net.Server;
  readonly upgrades: FakeUpgrade[] = [];
  port = 0;

  constructor(respond: (upgrade: FakeUpgrade, index: number) => Buffer | undefined) {
    this.server = net.createServer((socket) => {
      let head = '';
      socket.on('error', () => undefined);
      const onData = (data: Buffer) => {
        head += data.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        const headers = new Map(
          head
            .slice(0, end)
            .split('\r\n')
            .slice(1)
            .map((line) => [line.slice(0, line.indexOf(':')).trim().toLowerCase(), line.slice(line.indexOf(':') + 1).trim()] as const),
        );
        const accept = createHash('sha1').update(`${headers.get('sec-websocket-key') ?? ''}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        const upgrade = { authorization: headers.get('authorization') ?? '', socket };
        this.upgrades.push(upgrade);
        const after = respond(upgrade, this.upgrades.length - 1) ?? Buffer.alloc(0);
        const response = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`, 'latin1');
        socket.write(Buffer.concat([response, after]));
      };
      socket.on('data', onData);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    for (const { socket } of this.upgrades) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ----- a process's resources, from /proc -----

/** The resident memory of a process, in KiB (VmRSS of /proc/PID/status). */
export function rssKiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  assert.ok(match, `no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/** How many files (sockets included) a process holds open. */
export function openFileCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Samples a process's resident memory until stopped; `peak` is the most it saw (KiB). */
export class RssSampler {
  readonly before: number;
  peak: number;
  private readonly timer: NodeJS.Timeout;

  constructor(readonly pid: number, everyMs = 50) {
    this.before = rssKiB(pid);
    this.peak = this.before;
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): number {
    try {
      this.peak = Math.max(this.peak, rssKiB(this.pid));
    } catch {
      // The process is gone: its last sample stands.
    }
    return this.peak;
  }

  /** Stops sampling; answers how much the peak exceeded the start, in MiB. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return (this.peak - this.before) / 1024;
  }
}

// ----- connections that never finish their upgrade -----

/**
 * `count` TCP connections to `host:port` that send nothing (no upgrade, no TLS handshake):
 * `connected` resolves once each connected or failed, `closed` counts those the other end
 * (or anything) closed since.
 */
export class IdleConnections {
  readonly sockets: net.Socket[] = [];
  closed = 0;
  readonly connected: Promise<void>;

  constructor(port: number, count: number, options: { host?: string; localAddress?: (index: number) => string | undefined } = {}) {
    const settled: Array<Promise<void>> = [];
    for (let index = 0; index < count; index++) {
      const localAddress = options.localAddress?.(index);
      const socket = net.connect({ port, host: options.host ?? '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
      socket.on('error', () => undefined);
      socket.once('close', () => this.closed++);
      settled.push(new Promise((resolve) => {
        socket.once('connect', () => resolve());
        socket.once('close', () => resolve());
      }));
      this.sockets.push(socket);
    }
    this.connected = Promise.all(settled).then(() => undefined);
  }

  get open(): number {
    return this.sockets.length - this.closed;
  }

  destroy(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}
