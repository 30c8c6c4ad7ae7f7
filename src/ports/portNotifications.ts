import * as vscode from 'vscode';
import { ListPortsRequest, ListSessionsRequest, type PortInfo } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { describeError } from '../errors';
import { copyAddress, forwardSessionPort, openInBrowser } from './portCommands';
import { PortNotices } from './portNotices';
import { COPY_ADDRESS, FORWARD, noticeButtons, noticeMessage, OPEN_IN_BROWSER, warningMessage } from './portText';

/** Readings of the port list are this far apart at least: a busy forward reports every connection. */
const MIN_READ_GAP_MS = 250;

/**
 * "Port 5173 is listening in my-api (vite)": like Dev Containers, a port that starts listening
 * in a session is announced — forwarded already (Open in Browser, Copy Address) or offered
 * (Forward, Open in Browser), as `ports.autoForward` says per kind. It reads the port list
 * when the window connects and whenever the sidecar reports a change of ports, never on a
 * timer; portNotices.ts decides what is news.
 */
export class PortNotifications implements vscode.Disposable {
  private readonly notices = new PortNotices();
  /**
   * Readings run one after another, so news comes in order, with a short gap between them; a
   * burst of changes needs one more reading, not one each.
   */
  private reading: Promise<void> = Promise.resolve();
  private readAgain = false;
  private readonly disposables: vscode.Disposable[];

  constructor(private readonly ctx: Ctx) {
    this.disposables = [
      ctx.onDidChange((areas) => {
        if (areas.includes('ports')) this.read();
      }),
      // What listens when the window connects (or the sidecar comes back) is no news.
      ctx.onDidConnect(() => {
        this.notices.startOver();
        this.read();
      }),
    ];
  }

  private read(): void {
    if (this.readAgain) return;
    this.readAgain = true;
    this.reading = this.reading.then(async () => {
      this.readAgain = false;
      await this.readOnce();
      await new Promise((resolve) => setTimeout(resolve, MIN_READ_GAP_MS));
    });
  }

  private async readOnce(): Promise<void> {
    let ports: PortInfo[];
    try {
      ports = await this.ctx.request(ListPortsRequest.type, {});
    } catch (error) {
      this.ctx.output.warn(`Could not read the ports for notifications: ${describeError(error).message}`);
      return;
    }
    const news = this.notices.read(ports);
    for (const info of news.warnings) void vscode.window.showWarningMessage(warningMessage(info));
    if (news.notices.length === 0) return;
    const names = await this.workspaceNames();
    for (const info of news.notices) void this.announce(info, names.get(info.sessionId) ?? info.workspaceId);
  }

  /** Workspace names by session id, for the sentences ("… listening in my-api"). */
  private async workspaceNames(): Promise<Map<string, string>> {
    try {
      const sessions = await this.ctx.request(ListSessionsRequest.type, {});
      return new Map(sessions.map((session) => [session.id, session.workspaceName]));
    } catch {
      return new Map();
    }
  }

  private async announce(info: PortInfo, workspaceName: string): Promise<void> {
    const choice = await vscode.window.showInformationMessage(noticeMessage(info, workspaceName), ...noticeButtons(info));
    try {
      if (choice === OPEN_IN_BROWSER) await openInBrowser(this.ctx, info);
      else if (choice === COPY_ADDRESS) await copyAddress(info);
      else if (choice === FORWARD) await forwardSessionPort(this.ctx, info.sessionId, info.port);
    } catch (error) {
      await this.ctx.showError(error, `Port ${info.port} of ${workspaceName}`);
    }
  }

  dispose(): void {
    for (const disposable of this.disposables) disposable.dispose();
  }
}
