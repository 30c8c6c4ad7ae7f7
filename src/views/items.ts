import * as vscode from 'vscode';
import { isSharedId, type JoinedShareInfo, type Origin, type ProcessInfo, type SessionInfo, type ShareInfo, type TerminalInfo, type WorkspaceEvent, type WorkspaceInfo, type WorkspaceKind } from '../../sidecar/client/protocol';
import { formatBytes } from '../../sidecar/client/units';
import { sessionStateWord, terminalStateWord, workspaceStateWord } from '../../sidecar/client/vocabulary';
import { guestCount, joinedSessionDescription, joinedSessionLabel, markdownText, roleMeaning, shareDescription, withArticle } from '../share/shareText';
import type { PortsItem } from '../ports/portItems';

const KIND_ICONS: Record<WorkspaceKind, string> = {
  ephemeral: 'flame',
  session: 'clock',
  persistent: 'database',
  collaborative: 'organization',
};

/** A workspace in the tree; menus key off `contextValue` (`workspace`). */
export class WorkspaceItem extends vscode.TreeItem {
  constructor(readonly workspace: WorkspaceInfo) {
    super(workspace.name, vscode.TreeItemCollapsibleState.None);
    this.id = WorkspaceItem.idOf(workspace.id);
    const disk = workspace.diskBytes !== undefined ? ` · ${formatBytes(workspace.diskBytes)}` : '';
    const state = workspaceStateWord(workspace.state);
    const warning = workspace.lifecycle?.warning;
    const deleteDay = workspace.lifecycle?.deleteAt ? new Date(workspace.lifecycle.deleteAt).toLocaleDateString() : undefined;
    const lifecycleMark = warning && deleteDay ? `⚠ deleted ${deleteDay} · ` : workspace.pinned ? 'pinned · ' : '';
    this.description = `${lifecycleMark}${workspace.hostNetwork ? '⚠ host network · ' : ''}${workspace.kind} · ${state} · ${relativeTime(workspace.lastAccessedAt)}${disk}${originMark(workspace.origin)}`;
    this.accessibilityInformation = {
      label: `Workspace ${workspace.name}, ${workspace.kind}, ${state}${workspace.pinned ? ', pinned' : ''}${warning && deleteDay ? `, will be deleted on ${deleteDay}` : ''}${workspace.hostNetwork ? ', uses the host network' : ''}, last used ${relativeTime(workspace.lastAccessedAt)}${originSentence(workspace.origin)}`,
    };
    // A warning badge: it will be deleted soon, or its sessions can reach every service of this machine.
    this.iconPath =
      warning || workspace.hostNetwork
        ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('editorWarning.foreground'))
        : workspace.state === 'archived'
          ? new vscode.ThemeIcon('archive')
          : new vscode.ThemeIcon(workspace.pinned ? 'pinned' : KIND_ICONS[workspace.kind]);
    // workspace.<state>.<pinned|unpinned>[.warned]: menus offer Pin or Unpin, Keep while warned.
    this.contextValue = `workspace.${workspace.state}.${workspace.pinned ? 'pinned' : 'unpinned'}${warning ? '.warned' : ''}`;
    this.tooltip = new vscode.MarkdownString(
      [
        `**${workspace.id}** (${workspace.kind})`,
        '',
        ...(warning ? [`$(warning) **${warning}** Keep it (context menu: Keep Workspace) or pin it.`, ''] : []),
        ...(workspace.hostNetwork ? ["$(warning) **Host network**: its sessions can reach every service on this machine, 127.0.0.1 included.", ''] : []),
        `Image: \`${workspace.image}\`  `,
        `State: ${state}  `,
        `Volume: \`${workspace.volume}\` at /workspace  `,
        ...(workspace.origin ? [`Made by: ${ORIGIN_NAMES[workspace.origin]}  `] : []),
        ...(workspace.diskBytes !== undefined ? [`Disk: ${formatBytes(workspace.diskBytes)} used (volume and container; limit: sandkasten.limits.diskMb)  `] : []),
        `Created: ${new Date(workspace.createdAt).toLocaleString()}  `,
        `Last access: ${new Date(workspace.lastAccessedAt).toLocaleString()}  `,
        `Sessions: ${workspace.stats.sessions}, commands: ${workspace.stats.commands}, run time: ${Math.round(workspace.stats.runTimeMs / 1000)} s  `,
        `Lifecycle: ${lifecycleSentence(workspace)}`,
        workspace.description ? `\n${workspace.description}` : '',
      ].join('\n'),
    );
  }

  static idOf(workspaceId: string): string {
    return `workspace:${workspaceId}`;
  }

  /** Its recent events, newest first, below the rest of the tooltip (read when it is hovered). */
  addHistory(events: WorkspaceEvent[]): void {
    if (events.length === 0 || !(this.tooltip instanceof vscode.MarkdownString) || this.tooltip.value.includes('**Recent events**')) return;
    this.tooltip.appendMarkdown(`\n\n**Recent events**  \n${events.map((event) => `${new Date(event.at).toLocaleString()} · ${event.kind}: ${event.reason}`).join('  \n')}`);
  }
}

