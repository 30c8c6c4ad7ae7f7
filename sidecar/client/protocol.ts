/**
 * The whole wire protocol between the sidecar and its clients (the extension, the CLI and,
 * later, the HTTP API). Every method name is spelled here once; both ends import the typed
 * constants. Each request also declares the schema of its parameters (`params`), which the
 * sidecar checks before its handler runs. This module may only import protocol types and
 * ./schema: never `vscode` or `dockerode`.
 */
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';
import type { FileErrorKind } from './fileProtocol';
import * as S from './schema';
import type { TerminalInfo } from './terminalInfo';

export type { TerminalInfo };

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/**
 * Error codes carried in `ResponseError.code`. JSON-RPC reserves -32768..-32000 and LSP uses
 * -32899..-32800 (e.g. RequestCancelled = -32800); Sandkasten's own codes live in 1000..1099.
 * - InvalidInput: a parameter is missing or has the wrong type or value. Nothing changed.
 * - InvalidName: a workspace name breaks the id rules (lowercase, starts with a letter, ≤ 32).
 * - NotFound: no workspace, session or config key with that id.
 * - Conflict: the request is valid but the current state forbids it (delete with running
 *   sessions, a workspace already being deleted, a stopped session asked to exec).
 * - DockerUnavailable: the Docker engine cannot be reached; retry once it runs.
 * - ImageMissing: the image is neither local nor pullable.
 * - InvalidConfig: a configuration value is invalid; the message names the key.
 * - Timeout: an operation ran past its deadline and was stopped.
 * - Exists: what was to be made is there already (a file, a directory).
 * - Forbidden: the caller's role does not allow it (a share's viewer writing a file).
 * - Internal: a bug; the message says what failed, the sidecar log has the detail.
 */
export const ErrorCode = {
  InvalidInput: 1001,
  InvalidName: 1002,
  NotFound: 1003,
  Conflict: 1004,
  DockerUnavailable: 1005,
  ImageMissing: 1006,
  InvalidConfig: 1007,
  Timeout: 1008,
  Exists: 1009,
  Forbidden: 1010,
  Internal: 1099,
  /** LSP's code, used when a client cancels a request. */
  RequestCancelled: -32800,
} as const;
export type ErrorCodeName = keyof typeof ErrorCode;

export function errorCodeName(code: number): ErrorCodeName | undefined {
  return (Object.keys(ErrorCode) as ErrorCodeName[]).find((name) => ErrorCode[name] === code);
}

/**
 * `ResponseError.data` of every Sandkasten error. `detail` is the raw cause when there is one
 * (the engine's own message, e.g. `dial tcp 127.0.0.1:1: connect: connection refused`): the
 * error's message is the sentence to show, the detail is for a second line or a log.
 */
export interface ErrorData {
  code: ErrorCodeName;
  detail?: string;
  /** A file request's InvalidInput about the kind of a path (see fileProtocol.ts). */
  file?: FileErrorKind;
}

/** Which wrong kind of path a file request failed on (ErrorData.file), or undefined; any error may be passed. */
export function errorFileKind(error: unknown): FileErrorKind | undefined {
  const data: unknown = typeof error === 'object' && error !== null ? (error as { data?: unknown }).data : undefined;
  const file: unknown = typeof data === 'object' && data !== null ? (data as { file?: unknown }).file : undefined;
  return file === 'notADirectory' || file === 'isADirectory' ? file : undefined;
}

/** The raw detail of an error a request failed with (see ErrorData), or undefined; any error may be passed. */
export function errorDetail(error: unknown): string | undefined {
  const data: unknown = typeof error === 'object' && error !== null ? (error as { data?: unknown }).data : undefined;
  const detail: unknown = typeof data === 'object' && data !== null ? (data as { detail?: unknown }).detail : undefined;
  return typeof detail === 'string' && detail.trim() !== '' ? detail : undefined;
}

// ---------------------------------------------------------------------------------------
// Domain shapes
// ---------------------------------------------------------------------------------------

export const WORKSPACE_KINDS = ['ephemeral', 'session', 'persistent', 'collaborative'] as const;

/** Where a workspace or session was made: a VS Code window (or an extension using its API), the CLI, or the HTTP API. */
export type Origin = 'vscode' | 'cli' | 'api';
export type WorkspaceKind = (typeof WORKSPACE_KINDS)[number];

/** created → active ⇄ suspended → archived → deleted; `deleting` marks an unfinished delete. */
export type WorkspaceState = 'created' | 'active' | 'suspended' | 'archived' | 'deleting';

