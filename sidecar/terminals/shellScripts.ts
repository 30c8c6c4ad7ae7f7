/**
 * The shell text that runs inside a session's container for a terminal. Plain POSIX sh, so it
 * works with busybox's ash as well as with Debian's dash and bash.
 *
 * How the state of a terminal (cwd, exported environment, history) is kept:
 * the shell reports it itself, before every prompt, into files in a per-terminal directory in
 * the container. Only the shell knows its exported variables (/proc/PID/environ of a shell
 * shows the environment it *started* with), but a child it starts inherits them, so
 * `cat /proc/self/environ` run from the prompt hook prints exactly the current exported
 * environment, NUL-separated and unambiguous.
 * - bash: PROMPT_COMMAND runs the hook in the shell itself; `history -a` appends each command
 *   to HISTFILE, which bash loads again when a restored shell starts.
 * - ash (busybox) and dash: PS1 is expanded before each prompt, so a command substitution in
 *   it runs the hook in a subshell (which shares cwd, exported variables and the in-memory
 *   history). Many busybox builds cannot save history to a file, so the hook writes this
 *   shell's own commands (`history` minus the entries it started with) to `session-history`.
 * The sidecar copies those files into its database after each command (terminals.ts), and
 * reads them straight from the container when it restores a terminal, so a restart of the
 * container (files kept) or of the sidecar (container kept) loses nothing, and a container
 * that was recreated gets the last state the database saw. The directory is in /tmp, not in
 * /workspace, so that terminal history never lands in the person's files.
 */
import { shellQuote } from '../exec/shellText';

const STATE_ROOT = '/tmp/.sandkasten/terminals';

/** The directory in the container that holds one terminal's state files. */
export function terminalStateDirectory(terminalId: string): string {
  return `${STATE_ROOT}/${terminalId}`;
}

/**
 * Printed by the shell's EXIT trap: the person ended the shell (`exit`, Ctrl-D), so the
 * terminal is over. A shell killed with the container prints nothing and is restored later.
 */
export const EXIT_MARKER = /\x1b\]6973;exit;(\d+)\x07/;

/** Sourced by the interactive shell at start-up (bash --rcfile, ENV for ash and dash). */
const RC = [
  'if [ -n "$BASH_VERSION" ]; then',
  '  [ -f /etc/profile ] && . /etc/profile',
  '  [ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"',
  '  HISTFILE="$__sandkasten_dir/history"',
  'fi',
  // The saved environment comes after the start-up files, which may set PATH themselves.
  '[ -f "$__sandkasten_dir/restore-env" ] && . "$__sandkasten_dir/restore-env"',
  'rm -f "$__sandkasten_dir/restore-env"',
  '__sandkasten_state() {',
  '  pwd > "$__sandkasten_dir/cwd"',
  '  cat /proc/self/environ > "$__sandkasten_dir/env"',
  '} 2>/dev/null',
  '__sandkasten_history() {',
  '  [ -f "$__sandkasten_dir/history-base" ] || history | wc -l > "$__sandkasten_dir/history-base"',
  '  history | tail -n "+$(( $(cat "$__sandkasten_dir/history-base") + 1 ))" | sed \'s/^ *[0-9]* //\' > "$__sandkasten_dir/session-history"',
  '} 2>/dev/null',
  'trap \'printf "\\033]6973;exit;%s\\007" "$?"\' EXIT',
  'if [ -n "$BASH_VERSION" ]; then',
  '  PROMPT_COMMAND="history -a; __sandkasten_state${PROMPT_COMMAND:+; $PROMPT_COMMAND}"',
  'else',
  '  PS1=\'$(__sandkasten_state; __sandkasten_history)\'"${PS1:-\\w \\$ }"',
  'fi',
  'unset ENV',
].join('\n');

/**
 * Starts the terminal's shell. Arguments: state directory, terminal id, cwd, history (one
 * command a line) and `export` lines of the environment to restore (both empty for a new one).
 */