/** What the lifecycle will do to the workspace, for its tooltip. */
export function lifecycleSentence(workspace: WorkspaceInfo): string {
  if (workspace.pinned) return 'pinned: never archived or deleted automatically';
  const schedule = workspace.lifecycle;
  if (!schedule) return 'kept (its kind has no expiry)';
  const steps: Array<[string, string]> = [];
  if (schedule.archiveAt && workspace.state !== 'archived') steps.push(['archived', schedule.archiveAt]);
  if (schedule.deleteAt) steps.push(['deleted', schedule.deleteAt]);
  // In the order they come (with short settings, deletion may come before the archive).
  steps.sort((a, b) => Date.parse(a[1]) - Date.parse(b[1]));
  return `${steps.map(([what, at]) => `${what} ${new Date(at).toLocaleString()}`).join(', then ')} unless used before`;
}

/**
 * A session in the tree, led by its workspace's name (its state and short id follow; the
 * full id is in the tooltip); `contextValue` is `session.<state>`, plus `.output` when Run
 * Command outputs of it are kept and `.shared` (always last) while it is shared. Its
 * terminals, running background processes and, while it runs, its Ports row are its children.
 */
export class SessionItem extends vscode.TreeItem {
  /** Its "Ports" row (src/ports/), present while its container runs. */
  readonly portsItem: PortsItem | undefined;

  constructor(
    readonly session: SessionInfo,
    readonly terminals: TerminalInfo[] = [],
    /** Its running background processes (exited ones: `sandkasten ps`). */
    readonly processes: ProcessInfo[] = [],
    shown: { collapsed?: boolean; lastOutputs?: number; share?: ShareInfo; ports?: PortsItem } = {},
  ) {
    const children = terminals.length + processes.length > 0 || shown.ports !== undefined;
    super(
      session.workspaceName,
      !children ? vscode.TreeItemCollapsibleState.None : shown.collapsed ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.Expanded,
    );
    this.id = SessionItem.idOf(session.id);
    this.portsItem = shown.ports;
    const state = sessionStateWord(session);
    const frozen = state === 'frozen';
    const { share } = shown;
    // While the engine does not answer, a live session keeps its state, marked: nothing in it can be reached.
    const away = session.engineUnreachable ? 'engine unreachable · ' : '';
    this.description = `${away}${state}${share ? ` · ${shareDescription(share)}` : ''} · ${shortId(session.id)}${originMark(session.origin)}${session.stateReason ? ` · ${session.stateReason}` : ''}`;
    this.accessibilityInformation = {
      label: `Session ${shortId(session.id)} of workspace ${session.workspaceName}, ${state}${session.engineUnreachable ? ', the Docker engine is unreachable' : ''}${share ? `, shared with ${guestCount(share.participants.length)}` : ''}${session.stateReason ? `, ${session.stateReason}` : ''}${originSentence(session.origin)}`,
    };
    this.iconPath = session.engineUnreachable
      ? new vscode.ThemeIcon('debug-disconnect', new vscode.ThemeColor('editorWarning.foreground'))
      : session.state === 'running'
        ? new vscode.ThemeIcon('vm-running', new vscode.ThemeColor('testing.iconPassed'))
        : session.state === 'starting'
          ? new vscode.ThemeIcon('loading~spin')
          : frozen
            ? new vscode.ThemeIcon('snowflake', new vscode.ThemeColor('charts.blue'))
            : session.state === 'paused'
              ? new vscode.ThemeIcon('debug-pause', new vscode.ThemeColor('editorWarning.foreground'))
              : new vscode.ThemeIcon('vm-outline', new vscode.ThemeColor('disabledForeground'));
    // A frozen session is used like a running one: the sidecar thaws it on the next use.
    this.contextValue = `session.${frozen ? 'running.frozen' : session.state}${shown.lastOutputs ? '.output' : ''}${share ? '.shared' : ''}`;
    this.tooltip = new vscode.MarkdownString(
      [
        `**${session.workspaceName}** — session \`${session.id}\` on \`${session.workspaceId}\``,
        '',
        `State: ${state}${session.stateReason ? ` — ${session.stateReason}` : ''}${session.fromPool ? ' (from the warm pool)' : ''}  `,
        ...(session.engineUnreachable ? ['The Docker engine does not answer: the session waits for it, nothing is removed meanwhile, and it is used again once the engine is back.  '] : []),
        ...(frozen ? ['Its processes and memory are kept; a command, a keystroke or opening a terminal thaws it.  '] : []),
        `Image: \`${session.image}\`  `,
        `Container: \`${session.containerId?.slice(0, 12) ?? '—'}\`  `,
        ...(session.origin ? [`Made by: ${ORIGIN_NAMES[session.origin]}${session.expiresAt ? `, its lease ends ${new Date(session.expiresAt).toLocaleString()} unless used` : ''}  `] : []),
        ...(share ? [`$(live-share) Shared since ${new Date(share.startedAt).toLocaleString()} with ${guestCount(share.participants.length)} (Participants view)  `] : []),
        `Started: ${session.startedAt ? new Date(session.startedAt).toLocaleString() : '—'}`,
      ].join('\n'),
    );
  }

