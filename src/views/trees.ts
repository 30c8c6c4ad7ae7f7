import * as vscode from 'vscode';
import {
  ListJoinedSharesRequest,
  ListPortsRequest,
  ListProcessesRequest,
  ListSessionsRequest,
  ListSharesRequest,
  ListTerminalsRequest,
  ListWorkspacesPageRequest,
  WorkspaceHistoryRequest,
  type ChangedArea,
  type JoinedShareInfo,
  type PortInfo,
  type ShareInfo,
  type WorkspaceInfo,
} from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { describeError } from '../errors';
import { PortsItem, type PortItem } from '../ports/portItems';
import { JoinedSessionItem, LoadMoreItem, ProcessItem, SessionItem, SharedWithMeItem, TerminalItem, WorkspaceItem } from './items';
import { participantsChildren, participantsRoots, ShareItem, type ParticipantsTreeItem } from './participants';

/** Sidecar notifications can come in bursts; one refresh per burst is enough. */
const REFRESH_DEBOUNCE_MS = 100;
/** "2 min ago" must stay true: visible trees are redrawn this often. */
const RELATIVE_TIME_REFRESH_MS = 30_000;
/** How long a reveal waits for the tree to list a row that was just made. */
const REVEAL_WAIT_MS = 5_000;
/** Collapsed rows remembered per window (oldest forgotten first). */
const MAX_COLLAPSED_REMEMBERED = 200;
/** Recent events shown in a workspace's tooltip (`sandkasten workspace history` has them all). */
const HISTORY_IN_TOOLTIP = 5;
/** Workspaces shown at first, and added by each "Load more". */
const WORKSPACE_PAGE = 200;

/**
 * A tree filled from sidecar requests, refreshed when the sidecar reports a change in its
 * area, and every half minute while visible (for relative times). Top-level items come from
 * `load`; an item's children, when it has any, from `options.children`. Empty while Docker is
 * unavailable, so the welcome view explains why. It remembers the selected row and collapsed
 * rows in the window's state, so a reload shows the tree as it was.
 */
