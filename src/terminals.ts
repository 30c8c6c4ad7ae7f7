import * as vscode from 'vscode';
import { ResponseError } from 'vscode-languageclient/node';
import {
  CloseTerminalRequest,
  ErrorCode,
  isSharedId,
  TerminalExitNotification,
  TerminalOutputNotification,
  type SessionInfo,
  type TerminalInfo,
} from '../sidecar/client/protocol';
import { chooseSession } from './commands/pickers';
import type { Ctx } from './ctx';
import { DisposableScope } from './disposableScope';
import { SandboxPseudoterminal, type PseudoterminalOwner } from './sandboxPseudoterminal';

/** The id of the contributed terminal profile (package.json `contributes.terminal.profiles`). */
export const TERMINAL_PROFILE_ID = 'sandkasten.sandbox';

/** A sandbox terminal open in this window, remembered so that a reload brings it back. */
interface RememberedTerminal {
  terminalId: string;
  sessionId: string;
  title: string;
}
const REMEMBERED_TERMINALS_KEY = 'sandkasten.openTerminals';

/**
 * The sandbox terminals of this window; one registry, owned by Ctx. Routes the sidecar's
 * output and exit notifications to their pseudoterminals, provides the terminal profile,
 * remembers open terminals in the workspace state and reopens them after a reload (they
 * reattach to the live shell and replay its scrollback, or are restored when the shell is gone).
 *
 * What closing means: closing the tab (TerminalExitReason.User) ends the shell; a window
 * closing or reloading only detaches (the extension host may already be gone; the sidecar
 * notices the connection close), so the terminal comes back.
 */
export class SandboxTerminals implements PseudoterminalOwner, vscode.Disposable {
  private readonly byTerminalId = new Map<string, SandboxPseudoterminal>();
  connectionCount = 0;
  private readonly disposables = new DisposableScope();

  constructor(readonly ctx: Ctx) {
    ctx.onNotification(TerminalOutputNotification.type, ({ terminalId, data }) => this.byTerminalId.get(terminalId)?.output(data));
    ctx.onNotification(TerminalExitNotification.type, ({ terminalId, exitCode }) => this.byTerminalId.get(terminalId)?.exited(exitCode));
    this.disposables.push(
      ctx.onDidConnect(() => this.reattachAfterReconnect()),
      vscode.window.registerTerminalProfileProvider(TERMINAL_PROFILE_ID, { provideTerminalProfile: () => this.profileInPickedSession() }),
      vscode.window.onDidCloseTerminal((terminal) => this.onDidCloseTerminal(terminal)),
      // A terminal from the profile menu opens after our session picker closed, and VS Code
      // leaves the focus where it was (the previous terminal): give it to the new one.
      vscode.window.onDidOpenTerminal((terminal) => {
        const pty = pseudoterminalOf(terminal);
        if (pty?.focusWhenOpened) {
          pty.focusWhenOpened = false;
          terminal.show(false);
        }
      }),
    );
  }

  /** Opens a new terminal in a session (the tree's session, or one the person picks). */
  async openNew(item?: unknown): Promise<void> {
    const session = await this.pickRunningSession(item);
    if (!session) return;
    vscode.window.createTerminal(this.terminalOptions(session.id, undefined, session.workspaceName)).show();
  }

  /** Opens and shows a new terminal in a session that only the host sees, never a guest of its share. */
  openPrivate(session: SessionInfo): void {
    vscode.window.createTerminal(this.terminalOptions(session.id, undefined, session.workspaceName, { privateToHost: true })).show();
  }

  /**
   * Closes this window's terminals of a session without ending their shells (a shared
   * session we left: the host's shells are not ours to end).
   */
  closeTerminalsOf(sessionId: string): void {
    for (const shown of vscode.window.terminals) {
      const pty = pseudoterminalOf(shown);
      if (pty?.sessionId !== sessionId) continue;
      this.forget(pty);
      shown.dispose();
    }
  }

  /** Opens and shows a new terminal in a session, and returns it (for the extension API). */
  openInSession(sessionId: string, title: string, preserveFocus: boolean): vscode.Terminal {
    const terminal = vscode.window.createTerminal(this.terminalOptions(sessionId, undefined, title));
    terminal.show(preserveFocus);
    return terminal;
  }

  /** Reveals a terminal of this window in the session, or opens a new one there. */
  reveal(session: SessionInfo): void {
    this.showOrOpen((pty) => pty.sessionId === session.id, session.id, undefined, session.workspaceName);
  }

  /** Shows the VS Code terminal of an existing sidecar terminal, opening one when needed. */
  show(terminal: TerminalInfo, title: string): void {
    this.showOrOpen((pty) => pty.terminalId === terminal.id, terminal.sessionId, terminal.id, title);
  }

