import * as vscode from 'vscode';
import { ListProcessesRequest, ListSessionsRequest, ListTerminalsRequest, ListWorkspacesRequest, type ChangedArea } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { ProcessItem, SessionItem, TerminalItem, WorkspaceItem } from './items';

/** Sidecar notifications can come in bursts; one refresh per burst is enough. */
const REFRESH_DEBOUNCE_MS = 100;

/**
 * A tree filled from sidecar requests, refreshed when the sidecar reports a change in its
 * area (never on a timer). Top-level items come from `load`; an item's children, when it has
 * any, from `options.children`. Empty while Docker is unavailable, so the welcome view
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
    private readonly options: { children?: (element: T) => T[]; alsoRefreshOn?: ChangedArea[] } = {},
  ) {
    this.subscription = ctx.onDidChange((areas) => {
      if (areas.includes(area) || options.alsoRefreshOn?.some((other) => areas.includes(other))) this.refresh();
    });
  }

  refresh(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.changed.fire(), REFRESH_DEBOUNCE_MS);
  }

  getTreeItem(element: T): T {
    return element;
  }

  async getChildren(element?: T): Promise<T[]> {
    if (this.ctx.state !== 'ready') {
      void this.ctx.startOnce(); // only visible views ask for children: connect now
      return [];
    }
    if (element) return this.options.children?.(element) ?? [];
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

type SessionsTreeItem = SessionItem | TerminalItem | ProcessItem;

export function registerViews(ctx: Ctx): { workspaces: SidecarTree<WorkspaceItem>; sessions: SidecarTree<SessionsTreeItem> } {
  const workspaces = new SidecarTree(ctx, 'workspaces', async () =>
    (await ctx.request(ListWorkspacesRequest.type, {})).map((workspace) => new WorkspaceItem(workspace)),
  );
  const sessions = new SidecarTree<SessionsTreeItem>(
    ctx,
    'sessions',
    async () => {
      const [sessionList, terminals, processes] = await Promise.all([
        ctx.request(ListSessionsRequest.type, {}),
        ctx.request(ListTerminalsRequest.type, {}),
        ctx.request(ListProcessesRequest.type, {}),
      ]);
      return sessionList.map(
        (session) =>
          new SessionItem(
            session,
            terminals.filter((terminal) => terminal.sessionId === session.id),
            processes.filter((process) => process.sessionId === session.id && process.state === 'running'),
          ),
      );
    },
    {
      children: (element) =>
        element instanceof SessionItem
          ? [
              ...element.terminals.map((terminal) => new TerminalItem(terminal, element.session)),
              ...element.processes.map((process) => new ProcessItem(process, element.session)),
            ]
          : [],
      alsoRefreshOn: ['terminals', 'processes'],
    },
  );
  ctx.pushExtensionCleanup(
    workspaces,
    sessions,
    vscode.window.createTreeView('sandkasten.workspaces', { treeDataProvider: workspaces, showCollapseAll: false }),
    vscode.window.createTreeView('sandkasten.sessions', { treeDataProvider: sessions }),
  );
  return { workspaces, sessions };
}
