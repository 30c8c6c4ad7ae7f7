import * as vscode from 'vscode';
import {
  DestroySessionRequest,
  FreezeSessionRequest,
  ListSessionsRequest,
  ResumeSessionRequest,
  StartSessionRequest,
  StopSessionRequest,
  type SessionInfo,
  type WorkspaceInfo,
} from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { SessionItem, shortId } from '../views/items';
import { chooseSession, withProgress, workspaceFrom } from './pickers';

/** From a workspace (inline ▷ or palette) or a stopped session in the tree. */
export async function startSession(ctx: Ctx, item?: unknown): Promise<void> {
  if (item instanceof SessionItem) {
    const session = await withProgress(ctx, `Starting the session of "${item.session.workspaceName}"…`, () => ctx.request(ResumeSessionRequest.type, { id: item.session.id }));
    if (session) await afterStart(ctx, session);
    return;
  }
  const workspace = await workspaceFrom(ctx, item);
  if (workspace) await startSessionOn(ctx, workspace);
}

/**
 * One running session per click: a workspace that runs already gets its terminal revealed,
 * not a second session (that only through "Start Another Session"); else a session starts
 * and, like Dev Containers, drops the person into it (sandkasten.openTerminalOnStart).
 */
export async function startSessionOn(ctx: Ctx, workspace: WorkspaceInfo): Promise<void> {
  const running = (await ctx.request(ListSessionsRequest.type, { workspaceId: workspace.id })).find((s) => s.state === 'running' || s.state === 'paused');
  if (running) {
    void ctx.views?.revealSession(running.id).catch(() => false);
    ctx.terminals.reveal(running);
    void vscode.window.setStatusBarMessage(`Sandkasten: "${workspace.name}" already runs (session ${shortId(running.id)})`, 5000);
    return;
  }
  const session = await withProgress(ctx, `Starting a session on "${workspace.name}"…`, () => ctx.request(StartSessionRequest.type, { workspaceId: workspace.id }));
  if (session) await afterStart(ctx, session);
}

/** An explicit second session on a workspace (the context menu's "Start Another Session"). */
export async function startAnotherSession(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = await workspaceFrom(ctx, item);
  if (!workspace) return;
  const session = await withProgress(ctx, `Starting another session on "${workspace.name}"…`, () => ctx.request(StartSessionRequest.type, { workspaceId: workspace.id }));
  if (session) await afterStart(ctx, session);
}

/** A started session: its row selected, and a terminal in it unless the setting says no. */
async function afterStart(ctx: Ctx, session: SessionInfo): Promise<void> {
  void ctx.views?.revealSession(session.id).catch(() => false);
  if (ctx.config.openTerminalOnStart) ctx.terminals.reveal(session);
}

export async function stopSession(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await chooseSession(ctx, item, { title: 'Stop Session…', states: ['running', 'paused'], emptyMessage: 'No session is running.' });
  if (!session) return;
  await withProgress(ctx, `Stopping the session of "${session.workspaceName}" (${shortId(session.id)})…`, () => ctx.request(StopSessionRequest.type, { id: session.id }));
}

/** Freeze: pause it now, processes and memory kept; the next command, keystroke or terminal open thaws it. */
export async function freezeSession(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await chooseSession(ctx, item, { title: 'Freeze Session…', states: ['running'], emptyMessage: 'No session is running.' });
  if (!session || session.frozenAt) return;
  const frozen = await withProgress(ctx, `Freezing the session of "${session.workspaceName}" (${shortId(session.id)})…`, () =>
    ctx.request(FreezeSessionRequest.type, { id: session.id }),
  );
  if (frozen) void vscode.window.setStatusBarMessage(`Sandkasten: "${session.workspaceName}" is frozen; its next use thaws it`, 5000);
}

/** Stop, then start the same container again: a fresh main shell, the files kept. */
export async function restartSession(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await chooseSession(ctx, item, { title: 'Restart Session…', states: ['running', 'paused', 'stopped'], emptyMessage: 'There is no session.' });
  if (!session) return;
  const restarted = await withProgress(ctx, `Restarting the session of "${session.workspaceName}" (${shortId(session.id)})…`, async (token) => {
    if (session.state !== 'stopped') await ctx.request(StopSessionRequest.type, { id: session.id }, token);
    return ctx.request(ResumeSessionRequest.type, { id: session.id }, token);
  });
  if (restarted) void vscode.window.setStatusBarMessage(`Sandkasten: restarted "${session.workspaceName}" (${shortId(session.id)})`, 5000);
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

const ANY_STATE = { states: ['running', 'paused', 'stopped', 'starting'] as SessionInfo['state'][], emptyMessage: 'There is no session.' };

/** Show Container Logs: what the session's background jobs printed between commands. */
export async function showSessionLogs(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await chooseSession(ctx, item, { title: 'Show Container Logs of…', ...ANY_STATE });
  if (session) await ctx.documents.open('logs', session.id, `${session.workspaceName} logs`);
}

/** Inspect: the container's JSON, as Docker reports it, in a read-only editor. */
export async function inspectSession(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await chooseSession(ctx, item, { title: 'Inspect…', ...ANY_STATE });
  if (session) await ctx.documents.open('inspect', session.id, `${session.workspaceName} ${shortId(session.id)}`);
}

/** Show Last Output: the Run Command outputs of the session kept in this window. */
export async function showLastOutput(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await chooseSession(ctx, item, { title: 'Show Last Output of…', ...ANY_STATE });
  if (session) await ctx.documents.open('output', session.id, `${session.workspaceName} output`);
}

export async function copyContainerId(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await chooseSession(ctx, item, { title: 'Copy Container Id of…', ...ANY_STATE });
  if (!session) return;
  if (!session.containerId) {
    void vscode.window.showInformationMessage(`Session ${shortId(session.id)} of "${session.workspaceName}" has no container.`);
    return;
  }
  await vscode.env.clipboard.writeText(session.containerId);
  void vscode.window.setStatusBarMessage(`Sandkasten: copied container id ${session.containerId.slice(0, 12)}`, 4000);
}
