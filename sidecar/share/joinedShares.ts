import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import WebSocket from 'ws';
import {
  SHARED_PREFIX,
  TerminalExitNotification,
  TerminalOutputNotification,
  type ErrorCodeName,
  type FileErrorKind,
  type FileChangeInfo,
  type JoinedShareInfo,
  type OpenTerminalParams,
  type OpenTerminalResult,
  type ShareRole,
  type TerminalInfo,
} from '../client/protocol';
import { conflict, forbidden, notFound, SandkastenError } from '../errors';
import type { FileOps } from '../files/workspaceFileSystem';
import type { TerminalClient } from '../terminals/liveTerminal';
import type { Changes } from '../util/changes';
import { isoTime, type Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { parseCode, type JoinCode } from './shareLink';
import { cleanName, hostResults, MAX_MESSAGE_BYTES, parseHostMessage, WIRE_VERSION, type GuestMessage, type GuestRequest, type HostMessage, type ParticipantSummary, type SharedSessionSummary } from './wire';

/** How long a join may wait for the host's answer (the host's own limit is two minutes). */
const JOIN_WAIT_MS = 130_000;
/** How long the TCP, TLS and WebSocket handshakes may take together. */
const CONNECT_WITHIN_MS = 10_000;
/** One request to the host (a file of 16 MiB over a slow link included). */
const REQUEST_TIMEOUT_MS = 60_000;
/** Waits between reconnect attempts, the last one repeated until the host's grace is over. */
const RECONNECT_DELAYS_MS = [100, 250, 500, 1000, 2000, 4000, 5000];
/** The host keeps a dropped guest's place this long; after it, reconnecting is pointless. */
const GIVE_UP_AFTER_MS = 2 * 60_000;
/** Messages that are not the protocol a host may send on one connection before it is dropped. */
const MAX_BAD_MESSAGES = 20;
/** A host silent this long (no ping, no message) is taken for gone and reconnected to. */
const SILENT_HOST_MS = 40_000;

type EarlyMessage = [WebSocket.RawData, boolean];
/** Messages a fresh connection received before its handshake listened (see connect). */
const earlyMessages = new WeakMap<WebSocket, { early: EarlyMessage[]; keep: (data: WebSocket.RawData, isBinary: boolean) => void }>();

const dim = (text: string) => `\x1b[2m${text}\x1b[0m`;

export interface JoinedSharesDependencies {
  clock: Clock;
  changes: Changes;
  log: Logger;
  /** Our name as guests (share.displayName, else the user name). */
  displayName(): string;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: { cancel(): void };
}

/**
 * The guest's side: the sessions this sidecar joined. Each is shown to our own clients as a
 * session `shared.<id>` whose terminals are `shared.<id>.<host's terminal id>`, so windows,
 * the CLI's shell and the file system reach them with the usual requests (handlers route by
 * the prefix). The connection lives here, not in a window: it survives reloads, reconnects
 * by itself with the token the host gave us, and then reattaches our terminals with their
 * scrollback. Whatever the host sends is checked (wire.ts) — a host is someone who handed us
 * a link, not someone we trust with our sidecar.
 */
export class JoinedShares {
  private readonly joined = new Map<string, JoinedShare>();
  /** Joins waiting for their host's answer. */
  private readonly joining = new Set<JoinedShare>();

  constructor(private readonly deps: JoinedSharesDependencies) {}

  async join(codeText: string, name: string | undefined, progress: (message: string) => void = () => undefined): Promise<JoinedShareInfo> {
    const code = parseCode(codeText);
    // An ended share stays listed (with why it ended) until it is left.
    const share = new JoinedShare(`j${randomBytes(6).toString('hex')}`, code, cleanName(name || this.deps.displayName()), this.deps);
    this.joining.add(share);
    try {
      await share.join(progress);
    } finally {
      this.joining.delete(share);
    }
    this.joined.set(share.id, share);
    this.deps.changes.emit('shares', 'terminals');
    return share.info();
  }

  leave(joinedShareId: string): { joinedShareId: string } {
    const share = this.require(joinedShareId);
    this.joined.delete(joinedShareId);
    share.leave();
    this.deps.changes.emit('shares', 'terminals');
    return { joinedShareId };
  }

  leaveIfJoined(joinedShareId: string): void {
    if (this.joined.has(joinedShareId)) this.leave(joinedShareId);
  }

  list(): JoinedShareInfo[] {
    return [...this.joined.values()].map((share) => share.info());
  }

  closeAll(): void {
    for (const share of [...this.joining, ...this.joined.values()]) share.leave();
    this.joined.clear();
  }

  /** The files of a joined session, through the host. */
  files(joinedShareId: string): FileOps {
    return this.require(joinedShareId).files;
  }

  // Terminals, with the shape of Terminals' methods (handlers/terminals.ts routes `shared.` ids here).

  open(params: OpenTerminalParams, client: TerminalClient): Promise<OpenTerminalResult> {
    return this.bySessionId(params.sessionId).openTerminal(params, client);
  }

  close(terminalId: string): Promise<null> {
    const { share, hostId } = this.byTerminalId(terminalId);
    return share.closeTerminal(hostId);
  }

  listTerminals(sessionId: string): TerminalInfo[] {
    return this.bySessionId(sessionId).terminalInfos();
  }

  input(client: TerminalClient, terminalId: string, data: string): void {
    const found = this.findTerminal(terminalId);
    found?.share.input(client, found.hostId, data);
  }

  /** A guest never resizes the host's terminal (see GuestLink): its size is the host's. */
  resize(_client: TerminalClient, _terminalId: string, _size: { cols: number; rows: number }): void {}

  detach(client: TerminalClient, terminalId: string): void {
    const found = this.findTerminal(terminalId);
    found?.share.detach(client, found.hostId);
  }

  detachEverywhere(client: TerminalClient): void {
    for (const share of this.joined.values()) share.detachEverywhere(client);
  }

  private require(joinedShareId: string): JoinedShare {
    const share = this.joined.get(joinedShareId);
    if (!share) throw notFound(`No joined session "${joinedShareId}". It may have been left; join again with the link.`);
    return share;
  }

  private bySessionId(sessionId: string): JoinedShare {
    return this.require(sessionId.slice(SHARED_PREFIX.length));
  }

  private findTerminal(terminalId: string): { share: JoinedShare; hostId: string } | undefined {
    const rest = terminalId.slice(SHARED_PREFIX.length);
    const dot = rest.indexOf('.');
    const share = dot > 0 ? this.joined.get(rest.slice(0, dot)) : undefined;
    return share ? { share, hostId: rest.slice(dot + 1) } : undefined;
  }

  private byTerminalId(terminalId: string): { share: JoinedShare; hostId: string } {
    const found = this.findTerminal(terminalId);
    if (!found) throw notFound(`No terminal "${terminalId}". Its shared session may have been left.`);
    return found;
  }
}

/** One joined session: its connection to the host, its terminals and watches. */
class JoinedShare {
  private socket: WebSocket | undefined;
  private state: JoinedShareInfo['state'] = 'connected';
  private endedReason: string | undefined;
  private role: ShareRole = 'viewer';
  private hostName = '';
  private session: SharedSessionSummary = { id: '', workspaceName: '', image: '' };
  private terminals: TerminalInfo[] = [];
  private participants: ParticipantSummary[] = [];
  private guestToken = '';
  private joinedAt = 0;
  private nextRequestId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Our clients attached to each host terminal (by the host's id). */
  private readonly attached = new Map<string, Set<TerminalClient>>();
  private readonly watches = new Map<number, { path: string; recursive: boolean; onChanges(changes: FileChangeInfo[]): void }>();
  private nextWatchId = 1;
  private left = false;
  /** A connection still waiting for the host's welcome, on joining or coming back (closed when we leave first). */
  private joiningSocket: WebSocket | undefined;
  private silenceTimer: { cancel(): void } | undefined;
  readonly files: FileOps;

  constructor(
    readonly id: string,
    private readonly code: JoinCode,
    private readonly name: string,
    private readonly deps: JoinedSharesDependencies,
  ) {
    this.files = this.fileOps();
  }

  get sessionId(): string {
    return `${SHARED_PREFIX}${this.id}`;
  }

  /** Connects with the link's secret and waits until the host lets us in. */
  async join(progress: (message: string) => void): Promise<void> {
    const socket = await this.connect(`Bearer ${this.code.secret}`);
    this.joiningSocket = socket;
    const outcome = await this.handshake(socket, JOIN_WAIT_MS, () => progress('Waiting for the host to let you in…'));
    this.joiningSocket = undefined;
    if (outcome === 'welcomed') return;
    socket.terminate();
    throw forbidden(outcome === 'timeout' ? 'The host did not let you in within two minutes. Ask them to look for your request, then join again.' : outcome);
  }

  /**
   * Waits for the host's welcome on a fresh connection and makes the connection ours in the
   * same tick (so no message that follows the welcome is missed). Answers 'welcomed',
   * 'timeout', or why the host turned us away.
   */
  private handshake(socket: WebSocket, limitMs: number, onWaiting: () => void = () => undefined): Promise<'welcomed' | 'timeout' | string> {
    return new Promise((resolve) => {
      const timer = this.deps.clock.setTimeout(() => settle('timeout'), limitMs);
      const settle = (outcome: string) => {
        timer.cancel();
        socket.off('message', onMessage);
        socket.off('close', onClose);
        resolve(outcome);
      };
      const onMessage = (data: WebSocket.RawData, isBinary: boolean) => {
        const message = isBinary ? undefined : parseHostMessage(data.toString());
        if (message?.t === 'waiting') return onWaiting();
        if (message?.t === 'welcome') {
          if (this.left || this.state === 'ended') {
            settle('You left the session.');
            socket.terminate();
            return;
          }
          settle('welcomed');
          this.welcome(message);
          this.use(socket);
          return;
        }
        settle(message?.t === 'ended' ? message.reason : 'The host answered with something that is not the share protocol.');
      };
      const onClose = () => settle('The host closed the connection before letting you in.');
      socket.on('message', onMessage);
      socket.on('close', onClose);
      // What arrived before this ran, in order, then the socket's own events.
      const kept = earlyMessages.get(socket);
      if (kept) {
        earlyMessages.delete(socket);
        socket.off('message', kept.keep);
        for (const [data, isBinary] of kept.early) {
          if (socket.listeners('message').includes(onMessage as never)) onMessage(data, isBinary);
          else socket.emit('message', data, isBinary); // the handshake is over: to the connection's own handler
        }
      }
      if (socket.readyState !== WebSocket.OPEN) onClose();
    });
  }

  info(): JoinedShareInfo {
    return {
      id: this.id,
      sessionId: this.sessionId,
      hostSessionId: this.session.id,
      hostName: this.hostName,
      workspaceName: this.session.workspaceName,
      image: this.session.image,
      role: this.role,
      state: this.state,
      ...(this.endedReason ? { endedReason: this.endedReason } : {}),
      joinedAt: isoTime(this.joinedAt)!,
      participants: this.participants,
      terminals: this.terminalInfos(),
    };
  }

  terminalInfos(): TerminalInfo[] {
    return this.terminals.map((terminal) => ({ ...terminal, id: this.localId(terminal.id), sessionId: this.sessionId }));
  }

  leave(): void {
    if (this.left) return;
    this.left = true;
    this.joiningSocket?.terminate();
    this.send({ t: 'leave' });
    this.end('You left the session.');
    this.socket?.close(1000, 'left');
  }

  async openTerminal(params: OpenTerminalParams, client: TerminalClient): Promise<OpenTerminalResult> {
    const hostId = params.terminalId === undefined ? undefined : this.hostId(params.terminalId);
    const opened = hostResults.opened(await this.request({ op: 'openTerminal', terminalId: hostId, cols: params.cols, rows: params.rows })) ?? notAnAnswer();
    const clients = this.attached.get(opened.terminal.id) ?? new Set();
    clients.add(client);
    this.attached.set(opened.terminal.id, clients);
    return { ...opened, terminal: { ...opened.terminal, id: this.localId(opened.terminal.id), sessionId: this.sessionId } };
  }

  async closeTerminal(hostId: string): Promise<null> {
    await this.request({ op: 'closeTerminal', terminalId: hostId });
    return null;
  }

  input(client: TerminalClient, hostId: string, data: string): void {
    if (!this.attached.get(hostId)?.has(client)) return;
    if (this.state !== 'connected') {
      client.send(TerminalOutputNotification.type, { terminalId: this.localId(hostId), data: dim(`\r\n[sandkasten] Not connected to the host (${this.state}); your keys were not sent.\r\n`) }, 100);
      return;
    }
    this.send({ t: 'input', terminalId: hostId, data });
  }

  detach(client: TerminalClient, hostId: string): void {
    const clients = this.attached.get(hostId);
    if (!clients?.delete(client)) return;
    if (clients.size === 0) {
      this.attached.delete(hostId);
      this.send({ t: 'detach', terminalId: hostId });
    }
  }

  detachEverywhere(client: TerminalClient): void {
    for (const hostId of [...this.attached.keys()]) this.detach(client, hostId);
  }

  // ----- the connection -----

  /** Opens the WebSocket; the TLS certificate is checked against the link's fingerprint before a byte of the secret is sent. */
  private async connect(authorization: string): Promise<WebSocket> {
    const headers = { authorization, 'sandkasten-share-version': WIRE_VERSION, 'sandkasten-guest-name': encodeURIComponent(this.name) };
    const options: WebSocket.ClientOptions = { headers, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false, handshakeTimeout: CONNECT_WITHIN_MS, followRedirects: false };
    if (this.code.fingerprint) {
      const pinned = await pinnedTlsSocket(this.code, this.deps.clock);
      options.createConnection = () => pinned;
    }
    const socket = new WebSocket(this.code.url, options);
    return new Promise<WebSocket>((resolve, reject) => {
      socket.once('open', () => {
        // Messages that came with the upgrade's answer are emitted right after 'open', before
        // whoever awaits this promise runs: keep them for the handshake.
        const early: EarlyMessage[] = [];
        const keep = (data: WebSocket.RawData, isBinary: boolean) => early.push([data, isBinary]);
        socket.on('message', keep);
        earlyMessages.set(socket, { early, keep });
        resolve(socket);
      });
      socket.once('unexpected-response', (_request, response) => {
        socket.terminate();
        reject(Object.assign(refusalFor(response.statusCode ?? 0), { status: response.statusCode }));
      });
      socket.once('error', (error) => reject(new SandkastenError('Conflict', `Could not reach the host at ${this.code.url}: ${error.message}`)));
    });
  }

  private welcome(message: Extract<HostMessage, { t: 'welcome' }>): void {
    if (message.guestToken) this.guestToken = message.guestToken;
    this.role = message.role;
    this.hostName = message.hostName;
    this.session = message.session;
    this.terminals = message.terminals;
    this.participants = message.participants;
    this.joinedAt ||= this.deps.clock.now();
  }

  /** Makes `socket` the connection: its messages are handled, its loss starts reconnecting. */
  private use(socket: WebSocket): void {
    let badMessages = 0;
    this.socket = socket;
    this.state = 'connected';
    this.watchForSilence();
    socket.on('ping', () => this.watchForSilence());
    socket.on('message', (data, isBinary) => {
      this.watchForSilence();
      const message = isBinary ? undefined : parseHostMessage(data.toString());
      if (message) return this.onMessage(message);
      // Logged once per connection; a host that keeps at it is not one to stay connected to.
      if (++badMessages === 1) this.deps.log.info(`share ${this.id}: dropped a message from the host that is not the protocol`);
      if (badMessages >= MAX_BAD_MESSAGES) socket.terminate();
    });
    socket.on('close', () => this.onClose(socket));
    socket.on('error', () => socket.terminate());
    // Closed before we listened: its close event has gone by.
    if (socket.readyState !== WebSocket.OPEN) queueMicrotask(() => this.onClose(socket));
  }

  private watchForSilence(): void {
    this.silenceTimer?.cancel();
    this.silenceTimer = this.deps.clock.setTimeout(() => this.socket?.terminate(), SILENT_HOST_MS);
  }

  private onMessage(message: HostMessage): void {
    switch (message.t) {
      case 'res': {
        const pending = this.pending.get(message.id);
        if (!pending) return;
        this.pending.delete(message.id);
        pending.timer.cancel();
        if (message.error) pending.reject(errorFromHost(message.error));
        else pending.resolve(message.result);
        return;
      }
      case 'output':
        this.toAttached(message.terminalId, (client, terminalId) => client.send(TerminalOutputNotification.type, { terminalId, data: message.data }, Buffer.byteLength(message.data)));
        return;
      case 'exit':
        this.toAttached(message.terminalId, (client, terminalId) => client.send(TerminalExitNotification.type, { terminalId, exitCode: message.exitCode }, 64));
        this.attached.delete(message.terminalId);
        return;
      case 'notice':
        if (message.terminalId) this.toAttached(message.terminalId, (client, terminalId) => client.send(TerminalOutputNotification.type, { terminalId, data: dim(`\r\n[sandkasten] ${message.text}\r\n`) }, 200));
        return;
      case 'terminals':
        this.terminals = message.terminals;
        this.deps.changes.emit('terminals');
        return;
      case 'participants':
        this.participants = message.participants;
        this.deps.changes.emit('shares');
        return;
      case 'role':
        this.role = message.role;
        this.deps.changes.emit('shares');
        return;
      case 'files':
        this.watches.get(message.watchId)?.onChanges(message.changes);
        return;
      case 'ended':
        this.end(message.reason);
        return;
      case 'waiting':
      case 'welcome':
        return; // only meaningful while joining
    }
  }

  private toAttached(hostId: string, deliver: (client: TerminalClient, terminalId: string) => void): void {
    const clients = this.attached.get(hostId);
    if (!clients) return;
    const terminalId = this.localId(hostId);
    for (const client of clients) deliver(client, terminalId);
    this.holdBackFor(clients);
  }

  /**
   * A window that does not take our notifications fast enough: the host's connection stops
   * being read until it caught up (the host drops us when it has too much for us; the
   * reconnect replays the scrollback), so nothing piles up in this sidecar.
   */
  private holdBackFor(clients: Set<TerminalClient>): void {
    const socket = this.socket;
    const congested = [...clients].find((client) => client.congested);
    if (!congested || !socket || socket.isPaused) return;
    socket.pause();
    void congested.drained().then(() => {
      if (this.socket !== socket) return;
      const still = [...this.attached.values()].flatMap((set) => [...set]).find((client) => client.congested);
      if (still) return void still.drained().then(() => socket.resume());
      socket.resume();
    });
  }

  private onClose(socket: WebSocket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.silenceTimer?.cancel();
    this.failPending('The connection to the host was lost; it is being restored.');
    if (this.state === 'ended' || this.left) return;
    this.state = 'reconnecting';
    this.deps.changes.emit('shares');
    this.tellAttached('The connection to the host was lost; reconnecting…');
    void this.reconnect();
  }

  /** Tries again with our guest token until the host takes us back, says no, or its grace is over. */
  private async reconnect(): Promise<void> {
    const since = this.deps.clock.now();
    for (let attempt = 0; !this.left && this.state === 'reconnecting'; attempt++) {
      await this.deps.clock.sleep(RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)]);
      if (this.left || this.state !== 'reconnecting') return;
      try {
        const socket = await this.connect(`Guest ${this.guestToken}`);
        if (this.left || this.state !== 'reconnecting') return socket.terminate(); // left while connecting
        this.joiningSocket = socket; // a leave meanwhile closes it at once
        const outcome = await this.handshake(socket, CONNECT_WITHIN_MS);
        this.joiningSocket = undefined;
        if (outcome !== 'welcomed') {
          socket.terminate();
          if (outcome !== 'timeout') return this.end(outcome);
          if (this.deps.clock.now() - since > GIVE_UP_AFTER_MS) return this.end('The host did not take this guest back for two minutes.');
          continue;
        }
        this.deps.changes.emit('shares', 'terminals');
        await this.reattach();
        return;
      } catch (error) {
        // 401: the host does not know our token (sharing stopped, we were removed, a wrong certificate); 429, 503 and the rest pass.
        const status = (error as { status?: number }).status;
        if (status === 401 || (error instanceof SandkastenError && error.codeName === 'Forbidden' && status === undefined)) {
          return this.end('The host no longer lets this guest in: sharing stopped, or you were removed.');
        }
        if (this.deps.clock.now() - since > GIVE_UP_AFTER_MS) return this.end('The host could not be reached for two minutes.');
      }
    }
  }

  /** After a reconnect: our terminals attach again (the screen is reset, the scrollback replayed), our watches too. */
  private async reattach(): Promise<void> {
    for (const [hostId, clients] of [...this.attached]) {
      try {
        const opened = hostResults.opened(await this.request({ op: 'openTerminal', terminalId: hostId, cols: 80, rows: 24 })) ?? notAnAnswer();
        const terminalId = this.localId(hostId);
        for (const client of clients) client.send(TerminalOutputNotification.type, { terminalId, data: `\x1bc${opened.replay}` }, 1024);
      } catch (error) {
        this.deps.log.info(`share ${this.id}: terminal ${hostId} could not be reattached: ${(error as Error).message}`);
        this.toAttached(hostId, (client, terminalId) => client.send(TerminalExitNotification.type, { terminalId, exitCode: null }, 64));
        this.attached.delete(hostId);
      }
    }
    for (const [watchId, watch] of this.watches) void this.request({ op: 'watch', watchId, path: watch.path, recursive: watch.recursive }).catch(() => undefined);
  }

  private end(reason: string): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.endedReason = reason;
    this.silenceTimer?.cancel();
    this.failPending(reason);
    this.tellAttached(reason);
    for (const [hostId] of this.attached) this.toAttached(hostId, (client, terminalId) => client.send(TerminalExitNotification.type, { terminalId, exitCode: null }, 64));
    this.attached.clear();
    this.terminals = [];
    this.socket?.close(1000, 'ended');
    this.deps.changes.emit('shares', 'terminals');
  }

  private tellAttached(text: string): void {
    for (const hostId of this.attached.keys()) {
      this.toAttached(hostId, (client, terminalId) => client.send(TerminalOutputNotification.type, { terminalId, data: dim(`\r\n[sandkasten] ${text}\r\n`) }, 200));
    }
  }

  private failPending(reason: string): void {
    for (const pending of this.pending.values()) {
      pending.timer.cancel();
      pending.reject(conflict(reason));
    }
    this.pending.clear();
  }

  private send(message: GuestMessage): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(message), () => undefined);
    return true;
  }

  private request(request: GuestRequest): Promise<unknown> {
    if (this.state === 'ended') {
      // NotFound: what it asked for is gone for good (a terminal that offers to retry closes instead).
      return Promise.reject(notFound(`The shared session ended: ${this.endedReason ?? ''} Leave it, or join again with a new link.`));
    }
    if (this.state !== 'connected') return Promise.reject(conflict('The connection to the host is being restored; try again in a moment.'));
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = this.deps.clock.setTimeout(() => {
        this.pending.delete(id);
        reject(new SandkastenError('Timeout', 'The host did not answer within a minute.'));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      if (!this.send({ t: 'req', id, ...request })) {
        this.pending.delete(id);
        timer.cancel();
        reject(conflict('The connection to the host is being restored; try again in a moment.'));
      }
    });
  }

  private localId(hostId: string): string {
    return `${SHARED_PREFIX}${this.id}.${hostId}`;
  }

  private hostId(localId: string): string {
    const prefix = `${SHARED_PREFIX}${this.id}.`;
    if (!localId.startsWith(prefix)) throw notFound(`No terminal "${localId}" in this shared session.`);
    return localId.slice(prefix.length);
  }

  private fileOps(): FileOps {
    const call = (fields: Omit<Extract<GuestRequest, { op: 'file' }>, 'op'>) => this.request({ op: 'file', ...fields });
    return {
      stat: async (path) => hostResults.stat(await call({ call: 'stat', path })) ?? notAnAnswer(),
      readDirectory: async (path) => hostResults.entries(await call({ call: 'readDirectory', path })) ?? notAnAnswer(),
      readFile: async (path) => hostResults.content(await call({ call: 'readFile', path })) ?? notAnAnswer(),
      writeFile: async (path, content, options) => {
        await call({ call: 'writeFile', path, content: content.toString('base64'), create: options.create, overwrite: options.overwrite });
      },
      delete: async (path, options) => {
        await call({ call: 'delete', path, recursive: options.recursive });
      },
      rename: async (from, to, options) => {
        await call({ call: 'rename', path: from, to, overwrite: options.overwrite });
      },
      createDirectory: async (path) => {
        await call({ call: 'createDirectory', path });
      },
      watch: (path, options, onChanges) => {
        const watchId = this.nextWatchId++;
        this.watches.set(watchId, { path, recursive: options.recursive, onChanges });
        void this.request({ op: 'watch', watchId, path, recursive: options.recursive }).catch(() => undefined);
        return {
          dispose: () => {
            if (this.watches.delete(watchId)) this.send({ t: 'unwatch', watchId });
          },
        };
      },
    };
  }
}