export interface WorkspaceInfo {
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
  /** Its sessions share the host's network (chosen explicitly at create): they reach this machine's services. */
  hostNetwork?: boolean;
  /** Disk its volume and running container use, as last measured (see limits.diskMb); absent until measured. */
  diskBytes?: number;
  /** Where it was made; absent for workspaces made before this was recorded. */
  origin?: Origin;
  createdAt: string;
  lastAccessedAt: string;
  stats: { sessions: number; commands: number; runTimeMs: number };
  /** What the lifecycle will do and when, unless it is used before; absent when pinned or when its kind keeps it. */
  lifecycle?: WorkspaceLifecycle;
}

export interface WorkspaceLifecycle {
  /** When it is deleted for inactivity. */
  deleteAt?: string;
  /** When it is archived (volume saved to a file and removed; opening it restores it). */
  archiveAt?: string;
  /** Set while it is in its warning period: the sentence for the user. */
  warning?: string;
}

/** paused: its container is frozen (by `docker pause`): running, but nothing in it moves. */
export type SessionState = 'starting' | 'running' | 'paused' | 'stopped';

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
  /**
   * Why the session is in its state when the sidecar did not put it there, in a few words:
   * "its container was stopped outside Sandkasten (exit code 137)", "stopped: out of memory
   * (limit 1024 MiB)", "its container was paused outside Sandkasten".
   */
  stateReason?: string;
  /** Where it was made; absent for sessions made before this was recorded. */
  origin?: Origin;
  /** An API session's lease: it is destroyed then unless used before (each API call extends it). */
  expiresAt?: string;
  /**
   * Set while the lifecycle keeps it frozen after idle time (state `paused`): the next command,
   * keystroke, terminal open or file access thaws it by itself.
   */
  frozenAt?: string;
  /**
   * Set on a running or paused session while the Docker engine does not answer (stopped, or
   * the connection to it dropped): its state is what it was before, nothing is removed, and
   * uses fail with DockerUnavailable until the engine is back, when the sidecar catches up.
   */
  engineUnreachable?: true;
}

export type EngineTransport = 'unix' | 'npipe' | 'tcp' | 'tls' | 'ssh';

export interface DockerStatus {
  available: boolean;
  /** Engine version when available. */
  version?: string;
  /** Where the sidecar looks for the engine and why there (setting, DOCKER_HOST, context or default socket). */
  endpoint: string;
  /** How it is reached: `unix` (this machine's socket), `tcp`, `tls`, `ssh` or `npipe`. */
  transport?: EngineTransport;
  /** The time `docker version` took just now, in milliseconds (when available). */
  roundTripMs?: number;
  /** The engine's own ID (it stays with its data root) and host name (when available). */
  engineId?: string;
  engineName?: string;
  /** Why it is unavailable, in one sentence. */
  error?: string;
  /** Container runtimes the engine has (`runc`, `runsc`…), for the `sandbox.runtime` setting; in `status` only. */
  runtimes?: string[];
  /** How a command's output reaches this machine: through FIFOs on the host, or relayed by the engine's API. */
  outputPath?: 'direct pipes' | 'relayed';
  /**
   * Set when the engine answering is not the one this storage directory belongs to: nothing
   * that needs Docker runs until someone switches (SwitchEngineRequest) or points it back.
   */
  mismatch?: { boundTo: BoundEngine; current: BoundEngine };
}

/** A Docker engine as a storage directory remembers it. */
export interface BoundEngine {
  /** `docker info`'s ID: it stays with the engine's data root. */
  id: string;
  name: string;
  /** Where it was reached (see DockerStatus.endpoint). */
  endpoint: string;
}