  static idOf(sessionId: string): string {
    return `session:${sessionId}`;
  }
}

/**
 * A terminal under its session; a click opens it (reattaching, or restoring a dormant one).
 * `contextValue` is `terminal`, or `terminal.shared` for a terminal of a session someone
 * shares with us (the host's to close, not ours). `session.workspaceName` titles its tab.
 */
export class TerminalItem extends vscode.TreeItem {
  constructor(
    readonly terminal: TerminalInfo,
    readonly session: Pick<SessionInfo, 'id' | 'workspaceName'>,
  ) {
    super(terminal.name, vscode.TreeItemCollapsibleState.None);
    this.id = `terminal:${terminal.id}`;
    const attached = terminal.attached > 0 ? ` · ${terminal.attached} attached` : '';
    const state = terminalStateWord(terminal.state);
    const shared = isSharedId(terminal.id);
    this.description = `${terminal.private ? 'private · ' : ''}${terminal.cwd} · ${state}${attached}`;
    this.accessibilityInformation = {
      label: `${terminal.private ? 'Private terminal' : 'Terminal'} ${terminal.name} in ${session.workspaceName}, ${state}, in ${terminal.cwd}${attached ? `, ${terminal.attached} attached` : ''}`,
    };
    const icon = terminal.private ? 'lock' : 'terminal';
    this.iconPath = terminal.state === 'live' ? new vscode.ThemeIcon(icon) : new vscode.ThemeIcon(icon, new vscode.ThemeColor('disabledForeground'));
    this.contextValue = shared ? 'terminal.shared' : 'terminal';
    this.command = { command: 'sandkasten.terminal.open', title: 'Open Terminal', arguments: [this] };
    this.tooltip = new vscode.MarkdownString(
      [
        `**${terminal.name}** (\`${terminal.id}\`) in ${session.id}`,
        '',
        ...(terminal.private ? ['Private: guests of a share of this session neither see nor open it.', ''] : []),
        shared
          ? `A terminal of the host's session, in \`${terminal.cwd}\`.`
          : terminal.state === 'live'
            ? `A shell runs now in \`${terminal.cwd}\`.`
            : `Stopped: its shell ended; opening it starts a new one in \`${terminal.cwd}\` with the saved environment and history.`,
      ].join('\n'),
    );
  }
}

/** The Sessions view's group of sessions other people share with us (present while there are any). */
export class SharedWithMeItem extends vscode.TreeItem {
  constructor(
    readonly sessions: JoinedSessionItem[],
    collapsed = false,
  ) {
    super('Shared with me', collapsed ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.Expanded);
    this.id = SharedWithMeItem.ID;
    this.description = `${sessions.length}`;
    this.iconPath = new vscode.ThemeIcon('live-share');
    this.contextValue = 'sharedWithMe';
    this.tooltip = 'Sessions other people share with you. Join another with "Sandkasten: Join Shared Session…".';
  }

  static readonly ID = 'shared-with-me';
}

const JOINED_ICONS: Record<JoinedShareInfo['state'], vscode.ThemeIcon> = {
  connected: new vscode.ThemeIcon('vm-running', new vscode.ThemeColor('testing.iconPassed')),
  reconnecting: new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('editorWarning.foreground')),
  ended: new vscode.ThemeIcon('debug-disconnect', new vscode.ThemeColor('disabledForeground')),
};

