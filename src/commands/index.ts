import * as vscode from 'vscode';
import type { Ctx } from '../ctx';
import { joinSharedSession, leaveSharedSession, openSharedFiles, openSharedTerminal, registerJoinLinkHandler } from '../share/joinCommands';
import {
  allowJoin,
  allowJoinAsEditor,
  allowJoinAsViewer,
  copyShareCode,
  copyShareLink,
  denyJoin,
  makeGuestEditor,
  makeGuestViewer,
  openPrivateTerminal,
  removeGuest,
  revokeShareLink,
  shareSession,
  stopSharing,
} from '../share/shareCommands';
import { ShareNotifications } from '../share/shareNotifications';
import { copyPortAddress, forwardNewPort, forwardPort, openPortInBrowser, refreshPorts, setPortLabel, stopForwardingPort } from '../ports/portCommands';
import { PortNotifications } from '../ports/portNotifications';
import { JoinedSessionItem, ProcessItem, SessionItem, TerminalItem, WorkspaceItem } from '../views/items';
import { openDashboard } from '../dashboard/dashboardPanel';
import { copyApiEndpoint } from './api';
import { runDiagnostics } from './diagnostics';
import { chooseEngine, EngineMismatchPrompt } from './engine';
import { runCommand } from './exec';
import { openWorkspaceFiles } from './files';
import { showMenu } from './menu';
import { showProcessOutput, stopProcess } from './processes';
import {
  copyContainerId,
  destroySession,
  freezeSession,
  inspectSession,
  restartSession,
  showLastOutput,
  showSessionLogs,
  startAnotherSession,
  startSession,
  stopSession,
} from './sessions';
import { closeTerminal, openTerminal } from './terminals';
import {
  archiveWorkspace,
  changeImage,
  cloneWorkspace,
  createSnapshot,
  deleteSnapshot,
  exportWorkspace,
  importWorkspace,
  keepWorkspace,
  pinWorkspace,
  previewLifecycle,
  restoreSnapshot,
  unpinWorkspace,
} from './lifecycle';
import { createWorkspace, deleteWorkspace, renameWorkspace } from './workspaces';

type CommandHandler = (ctx: Ctx, ...args: unknown[]) => unknown;

