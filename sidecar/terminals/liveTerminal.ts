import type { Clock } from '../util/clock';
import type { NotificationType, RequestParam } from 'vscode-languageserver-protocol';
import { TerminalExitNotification, TerminalOutputNotification } from '../client/protocol';
import type { LiveShell, TerminalSize } from './liveShell';
import { Scrollback } from './scrollback';
import { EXIT_MARKER } from './shellScripts';

/** A client connection that can receive a terminal's notifications, with its back-pressure (a NotificationFlow). */
export interface TerminalClient {
  send<P>(type: NotificationType<P>, params: RequestParam<P>, bytes: number): void;
  readonly congested: boolean;
  drained(): Promise<void>;
}

/**
 * After Enter, the state files are read once output has been quiet this long: the command
 * has most likely finished and the prompt hook has written cwd, environment and history.
 */
const SETTLE_AFTER_COMMAND_MS = 300;
/** Long enough to hold the exit marker when it is split across chunks. */
const TAIL_CHARS = 64;
const EXIT_MARKERS = new RegExp(EXIT_MARKER.source, 'g');

export interface LiveTerminalEvents {
  /** A command seems to have finished: time to save the state the shell reported. */
  onCommandSettled(terminal: LiveTerminal): void;
  /** The shell is gone; exitCode is set when the person ended it (exit, Ctrl-D). */
  onEnded(terminal: LiveTerminal, exitCode: number | undefined): void;
}

/**
 * A terminal whose shell runs now: fans its output out to the attached clients (only those),
 * keeps the scrollback for reattaches, and pauses the shell while any client is congested.
 */
export class LiveTerminal {
  private readonly clients = new Set<TerminalClient>();
  private readonly scrollback = new Scrollback();
  private tail = '';
  private paused = false;
  private commandPending = false;
  private settleTimer: { cancel(): void } | undefined;
  /**
   * Set when the sidecar ends the shell on purpose: `closed` (terminal/close; clients see exit
   * code 0) or `dropped` (the sidecar stops, or a create failed: nobody is told).
   */
  ending: 'closed' | 'dropped' | undefined;
  private readonly endWaiters: Array<() => void> = [];

  constructor(
    readonly id: string,
    readonly sessionId: string,
    private readonly shell: LiveShell,
    private readonly clock: Clock,
    private readonly events: LiveTerminalEvents,
    /** Shown first, before anything the shell prints (the "restored" line). */
    introduction = '',
  ) {
    if (introduction) this.scrollback.append(introduction);
    shell.onOutput((text) => this.onOutput(text));
    shell.onEnd(() => this.onShellEnded());
  }

  get isAlive(): boolean {
    return this.shell.isAlive;
  }

  get attachedCount(): number {
    return this.clients.size;
  }

  isAttached(client: TerminalClient): boolean {
    return this.clients.has(client);
  }

  /**
   * Adds a client and returns the scrollback it should show first. Synchronous on purpose:
   * output after this call goes to the client, output before it is in the replay.
   */
  attach(client: TerminalClient): string {
    this.clients.add(client);
    return this.scrollback.replay();
  }

  detach(client: TerminalClient): void {
    this.clients.delete(client);
    this.resumeWhenClear();
  }

  input(data: string): void {
    this.shell.write(data);
    if (/[\r\n]/.test(data)) {
      this.commandPending = true;
      this.restartSettleTimer();
    }
  }

  resize(size: TerminalSize): Promise<void> {
    return this.shell.resize(size);
  }

  /** Drops the stream; the shell ends as well when the container stopped or was killed. */
  dropShell(): void {
    this.shell.detach();
  }

  /** Resolves once the shell's stream ended by itself, or after `graceMs` when it is dropped. */
  endWithin(graceMs: number): Promise<void> {
    if (!this.isAlive) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => this.dropShell(), graceMs);
      this.endWaiters.push(() => {
        timer.cancel();
        resolve();
      });
    });
  }

  private onOutput(raw: string): void {
    this.tail = (this.tail + raw).slice(-TAIL_CHARS);
    const text = raw.includes('\x1b]6973;') ? raw.replace(EXIT_MARKERS, '') : raw;
    if (this.commandPending) this.restartSettleTimer();
    if (!text) return;
    this.scrollback.append(text);
    const bytes = Buffer.byteLength(text);
    for (const client of this.clients) client.send(TerminalOutputNotification.type, { terminalId: this.id, data: text }, bytes);
    this.applyBackPressure();
  }

  private applyBackPressure(): void {
    if (this.paused) return;
    const congested = [...this.clients].find((client) => client.congested);
    if (!congested) return;
    this.paused = true;
    this.shell.pause();
    void congested.drained().then(() => this.resumeWhenClear());
  }

  /** Resumes once no attached client is congested; a client that left no longer counts. */
  private resumeWhenClear(): void {
    if (!this.paused) return;
    const congested = [...this.clients].find((client) => client.congested);
    if (congested) {
      void congested.drained().then(() => this.resumeWhenClear());
      return;
    }
    this.paused = false;
    this.shell.resume();
  }

  private restartSettleTimer(): void {
    this.settleTimer?.cancel();
    this.settleTimer = this.clock.setTimeout(() => {
      this.commandPending = false;
      this.events.onCommandSettled(this);
    }, SETTLE_AFTER_COMMAND_MS);
  }

  private onShellEnded(): void {
    this.settleTimer?.cancel();
    const match = EXIT_MARKER.exec(this.tail);
    const exitCode = match ? Number(match[1]) : undefined;
    if (this.ending !== 'dropped') {
      const reported = this.ending === 'closed' ? 0 : (exitCode ?? null);
      for (const client of this.clients) client.send(TerminalExitNotification.type, { terminalId: this.id, exitCode: reported }, 64);
    }
    this.clients.clear();
    for (const wake of this.endWaiters.splice(0)) wake();
    this.events.onEnded(this, exitCode);
  }
}