class SidecarTree<T extends vscode.TreeItem> implements vscode.TreeDataProvider<T>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly loaded = new vscode.EventEmitter<T[]>();
  private timer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  /** The top-level rows of the last load, for getParent and reveal. */
  private roots: T[] = [];
  private restoredSelection = false;
  readonly view: vscode.TreeView<T>;

  constructor(
    private readonly ctx: Ctx,
    private readonly viewId: string,
    private readonly area: ChangedArea,
    private readonly load: (isCollapsed: (id: string) => boolean) => Promise<T[]>,
    private readonly options: {
      children?: (element: T) => T[];
      alsoRefreshOn?: ChangedArea[];
      /** Fills in what only a hover needs (a workspace's recent history) when the tooltip is shown. */
      resolve?: (element: T, token: vscode.CancellationToken) => Promise<void>;
      /** Its rows come from the sidecar alone (shares): listed while Docker is unavailable too. */
      withoutDocker?: boolean;
    } = {},
  ) {
    this.view = vscode.window.createTreeView(viewId, { treeDataProvider: this });
    const relativeTimes = setInterval(() => {
      if (this.view.visible && ctx.state === 'ready') this.changed.fire();
    }, RELATIVE_TIME_REFRESH_MS);
    this.disposables.push(
      this.view,
      { dispose: () => clearInterval(relativeTimes) },
      ctx.onDidChange((areas) => {
        if (areas.includes(area) || options.alsoRefreshOn?.some((other) => areas.includes(other))) this.refresh();
      }),
      this.view.onDidChangeSelection(({ selection }) => void this.windowState.update(this.selectionKey, selection[0]?.id)),
      this.view.onDidCollapseElement(({ element }) => this.rememberCollapsed(element.id, true)),
      this.view.onDidExpandElement(({ element }) => this.rememberCollapsed(element.id, false)),
    );
  }

  private get windowState(): vscode.Memento {
    return this.ctx.extension.workspaceState;
  }

  private get selectionKey(): string {
    return `sandkasten.selection.${this.viewId}`;
  }

  private get collapsedKey(): string {
    return `sandkasten.collapsed.${this.viewId}`;
  }

  private collapsed(): string[] {
    return this.windowState.get<string[]>(this.collapsedKey, []);
  }

  private rememberCollapsed(id: string | undefined, collapsed: boolean): void {
    if (!id) return;
    const others = this.collapsed().filter((entry) => entry !== id);
    void this.windowState.update(this.collapsedKey, collapsed ? [...others, id].slice(-MAX_COLLAPSED_REMEMBERED) : others);
  }

  refresh(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.changed.fire(), REFRESH_DEBOUNCE_MS);
  }

  getTreeItem(element: T): T {
    return element;
  }

  async resolveTreeItem(_item: vscode.TreeItem, element: T, token: vscode.CancellationToken): Promise<T> {
    await this.options.resolve?.(element, token).catch(() => undefined);
    return element;
  }

  getParent(element: T): T | undefined {
    if (this.roots.includes(element)) return undefined;
    return this.parentAmong(this.roots, element.id);
  }

  /** The row among `rows` and their descendants whose child has this id. */
  private parentAmong(rows: T[], id: string | undefined): T | undefined {
    for (const row of rows) {
      const children = this.options.children?.(row) ?? [];
      if (children.some((child) => child.id === id)) return row;
      const deeper = this.parentAmong(children, id);
      if (deeper) return deeper;
    }
    return undefined;
  }

  /** The row with this id among `rows` and their descendants. */
  private findAmong(rows: T[], id: string): T | undefined {
    for (const row of rows) {
      if (row.id === id) return row;
      const deeper = this.findAmong(this.options.children?.(row) ?? [], id);
      if (deeper) return deeper;
    }
    return undefined;
  }

  async getChildren(element?: T): Promise<T[]> {
    const usable = this.ctx.state === 'ready' || (this.options.withoutDocker === true && this.ctx.state === 'dockerUnavailable');
    if (!usable) {
      void this.ctx.startOnce(); // only visible views ask for children: connect now
      return [];
    }
    if (element) return this.options.children?.(element) ?? [];
    try {
      const collapsed = new Set(this.collapsed());
      this.roots = await this.load((id) => collapsed.has(id));
    } catch (error) {
      void this.ctx.showError(error, `Could not list ${this.area}`);
      this.roots = [];
    }
    this.loaded.fire(this.roots);
    if (!this.restoredSelection && this.roots.length > 0) {
      this.restoredSelection = true;
      const selected = this.windowState.get<string>(this.selectionKey);
      if (selected) void this.reveal(selected, { focus: false }).catch(() => undefined);
    }
    return this.roots;
  }

  /**
   * Selects the row with this id (e.g. `workspace:w-…`), at once when listed, else after the
   * refresh that lists it; resolves false when it did not appear in time.
   */
  async reveal(id: string, options: { focus: boolean } = { focus: true }): Promise<boolean> {
    const find = (rows: T[]) => this.findAmong(rows, id);
    // A hidden view is shown only when the person's action is about it (focus), never to
    // select a row beside something else that has the keyboard (a terminal just opened).
    if (!this.view.visible && !options.focus) return false;
    const listed = find(this.roots);
    if (listed && !this.view.visible) {
      await this.view.reveal(listed, { select: true, focus: true, expand: true });
      return true;
    }
    const next = new Promise<T | undefined>((resolve) => {
      const timer = setTimeout(() => done(undefined), REVEAL_WAIT_MS);
      const subscription = this.loaded.event((rows) => {
        const row = find(rows);
        if (row) done(row);
      });
      const done = (row: T | undefined) => {
        clearTimeout(timer);
        subscription.dispose();
        resolve(row);
      };
    });
    clearTimeout(this.timer);
    // A hidden view loads nothing: show it.
    if (!this.view.visible) await vscode.commands.executeCommand(`${this.viewId}.focus`);
    this.changed.fire();
    const row = await next;
    if (!row) return false;
    await this.view.reveal(row, { select: true, focus: options.focus, expand: true });
    return true;
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const disposable of this.disposables) disposable.dispose();
    this.changed.dispose();
    this.loaded.dispose();
  }
}

type SessionsTreeItem = SessionItem | TerminalItem | ProcessItem | PortsItem | PortItem | SharedWithMeItem | JoinedSessionItem;

/** What commands can ask of the views: select a row, e.g. after it was made. */
export interface SandkastenViews {
  revealWorkspace(workspaceId: string): Promise<boolean>;
  revealSession(sessionId: string): Promise<boolean>;
  /** A session someone shares with us, under "Shared with me" in the Sessions view. */
  revealJoinedSession(joinedShareId: string): Promise<boolean>;
  /** A session we share, in the Participants view (shown when hidden: the person just shared it). */
  revealShare(sessionId: string): Promise<boolean>;
  /** The Workspaces view shows another page. */
  loadMoreWorkspaces(): void;
}

