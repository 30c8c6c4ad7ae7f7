import * as P from '../../client/protocol';
import type { HandlerContext } from './context';

/**
 * The terminal requests and notifications of one client connection. The connection's
 * notification flow is the terminal client, so a slow client holds back only the shells it
 * watches; when it closes, it is detached from every terminal. Ids starting `shared.` are a
 * joined share's (another sidecar's session): those go through the share's connection.
 */
export function registerTerminalHandlers({ handle, onNotification, connection, flow: client, services: { terminals, joinedShares } }: HandlerContext): void {
  const owner = (id: string) => (P.isSharedId(id) ? joinedShares : terminals);
  handle(P.OpenTerminalRequest, (params) => owner(params.sessionId).open(params, client));
  handle(P.CloseTerminalRequest, (params) => owner(params.terminalId).close(params.terminalId));
  handle(P.ListTerminalsRequest, ({ sessionId }) => (sessionId !== undefined && P.isSharedId(sessionId) ? joinedShares.listTerminals(sessionId) : terminals.list(sessionId)));

  onNotification(P.TerminalInputNotification, (params) => owner(params.terminalId).input(client, params.terminalId, params.data));
  onNotification(P.TerminalResizeNotification, ({ terminalId, cols, rows }) => owner(terminalId).resize(client, terminalId, { cols, rows }));
  onNotification(P.DetachTerminalNotification, (params) => owner(params.terminalId).detach(client, params.terminalId));

  const detach = () => {
    terminals.detachEverywhere(client);
    joinedShares.detachEverywhere(client);
  };
  connection.onClose(detach);
  connection.onDispose(detach);
}
