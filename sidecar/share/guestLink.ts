import type { NotificationType, RequestParam } from 'vscode-languageserver-protocol';
import type WebSocket from 'ws';
import { TerminalExitNotification, TerminalOutputNotification, type ShareRole, type TerminalInfo } from '../client/protocol';
import { conflict, forbidden, notFound, SandkastenError } from '../errors';
import type { FileOps } from '../files/workspaceFileSystem';
import type { TerminalClient } from '../terminals/liveTerminal';
import type { Terminals } from '../terminals/terminals';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { parseGuestMessage, READING_FILE_CALLS, SHARE_FILE_MAX_BYTES, type GuestMessage, type GuestRequest, type HostMessage } from './wire';

/**
 * A guest whose socket holds more than this unsent is too slow: it is dropped (it reconnects
 * and gets the scrollback), never waited for. Room for two files in flight (22 MiB base64
 * each) and output behind them, so a big read over a slow link is not taken for slowness.
 */
const SLOW_GUEST_BYTES = 56 * 1024 * 1024;
/** Files (reads and writes) one guest may have travelling at once: each can be 16 MiB in the host's memory. */
const MAX_FILES_IN_FLIGHT = 2;
/** Changes per `files` message (a guest refuses more: wire.ts); a bigger poll goes in several. */
const CHANGES_PER_MESSAGE = 10_000;
/** Requests one guest may have running at once. */
const MAX_REQUESTS_IN_FLIGHT = 16;
/** Watches one guest may hold. */
const MAX_WATCHES = 64;
/** A refused keystroke is answered with a notice at most this often. */
const NOTICE_INTERVAL_MS = 3000;

/**
 * What a guest's terminal sends by itself, not typed: answers to the shell's queries (cursor
 * position, device attributes) and focus reports. The host's own window answers those; a
 * guest's answer would arrive a second time and land on the command line as text.
 */
