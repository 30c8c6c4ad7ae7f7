import { WORKSPACE_KINDS, type WorkspaceKind } from '../../client/protocol';
import { hasCode } from '../../errors';
import { badRequest } from '../apiError';
import { Fields, readJsonObject } from '../requestBody';
import type { Route } from '../route';
import { v1Workspace } from '../shapes';
import { workspaceIdOf, workspaceOf } from './common';
import { resolveImage } from './sessions';

export const WORKSPACE_ROUTES: Route[] = [
  {
    method: 'GET',
    path: '/v1/workspaces',
    async handle({ services }) {
      const sessions = services.sessions.list();
      // v1 answers an object: both SDKs read `.workspaces`.
      return { body: { workspaces: services.workspaces.list().map((workspace) => v1Workspace(workspace, sessions)) } };
    },
  },
  {
    // Ours: a workspace made ahead of its sessions, of a kind, with an id of the caller's or a name.
    method: 'POST',
    path: '/v1/workspaces',
    async handle({ req, services }) {
      const fields = new Fields(await readJsonObject(req));
      const id = fields.string('id') || undefined;
      const name = fields.string('name') || id;
      if (!name) throw badRequest('give an id (kept as given, e.g. "user123-project456") or a name (the id adds 8 hex digits)');
      const kind = fields.string('kind') || 'persistent';
      if (!(WORKSPACE_KINDS as readonly string[]).includes(kind)) throw badRequest(`kind must be one of ${WORKSPACE_KINDS.join(', ')}`);
      const image = await resolveImage(fields.string('image'), services);
      const description = fields.string('description');
      const tags = fields.stringList('tags');
      const workspace = await services.workspaces.create({ name, kind: kind as WorkspaceKind, image, description, tags }, { origin: 'api', ...(id ? { id } : {}) });
      return { status: 201, body: v1Workspace(workspace, []) };
    },
  },
  {
    method: 'GET',
    path: '/v1/workspaces/:id',
    notFound: 'WORKSPACE_NOT_FOUND',
    async handle(context) {
      const workspace = workspaceOf(context);
      return { body: v1Workspace(workspace, context.services.sessions.list(workspace.id)) };
    },
  },
  {
    // Its sessions go with it; deleting one that does not exist is done already (as in v1).
    method: 'DELETE',
    path: '/v1/workspaces/:id',
    notFound: 'WORKSPACE_NOT_FOUND',
    async handle(context) {
      try {
        await context.services.workspaces.delete(workspaceIdOf(context), true);
      } catch (error) {
        if (!hasCode(error, 'NotFound')) throw error;
      }
      return { body: { ok: true } };
    },
  },
];
