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
  handle(P.PinWorkspaceRequest, ({ id, pinned }) => workspaces.setPinned(id, pinned));
  handle(P.KeepWorkspaceRequest, ({ id }) => workspaces.keep(id));
  handle(P.SetWorkspaceKindRequest, ({ id, kind }) => workspaces.setKind(id, kind));
  handle(P.SetWorkspaceImageRequest, ({ id, image }) => workspaces.setImage(id, image));
  handle(P.WorkspaceHistoryRequest, ({ id, limit }) => workspaces.history(id, limit));
}
