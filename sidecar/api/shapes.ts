import type { PortInfo, ProcessInfo, SessionInfo, SessionState, WorkspaceInfo } from '../client/protocol';
import type { Exec } from '../exec/exec';

/**
 * Our objects in Sandkasten v1's JSON: its field names (snake_case, `id`, `status`) first, so
 * both SDKs read them unchanged, then ours as extra fields (README: "HTTP API", the mapping).
 */

/** v1 knows `running`; a frozen or stopped session is ours to name. */
const STATUS: Record<SessionState, string> = { starting: 'running', running: 'running', paused: 'paused', stopped: 'stopped' };

export function v1Session(session: SessionInfo, exec: Pick<Exec, 'cwdOf'>, workspace?: Pick<WorkspaceInfo, 'kind'>): Record<string, unknown> {
  return {
    id: session.id,
    image: session.image,
    status: STATUS[session.state],
    cwd: exec.cwdOf(session.id),
    workspace_id: session.workspaceId,
    created_at: session.createdAt,
    // The Python SDK requires the key; null: a session made outside the API has no lease.
    expires_at: session.expiresAt ?? null,
    // ours
    state: session.state,
    ...(session.stateReason ? { state_reason: session.stateReason } : {}),
    ...(session.engineUnreachable ? { engine_unreachable: true } : {}),
    workspace_name: session.workspaceName,
    ...(workspace ? { workspace_kind: workspace.kind } : {}),
    container_id: session.containerId,
    from_pool: session.fromPool,
    started_at: session.startedAt,
    origin: session.origin ?? null,
  };
}

export function v1Workspace(workspace: WorkspaceInfo, sessions: SessionInfo[]): Record<string, unknown> {
  const own = sessions.filter((session) => session.workspaceId === workspace.id);
  return {
    id: workspace.id,
    created_at: workspace.createdAt,
    session_count: own.length,
    active_session_count: own.filter((session) => session.state === 'running' || session.state === 'paused').length,
    // ours
    name: workspace.name,
    kind: workspace.kind,
    image: workspace.image,
    state: workspace.state,
    origin: workspace.origin ?? null,
    last_accessed_at: workspace.lastAccessedAt,
    ...(workspace.diskBytes !== undefined ? { disk_bytes: workspace.diskBytes } : {}),
    ...(workspace.hostNetwork ? { host_network: true } : {}),
  };
}

export function v1Process(process: ProcessInfo): Record<string, unknown> {
  return {
    id: process.id,
    session_id: process.sessionId,
    command: process.command,
    state: process.state,
    exit_code: process.exitCode,
    started_at: process.startedAt,
    ended_at: process.endedAt,
  };
}

/** A session's port in the API's snake_case; `url` is what an agent calls while it is forwarded. */
export function v1Port(port: PortInfo): Record<string, unknown> {
  return {
    session_id: port.sessionId,
    port: port.port,
    listening: port.listening,
    process: port.process ?? null,
    label: port.label ?? null,
    forwarded: port.forward !== undefined,
    url: port.forward?.url ?? null,
    local_address: port.forward?.localAddress ?? null,
    local_port: port.forward?.localPort ?? null,
    ...(port.warning ? { warning: port.warning } : {}),
  };
}

