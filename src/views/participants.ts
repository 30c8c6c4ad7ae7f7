import * as vscode from 'vscode';
import type { JoinedShareInfo, JoinRequestInfo, ParticipantInfo, ShareInfo } from '../../sidecar/client/protocol';
import { joinedSessionDescription, joinedSessionLabel, markdownText, participantDescription, roleMeaning, shareDescription, withArticle } from '../share/shareText';

/**
 * The Participants view's rows. Roots are the shares this sidecar hosts (`share`) with the
 * join requests waiting (`joinRequest.<role>`) and the guests (`participant.<role>`) below,
 * then the sessions others share with us (`joinedShare.<state>`) with their guests as the
 * host reported them (`joinedParticipant`, read only). The tree itself is a SidecarTree
 * (trees.ts) refreshed on the 'shares' area.
 */
export type ParticipantsTreeItem = ShareItem | JoinRequestItem | ParticipantItem | JoinedShareItem | JoinedParticipantItem;

/**
 * Expanded unless the person collapsed it, even while it has no children: VS Code keeps the
 * state of an id it first saw as a leaf, so a share shown without guests would stay closed
 * when the first join request arrives.
 */
function collapsibleState(collapsed: boolean): vscode.TreeItemCollapsibleState {
  return collapsed ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.Expanded;
}

/** "14:02" today, else the date too. */
function shortTime(iso: string): string {
  const at = new Date(iso);
  const time = at.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  return at.toDateString() === new Date().toDateString() ? time : `${at.toLocaleDateString()} ${time}`;
}

/** A session this sidecar shares; inline Copy Link and Stop Sharing. */
export class ShareItem extends vscode.TreeItem {
  constructor(
    readonly share: ShareInfo,
    collapsed = false,
  ) {
    super(share.workspaceName, collapsibleState(collapsed));
    this.id = ShareItem.idOf(share.sessionId);
    this.description = shareDescription(share);
    this.iconPath = share.warning ? new vscode.ThemeIcon('broadcast', new vscode.ThemeColor('editorWarning.foreground')) : new vscode.ThemeIcon('broadcast');
    this.contextValue = 'share';
    this.accessibilityInformation = { label: `Shared session ${share.workspaceName}, ${shareDescription(share)}` };
    this.tooltip = new vscode.MarkdownString(
      [
        `**${markdownText(share.workspaceName)}** — session \`${share.sessionId}\`, shared by you`,
        '',
        ...(share.warning ? [`$(warning) ${share.warning}`, ''] : []),
        `Shared since ${new Date(share.startedAt).toLocaleString()} on \`${share.endpoint}\`  `,
        `New guests: ${share.defaultRole}${share.approval === 'ask' ? ', each after you allow them' : ', without asking (anyone with the link)'}  `,
        `Join code: \`${share.code.replace(/#.*/, '#…')}\` (Copy Link, Copy Code)`,
      ].join('\n'),
    );
  }

  static idOf(sessionId: string): string {
    return `share:${sessionId}`;
  }
}

/** Someone waiting for the host's answer: inline Allow, Allow as the other role, Deny. */
export class JoinRequestItem extends vscode.TreeItem {
  constructor(
    readonly request: JoinRequestInfo,
    readonly share: ShareInfo,
  ) {
    super(request.name, vscode.TreeItemCollapsibleState.None);
    this.id = `join-request:${request.id}`;
    this.description = `asks to join as ${request.role} · ${request.address}`;
    this.iconPath = new vscode.ThemeIcon('person-add', new vscode.ThemeColor('editorWarning.foreground'));
    this.contextValue = `joinRequest.${request.role}`;
    this.accessibilityInformation = { label: `${request.name} from ${request.address} asks to join ${share.workspaceName} as ${request.role}` };
    this.tooltip = new vscode.MarkdownString(
      [
        `**"${markdownText(request.name)}"** asks to join ${markdownText(share.workspaceName)}`,
        '',
        `From: \`${request.address}\`  `,
        `Asked: ${new Date(request.askedAt).toLocaleString()}  `,
        `As ${withArticle(request.role)}, they could ${roleMeaning(request.role)}.  `,
        'The name is what they typed themselves: check it with them if in doubt.',
      ].join('\n'),
    );
  }
}

