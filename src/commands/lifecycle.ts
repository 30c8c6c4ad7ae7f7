import * as path from 'node:path';
import * as vscode from 'vscode';
import { workspaceNameProblem } from '../../sidecar/client/ids';
import { imageReferenceProblem } from '../../sidecar/client/imageReference';
import {
  ArchiveWorkspaceRequest,
  CloneWorkspaceRequest,
  CreateSnapshotRequest,
  DeleteSnapshotRequest,
  ExportWorkspaceRequest,
  ImportWorkspaceRequest,
  KeepWorkspaceRequest,
  LifecyclePreviewRequest,
  ListSessionsRequest,
  ListSnapshotsRequest,
  PinWorkspaceRequest,
  RestoreSnapshotRequest,
  ResumeSessionRequest,
  SetWorkspaceImageRequest,
  StopSessionRequest,
  type SnapshotInfo,
  type WorkspaceInfo,
} from '../../sidecar/client/protocol';
import { formatBytes } from '../../sidecar/client/units';
import type { Ctx } from '../ctx';
import { WorkspaceItem } from '../views/items';
import { imageChoices, type ImageItem } from './createWizard';
import { withProgress, workspaceFrom } from './pickers';

/** Pin: never warned about, archived or deleted by the lifecycle. */
export async function pinWorkspace(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = await workspaceFrom(ctx, item);
  if (workspace) await setPinned(ctx, workspace, true);
}

export async function unpinWorkspace(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = await workspaceFrom(ctx, item);
  if (workspace) await setPinned(ctx, workspace, false);
}

export async function setPinned(ctx: Ctx, workspace: Pick<WorkspaceInfo, 'id' | 'name'>, pinned: boolean): Promise<void> {
  const changed = await withProgress(ctx, `${pinned ? 'Pinning' : 'Unpinning'} "${workspace.name}"…`, () => ctx.request(PinWorkspaceRequest.type, { id: workspace.id, pinned }));
  if (changed) void vscode.window.setStatusBarMessage(`Sandkasten: "${workspace.name}" ${pinned ? 'is pinned: never removed automatically' : 'is unpinned'}`, 5000);
}

/** Keep: counts as a use, so its expiry starts again and a warning ends. */
export async function keepWorkspace(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = await workspaceFrom(ctx, item);
  if (!workspace) return;
  const kept = await withProgress(ctx, `Keeping "${workspace.name}"…`, () => ctx.request(KeepWorkspaceRequest.type, { id: workspace.id }));
  const deleteAt = kept?.lifecycle?.deleteAt;
  if (kept) void vscode.window.setStatusBarMessage(`Sandkasten: "${workspace.name}" is kept${deleteAt ? ` until ${new Date(deleteAt).toLocaleDateString()} unless used` : ''}`, 5000);
}

/** What the lifecycle would do now and why, in a read-only editor; nothing changes. */
export async function previewLifecycle(ctx: Ctx): Promise<void> {
  const actions = await withProgress(ctx, 'Looking at what the lifecycle would do…', () => ctx.request(LifecyclePreviewRequest.type, {}));
  if (!actions) return;
  const lines = [
    '# Sandkasten: lifecycle actions due now (a dry run: nothing was changed)',
    '',
    ...(actions.length === 0
      ? ['Nothing is due now.']
      : actions.map((action) => `- **${action.action}** ${action.workspaceName ?? action.workspaceId}${action.sessionId ? ` (session ${action.sessionId})` : ''}: ${action.reason}`)),
    '',
    'The lifecycle runs every `sandkasten.lifecycle.checkSeconds`; its policies are the `sandkasten.lifecycle.*` settings. Pinned workspaces are never archived or deleted.',
  ];
  const document = await vscode.workspace.openTextDocument({ language: 'markdown', content: `${lines.join('\n')}\n` });
  await vscode.window.showTextDocument(document, { preview: true });
}

export async function createSnapshot(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = await workspaceFrom(ctx, item);
  if (!workspace) return;
  const name = await vscode.window.showInputBox({
    title: `Snapshot "${workspace.name}"`,
    prompt: 'A name for this snapshot (optional). A running session is frozen while its files are saved.',
    placeHolder: 'before the refactoring',
    validateInput: (value) => (value.length > 100 ? 'At most 100 characters.' : undefined),
  });
  if (name === undefined) return;
  try {
    const snapshot = await ctx.requestWithProgress(`Snapshotting "${workspace.name}"…`, CreateSnapshotRequest.type, { workspaceId: workspace.id, ...(name.trim() ? { name } : {}) });
    void vscode.window.showInformationMessage(`Snapshot "${snapshot.name}" (version ${snapshot.version}, ${formatBytes(snapshot.bytes)}) of "${workspace.name}" is saved.`);
  } catch (error) {
    await ctx.showError(error, `Could not snapshot "${workspace.name}"`);
  }
}

/**
 * Restore Snapshot…: pick one, confirm (naming what is replaced), stop live sessions when
 * the person agrees, restore; the current files are snapshotted first, and Undo restores them.
 */
