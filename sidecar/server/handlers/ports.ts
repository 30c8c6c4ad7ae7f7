import * as P from '../../client/protocol';
import type { HandlerContext } from './context';

/** What listens in sessions, and forwards to this machine (see sidecar/ports/). */
export function registerPortHandlers({ handle, services: { ports } }: HandlerContext): void {
  handle(P.ListPortsRequest, ({ sessionId, scan }) => ports.list(sessionId, scan ?? false));
  handle(P.ForwardPortRequest, (params) => ports.forward(params));
  handle(P.StopForwardingRequest, ({ sessionId, port }) => ports.stopForwarding(sessionId, port));
  handle(P.SetPortLabelRequest, ({ sessionId, port, label }) => ports.setLabel(sessionId, port, label));
}
