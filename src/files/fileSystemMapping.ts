import { errorCodeName, errorFileKind, type FileTarget } from '../../sidecar/client/protocol';

/**
 * How `sandkasten:` URIs and the sidecar's file errors map to VS Code's file system, without
 * `vscode` itself (so it is tested as it is). A URI is `sandkasten://<workspace id>/<path>`,
 * or `sandkasten://shared.<joined share id>/<path>` for a session someone shares with us
 * (workspace ids hold no dot, so the two never meet).
 */
export const FILES_SCHEME = 'sandkasten';
const SHARED_PREFIX = 'shared.';

export function authorityOf(target: FileTarget): string {
  return 'workspaceId' in target ? target.workspaceId : `${SHARED_PREFIX}${target.joinedShareId}`;
}

/** The target a URI's authority names; undefined for an empty one. */
export function targetOf(authority: string): FileTarget | undefined {
  if (authority === '') return undefined;
  if (authority.startsWith(SHARED_PREFIX) && authority.length > SHARED_PREFIX.length) return { joinedShareId: authority.slice(SHARED_PREFIX.length) };
  return { workspaceId: authority };
}

/** VS Code's FileSystemError factories, by name. */
export type FileSystemErrorKind = 'FileNotFound' | 'FileExists' | 'FileNotADirectory' | 'FileIsADirectory' | 'NoPermissions' | 'Unavailable';

/**
 * Which FileSystemError a failed file request becomes: by its code and ErrorData.file (see
 * fileProtocol.ts). What refuses (a link out of /workspace, the sandbox's permissions, an
 * archived workspace, a path or size the sidecar will not take) is NoPermissions; what
 * could not be reached (Docker, a timeout, the sidecar itself) is Unavailable.
 */
export function fileSystemErrorKind(error: unknown): FileSystemErrorKind {
  const file = errorFileKind(error);
  if (file === 'notADirectory') return 'FileNotADirectory';
  if (file === 'isADirectory') return 'FileIsADirectory';
  const code: unknown = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  switch (typeof code === 'number' ? errorCodeName(code) : undefined) {
    case 'NotFound':
      return 'FileNotFound';
    case 'Exists':
      return 'FileExists';
    case 'Forbidden':
    case 'Conflict':
    case 'InvalidInput':
    case 'InvalidName':
      return 'NoPermissions';
    default:
      return 'Unavailable';
  }
}