export async function restoreSnapshot(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = await workspaceFrom(ctx, item);
  if (!workspace) return;
  const snapshot = await pickSnapshot(ctx, workspace, 'Restore');
  if (!snapshot) return;
  const live = (await ctx.request(ListSessionsRequest.type, { workspaceId: workspace.id })).filter((s) => s.state !== 'stopped');
  const action = live.length > 0 ? 'Stop Sessions and Restore' : 'Restore';
  const answer = await vscode.window.showWarningMessage(
    `Restore "${workspace.name}" to snapshot "${snapshot.name}" (version ${snapshot.version}, ${new Date(snapshot.createdAt).toLocaleString()})?`,
    {
      modal: true,
      detail: `Its files in /workspace are replaced by the snapshot's. The current files are snapshotted first, so you can undo.${live.length > 0 ? ` Its ${live.length} live session(s) are stopped first (processes end).` : ''}`,
    },
    action,
  );
  if (answer !== action) return;
  try {
    for (const session of live) await ctx.request(StopSessionRequest.type, { id: session.id });
    const result = await ctx.requestWithProgress(`Restoring "${workspace.name}"…`, RestoreSnapshotRequest.type, { id: snapshot.id });
    for (const session of live) await ctx.request(ResumeSessionRequest.type, { id: session.id });
    const choice = await vscode.window.showInformationMessage(`"${workspace.name}" has the files of "${snapshot.name}" again.`, 'Undo');
    if (choice === 'Undo') {
      // The sessions as they are now (the Undo may come long after the restore).
      const liveNow = (await ctx.request(ListSessionsRequest.type, { workspaceId: workspace.id })).filter((s) => s.state !== 'stopped');
      for (const session of liveNow) await ctx.request(StopSessionRequest.type, { id: session.id });
      await ctx.requestWithProgress(`Undoing the restore of "${workspace.name}"…`, RestoreSnapshotRequest.type, { id: result.undo.id });
      for (const session of liveNow) await ctx.request(ResumeSessionRequest.type, { id: session.id });
    }
  } catch (error) {
    await ctx.showError(error, `Could not restore "${workspace.name}"`);
  }
}

export async function deleteSnapshot(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = await workspaceFrom(ctx, item);
  if (!workspace) return;
  const snapshot = await pickSnapshot(ctx, workspace, 'Delete');
  if (!snapshot) return;
  const answer = await vscode.window.showWarningMessage(
    `Delete snapshot "${snapshot.name}" (version ${snapshot.version}) of "${workspace.name}"?`,
    { modal: true, detail: `Its archive (${formatBytes(snapshot.bytes)}) is removed; this cannot be undone.` },
    'Delete',
  );
  if (answer !== 'Delete') return;
  await withProgress(ctx, `Deleting snapshot "${snapshot.name}"…`, () => ctx.request(DeleteSnapshotRequest.type, { id: snapshot.id }));
}

async function pickSnapshot(ctx: Ctx, workspace: WorkspaceInfo, verb: string): Promise<SnapshotInfo | undefined> {
  const snapshots = await ctx.request(ListSnapshotsRequest.type, { workspaceId: workspace.id });
  if (snapshots.length === 0) {
    const choice = await vscode.window.showInformationMessage(`"${workspace.name}" has no snapshot yet.`, 'Create Snapshot');
    if (choice) await createSnapshot(ctx, new WorkspaceItem(workspace)).catch(() => undefined);
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    snapshots.map((snapshot) => ({
      label: snapshot.name,
      description: `version ${snapshot.version} · ${formatBytes(snapshot.bytes)}`,
      detail: new Date(snapshot.createdAt).toLocaleString(),
      snapshot,
    })),
    { title: `${verb} a snapshot of "${workspace.name}"`, placeHolder: 'Newest first' },
  );
  return picked?.snapshot;
}

/** Change Image…: the next session runs the new image with the same files; a live one is offered a restart. */
export async function changeImage(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = await workspaceFrom(ctx, item);
  if (!workspace) return;
  const image = await pickImage(ctx, workspace);
  if (!image || image === workspace.image) return;
  const changed = await withProgress(ctx, `Changing the image of "${workspace.name}"…`, () => ctx.request(SetWorkspaceImageRequest.type, { id: workspace.id, image }));
  if (!changed) return;
  const live = (await ctx.request(ListSessionsRequest.type, { workspaceId: workspace.id })).filter((s) => s.state !== 'stopped');
  if (live.length === 0) {
    void vscode.window.showInformationMessage(`"${workspace.name}" runs ${image} from its next session on.`);
    return;
  }
  const choice = await vscode.window.showInformationMessage(
    `"${workspace.name}" runs ${image} from its next session on. Its running session still runs ${live[0].image}.`,
    'Restart Session Now',
  );
  if (choice !== 'Restart Session Now') return;
  await withProgress(ctx, `Restarting "${workspace.name}" with ${image}…`, async () => {
    for (const session of live) await ctx.request(StopSessionRequest.type, { id: session.id });
    // A stopped session's container keeps its image: a resume of one with another image makes a new container.
    for (const session of live) await ctx.request(ResumeSessionRequest.type, { id: session.id });
  });
}

