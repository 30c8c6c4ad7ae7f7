/**
 * Sharing a running session with other people, Live Share-style: part of the wire protocol,
 * re-exported by protocol.ts. The host's sidecar serves a share endpoint (WebSocket) and
 * answers the `share/*` requests of its own clients; a guest's sidecar joins a share from its
 * link and shows the shared session to its clients as a session whose id starts with
 * `shared.` (its terminals' ids too), so terminals, the CLI's shell and the file system reach
 * it with the usual requests.
 */
import { RequestType } from 'vscode-languageserver-protocol';
import * as S from './schema';
import type { TerminalInfo } from './terminalInfo';

/** viewer: sees terminals and reads files; editor: also types in terminals, writes files, opens terminals. */
export const SHARE_ROLES = ['viewer', 'editor'] as const;
export type ShareRole = (typeof SHARE_ROLES)[number];
/** ask: each join request waits for the host's Allow or Deny; anyone: everyone with the link comes in. */
export const SHARE_APPROVALS = ['ask', 'anyone'] as const;
export type ShareApproval = (typeof SHARE_APPROVALS)[number];

/** The prefix of a joined share's session id (`shared.<joinedShareId>`) and of its terminals' ids. */
export const SHARED_PREFIX = 'shared.';

export function isSharedId(id: string): boolean {
  return id.startsWith(SHARED_PREFIX);
}

/** A guest of a share, as the host sees it. */
export interface ParticipantInfo {
  /** The host's id for this guest (`g-…`), stable across the guest's reconnects. */
  id: string;
  /** What the guest called itself: not verified, shown as the guest's own words. */
  name: string;
  role: ShareRole;
  /** When the guest was let in. */
  since: string;
  /** False while the guest's connection is down (it may come back within a minute or two). */
  connected: boolean;
  /** Where the guest connects from (an address and port). */
  address: string;
}

/** Someone asking to join, waiting for the host's answer. */
export interface JoinRequestInfo {
  id: string;
  sessionId: string;
  name: string;
  address: string;
  /** The role they get when allowed (the share's default, unless the host picks another). */
  role: ShareRole;
  askedAt: string;
}

/** A share this sidecar hosts (one per session). */
export interface ShareInfo {
  sessionId: string;
  workspaceId: string;
  workspaceName: string;
  startedAt: string;
  /** The plain text join code: a `ws://` or `wss://` URL with the secret after `#`. */
  code: string;
  /** The same as a link VS Code opens: `vscode://sandkasten.sandkasten/join?code=…`. */
  link: string;
  /** Where the endpoint listens (`ws://127.0.0.1:PORT`). */
  endpoint: string;
  defaultRole: ShareRole;
  approval: ShareApproval;
  participants: ParticipantInfo[];
  pending: JoinRequestInfo[];
  /** Said when the endpoint is reachable beyond this machine. */
  warning?: string;
}

/** A session someone else shares with this sidecar. */
export interface JoinedShareInfo {
  id: string;
  /** `shared.<id>`: what terminal requests and `sandkasten shell` take. */
  sessionId: string;
  /** The host's own session id (for the record). */
  hostSessionId: string;
  hostName: string;
  workspaceName: string;
  image: string;
  role: ShareRole;
  /** connected; reconnecting after a dropped connection; ended (the host stopped sharing, removed us, or the session ended). */
  state: 'connected' | 'reconnecting' | 'ended';
  /** Why it ended, in a sentence. */
  endedReason?: string;
  joinedAt: string;
  /** Who else is in, as the host last said. */
  participants: Array<Pick<ParticipantInfo, 'id' | 'name' | 'role' | 'connected'>>;
  terminals: TerminalInfo[];
}

const role = () => S.oneOf(SHARE_ROLES);

// ----- Host side -----

export namespace StartShareRequest {
  export const params = S.params({ sessionId: S.string(), defaultRole: S.optional(role()), approval: S.optional(S.oneOf(SHARE_APPROVALS)) });
  export const method = 'share/start';
  /** Shares a running session of a collaborative workspace (Conflict for other kinds); an existing share is answered as it is. */
  export const type = new RequestType<{ sessionId: string; defaultRole?: ShareRole; approval?: ShareApproval }, ShareInfo, void>(method);
}
export namespace StopShareRequest {
  export const params = S.params({ sessionId: S.string() });
  export const method = 'share/stop';
  /** Ends the share: every guest is disconnected, the link stops working. */
  export const type = new RequestType<{ sessionId: string }, { sessionId: string }, void>(method);
}
export namespace ListSharesRequest {
  export const params = S.noParams;
  export const method = 'share/list';
  export const type = new RequestType<Record<string, never>, ShareInfo[], void>(method);
}
export namespace AnswerJoinRequest {
  export const params = S.params({ requestId: S.string(), allow: S.boolean(), role: S.optional(role()) });
  export const method = 'share/answer';
  /** Lets a waiting guest in (with `role`, else the share's default) or turns them away; NotFound once answered or gone. */
  export const type = new RequestType<{ requestId: string; allow: boolean; role?: ShareRole }, ShareInfo, void>(method);
}
export namespace SetGuestRoleRequest {
  export const params = S.params({ sessionId: S.string(), guestId: S.string(), role: role() });
  export const method = 'share/setRole';
  /** Takes effect at once: a viewer's next keystroke is refused, an editor's goes through. */
  export const type = new RequestType<{ sessionId: string; guestId: string; role: ShareRole }, ShareInfo, void>(method);
}
export namespace RemoveGuestRequest {
  export const params = S.params({ sessionId: S.string(), guestId: S.string() });
  export const method = 'share/remove';
  /** Disconnects the guest; its credentials stop working (it would have to ask again with the link). */
  export const type = new RequestType<{ sessionId: string; guestId: string }, ShareInfo, void>(method);
}
export namespace RevokeShareLinkRequest {
  export const params = S.params({ sessionId: S.string() });
  export const method = 'share/revokeLink';
  /** A new link; the old one is refused from now on. Guests already in stay. */
  export const type = new RequestType<{ sessionId: string }, ShareInfo, void>(method);
}

// ----- Guest side -----

export interface JoinShareParams {
  code: string;
  name?: string;
  /** Leave the share when this client's connection closes (the CLI's `join`: the guest is the terminal). */
  leaveOnDisconnect?: boolean;
  workDoneToken?: string | number;
}
export namespace JoinShareRequest {
  export const params = S.params({ code: S.string(), name: S.optional(S.text()), leaveOnDisconnect: S.optional(S.boolean()), workDoneToken: S.optional(S.progressToken()) });
  export const method = 'share/join';
  /** Joins from a code or link; answers once the host let us in (Forbidden when refused or the link is not valid). */
  export const type = new RequestType<JoinShareParams, JoinedShareInfo, void>(method);
}
export namespace LeaveShareRequest {
  export const params = S.params({ joinedShareId: S.string() });
  export const method = 'share/leave';
  export const type = new RequestType<{ joinedShareId: string }, { joinedShareId: string }, void>(method);
}
export namespace ListJoinedSharesRequest {
  export const params = S.noParams;
  export const method = 'share/joined';
  export const type = new RequestType<Record<string, never>, JoinedShareInfo[], void>(method);
}
