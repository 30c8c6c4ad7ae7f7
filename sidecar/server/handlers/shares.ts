import * as P from '../../client/protocol';
import type { HandlerContext } from './context';
import { reporting } from './lifecycle';

/** Hosting shares (this sidecar's sessions) and joining others' (see sidecar/share/). */
export function registerShareHandlers({ handle, connection, services: { shares, joinedShares } }: HandlerContext): void {
  handle(P.StartShareRequest, (params) => shares.start(params));
  handle(P.StopShareRequest, ({ sessionId }) => shares.stop(sessionId));
  handle(P.ListSharesRequest, () => shares.list());
  handle(P.AnswerJoinRequest, ({ requestId, allow, role }) => shares.answer(requestId, allow, role));
  handle(P.SetGuestRoleRequest, ({ sessionId, guestId, role }) => shares.setRole(sessionId, guestId, role));
  handle(P.RemoveGuestRequest, ({ sessionId, guestId }) => shares.remove(sessionId, guestId));
  handle(P.RevokeShareLinkRequest, ({ sessionId }) => shares.revokeLink(sessionId));

  handle(P.JoinShareRequest, ({ code, name, workDoneToken }) => reporting(connection, workDoneToken, 'Joining', (progress) => joinedShares.join(code, name, progress)));
  handle(P.LeaveShareRequest, ({ joinedShareId }) => joinedShares.leave(joinedShareId));
  handle(P.ListJoinedSharesRequest, () => joinedShares.list());
}
