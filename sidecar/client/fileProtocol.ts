/**
 * The workspace file system's requests (VS Code's FileSystemProvider, `sandkasten:` URIs):
 * part of the wire protocol, re-exported by protocol.ts.
 *
 * Every request names its files with a `target` — a workspace of this sidecar, or a session
 * another person shares with us (joined through a link) — and a `path`, absolute within the
 * workspace's /workspace as a URI's path is: `/` is /workspace itself, `/src/a.ts` is
 * /workspace/src/a.ts. `.` and `..` components are refused (InvalidInput), never resolved.
 * File contents travel as base64 in the JSON; one read or write carries at most
 * MAX_FILE_BYTES.
 *
 * Errors: NotFound (no such file, directory or workspace), Exists (a create or a rename
 * without overwrite met something), Forbidden (a symbolic link leading out of /workspace, a
 * FIFO or device, a write through a link, the sandbox's file permissions, deleting or
 * renaming the root, a share's viewer writing), InvalidInput with `data.file` =
 * `notADirectory` or `isADirectory` when the path's kind is wrong, InvalidInput for a bad
 * path, a file over MAX_FILE_BYTES or a directory moved into itself; Conflict when it cannot
 * be done now (an archived workspace, a directory not empty for a non-recursive delete);
 * Timeout, DockerUnavailable as elsewhere.
 */
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';
import * as S from './schema';

/** The most one read or write carries (64 MiB): larger files are for a terminal, an export or the HTTP API. */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** Whose files: a workspace of this sidecar, or the workspace of a session someone shares with us. */
export type FileTarget = { workspaceId: string } | { joinedShareId: string };

/** Carried in ErrorData.file: which wrong kind of path an InvalidInput was about (VS Code tells these apart). */
export type FileErrorKind = 'notADirectory' | 'isADirectory';

export interface FileStatInfo {
  /** What the path is (a link: what it leads to, when that is inside /workspace; else `file`). */
  type: 'file' | 'directory';
  /** The path itself is a symbolic link. */
  symlink: boolean;
  size: number;
  mtimeMs: number;
  /** The last status change (what Linux keeps; VS Code calls it creation time). */
  ctimeMs: number;
}

export interface DirectoryEntryInfo {
  name: string;
  /** As in FileStatInfo: a link to a directory inside /workspace is a directory; one leading out is a file. */
  type: 'file' | 'directory';
  symlink: boolean;
}

export interface FileChangeInfo {
  type: 'created' | 'changed' | 'deleted';
  /** As in requests: `/src/a.ts`. */
  path: string;
}

const fileTarget: S.Schema<FileTarget> = {
  check(value, key) {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const { workspaceId, joinedShareId } = value as Record<string, unknown>;
      if (typeof workspaceId === 'string' && workspaceId.trim() !== '' && joinedShareId === undefined) return { workspaceId };
      if (typeof joinedShareId === 'string' && joinedShareId.trim() !== '' && workspaceId === undefined) return { joinedShareId };
    }
    throw new S.SchemaError(`"${key}" must be {"workspaceId": "…"} or {"joinedShareId": "…"}.`);
  },
};

const targetAndPath = { target: fileTarget, path: S.string() };

export interface FilePathParams {
  target: FileTarget;
  path: string;
}

export namespace FileStatRequest {
  export const params = S.params(targetAndPath);
  export const method = 'files/stat';
  /** NotFound when there is nothing at the path. */
  export const type = new RequestType<FilePathParams, FileStatInfo, void>(method);
}

export namespace ReadDirectoryRequest {
  export const params = S.params(targetAndPath);
  export const method = 'files/readDirectory';
  /** The directory's entries by name, at most MAX_DIRECTORY_ENTRIES (of a larger directory: the first the shell lists). */
  export const type = new RequestType<FilePathParams, DirectoryEntryInfo[], void>(method);
}
/** The most entries one readDirectory answers with. */
export const MAX_DIRECTORY_ENTRIES = 50_000;

export namespace ReadFileRequest {
  export const params = S.params(targetAndPath);
  export const method = 'files/read';
  /** The whole file, base64; a file over MAX_FILE_BYTES is InvalidInput. */
  export const type = new RequestType<FilePathParams, { content: string }, void>(method);
}

export interface WriteFileParams extends FilePathParams {
  /** The whole new content, base64. */
  content: string;
  /** Make the file when it does not exist (else NotFound). Its directory must exist. */
  create: boolean;
  /** Replace the file when it exists (else Exists). */
  overwrite: boolean;
}
export namespace WriteFileRequest {
  export const params = S.params({ ...targetAndPath, content: S.text(), create: S.boolean(), overwrite: S.boolean() });
  export const method = 'files/write';
  /** Written whole (a new file beside it, renamed over it): a reader never sees half of it. */
  export const type = new RequestType<WriteFileParams, null, void>(method);
}

export namespace DeleteFileRequest {
  export const params = S.params({ ...targetAndPath, recursive: S.boolean() });
  export const method = 'files/delete';
  /** A directory with entries needs `recursive` (else Conflict); a link is removed, never followed. */
  export const type = new RequestType<FilePathParams & { recursive: boolean }, null, void>(method);
}

export interface RenameFileParams extends FilePathParams {
  newPath: string;
  /** Replace what is at `newPath` (a directory there is removed first); else Exists. */
  overwrite: boolean;
}
export namespace RenameFileRequest {
  export const params = S.params({ ...targetAndPath, newPath: S.string(), overwrite: S.boolean() });
  export const method = 'files/rename';
  export const type = new RequestType<RenameFileParams, null, void>(method);
}

export namespace CreateDirectoryRequest {
  export const params = S.params(targetAndPath);
  export const method = 'files/createDirectory';
  /** Its parent must exist (else NotFound); Exists when something is there. */
  export const type = new RequestType<FilePathParams, null, void>(method);
}

export interface WatchFilesParams extends FilePathParams {
  /** Chosen by the client, unique per connection: FileChangedNotification carries it. Watching again with the same id replaces that watch. */
  watchId: string;
  /** The whole tree below `path`, not only its direct entries. */
  recursive: boolean;
}
/** Watches one connection may hold at once. */
export const MAX_WATCHES_PER_CONNECTION = 1000;
export namespace WatchFilesRequest {
  export const params = S.params({ ...targetAndPath, watchId: S.string(), recursive: S.boolean() });
  export const method = 'files/watch';
  /**
   * Reports changes as FileChangedNotification to this connection until unwatched or the
   * connection closes. Changes made inside the container are noticed about a second later,
   * and only while the workspace has a running session (watching never starts, thaws or
   * counts as a use of one); changes made through these requests at once. A directory whose
   * entries changed is reported `changed`, with its entries `created` or `deleted`.
   */
  export const type = new RequestType<WatchFilesParams, null, void>(method);
}

export namespace UnwatchFilesRequest {
  export const params = S.params({ watchId: S.string() });
  export const method = 'files/unwatch';
  /** Ends the watch; an unknown id is fine (it ended already). */
  export const type = new RequestType<{ watchId: string }, null, void>(method);
}

export interface FileChangedParams {
  watchId: string;
  changes: FileChangeInfo[];
}
export namespace FileChangedNotification {
  export const method = 'files/changed';
  /** Sent only to the connection that made the watch. */
  export const type = new NotificationType<FileChangedParams>(method);
}
