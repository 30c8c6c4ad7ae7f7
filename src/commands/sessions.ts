import * as vscode from 'vscode';
import { DestroySessionRequest, ResumeSessionRequest, StartSessionRequest, StopSessionRequest } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { SessionItem } from '../views/items';
import { sessionFrom, withProgress, workspaceFrom } from './pickers';

/** From a workspace (inline ▷ or palette) or a stopped session in the tree. */
export async function startSession(ctx: Ctx, item?: unknown): Promise<void> {
  if (item instanceof SessionItem) {
    await withProgress(ctx, `Starting session ${item.session.id}…`, () => ctx.request(ResumeSessionRequest.type, { id: item.session.id }));
    return;
  }
  const workspace = await workspaceFrom(ctx, item);
  if (!workspace) return;
  await withProgress(ctx, `Starting a session on "${workspace.name}"…`, () => ctx.request(StartSessionRequest.type, { workspaceId: workspace.id }));
}

export async function stopSession(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await sessionFrom(ctx, item, (s) => s.state === 'running' || s.state === 'paused', 'No session is running.');
  if (!session) return;
  await withProgress(ctx, `Stopping session ${session.id}…`, () => ctx.request(StopSessionRequest.type, { id: session.id }));
}

export async function destroySession(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await sessionFrom(ctx, item);
  if (!session) return;
  const answer = await vscode.window.showWarningMessage(
    `Destroy session ${session.id} of "${session.workspaceName}"?`,
    { modal: true, detail: 'Its container is removed. The workspace and its files in /workspace stay.' },
    'Destroy',
  );
  if (answer !== 'Destroy') return;
  await withProgress(ctx, `Destroying session ${session.id}…`, () => ctx.request(DestroySessionRequest.type, { id: session.id }));
}
