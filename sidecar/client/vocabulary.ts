import type { SessionState, TerminalInfo, WorkspaceState } from './protocol';

/**
 * One state vocabulary for people, whatever the row: `running`, `stopped`, `frozen`, `paused`,
 * `starting`, plus `new`, `archived` and `deleting` for workspaces. The protocol keeps its
 * own words (a workspace is `active` while a session runs, `suspended` when none does; a
 * terminal is `live` or `dormant`); `--json` and the API show those, the tree and the CLI's
 * tables show these. The README's "States" table explains them.
 */
export type ShownState = 'new' | 'starting' | 'running' | 'frozen' | 'paused' | 'stopped' | 'archived' | 'deleting';

const WORKSPACE_STATES: Record<WorkspaceState, ShownState> = {
  created: 'new',
  active: 'running',
  suspended: 'stopped',
  archived: 'archived',
  deleting: 'deleting',
};

export function workspaceStateWord(state: WorkspaceState): ShownState {
  return WORKSPACE_STATES[state] ?? 'stopped';
}

/** A workspace state as a person names it (`running`) or as the protocol does (`active`). */
export function workspaceStateNamed(word: string): WorkspaceState | undefined {
  const byWord = (Object.entries(WORKSPACE_STATES) as Array<[WorkspaceState, ShownState]>).find(([, shown]) => shown === word)?.[0];
  return byWord ?? (word in WORKSPACE_STATES ? (word as WorkspaceState) : undefined);
}

/** `frozen`: paused by the lifecycle after idle time, thawed by the next use (`paused` is someone else's pause). */
export function sessionStateWord(session: { state: SessionState; frozenAt?: string }): ShownState {
  return session.state === 'paused' && session.frozenAt ? 'frozen' : session.state;
}

/** A dormant terminal's shell is gone; opening it starts a new one with the saved cwd, env and history. */
export function terminalStateWord(state: TerminalInfo['state']): ShownState {
  return state === 'live' ? 'running' : 'stopped';
}
