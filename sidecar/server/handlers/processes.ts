import * as P from '../../client/protocol';
import type { HandlerContext } from './context';

/** Background processes, and the session log of background jobs' output. */
export function registerProcessHandlers({ handle, services: { processes, sessionLogs, sessions } }: HandlerContext): void {
  handle(P.StartProcessRequest, (params) => processes.start(params));
  handle(P.ListProcessesRequest, (params) => processes.list(params.sessionId));
  handle(P.ProcessOutputRequest, ({ processId, ...query }, token) => processes.output(processId, query, token));
  handle(P.SignalProcessRequest, (params) => processes.signal(params.processId, params.signal));
  handle(P.WaitProcessRequest, (params, token) => processes.wait(params.processId, params.timeoutMs, token));
  handle(P.SessionLogsRequest, ({ sessionId, ...query }, token) => {
    sessions.get(sessionId); // NotFound for an unknown session
    return sessionLogs.read(sessionId, query, token);
  });
}
