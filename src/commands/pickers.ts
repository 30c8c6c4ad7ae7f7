import * as vscode from 'vscode';
import {
  ListSessionsRequest,
  ListWorkspacesRequest,
  ResumeSessionRequest,
  StartSessionRequest,
  type SessionInfo,
  type SessionState,
  type WorkspaceInfo,
} from '../../sidecar/client/protocol';
import { sessionStateWord } from '../../sidecar/client/vocabulary';
import type { Ctx } from '../ctx';
import { SessionItem, shortId, WorkspaceItem } from '../views/items';

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

/** Where the last chosen session is kept, so the next picker preselects it. */
const LAST_SESSION_KEY = 'sandkasten.lastSession';

export interface SessionChoice {
  /** The picker's title, e.g. "Run Command in…". */
  title: string;
  /** The states a session may be in to be chosen as it is. */
  states: SessionState[];
  /** Also offer stopped sessions, as "Start and …", resumed before they are used. */
  startStopped?: { verb: string };
  /** Said when there is nothing to choose. */
  emptyMessage: string;
}

/**
 * The session a command acts on, never a guess: a session row's own session; a workspace
 * row's running session (or, with `startStopped`, its session started); from the palette,
 * always a picker — even with one candidate — that leads with workspace names, running
 * sessions first, stopped ones offered as "Start and …" where that makes sense, the last
 * used one preselected.
 */
export async function chooseSession(ctx: Ctx, item: unknown, choice: SessionChoice): Promise<SessionInfo | undefined> {
  if (item instanceof SessionItem) return usable(ctx, item.session, choice);
  if (item instanceof WorkspaceItem) {
    const sessions = await ctx.request(ListSessionsRequest.type, { workspaceId: item.workspace.id });
    const running = sessions.find((session) => inState(session, choice.states));
    if (running) return remember(ctx, running);
    if (!choice.startStopped) {
      void vscode.window.showInformationMessage(`No session of "${item.workspace.name}" is running.`);
      return undefined;
    }
    const started = await withProgress(ctx, `Starting a session on "${item.workspace.name}"…`, () => ctx.request(StartSessionRequest.type, { workspaceId: item.workspace.id }));
    return started && remember(ctx, started);
  }
  const sessions = (await ctx.request(ListSessionsRequest.type, {})).filter(
    (session) => inState(session, choice.states) || (choice.startStopped !== undefined && session.state === 'stopped'),
  );
  if (sessions.length === 0) {
    void vscode.window.showInformationMessage(choice.emptyMessage);
    return undefined;
  }
  const ready = (session: SessionInfo) => inState(session, choice.states);
  const ordered = [...sessions].sort((a, b) => Number(ready(b)) - Number(ready(a)) || a.workspaceName.localeCompare(b.workspaceName));
  const items = ordered.map((session) => ({
    label: session.workspaceName,
    description: ready(session) ? `${sessionStateWord(session)} · ${shortId(session.id)}` : `${sessionStateWord(session)} · ${choice.startStopped!.verb} · ${shortId(session.id)}`,
    detail: session.stateReason,
    session,
  }));
  const picker = vscode.window.createQuickPick<(typeof items)[number]>();
  picker.title = choice.title;
  picker.placeholder = 'Choose a session by its workspace';
  picker.matchOnDescription = true;
  picker.items = items;
  const last = ctx.extension.globalState.get<string>(LAST_SESSION_KEY);
  const preselected = items.find((entry) => entry.session.id === last);
  if (preselected) picker.activeItems = [preselected];
  const picked = await new Promise<(typeof items)[number] | undefined>((resolve) => {
    picker.onDidAccept(() => resolve(picker.selectedItems[0] ?? picker.activeItems[0]));
    picker.onDidHide(() => resolve(undefined));
    picker.show();
  });
  picker.dispose();
  return picked && usable(ctx, picked.session, choice);
}

/** The chosen session as the command can use it: a stopped one is started first when allowed. */
async function usable(ctx: Ctx, session: SessionInfo, choice: SessionChoice): Promise<SessionInfo | undefined> {
  if (inState(session, choice.states)) return remember(ctx, session);
  if (!choice.startStopped || session.state !== 'stopped') {
    void vscode.window.showInformationMessage(`Session ${shortId(session.id)} of "${session.workspaceName}" is ${sessionStateWord(session)}.`);
    return undefined;
  }
  const resumed = await withProgress(ctx, `Starting the session of "${session.workspaceName}"…`, () => ctx.request(ResumeSessionRequest.type, { id: session.id }));
  return resumed && remember(ctx, resumed);
}

/** A frozen session counts as running: the sidecar thaws it on the next use. */
function inState(session: SessionInfo, states: SessionState[]): boolean {
  return states.includes(session.state) || (session.frozenAt !== undefined && states.includes('running'));
}

function remember(ctx: Ctx, session: SessionInfo): SessionInfo {
  void ctx.extension.globalState.update(LAST_SESSION_KEY, session.id);
  return session;
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
