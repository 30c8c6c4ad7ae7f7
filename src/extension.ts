import type * as vscode from 'vscode';
import type { SandkastenApi } from '../api/sandkasten';
import { createApi } from './api';
import { registerCommands } from './commands';
import { refillCommandOutput } from './commands/exec';
import { Ctx } from './ctx';
import { registerWorkspaceFileSystem } from './files/workspaceFileSystem';
import { LifecycleWarnings } from './lifecycleWarnings';
import { registerPoolView } from './views/pool';
import { registerViews } from './views/trees';

let ctx: Ctx | undefined;

/**
 * Activation (after start-up, or when a view, command or terminal profile is used) registers
 * views and commands and returns at once. Connecting to (or starting) the sidecar happens in
 * the background, and only once something needs it: a visible Sandkasten view, a command, or
 * sandbox terminals to bring back after a window reload.
 *
 * Returns the extension API (api/sandkasten.d.ts) for other extensions; it connects lazily too.
 */
export function activate(context: vscode.ExtensionContext): SandkastenApi {
  const started = performance.now();
  ctx = new Ctx(context);
  ctx.views = registerViews(ctx);
  registerPoolView(ctx);
  registerCommands(ctx);
  registerWorkspaceFileSystem(ctx);
  ctx.pushExtensionCleanup(new LifecycleWarnings(ctx));
  refillCommandOutput(ctx);
  // The sandbox terminals this window had open before a reload.
  const reopened = ctx.terminals.reopenRemembered();
  ctx.output.info(`Activated in ${(performance.now() - started).toFixed(1)} ms (storage ${ctx.home})`);
  if (reopened > 0) void ctx.startOnce();
  return createApi(ctx);
}

export async function deactivate(): Promise<void> {
  await ctx?.dispose();
  ctx = undefined;
}
