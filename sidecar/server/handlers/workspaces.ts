import * as P from '../../client/protocol';
import type { HandlerContext } from './context';

export function registerWorkspaceHandlers({ handle, services: { workspaces }, client }: HandlerContext): void {
  handle(P.ListWorkspacesRequest, (filter) => workspaces.listInSlices(filter));
  handle(P.ListWorkspacesPageRequest, ({ cursor, limit, ...filter }) => workspaces.page(filter, cursor, limit));
  handle(P.CreateWorkspaceRequest, (params) => workspaces.create({ ...params, name: params.name ?? '' }, { origin: client.origin }));
  handle(P.RenameWorkspaceRequest, (params) => workspaces.rename(params.id, params.name ?? ''));
  handle(P.DeleteWorkspaceRequest, async ({ id, force }) => {
    await workspaces.delete(id, force ?? false);
    return { id };
  });
}
