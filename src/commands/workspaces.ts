import * as vscode from 'vscode';
import { workspaceNameProblem } from '../../sidecar/client/ids';
import { CreateWorkspaceRequest, DeleteWorkspaceRequest, ListSessionsRequest, RenameWorkspaceRequest, type WorkspaceInfo } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { describeError } from '../errors';
import { askWorkspace } from './createWizard';
import { withProgress, workspaceFrom } from './pickers';
import { startSessionOn } from './sessions';

/**
 * Create Workspace: the wizard, then the create under a progress notification. A failed
 * create keeps what was entered and offers the step to fix ("Choose Another Image", "Change
 * Name"); the raw detail is in the log behind "Show Logs". Success selects the new row and
 * offers to start a session.
 */
export async function createWorkspace(ctx: Ctx): Promise<void> {
  let answers = await askWorkspace(ctx);
  while (answers) {
    const { name, kind, image, allowHostNetwork } = answers;
    try {
      const workspace = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Creating workspace "${name}"…` }, () =>
        ctx.request(CreateWorkspaceRequest.type, { name, kind, image, ...(allowHostNetwork ? { allowHostNetwork } : {}) }),
      );
      void offerStart(ctx, workspace);
      return;
    } catch (error) {
      const { code } = describeError(error);
      const fix = code === 'ImageMissing' || (code === 'InvalidInput' && /image/i.test(describeError(error).message)) ? 'image' : code === 'InvalidName' || code === 'Conflict' ? 'name' : undefined;
      const action = fix === 'image' ? 'Choose Another Image' : fix === 'name' ? 'Change Name' : undefined;
      const chosen = await ctx.showError(error, `Could not create workspace "${name}"`, ...(action ? [action] : []));
      answers = chosen && fix ? await askWorkspace(ctx, { step: fix, answers }) : undefined;
    }
  }
}

/** After a create: the new row selected, and a Start Session offer. */
async function offerStart(ctx: Ctx, workspace: WorkspaceInfo): Promise<void> {
  await ctx.views?.revealWorkspace(workspace.id);
  const choice = await vscode.window.showInformationMessage(`Workspace "${workspace.name}" is ready (${workspace.kind}, ${workspace.image}).`, 'Start Session');
  if (choice === 'Start Session') await startSessionOn(ctx, workspace);
}

/** Rename… on a workspace row (or a picked one); its sessions' rows follow. */
export async function renameWorkspace(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = await workspaceFrom(ctx, item);
  if (!workspace) return;
  const name = await vscode.window.showInputBox({
    title: `Rename Workspace "${workspace.name}"`,
    prompt: 'Lowercase letters, digits and hyphens, starting with a letter (at most 32). Its id stays.',
    value: workspace.name,
    valueSelection: [0, workspace.name.length],
    validateInput: (value) => (value === '' ? 'A name is required.' : workspaceNameProblem(value)),
  });
  if (!name || name === workspace.name) return;
  const renamed = await withProgress(ctx, `Renaming "${workspace.name}" to "${name}"…`, () => ctx.request(RenameWorkspaceRequest.type, { id: workspace.id, name }));
  if (renamed) void ctx.views?.revealWorkspace(renamed.id);
}

export async function deleteWorkspace(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = await workspaceFrom(ctx, item);
  if (!workspace) return;
  const sessions = await ctx.request(ListSessionsRequest.type, { workspaceId: workspace.id });
  const sessionNote = sessions.length > 0 ? ` and its ${sessions.length} session container(s)` : '';
  const answer = await vscode.window.showWarningMessage(
    `Delete workspace "${workspace.name}" (${workspace.id})?`,
    { modal: true, detail: `Its volume ${workspace.volume}${sessionNote} will be removed. Files in /workspace are lost; this cannot be undone.` },
    'Delete',
  );
  if (answer !== 'Delete') return;
  await withProgress(ctx, `Deleting workspace "${workspace.name}"…`, () => ctx.request(DeleteWorkspaceRequest.type, { id: workspace.id, force: true }));
}
