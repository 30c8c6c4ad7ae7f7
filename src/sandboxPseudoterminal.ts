import * as vscode from 'vscode';
import {
  DetachTerminalNotification,
  ErrorCode,
  isSharedId,
  OpenTerminalRequest,
  TerminalInputNotification,
  TerminalResizeNotification,
  type OpenTerminalResult,
  type TerminalInfo,
} from '../sidecar/client/protocol';
import { ResponseError } from 'vscode-languageclient/node';
import type { Ctx } from './ctx';
import { describeError } from './errors';

/** What the pseudoterminal needs from the terminal manager (src/terminals.ts). */
export interface PseudoterminalOwner {
  readonly ctx: Ctx;
  /** Output and exit notifications for `terminalId` go to this pseudoterminal from now on. */
  register(pty: SandboxPseudoterminal, terminal: TerminalInfo): void;
  /** The terminal no longer exists in the sidecar: forget it in this window. */
  forget(pty: SandboxPseudoterminal): void;
  /** How many client connections there have been; a change means the sidecar restarted or reconnected. */
  readonly connectionCount: number;
}

const DEFAULT_SIZE = { cols: 80, rows: 24 };
const dim = (text: string) => `\x1b[2m${text}\x1b[0m`;

/**
 * A VS Code terminal showing one sidecar terminal: typed keys and resizes go to the sidecar as
 * notifications, output comes back as notifications (routed here by the owner). The shell
 * lives in the sidecar, so closing this only ends the shell when the person closed the tab.
 */
export class SandboxPseudoterminal implements vscode.Pseudoterminal {
  private readonly written = new vscode.EventEmitter<string>();
  private readonly closed = new vscode.EventEmitter<number | void>();
  private readonly renamed = new vscode.EventEmitter<string>();
  readonly onDidWrite = this.written.event;
  readonly onDidClose = this.closed.event;
  readonly onDidChangeName = this.renamed.event;
  private size = DEFAULT_SIZE;
  /** Set once the sidecar has attached this terminal; the connection count at that moment. */
  attachedOnConnection: number | undefined;
  /** The shell ended without the person asking (session stopped): Enter restores it. */
  private waitingForRestore = false;
  private opening: Promise<void> | undefined;
  /** Opened from the terminal profile: take the focus once VS Code shows it. */
  focusWhenOpened = false;
  /** Keys typed while the terminal was being opened, sent once it is attached. */
  private typedWhileOpening = '';

  constructor(
    private readonly owner: PseudoterminalOwner,
    readonly sessionId: string,
    /** Undefined until the sidecar created the terminal. */
    public terminalId: string | undefined,
    /** Shown before the terminal's own name, e.g. the workspace. */
    readonly title: string,
    /** Made as a terminal only the host sees (guests of a share neither see nor open it). */
    private readonly privateToHost = false,
  ) {}

  open(initialDimensions: vscode.TerminalDimensions | undefined): void {
    if (initialDimensions) this.size = { cols: initialDimensions.columns, rows: initialDimensions.rows };
    void this.attach();
  }

  /** Opens (creates, reattaches or restores) the sidecar terminal and shows its replay. */
  attach(): Promise<void> {
    this.opening ??= this.openInSidecar().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async openInSidecar(): Promise<void> {
    let result: OpenTerminalResult;
    try {
      const created = this.terminalId === undefined && this.privateToHost ? { private: true } : {};
      result = await this.owner.ctx.request(OpenTerminalRequest.type, { sessionId: this.sessionId, terminalId: this.terminalId, ...this.size, ...created });
    } catch (error) {
      this.showOpenFailure(error);
      return;
    }
    const reconnected = this.attachedOnConnection !== undefined && result.outcome === 'attached';
    this.terminalId = result.terminal.id;
    this.waitingForRestore = false;
    this.attachedOnConnection = this.owner.connectionCount;
    this.owner.register(this, result.terminal);
    this.renamed.fire(`${this.title} · ${result.terminal.name}`);
    if (result.outcome === 'attached' && !isSharedId(this.sessionId)) {
      // A reload or reconnect found the shell alive; said where it does not disturb the prompt.
      // A restored shell says so itself, in the terminal. (A shared session's terminal is the
      // host's running shell: attaching to it is the normal case, nothing to say.)
      vscode.window.setStatusBarMessage(`Sandkasten: reattached to ${result.terminal.name} (its shell kept running)`, 5000);
    }
    // After a reconnect the replay repeats what is on screen: reset the screen first (RIS).
    if (reconnected) this.written.fire('\x1bc');
    if (result.replay) this.written.fire(result.replay);
    if (this.typedWhileOpening) this.sendInput(this.typedWhileOpening);
    this.typedWhileOpening = '';
  }

  private showOpenFailure(error: unknown): void {
    this.typedWhileOpening = '';
    const { message } = describeError(error);
    this.written.fire(`\r\n${dim(`[sandkasten] ${message}`)}\r\n`);
    if (error instanceof ResponseError && error.code === ErrorCode.NotFound) {
      this.owner.forget(this);
      this.closed.fire();
      return;
    }
    this.waitingForRestore = this.terminalId !== undefined;
    if (this.waitingForRestore) this.written.fire(dim('Press Enter to try again, or close this terminal.') + '\r\n');
  }

  output(data: string): void {
    this.written.fire(data);
  }

  /** The shell ended: by the person (exit code, the terminal is over) or with its container. */
  exited(exitCode: number | null): void {
    if (exitCode !== null) {
      this.owner.forget(this);
      this.closed.fire(exitCode);
      return;
    }
    this.waitingForRestore = true;
    if (isSharedId(this.sessionId)) {
      // The host's terminal: the share ended, the connection was lost, or the host's shell went.
      this.written.fire(`\r\n${dim('[sandkasten] This shared terminal is gone from here. Press Enter to open it again (while the share lasts), or close this terminal.')}\r\n`);
      return;
    }
    this.written.fire(
      `\r\n${dim('[sandkasten] The shell ended with its container (the session stopped or restarted).')}\r\n` +
        `${dim('Press Enter to start a new shell here with the same directory, environment and history.')}\r\n`,
    );
  }

  handleInput(data: string): void {
    if (this.waitingForRestore) {
      if (data.includes('\r')) void this.attach();
      return;
    }
    if (this.opening) this.typedWhileOpening += data;
    else this.sendInput(data);
  }

  private sendInput(data: string): void {
    if (!this.terminalId) return;
    void this.owner.ctx.sendNotification(TerminalInputNotification.type, { terminalId: this.terminalId, data }).catch(() => undefined);
  }

  setDimensions(dimensions: vscode.TerminalDimensions): void {
    this.size = { cols: dimensions.columns, rows: dimensions.rows };
    if (!this.terminalId || this.waitingForRestore) return;
    void this.owner.ctx.sendNotification(TerminalResizeNotification.type, { terminalId: this.terminalId, ...this.size }).catch(() => undefined);
  }

  /** Stops listening without ending the shell (the terminal manager decides when that is right). */
  detach(): void {
    if (!this.terminalId) return;
    void this.owner.ctx.sendNotification(DetachTerminalNotification.type, { terminalId: this.terminalId }).catch(() => undefined);
  }

  // VS Code calls close() for every way a terminal goes away; onDidCloseTerminal tells them apart.
  close(): void {}

  dispose(): void {
    this.written.dispose();
    this.closed.dispose();
    this.renamed.dispose();
  }
}