export function registerViews(ctx: Ctx): SandkastenViews {
  // Pages, not the whole table: agents make workspaces by the thousand.
  let shownWorkspaces = WORKSPACE_PAGE;
  const workspaces = new SidecarTree<WorkspaceItem | LoadMoreItem>(ctx, 'sandkasten.workspaces', 'workspaces', async () => {
    const shown: WorkspaceInfo[] = [];
    let cursor: string | undefined;
    let total = 0;
    do {
      const page = await ctx.request(ListWorkspacesPageRequest.type, { limit: Math.min(1000, shownWorkspaces - shown.length), cursor });
      shown.push(...page.workspaces);
      total = page.total;
      cursor = page.nextCursor;
    } while (cursor && shown.length < shownWorkspaces);
    const rows: Array<WorkspaceItem | LoadMoreItem> = shown.map((workspace) => new WorkspaceItem(workspace));
    if (cursor) rows.push(new LoadMoreItem(total - shown.length, 'sandkasten.workspaces.loadMore'));
    return rows;
  }, {
    resolve: async (element, token) => {
      if (!(element instanceof WorkspaceItem)) return;
      const events = await ctx.request(WorkspaceHistoryRequest.type, { id: element.workspace.id, limit: HISTORY_IN_TOOLTIP }, token);
      element.addHistory(events);
    },
  });
  const sessions = new SidecarTree<SessionsTreeItem>(
    ctx,
    'sandkasten.sessions',
    'sessions',
    async (isCollapsed) => {
      const [sessionList, terminals, processes, shares, joined, ports] = await Promise.all([
        ctx.request(ListSessionsRequest.type, {}),
        ctx.request(ListTerminalsRequest.type, {}),
        ctx.request(ListProcessesRequest.type, {}),
        listShares(ctx),
        listJoinedShares(ctx),
        listPorts(ctx),
      ]);
      const rows: SessionsTreeItem[] = sessionList.map(
        (session) =>
          new SessionItem(
            session,
            terminals.filter((terminal) => terminal.sessionId === session.id),
            processes.filter((process) => process.sessionId === session.id && process.state === 'running'),
            {
              collapsed: isCollapsed(SessionItem.idOf(session.id)),
              lastOutputs: ctx.runHistory.countFor(session.id),
              share: shares.find((share) => share.sessionId === session.id),
              // A container that runs (frozen and paused ones too) has ports to list and forward.
              ports:
                session.state === 'running' || session.state === 'paused'
                  ? new PortsItem(
                      session,
                      ports.filter((port) => port.sessionId === session.id),
                      isCollapsed(PortsItem.idOf(session.id)),
                    )
                  : undefined,
            },
          ),
      );
      if (joined.length > 0) {
        const joinedRows = joined.map((entry) => new JoinedSessionItem(entry, isCollapsed(JoinedSessionItem.idOf(entry.id))));
        rows.push(new SharedWithMeItem(joinedRows, isCollapsed(SharedWithMeItem.ID)));
      }
      return rows;
    },
    {
      children: (element) =>
        element instanceof SessionItem
          ? [
              ...element.terminals.map((terminal) => new TerminalItem(terminal, element.session)),
              ...element.processes.map((process) => new ProcessItem(process, element.session)),
              ...(element.portsItem ? [element.portsItem] : []),
            ]
          : element instanceof PortsItem
            ? element.portItems
            : element instanceof SharedWithMeItem
              ? element.sessions
              : element instanceof JoinedSessionItem
                ? element.terminalItems()
                : [],
      alsoRefreshOn: ['terminals', 'processes', 'shares', 'ports'],
    },
  );
  const participants = new SidecarTree<ParticipantsTreeItem>(
    ctx,
    'sandkasten.participants',
    'shares',
    async (isCollapsed) => {
      const [shares, joined] = await Promise.all([ctx.request(ListSharesRequest.type, {}), ctx.request(ListJoinedSharesRequest.type, {})]);
      return participantsRoots(shares, joined, isCollapsed);
    },
    // A guest needs no Docker of their own: the host's session runs on the host's.
    { children: participantsChildren, withoutDocker: true },
  );
  ctx.pushExtensionCleanup(workspaces, sessions, participants);
  return {
    revealWorkspace: (workspaceId) => workspaces.reveal(WorkspaceItem.idOf(workspaceId)),
    // Without focus: a terminal opened beside it keeps the keyboard.
    revealSession: (sessionId) => sessions.reveal(SessionItem.idOf(sessionId), { focus: false }),
    revealJoinedSession: (joinedShareId) => sessions.reveal(JoinedSessionItem.idOf(joinedShareId), { focus: false }),
    revealShare: (sessionId) => participants.reveal(ShareItem.idOf(sessionId)),
    loadMoreWorkspaces: () => {
      shownWorkspaces += WORKSPACE_PAGE;
      workspaces.refresh();
    },
  };
}

/**
 * The Sessions view lists shares beside sessions; a sidecar that cannot list them (sharing
 * failed to start) must not empty the whole view, so that failure goes to the log only.
 */
function listShares(ctx: Ctx): Promise<ShareInfo[]> {
  return ctx.request(ListSharesRequest.type, {}).catch((error: unknown) => {
    ctx.output.warn(`Could not list shared sessions: ${describeError(error).message}`);
    return [];
  });
}

/** Ports likewise: a sidecar that cannot list them must not empty the view. */
function listPorts(ctx: Ctx): Promise<PortInfo[]> {
  return ctx.request(ListPortsRequest.type, {}).catch((error: unknown) => {
    ctx.output.warn(`Could not list the sessions' ports: ${describeError(error).message}`);
    return [];
  });
}

function listJoinedShares(ctx: Ctx): Promise<JoinedShareInfo[]> {
  return ctx.request(ListJoinedSharesRequest.type, {}).catch((error: unknown) => {
    ctx.output.warn(`Could not list the sessions shared with you: ${describeError(error).message}`);
    return [];
  });
}