/** A guest of a hosted share; its context menu changes the role or removes them. */
export class ParticipantItem extends vscode.TreeItem {
  constructor(
    readonly participant: ParticipantInfo,
    readonly share: ShareInfo,
  ) {
    super(participant.name, vscode.TreeItemCollapsibleState.None);
    this.id = `participant:${share.sessionId}:${participant.id}`;
    this.description = participantDescription(participant, shortTime);
    this.iconPath = participant.connected ? new vscode.ThemeIcon(participant.role === 'editor' ? 'edit' : 'eye') : new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('disabledForeground'));
    this.contextValue = `participant.${participant.role}`;
    this.accessibilityInformation = { label: `${participant.name}, ${participant.role} of ${share.workspaceName}, ${participantDescription(participant, shortTime)}` };
    this.tooltip = new vscode.MarkdownString(
      [
        `**"${markdownText(participant.name)}"** (\`${participant.id}\`) in ${markdownText(share.workspaceName)}`,
        '',
        `${participant.role === 'editor' ? 'Editor' : 'Viewer'}: can ${roleMeaning(participant.role)}.  `,
        `From: \`${participant.address}\`  `,
        `In since: ${new Date(participant.since).toLocaleString()}${participant.connected ? '' : ' — connection lost, they may come back within two minutes'}`,
      ].join('\n'),
    );
  }
}

/** A session someone shares with us, as the Participants view lists it. */
export class JoinedShareItem extends vscode.TreeItem {
  constructor(
    readonly joined: JoinedShareInfo,
    collapsed = false,
  ) {
    super(joinedSessionLabel(joined), collapsibleState(collapsed));
    this.id = JoinedShareItem.idOf(joined.id);
    this.description = `you: ${joinedSessionDescription(joined)}`;
    this.iconPath = new vscode.ThemeIcon('live-share', joined.state === 'ended' ? new vscode.ThemeColor('disabledForeground') : undefined);
    this.contextValue = `joinedShare.${joined.state}`;
    this.accessibilityInformation = { label: `Session ${joined.workspaceName} shared with you by ${joined.hostName}, ${joinedSessionDescription(joined)}` };
    this.tooltip = new vscode.MarkdownString(
      [`**${markdownText(joined.workspaceName)}** — shared by ${markdownText(joined.hostName)}`, '', `You are ${withArticle(joined.role)}: you can ${roleMeaning(joined.role)}.`].join('\n'),
    );
  }

  static idOf(joinedShareId: string): string {
    return `joined-share:${joinedShareId}`;
  }
}

/** Another guest of a session we joined, as its host last said; nothing to do with it here. */
export class JoinedParticipantItem extends vscode.TreeItem {
  constructor(participant: JoinedShareInfo['participants'][number], joined: JoinedShareInfo) {
    super(participant.name, vscode.TreeItemCollapsibleState.None);
    this.id = `joined-participant:${joined.id}:${participant.id}`;
    this.description = `${participant.role}${participant.connected ? '' : ' (reconnecting)'}`;
    this.iconPath = new vscode.ThemeIcon(participant.role === 'editor' ? 'edit' : 'eye');
    this.contextValue = 'joinedParticipant';
  }
}

/** The roots, from the two lists; rows the person collapsed stay collapsed. */
export function participantsRoots(shares: ShareInfo[], joined: JoinedShareInfo[], isCollapsed: (id: string) => boolean = () => false): ParticipantsTreeItem[] {
  return [
    ...shares.map((share) => new ShareItem(share, isCollapsed(ShareItem.idOf(share.sessionId)))),
    ...joined.map((entry) => new JoinedShareItem(entry, isCollapsed(JoinedShareItem.idOf(entry.id)))),
  ];
}

export function participantsChildren(element: ParticipantsTreeItem): ParticipantsTreeItem[] {
  if (element instanceof ShareItem) {
    return [
      ...element.share.pending.map((request) => new JoinRequestItem(request, element.share)),
      ...element.share.participants.map((participant) => new ParticipantItem(participant, element.share)),
    ];
  }
  if (element instanceof JoinedShareItem) return element.joined.participants.map((participant) => new JoinedParticipantItem(participant, element.joined));
  return [];
}
