import { invalidInput } from '../errors';

/**
 * Paths of the file routes, checked and split before anything reaches a container. Pure: what
 * a caller may name is decided here, by text alone; where a name really leads (symbolic links)
 * is checked in the container, on what is actually opened (see fileScripts.ts).
 *
 * A path is handed on as its components below /workspace: never empty, never `.` or `..`,
 * never holding `/` or NUL, each at most NAME_MAX bytes. `..` is resolved as Go's path.Clean
 * does (Sandkasten v1 cleans so): textually, a `..` at the root stays at the root. A path
 * whose cleaned form leaves /workspace (or a workspace's root) is refused.
 */

/** Where every session mounts its workspace; workspace routes name paths relative to it. */
export const WORKSPACE_ROOT = '/workspace';
/** The longest component and path Linux takes (NAME_MAX, PATH_MAX), in bytes. */
export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 4096;

/** `.`, `..` and repeated slashes resolved; `climbsOut`: a `..` went above the start of a relative path. */
export function cleanComponents(path: string): { components: string[]; climbsOut: boolean } {
  const rooted = path.startsWith('/');
  const components: string[] = [];
  let climbsOut = false;
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') components.push(part);
    else if (components.length > 0) components.pop();
    else if (!rooted) climbsOut = true;
  }
  return { components, climbsOut };
}

/** InvalidInput unless every component is one a filesystem takes. */
function checked(components: string[], path: string): string[] {
  if (path.includes('\0')) throw invalidInput('path must not contain a NUL character');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw invalidInput(`path is too long (more than ${MAX_PATH_BYTES} bytes)`);
  const long = components.find((component) => Buffer.byteLength(component) > MAX_NAME_BYTES);
  if (long !== undefined) throw invalidInput(`a name in path is too long (more than ${MAX_NAME_BYTES} bytes): ${long.slice(0, 40)}…`);
  return components;
}

/** The components below /workspace of a path in a session: absolute, or relative to /workspace; `/workspace` itself with `allowRoot`. */
function underWorkspace(path: string, allowRoot: boolean): string[] {
  const absolute = path.startsWith('/') ? path : `${WORKSPACE_ROOT}/${path}`;
  const { components } = cleanComponents(absolute);
  if (components[0] !== 'workspace') throw invalidInput(`path must be under ${WORKSPACE_ROOT}`);
  const below = components.slice(1);
  if (below.length === 0 && !allowRoot) throw invalidInput(`path must point to a file under ${WORKSPACE_ROOT}`);
  return checked(below, path);
}

/** A file in a session (fs/write, fs/read): `/workspace/…`, or relative to /workspace. */
export function sessionFilePath(path: string | undefined, missing = 'path is required'): string[] {
  if (!path) throw invalidInput(missing);
  return underWorkspace(path, false);
}

/**
 * The directory a session upload goes to: absolute, or relative to /workspace (Sandkasten v1
 * dropped a relative directory; it is resolved here as its docs say); empty means /workspace,
 * trailing slashes mean nothing, `/` is the container's root (refused).
 */
export function sessionDirectoryPath(path: string | undefined): string[] {
  return underWorkspace(path || WORKSPACE_ROOT, true);
}

/** A path relative to a workspace's root (a leading `/` is that root, as in Sandkasten v1). */
function underWorkspaceRoot(path: string, allowRoot: boolean): string[] {
  const { components, climbsOut } = cleanComponents(path.replace(/^\/+/, ''));
  if (climbsOut) throw invalidInput(`path must stay inside the workspace (no '..' above its root): ${path}`);
  if (components.length === 0 && !allowRoot) throw invalidInput('path must point to a file in the workspace, not its root');
  return checked(components, path);
}

/** A file in a workspace (its fs/write, fs/read). */
export function workspaceFilePath(path: string | undefined, missing = 'path is required'): string[] {
  if (!path) throw invalidInput(missing);
  return underWorkspaceRoot(path, false);
}

/** A directory in a workspace (its fs listing, an upload's target); empty, `.` or `/` is the root. */
export function workspaceDirectoryPath(path: string | undefined): string[] {
  return underWorkspaceRoot(path ?? '', true);
}

/**
 * The name an uploaded file is stored under: its filename's last component (clients send
 * `C:\dir\a.txt` or `../a.txt`; directories are never taken from a filename), refused when
 * nothing usable is left.
 */
export function uploadName(filename: string): string {
  const name = filename.slice(Math.max(filename.lastIndexOf('/'), filename.lastIndexOf('\\')) + 1);
  if (name === '' || name === '.' || name === '..' || name.includes('\0')) throw invalidInput(`invalid filename: ${JSON.stringify(filename)}`);
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw invalidInput(`invalid filename: longer than ${MAX_NAME_BYTES} bytes`);
  return name;
}

/** How a session's caller sees a path: absolute. */
export const absolutePath = (components: string[]) => [WORKSPACE_ROOT, ...components].join('/');
/** How a workspace's caller sees a path: relative to its root, `/`-separated. */
export const relativePath = (components: string[]) => components.join('/');
