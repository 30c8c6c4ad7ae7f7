import * as P from '../../client/protocol';
import type { HandlerContext } from './context';

/**
 * The terminal requests and notifications of one client connection. The connection's
 * notification flow is the terminal client, so a slow client holds back only the shells it
 * watches; when it closes, it is detached from every terminal.
 */
export function registerTerminalHandlers({ handle, onNotification, connection, flow: client, services: { terminals } }: HandlerContext): void {
  handle(P.OpenTerminalRequest, (params) => terminals.open(params, client));
  handle(P.CloseTerminalRequest, (params) => terminals.close(params.terminalId));
  handle(P.ListTerminalsRequest, (params) => terminals.list(params.sessionId));

  onNotification(P.TerminalInputNotification, (params) => terminals.input(client, params.terminalId, params.data));
  onNotification(P.TerminalResizeNotification, ({ terminalId, cols, rows }) => terminals.resize(client, terminalId, { cols, rows }));
  onNotification(P.DetachTerminalNotification, (params) => terminals.detach(client, params.terminalId));

  const detach = () => terminals.detachEverywhere(client);
  connection.onClose(detach);
  connection.onDispose(detach);
}