export interface SidecarStatus {
  version: string;
  pid: number;
  home: string;
  instanceId: string;
  clients: number;
  startedAt: string;
  docker: DockerStatus;
  /**
   * Whether host firewall rules keep sandboxes on the bridge from the host's own services and
   * from link-local addresses (possible when the engine is local and the sidecar is root), and why not.
   */
  hostIsolation: { enforced: boolean; reason?: string };
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

export namespace StatusRequest {
  export const params = S.noParams;
  export const method = 'sandkasten/status';
  export const type = new RequestType<Record<string, never>, SidecarStatus, void>(method);
}

export interface SwitchEngineParams {
  /** The ID of the engine to switch to, as `status` reported it: a switch never goes where nobody looked. */
  engineId: string;
}

export namespace SwitchEngineRequest {
  export const params = S.params({ engineId: S.string() });
  export const method = 'sandkasten/switchEngine';
  /**
   * Sets this storage directory's state for the engine it was bound to aside (nothing on
   * either engine is touched) and takes up the state it had for the new one, if any; the
   * sidecar then restarts, and the next client starts it on the new engine.
   */
  export const type = new RequestType<SwitchEngineParams, null, void>(method);
}

export namespace ShutdownSidecarRequest {
  export const params = S.noParams;
  export const method = 'sandkasten/shutdown';
  /** Stops the sidecar for every client: drains, flushes, exits. */
  export const type = new RequestType<Record<string, never>, null, void>(method);
}

export interface CreateWorkspaceParams {
  /** The id prefix: lowercase letters, digits and hyphens, starts with a letter, ≤ 32. */
  name: string;
  kind?: WorkspaceKind;
  /** Defaults to the `defaultImage` setting. */
  image?: string;
  description?: string;
  tags?: string[];
  /**
   * Sessions share the host's network instead of Sandkasten's own: they can reach every
   * service of this machine (a local code-server, databases on 127.0.0.1). Only as this
   * explicit per-workspace choice, never for ephemeral workspaces.
   */
  allowHostNetwork?: boolean;
}
export namespace CreateWorkspaceRequest {
  export const params = S.params({
    // Checked by the workspace rules (InvalidName), so a missing name gets that message.
    name: S.optional(S.text()),
    kind: S.optional(S.oneOf(WORKSPACE_KINDS)),
    image: S.optional(S.text()),
    description: S.optional(S.text()),
    tags: S.optional(S.stringList()),
    allowHostNetwork: S.optional(S.boolean()),
  });
  export const method = 'workspace/create';
  export const type = new RequestType<CreateWorkspaceParams, WorkspaceInfo, void>(method);
}

/** Which workspaces a list or page holds (all given filters at once). */
export interface WorkspaceFilter {
  kind?: WorkspaceKind;
  state?: WorkspaceState;
  /** Workspaces carrying this tag. */
  tag?: string;
  /** Workspaces whose name starts with this. */
  namePrefix?: string;
  /** Only workspaces in their warning period (they will be deleted for inactivity). */
  warned?: boolean;
}
const workspaceFilter = {
  kind: S.optional(S.oneOf(WORKSPACE_KINDS)),
  state: S.optional(S.oneOf(['created', 'active', 'suspended', 'archived'] as const)),
  tag: S.optional(S.text()),
  namePrefix: S.optional(S.text()),
  warned: S.optional(S.boolean()),
};

export namespace ListWorkspacesRequest {
  export const params = S.params(workspaceFilter);
  export const method = 'workspace/list';
  /** Every workspace the filter matches, oldest first (read in slices: other clients are served between them). */
  export const type = new RequestType<WorkspaceFilter, WorkspaceInfo[], void>(method);
}

/** Workspaces at most per page. */
export const MAX_WORKSPACE_PAGE = 1000;
export interface WorkspacePage {
  workspaces: WorkspaceInfo[];
  /** Pass it as `cursor` for the next page; absent on the last. Stable while others are added or deleted. */
  nextCursor?: string;
  /** How many workspaces the filter matches in all. */
  total: number;
}
export namespace ListWorkspacesPageRequest {
  export const params = S.params({ ...workspaceFilter, limit: S.optional(S.positiveInteger(MAX_WORKSPACE_PAGE)), cursor: S.optional(S.text()) });
  export const method = 'workspace/page';
  /** One page of workspaces, oldest first: `limit` of them (100 by default) after `cursor`. */
  export const type = new RequestType<WorkspaceFilter & { limit?: number; cursor?: string }, WorkspacePage, void>(method);
}

export interface DeleteWorkspaceParams {
  id: string;
  /** Also remove running sessions; without it a workspace with running sessions is a Conflict. */
  force?: boolean;
}
export namespace DeleteWorkspaceRequest {
  export const params = S.params({ id: S.string(), force: S.optional(S.boolean()) });
  export const method = 'workspace/delete';
  export const type = new RequestType<DeleteWorkspaceParams, { id: string }, void>(method);
}

export interface RenameWorkspaceParams {
  id: string;
  /** The new name, by the same rules as at create (InvalidName). The id keeps the name it was made with. */
  name: string;
}
export namespace RenameWorkspaceRequest {
  // The name is checked by the workspace rules (InvalidName), as at create.
  export const params = S.params({ id: S.string(), name: S.optional(S.text()) });
  export const method = 'workspace/rename';
  /** Answers with the renamed workspace; its sessions show the new name too. Names need not be unique. */
  export const type = new RequestType<RenameWorkspaceParams, WorkspaceInfo, void>(method);
}

/** What happened to a workspace (transitions of the lifecycle and what users did to it). */
export type WorkspaceEventKind =
  | 'created'
  | 'started'
  | 'stopped'
  | 'frozen'
  | 'thawed'
  | 'warned'
  | 'kept'
  | 'pinned'
  | 'unpinned'
  | 'archived'
  | 'restored'
  | 'deleted'
  | 'snapshot-created'
  | 'snapshot-restored'
  | 'snapshot-deleted'
  | 'image-changed'
  | 'kind-changed'
  | 'cloned'
  | 'imported'
  | 'exported'
  | 'shared'
  | 'unshared'
  | 'joined'
  | 'left'
  | 'role-changed'
  | 'removed'
  | 'refused';

export interface WorkspaceEvent {
  at: string;
  kind: WorkspaceEventKind;
  /** Why, in a sentence ("unused for 30 days (persistent workspaces expire after 30 days without use)"). */
  reason: string;
}

/** Long work (archives, snapshots, clone, export, import) reports progress on LSP's work-done token when given one. */
const workDone = { workDoneToken: S.optional(S.progressToken()) };
export interface WorkDoneParams {
  workDoneToken?: string | number;
}

export namespace PinWorkspaceRequest {
  export const params = S.params({ id: S.string(), pinned: S.boolean() });
  export const method = 'workspace/pin';
  /** A pinned workspace is never warned about, archived or deleted by the lifecycle. */
  export const type = new RequestType<{ id: string; pinned: boolean }, WorkspaceInfo, void>(method);
}

export namespace KeepWorkspaceRequest {
  export const params = S.params({ id: S.string() });
  export const method = 'workspace/keep';
  /** Counts as a use: its expiry starts again and a warning ends (the notification's Keep). */
  export const type = new RequestType<{ id: string }, WorkspaceInfo, void>(method);
}

export namespace SetWorkspaceKindRequest {
  export const params = S.params({ id: S.string(), kind: S.oneOf(WORKSPACE_KINDS) });
  export const method = 'workspace/setKind';
  /**
   * Its lifecycle policy follows the new kind at once; session, persistent and collaborative
   * convert into each other (an ephemeral workspace, made to vanish, does not: Conflict).
   * Only collaborative workspaces' sessions can be shared.
   */
  export const type = new RequestType<{ id: string; kind: WorkspaceKind }, WorkspaceInfo, void>(method);
}

export namespace SetWorkspaceImageRequest {
  export const params = S.params({ id: S.string(), image: S.string() });
  export const method = 'workspace/setImage';
  /** Its next session runs this image with the same volume; running sessions keep theirs until restarted. */
  export const type = new RequestType<{ id: string; image: string }, WorkspaceInfo, void>(method);
}

export namespace WorkspaceHistoryRequest {
  export const params = S.params({ id: S.string(), limit: S.optional(S.positiveInteger(1000)) });
  export const method = 'workspace/history';
  /** Its events, newest first; a deleted workspace's too (its last event says why it went). NotFound when there are none. */
  export const type = new RequestType<{ id: string; limit?: number }, WorkspaceEvent[], void>(method);
}

export namespace ArchiveWorkspaceRequest {
  export const params = S.params({ id: S.string(), ...workDone });
  export const method = 'workspace/archive';
  /** Saves its volume as a compressed file and removes the volume (Conflict while a session runs); starting a session restores it. */
  export const type = new RequestType<{ id: string } & WorkDoneParams, WorkspaceInfo, void>(method);
}

export namespace CloneWorkspaceRequest {
  export const params = S.params({ id: S.string(), name: S.text(), ...workDone });
  export const method = 'workspace/clone';
  /** A new workspace of the same kind and image with a copy of its files. */
  export const type = new RequestType<{ id: string; name: string } & WorkDoneParams, WorkspaceInfo, void>(method);
}

export namespace ExportWorkspaceRequest {
  export const params = S.params({ id: S.string(), file: S.string(), overwrite: S.optional(S.boolean()), ...workDone });
  export const method = 'workspace/export';
  /** Writes its files as a .tar.gz at `file` (an absolute path on this machine); Conflict when it exists unless `overwrite`. */
  export const type = new RequestType<{ id: string; file: string; overwrite?: boolean } & WorkDoneParams, { file: string; bytes: number; sha256: string }, void>(method);
}

export namespace ImportWorkspaceRequest {
  export const params = S.params({ file: S.string(), name: S.text(), kind: S.optional(S.oneOf(WORKSPACE_KINDS)), image: S.optional(S.string()), ...workDone });
  export const method = 'workspace/import';
  /** A new workspace with the files of a .tar.gz (an export, or any tar.gz of a directory). */
  export const type = new RequestType<{ file: string; name: string; kind?: WorkspaceKind; image?: string } & WorkDoneParams, WorkspaceInfo, void>(method);
}

export interface SnapshotInfo {
  id: string;
  workspaceId: string;
  name: string;
  /** 1, 2, 3… per workspace. */
  version: number;
  /** Size of its compressed archive. */
  bytes: number;
  sha256: string;
  createdAt: string;
}

export namespace CreateSnapshotRequest {
  export const params = S.params({ workspaceId: S.string(), name: S.optional(S.text()), ...workDone });
  export const method = 'snapshot/create';
  /** Saves the workspace's files now (a running session is frozen meanwhile, so the copy is consistent). */
  export const type = new RequestType<{ workspaceId: string; name?: string } & WorkDoneParams, SnapshotInfo, void>(method);
}

export namespace ListSnapshotsRequest {
  export const params = S.params({ workspaceId: S.string() });
  export const method = 'snapshot/list';
  export const type = new RequestType<{ workspaceId: string }, SnapshotInfo[], void>(method);
}

export namespace RestoreSnapshotRequest {
  export const params = S.params({ id: S.string(), ...workDone });
  export const method = 'snapshot/restore';
  /**
   * Replaces the workspace's files with the snapshot's (Conflict while a session runs). The
   * current files are snapshotted first: `undo` restores them.
   */
  export const type = new RequestType<{ id: string } & WorkDoneParams, { restored: SnapshotInfo; undo: SnapshotInfo }, void>(method);
}

export namespace DeleteSnapshotRequest {
  export const params = S.params({ id: S.string() });
  export const method = 'snapshot/delete';
  export const type = new RequestType<{ id: string }, { id: string }, void>(method);
}

/** Something the lifecycle does, or would do (the dry run), and why. */
export interface LifecycleActionInfo {
  action: 'freeze' | 'stop' | 'warn' | 'archive' | 'delete';
  workspaceId: string;
  workspaceName?: string;
  sessionId?: string;
  reason: string;
  /** For a warning: when it will be deleted. */
  deleteAt?: string;
  /** After a run: what came of it (`skipped`: no longer due when its turn came, e.g. kept meanwhile). */
  outcome?: 'done' | 'failed' | 'skipped';
  error?: string;
}

export namespace LifecyclePreviewRequest {
  export const params = S.noParams;
  export const method = 'lifecycle/preview';
  /** What the lifecycle would do now and why; changes nothing. */
  export const type = new RequestType<Record<string, never>, LifecycleActionInfo[], void>(method);
}

export namespace LifecycleRunRequest {
  export const params = S.noParams;
  export const method = 'lifecycle/run';
  /** Applies what is due now (as the schedule would) and says what came of each. */
  export const type = new RequestType<Record<string, never>, LifecycleActionInfo[], void>(method);
}

export interface StartSessionParams {
  workspaceId: string;
}
export namespace StartSessionRequest {
  export const params = S.params({ workspaceId: S.string(), workDoneToken: S.optional(S.progressToken()) });
  export const method = 'session/start';
  /** Resumes the workspace's stopped session when it has one, else starts a new one; an archived workspace is restored first (progress on the work-done token). */
  export const type = new RequestType<StartSessionParams & WorkDoneParams, SessionInfo, void>(method);
}

export interface SessionIdParams {
  id: string;
}
const sessionIdParams = S.params({ id: S.string() });
export namespace ResumeSessionRequest {
  export const params = sessionIdParams;
  export const method = 'session/resume';
  export const type = new RequestType<SessionIdParams, SessionInfo, void>(method);
}
export namespace StopSessionRequest {
  export const params = sessionIdParams;
  export const method = 'session/stop';
  export const type = new RequestType<SessionIdParams, SessionInfo, void>(method);
}
export namespace FreezeSessionRequest {
  export const params = sessionIdParams;
  export const method = 'session/freeze';
  /** Freezes it now, as the lifecycle does after idle time: processes and memory kept, thawed by the next use. */
  export const type = new RequestType<SessionIdParams, SessionInfo, void>(method);
}
export namespace DestroySessionRequest {
  export const params = sessionIdParams;
  export const method = 'session/destroy';
  export const type = new RequestType<SessionIdParams, { id: string }, void>(method);
}

export interface SessionInspection {
  containerId: string;
  /** Docker's own `docker inspect` JSON of the container, as the engine returns it. */
  container: unknown;
}
export namespace InspectSessionRequest {
  export const params = sessionIdParams;
  export const method = 'session/inspect';
  /** NotFound when the session is unknown, or its container no longer exists. */
  export const type = new RequestType<SessionIdParams, SessionInspection, void>(method);
}

export interface ListSessionsParams {
  workspaceId?: string;
}
export namespace ListSessionsRequest {
  export const params = S.params({ workspaceId: S.optional(S.string()) });
  export const method = 'session/list';
  export const type = new RequestType<ListSessionsParams, SessionInfo[], void>(method);
}

export interface ExecParams {
  sessionId: string;
  /** argv form; quoted for the shell, so `cd` and `export` still act on the persistent shell. */
  command?: string[];
  /** A shell command line (pipes, globs, `&&`); give either `command` or `line`. */
  line?: string;
  /** Kill the command after this many milliseconds; the result says timedOut. */
  timeoutMs?: number;
  /** Run in a fresh shell (no cwd or environment from earlier commands, none kept after). */
  cleanShell?: boolean;
  /**
   * While another command runs in the session's shell, a new one runs at once beside it in a
   * shell of its own, which starts at the session's cwd and exported environment (as they
   * were when the running command started); what it changes stays in that shell. `queue`
   * waits for its turn in the session's shell instead, in strict order.
   */
  queue?: boolean;
  /**
   * Stream output as ExecOutputNotification tagged with this id instead of returning it in the
   * result. Chosen by the client, unique per connection.
   */
  streamId?: string;
  /** `base64` passes binary output through unchanged; `utf8` (default) decodes it as text. */
  encoding?: 'utf8' | 'base64';
  /**
   * Send stdout, unframed and unencoded, to the raw channel the client opened with this id
   * (see RAW_CHANNEL_PREAMBLE): the fast path for bulk or binary output. The sidecar ends
   * the channel before it answers the request.
   */
  rawChannelId?: string;
  /**
   * The command's stdin: the bytes the client writes on the raw channel it opened with this
   * id (after the preamble line), until it ends the channel; with the socket's back-pressure.
   * Without it, stdin is /dev/null.
   */
  stdinChannelId?: string;
}
export interface ExecResult {
  exitCode: number;
  /** Empty when the output was streamed. */
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
  cancelled: boolean;
  /**
   * The session's shell ended during the command (`exit`, `exec`, `set -e` and a failure, or
   * a cancel it would not obey): the next command starts in a new shell, in /workspace, with
   * none of the variables, functions or options set before.
   */
  shellReset: boolean;
  /** It ran beside a busy session shell, in a shell of its own (see ExecParams.queue). */
  sideBySide: boolean;
  /**
   * The shell's working directory after the command (where the next one starts, unless it
   * ran in a clean shell); absent for a side-by-side command, when the shell ended, or when
   * the path is longer than 1024 characters.
   */
  cwd?: string;
  /** Output bytes not delivered because the captured (non-streamed) output passed its limit. */
  droppedBytes: number;
}
export namespace ExecRequest {
  export const params = S.params({
    sessionId: S.string(),
    command: S.optional(S.stringList({ nonEmpty: true })),
    line: S.optional(S.string()),
    timeoutMs: S.optional(S.positiveInteger()),
    cleanShell: S.optional(S.boolean()),
    queue: S.optional(S.boolean()),
    streamId: S.optional(S.string()),
    encoding: S.optional(S.oneOf(['utf8', 'base64'] as const)),
    rawChannelId: S.optional(S.string()),
    stdinChannelId: S.optional(S.string()),
  });
  export const method = 'exec/run';
  /** Runs in the session's persistent shell: cd and exported variables persist between commands. */
  export const type = new RequestType<ExecParams, ExecResult, void>(method);
}

/**
 * A raw channel is a second connection to the sidecar's socket whose first line is this
 * preamble followed by the channel id and "\n". Once an exec takes the channel, the sidecar
 * writes one line (RAW_CHANNEL_HEADER) saying how stdout comes: on this socket as bytes only,
 * with the socket's own back-pressure (no JSON, no base64); or, when the Docker engine is
 * local, in a FIFO on the host that the command in the container writes straight into. The
 * client opens that FIFO for reading, then writes one byte ("\n") on the socket; it reads
 * the FIFO to end-of-file, which comes when the command is over. Either way the sidecar ends
 * the socket before it answers the exec. `SidecarClient.openRawChannel` does all of this.
 */
export const RAW_CHANNEL_PREAMBLE = 'SANDKASTEN-RAW-CHANNEL ';
export const RAW_CHANNEL_HEADER = {
  /** stdout follows on this socket. */
  socket: 'socket',
  /** Followed by the FIFO's absolute host path. */
  pipe: 'pipe ',
} as const;

export interface ExecOutputParams {
  streamId: string;
  stream: 'stdout' | 'stderr';
  /** Text, or base64 when the request asked for it. */
  data: string;
}
export namespace ExecOutputNotification {
  export const method = 'exec/output';
  export const type = new NotificationType<ExecOutputParams>(method);
}

// ---------------------------------------------------------------------------------------
// Background output: a session's log, and background processes with a handle
// ---------------------------------------------------------------------------------------

/** The longest a request waits for output or an exit (long poll); a client asks again after. */
const MAX_OUTPUT_WAIT_MS = 600_000;

/** A page of kept output; `nextOffset` asks for what comes after it. */
export interface OutputPage {
  chunks: Array<{ stream: 'stdout' | 'stderr'; data: string }>;
  nextOffset: number;
  /** Bytes after the offset asked for that were dropped (the log keeps the newest). */
  droppedBytes: number;
}
/** Which output to read, and how long to wait for some when there is none yet (long poll). */
export interface OutputQuery {
  /** From this offset (a previous page's nextOffset); from the oldest kept when omitted. */
  offset?: number;
  /** Wait up to this long for output (or the end of a process) when none is there yet. */
  waitMs?: number;
  /** `base64` for bytes as they are; `utf8` (default) decodes text. */
  encoding?: 'utf8' | 'base64';
}
const outputQuery = {
  offset: S.optional(S.wholeNumber()),
  waitMs: S.optional(S.positiveInteger(MAX_OUTPUT_WAIT_MS)),
  encoding: S.optional(S.oneOf(['utf8', 'base64'] as const)),
};

export namespace SessionLogsRequest {
  export const params = S.params({ sessionId: S.string(), ...outputQuery });
  export const method = 'session/logs';
  /**
   * What the session's background jobs printed after their command returned (between
   * commands), kept up to the `logs.sessionKb` setting. Never part of another command's output.
   */
  export const type = new RequestType<{ sessionId: string } & OutputQuery, OutputPage, void>(method);
}

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

export interface StartProcessParams {
  sessionId: string;
  command?: string[];
  line?: string;
}
export namespace StartProcessRequest {
  export const params = S.params({ sessionId: S.string(), command: S.optional(S.stringList({ nonEmpty: true })), line: S.optional(S.string()) });
  export const method = 'process/start';
  /**
   * Starts a command in the background, in a shell of its own that starts where the session
   * is, and answers with its handle at once. Its output is kept (see ProcessOutputRequest).
   */
  export const type = new RequestType<StartProcessParams, ProcessInfo, void>(method);
}
export namespace ListProcessesRequest {
  export const params = S.params({ sessionId: S.optional(S.string()) });
  export const method = 'process/list';
  export const type = new RequestType<{ sessionId?: string }, ProcessInfo[], void>(method);
}
export namespace ProcessOutputRequest {
  export const params = S.params({ processId: S.string(), ...outputQuery });
  export const method = 'process/output';
  /** A page of the process's output; with `waitMs`, waits for more (follow). */
  export const type = new RequestType<{ processId: string } & OutputQuery, OutputPage & { process: ProcessInfo }, void>(method);
}
export namespace SignalProcessRequest {
  export const params = S.params({ processId: S.string(), signal: S.optional(S.oneOf(['INT', 'TERM', 'KILL'] as const)) });
  export const method = 'process/signal';
  /** Sends the signal to the process's command; without one, stops it as Ctrl-C would (INT, then TERM, then KILL). */
  export const type = new RequestType<{ processId: string; signal?: 'INT' | 'TERM' | 'KILL' }, ProcessInfo, void>(method);
}
export namespace WaitProcessRequest {
  export const params = S.params({ processId: S.string(), timeoutMs: S.optional(S.positiveInteger(MAX_OUTPUT_WAIT_MS)) });
  export const method = 'process/wait';
  /** Answers once the process exited, or after `timeoutMs` with it still running. */
  export const type = new RequestType<{ processId: string; timeoutMs?: number }, ProcessInfo, void>(method);
}

// ---------------------------------------------------------------------------------------
// Terminals: interactive TTY shells inside a session that outlive windows and restarts
// ---------------------------------------------------------------------------------------

/** A TTY's size travels as 16-bit numbers. */
const MAX_TERMINAL_DIMENSION = 65535;
const terminalIdParams = S.params({ terminalId: S.string() });


export interface OpenTerminalParams {
  sessionId: string;
  /** Reattach to (or restore) this terminal; omit to create a new one. */
  terminalId?: string;
  cols: number;
  rows: number;
  /** A new terminal only the host sees, never shown to guests of a share. */
  private?: boolean;
}
export interface OpenTerminalResult {
  terminal: TerminalInfo;
  /** Recent output to replay before live output (a reattach), possibly empty. */
  replay: string;
  /** 'attached' to a live shell, 'restored' a new shell from saved state, or 'created'. */
  outcome: 'attached' | 'restored' | 'created';
}
export namespace OpenTerminalRequest {
  export const params = S.params({
    sessionId: S.string(),
    terminalId: S.optional(S.string()),
    cols: S.positiveInteger(MAX_TERMINAL_DIMENSION),
    rows: S.positiveInteger(MAX_TERMINAL_DIMENSION),
    private: S.optional(S.boolean()),
  });
  export const method = 'terminal/open';
  export const type = new RequestType<OpenTerminalParams, OpenTerminalResult, void>(method);
}

export interface TerminalIdParams {
  terminalId: string;
}

export namespace CloseTerminalRequest {
  export const params = terminalIdParams;
  export const method = 'terminal/close';
  /** Ends the shell and forgets the terminal. */
  export const type = new RequestType<TerminalIdParams, null, void>(method);
}
export namespace ListTerminalsRequest {
  export const params = S.params({ sessionId: S.optional(S.string()) });
  export const method = 'terminal/list';
  export const type = new RequestType<{ sessionId?: string }, TerminalInfo[], void>(method);
}

export namespace DetachTerminalNotification {
  export const params = terminalIdParams;
  export const method = 'terminal/detach';
  /** This connection stops listening; the shell lives on. */
  export const type = new NotificationType<TerminalIdParams>(method);
}
export namespace TerminalInputNotification {
  export const params = S.params({ terminalId: S.string(), data: S.text() });
  export const method = 'terminal/input';
  export const type = new NotificationType<{ terminalId: string; data: string }>(method);
}
export namespace TerminalResizeNotification {
  export const params = S.params({
    terminalId: S.string(),
    cols: S.positiveInteger(MAX_TERMINAL_DIMENSION),
    rows: S.positiveInteger(MAX_TERMINAL_DIMENSION),
  });
  export const method = 'terminal/resize';
  export const type = new NotificationType<{ terminalId: string; cols: number; rows: number }>(method);
}
export namespace TerminalOutputNotification {
  export const method = 'terminal/output';
  /** Sent only to connections attached to the terminal. */
  export const type = new NotificationType<{ terminalId: string; data: string }>(method);
}
export namespace TerminalExitNotification {
  export const method = 'terminal/exit';
  export const type = new NotificationType<{ terminalId: string; exitCode: number | null }>(method);
}

// ---------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------

/** One repo:tag of a local image (an image with two tags is two entries). */
export interface ImageInfo {
  /** `repository:tag`, e.g. `debian:bookworm-slim`. */
  reference: string;
  /** Docker's image id, with its algorithm: `sha256:…`. */
  id: string;
  sizeBytes: number;
  createdAt: string;
}
export namespace ListImagesRequest {
  export const params = S.noParams;
  export const method = 'image/list';
  /** The engine's local images, newest first; untagged ones (`<none>:<none>`) are left out. */
  export const type = new RequestType<Record<string, never>, ImageInfo[], void>(method);
}

// ---------------------------------------------------------------------------------------
// Pool
// ---------------------------------------------------------------------------------------

export interface PoolImageStatus {
  image: string;
  ready: number;
  target: number;
  /** Containers being created right now. */
  refilling: number;
  /** Why the pool cannot fill (e.g. the image cannot be pulled); retried periodically. */
  error?: string;
}
export interface PoolStatus {
  enabled: boolean;
  images: PoolImageStatus[];
}
export namespace PoolStatusRequest {
  export const params = S.noParams;
  export const method = 'pool/status';
  export const type = new RequestType<Record<string, never>, PoolStatus, void>(method);
}

// ---------------------------------------------------------------------------------------
// Configuration (keys are the VS Code settings without the `sandkasten.` prefix)
// ---------------------------------------------------------------------------------------

export type ConfigValues = Record<string, unknown>;

export interface GetConfigParams {
  /** One key, or every key when omitted. */
  key?: string;
}
export namespace GetConfigRequest {
  export const params = S.params({ key: S.optional(S.string()) });
  export const method = 'config/get';
  export const type = new RequestType<GetConfigParams, ConfigValues, void>(method);
}

export interface SetConfigParams {
  /** Keys and new values; `null` resets a key to its default. All are validated first. */
  values: ConfigValues;
}
export namespace SetConfigRequest {
  export const params = S.params({ values: S.dictionary() });
  export const method = 'config/set';
  export const type = new RequestType<SetConfigParams, ConfigValues, void>(method);
}

// ---------------------------------------------------------------------------------------
// Notifications (sidecar → clients)
// ---------------------------------------------------------------------------------------

export type ChangedArea = 'workspaces' | 'sessions' | 'terminals' | 'processes' | 'pool' | 'config' | 'docker' | 'shares' | 'ports';
export interface StateChangedParams {
  areas: ChangedArea[];
}
export namespace StateChangedNotification {
  export const method = 'sandkasten/stateChanged';
  export const type = new NotificationType<StateChangedParams>(method);
}

// ---------------------------------------------------------------------------------------
// The HTTP API's address and token
// ---------------------------------------------------------------------------------------

export interface ApiInfo {
  /** The api.enabled setting. */
  enabled: boolean;
  /** Where it listens, once it does: `http://127.0.0.1:PORT`. */
  url?: string;
  port?: number;
  bindAddress: string;
  /** The bearer token (`Authorization: Bearer <token>`). */
  token: string;
  /** Said when it listens beyond loopback (no TLS). */
  warning?: string;
  /** Why it does not listen although enabled (e.g. the port is taken). */
  error?: string;
}

export namespace ApiInfoRequest {
  export const params = S.noParams;
  export const method = 'api/info';
  export const type = new RequestType<Record<string, never>, ApiInfo, void>(method);
}

export namespace RotateApiTokenRequest {
  export const params = S.noParams;
  export const method = 'api/rotateToken';
  /** A new token, durable before it is answered; the old one is refused from then on. */
  export const type = new RequestType<Record<string, never>, ApiInfo, void>(method);
}

// ---------------------------------------------------------------------------------------
// Larger areas, each in a module of its own, re-exported so both ends still import one protocol
// ---------------------------------------------------------------------------------------

export * from './fileProtocol';
export * from './shareProtocol';
export * from './portProtocol';
export * from './dashboardProtocol';
export * from './doctorProtocol';
