import * as vscode from 'vscode';
import { ListSessionsRequest, ListWorkspacesRequest, type ChangedArea } from '../../sidecar/protocol';
import type { Ctx } from '../ctx';
import { SessionItem, WorkspaceItem } from './items';

/** Sidecar notifications can come in bursts; one refresh per burst is enough. */
const REFRESH_DEBOUNCE_MS = 100;

/**
 * A flat tree filled from one sidecar request, refreshed when the sidecar reports a change
 * in its area (never on a timer). Empty while Docker is unavailable, so the welcome view
 * explains why.
 */
class SidecarTree<T extends vscode.TreeItem> implements vscode.TreeDataProvider<T>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private timer: NodeJS.Timeout | undefined;
  private readonly subscription: vscode.Disposable;

  constructor(
    private readonly ctx: Ctx,
    private readonly area: ChangedArea,
    private readonly load: () => Promise<T[]>,
  ) {
    this.subscription = ctx.onDidChange((areas) => {
      if (areas.includes(area)) this.refresh();
    });
  }

  refresh(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.changed.fire(), REFRESH_DEBOUNCE_MS);
  }

  getTreeItem(element: T): T {
    return element;
  }

  async getChildren(): Promise<T[]> {
    if (this.ctx.state !== 'ready') return [];
    try {
      return await this.load();
    } catch (error) {
      void this.ctx.showError(error, `Could not list ${this.area}`);
      return [];
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.subscription.dispose();
    this.changed.dispose();
  }
}

export function registerViews(ctx: Ctx): { workspaces: SidecarTree<WorkspaceItem>; sessions: SidecarTree<SessionItem> } {
  const workspaces = new SidecarTree(ctx, 'workspaces', async () =>
    (await ctx.request(ListWorkspacesRequest.type, {})).map((workspace) => new WorkspaceItem(workspace)),
  );
  const sessions = new SidecarTree(ctx, 'sessions', async () =>
    (await ctx.request(ListSessionsRequest.type, {})).map((session) => new SessionItem(session)),
  );
  ctx.push(
    workspaces,
    sessions,
    vscode.window.createTreeView('sandkasten.workspaces', { treeDataProvider: workspaces, showCollapseAll: false }),
    vscode.window.createTreeView('sandkasten.sessions', { treeDataProvider: sessions }),
  );
  return { workspaces, sessions };
}
