import * as vscode from 'vscode';
import { ListSessionsRequest, ListWorkspacesRequest, type SessionInfo, type WorkspaceInfo } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { SessionItem, WorkspaceItem } from '../views/items';

/** The workspace of a tree item, or one the person picks; undefined when they cancel. */
export async function workspaceFrom(ctx: Ctx, item: unknown): Promise<WorkspaceInfo | undefined> {
  if (item instanceof WorkspaceItem) return item.workspace;
  const workspaces = await ctx.request(ListWorkspacesRequest.type, {});
  if (workspaces.length === 0) {
    const choice = await vscode.window.showInformationMessage('There is no workspace yet.', 'Create Workspace');
    if (choice) await vscode.commands.executeCommand('sandkasten.workspace.create');
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    workspaces.map((workspace) => ({ label: workspace.name, description: `${workspace.kind} · ${workspace.state}`, detail: workspace.id, workspace })),
    { title: 'Choose a workspace', matchOnDetail: true },
  );
  return picked?.workspace;
}

/** The session of a tree item, or one the person picks among those that match. */
export async function sessionFrom(
  ctx: Ctx,
  item: unknown,
  filter: (session: SessionInfo) => boolean = () => true,
  emptyMessage = 'There is no session. Start one on a workspace first.',
): Promise<SessionInfo | undefined> {
  if (item instanceof SessionItem) return item.session;
  const sessions = (await ctx.request(ListSessionsRequest.type, {})).filter(filter);
  if (sessions.length === 0) {
    void vscode.window.showInformationMessage(emptyMessage);
    return undefined;
  }
  if (sessions.length === 1) return sessions[0];
  const picked = await vscode.window.showQuickPick(
    sessions.map((session) => ({ label: session.id, description: `${session.workspaceName} · ${session.state}`, session })),
    { title: 'Choose a session' },
  );
  return picked?.session;
}

/** Runs `work` under a notification with a title; errors become a message, not a throw. */
export async function withProgress<T>(ctx: Ctx, title: string, work: (token: vscode.CancellationToken) => Promise<T>, cancellable = false): Promise<T | undefined> {
  try {
    return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable }, (_progress, token) => work(token));
  } catch (error) {
    await ctx.showError(error);
    return undefined;
  }
}
