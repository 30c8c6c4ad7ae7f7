import * as vscode from 'vscode';
import { ExecRequest } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { chooseSession, shortId, withProgress } from './pickers';

/**
 * Runs a shell command line in a running session's persistent shell (cd and exports carry
 * over to the next command), streaming its output into the "Sandkasten: Command Output"
 * channel as it comes, under a progress notification with a Cancel button.
 */
export async function runCommand(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await chooseSession(ctx, item, {
    title: 'Run Command in…',
    states: ['running'],
    startStopped: { verb: 'start and run' },
    emptyMessage: 'There is no session yet. Start one on a workspace first.',
  });
  if (!session) return;
  const line = await vscode.window.showInputBox({
    title: `Run Command in "${session.workspaceName}" (${shortId(session.id)})`,
    prompt: 'A shell command line, run in the session\'s shell (cd and exported variables persist between commands)',
    placeHolder: 'ls -la',
    validateInput: (value) => (value.trim() === '' ? 'Type a command.' : undefined),
  });
  if (!line) return;
  const channel = ctx.execOutput;
  channel.appendLine(`$ ${line}    (${session.id}, ${session.workspaceName})`);
  channel.show(true);
  let endsWithNewline = true;
  const stream = ctx.execStreams.open(({ data }) => {
    channel.append(data);
    endsWithNewline = data.endsWith('\n');
  });
  try {
    const result = await withProgress(
      ctx,
      `Running "${line}" in ${session.id}…`,
      (token) => ctx.request(ExecRequest.type, { sessionId: session.id, line, streamId: stream.streamId }, token),
      true,
    );
    if (!endsWithNewline) channel.appendLine('');
    if (!result) channel.appendLine('[cancelled or failed; see the notification]');
    else {
      const how = result.timedOut ? ', timed out' : result.cancelled ? ', cancelled' : '';
      channel.appendLine(`[exit code ${result.exitCode}${how}, ${result.durationMs} ms]`);
    }
    channel.appendLine('');
  } finally {
    stream.dispose();
  }
}
