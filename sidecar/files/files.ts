import { cryptoRandomHex, type RandomHex } from '../client/ids';
import type { WorkspaceInfo } from '../client/protocol';
import type { ConfigStore } from '../config';
import type { ContainerSpec, Engine } from '../docker/engine';
import { conflict, hasCode } from '../errors';
import { CommandShell } from '../exec/commandShell';
import { MAIN_PROCESS_SCRIPT } from '../exec/shellText';
import type { Sessions } from '../sessions';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import type { Workspaces } from '../workspaces';
import {
  deleteScript,
  entriesScript,
  FILE_STATUS,
  listScript,
  makeDirectoryScript,
  parseEntries,
  parseListing,
  parseStat,
  readScript,
  renameScript,
  statScript,
  writeScript,
  type ListedEntry,
  type StatLine,
  type TypedEntry,
  type WriteMode,
} from './fileScripts';
import { FileShells, runScript, runScriptWithInput, ScriptError, SHELL_ENDED, type ScriptResult } from './fileShells';
import { WORKSPACE_ROOT } from './paths';
import { listDirectoriesScript, parseDirectoryListings, parsePoll, pollScript, type PollOutput } from './watchScripts';

/**
 * A write up to this size travels as base64 inside the script, through a warm shell (no exec);
 * a larger one as the stdin of an exec of its own. Measured on busybox: inline costs ~3 ms
 * plus ~50 ms per MiB (the shell parses the text), the exec ~40 ms plus ~15 ms per MiB; they
 * cross between 512 KiB (31 ms against ~48) and 1 MiB (58 against 55).
 */
export const INLINE_WRITE_MAX_BYTES = 512 * 1024;
/** How long one file operation may take (100 MiB through Docker takes a second or two). */
const FILE_TIMEOUT_MS = 60_000;
/** Entries a listing returns at most; it says `truncated` beyond. */
export const MAX_LIST_ENTRIES = 10_000;
/** listScript prints a type byte, a name of up to 255 bytes and a NUL per entry. */
const MAX_LIST_OUTPUT_BYTES = (MAX_LIST_ENTRIES + 1) * 257;
/** entriesScript prints two type bytes, a name of up to 255 bytes and a NUL per entry. */
const ENTRY_RECORD_BYTES = 258;
/** A stat's one line. */
const MAX_STAT_OUTPUT_BYTES = 1024;
/** What a poll prints before its bounded lines: its clock and whether the path exists. */
const MAX_POLL_HEAD_BYTES = 64;

/** What went wrong with a path or a file, for the caller to turn into its answer. */
export type FileProblem =
  | 'notFound'
  | 'notADirectory'
  | 'isADirectory'
  | 'notARegularFile'
  | 'outsideWorkspace'
  | 'symbolicLink'
  | 'noWorkspace'
  | 'exists'
  | 'notEmpty'
  | 'intoItself'
  | 'failed'
  | 'timeout';

export class FileError extends Error {
  constructor(
    readonly problem: FileProblem,
    message: string,
    /** What the container said (its stderr), when it said something: sandbox text, shown as such. */
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'FileError';
  }
}

export interface FilesDependencies {
  engine: Engine;
  clock: Clock;
  config: ConfigStore;
  sessions: Pick<Sessions, 'ready' | 'list'>;
  workspaces: Pick<Workspaces, 'get' | 'markHasFiles' | 'withLock'>;
  log: Logger;
  randomHex?: RandomHex;
  timeoutMs?: number;
}

/**
 * Files in sessions and workspaces, reached inside a container that has the workspace at
 * /workspace, never from the host. Why a container, not Docker's archive API (`docker cp`):
 * - The archive API makes dockerd, root on the host, walk paths a sandbox controls; symlink
 *   races there have let containers read and write host files before (CVE-2018-15664). In
 *   the container, the kernel resolves every name in the sandbox's own mount namespace with
 *   the sandbox's own rights (dropped capabilities, its user, seccomp): no trick can reach past
 *   what the sandbox could touch itself. The host only receives bytes, bounded and checked.
 * - Speed: the archive API re-executes dockerd in a chroot per call (~50 ms measured, read or
 *   write); a warm shell in the running container answers a small read or write in ~3 ms.
 * - It writes as the sandbox's user, so files belong to whoever works there.
 * A session's files are reached in its running container. A workspace's: in a running
 * session's container when it has one, else in a short-lived helper container with its
 * volume (~190 ms a request: create, start, remove; labelled, role `files`, so
 * reconciliation removes one a crash left behind). How paths are kept inside /workspace,
 * symbolic links included, is fileScripts.ts's part.
 */