  /** Shows this window's first sandbox terminal that `matches`, else opens one with these options. */
  private showOrOpen(matches: (pty: SandboxPseudoterminal) => boolean, sessionId: string, terminalId: string | undefined, title: string): void {
    const existing = vscode.window.terminals.find((shown) => {
      const pty = pseudoterminalOf(shown);
      return pty !== undefined && matches(pty);
    });
    if (existing) existing.show();
    else vscode.window.createTerminal(this.terminalOptions(sessionId, terminalId, title)).show();
  }

  /** After a window reload: every terminal this window had open comes back. Returns how many. */
  reopenRemembered(): number {
    const remembered = this.remembered();
    let last: vscode.Terminal | undefined;
    for (const entry of remembered) last = vscode.window.createTerminal(this.terminalOptions(entry.sessionId, entry.terminalId, entry.title));
    last?.show(true);
    return remembered.length;
  }

  register(pty: SandboxPseudoterminal, terminal: TerminalInfo): void {
    this.byTerminalId.set(terminal.id, pty);
    if (!this.remembered().some((entry) => entry.terminalId === terminal.id)) {
      void this.remember([...this.remembered(), { terminalId: terminal.id, sessionId: terminal.sessionId, title: pty.title }]);
    }
  }

  forget(pty: SandboxPseudoterminal): void {
    if (!pty.terminalId) return;
    if (this.byTerminalId.get(pty.terminalId) === pty) this.byTerminalId.delete(pty.terminalId);
    void this.remember(this.remembered().filter((entry) => entry.terminalId !== pty.terminalId));
  }

  private async profileInPickedSession(): Promise<vscode.TerminalProfile | undefined> {
    const session = await this.pickRunningSession(undefined);
    if (!session) return undefined;
    const options = this.terminalOptions(session.id, undefined, session.workspaceName);
    (options.pty as SandboxPseudoterminal).focusWhenOpened = true;
    return new vscode.TerminalProfile(options);
  }

  private pickRunningSession(item: unknown): Promise<SessionInfo | undefined> {
    return chooseSession(this.ctx, item, {
      title: 'Open Terminal in…',
      states: ['running'],
      startStopped: { verb: 'start and open' },
      emptyMessage: 'There is no session yet. Start one on a workspace first.',
    });
  }

  private terminalOptions(sessionId: string, terminalId: string | undefined, title: string, options: { privateToHost?: boolean } = {}): vscode.ExtensionTerminalOptions {
    return {
      name: title,
      pty: new SandboxPseudoterminal(this, sessionId, terminalId, title, options.privateToHost),
      iconPath: new vscode.ThemeIcon(options.privateToHost ? 'lock' : isSharedId(sessionId) ? 'live-share' : 'vm'),
    };
  }

  /** The sidecar restarted or the connection came back: reattach (or restore) every terminal. */
  private reattachAfterReconnect(): void {
    this.connectionCount++;
    for (const pty of this.byTerminalId.values()) {
      if (pty.attachedOnConnection !== undefined && pty.attachedOnConnection < this.connectionCount) void pty.attach();
    }
  }

  private onDidCloseTerminal(terminal: vscode.Terminal): void {
    const pty = pseudoterminalOf(terminal);
    if (!pty?.terminalId) return;
    const terminalId = pty.terminalId;
    if (this.byTerminalId.get(terminalId) === pty) this.byTerminalId.delete(terminalId);
    switch (terminal.exitStatus?.reason) {
      case vscode.TerminalExitReason.User:
        this.forget(pty);
        // A shared session's terminal is the host's: closing our tab leaves it running for them.
        if (isSharedId(terminalId)) {
          pty.detach();
          break;
        }
        void this.ctx.request(CloseTerminalRequest.type, { terminalId }).catch((error) => {
          if (!(error instanceof ResponseError && error.code === ErrorCode.NotFound)) void this.ctx.showError(error, 'The sandbox terminal could not be closed');
        });
        break;
      case vscode.TerminalExitReason.Process:
        break; // the shell ended (or the terminal vanished): already forgotten
      case vscode.TerminalExitReason.Shutdown:
        break; // the window closes or reloads: its connection closing detaches, the shell lives on
      default:
        pty.detach(); // disposed some other way: stop listening, keep the shell
    }
    pty.dispose();
  }

  private remembered(): RememberedTerminal[] {
    return this.ctx.extension.workspaceState.get<RememberedTerminal[]>(REMEMBERED_TERMINALS_KEY, []);
  }

  private remember(entries: RememberedTerminal[]): Thenable<void> {
    return this.ctx.extension.workspaceState.update(REMEMBERED_TERMINALS_KEY, entries);
  }

  dispose(): void {
    this.disposables.dispose();
  }
}

function pseudoterminalOf(terminal: vscode.Terminal): SandboxPseudoterminal | undefined {
  const pty = (terminal.creationOptions as vscode.ExtensionTerminalOptions).pty;
  return pty instanceof SandboxPseudoterminal ? pty : undefined;
}
