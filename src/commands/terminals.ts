import * as vscode from 'vscode';
import { CloseTerminalRequest } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { TerminalItem } from '../views/items';

/** On a terminal in the tree: show it (reattach or restore); otherwise a new one in a session. */
export async function openTerminal(ctx: Ctx, item?: unknown): Promise<void> {
  const { terminals } = ctx;
  if (item instanceof TerminalItem) {
    terminals.show(item.terminal, item.session.workspaceName);
    return;
  }
  await terminals.openNew(item);
}

/** Ends a terminal's shell and forgets it, from the tree (for dormant ones too). */
export async function closeTerminal(ctx: Ctx, item?: unknown): Promise<void> {
  if (!(item instanceof TerminalItem)) return;
  const { terminal } = item;
  const answer = await vscode.window.showWarningMessage(
    `Close ${terminal.name} of session ${terminal.sessionId}?`,
    { modal: true, detail: 'Its shell ends, and its working directory, environment and history are forgotten.' },
    'Close Terminal',
  );
  if (answer !== 'Close Terminal') return;
  await ctx.request(CloseTerminalRequest.type, { terminalId: terminal.id });
}