/** Every command, by id. Each id must also be declared in package.json (checked below). */
export const COMMANDS: Record<string, CommandHandler> = {
  'sandkasten.workspace.create': createWorkspace,
  'sandkasten.workspace.delete': deleteWorkspace,
  'sandkasten.workspace.rename': renameWorkspace,
  'sandkasten.workspace.pin': pinWorkspace,
  'sandkasten.workspace.unpin': unpinWorkspace,
  'sandkasten.workspace.keep': keepWorkspace,
  'sandkasten.workspace.changeImage': changeImage,
  'sandkasten.workspace.clone': cloneWorkspace,
  'sandkasten.workspace.export': exportWorkspace,
  'sandkasten.workspace.import': importWorkspace,
  'sandkasten.workspace.archive': archiveWorkspace,
  'sandkasten.snapshot.create': createSnapshot,
  'sandkasten.snapshot.restore': restoreSnapshot,
  'sandkasten.snapshot.delete': deleteSnapshot,
  'sandkasten.lifecycle.preview': previewLifecycle,
  'sandkasten.openDashboard': openDashboard,
  'sandkasten.session.start': startSession,
  'sandkasten.session.startAnother': startAnotherSession,
  'sandkasten.session.stop': stopSession,
  'sandkasten.session.freeze': freezeSession,
  'sandkasten.session.restart': restartSession,
  'sandkasten.session.destroy': destroySession,
  'sandkasten.session.showLogs': showSessionLogs,
  'sandkasten.session.inspect': inspectSession,
  'sandkasten.session.showLastOutput': showLastOutput,
  'sandkasten.session.copyContainerId': copyContainerId,
  'sandkasten.exec.run': runCommand,
  'sandkasten.openWorkspaceFiles': openWorkspaceFiles,
  'sandkasten.terminal.open': openTerminal,
  'sandkasten.terminal.close': closeTerminal,
  'sandkasten.process.stop': stopProcess,
  'sandkasten.process.showOutput': showProcessOutput,
  'sandkasten.pool.configure': () => vscode.commands.executeCommand('workbench.action.openSettings', 'sandkasten.pool'),
  'sandkasten.refresh': (ctx) => ctx.refreshStatus(),
  'sandkasten.retry': (ctx) => ctx.start(),
  'sandkasten.showLogs': (ctx) => ctx.output.show(),
  'sandkasten.runDiagnostics': runDiagnostics,
  'sandkasten.chooseEngine': chooseEngine,
  'sandkasten.menu': showMenu,
  'sandkasten.workspaces.loadMore': (ctx) => ctx.views?.loadMoreWorkspaces(),
  'sandkasten.api.copy': copyApiEndpoint,
  'sandkasten.shareSession': shareSession,
  'sandkasten.stopSharing': stopSharing,
  'sandkasten.copyShareLink': copyShareLink,
  'sandkasten.copyShareCode': copyShareCode,
  'sandkasten.revokeShareLink': revokeShareLink,
  'sandkasten.openPrivateTerminal': openPrivateTerminal,
  'sandkasten.makeGuestEditor': makeGuestEditor,
  'sandkasten.makeGuestViewer': makeGuestViewer,
  'sandkasten.removeGuest': removeGuest,
  'sandkasten.allowJoin': allowJoin,
  'sandkasten.allowJoinAsEditor': allowJoinAsEditor,
  'sandkasten.allowJoinAsViewer': allowJoinAsViewer,
  'sandkasten.denyJoin': denyJoin,
  'sandkasten.joinSharedSession': joinSharedSession,
  'sandkasten.leaveSharedSession': leaveSharedSession,
  'sandkasten.openSharedTerminal': openSharedTerminal,
  'sandkasten.openSharedFiles': openSharedFiles,
  'sandkasten.port.openInBrowser': openPortInBrowser,
  'sandkasten.port.copyAddress': copyPortAddress,
  'sandkasten.port.stopForwarding': stopForwardingPort,
  'sandkasten.port.forward': forwardPort,
  'sandkasten.port.add': forwardNewPort,
  'sandkasten.port.setLabel': setPortLabel,
  'sandkasten.port.refresh': refreshPorts,
  'sandkasten.copyId': async (_ctx, item) => {
    const id =
      item instanceof WorkspaceItem
        ? item.workspace.id
        : item instanceof SessionItem
          ? item.session.id
          : item instanceof JoinedSessionItem
            ? item.joined.sessionId
            : item instanceof TerminalItem
              ? item.terminal.id
              : item instanceof ProcessItem
                ? item.process.id
                : undefined;
    if (id) await vscode.env.clipboard.writeText(id);
  },
};

export function registerCommands(ctx: Ctx): void {
  for (const [id, handler] of Object.entries(COMMANDS)) {
    ctx.pushExtensionCleanup(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await handler(ctx, ...args);
        } catch (error) {
          await ctx.showError(error);
        }
      }),
    );
  }
  // Not commands, but they act for the person like them: join-request questions, join links, ports that start listening, another engine.
  ctx.pushExtensionCleanup(new ShareNotifications(ctx), registerJoinLinkHandler(ctx), new PortNotifications(ctx), new EngineMismatchPrompt(ctx));
  const declared = new Set<string>((ctx.extension.extension.packageJSON.contributes?.commands ?? []).map((c: { command: string }) => c.command));
  const missing = Object.keys(COMMANDS).filter((id) => !declared.has(id));
  if (missing.length > 0) ctx.output.error(`Commands missing from package.json: ${missing.join(', ')}`);
}
