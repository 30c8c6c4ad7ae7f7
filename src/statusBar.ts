import * as vscode from 'vscode';
import type { ConnectionState } from './ctx';

/** How the item looks in each connection state. */
const ICONS: Record<ConnectionState, string> = {
  starting: '$(loading~spin)',
  ready: '$(vm)',
  dockerUnavailable: '$(warning)',
  failed: '$(error)',
};

/**
 * The status bar item: `$(vm) Sandkasten: N running` once connected, a warning when Docker or
 * the sidecar is not there. A click opens the quick menu (sandkasten.menu).
 */
export class SandkastenStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('sandkasten.status', vscode.StatusBarAlignment.Left, 10);
  private state: ConnectionState = 'starting';
  private detail = '';
  private running: number | undefined;

  constructor() {
    this.item.name = 'Sandkasten';
    this.item.command = 'sandkasten.menu';
  }

  show(state: ConnectionState, detail: string): void {
    this.state = state;
    this.detail = detail;
    this.render();
  }

  /** How many sessions run; undefined until known. */
  setRunning(running: number | undefined): void {
    this.running = running;
    this.render();
  }

  private render(): void {
    const { state, running } = this;
    const count = state === 'ready' && running !== undefined ? `: ${running} running` : '';
    this.item.text = `${ICONS[state]} Sandkasten${count}`;
    this.item.tooltip = `${this.detail}${count ? `\n${running} session(s) running` : ''}\nClick for the Sandkasten menu.`;
    this.item.accessibilityInformation = { label: `Sandkasten${count ? `, ${running} sessions running` : ''}. ${this.detail}`, role: 'button' };
    this.item.backgroundColor = state === 'dockerUnavailable' || state === 'failed' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
