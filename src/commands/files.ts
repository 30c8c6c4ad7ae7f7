import type { Ctx } from '../ctx';
import { openFilesFolder } from '../files/workspaceFileSystem';
import { SessionItem } from '../views/items';
import { workspaceFrom } from './pickers';

/**
 * Open Workspace Files: the workspace's /workspace as a folder of this window, to browse and
 * edit in the Explorer and editors (a workspace or session row's, or one picked).
 */
export async function openWorkspaceFiles(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = item instanceof SessionItem ? { id: item.session.workspaceId, name: item.session.workspaceName } : await workspaceFrom(ctx, item);
  if (!workspace) return;
  await openFilesFolder({ workspaceId: workspace.id }, `${workspace.name} (Sandkasten)`);
}
