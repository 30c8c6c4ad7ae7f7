import * as vscode from 'vscode';
import { workspaceNameProblem } from '../../sidecar/client/ids';
import { CreateWorkspaceRequest, DeleteWorkspaceRequest, GetConfigRequest, ListSessionsRequest, WORKSPACE_KINDS, type WorkspaceKind } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { withProgress, workspaceFrom } from './pickers';

const KIND_DETAILS: Record<WorkspaceKind, string> = {
  ephemeral: 'One-off runs: deleted 5 minutes after its session ends, no network',
  session: 'Interactive work: expires after 24 hours idle, extended by activity',
  persistent: 'Long-lived projects: kept until 30 days without access; pin to keep forever',
  collaborative: 'Shared work: persistent, and can be shared with others',
};

export async function createWorkspace(ctx: Ctx): Promise<void> {
  const name = await vscode.window.showInputBox({
    title: 'Create Workspace (1/3): name',
    prompt: 'Lowercase letters, digits and hyphens, starting with a letter (at most 32). The id adds 8 hex digits.',
    placeHolder: 'my-api',
    validateInput: (value) => (value === '' ? undefined : workspaceNameProblem(value)),
  });
  if (!name) return;
  const kind = await vscode.window.showQuickPick(
    WORKSPACE_KINDS.map((k) => ({ label: k, detail: KIND_DETAILS[k] })),
    { title: 'Create Workspace (2/3): kind' },
  );
  if (!kind) return;
  const defaults = await ctx.request(GetConfigRequest.type, { key: 'defaultImage' }).catch(() => ({ defaultImage: '' }));
  const image = await vscode.window.showInputBox({
    title: 'Create Workspace (3/3): image',
    prompt: 'The container image sessions of this workspace run (pulled when it is not local).',
    value: String(defaults.defaultImage ?? ''),
    validateInput: (value) => (value.trim() === '' ? 'An image is required.' : undefined),
  });
  if (!image) return;
  const workspace = await withProgress(ctx, `Creating workspace "${name}"…`, () =>
    ctx.request(CreateWorkspaceRequest.type, { name, kind: kind.label as WorkspaceKind, image: image.trim() }),
  );
  if (workspace) void vscode.window.setStatusBarMessage(`Sandkasten: created workspace ${workspace.id}`, 5000);
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
