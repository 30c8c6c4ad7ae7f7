import * as vscode from 'vscode';
import { DestroySessionRequest, ListSessionsRequest, ResumeSessionRequest, StartSessionRequest, StopSessionRequest } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { SessionItem } from '../views/items';
import { chooseSession, withProgress, workspaceFrom } from './pickers';

/** From a workspace (inline ▷ or palette) or a stopped session in the tree. */
export async function startSession(ctx: Ctx, item?: unknown): Promise<void> {
  if (item instanceof SessionItem) {
    await withProgress(ctx, `Starting session ${item.session.id}…`, () => ctx.request(ResumeSessionRequest.type, { id: item.session.id }));
    return;
  }
  const workspace = await workspaceFrom(ctx, item);
  if (!workspace) return;
  // One running session per click: a workspace that runs already is focused, not doubled
  // (a second session only through "Start Another Session").
  const running = (await ctx.request(ListSessionsRequest.type, { workspaceId: workspace.id })).find((s) => s.state === 'running' || s.state === 'paused');
  if (running) {
    ctx.terminals.reveal(running);
    void vscode.window.setStatusBarMessage(`Sandkasten: "${workspace.name}" already runs (session ${running.id})`, 5000);
    return;
  }
  await withProgress(ctx, `Starting a session on "${workspace.name}"…`, () => ctx.request(StartSessionRequest.type, { workspaceId: workspace.id }));
}

/** An explicit second session on a workspace (the context menu's "Start Another Session"). */
export async function startAnotherSession(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = await workspaceFrom(ctx, item);
  if (!workspace) return;
  await withProgress(ctx, `Starting another session on "${workspace.name}"…`, () => ctx.request(StartSessionRequest.type, { workspaceId: workspace.id }));
}

export async function stopSession(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await chooseSession(ctx, item, { title: 'Stop Session…', states: ['running', 'paused'], emptyMessage: 'No session is running.' });
  if (!session) return;
  await withProgress(ctx, `Stopping session ${session.id}…`, () => ctx.request(StopSessionRequest.type, { id: session.id }));
}

export async function destroySession(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await chooseSession(ctx, item, { title: 'Destroy Session…', states: ['running', 'paused', 'stopped', 'starting'], emptyMessage: 'There is no session.' });
  if (!session) return;
  const answer = await vscode.window.showWarningMessage(
    `Destroy session ${session.id} of "${session.workspaceName}"?`,
    { modal: true, detail: 'Its container is removed. The workspace and its files in /workspace stay.' },
    'Destroy',
  );
  if (answer !== 'Destroy') return;
  await withProgress(ctx, `Destroying session ${session.id}…`, () => ctx.request(DestroySessionRequest.type, { id: session.id }));
}
