import * as P from '../../client/protocol';
import type { HandlerContext } from './context';
import { reporting } from './lifecycle';

export function registerSessionHandlers({ handle, connection, services: { sessions }, client }: HandlerContext): void {
  handle(P.ListSessionsRequest, (params) => sessions.list(params.workspaceId));
  handle(P.StartSessionRequest, (params) => reporting(connection, params.workDoneToken, 'Starting', (progress) => sessions.start(params.workspaceId, { origin: client.origin, progress })));
  handle(P.ResumeSessionRequest, (params) => sessions.resume(params.id));
  handle(P.StopSessionRequest, (params) => sessions.stop(params.id));
  handle(P.FreezeSessionRequest, async ({ id }) => {
    await sessions.freeze(id, 'on request', { evenIfBusy: true });
    return sessions.get(id);
  });
  handle(P.InspectSessionRequest, (params) => sessions.inspect(params.id));
  handle(P.DestroySessionRequest, async ({ id }) => {
    await sessions.destroy(id);
    return { id };
  });
}
