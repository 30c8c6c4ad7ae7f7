import { MAX_DIRECTORY_ENTRIES, MAX_FILE_BYTES, type DirectoryEntryInfo, type FileChangeInfo, type FileStatInfo } from '../client/protocol';
import { conflict, exists, forbidden, hasCode, invalidInput, notFound, SandkastenError } from '../errors';
import type { Sessions } from '../sessions';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import type { Workspaces } from '../workspaces';
import { FileError, type FilePlace, type Files } from './files';
import { FileWatches, pathOf, type MadeChange } from './fileWatch';
import { MAX_NAME_BYTES, MAX_PATH_BYTES, WORKSPACE_ROOT } from './paths';

/**
 * What can be done to one workspace's files, as VS Code's FileSystemProvider asks for it
 * (paths like `/src/a.ts`, see fileProtocol.ts). Complete in itself: the JSON-RPC handlers
 * use it for a window, the share host for a guest (after its role check). Every call but
 * `watch` is a use of the workspace (a frozen session thaws); errors are SandkastenErrors
 * with the codes fileProtocol.ts lists.
 */
export interface FileOps {
  stat(path: string): Promise<FileStatInfo>;
  readDirectory(path: string): Promise<DirectoryEntryInfo[]>;
  /** The whole file; InvalidInput when it is larger than `maxBytes` (default: MAX_FILE_BYTES), and then no more than that was read. */
  readFile(path: string, maxBytes?: number): Promise<Buffer>;
  writeFile(path: string, content: Buffer, options: { create: boolean; overwrite: boolean }): Promise<void>;
  delete(path: string, options: { recursive: boolean }): Promise<void>;
  rename(from: string, to: string, options: { overwrite: boolean }): Promise<void>;
  createDirectory(path: string): Promise<void>;
  watch(path: string, options: { recursive: boolean }, onChanges: (changes: FileChangeInfo[]) => void): { dispose(): void };
}

/** A poll's script may take this long (a container frozen under it would hold it forever). */
const POLL_TIMEOUT_MS = 10_000;

export interface WorkspaceFileSystemDependencies {
  files: Pick<Files, 'inWorkspace' | 'inRunningContainer'>;
  sessions: Pick<Sessions, 'list'>;
  workspaces: Pick<Workspaces, 'get'>;
  clock: Clock;
  log: Logger;
}

/**
 * Workspaces' files for editors, through Files (inside a container that has the workspace,
 * never from the host: see files.ts), with their watches (see fileWatch.ts).
 */
export class WorkspaceFileSystem {
  private readonly watches: FileWatches;
  private readonly visits: Visits;

  constructor(private readonly deps: WorkspaceFileSystemDependencies) {
    this.visits = new Visits(deps.files);
    this.watches = new FileWatches({
      runningContainer: (workspaceId) => this.runningContainer(workspaceId),
      inContainer: (containerId, work) => deps.files.inRunningContainer(containerId, POLL_TIMEOUT_MS, work),
      clock: deps.clock,
      log: deps.log,
    });
  }

  /** The workspace's FileOps; NotFound when there is no such workspace. */
  forWorkspace(workspaceId: string): FileOps {
    this.deps.workspaces.get(workspaceId);
    return new WorkspaceFileOps(workspaceId, this.visits, this.watches);
  }

  /** Ends every watch (shutdown). */
  dispose(): void {
    this.watches.dispose();
  }

  /** Only a running session that is not frozen is polled: a frozen or stopped one is left as it is. */
  private runningContainer(workspaceId: string): string | undefined | 'gone' {
    try {
      return this.deps.sessions.list(workspaceId).find((session) => session.state === 'running' && !session.frozenAt && session.containerId)?.containerId ?? undefined;
    } catch (error) {
      if (hasCode(error, 'NotFound')) return 'gone';
      throw error;
    }
  }
}

class WorkspaceFileOps implements FileOps {
  constructor(
    private readonly workspaceId: string,
    private readonly visits: Visits,
    private readonly watches: FileWatches,
  ) {}

  async stat(path: string): Promise<FileStatInfo> {
    const components = fileSystemPath(path);
    // A file on the way (`/a.txt/b`) means there is nothing at the path: VS Code asks to know whether it exists.
    const stat = await this.at(components, (place) => place.stat(components), { notADirectory: 'notFound' });
    return { type: stat.type, symlink: stat.symlink, size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs };
  }

  async readDirectory(path: string): Promise<DirectoryEntryInfo[]> {
    const components = fileSystemPath(path);
    const { entries } = await this.at(components, (place) => place.entries(components, MAX_DIRECTORY_ENTRIES));
    this.watches.noteListing(this.workspaceId, components, entries);
    return entries.map(({ name, type, symlink }) => ({ name, type, symlink }));
  }

  async readFile(path: string, maxBytes = MAX_FILE_BYTES): Promise<Buffer> {
    const components = fileSystemPath(path);
    if (components.length === 0) throw isADirectory(path);
    const limit = Math.min(maxBytes, MAX_FILE_BYTES);
    const read = await this.at(components, (place) => place.read(components, limit));
    if (read.truncated) throw tooLarge(path, limit);
    return Buffer.concat(read.chunks, read.bytes);
  }