const LAUNCH = String.raw`
d=$1 id=$2
# The directory is the sandbox's to change: what it left there is removed, never followed
# (a history linked to /dev/zero, copied, would fill the host's disk; a FIFO would hang).
[ -L "$d" ] && rm -f "$d"
mkdir -p "$d" && chmod 700 "$d" || exit 1
# A shell of this terminal may still run, orphaned when the sidecar lost its stream: end it.
# The pid is checked against the terminal id, as pids are reused after a container restart.
if [ -f "$d/pid" ] && [ ! -L "$d/pid" ]; then
  old=$(head -c 16 "$d/pid")
  tr '\0' '\n' < "/proc/$old/environ" 2>/dev/null | grep -qx "SANDKASTEN_TERMINAL=$id" && kill -KILL "$old" 2>/dev/null
fi
# Read back by the sidecar before this runs; written anew from here and by the shell's hooks.
rm -rf "$d/session-history" "$d/history-base" "$d/history" "$d/ash_history" "$d/restore-env" "$d/rc" "$d/pid" "$d/cwd" "$d/env"
printf '%s' "$4" > "$d/history"
printf '%s' "$4" > "$d/ash_history"
printf '%s' "$5" > "$d/restore-env"
printf '__sandkasten_dir=%s\n' "$d" > "$d/rc"
cat >> "$d/rc" <<'SANDKASTEN_RC'
${RC}
SANDKASTEN_RC
echo $$ > "$d/pid"
if ! cd "$3" 2>/dev/null; then
  [ "$3" = /workspace ] || printf '[sandkasten] %s no longer exists\r\n' "$3"
  cd /workspace 2>/dev/null || cd /
fi
export SANDKASTEN_TERMINAL="$id" TERM=xterm-256color
if command -v bash >/dev/null 2>&1; then
  export HISTFILE="$d/history"
  exec bash --rcfile "$d/rc" -i
fi
export HISTFILE="$d/ash_history" ENV="$d/rc"
exec sh -l
`;

export interface LaunchState {
  cwd: string;
  history: string;
  /** `export NAME='value'` lines, sourced after the start-up files so they win. */
  environment: string;
}

/** argv of the exec that starts (or restores) a terminal's interactive shell. */
export function launchCommand(terminalId: string, state: LaunchState): string[] {
  return ['sh', '-c', LAUNCH, 'sandkasten-terminal', terminalStateDirectory(terminalId), terminalId, state.cwd, state.history, state.environment];
}

/** Marks the start of a state dump, so an empty output means "no state directory". */
export const STATE_DUMP_HEADER = 'sandkasten-terminal-state\x1e';
export const STATE_DUMP_SEPARATOR = '\x1e';

/** The most of each state file read back (the files are the sandbox's to write: see readStateCommand). */
export const STATE_FILE_MAX_BYTES = 256 * 1024;
/** What a whole dump may be: four files, their separators and the header. */
export const STATE_DUMP_MAX_BYTES = 4 * STATE_FILE_MAX_BYTES + 64;

/**
 * argv of the exec that prints a terminal's state files: cwd, env, history, session-history.
 * Anything in the sandbox can write them, so only regular files that are not symlinks are
 * read (a FIFO or a link to /dev/zero is skipped), each cut at STATE_FILE_MAX_BYTES.
 */
export function readStateCommand(terminalId: string): string[] {
  const script = [
    'd=$1',
    '[ -d "$d" ] && [ ! -L "$d" ] || exit 0',
    `printf '${STATE_DUMP_HEADER.replace('\x1e', '\\036')}'`,
    `for f in cwd env history session-history; do if [ -f "$d/$f" ] && [ ! -L "$d/$f" ]; then head -c ${STATE_FILE_MAX_BYTES} "$d/$f" 2>/dev/null; fi; printf '\\036'; done`,
  ].join('\n');
  return ['sh', '-c', script, 'sandkasten-terminal-state', terminalStateDirectory(terminalId)];
}

/** argv of the exec that hangs up a terminal's shell (bash passes SIGHUP on to its jobs) and forgets its files. */
export function endShellCommand(terminalId: string): string[] {
  const script = [
    'd=$1 id=$2',
    'if [ -f "$d/pid" ] && [ ! -L "$d/pid" ]; then',
    '  p=$(head -c 16 "$d/pid")',
    `  tr '\\0' '\\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "SANDKASTEN_TERMINAL=$id" && kill -HUP "$p" 2>/dev/null`,
    'fi',
    'rm -rf "$d"',
  ].join('\n');
  return ['sh', '-c', script, 'sandkasten-terminal-end', terminalStateDirectory(terminalId), terminalId];
}

/** `export NAME='value'` lines; names a shell cannot export are left out. */
export function exportLines(environment: Record<string, string>): string {
  return Object.entries(environment)
    .filter(([name]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    .map(([name, value]) => `export ${name}=${shellQuote(value)}\n`)
    .join('');
}
