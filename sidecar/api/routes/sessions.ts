import { callerWorkspaceIdProblem } from '../../client/ids';
import { imageReferenceProblem } from '../../client/imageReference';
import { WORKSPACE_KINDS, type WorkspaceInfo, type WorkspaceKind } from '../../client/protocol';
import { hasCode } from '../../errors';
import { DISPOSABLE_TAG } from '../../sessions';
import { ApiError, badRequest } from '../apiError';
import { Fields, readJsonObject } from '../requestBody';
import type { ApiServices, Route } from '../route';
import { v1Session } from '../shapes';
import { DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, sessionOf } from './common';

/**
 * A session without `workspace_id` gets a workspace of its own, gone with the session (as v1's
 * sandbox storage is): of kind `session` (outbound network on the sandboxes' isolated bridge,
 * what an agent installing packages needs; `workspace_kind: "ephemeral"` for none), tagged
 * `disposable`: it is deleted with its last session, whoever destroys that.
 */
const DISPOSABLE_KIND: WorkspaceKind = 'session';
const DISPOSABLE_NAME = 'api-session';
/** The kind of a workspace a caller names with `workspace_id`: kept until deleted, as in v1. */
const NAMED_KIND: WorkspaceKind = 'persistent';

export const SESSION_ROUTES: Route[] = [
  {
    method: 'POST',
    path: '/v1/sessions',
    notFound: 'WORKSPACE_NOT_FOUND',
    async handle({ req, services }) {
      const fields = new Fields(await readJsonObject(req));
      const ttlSeconds = fields.integer('ttl_seconds', 0, MAX_TTL_SECONDS, `ttl_seconds must not exceed ${MAX_TTL_SECONDS} (24 hours)`) || DEFAULT_TTL_SECONDS;
      const workspaceId = fields.string('workspace_id') || undefined;
      const idProblem = workspaceId === undefined ? undefined : callerWorkspaceIdProblem(workspaceId);
      if (idProblem) throw badRequest(`workspace_id ${idProblem.replace(/^it /, '')}`);
      const kind = workspaceKind(fields.string('workspace_kind'));
      const image = await resolveImage(fields.string('image'), services);
      const start = { origin: 'api' as const, leaseMs: ttlSeconds * 1000 };
      const session = workspaceId
        ? await services.locks.run(`api-workspace:${workspaceId}`, async () =>
            existingWorkspace(services, workspaceId)
              ? services.sessions.start(workspaceId, start)
              : services.sessions.startInNewWorkspace({ name: workspaceId, kind: kind ?? NAMED_KIND, image }, { ...start, id: workspaceId }),
          )
        : await services.sessions.startInNewWorkspace({ name: DISPOSABLE_NAME, kind: kind ?? DISPOSABLE_KIND, image, tags: [DISPOSABLE_TAG] }, start);
      const workspace = services.workspaces.get(session.workspaceId);
      return { status: 201, body: { ...v1Session(session, services.exec, workspace), acquire_source: session.fromPool ? 'pool' : 'cold' } };
    },
  },
  {
    method: 'GET',
    path: '/v1/sessions',
    async handle({ services }) {
      // Newest first, as v1 lists them.
      const kinds = new Map(services.workspaces.list().map((workspace) => [workspace.id, workspace]));
      const sessions = services.sessions.list().reverse();
      return { body: sessions.map((session) => v1Session(session, services.exec, kinds.get(session.workspaceId))) };
    },
  },
  {
    method: 'GET',
    path: '/v1/sessions/:id',
    notFound: 'SESSION_NOT_FOUND',
    async handle(context) {
      const session = sessionOf(context);
      return { body: v1Session(session, context.services.exec, context.services.workspaces.get(session.workspaceId)) };
    },
  },
  {
    method: 'DELETE',
    path: '/v1/sessions/:id',
    notFound: 'SESSION_NOT_FOUND',
    async handle(context) {
      // A workspace made for it alone (tagged `disposable`) goes too (see Sessions.destroy).
      await context.services.sessions.destroy(sessionOf(context).id);
      return { body: { ok: true } };
    },
  },
  {
    method: 'GET',
    path: '/v1/sessions/:id/stats',
    notFound: 'SESSION_NOT_FOUND',
    async handle(context) {
      const { containerId } = await context.services.sessions.ready(sessionOf(context).id);
      const stats = await context.services.engine.containerStats(containerId);
      return { body: { memory_bytes: stats.memoryBytes, memory_limit: stats.memoryLimit, cpu_usage_usec: stats.cpuUsageUsec, pids: stats.pids } };
    },
  },
  // Ours: stop (container and files kept) and start again.
  ...(['stop', 'start'] as const).map(
    (verb): Route => ({
      method: 'POST',
      path: `/v1/sessions/:id/${verb}`,
      notFound: 'SESSION_NOT_FOUND',
      async handle(context) {
        const { sessions, exec, workspaces } = context.services;
        const id = sessionOf(context).id;
        const session = verb === 'stop' ? await sessions.stop(id) : await sessions.resume(id);
        return { body: v1Session(session, exec, workspaces.get(session.workspaceId)) };
      },
    }),
  ),
];

/** Whether the workspace exists (made by anyone, with any id rule). */
function existingWorkspace(services: ApiServices, id: string): boolean {
  try {
    services.workspaces.get(id);
    return true;
  } catch (error) {
    if (hasCode(error, 'NotFound')) return false;
    throw error;
  }
}

/** The workspace a caller named: made (with that id) when it does not exist yet; one request makes it. */
export async function namedWorkspace(services: ApiServices, id: string, shape: { kind: WorkspaceKind; image: string }): Promise<WorkspaceInfo> {
  return services.locks.run(`api-workspace:${id}`, async () =>
    existingWorkspace(services, id) ? services.workspaces.get(id) : services.workspaces.create({ name: id, kind: shape.kind, image: shape.image }, { origin: 'api', id }),
  );
}

function workspaceKind(value: string | undefined): WorkspaceKind | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(WORKSPACE_KINDS as readonly string[]).includes(value)) throw badRequest(`workspace_kind must be one of ${WORKSPACE_KINDS.join(', ')}`);
  return value as WorkspaceKind;
}

/**
 * v1's image names: none or `base` is the default image; a name in `api.images` is what it
 * stands for; anything else must be an image reference (pulled when not local).
 */
export async function resolveImage(name: string | undefined, services: Pick<ApiServices, 'config' | 'engine'>): Promise<string> {
  const settings = services.config.current;
  if (!name || name === 'base') return settings.defaultImage;
  // Only names someone set: `toString` is not an alias because every object has it.
  const aliases = settings['api.images'];
  if (Object.hasOwn(aliases, name)) return aliases[name];
  const problem = imageReferenceProblem(name);
  if (problem) throw new ApiError(400, 'INVALID_IMAGE', `image not allowed: ${name} (${problem})`);
  if (V1_TEMPLATES.has(name)) return (await localImageOf(name, services)) ?? settings.defaultImage;
  return name;
}

/**
 * v1's template names, which its SDKs send by default (the Python SDK always says `python`):
 * without an alias they are a local image of that repository when there is one, else the
 * default image, rather than a pull of Docker Hub's `python` that may not be reachable.
 */
const V1_TEMPLATES = new Set(['python', 'node']);

async function localImageOf(repository: string, services: Pick<ApiServices, 'engine'>): Promise<string | undefined> {
  const images = await services.engine.listImages().catch(() => []);
  return images.find((image) => image.reference === `${repository}:latest`)?.reference ?? images.find((image) => image.reference.startsWith(`${repository}:`))?.reference;
}
