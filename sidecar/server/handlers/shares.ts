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

  let connected = true;
  const leaving = new Set<string>();
  const leaveAll = () => {
    connected = false;
    for (const id of leaving) joinedShares.leaveIfJoined(id);
    leaving.clear();
  };
  connection.onClose(leaveAll);
  connection.onDispose(leaveAll);
  handle(P.JoinShareRequest, async ({ code, name, leaveOnDisconnect, workDoneToken }) => {
    const joined = await reporting(connection, workDoneToken, 'Joining', (progress) => joinedShares.join(code, name, progress));
    if (leaveOnDisconnect) {
      if (connected) leaving.add(joined.id);
      else joinedShares.leaveIfJoined(joined.id); // the client went away while the host was deciding
    }
    return joined;
  });
  handle(P.LeaveShareRequest, ({ joinedShareId }) => joinedShares.leave(joinedShareId));
  handle(P.ListJoinedSharesRequest, () => joinedShares.list());
}
