import * as vscode from 'vscode';
import { ExecRequest } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { RunHistory } from '../runHistory';
import { shortId } from '../views/items';
import { chooseSession, withProgress } from './pickers';

/**
 * Runs a shell command line in a running session's persistent shell (cd and exports carry
 * over to the next command), streaming its output into the "Sandkasten: Command Output"
 * channel as it comes, under a progress notification with a Cancel button. The output is kept
 * (see RunHistory), so it outlives a window reload.
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
  let output = '';
  const stream = ctx.execStreams.open(({ data }) => {
    channel.append(data);
    output += data;
  });
  let outcome = '[cancelled or failed; see the notification]';
  try {
    const result = await withProgress(
      ctx,
      `Running "${line}" in ${session.workspaceName}…`,
      (token) => ctx.request(ExecRequest.type, { sessionId: session.id, line, streamId: stream.streamId }, token),
      true,
    );
    if (output !== '' && !output.endsWith('\n')) channel.appendLine('');
    if (result) outcome = `[exit code ${result.exitCode}${result.timedOut ? ', timed out' : result.cancelled ? ', cancelled' : ''}, ${result.durationMs} ms]`;
    channel.appendLine(outcome);
    channel.appendLine('');
  } finally {
    stream.dispose();
    await ctx.runHistory.add({ sessionId: session.id, workspaceName: session.workspaceName, line, output, outcome, at: new Date().toISOString() });
    ctx.viewsChanged(['sessions']); // the row now offers "Show Last Output"
  }
}

/** After a reload: the Command Output channel shows what it showed before (not brought to front). */
export function refillCommandOutput(ctx: Ctx): void {
  for (const record of ctx.runHistory.all()) ctx.execOutput.append(RunHistory.format(record));
}