const TERMINAL_REPORTS = /\x1b\[\d+;\d+R|\x1b\[[?>][\d;]*c|\x1b\[[IO]/g;

/** WebSocket close codes of the share (4000–4999 are the application's). */
export const CLOSE = {
  ended: 4000,
  replaced: 4001,
  refused: 4003,
  badMessage: 4004,
  tooSlow: 4008,
} as const;

/** A guest the host let in: who, with which role; its link is its current connection, if any. */
export interface Guest {
  id: string;
  name: string;
  role: ShareRole;
  since: number;
  address: string;
  /** sha256 of the guest's resume token (the token itself is only ever sent to the guest). */
  tokenHash: string;
  link: GuestLink | undefined;
  /** Runs out when a disconnected guest did not come back in time. */
  goneTimer: { cancel(): void } | undefined;
}

/** What a guest's connection reaches of the host: the one session's terminals and files, nothing else. */
export interface SharedSession {
  readonly sessionId: string;
  readonly terminals: Terminals;
  /** The terminals guests see (the host's private ones left out). */
  sharedTerminals(): TerminalInfo[];
  files(): FileOps;
  readonly clock: Clock;
  readonly log: Logger;
  /** The guest sent `leave`. */
  onLeave(guest: Guest): void;
}

/**
 * One admitted guest's connection on the host: answers its requests within its role, relays
 * the terminals it attached (it is their TerminalClient, as a window's connection is), and
 * its file watches. The role is read on every message, so a change applies to the next one.
 * A guest never holds back a shell: one that cannot keep up is dropped instead (SLOW_GUEST_BYTES).
 */
export class GuestLink implements TerminalClient {
  private inFlight = 0;
  private filesInFlight = 0;
  private readonly watches = new Map<number, { dispose(): void }>();
  private lastNotice = -Infinity;
  private closed = false;
  readonly congested = false;

  constructor(
    private readonly socket: WebSocket,
    readonly guest: Guest,
    private readonly session: SharedSession,
    onClosed: (link: GuestLink) => void,
  ) {
    socket.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    socket.on('close', () => {
      this.closed = true;
      this.session.terminals.detachEverywhere(this);
      for (const watch of this.watches.values()) watch.dispose();
      this.watches.clear();
      onClosed(this);
    });
    socket.on('error', () => socket.terminate());
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Never throws; a guest too slow to take what it is sent is dropped. */
  post(message: HostMessage): void {
    if (this.closed) return;
    if (this.socket.bufferedAmount > SLOW_GUEST_BYTES) {
      this.close(CLOSE.tooSlow, 'too slow to keep up');
      return;
    }
    this.socket.send(JSON.stringify(message), (error) => {
      if (error) this.socket.terminate();
    });
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close(code, reason.slice(0, 120));
    // A guest that does not answer the closing handshake is cut off.
    const timer = this.session.clock.setTimeout(() => this.socket.terminate(), 2000);
    this.socket.once('close', () => timer.cancel());
  }

  // TerminalClient: a shared terminal's output and exit, as the host's windows get them.
  send<P>(type: NotificationType<P>, params: RequestParam<P>): void {
    if (type.method === TerminalOutputNotification.method) {
      const { terminalId, data } = params as { terminalId: string; data: string };
      this.post({ t: 'output', terminalId, data });
    } else if (type.method === TerminalExitNotification.method) {
      const { terminalId, exitCode } = params as { terminalId: string; exitCode: number | null };
      this.post({ t: 'exit', terminalId, exitCode });
    }
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    // Closing (removed, sharing stopped, too slow): ws still delivers what the guest sent; none of it counts.
    if (this.closed) return;
    const message = isBinary ? undefined : parseGuestMessage(data.toString());
    if (!message) {
      // Our own sidecar never sends one: whoever did is not speaking the protocol.
      this.close(CLOSE.badMessage, 'malformed message');
      return;
    }
    this.handle(message);
  }

  private handle(message: GuestMessage): void {
    const { terminals } = this.session;
    switch (message.t) {
      case 'input': {
        const typed = message.data.replace(TERMINAL_REPORTS, '');
        if (!typed) return;
        if (this.guest.role !== 'editor') this.refuseKeys(message.terminalId);
        else terminals.input(this, message.terminalId, typed);
        return;
      }
      case 'detach':
        terminals.detach(this, message.terminalId);
        return;
      case 'unwatch':
        this.watches.get(message.watchId)?.dispose();
        this.watches.delete(message.watchId);
        return;
      case 'leave':
        this.session.onLeave(this.guest);
        return;
      case 'req':
        void this.answer(message.id, message);
        return;
    }
  }

  private refuseKeys(terminalId: string): void {
    const now = this.session.clock.now();
    if (now - this.lastNotice < NOTICE_INTERVAL_MS) return;
    this.lastNotice = now;
    this.post({ t: 'notice', terminalId, text: 'You are a viewer: your keys were not sent. The host can make you an editor.' });
  }

  private async answer(id: number, request: GuestRequest): Promise<void> {
    if (this.inFlight >= MAX_REQUESTS_IN_FLIGHT) {
      this.post({ t: 'res', id, error: { code: 'Conflict', message: 'Too many requests at once; wait for the earlier ones.' } });
      return;
    }
    this.inFlight++;
    try {
      const result = await this.run(request);
      if (this.closed) return;
      this.post({ t: 'res', id, result: result ?? null });
    } catch (error) {
      if (!(error instanceof SandkastenError)) this.session.log.error(`share request ${request.op} of guest ${this.guest.id} failed`, error);
      if (error instanceof SandkastenError) {
        // Cut to what the guest accepts (a path in a message can be long).
        const message = error.message.length > 1000 ? `${error.message.slice(0, 1000)}…` : error.message;
        this.post({ t: 'res', id, error: { code: error.codeName, message, ...(error.data.file ? { file: error.data.file } : {}) } });
      }
      else this.post({ t: 'res', id, error: { code: 'Internal', message: 'The host could not do it (see the host\'s Sandkasten log).' } });
    } finally {
      this.inFlight--;
    }
  }

  private async run(request: GuestRequest): Promise<unknown> {
    const { terminals, sessionId } = this.session;
    switch (request.op) {
      case 'terminals':
        return this.session.sharedTerminals();
      case 'openTerminal': {
        if (request.terminalId === undefined) this.requireEditor('open a new terminal');
        // A dormant terminal is restored: a new shell starts in the container, an editor's doing.
        else if (this.requireShared(request.terminalId).state === 'dormant') this.requireEditor('restart a terminal whose shell has ended');
        const size = { cols: request.cols, rows: request.rows };
        // A guest's window size never resizes the host's terminal; a new terminal takes it.
        const opened = await terminals.open({ sessionId, terminalId: request.terminalId, ...size }, this, { resize: false });
        if (this.closed) terminals.detach(this, opened.terminal.id);
        return opened;
      }
      case 'closeTerminal':
        this.requireEditor('close a terminal');
        this.requireShared(request.terminalId);
        return terminals.close(request.terminalId);
      case 'file':
        return this.file(request);
      case 'watch': {
        const watchId = request.watchId;
        if (!this.watches.has(watchId) && this.watches.size >= MAX_WATCHES) throw forbidden(`A guest may watch at most ${MAX_WATCHES} places at once.`);
        this.watches.get(watchId)?.dispose();
        this.watches.delete(watchId);
        const watch = this.session.files().watch(request.path, { recursive: request.recursive }, (changes) => {
          for (let at = 0; at < changes.length; at += CHANGES_PER_MESSAGE) this.post({ t: 'files', watchId, changes: changes.slice(at, at + CHANGES_PER_MESSAGE) });
        });
        if (this.closed) watch.dispose();
        else this.watches.set(watchId, watch);
        return null;
      }
    }
  }

  private async file(request: Extract<GuestRequest, { op: 'file' }>): Promise<unknown> {
    if (!READING_FILE_CALLS.has(request.call)) this.requireEditor('change files');
    if (request.call !== 'readFile' && request.call !== 'writeFile') return this.fileCall(request);
    if (this.filesInFlight >= MAX_FILES_IN_FLIGHT) throw conflict(`At most ${MAX_FILES_IN_FLIGHT} files travel at once per guest; wait for the others.`);
    this.filesInFlight++;
    try {
      return await this.fileCall(request);
    } finally {
      this.filesInFlight--;
    }
  }

  private async fileCall(request: Extract<GuestRequest, { op: 'file' }>): Promise<unknown> {
    const files = this.session.files();
    switch (request.call) {
      case 'stat':
        return files.stat(request.path);
      case 'readDirectory':
        return files.readDirectory(request.path);
      case 'readFile':
        // Never more than a share carries is read (a viewer asking for a huge file costs the host nothing).
        return { content: (await files.readFile(request.path, SHARE_FILE_MAX_BYTES)).toString('base64') };
      case 'writeFile': {
        const content = Buffer.from(request.content ?? '', 'base64');
        if (content.length > SHARE_FILE_MAX_BYTES) throw forbidden(`The file is larger than ${SHARE_FILE_MAX_BYTES / 1024 / 1024} MiB, the most a share carries in one piece.`);
        await files.writeFile(request.path, content, { create: request.create ?? true, overwrite: request.overwrite ?? true });
        return null;
      }
      case 'delete':
        await files.delete(request.path, { recursive: request.recursive ?? false });
        return null;
      case 'rename':
        if (request.to === undefined) throw notFound('A rename needs a new name.');
        await files.rename(request.path, request.to, { overwrite: request.overwrite ?? false });
        return null;
      case 'createDirectory':
        await files.createDirectory(request.path);
        return null;
    }
  }

  private requireEditor(what: string): void {
    if (this.guest.role !== 'editor') throw forbidden(`You are a viewer of this session: only editors may ${what}. The host can make you an editor.`);
  }

  /** A terminal of the shared session that guests may see; the host's private ones do not exist for a guest. */
  private requireShared(terminalId: string): TerminalInfo {
    const terminal = this.session.sharedTerminals().find((shared) => shared.id === terminalId);
    if (!terminal) throw notFound(`No terminal "${terminalId}" in the shared session. It may have been closed.`);
    return terminal;
  }
}
