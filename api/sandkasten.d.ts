/**
 * Sandkasten's extension API: Docker sandboxes (workspaces, sessions, commands, background
 * processes, terminals) for other VS Code extensions — an agent, a test runner.
 *
 * ```ts
 * import type { SandkastenApi } from './sandkasten'; // this file, copied into your project
 * const extension = vscode.extensions.getExtension<SandkastenApi>('sandkasten.sandkasten');
 * const sandkasten = (await extension!.activate()).getApi(1);
 * ```
 *
 * Declare `"extensionDependencies": ["sandkasten.sandkasten"]` so VS Code installs and
 * activates Sandkasten before your extension. The API connects to the sidecar lazily, on
 * its first call, and shares it with the Sandkasten views, terminals and the `sandkasten`
 * CLI: what you create shows up there.
 *
 * This file is self-contained: it needs nothing but `vscode`'s own types. It ships inside
 * the extension as `api/sandkasten.d.ts`.
 *
 * Versions: `version` is the major version of the object `activate()` returns. Additions
 * (a new method, a new optional option, a new field in a result) keep the version. A
 * breaking change makes a new major, and the previous shape stays available through
 * `getApi(previousVersion)` for as long as the extension supports it, so code written
 * against `getApi(1)` keeps working.
 *
 * Errors: every promise rejects with a {@link SandkastenError}: the sidecar's `code`
 * ('NotFound', 'InvalidInput', 'Conflict', …) and its sentence as `message`.
 */
import type { CancellationToken, Event, Terminal } from 'vscode';

// ---------------------------------------------------------------------------------------
// Data (as the sidecar reports it)
// ---------------------------------------------------------------------------------------

/** ephemeral: one-off, no network, deleted after its session ends; session: interactive, expires when idle; persistent: kept; collaborative: shared. */
export type WorkspaceKind = 'ephemeral' | 'session' | 'persistent' | 'collaborative';

/** created → active ⇄ suspended → archived → deleted; `deleting` marks an unfinished delete. */
export type WorkspaceState = 'created' | 'active' | 'suspended' | 'archived' | 'deleting';

/** Where a workspace or session was made: a VS Code window (or an extension using this API), the CLI, or the HTTP API. */
export type Origin = 'vscode' | 'cli' | 'api';

/** Named persistent storage (a Docker volume) that its sessions mount at /workspace. */
export interface WorkspaceInfo {
  /** `{name}-{8 hex}`, e.g. `my-api-a7b3c2d1`. */
  id: string;
  name: string;
  kind: WorkspaceKind;
  image: string;
  description: string;
  tags: string[];
  pinned: boolean;
  state: WorkspaceState;
  /** Docker volume mounted at /workspace. */
  volume: string;
  /** Its sessions share the host's network (chosen explicitly at create). */
  hostNetwork?: boolean;
  /** Disk its volume and running container use, as last measured; absent until measured. */
  diskBytes?: number;
  /** Where it was made; absent for workspaces made before this was recorded. */
  origin?: Origin;
  /** ISO 8601. */
  createdAt: string;
  /** ISO 8601. */
  lastAccessedAt: string;
  stats: { sessions: number; commands: number; runTimeMs: number };
  /** What the lifecycle will do and when, unless it is used before; absent when pinned or when its kind keeps it. */
  lifecycle?: WorkspaceLifecycle;
}

export interface WorkspaceLifecycle {
  /** ISO 8601: when it is deleted for inactivity. */
  deleteAt?: string;
  /** ISO 8601: when it is archived (its volume saved to a file; opening it restores it). */
  archiveAt?: string;
  /** Set while it is in its warning period: the sentence for the user. */
  warning?: string;
}

/** paused: its container is frozen (`docker pause`): running, but nothing in it moves. */
export type SessionState = 'starting' | 'running' | 'paused' | 'stopped';

/** A container working on a workspace, with a persistent shell that commands run in. */
export interface SessionInfo {
  id: string;
  workspaceId: string;
  workspaceName: string;
  image: string;
  state: SessionState;
  containerId: string | null;
  createdAt: string;
  startedAt: string | null;
  stoppedAt: string | null;
  /** True when the container came from the pre-warmed pool. */
  fromPool: boolean;
  /** Why the session is in its state when Sandkasten did not put it there, in a few words. */
  stateReason?: string;
  /** Where it was made; absent for sessions made before this was recorded. */
  origin?: Origin;
  /** A session with a lease (made through the HTTP API): it is destroyed then unless used before. */
  expiresAt?: string;
  /** ISO 8601: set while frozen after idle time (state `paused`); the next command, keystroke or terminal open thaws it. */
  frozenAt?: string;
  /** Set on a running or paused session while the Docker engine does not answer; uses fail with `DockerUnavailable` until it is back. */
  engineUnreachable?: true;
}

