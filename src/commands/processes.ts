import * as vscode from 'vscode';
import { ProcessOutputRequest, SignalProcessRequest } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { ProcessItem } from '../views/items';
import { withProgress } from './pickers';

/** How long one follow request waits for output before asking again. */
const FOLLOW_WAIT_MS = 30_000;

/** Stop on a background process row: as Ctrl-C would (INT, then TERM, then KILL). */
export async function stopProcess(ctx: Ctx, item?: unknown): Promise<void> {
  if (!(item instanceof ProcessItem)) return;
  await withProgress(ctx, `Stopping ${item.process.command}…`, () => ctx.request(SignalProcessRequest.type, { processId: item.process.id }));
}

/**
 * Show Output on a background process row: its output in an output channel of its own,
 * followed while it runs (long-polling the sidecar) and while the channel is open.
 */
export async function showProcessOutput(ctx: Ctx, item?: unknown): Promise<void> {
  if (!(item instanceof ProcessItem)) return;
  const { process } = item;
  const channel = ctx.processOutputChannel(process.id, `Sandkasten: ${process.command} (${process.id})`);
  channel.show(true);
  if (channel.following) return;
  channel.following = true;
  try {
    let offset: number | undefined;
    for (;;) {
      const page = await ctx.request(ProcessOutputRequest.type, { processId: process.id, offset, waitMs: FOLLOW_WAIT_MS });
      for (const chunk of page.chunks) channel.append(chunk.data);
      offset = page.nextOffset;
      if (page.process.state === 'exited' && page.chunks.length === 0) {
        channel.appendLine(`[exited with code ${page.process.exitCode}]`);
        return;
      }
    }
  } catch (error) {
    void vscode.window.showWarningMessage(`Stopped following ${process.id}: ${(error as Error).message}`);
  } finally {
    channel.following = false;
  }
}
