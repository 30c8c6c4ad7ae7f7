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
    title: 'Create Workspace (1/4): name',
    prompt: 'Lowercase letters, digits and hyphens, starting with a letter (at most 32). The id adds 8 hex digits.',
    placeHolder: 'my-api',
    validateInput: (value) => (value === '' ? undefined : workspaceNameProblem(value)),
  });
  if (!name) return;
  const kind = await vscode.window.showQuickPick(
    WORKSPACE_KINDS.map((k) => ({ label: k, detail: KIND_DETAILS[k] })),
    { title: 'Create Workspace (2/4): kind' },
  );
  if (!kind) return;
  const allowHostNetwork = kind.label === 'ephemeral' ? false : await chooseNetwork(name);
  if (allowHostNetwork === undefined) return;
  const defaults = await ctx.request(GetConfigRequest.type, { key: 'defaultImage' }).catch(() => ({ defaultImage: '' }));
  const image = await vscode.window.showInputBox({
    title: 'Create Workspace (4/4): image',
    prompt: 'The container image sessions of this workspace run (pulled when it is not local).',
    value: String(defaults.defaultImage ?? ''),
    validateInput: (value) => (value.trim() === '' ? 'An image is required.' : undefined),
  });
  if (!image) return;
  const workspace = await withProgress(ctx, `Creating workspace "${name}"…`, () =>
    ctx.request(CreateWorkspaceRequest.type, { name, kind: kind.label as WorkspaceKind, image: image.trim(), ...(allowHostNetwork ? { allowHostNetwork } : {}) }),
  );
  if (workspace) void vscode.window.setStatusBarMessage(`Sandkasten: created workspace ${workspace.id}`, 5000);
}

/**
 * The network step: Sandkasten's own (the default) or the host's, which needs a second,
 * explicit yes that names the risk. undefined: the person cancelled.
 */
async function chooseNetwork(name: string): Promise<boolean | undefined> {
  const sandboxNetwork = { label: 'Sandkasten network', description: 'recommended', detail: 'Outbound access; cannot reach other sandboxes or host services' };
  const hostNetwork = { label: 'Host network', description: '$(warning) not isolated', detail: "Shares this machine's network: reaches every service on it, 127.0.0.1 included" };
  const picked = await vscode.window.showQuickPick([sandboxNetwork, hostNetwork], { title: 'Create Workspace (3/4): network' });
  if (!picked) return undefined;
  if (picked === sandboxNetwork) return false;
  const answer = await vscode.window.showWarningMessage(
    `Give workspace "${name}" the host's network?`,
    {
      modal: true,
      detail:
        "Code in its sessions will reach every service on this machine — databases and dev servers on 127.0.0.1, this VS Code server, other users' services — as if it ran here. Choose it only for code you trust.",
    },
    'Use Host Network',
  );
  return answer === 'Use Host Network' ? true : undefined;
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