  async writeFile(path: string, content: Buffer, options: { create: boolean; overwrite: boolean }): Promise<void> {
    const components = fileSystemPath(path);
    if (components.length === 0) throw isADirectory(path);
    if (content.length > MAX_FILE_BYTES) throw tooLarge(path);
    // Whether it existed decides what watchers are told; asked only when someone watches.
    const watched = this.watches.isWatched(this.workspaceId);
    const existed = await this.at(components, async (place) => {
      const before = watched ? await present(place, components) : true;
      await place.write(components, content, { makeParents: false, create: options.create, overwrite: options.overwrite });
      return before;
    });
    this.report([{ type: existed ? 'changed' : 'created', components }]);
  }

  async delete(path: string, options: { recursive: boolean }): Promise<void> {
    const components = fileSystemPath(path);
    if (components.length === 0) throw forbidden(`The root of the workspace (${WORKSPACE_ROOT}) cannot be deleted.`);
    await this.at(components, (place) => place.remove(components, options.recursive));
    this.report([{ type: 'deleted', components }]);
  }

  async rename(from: string, to: string, options: { overwrite: boolean }): Promise<void> {
    const source = fileSystemPath(from);
    const target = fileSystemPath(to);
    if (source.length === 0 || target.length === 0) throw forbidden(`The root of the workspace (${WORKSPACE_ROOT}) cannot be renamed or replaced.`);
    if (pathOf(source) === pathOf(target)) return;
    await this.at(source, (place) => place.rename(source, target, options.overwrite), { shown: `${pathOf(source)} → ${pathOf(target)}` });
    this.report([
      { type: 'deleted', components: source },
      { type: 'created', components: target },
    ]);
  }

  async createDirectory(path: string): Promise<void> {
    const components = fileSystemPath(path);
    if (components.length === 0) throw exists(`${path} exists already (the workspace's root).`);
    await this.at(components, (place) => place.makeDirectory(components));
    this.report([{ type: 'created', components, isDirectory: true }]);
  }

  watch(path: string, options: { recursive: boolean }, onChanges: (changes: FileChangeInfo[]) => void): { dispose(): void } {
    return this.watches.watch(this.workspaceId, fileSystemPath(path), options.recursive, onChanges);
  }

  /** Runs `work` where the workspace's files are; a FileError becomes the error a client maps (see fileSystemError). */
  private async at<T>(components: string[], work: (place: FilePlace) => Promise<T>, options: { shown?: string; notADirectory?: 'notFound' } = {}): Promise<T> {
    try {
      return await this.visits.run(this.workspaceId, work);
    } catch (error) {
      if (options.notADirectory && error instanceof FileError && error.problem === 'notADirectory') throw notFound(`No such file or directory: ${pathOf(components)}`);
      throw fileSystemError(error, options.shown ?? pathOf(components));
    }
  }

  private report(changes: MadeChange[]): void {
    this.watches.report(this.workspaceId, changes);
  }
}

/** A workspace's file operations run together in one visit (see Visits) at most this many at once… */
const CONCURRENT_OPERATIONS = 4;
/** …and at most this many in all: a visit in a helper container holds the workspace's lock, which others wait for. */
const MAX_OPERATIONS_PER_VISIT = 100;

interface Operation {
  work(place: FilePlace): Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface Visit {
  queue: Operation[];
  accepted: number;
  workers: number;
  place?: FilePlace;
  /** Ends the visit (Files then lets its container go). */
  finished?: () => void;
}

/**
 * Runs the file operations of a workspace that come together in one Files.inWorkspace visit.
 * VS Code asks many things at once (opening a folder: dozens of stats); a workspace without a
 * running session is visited in a helper container (~200 ms each, one at a time under its
 * lock), and in a running one each concurrent call beyond the warm shells costs a `docker
 * exec`. Operations that come while a visit lasts join it, CONCURRENT_OPERATIONS at a time;
 * the visit ends when none is left. Measured, 20 stats at once: 7.6 s in helpers one by one,
 * 0.26 s in one; 1.6 s in a running session with a shell each, 0.29 s.
 */
class Visits {
  private readonly open = new Map<string, Visit>();

  constructor(private readonly files: Pick<Files, 'inWorkspace'>) {}