export class Files {
  private readonly shells: FileShells;

  constructor(private readonly deps: FilesDependencies) {
    this.shells = new FileShells(deps.engine, deps.clock);
  }

  /** Runs `work` in the session's running container (Conflict when it does not run, NotFound when there is no such session). */
  async inSession<T>(sessionId: string, work: (place: FilePlace) => Promise<T>): Promise<T> {
    const { containerId } = await this.deps.sessions.ready(sessionId);
    return work(this.placeIn(containerId));
  }

  /** Runs `work` where the workspace's volume is: a running session's container, else a helper container (NotFound when there is no such workspace). */
  async inWorkspace<T>(workspaceId: string, work: (place: FilePlace) => Promise<T>): Promise<T> {
    const workspace = this.deps.workspaces.get(workspaceId);
    // A frozen session counts: the file access is a use, which thaws it (faster than a helper container too).
    const live = this.deps.sessions.list(workspace.id).find((session) => (session.state === 'running' || session.frozenAt) && session.containerId);
    if (live) return work(this.placeIn((await this.deps.sessions.ready(live.id)).containerId));
    // Under the workspace's lock: an archive, a snapshot restore or a pooled session's start
    // cannot replace the volume while the helper writes into it.
    return this.deps.workspaces.withLock(workspace.id, async () => {
      const fresh = this.deps.workspaces.get(workspace.id);
      if (fresh.state === 'archived') {
        throw conflict(`Workspace "${fresh.id}" is archived: its files are in an archive. Start a session on it to restore them first.`);
      }
      // Before the helper touches it: a pooled session must never replace this volume now.
      await this.deps.workspaces.markHasFiles(fresh.id);
      return this.inHelper(fresh, work);
    });
  }

  /**
   * Runs `work` in a container known to run (a watcher's poll): no use of its session is
   * counted and nothing is thawed, so watching never keeps a session from freezing. Each
   * script may take `timeoutMs` (a poll that hangs, say on a container frozen meanwhile, ends then).
   */
  inRunningContainer<T>(containerId: string, timeoutMs: number, work: (place: FilePlace) => Promise<T>): Promise<T> {
    return work(this.placeIn(containerId, timeoutMs));
  }

  /** Closes the warm shells (shutdown, tests). */
  dispose(): void {
    this.shells.closeAll();
  }

  private placeIn(containerId: string, timeoutMs = this.timeoutMs): FilePlace {
    const { clock } = this.deps;
    return new FilePlace(this.deps, containerId, (script, maxStdoutBytes) => this.shells.with(containerId, (shell) => runScript(shell, clock, script, { maxStdoutBytes, timeoutMs })));
  }

  private get timeoutMs(): number {
    return this.deps.timeoutMs ?? FILE_TIMEOUT_MS;
  }

