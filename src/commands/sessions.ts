import * as vscode from 'vscode';
import { DestroySessionRequest, ExecRequest, ResumeSessionRequest, StartSessionRequest, StopSessionRequest } from '../../sidecar/protocol';
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
  const session = await sessionFrom(ctx, item, (s) => s.state === 'running', 'No session is running.');
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

/** Runs a shell command line in a running session and shows output and exit code. */
export async function runCommand(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await sessionFrom(ctx, item, (s) => s.state === 'running', 'No session is running. Start a session first.');
  if (!session) return;
  const line = await vscode.window.showInputBox({
    title: `Run Command in ${session.id} (${session.workspaceName})`,
    prompt: 'A shell command line, run with sh -c in /workspace',
    placeHolder: 'ls -la',
    validateInput: (value) => (value.trim() === '' ? 'Type a command.' : undefined),
  });
  if (!line) return;
  const result = await withProgress(
    ctx,
    `Running "${line}" in ${session.id}…`,
    (token) => ctx.request(ExecRequest.type, { sessionId: session.id, line }, token),
    true,
  );
  if (!result) return;
  const channel = ctx.execOutput;
  channel.appendLine(`$ ${line}    (${session.id}, ${session.workspaceName})`);
  if (result.stdout) channel.append(result.stdout.endsWith('\n') ? result.stdout : `${result.stdout}\n`);
  if (result.stderr) channel.append(result.stderr.endsWith('\n') ? result.stderr : `${result.stderr}\n`);
  channel.appendLine(`[exit code ${result.exitCode}${result.timedOut ? ', timed out' : ''}, ${result.durationMs} ms]`);
  channel.appendLine('');
  channel.show(true);
}
