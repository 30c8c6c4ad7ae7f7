import type { WorkspaceKind, WorkspaceLifecycle, WorkspaceState } from '../client/protocol';
import { LIFECYCLE_DEFAULTS, type LifecycleKindSetting, type SettingsValues as Settings } from '../client/configSchema';
import { isoTime } from '../util/clock';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * Each kind's policy, in milliseconds (0 = never), from the `lifecycle.*` settings: a kind a
 * setting does not name keeps its default (PRODUCT.md's table).
 */
export interface KindPolicy {
  /** Deleted this long after the last use (ephemeral: after its session ended). */
  expireAfterMs: number;
  /** Warned this long before deletion; deletion waits until a warning is this old. */
  warnBeforeMs: number;
  /** Archived (volume to a file) this long after the last use. */
  archiveAfterMs: number;
  /** A session without activity this long is frozen (its container paused). */
  freezeAfterMs: number;
  /** A frozen session is stopped after this long. */
  stopAfterMs: number;
}

export function policyOf(settings: Settings, kind: WorkspaceKind): KindPolicy {
  const value = (key: LifecycleKindSetting) => (settings[key] as Record<string, number>)[kind] ?? (LIFECYCLE_DEFAULTS[key] as Record<string, number>)[kind] ?? 0;
  return {
    expireAfterMs: value('lifecycle.expireAfterMinutes') * MINUTE,
    warnBeforeMs: value('lifecycle.warnBeforeHours') * HOUR,
    archiveAfterMs: value('lifecycle.archiveAfterDays') * DAY,
    freezeAfterMs: value('lifecycle.freezeAfterMinutes') * MINUTE,
    stopAfterMs: value('lifecycle.stopAfterMinutes') * MINUTE,
  };
}

/** What the lifecycle knows of a workspace. Times in epoch ms. */
export interface WorkspaceFacts {
  id: string;
  name: string;
  kind: WorkspaceKind;
  pinned: boolean;
  state: WorkspaceState;
  lastAccessedAt: number;
  /** When the current warning period began (cleared by use). */
  warnedAt?: number;
  /** When it was last warned (a warning is repeated daily). */
  lastWarnedAt?: number;
  /** Sessions running, frozen or starting: a workspace in use is never expired or archived. */
  liveSessions: number;
  /** Sessions it ever had (a workspace never used is not one whose session ended). */
  sessionsEver?: number;
}

export interface SessionFacts {
  id: string;
  workspaceId: string;
  kind: WorkspaceKind;
  state: 'starting' | 'running' | 'paused' | 'stopped';
  /** Set when the lifecycle froze it (a pause by someone else is theirs to undo). */
  frozenAt?: number;
  /** Its last command, keystroke, terminal open, file access or API call. */
  lastActivityAt: number;
  /** A command is running in it now: never idle. */
  busy: boolean;
}

export type LifecycleAction =
  | { action: 'freeze' | 'stop'; sessionId: string; workspaceId: string; reason: string }
  | { action: 'warn'; workspaceId: string; workspaceName: string; deleteAt: number; reason: string }
  | { action: 'archive' | 'delete'; workspaceId: string; workspaceName: string; reason: string };

/** Repeated this often while a workspace stays in its warning period. */
export const WARNING_REPEAT_MS = DAY;

/**
 * What is due at `now`, and why, in the order to apply it: sessions first (a stopped session
 * frees its workspace), then per workspace at most one of delete, archive, warn. Pure: the
 * dry run shows exactly this.
 */
export function planLifecycle(input: { workspaces: WorkspaceFacts[]; sessions: SessionFacts[]; now: number; settings: Settings }): LifecycleAction[] {
  const { now, settings } = input;
  const actions: LifecycleAction[] = [];
  for (const session of input.sessions) {
    const policy = policyOf(settings, session.kind);
    if (session.state === 'running' && !session.busy && policy.freezeAfterMs > 0 && now - session.lastActivityAt >= policy.freezeAfterMs) {
      actions.push({ action: 'freeze', sessionId: session.id, workspaceId: session.workspaceId, reason: `idle for ${duration(now - session.lastActivityAt)} (frozen after ${duration(policy.freezeAfterMs)})` });
    } else if (session.state === 'paused' && session.frozenAt !== undefined && policy.stopAfterMs > 0 && now - session.frozenAt >= policy.stopAfterMs) {
      actions.push({ action: 'stop', sessionId: session.id, workspaceId: session.workspaceId, reason: `frozen for ${duration(now - session.frozenAt)} (stopped after ${duration(policy.stopAfterMs)})` });
    }
  }
  for (const workspace of input.workspaces) {
    const due = dueFor(workspace, policyOf(settings, workspace.kind), now);
    if (due) actions.push(due);
  }
  return actions;
}

function dueFor(workspace: WorkspaceFacts, policy: KindPolicy, now: number): LifecycleAction | undefined {
  if (workspace.pinned || workspace.state === 'deleting' || workspace.liveSessions > 0) return undefined;
  const { id: workspaceId, name: workspaceName } = workspace;
  const unused = now - workspace.lastAccessedAt;
  if (policy.expireAfterMs > 0) {
    const byUse = workspace.lastAccessedAt + policy.expireAfterMs;
    const warns = policy.warnBeforeMs > 0;
    const deleteAt = deletionTime(workspace, policy, now);
    // A kind that warns is deleted only once a warning is warnBefore old (the sidecar may have been off during the warning period).
    if (now >= deleteAt && (!warns || workspace.warnedAt !== undefined)) {
      return { action: 'delete', workspaceId, workspaceName, reason: deletionReason(workspace, unused, policy) };
    }
    const repeatDue = workspace.lastWarnedAt === undefined || now - workspace.lastWarnedAt >= WARNING_REPEAT_MS;
    if (warns && now >= byUse - policy.warnBeforeMs && repeatDue) {
      return { action: 'warn', workspaceId, workspaceName, deleteAt, reason: `unused for ${duration(unused)}: deleted on ${readableTime(deleteAt)} unless used, kept or pinned before` };
    }
  }
  if (policy.archiveAfterMs > 0 && workspace.state !== 'archived' && unused >= policy.archiveAfterMs) {
    return { action: 'archive', workspaceId, workspaceName, reason: `unused for ${duration(unused)} (archived after ${duration(policy.archiveAfterMs)})` };
  }
  return undefined;
}

/**
 * When the workspace goes for inactivity, unless used before: `expireAfter` after its last
 * use, and where the kind warns, never before the first warning is `warnBefore` old (a
 * warning not given yet would be given now).
 */
function deletionTime(workspace: Pick<WorkspaceFacts, 'lastAccessedAt' | 'warnedAt'>, policy: KindPolicy, now: number): number {
  const byUse = workspace.lastAccessedAt + policy.expireAfterMs;
  if (policy.warnBeforeMs <= 0) return byUse;
  return Math.max(byUse, (workspace.warnedAt ?? now) + policy.warnBeforeMs);
}

function deletionReason(workspace: WorkspaceFacts, unused: number, policy: KindPolicy): string {
  const { kind } = workspace;
  if (workspace.sessionsEver === 0) return `made ${duration(unused)} ago and never used (${kind} workspaces expire after ${duration(policy.expireAfterMs)} without use)`;
  if (kind === 'ephemeral') return `its session ended ${duration(unused)} ago (ephemeral workspaces go ${duration(policy.expireAfterMs)} after)`;
  return `unused for ${duration(unused)} (${kind} workspaces expire after ${duration(policy.expireAfterMs)} without use)`;
}

/**
 * For the tree, the CLI and the API: what will happen when, unless the workspace is used
 * before. It does not depend on the time (lists cache it): a warned workspace's date is fixed
 * by its warning, an unwarned one's by its last use.
 */
export function scheduleOf(workspace: Pick<WorkspaceFacts, 'pinned' | 'state' | 'liveSessions' | 'lastAccessedAt' | 'warnedAt'>, policy: KindPolicy): WorkspaceLifecycle | undefined {
  if (workspace.pinned || workspace.state === 'deleting' || workspace.liveSessions > 0) return undefined;
  const schedule: WorkspaceLifecycle = {};
  if (policy.expireAfterMs > 0) {
    // Not warned yet: the warning comes warnBefore ahead, so the date by use holds.
    const deleteAt = workspace.warnedAt === undefined ? workspace.lastAccessedAt + policy.expireAfterMs : deletionTime(workspace, policy, workspace.warnedAt);
    schedule.deleteAt = isoTime(deleteAt)!;
    if (workspace.warnedAt !== undefined) schedule.warning = `Will be deleted on ${schedule.deleteAt.slice(0, 10)} unless used, kept or pinned.`;
  }
  if (policy.archiveAfterMs > 0 && workspace.state !== 'archived') schedule.archiveAt = isoTime(workspace.lastAccessedAt + policy.archiveAfterMs)!;
  return Object.keys(schedule).length > 0 ? schedule : undefined;
}

/** "45 s", "12 min", "5 h", "3 days": the unit a person would use. */
export function duration(ms: number): string {
  const value = Math.max(0, ms);
  if (value < MINUTE) return `${Math.round(value / 1000)} s`;
  if (value < HOUR) return `${Math.round(value / MINUTE)} min`;
  if (value < 2 * DAY) return `${Math.round(value / HOUR)} h`;
  return `${Math.round(value / DAY)} days`;
}

/** "2026-12-03 14:05 UTC": a time in a reason people read (the CLI, the dry run). */
export function readableTime(ms: number): string {
  return `${isoTime(ms)!.slice(0, 16).replace('T', ' ')} UTC`;
}
