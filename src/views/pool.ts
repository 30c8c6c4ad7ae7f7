import * as vscode from 'vscode';
import { PoolStatusRequest, type PoolImageStatus } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';

/** Pool changes come in bursts while refilling; the tree and status bar follow at this pace. */
const REFRESH_DEBOUNCE_MS = 200;
const STATUS_MESSAGE_MS = 4000;

class PoolImageItem extends vscode.TreeItem {
  constructor(readonly status: PoolImageStatus) {
    super(status.image, vscode.TreeItemCollapsibleState.None);
    this.id = `pool:${status.image}`;
    const refilling = status.refilling > 0 ? ` · refilling ${status.refilling}` : '';
    this.description = `${status.ready}/${status.target} ready${refilling}`;
    this.iconPath = status.error
      ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'))
      : status.refilling > 0
        ? new vscode.ThemeIcon('sync~spin')
        : status.ready >= status.target
          ? new vscode.ThemeIcon('pass-filled', new vscode.ThemeColor('testing.iconPassed'))
          : new vscode.ThemeIcon('circle-large-outline');
    this.tooltip = status.error ?? `${status.ready} of ${status.target} containers of ${status.image} are warm; a new workspace's first session takes one instantly.`;
    this.contextValue = 'poolImage';
    this.accessibilityInformation = { label: `Pool image ${status.image}: ${status.ready} of ${status.target} warm${status.refilling > 0 ? `, refilling ${status.refilling}` : ''}${status.error ? `, ${status.error}` : ''}` };
  }
}

/** The Pool view: per image, ready / target and refilling; refreshed on the sidecar's `pool` changes. */
class PoolTree implements vscode.TreeDataProvider<PoolImageItem>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private timer: NodeJS.Timeout | undefined;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly ctx: Ctx) {
    this.subscription = ctx.onDidChange((areas) => {
      if (!areas.includes('pool')) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.changed.fire();
        void this.flashStatus();
      }, REFRESH_DEBOUNCE_MS);
    });
  }

  getTreeItem(element: PoolImageItem): PoolImageItem {
    return element;
  }

  async getChildren(): Promise<PoolImageItem[]> {
    if (this.ctx.state !== 'ready') {
      void this.ctx.startOnce();
      return [];
    }
    try {
      const status = await this.ctx.request(PoolStatusRequest.type, {});
      await vscode.commands.executeCommand('setContext', 'sandkasten.poolEnabled', status.enabled);
      return status.images.map((image) => new PoolImageItem(image));
    } catch (error) {
      void this.ctx.showError(error, 'Could not read the pool');
      return [];
    }
  }

  /** Shows the pool briefly in the status bar while it changes. */
  private async flashStatus(): Promise<void> {
    if (this.ctx.state !== 'ready') return;
    const status = await this.ctx.request(PoolStatusRequest.type, {}).catch(() => undefined);
    if (!status || status.images.length === 0) return;
    const ready = status.images.reduce((sum, i) => sum + i.ready, 0);
    const target = status.images.reduce((sum, i) => sum + i.target, 0);
    const refilling = status.images.some((i) => i.refilling > 0);
    vscode.window.setStatusBarMessage(`${refilling ? '$(sync~spin)' : '$(pass)'} Sandkasten pool ${ready}/${target} ready`, STATUS_MESSAGE_MS);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.subscription.dispose();
    this.changed.dispose();
  }
}

export function registerPoolView(ctx: Ctx): void {
  const tree = new PoolTree(ctx);
  ctx.pushExtensionCleanup(tree, vscode.window.createTreeView('sandkasten.pool', { treeDataProvider: tree }));
}
