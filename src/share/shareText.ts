/**
 * The words the share UI shows (rows, messages), apart from the views so they can be tested
 * without VS Code. No `vscode` import.
 */
import type { JoinedShareInfo, JoinRequestInfo, ParticipantInfo, ShareInfo, ShareRole, TerminalInfo } from '../../sidecar/client/protocol';

export function guestCount(count: number): string {
  return count === 0 ? 'no guests yet' : count === 1 ? '1 guest' : `${count} guests`;
}

/** "an editor", "a viewer". */
export function withArticle(role: ShareRole): string {
  return role === 'editor' ? 'an editor' : 'a viewer';
}

/** What a role allows, to follow "you can" or "they can". */
export function roleMeaning(role: ShareRole): string {
  return role === 'editor' ? 'type in the terminals, write files and open terminals' : 'see the terminals and read files, not type or write';
}

/** A hosted share's row: "shared · 2 guests · 1 asking". */
export function shareDescription(share: Pick<ShareInfo, 'participants' | 'pending'>): string {
  const asking = share.pending.length > 0 ? ` · ${share.pending.length} asking to join` : '';
  return `shared · ${guestCount(share.participants.length)}${asking}`;
}

/** A guest's row: "viewer · since 14:02", "(reconnecting)" while its connection is down. */
export function participantDescription(participant: Pick<ParticipantInfo, 'role' | 'since' | 'connected'>, formatTime: (iso: string) => string): string {
  return `${participant.role} · since ${formatTime(participant.since)}${participant.connected ? '' : ' (reconnecting)'}`;
}

/** A joined session's row: "my-api (alice)". */
export function joinedSessionLabel(joined: Pick<JoinedShareInfo, 'workspaceName' | 'hostName'>): string {
  return `${joined.workspaceName} (${joined.hostName})`;
}

/** "editor · connected", "viewer · reconnecting…", "ended: The host stopped sharing." */
export function joinedSessionDescription(joined: Pick<JoinedShareInfo, 'role' | 'state' | 'endedReason'>): string {
  if (joined.state === 'ended') return `ended${joined.endedReason ? `: ${joined.endedReason}` : ''}`;
  return `${joined.role} · ${joined.state === 'reconnecting' ? 'reconnecting…' : 'connected'}`;
}

/** The host's question for a waiting guest, as the notification asks it. */
export function joinRequestQuestion(request: Pick<JoinRequestInfo, 'name' | 'address' | 'role'>, workspaceName: string): string {
  return `"${request.name}" (${request.address}) asks to join ${workspaceName} as ${request.role}.`;
}

/** The buttons of that question: Allow (with the request's role), the other role, Deny. */
export const ALLOW = 'Allow';
export const DENY = 'Deny';
export function otherRoleButton(role: ShareRole): string {
  return role === 'viewer' ? 'Allow as Editor' : 'Allow as Viewer';
}

/** The answer a button stands for; undefined when the notification was closed (the guest keeps waiting). */
export function answerFor(choice: string | undefined, request: Pick<JoinRequestInfo, 'role'>): { allow: boolean; role?: ShareRole } | undefined {
  if (choice === ALLOW) return { allow: true };
  if (choice === DENY) return { allow: false };
  if (choice === otherRoleButton(request.role)) return { allow: true, role: request.role === 'viewer' ? 'editor' : 'viewer' };
  return undefined;
}

/**
 * Which terminal a guest lands in after joining (or on "Open Shared Terminal" with nothing to
 * choose): the first live one; else a new one when the role may open terminals; else none.
 */
export function terminalToOpen(joined: Pick<JoinedShareInfo, 'role' | 'terminals'>): { terminal: TerminalInfo } | 'new' | 'none' {
  const live = joined.terminals.find((terminal) => terminal.state === 'live');
  if (live) return { terminal: live };
  return joined.role === 'editor' ? 'new' : 'none';
}

/** Text from another person (a name they chose, a host's workspace name) as Markdown that shows it as typed: no links, images or emphasis of theirs. */
export function markdownText(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~:]/g, (character) => `\\${character}`);
}
