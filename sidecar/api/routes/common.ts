import type { SessionInfo, WorkspaceInfo } from '../../client/protocol';
import type { Cancellation } from '../../exec/exec';
import { callerWorkspaceIdProblem } from '../../client/ids';
import { badRequest } from '../apiError';
import type { RouteContext } from '../route';

/** How long an API session lives unused (Sandkasten v1: 30 min), and at most (24 h). */
export const DEFAULT_TTL_SECONDS = 1800;
export const MAX_TTL_SECONDS = 86_400;

/** An id from the path: plain (no path characters), short; anything else is a 400 before any lookup. */
export function pathId(context: RouteContext, name = 'id'): string {
  const id = context.params[name] ?? '';
  if (id === '') throw badRequest(`${name === 'id' ? 'session' : name} id is required`);
  if (id.length > 128) throw badRequest(`${name} is too long`);
  if (id.includes('..') || /[/\\\s]/.test(id)) throw badRequest(`invalid ${name}`);
  return id;
}

/** The session the path names (404 SESSION_NOT_FOUND when there is none). */
export function sessionOf(context: RouteContext): SessionInfo {
  return context.services.sessions.get(pathId(context));
}

/**
 * A workspace id from the path; Sandkasten v1's legacy prefix `sandkasten-ws-` is dropped.
 * One no workspace can have (v1's rule, which ours follow too) is a 400, before any lookup.
 */
export function workspaceIdOf(context: RouteContext): string {
  const given = pathId(context);
  const id = given.startsWith('sandkasten-ws-') && given.length > 'sandkasten-ws-'.length ? given.slice('sandkasten-ws-'.length) : given;
  const problem = callerWorkspaceIdProblem(id);
  if (problem) throw badRequest(`workspace id ${problem.replace(/^it /, '')}`);
  return id;
}

export function workspaceOf(context: RouteContext): WorkspaceInfo {
  return context.services.workspaces.get(workspaceIdOf(context));
}

/** An API call used the session: its lease runs at least the default time from now (v1 extends it so). */
export async function touch(context: RouteContext, session: SessionInfo): Promise<void> {
  if (!session.expiresAt) return;
  const { clock } = context.services;
  const remaining = Date.parse(session.expiresAt) - clock.now();
  if (remaining < DEFAULT_TTL_SECONDS * 1000) await context.services.sessions.extendLease(session.id, DEFAULT_TTL_SECONDS * 1000);
}

/** The request's abort signal as the domain's cancellation. */
export function cancellationOf(signal: AbortSignal): Cancellation {
  return {
    get isCancellationRequested() {
      return signal.aborted;
    },
    onCancellationRequested(listener) {
      signal.addEventListener('abort', listener);
      return { dispose: () => signal.removeEventListener('abort', listener) };
    },
  };
}
