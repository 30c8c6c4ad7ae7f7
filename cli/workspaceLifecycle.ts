/**
 * The lifecycle in the CLI: `lifecycle --dry-run|run`, `workspace pin|unpin|keep|history|
 * set-image|archive|clone|export|import` and `snapshot create|list|restore|rm`. Long work shows
 * its progress on stderr when that is a terminal (the sidecar reports it on LSP's work-done token).
 */
import * as path from 'node:path';
import { WorkDoneProgress } from 'vscode-languageserver-protocol';
import type { SidecarClient } from '../sidecar/client/sidecarClient';
import * as P from '../sidecar/client/protocol';
import { formatBytes } from '../sidecar/client/units';
import { formatTable, print, UsageError } from './format';

export interface LifecycleCommandOptions {
  json: boolean;
  dryRun: boolean;
  force: boolean;
  name?: string;
  kind?: string;
  image?: string;
}

/** Answers the command, or undefined when it is none of these. */
export async function runLifecycleCommand(client: SidecarClient, command: string, args: string[], options: LifecycleCommandOptions): Promise<number | undefined> {
  const output = (result: unknown, human: () => string) => print(options.json ? JSON.stringify(result, null, 2) : human());
  const take = (count: number, what: string) => {
    if (args.length !== count) throw new UsageError(`${command} takes ${what}.`);
    return args;
  };
  const withProgress = <T>(work: (token: string) => Promise<T>) => progressOf(client, work);
  switch (command) {
    case 'lifecycle':
    case 'lifecycle run': {
      take(0, 'no arguments');
      if (command === 'lifecycle' && !options.dryRun) throw new UsageError('lifecycle takes --dry-run (what would happen now, changing nothing), or use `lifecycle run`.');
      const actions = await client.request(command === 'lifecycle' ? P.LifecyclePreviewRequest.type : P.LifecycleRunRequest.type, {});
      output(actions, () => (actions.length === 0 ? 'Nothing is due now.' : formatActions(actions)));
      return actions.some((a) => a.outcome === 'failed') ? 1 : 0;
    }
    case 'workspace pin':
    case 'workspace unpin': {
      const [id] = take(1, 'exactly one ID');
      const workspace = await client.request(P.PinWorkspaceRequest.type, { id, pinned: command === 'workspace pin' });
      output(workspace, () => (workspace.pinned ? `Pinned ${workspace.id}: it is never archived or deleted automatically.` : `Unpinned ${workspace.id}${scheduleText(workspace)}.`));
      return 0;
    }
    case 'workspace keep': {
      const [id] = take(1, 'exactly one ID');
      const workspace = await client.request(P.KeepWorkspaceRequest.type, { id });
      output(workspace, () => `Kept ${workspace.id}${scheduleText(workspace)}.`);
      return 0;
    }
    case 'workspace history': {
      const [id] = take(1, 'exactly one ID');
      const events = await client.request(P.WorkspaceHistoryRequest.type, { id });
      output(events, () => formatTable(['TIME', 'EVENT', 'REASON'], events.map((e) => [e.at, e.kind, e.reason])));
      return 0;
    }
    case 'workspace set-image': {
      const [id, image] = take(2, 'an ID and an IMAGE');
      const workspace = await client.request(P.SetWorkspaceImageRequest.type, { id, image });
      const running = (await client.request(P.ListSessionsRequest.type, { workspaceId: id })).filter((s) => s.state === 'running' || s.state === 'paused');
      output(workspace, () =>
        [
          `Workspace ${workspace.id} now runs ${workspace.image} in its next session.`,
          ...running.map((s) => `Session ${s.id} still runs ${s.image}: restart it to switch (sandkasten session stop ${s.id} && sandkasten session resume ${s.id}).`),
        ].join('\n'),
      );
      return 0;
    }
    case 'workspace archive': {
      const [id] = take(1, 'exactly one ID');
      const workspace = await withProgress((token) => client.request(P.ArchiveWorkspaceRequest.type, { id, workDoneToken: token }));
      output(workspace, () => `Archived ${workspace.id}: its files are saved and its volume removed; starting a session restores them.`);
      return 0;
    }
    case 'workspace clone': {
      const [id, name] = take(2, 'an ID and a NAME for the copy');
      const workspace = await withProgress((token) => client.request(P.CloneWorkspaceRequest.type, { id, name, workDoneToken: token }));
      output(workspace, () => `Cloned ${id} into ${workspace.id}`);
      return 0;
    }
    case 'workspace export': {
      const [id, file] = take(2, 'an ID and a FILE (.tar.gz)');
      const exported = await withProgress((token) => client.request(P.ExportWorkspaceRequest.type, { id, file: path.resolve(file), overwrite: options.force, workDoneToken: token }));
      output(exported, () => `Exported ${id} to ${exported.file} (${formatBytes(exported.bytes)}, sha256 ${exported.sha256})`);
      return 0;
    }
    case 'workspace import': {
      const [file, name] = take(2, 'a FILE (.tar.gz) and a NAME');
      const workspace = await withProgress((token) =>
        client.request(P.ImportWorkspaceRequest.type, { file: path.resolve(file), name, kind: options.kind as P.WorkspaceKind | undefined, image: options.image, workDoneToken: token }),
      );
      output(workspace, () => `Imported ${file} as ${workspace.id} (${workspace.kind}, ${workspace.image})`);
      return 0;
    }
    case 'snapshot create': {
      const [workspaceId] = take(1, 'exactly one WORKSPACE_ID');
      const snapshot = await withProgress((token) => client.request(P.CreateSnapshotRequest.type, { workspaceId, name: options.name, workDoneToken: token }));
      output(snapshot, () => `Snapshot ${snapshot.id} (${snapshot.name}, version ${snapshot.version}, ${formatBytes(snapshot.bytes)}) of ${workspaceId}`);
      return 0;
    }
    case 'snapshot list':
    case 'snapshot ls': {
      const [workspaceId] = take(1, 'exactly one WORKSPACE_ID');
      const snapshots = await client.request(P.ListSnapshotsRequest.type, { workspaceId });
      output(snapshots, () => formatTable(['ID', 'VERSION', 'NAME', 'SIZE', 'CREATED'], snapshots.map((s) => [s.id, String(s.version), s.name, formatBytes(s.bytes), s.createdAt])));
      return 0;
    }
    case 'snapshot restore': {
      const [id] = take(1, 'exactly one SNAPSHOT_ID');
      const result = await withProgress((token) => client.request(P.RestoreSnapshotRequest.type, { id, workDoneToken: token }));
      output(result, () => `Restored ${result.restored.workspaceId} to ${result.restored.name} (version ${result.restored.version}). Undo: sandkasten snapshot restore ${result.undo.id}`);
      return 0;
    }
    case 'snapshot rm':
    case 'snapshot delete': {
      const [id] = take(1, 'exactly one SNAPSHOT_ID');
      const result = await client.request(P.DeleteSnapshotRequest.type, { id });
      output(result, () => `Deleted snapshot ${result.id}`);
      return 0;
    }
    default:
      return undefined;
  }
}

