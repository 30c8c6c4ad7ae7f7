import * as vscode from 'vscode';
import type { PortInfo, SessionInfo } from '../../sidecar/client/protocol';
import { portRow, portsSummary } from './portText';

/**
 * The "Ports" row under a running session: what listens inside it and what is forwarded to
 * this machine. `contextValue` `ports`: Forward a Port… and Refresh act on it.
 */
export class PortsItem extends vscode.TreeItem {
  readonly portItems: PortItem[];

  constructor(
    readonly session: Pick<SessionInfo, 'id' | 'workspaceName'>,
    readonly ports: PortInfo[],
    collapsed = false,
  ) {
    super('Ports', ports.length === 0 ? vscode.TreeItemCollapsibleState.None : collapsed ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.Expanded);
    // VS Code keeps a row it knows collapsed when it gains children; the empty row is another
    // row, so the first port shows expanded (or as the person left it: idOf is remembered).
    this.id = ports.length === 0 ? `${PortsItem.idOf(session.id)}:none` : PortsItem.idOf(session.id);
    this.description = portsSummary(ports);
    this.iconPath = new vscode.ThemeIcon('plug');
    this.contextValue = 'ports';
    this.accessibilityInformation = { label: `Ports of ${session.workspaceName}: ${this.description}` };
    this.tooltip = 'Ports listening in this session, and those forwarded to this machine. Forward a Port… forwards one by number; Refresh looks again now.';
    this.portItems = ports.map((info) => new PortItem(info, session));
  }

  static idOf(sessionId: string): string {
    return `ports:${sessionId}`;
  }
}

/** One port of a session: listening, forwarded, or both; menus key off `contextValue` (portText.ts). */
export class PortItem extends vscode.TreeItem {
  constructor(
    readonly info: PortInfo,
    readonly session: Pick<SessionInfo, 'id' | 'workspaceName'>,
  ) {
    const row = portRow(info);
    super(row.label, vscode.TreeItemCollapsibleState.None);
    this.id = `port:${info.sessionId}:${info.port}`;
    this.description = row.description;
    this.iconPath = new vscode.ThemeIcon(row.icon.id, row.icon.color ? new vscode.ThemeColor(row.icon.color) : undefined);
    this.contextValue = row.contextValue;
    this.accessibilityInformation = { label: row.accessibilityLabel };
    this.tooltip = new vscode.MarkdownString(row.tooltip);
  }
}
