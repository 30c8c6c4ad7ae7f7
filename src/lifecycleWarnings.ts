import * as vscode from 'vscode';
import { ListWorkspacesRequest, type WorkspaceInfo } from '../sidecar/client/protocol';
import { keepWorkspace, setPinned } from './commands/lifecycle';
import type { Ctx } from './ctx';
import { WorkspaceItem } from './views/items';

/** Per workspace, the day (YYYY-MM-DD) its warning was last shown in this VS Code: once a day, as the sidecar repeats it. */
const SHOWN_KEY = 'sandkasten.lifecycleWarningsShown';

/**
 * Notifications for workspaces in their warning period (they will be deleted for inactivity):
 * "Keep" (counts as a use), "Pin" (never removed) or "Show", once a day per workspace, when the
 * window connects and whenever workspaces change. The tree shows the same warning as a badge.
 */
export class LifecycleWarnings implements vscode.Disposable {
  private readonly subscriptions: vscode.Disposable[];
  private checking = false;
  private readonly showing = new Set<string>();

  constructor(private readonly ctx: Ctx) {
    this.subscriptions = [
      ctx.onDidConnect(() => void this.check()),
      ctx.onDidChange((areas) => {
        if (areas.includes('workspaces')) void this.check();
      }),
    ];
  }

  private async check(): Promise<void> {
    if (this.checking || this.ctx.state !== 'ready') return;
    this.checking = true;
    try {
      const warned = (await this.ctx.request(ListWorkspacesRequest.type, { warned: true })).filter((workspace) => workspace.lifecycle?.warning);
      const today = new Date().toISOString().slice(0, 10);
      const shown = this.ctx.extension.globalState.get<Record<string, string>>(SHOWN_KEY, {});
      const due = warned.filter((workspace) => shown[workspace.id] !== today && !this.showing.has(workspace.id));
      if (due.length === 0) return;
      const stillWarned = new Set(warned.map((workspace) => workspace.id));
      const kept = Object.fromEntries(Object.entries(shown).filter(([id]) => stillWarned.has(id)));
      for (const workspace of due) kept[workspace.id] = today;
      await this.ctx.extension.globalState.update(SHOWN_KEY, kept);
      for (const workspace of due) void this.show(workspace);
    } catch {
      // Not connected, or the list failed: the next change or connection tries again.
    } finally {
      this.checking = false;
    }
  }

  private async show(workspace: WorkspaceInfo): Promise<void> {
    this.showing.add(workspace.id);
    try {
      const deleteAt = workspace.lifecycle?.deleteAt ? new Date(workspace.lifecycle.deleteAt).toLocaleString() : 'soon';
      const choice = await vscode.window.showWarningMessage(
        `Workspace "${workspace.name}" will be deleted on ${deleteAt}: it has not been used since ${new Date(workspace.lastAccessedAt).toLocaleDateString()}.`,
        'Keep',
        'Pin',
        'Show',
      );
      if (choice === 'Keep') await keepWorkspace(this.ctx, new WorkspaceItem(workspace));
      else if (choice === 'Pin') await setPinned(this.ctx, workspace, true);
      else if (choice === 'Show') await this.ctx.views?.revealWorkspace(workspace.id);
    } finally {
      this.showing.delete(workspace.id);
    }
  }

  dispose(): void {
    for (const subscription of this.subscriptions) subscription.dispose();
  }
}