  /**
   * A container made for this work only: the workspace's image, user and runtime (files get
   * the owner a session would give them), no network, a read-only root, the usual limits and
   * hardening (DockerEngine applies those to every container). Its main process is a command
   * shell attached before the start, so no exec is needed; it is removed afterwards, whatever happened.
   */
  private async inHelper<T>(workspace: WorkspaceInfo, work: (place: FilePlace) => Promise<T>): Promise<T> {
    const { engine, clock, config, log } = this.deps;
    const settings = config.current;
    const spec: ContainerSpec = {
      name: `sandkasten-${engine.instanceId}-files-${(this.deps.randomHex ?? cryptoRandomHex)(6)}`,
      image: workspace.image,
      role: 'files',
      workspaceId: workspace.id,
      command: ['sh', '-c', MAIN_PROCESS_SCRIPT],
      workingDir: WORKSPACE_ROOT,
      mounts: [{ type: 'volume', source: workspace.volume, target: WORKSPACE_ROOT }],
      cpus: settings['limits.cpus'],
      memoryMb: settings['limits.memoryMb'],
      pids: settings['limits.pids'],
      network: 'none',
      readOnlyRoot: true,
      user: settings['sandbox.user'][workspace.kind] || undefined,
      runtime: settings['sandbox.runtime'][workspace.kind] || undefined,
    };
    const containerId = await engine.createContainer(spec).catch(async (error: unknown) => {
      if (!hasCode(error, 'ImageMissing')) throw error;
      await engine.ensureImage(spec.image);
      return engine.createContainer(spec);
    });
    try {
      const attached = await CommandShell.attachMain(engine, clock, containerId);
      try {
        await engine.startContainer(containerId);
      } catch (error) {
        attached.abandon();
        throw error;
      }
      const shell = await attached.ready();
      try {
        return await work(new FilePlace(this.deps, containerId, (script, maxStdoutBytes) => runScript(shell, clock, script, { maxStdoutBytes, timeoutMs: this.timeoutMs })));
      } finally {
        shell.dispose();
      }
    } finally {
      await engine.removeContainer(containerId).catch((error: unknown) => log.error(`removing file helper container ${containerId.slice(0, 12)}`, error));
    }
  }
}

/** One container with the workspace at /workspace: what can be done to its files. Paths are components below /workspace (see paths.ts). */
export class FilePlace {
  constructor(
    private readonly deps: Pick<FilesDependencies, 'engine' | 'clock' | 'randomHex' | 'timeoutMs'>,
    readonly containerId: string,
    private readonly run: (script: string, maxStdoutBytes: number) => Promise<ScriptResult>,
  ) {}

  /** Up to `maxBytes` of the file; `truncated` when it has more. `chunks` are the bytes in order (not joined: a read may be 100 MiB). */
  async read(components: string[], maxBytes: number): Promise<{ chunks: Buffer[]; bytes: number; truncated: boolean }> {
    const result = checked(await this.guarded(() => this.run(readScript(components, maxBytes + 1), maxBytes + 1)));
    if (result.stdoutBytes <= maxBytes) return { chunks: result.stdout, bytes: result.stdoutBytes, truncated: false };
    return { chunks: firstBytes(result.stdout, maxBytes), bytes: maxBytes, truncated: true };
  }

  /** Writes the file whole (by default parents made, an existing file replaced; see WriteMode). */
  async write(components: string[], content: Buffer, mode?: WriteMode): Promise<void> {
    const { engine, clock } = this.deps;
    const nonce = (this.deps.randomHex ?? cryptoRandomHex)(8);
    if (content.length <= INLINE_WRITE_MAX_BYTES) {
      checked(await this.guarded(() => this.run(writeScript(components, { base64: content.toString('base64') }, nonce, mode), 0)));
    } else {
      const timeoutMs = this.deps.timeoutMs ?? FILE_TIMEOUT_MS;
      checked(await this.guarded(() => runScriptWithInput(engine, clock, this.containerId, writeScript(components, 'stdin', nonce, mode), content, timeoutMs)));
    }
  }

  /** What is at the path (a link followed only into /workspace; see statScript). */
  async stat(components: string[]): Promise<StatLine> {
    const result = checked(await this.guarded(() => this.run(statScript(components), MAX_STAT_OUTPUT_BYTES)));
    const stat = parseStat(Buffer.concat(result.stdout).toString('utf8'));
    if (!stat) throw new FileError('failed', 'the container answered a stat with something that is not one');
    return stat;
  }

  /** The directory's entries with their types and links, at most `limit`; `truncated` beyond. */
  async entries(components: string[], limit: number): Promise<{ entries: TypedEntry[]; truncated: boolean }> {
    const result = checked(await this.guarded(() => this.run(entriesScript(components, limit), (limit + 1) * ENTRY_RECORD_BYTES)));
    return parseEntries(Buffer.concat(result.stdout));
  }

  /** Removes a file, link or directory (one with entries only when `recursive`). */
  async remove(components: string[], recursive: boolean): Promise<void> {
    checked(await this.guarded(() => this.run(deleteScript(components, recursive), 0)));
  }

  async rename(from: string[], to: string[], overwrite: boolean): Promise<void> {
    checked(await this.guarded(() => this.run(renameScript(from, to, overwrite), 0)));
  }

