import * as vscode from 'vscode';
import type { Ctx } from '../ctx';

/** The status bar item's menu: the few things one reaches for from anywhere. */
export async function showMenu(ctx: Ctx): Promise<void> {
  const entries = [
    { label: '$(add) Create Workspace…', command: 'sandkasten.workspace.create' },
    { label: '$(terminal) Open Terminal…', command: 'sandkasten.terminal.open' },
    { label: '$(run) Run Command…', command: 'sandkasten.exec.run' },
    { label: '$(broadcast) Share Session…', command: 'sandkasten.shareSession' },
    { label: '$(live-share) Join Shared Session…', command: 'sandkasten.joinSharedSession' },
    { label: '$(dashboard) Open Dashboard', command: 'sandkasten.openDashboard' },
    { label: '$(server-environment) Choose Docker Engine…', command: 'sandkasten.chooseEngine' },
    { label: '$(output) Show Logs', command: 'sandkasten.showLogs' },
    { label: '$(key) Copy API Endpoint and Token', command: 'sandkasten.api.copy' },
    ...(ctx.state === 'ready' ? [] : [{ label: '$(debug-restart) Retry Connecting to Docker', command: 'sandkasten.retry' }]),
  ];
  const picked = await vscode.window.showQuickPick(entries, { title: 'Sandkasten', placeHolder: ctx.state === 'ready' ? 'What to do' : (ctx.lastError ?? 'Sandkasten is not connected') });
  if (picked) await vscode.commands.executeCommand(picked.command);
}