/**
 * A session someone shares with us, under "Shared with me": "<workspace> (<host>)", our role
 * and the connection's state; its terminals are its children. `contextValue` is
 * `joinedSession.<connected|reconnecting|ended>`.
 */
export class JoinedSessionItem extends vscode.TreeItem {
  constructor(
    readonly joined: JoinedShareInfo,
    collapsed = false,
  ) {
    super(
      joinedSessionLabel(joined),
      joined.terminals.length === 0 ? vscode.TreeItemCollapsibleState.None : collapsed ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.Expanded,
    );
    this.id = JoinedSessionItem.idOf(joined.id);
    this.description = joinedSessionDescription(joined);
    this.iconPath = JOINED_ICONS[joined.state];
    this.contextValue = `joinedSession.${joined.state}`;
    this.accessibilityInformation = { label: `Session ${joined.workspaceName} shared by ${joined.hostName}, you are ${joined.role}, ${joinedSessionDescription(joined)}` };
    this.tooltip = new vscode.MarkdownString(
      [
        `**${markdownText(joined.workspaceName)}** — shared by ${markdownText(joined.hostName)}`,
        '',
        `You are ${withArticle(joined.role)}: you can ${roleMeaning(joined.role)}.  `,
        `State: ${joinedSessionDescription(joined)}  `,
        `Image: \`${joined.image}\`  `,
        `Joined: ${new Date(joined.joinedAt).toLocaleString()}  `,
        `Also in: ${joined.participants.length === 0 ? 'nobody else' : joined.participants.map((participant) => `${markdownText(participant.name)} (${participant.role})`).join(', ')}`,
      ].join('\n'),
    );
  }

  static idOf(joinedShareId: string): string {
    return `joined:${joinedShareId}`;
  }

  /** Its terminals' rows; a click opens one through the usual terminal machinery (ids `shared.…`). */
  terminalItems(): TerminalItem[] {
    const tab = { id: this.joined.sessionId, workspaceName: joinedSessionLabel(this.joined) };
    return this.joined.terminals.map((terminal) => new TerminalItem(terminal, tab));
  }
}

/** The last row of a long list: a click shows the next page. */
export class LoadMoreItem extends vscode.TreeItem {
  constructor(remaining: number, command: string) {
    super(`Load more…`, vscode.TreeItemCollapsibleState.None);
    this.id = `load-more:${command}`;
    this.description = `${remaining} more`;
    this.iconPath = new vscode.ThemeIcon('ellipsis');
    this.contextValue = 'loadMore';
    this.command = { command, title: 'Load More' };
    this.accessibilityInformation = { label: `Load more: ${remaining} more not shown` };
  }
}

/** A background process under its session: Stop and Show Output act on it. */
export class ProcessItem extends vscode.TreeItem {
  constructor(
    readonly process: ProcessInfo,
    readonly session: SessionInfo,
  ) {
    super(process.command, vscode.TreeItemCollapsibleState.None);
    this.id = `process:${process.id}`;
    this.description = `${process.id} · ${process.state === 'running' ? `running since ${relativeTime(process.startedAt)}` : `exited ${process.exitCode}`}`;
    this.iconPath = new vscode.ThemeIcon(process.state === 'running' ? 'gear~spin' : 'pass');
    this.contextValue = `process.${process.state}`;
    this.accessibilityInformation = { label: `Background process ${process.command} in ${session.workspaceName}, ${process.state}` };
    this.command = { command: 'sandkasten.process.showOutput', title: 'Show Output', arguments: [this] };
    this.tooltip = new vscode.MarkdownString(
      [`**\`${process.command}\`** (\`${process.id}\`) in ${session.id}`, '', `Started: ${new Date(process.startedAt).toLocaleString()}`].join('\n'),
    );
  }
}

const ORIGIN_NAMES: Record<Origin, string> = { vscode: 'VS Code', cli: 'the CLI', api: 'the HTTP API (an agent)' };

/** Rows made outside VS Code say so (" · via API"); VS Code's own are the ones without a mark. */
function originMark(origin: Origin | undefined): string {
  return origin === 'api' ? ' · via API' : origin === 'cli' ? ' · via CLI' : '';
}

function originSentence(origin: Origin | undefined): string {
  return origin ? `, made by ${ORIGIN_NAMES[origin]}` : '';
}

/** The part of an id that tells sessions apart at a glance: "ses-38b84b7f5016" → "38b84b7f". */
export function shortId(id: string): string {
  return id.replace(/^[a-z]+-/, '').slice(0, 8);
}

export function relativeTime(iso: string, now = Date.now()): string {
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}