/** The outcome of a command. A non-zero exit code resolves, it does not reject. */
export interface ExecResult {
  exitCode: number;
  /** What the command printed; empty when the output was streamed to `onOutput`. */
  stdout: string;
  stderr: string;
  durationMs: number;
  /** It ran past `timeoutMs` and was stopped. */
  timedOut: boolean;
  /** The cancellation token stopped it (as Ctrl-C would: INT, then TERM, then KILL). */
  cancelled: boolean;
  /**
   * The session's shell ended during the command (`exit`, `exec`, `set -e` and a failure):
   * the next command starts in a new shell, in /workspace, with nothing set before.
   */
  shellReset: boolean;
  /** It ran beside a busy session shell, in a shell of its own (see ExecOptions.queue). */
  sideBySide: boolean;
  /**
   * The shell's working directory after the command (where the next one starts, unless it
   * ran in a clean shell); absent for a side-by-side command, when the shell ended, or when
   * the path is longer than 1024 characters.
   */
  cwd?: string;
  /** Output bytes left out because the captured (not streamed) output passed its limit. */
  droppedBytes: number;
}

/** A piece of a command's output, as it comes. */
export interface OutputChunk {
  stream: 'stdout' | 'stderr';
  data: string;
}

/** A command running in the background of a session, with a handle. */
export interface ProcessInfo {
  id: string;
  sessionId: string;
  /** The command line as started. */
  command: string;
  state: 'running' | 'exited';
  /** Set once it exited: its status (130, 143, 137 when a signal ended it). */
  exitCode: number | null;
  startedAt: string;
  endedAt: string | null;
}

/** A page of a background process's kept output. */
export interface ProcessOutput {
  chunks: OutputChunk[];
  /** Pass it as `offset` to read what comes after this page. */
  nextOffset: number;
  /** Bytes after the offset asked for that were dropped (the newest output is kept). */
  droppedBytes: number;
  /** The process as it is now (`state: 'exited'` and no chunks: nothing more will come). */
  process: ProcessInfo;
}

/** What changed, as `onDidChange` reports it. */
export type ChangedArea = 'workspaces' | 'sessions' | 'terminals' | 'processes' | 'pool' | 'config' | 'docker' | 'shares' | 'ports';

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------

export interface CreateWorkspaceOptions {
  /** Lowercase letters, digits and hyphens, starting with a letter, at most 32; the id's prefix. */
  name: string;
  /** Defaults to `session`. */
  kind?: WorkspaceKind;
  /** Defaults to the `sandkasten.defaultImage` setting; pulled on first use. */
  image?: string;
  description?: string;
  tags?: string[];
}

export interface DeleteWorkspaceOptions {
  /** Also remove its running sessions; without it, running sessions make the delete a 'Conflict'. */
  force?: boolean;
}

export interface ExecOptions {
  /** Stop the command after this many milliseconds; the result says `timedOut`. */
  timeoutMs?: number;
  /**
   * While another command runs in the session's shell, a new one runs at once beside it in a
   * shell of its own (`sideBySide`). With `queue` it waits for its turn in the session's
   * shell instead, in strict order.
   */
  queue?: boolean;
  /** Run in a fresh shell: no cwd or environment from earlier commands, none kept after. */
  cleanShell?: boolean;
  /** Receives the output as it comes (then `stdout` and `stderr` of the result are empty). */
  onOutput?: (chunk: OutputChunk) => void;
  /**
   * Cancelling stops the command as Ctrl-C would; the result says `cancelled`. A token
   * cancelled before the call rejects with code 'RequestCancelled'.
   */
  token?: CancellationToken;
}

export interface ProcessOutputOptions {
  /** From this offset (a previous page's `nextOffset`); from the oldest kept output when omitted. */
  offset?: number;
  /** When there is no output yet, wait up to this long for some (or for the process to end); at most 600000. */
  waitMs?: number;
  token?: CancellationToken;
}

export interface WaitProcessOptions {
  /** Answer after this long even if the process still runs; at most 600000. */
  timeoutMs?: number;
  token?: CancellationToken;
}

/** Without a signal, `signalProcess` stops the process as Ctrl-C would: INT, then TERM, then KILL. */
export type ProcessSignal = 'INT' | 'TERM' | 'KILL';

