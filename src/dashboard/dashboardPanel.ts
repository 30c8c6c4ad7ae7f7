import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { DashboardSubscribeRequest, DashboardUnsubscribeRequest, DashboardUpdateNotification } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { describeError } from '../errors';
import type { FromWebview, ToWebview } from './webview/messages';

/** Where the webview's script and style are bundled (esbuild.mjs): the only files it may load. */
const WEBVIEW_FOLDER = ['dist', 'webview'];

/** `Sandkasten: Open Dashboard`: one panel per window, revealed when it is open already. */
export function openDashboard(ctx: Ctx): void {
  let dashboard = dashboards.get(ctx);
  if (!dashboard) {
    dashboard = new Dashboard(ctx);
    dashboards.set(ctx, dashboard);
    ctx.pushExtensionCleanup(dashboard);
  }
  dashboard.show();
}

const dashboards = new WeakMap<Ctx, Dashboard>();

/**
 * The dashboard of one window. While its panel is visible and its page loaded, it is
 * subscribed to the sidecar's updates (again after the sidecar restarted) and forwards them
 * to the page; hidden or closed, it unsubscribes, so the sidecar samples nothing for it.
 */
class Dashboard implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  /** The page asked for a snapshot and is still there to take updates. */
  private pageReady = false;
  private subscribed = false;
  private readonly listeners: vscode.Disposable[];

  constructor(private readonly ctx: Ctx) {
    // Registered once for the extension's lifetime: updates only come while subscribed.
    ctx.onNotification(DashboardUpdateNotification.type, (update) => {
      if (this.subscribed) this.post({ type: 'update', update });
    });
    this.listeners = [ctx.onDidConnect(() => void this.subscribeIfWanted())];
  }

  show(): void {
    if (this.panel) {
      this.panel.reveal();
      return;
    }
    const root = vscode.Uri.joinPath(this.ctx.extension.extensionUri, ...WEBVIEW_FOLDER);
    const panel = vscode.window.createWebviewPanel('sandkasten.dashboard', 'Sandkasten Dashboard', vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [root],
    });
    panel.iconPath = vscode.Uri.joinPath(this.ctx.extension.extensionUri, 'media', 'sandkasten.svg');
    panel.webview.html = pageHtml(panel.webview, root);
    panel.webview.onDidReceiveMessage((message: FromWebview) => {
      if (message?.type !== 'ready') return;
      this.pageReady = true;
      // A page that loaded again (shown after being hidden) starts from a snapshot.
      this.subscribed = false;
      void this.subscribeIfWanted();
    });
    panel.onDidChangeViewState(() => {
      // Hidden, the page is discarded (and loads again when shown): nothing to send it meanwhile.
      if (!panel.visible) {
        this.pageReady = false;
        void this.unsubscribe();
      }
    });
    panel.onDidDispose(() => {
      this.panel = undefined;
      this.pageReady = false;
      void this.unsubscribe();
    });
    this.panel = panel;
  }

  private async subscribeIfWanted(): Promise<void> {
    if (!this.panel || !this.pageReady) return;
    try {
      const snapshot = await this.ctx.request(DashboardSubscribeRequest.type, {});
      if (!this.panel || !this.pageReady) {
        await this.unsubscribe(true);
        return;
      }
      this.subscribed = true;
      this.post({ type: 'snapshot', snapshot });
    } catch (error) {
      this.post({ type: 'problem', text: `No live figures: ${describeError(error).message}` });
    }
  }

  /** `evenIfNotSubscribed`: a subscription answered after the page went away. */
  private async unsubscribe(evenIfNotSubscribed = false): Promise<void> {
    if (!this.subscribed && !evenIfNotSubscribed) return;
    this.subscribed = false;
    // A sidecar that is gone has forgotten the subscription with the connection.
    await this.ctx.request(DashboardUnsubscribeRequest.type, {}).catch(() => undefined);
  }

  private post(message: ToWebview): void {
    if (this.panel && this.pageReady) void this.panel.webview.postMessage(message);
  }

  dispose(): void {
    for (const listener of this.listeners) listener.dispose();
    this.panel?.dispose();
  }
}

/** The page: only the bundled script (by nonce) and style, from the webview folder; nothing remote, no inline style. */
function pageHtml(webview: vscode.Webview, root: vscode.Uri): string {
  const nonce = randomBytes(16).toString('base64');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(root, 'dashboard.js'));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(root, 'dashboard.css'));
  const policy = [`default-src 'none'`, `img-src ${webview.cspSource} data:`, `style-src ${webview.cspSource}`, `script-src 'nonce-${nonce}'`].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${policy}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>Sandkasten Dashboard</title>
</head>
<body>
<main id="dashboard"></main>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
}
