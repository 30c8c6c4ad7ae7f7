import { randomBytes } from 'node:crypto';

/**
 * Workspace ids are `{name}-{8 hex}`, e.g. `my-api-a7b3c2d1`. The name (the id's prefix) is
 * lowercase, starts with a letter, has only letters, digits and hyphens, ≤ 32 characters.
 */
export const MAX_WORKSPACE_NAME_LENGTH = 32;
const WORKSPACE_NAME = /^[a-z][a-z0-9-]*$/;
const WORKSPACE_ID = /^[a-z][a-z0-9-]{0,31}-[0-9a-f]{8}$/;

/** Returns why `name` is not a valid workspace name, or undefined when it is. */
export function workspaceNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'A workspace name is required.';
  if (name.length > MAX_WORKSPACE_NAME_LENGTH) {
    return `"${name}" is ${name.length} characters long; a workspace name has at most ${MAX_WORKSPACE_NAME_LENGTH}.`;
  }
  if (!/^[a-z]/.test(name)) return `"${name}" must start with a lowercase letter.`;
  if (!WORKSPACE_NAME.test(name)) return `"${name}" may only contain lowercase letters, digits and hyphens.`;
  if (name.endsWith('-')) return `"${name}" must not end with a hyphen.`;
  return undefined;
}

export type RandomHex = (bytes: number) => string;
export const cryptoRandomHex: RandomHex = (bytes) => randomBytes(bytes).toString('hex');

export function newWorkspaceId(name: string, randomHex: RandomHex = cryptoRandomHex): string {
  return `${name}-${randomHex(4)}`;
}

export function isWorkspaceId(id: string): boolean {
  return WORKSPACE_ID.test(id);
}

/**
 * A workspace id a caller chooses (the HTTP API's `workspace_id`, as Sandkasten v1 defines
 * it): 2–64 lowercase letters, digits and hyphens, not starting or ending with a hyphen.
 */
const CALLER_WORKSPACE_ID = /^[a-z0-9][a-z0-9-]*[a-z0-9]$/;
export function callerWorkspaceIdProblem(id: unknown): string | undefined {
  if (typeof id !== 'string' || id.length < 2) return 'it must be at least 2 characters';
  if (id.length > 64) return 'it must not exceed 64 characters';
  if (!CALLER_WORKSPACE_ID.test(id)) return 'it must contain only lowercase letters, numbers, and hyphens, and cannot start or end with a hyphen';
  return undefined;
}

export function newSessionId(randomHex: RandomHex = cryptoRandomHex): string {
  return `ses-${randomHex(6)}`;
}

export function newInstanceId(randomHex: RandomHex = cryptoRandomHex): string {
  return randomHex(6);
}

export function newTerminalId(randomHex: RandomHex = cryptoRandomHex): string {
  return `term-${randomHex(6)}`;
}
