import * as P from '../../client/protocol';
import { conflict, invalidInput } from '../../errors';
import type { HandlerContext } from './context';

/**
 * The workspace file system (VS Code's FileSystemProvider): each request on the FileOps of
 * its target (Services.fileOps). Watches belong to this connection: their changes go to it
 * alone, and they end when it closes.
 */
export function registerFileHandlers({ handle, connection, flow, services }: HandlerContext): void {
  handle(P.FileStatRequest, ({ target, path }) => services.fileOps(target).stat(path));
  handle(P.ReadDirectoryRequest, ({ target, path }) => services.fileOps(target).readDirectory(path));
  handle(P.ReadFileRequest, async ({ target, path }) => ({ content: (await services.fileOps(target).readFile(path)).toString('base64') }));
  handle(P.WriteFileRequest, async ({ target, path, content, create, overwrite }) => {
    await services.fileOps(target).writeFile(path, decodeContent(content), { create, overwrite });
    return null;
  });
  handle(P.DeleteFileRequest, async ({ target, path, recursive }) => {
    await services.fileOps(target).delete(path, { recursive });
    return null;
  });
  handle(P.RenameFileRequest, async ({ target, path, newPath, overwrite }) => {
    await services.fileOps(target).rename(path, newPath, { overwrite });
    return null;
  });
  handle(P.CreateDirectoryRequest, async ({ target, path }) => {
    await services.fileOps(target).createDirectory(path);
    return null;
  });

  const watches = new Map<string, { dispose(): void }>();
  const unwatch = (watchId: string) => {
    watches.get(watchId)?.dispose();
    watches.delete(watchId);
  };
  handle(P.WatchFilesRequest, ({ target, path, watchId, recursive }) => {
    if (!watches.has(watchId) && watches.size >= P.MAX_WATCHES_PER_CONNECTION) {
      throw conflict(`This connection watches ${P.MAX_WATCHES_PER_CONNECTION} paths already: unwatch some first.`);
    }
    const ops = services.fileOps(target);
    // Replacing a watch of the same id (a client watching again after a reconnect) ends the old one first.
    unwatch(watchId);
    const watch = ops.watch(path, { recursive }, (changes) => {
      if (watches.get(watchId) !== watch) return;
      flow.send(P.FileChangedNotification.type, { watchId, changes }, changes.reduce((bytes, change) => bytes + change.path.length + 32, 0));
    });
    watches.set(watchId, watch);
    return null;
  });
  handle(P.UnwatchFilesRequest, ({ watchId }) => {
    unwatch(watchId);
    return null;
  });
  const endAll = () => {
    for (const watchId of [...watches.keys()]) unwatch(watchId);
  };
  connection.onClose(endAll);
  connection.onDispose(endAll);
}

/** The most base64 characters a write may carry (MAX_FILE_BYTES encoded). */
const MAX_CONTENT_CHARS = 4 * Math.ceil(P.MAX_FILE_BYTES / 3);

/** A write's content: standard padded base64 (as Buffer#toString('base64') makes it), never half-decoded. */
export function decodeContent(content: string): Buffer {
  if (content.length > MAX_CONTENT_CHARS) {
    throw invalidInput(`The content is larger than ${P.MAX_FILE_BYTES / 1024 / 1024} MiB, the most one write carries: use a terminal, an import or the HTTP API for it.`);
  }
  if (content.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(content)) throw invalidInput('"content" must be standard base64 (with padding).');
  return Buffer.from(content, 'base64');
}