async function pickImage(ctx: Ctx, workspace: WorkspaceInfo): Promise<string | undefined> {
  const enterName: ImageItem = { label: '$(edit) Enter image name…', alwaysShow: true, enterName: true };
  const items = await imageChoices(ctx, workspace.image).catch(() => [] as ImageItem[]);
  const picked = await vscode.window.showQuickPick([...items.map((i) => (i.image === workspace.image ? { ...i, description: `current · ${i.description ?? ''}` } : i)), enterName], {
    title: `Change the image of "${workspace.name}"`,
    placeHolder: 'Its next session runs this image with the same /workspace',
  });
  if (!picked) return undefined;
  if (picked.image) return picked.image;
  const typed = await vscode.window.showInputBox({
    title: `Change the image of "${workspace.name}"`,
    prompt: 'An image reference, e.g. "python:3.12-slim" (pulled when not local).',
    value: workspace.image,
    validateInput: (value) => (value.trim() === '' ? 'An image is required.' : imageReferenceProblem(value.trim())),
  });
  return typed?.trim() || undefined;
}

export async function cloneWorkspace(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = await workspaceFrom(ctx, item);
  if (!workspace) return;
  const name = await askName(`Clone "${workspace.name}"`, `${workspace.name}-copy`.slice(0, 32));
  if (!name) return;
  try {
    const clone = await ctx.requestWithProgress(`Cloning "${workspace.name}" into "${name}"…`, CloneWorkspaceRequest.type, { id: workspace.id, name });
    void ctx.views?.revealWorkspace(clone.id);
  } catch (error) {
    await ctx.showError(error, `Could not clone "${workspace.name}"`);
  }
}

export async function exportWorkspace(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = await workspaceFrom(ctx, item);
  if (!workspace) return;
  const target = await vscode.window.showSaveDialog({
    title: `Export the files of "${workspace.name}"`,
    defaultUri: vscode.Uri.file(path.join(defaultDirectory(), `${workspace.name}.tar.gz`)),
    filters: { 'Compressed tar': ['tar.gz', 'tgz'] },
    saveLabel: 'Export',
  });
  if (!target) return;
  try {
    // The save dialog asked about replacing an existing file already.
    const exported = await ctx.requestWithProgress(`Exporting "${workspace.name}"…`, ExportWorkspaceRequest.type, { id: workspace.id, file: target.fsPath, overwrite: true });
    const choice = await vscode.window.showInformationMessage(`Exported "${workspace.name}" to ${exported.file} (${formatBytes(exported.bytes)}).`, 'Reveal');
    if (choice === 'Reveal') await vscode.commands.executeCommand('revealFileInOS', target);
  } catch (error) {
    await ctx.showError(error, `Could not export "${workspace.name}"`);
  }
}

export async function importWorkspace(ctx: Ctx): Promise<void> {
  const [file] =
    (await vscode.window.showOpenDialog({
      title: 'Import a workspace from a .tar.gz',
      canSelectMany: false,
      filters: { 'Compressed tar': ['tar.gz', 'tgz'] },
      openLabel: 'Import',
    })) ?? [];
  if (!file) return;
  const base = path.basename(file.fsPath).replace(/\.(tar\.gz|tgz)$/i, '').toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+/, '').slice(0, 32);
  const name = await askName('Import as workspace', base || 'imported');
  if (!name) return;
  try {
    const workspace = await ctx.requestWithProgress(`Importing ${path.basename(file.fsPath)}…`, ImportWorkspaceRequest.type, { file: file.fsPath, name });
    void ctx.views?.revealWorkspace(workspace.id);
  } catch (error) {
    await ctx.showError(error, `Could not import ${path.basename(file.fsPath)}`);
  }
}

export async function archiveWorkspace(ctx: Ctx, item?: unknown): Promise<void> {
  const workspace = await workspaceFrom(ctx, item);
  if (!workspace) return;
  const answer = await vscode.window.showWarningMessage(
    `Archive workspace "${workspace.name}"?`,
    { modal: true, detail: 'Its files are saved as a compressed archive in the storage directory and its volume is removed. Starting a session restores them.' },
    'Archive',
  );
  if (answer !== 'Archive') return;
  try {
    await ctx.requestWithProgress(`Archiving "${workspace.name}"…`, ArchiveWorkspaceRequest.type, { id: workspace.id });
  } catch (error) {
    await ctx.showError(error, `Could not archive "${workspace.name}"`);
  }
}

function askName(title: string, value: string): Thenable<string | undefined> {
  return vscode.window.showInputBox({
    title,
    prompt: 'The new workspace\'s name: lowercase letters, digits and hyphens, starting with a letter (at most 32).',
    value,
    valueSelection: [0, value.length],
    validateInput: (input) => (input === '' ? 'A name is required.' : workspaceNameProblem(input)),
  });
}

function defaultDirectory(): string {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? process.env.HOME ?? '/';
}