  async makeDirectory(components: string[]): Promise<void> {
    checked(await this.guarded(() => this.run(makeDirectoryScript(components), 0)));
  }

  /** What was modified below the path since `since` (see pollScript); a path whose directory cannot be walked to is missing. */
  async poll(components: string[], options: { recursive: boolean; since?: number; maxBytes: number; stamp?: string }): Promise<PollOutput> {
    const nonce = options.stamp ?? (this.deps.randomHex ?? cryptoRandomHex)(8);
    try {
      const result = checked(await this.guarded(() => this.run(pollScript(components, { ...options, nonce }), options.maxBytes + MAX_POLL_HEAD_BYTES)));
      return parsePoll(Buffer.concat(result.stdout), components, options.maxBytes);
    } catch (error) {
      if (error instanceof FileError && (error.problem === 'notFound' || error.problem === 'notADirectory' || error.problem === 'outsideWorkspace')) {
        return { exists: false, changed: [], truncated: false };
      }
      throw error;
    }
  }

  /** Several directories' entries in one round trip (see listDirectoriesScript), by their index in `directories`. */
  async listDirectories(directories: string[][], options: { limit: number; maxBytes: number }): Promise<Map<number, TypedEntry[] | 'incomplete'>> {
    const result = checked(await this.guarded(() => this.run(listDirectoriesScript(directories, options), options.maxBytes)));
    return parseDirectoryListings(Buffer.concat(result.stdout), directories.length);
  }

  /** The directory's entries by name (links as files, as Sandkasten v1 lists them); at most MAX_LIST_ENTRIES. */
  async list(components: string[]): Promise<{ entries: ListedEntry[]; truncated: boolean }> {
    const result = checked(await this.guarded(() => this.run(listScript(components, MAX_LIST_ENTRIES), MAX_LIST_OUTPUT_BYTES)));
    return parseListing(Buffer.concat(result.stdout));
  }

  private async guarded(run: () => Promise<ScriptResult>): Promise<ScriptResult> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof ScriptError) throw new FileError(error.failure === 'timeout' ? 'timeout' : 'failed', error.message);
      throw error;
    }
  }
}

const PROBLEM_OF_STATUS = new Map<number, FileProblem>([
  [FILE_STATUS.notFound, 'notFound'],
  [FILE_STATUS.notADirectory, 'notADirectory'],
  [FILE_STATUS.isADirectory, 'isADirectory'],
  [FILE_STATUS.notARegularFile, 'notARegularFile'],
  [FILE_STATUS.outsideWorkspace, 'outsideWorkspace'],
  [FILE_STATUS.symbolicLink, 'symbolicLink'],
  [FILE_STATUS.noWorkspace, 'noWorkspace'],
  [FILE_STATUS.exists, 'exists'],
  [FILE_STATUS.notEmpty, 'notEmpty'],
  [FILE_STATUS.intoItself, 'intoItself'],
]);

/** The result when its script succeeded, else a FileError saying why (a status it does not use is a failure). */
export function checked(result: ScriptResult): ScriptResult {
  if (result.status === FILE_STATUS.ok) return result;
  const problem = PROBLEM_OF_STATUS.get(result.status) ?? 'failed';
  const said = containerSays(result.stderr);
  const message =
    result.status === SHELL_ENDED
      ? 'the container stopped before the file operation ended'
      : problem === 'failed'
        ? `the container could not do it (status ${result.status}${said ? `: ${said}` : ''})`
        : problem;
  throw new FileError(problem, message, said || undefined);
}

/** The last line a container printed on stderr, as plain short text (it is the sandbox's to choose). */
export function containerSays(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').trim()).filter(Boolean);
  const last = lines.at(-1) ?? '';
  return last.length > 200 ? `${last.slice(0, 200)}…` : last;
}

/** The first `limit` bytes of `chunks`, as slices. */
function firstBytes(chunks: Buffer[], limit: number): Buffer[] {
  const kept: Buffer[] = [];
  let left = limit;
  for (const chunk of chunks) {
    if (left <= 0) break;
    kept.push(chunk.length <= left ? chunk : chunk.subarray(0, left));
    left -= Math.min(chunk.length, left);
  }
  return kept;
}
