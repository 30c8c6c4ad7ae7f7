import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { Ctx } from './ctx';
import { sandboxTerminals } from './terminals';
import { registerPoolView } from './views/pool';
import { registerViews } from './views/trees';

let ctx: Ctx | undefined;

/**
 * Activation registers views and commands and returns at once: connecting to (or starting)
 * the sidecar and checking Docker happen in the background, shown in the views' state.
 */
export function activate(context: vscode.ExtensionContext): void {
  const started = performance.now();
  ctx = new Ctx(context);
  registerViews(ctx);
  registerPoolView(ctx);
  registerCommands(ctx);
  // The terminal profile, and the sandbox terminals this window had open before a reload.
  sandboxTerminals(ctx).reopenRemembered();
  ctx.output.info(`Activated in ${(performance.now() - started).toFixed(1)} ms (storage ${ctx.home})`);
  void ctx.start();
}

export async function deactivate(): Promise<void> {
  await ctx?.dispose();
  ctx = undefined;
}
