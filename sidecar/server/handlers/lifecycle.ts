import { WorkDoneProgress, type MessageConnection } from 'vscode-languageserver-protocol';
import * as P from '../../client/protocol';
import type { Progress } from '../../lifecycle/workspaceArchives';
import type { HandlerContext } from './context';

export function registerLifecycleHandlers({ handle, connection, services: { lifecycle, archives } }: HandlerContext): void {
  handle(P.LifecyclePreviewRequest, () => lifecycle.preview());
  handle(P.LifecycleRunRequest, () => lifecycle.run());
  handle(P.ArchiveWorkspaceRequest, ({ id, workDoneToken }) => reporting(connection, workDoneToken, 'Archiving', (progress) => archives.archive(id, 'archived on request', progress)));
  handle(P.CloneWorkspaceRequest, ({ id, name, workDoneToken }) => reporting(connection, workDoneToken, 'Cloning', (progress) => archives.clone(id, name, progress)));
  handle(P.ExportWorkspaceRequest, ({ id, file, overwrite, workDoneToken }) =>
    reporting(connection, workDoneToken, 'Exporting', (progress) => archives.export(id, file, overwrite ?? false, progress)),
  );
  handle(P.ImportWorkspaceRequest, ({ file, workDoneToken, ...params }) => reporting(connection, workDoneToken, 'Importing', (progress) => archives.import(file, params, progress)));
  handle(P.CreateSnapshotRequest, ({ workspaceId, name, workDoneToken }) =>
    reporting(connection, workDoneToken, 'Snapshotting', (progress) => archives.createSnapshot(workspaceId, name, progress)),
  );
  handle(P.ListSnapshotsRequest, ({ workspaceId }) => archives.list(workspaceId));
  handle(P.RestoreSnapshotRequest, ({ id, workDoneToken }) => reporting(connection, workDoneToken, 'Restoring', (progress) => archives.restoreSnapshot(id, progress)));
  handle(P.DeleteSnapshotRequest, async ({ id }) => {
    await archives.deleteSnapshot(id);
    return { id };
  });
}

/** At most this often a progress report goes out: a fast copy must not flood the client. */
const REPORT_EVERY_MS = 200;

/** Runs `work`, reporting its progress on the client's work-done token (LSP's $/progress) when it gave one. */
export async function reporting<T>(connection: MessageConnection, token: string | number | undefined, title: string, work: (progress?: Progress) => Promise<T>): Promise<T> {
  if (token === undefined) return work();
  void connection.sendProgress(WorkDoneProgress.type, token, { kind: 'begin', title });
  let last = 0;
  try {
    return await work((message) => {
      const now = Date.now();
      if (now - last < REPORT_EVERY_MS) return;
      last = now;
      void connection.sendProgress(WorkDoneProgress.type, token, { kind: 'report', message });
    });
  } finally {
    void connection.sendProgress(WorkDoneProgress.type, token, { kind: 'end' });
  }
}