/** A host's answer that is not what the request asks for: the guest takes nothing of it. */
function notAnAnswer(): never {
  throw conflict('The host answered with something that is not the share protocol.');
}

/** What an HTTP status on the upgrade means to a person. */
function refusalFor(status: number): SandkastenError {
  if (status === 401) return forbidden('This link is not valid: it may have been replaced, or sharing has stopped. Ask the host for a new link.');
  if (status === 429) return forbidden('Too many attempts with links that are not valid came from this address; wait a minute and try again.');
  if (status === 503) return conflict('The shared session is full.');
  if (status === 400) return conflict('The host runs a Sandkasten that speaks another version of the share protocol; update both.');
  return conflict(`The host refused the connection (HTTP ${status}).`);
}

const KNOWN_CODES: ReadonlySet<string> = new Set(['InvalidInput', 'NotFound', 'Conflict', 'Timeout', 'Exists', 'Forbidden', 'DockerUnavailable']);

/** The host's error as ours: its code when it is one we know (and which file problem), its message as the host's words. */
function errorFromHost(error: { code: string; message: string; file?: FileErrorKind }): SandkastenError {
  const code = KNOWN_CODES.has(error.code) ? (error.code as ErrorCodeName) : 'Conflict';
  return new SandkastenError(code, `The host says: ${error.message}`, undefined, error.file ? { file: error.file } : {});
}


/** A TLS connection whose certificate is the one the link names (self-signed is fine: the fingerprint is the trust). */
function pinnedTlsSocket(code: JoinCode, clock: Clock): Promise<tls.TLSSocket> {
  const url = new URL(code.url.replace(/^wss:/, 'https:'));
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const socket = tls.connect({ host, port: Number(url.port || 443), ...(isIP(host) ? {} : { servername: host }), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    const timer = clock.setTimeout(() => {
      socket.destroy();
      reject(conflict(`Could not reach the host at ${code.url}: no TLS handshake within ${CONNECT_WITHIN_MS / 1000} s.`));
    }, CONNECT_WITHIN_MS);
    socket.once('secureConnect', () => {
      timer.cancel();
      const fingerprint = socket.getPeerCertificate().fingerprint256?.replaceAll(':', '').toLowerCase();
      if (fingerprint !== code.fingerprint) {
        socket.destroy();
        reject(forbidden(`The host's certificate is not the one the link names: someone may stand between you and the host. Nothing was sent.`));
        return;
      }
      resolve(socket);
    });
    socket.once('error', (error) => {
      timer.cancel();
      reject(conflict(`Could not reach the host at ${code.url}: ${error.message}`));
    });
  });
}