/** ", deleted on … unless used" or "" for a workspace the lifecycle keeps. */
export function scheduleText(workspace: P.WorkspaceInfo): string {
  const deleteAt = workspace.lifecycle?.deleteAt;
  return deleteAt ? `; deleted on ${deleteAt.slice(0, 10)} unless used before` : '';
}

/** The LIFECYCLE column of `workspace list`: pinned, a warning, or what comes next. */
export function lifecycleColumn(workspace: P.WorkspaceInfo): string {
  if (workspace.pinned) return 'pinned';
  const schedule = workspace.lifecycle;
  if (!schedule) return '-';
  if (schedule.warning && schedule.deleteAt) return `⚠ deleted ${schedule.deleteAt.slice(0, 10)}`;
  if (schedule.archiveAt && (!schedule.deleteAt || schedule.archiveAt < schedule.deleteAt)) return `archived ${schedule.archiveAt.slice(0, 10)}`;
  return schedule.deleteAt ? `deleted ${schedule.deleteAt.slice(0, 16).replace('T', ' ')}` : '-';
}

function formatActions(actions: P.LifecycleActionInfo[]): string {
  return formatTable(
    ['ACTION', 'WORKSPACE', 'SESSION', 'REASON', ...(actions.some((a) => a.outcome) ? ['OUTCOME'] : [])],
    actions.map((a) => [a.action, a.workspaceName ? `${a.workspaceId} (${a.workspaceName})` : a.workspaceId, a.sessionId ?? '-', a.reason, ...(a.outcome ? [a.error ? `${a.outcome}: ${a.error}` : a.outcome] : [])]),
  );
}

/** Runs `work` with a progress token; its reports go to stderr on one rewritten line when stderr is a terminal. */
async function progressOf<T>(client: SidecarClient, work: (token: string) => Promise<T>): Promise<T> {
  const token = `cli-${process.pid}-${Date.now()}`;
  const shown = process.stderr.isTTY;
  const listener = client.connection.onProgress(WorkDoneProgress.type, token, (value) => {
    if (!shown || value.kind === 'end') return;
    const message = value.kind === 'begin' ? value.title : (value.message ?? '');
    process.stderr.write(`\r\x1b[K${message}`);
  });
  try {
    return await work(token);
  } finally {
    listener.dispose();
    if (shown) process.stderr.write('\r\x1b[K');
  }
}

