import type { CreateWorkspaceOptions, ExecOptions } from '../../api/sandkasten';
import type { CreateWorkspaceParams, ExecParams } from '../../sidecar/client/protocol';
import { SandkastenApiError } from './errors';

/** A command as the API takes it: a shell command line, or an argv. */
export type ApiCommand = string | string[];

/** The protocol's form of a command: `line` for a command line, `command` for an argv. */
export function commandParams(command: ApiCommand): { line: string } | { command: string[] } {
  if (typeof command === 'string') return { line: command };
  if (Array.isArray(command) && command.length > 0 && command.every((part) => typeof part === 'string')) return { command: [...command] };
  throw new SandkastenApiError('InvalidInput', 'A command is a command line (a string) or an argv (a non-empty array of strings).');
}

/** exec/run's parameters for an API exec; `streamId` when the output goes to `onOutput`. */
export function execParams(sessionId: string, command: ApiCommand, options: ExecOptions, streamId: string | undefined): ExecParams {
  return {
    sessionId,
    ...commandParams(command),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.queue !== undefined ? { queue: options.queue } : {}),
    ...(options.cleanShell !== undefined ? { cleanShell: options.cleanShell } : {}),
    ...(streamId !== undefined ? { streamId } : {}),
  };
}

/**
 * workspace/create's parameters: only what version 1 offers. The host's network stays a
 * choice a person makes in the Create Workspace wizard, so it is not passed on even when a
 * caller sets it.
 */
export function createWorkspaceParams(options: CreateWorkspaceOptions): CreateWorkspaceParams {
  if (typeof options !== 'object' || options === null) throw new SandkastenApiError('InvalidInput', 'createWorkspace takes an object: { name, kind?, image?, description?, tags? }.');
  const { name, kind, image, description, tags } = options;
  return {
    name,
    ...(kind !== undefined ? { kind } : {}),
    ...(image !== undefined ? { image } : {}),
    ...(description !== undefined ? { description } : {}),
    ...(tags !== undefined ? { tags } : {}),
  };
}
