import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HTTPMethod } from 'find-my-way';
import type { Services } from '../server/services';
import type { KeyedLock } from '../util/keyedLock';

/** What routes reach: the same domain modules the JSON-RPC handlers use, and a lock for get-or-create. */
export type ApiServices = Pick<Services, 'workspaces' | 'sessions' | 'exec' | 'processes' | 'ports' | 'pipes' | 'sessionLogs' | 'engine' | 'config' | 'clock' | 'log'> & {
  /** Serialises making a caller-named workspace, so two requests naming it make it once. */
  locks: KeyedLock;
};

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** Path parameters, percent-decoded. */
  params: Record<string, string>;
  /** The query, form-decoded (`+` is a space), as the SDKs encode it. */
  query: URLSearchParams;
  services: ApiServices;
  /** Aborted when the client leaves before the answer. */
  signal: AbortSignal;
}

/** A JSON answer (200 unless said), or nothing when the route wrote the response itself (SSE). */
export type RouteResult = { status?: number; body: unknown } | void;

export interface Route {
  method: HTTPMethod;
  path: string;
  /** The error_code of a 404 on this route (SESSION_NOT_FOUND, …). */
  notFound?: string;
  handle(context: RouteContext): Promise<RouteResult>;
}
