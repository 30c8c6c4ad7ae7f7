import { STATE_DUMP_HEADER, STATE_DUMP_SEPARATOR } from './shellScripts';

/** What a restored shell gets back: where it was, what it exported, what was typed. */
export interface TerminalState {
  cwd: string;
  env: Record<string, string>;
  /** One command a line, oldest first. */
  history: string;
}

/** Kept per terminal; the shell's own history size limits apply on top. */
export const MAX_HISTORY_LINES = 1000;
export const MAX_HISTORY_CHARS = 64 * 1024;
/** The environment travels as a command argument (Linux allows 128 KiB per argument). */
export const MAX_ENV_CHARS = 64 * 1024;

/**
 * Variables the shell or Docker sets for itself, or the terminal's start-up sets anew; saving
 * them would restore stale values (an old PWD, a nesting level, another container's name).
 */
const NOT_RESTORED = new Set(['PWD', 'OLDPWD', 'SHLVL', '_', 'HOSTNAME', 'TERM', 'HISTFILE', 'ENV', 'SANDKASTEN_TERMINAL', 'COLUMNS', 'LINES']);

/** `NAME=value` entries separated by NUL (/proc/PID/environ) into an object, minus NOT_RESTORED. */
export function parseEnviron(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  let size = 0;
  for (const entry of text.split('\0')) {
    const equals = entry.indexOf('=');
    if (equals <= 0) continue;
    const name = entry.slice(0, equals);
    if (NOT_RESTORED.has(name)) continue;
    size += entry.length;
    if (size > MAX_ENV_CHARS) break;
    env[name] = entry.slice(equals + 1);
  }
  return env;
}

/** The last MAX_HISTORY_LINES commands within MAX_HISTORY_CHARS, newline-terminated. */
export function boundedHistory(text: string): string {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const kept: string[] = [];
  let size = 0;
  for (let index = lines.length - 1; index >= 0 && kept.length < MAX_HISTORY_LINES; index--) {
    size += lines[index].length + 1;
    if (size > MAX_HISTORY_CHARS) break;
    kept.push(lines[index]);
  }
  return kept.reverse().map((line) => `${line}\n`).join('');
}

/**
 * Parses the output of readStateCommand. undefined when the container has no state for the
 * terminal (a new or recreated container); otherwise what it has, each part only when present.
 */
export function parseStateDump(text: string): Partial<TerminalState> | undefined {
  if (!text.startsWith(STATE_DUMP_HEADER)) return undefined;
  const [cwd = '', env = '', history = '', sessionHistory = ''] = text.slice(STATE_DUMP_HEADER.length).split(STATE_DUMP_SEPARATOR);
  const state: Partial<TerminalState> = {};
  const directory = cwd.replace(/\n$/, '');
  if (directory.startsWith('/')) state.cwd = directory;
  if (env.includes('=')) state.env = parseEnviron(env);
  const commands = `${history}${history && !history.endsWith('\n') ? '\n' : ''}${sessionHistory}`;
  if (commands.trim() !== '') state.history = boundedHistory(commands);
  return state;
}
