import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { Ctx } from './ctx';
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
  registerCommands(ctx);
  ctx.output.info(`Activated in ${(performance.now() - started).toFixed(1)} ms (storage ${ctx.home})`);
  void ctx.start();
}

export async function deactivate(): Promise<void> {
  await ctx?.dispose();
  ctx = undefined;
}
