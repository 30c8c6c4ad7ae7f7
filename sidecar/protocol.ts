/**
 * The whole wire protocol between the sidecar and its clients (the extension, the CLI and,
 * later, the HTTP API). Every method name is spelled here once; both ends import the typed
 * constants. This module may only import protocol types: never `vscode` or `dockerode`.
 */
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';

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
  Internal: 1099,
  /** LSP's code, used when a client cancels a request. */
  RequestCancelled: -32800,
} as const;
export type ErrorCodeName = keyof typeof ErrorCode;

export function errorCodeName(code: number): ErrorCodeName | undefined {
  return (Object.keys(ErrorCode) as ErrorCodeName[]).find((name) => ErrorCode[name] === code);
}

// ---------------------------------------------------------------------------------------
// Domain shapes
// ---------------------------------------------------------------------------------------

export const WORKSPACE_KINDS = ['ephemeral', 'session', 'persistent', 'collaborative'] as const;
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
  createdAt: string;
  lastAccessedAt: string;
  stats: { sessions: number; commands: number; runTimeMs: number };
}

export type SessionState = 'starting' | 'running' | 'stopped';

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
}

export interface DockerStatus {
  available: boolean;
  /** Engine version when available. */
  version?: string;
  /** Where the sidecar looks for the engine (DOCKER_HOST, context or default socket). */
  endpoint: string;
  /** Why it is unavailable, in one sentence. */
  error?: string;
}

export interface SidecarStatus {
  version: string;
  pid: number;
  home: string;
  instanceId: string;
  clients: number;
  startedAt: string;
  docker: DockerStatus;
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

export namespace StatusRequest {
  export const method = 'sandkasten/status';
  export const type = new RequestType<Record<string, never>, SidecarStatus, void>(method);
}

export namespace ShutdownSidecarRequest {
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
}
export namespace CreateWorkspaceRequest {
  export const method = 'workspace/create';
  export const type = new RequestType<CreateWorkspaceParams, WorkspaceInfo, void>(method);
}

export namespace ListWorkspacesRequest {
  export const method = 'workspace/list';
  export const type = new RequestType<Record<string, never>, WorkspaceInfo[], void>(method);
}

export interface DeleteWorkspaceParams {
  id: string;
  /** Also remove running sessions; without it a workspace with running sessions is a Conflict. */
  force?: boolean;
}
export namespace DeleteWorkspaceRequest {
  export const method = 'workspace/delete';
  export const type = new RequestType<DeleteWorkspaceParams, { id: string }, void>(method);
}

export interface StartSessionParams {
  workspaceId: string;
}
export namespace StartSessionRequest {
  export const method = 'session/start';
  /** Resumes the workspace's stopped session when it has one, else starts a new one. */
  export const type = new RequestType<StartSessionParams, SessionInfo, void>(method);
}

export interface SessionIdParams {
  id: string;
}
export namespace ResumeSessionRequest {
  export const method = 'session/resume';
  export const type = new RequestType<SessionIdParams, SessionInfo, void>(method);
}
export namespace StopSessionRequest {
  export const method = 'session/stop';
  export const type = new RequestType<SessionIdParams, SessionInfo, void>(method);
}
export namespace DestroySessionRequest {
  export const method = 'session/destroy';
  export const type = new RequestType<SessionIdParams, { id: string }, void>(method);
}

export interface ListSessionsParams {
  workspaceId?: string;
}
export namespace ListSessionsRequest {
  export const method = 'session/list';
  export const type = new RequestType<ListSessionsParams, SessionInfo[], void>(method);
}

export interface ExecParams {
  sessionId: string;
  /** argv form, run without a shell. */
  command: string[];
  /** Kill the command after this many milliseconds; the result says timedOut. */
  timeoutMs?: number;
}
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}
export namespace ExecRequest {
  export const method = 'exec/run';
  export const type = new RequestType<ExecParams, ExecResult, void>(method);
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
  export const method = 'config/get';
  export const type = new RequestType<GetConfigParams, ConfigValues, void>(method);
}

export interface SetConfigParams {
  /** Keys and new values; `null` resets a key to its default. All are validated first. */
  values: ConfigValues;
}
export namespace SetConfigRequest {
  export const method = 'config/set';
  export const type = new RequestType<SetConfigParams, ConfigValues, void>(method);
}

// ---------------------------------------------------------------------------------------
// Notifications (sidecar → clients)
// ---------------------------------------------------------------------------------------

export type ChangedArea = 'workspaces' | 'sessions' | 'config' | 'docker';
export interface StateChangedParams {
  areas: ChangedArea[];
}
export namespace StateChangedNotification {
  export const method = 'sandkasten/stateChanged';
  export const type = new NotificationType<StateChangedParams>(method);
}