  run<T>(workspaceId: string, work: (place: FilePlace) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const operation: Operation = { work, resolve: resolve as (value: unknown) => void, reject };
      const visit = this.open.get(workspaceId);
      if (!visit || visit.accepted >= MAX_OPERATIONS_PER_VISIT) return this.start(workspaceId, operation);
      visit.accepted++;
      visit.queue.push(operation);
      if (visit.place && visit.workers < CONCURRENT_OPERATIONS) this.work(workspaceId, visit);
    });
  }

  private start(workspaceId: string, first: Operation): void {
    const visit: Visit = { queue: [first], accepted: 1, workers: 0 };
    this.open.set(workspaceId, visit);
    this.files
      .inWorkspace(workspaceId, (place) => {
        visit.place = place;
        return new Promise<void>((finished) => {
          visit.finished = finished;
          while (visit.workers < Math.min(CONCURRENT_OPERATIONS, visit.queue.length)) this.work(workspaceId, visit);
        });
      })
      .catch((error: unknown) => {
        // The visit itself failed (no such workspace, an archived one, no helper container): so did whatever waited for it.
        this.close(workspaceId, visit);
        for (const operation of visit.queue.splice(0)) operation.reject(error);
      });
  }

  /** One worker: takes operations until none is left; the last to stop ends the visit. */
  private work(workspaceId: string, visit: Visit): void {
    visit.workers++;
    void (async () => {
      for (let next = visit.queue.shift(); next; next = visit.queue.shift()) await next.work(visit.place!).then(next.resolve, next.reject);
      if (--visit.workers > 0) return;
      this.close(workspaceId, visit);
      visit.finished?.();
    })();
  }

  private close(workspaceId: string, visit: Visit): void {
    if (this.open.get(workspaceId) === visit) this.open.delete(workspaceId);
  }
}

/** Whether anything is at the path (a dangling link included). */
async function present(place: FilePlace, components: string[]): Promise<boolean> {
  try {
    await place.stat(components);
    return true;
  } catch (error) {
    if (error instanceof FileError && (error.problem === 'notFound' || error.problem === 'notADirectory')) return false;
    throw error;
  }
}

/**
 * The components below /workspace of a path as clients name files: absolute, `/` being
 * /workspace. Repeated and trailing slashes mean nothing; `.` and `..` are refused rather
 * than resolved (VS Code never sends them: one that does is not to be guessed at).
 */
export function fileSystemPath(path: string): string[] {
  if (!path.startsWith('/')) throw invalidInput(`A path must start with "/" (the workspace's root, ${WORKSPACE_ROOT}), like /src/a.ts: ${JSON.stringify(path.slice(0, 80))}`);
  if (path.includes('\0')) throw invalidInput('A path must not contain a NUL character.');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw invalidInput(`The path is too long (more than ${MAX_PATH_BYTES} bytes).`);
  const components = path.split('/').filter((part) => part !== '');
  if (components.some((part) => part === '.' || part === '..')) throw invalidInput(`A path must not contain "." or ".." components: ${JSON.stringify(path.slice(0, 80))}`);
  const long = components.find((part) => Buffer.byteLength(part) > MAX_NAME_BYTES);
  if (long !== undefined) throw invalidInput(`A name in the path is longer than ${MAX_NAME_BYTES} bytes: ${long.slice(0, 40)}…`);
  return components;
}

const isADirectory = (shown: string) => new SandkastenError('InvalidInput', `${shown} is a directory.`, undefined, { file: 'isADirectory' });
const tooLarge = (shown: string, limit = MAX_FILE_BYTES) =>
  invalidInput(`${shown} is larger than ${limit / 1024 / 1024} MiB, the most one read or write carries here: use a terminal, an export or the HTTP API for it.`);

/** What the sandbox says when its file permissions (or a read-only mount) refused. */
const REFUSED = /permission denied|operation not permitted|read-only file system/i;

/** A FileError as the SandkastenError clients map (fileProtocol.ts lists the codes); anything else as it is. `shown` is the path as the caller named it. */
export function fileSystemError(error: unknown, shown: string): unknown {
  if (!(error instanceof FileError)) return error;
  const { detail } = error;
  switch (error.problem) {
    case 'notFound':
      return notFound(`No such file or directory: ${shown}`, detail);
    case 'notADirectory':
      return new SandkastenError('InvalidInput', `Not a directory: a part of ${shown} is a file.`, detail, { file: 'notADirectory' });
    case 'isADirectory':
      return new SandkastenError('InvalidInput', `${shown} is a directory.`, detail, { file: 'isADirectory' });
    case 'exists':
      return exists(`${shown} exists already.`, detail);
    case 'notEmpty':
      return conflict(`${shown} is a directory with entries: it is deleted only with its contents (recursive).`, detail);
    case 'intoItself':
      return invalidInput(`${shown}: a directory cannot be moved into itself, nor replace a directory that holds it.`, detail);
    case 'notARegularFile':
      return forbidden(`${shown} is not a regular file (a FIFO, socket or device): refused.`, detail);
    case 'outsideWorkspace':
      return forbidden(`${shown} leads out of ${WORKSPACE_ROOT} through a symbolic link: refused.`, detail);
    case 'symbolicLink':
      return forbidden(`${shown} is a symbolic link: a write never goes through one (write to the file it points to).`, detail);
    case 'timeout':
      return new SandkastenError('Timeout', `${shown}: ${error.message}.`, detail);
    case 'noWorkspace':
      return conflict(`The container has no ${WORKSPACE_ROOT}.`, detail);
    default:
      if (REFUSED.test(detail ?? '')) return forbidden(`${shown}: the sandbox's file permissions do not allow it (${detail}).`, detail);
      return conflict(`${shown}: ${error.message}.`, detail);
  }
}