export interface OpenTerminalOptions {
  /** The terminal's name; defaults to the session's workspace name. */
  name?: string;
  /** Keep the focus where it is (the terminal is shown either way). */
  preserveFocus?: boolean;
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/**
 * - InvalidInput: a parameter is missing or has the wrong type or value; nothing changed.
 * - InvalidName: a workspace name breaks the rules (lowercase, starts with a letter, ≤ 32).
 * - NotFound: no workspace, session or process with that id.
 * - Conflict: valid, but the current state forbids it (delete with running sessions, exec in a stopped session).
 * - DockerUnavailable: the Docker engine cannot be reached; retry once it runs.
 * - ImageMissing: the image is neither local nor pullable.
 * - InvalidConfig: a configuration value is invalid.
 * - Timeout: an operation ran past its deadline and was stopped.
 * - Exists: what was to be made is there already (a file, a directory).
 * - Forbidden: the caller's role does not allow it (a viewer of a shared session writing).
 * - Internal: a bug; the Sandkasten log has the detail.
 * - RequestCancelled: the cancellation token was cancelled before the request could run.
 * - SidecarUnavailable: the sidecar could not be started or the connection to it was lost; retrying may help.
 */
export type SandkastenErrorCode =
  | 'InvalidInput'
  | 'InvalidName'
  | 'NotFound'
  | 'Conflict'
  | 'DockerUnavailable'
  | 'ImageMissing'
  | 'InvalidConfig'
  | 'Timeout'
  | 'Exists'
  | 'Forbidden'
  | 'Internal'
  | 'RequestCancelled'
  | 'SidecarUnavailable';

/** What every promise of the API rejects with. Tell it apart by `name === 'SandkastenError'`. */
export interface SandkastenError extends Error {
  readonly name: 'SandkastenError';
  readonly code: SandkastenErrorCode;
  /** One sentence for a person, e.g. `No session "ses-1". …`. */
  readonly message: string;
  /** The engine's own words when it said why (`dial tcp …: connection refused`), for a log. */
  readonly detail?: string;
}

// ---------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------

export interface SandkastenApiV1 {
  readonly version: 1;

  /** The API of that major version: `getApi(1)` is this object. An unknown version throws a SandkastenError ('InvalidInput'). */
  getApi(version: 1): SandkastenApiV1;

  /** Fires with the areas that changed, whoever changed them (this window, another, the CLI). */
  readonly onDidChange: Event<ChangedArea[]>;

  // --- workspaces ---
  listWorkspaces(): Promise<WorkspaceInfo[]>;
  createWorkspace(options: CreateWorkspaceOptions): Promise<WorkspaceInfo>;
  /** Removes the workspace, its volume (its files) and, with `force`, its sessions. */
  deleteWorkspace(id: string, options?: DeleteWorkspaceOptions): Promise<void>;

  // --- sessions ---
  /** Every session, or those of one workspace. */
  listSessions(workspaceId?: string): Promise<SessionInfo[]>;
  /** Resumes the workspace's stopped session when it has one, else starts a new one; resolves once it runs. */
  startSession(workspaceId: string): Promise<SessionInfo>;
  /** Stops its container; the files stay, `startSession` resumes it. */
  stopSession(id: string): Promise<SessionInfo>;
  /** Removes its container. The workspace and its files in /workspace stay. */
  destroySession(id: string): Promise<void>;

  // --- commands ---
  /**
   * Runs a command in the session's persistent shell: `cd` and exported variables carry over
   * to the next command. A string is a shell command line (pipes, globs, `&&`); an array is
   * an argv, quoted for the shell.
   */
  exec(sessionId: string, command: string | string[], options?: ExecOptions): Promise<ExecResult>;

  // --- background processes ---
  /** Starts a command in the background, in a shell of its own that starts where the session is; resolves at once with its handle. */
  startProcess(sessionId: string, command: string | string[]): Promise<ProcessInfo>;
  /** Every background process, or those of one session. */
  listProcesses(sessionId?: string): Promise<ProcessInfo[]>;
  /** A page of its output; with `waitMs`, waits for more (follow it by passing `nextOffset` back). */
  processOutput(processId: string, options?: ProcessOutputOptions): Promise<ProcessOutput>;
  signalProcess(processId: string, signal?: ProcessSignal): Promise<ProcessInfo>;
  /** Resolves once the process exited, or after `timeoutMs` with it still running. */
  waitProcess(processId: string, options?: WaitProcessOptions): Promise<ProcessInfo>;

  // --- terminals ---
  /**
   * Opens and shows a new sandbox terminal in a running session: an interactive shell that
   * survives window reloads, like the ones the Sandkasten views open. Rejects with
   * 'NotFound' for an unknown session and 'Conflict' for one that does not run.
   */
  openTerminal(sessionId: string, options?: OpenTerminalOptions): Promise<Terminal>;
}

/** The newest version of the API: what `activate()` returns. */
export type SandkastenApi = SandkastenApiV1;
