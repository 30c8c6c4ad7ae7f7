/** Quotes one word for a POSIX shell: inside single quotes only `'` needs care. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Where a persistent shell notes when its current command started (from /proc/uptime) and
 * the PID of the last background job started before it, so a
 * cancel spares older background jobs. Nothing secret is in it: any process in the sandbox
 * can read it. An exec'd shell has one per PID; the container's main shell has a fixed one.
 * In /dev/shm (tmpfs, in every container Docker makes): written per command, it costs half
 * of what a write to the overlay filesystem's /tmp costs.
 */
export const commandStateFile = (shellPid: number) => `/dev/shm/.sandkasten-command-${shellPid}`;
export const MAIN_SHELL_STATE_FILE = '/dev/shm/.sandkasten-main-shell';

/**
 * The main process of every container the sidecar creates (PID 2: Docker's init is PID 1
 * and reaps orphans). Its stdin (kept open by Docker, attached by
 * the sidecar before the start) feeds a command shell, so a new container's first command
 * needs no `docker exec` (runc spawning an exec costs ~50 ms). The first line on it is a
 * secret the sidecar chose for this start ("#" and hex: a comment to any shell that reads
 * it by mistake), kept only in the main process's memory. It stays a plain waiter: it stops at once
 * on TERM, and when the shell ends (`exit`, or a kill) it prints the death marker — the
 * secret, "E" and the shell's status — so the sidecar learns of it; a process in the sandbox
 * cannot forge one. Then it idles; the session's next command gets an exec'd shell.
 */
export const MAIN_PROCESS_SCRIPT = [
  'trap "exit 0" TERM INT',
  'read -r k',
  // An asynchronous list's stdin is /dev/null unless redirected: hand the shell fd 3.
  'exec 3<&0 </dev/null; sh <&3 3<&- & wait $!; rc=$?',
  `printf '\\036SK%s:E%d\\037' "\${k#?}" "$rc"`,
  'exec 3<&- >/dev/null 2>&1; while :; do sleep 86400 & wait $!; done',
].join('\n');

/**
 * Where the session's shell notes its exported environment (`export -p`) and cwd after each
 * command, so a command run side by side starts where the session is. Sandbox code can
 * rewrite these files; the side shell that reads them runs sandbox code anyway, and nothing
 * secret is in it (see commandText).
 */
export const SESSION_ENV_FILE = '/dev/shm/.sandkasten-session-env';
export const SESSION_CWD_FILE = '/dev/shm/.sandkasten-session-cwd';

/** The signal that makes a persistent shell abandon the rest of its current command line. */
export const ABANDON_SIGNAL = 'USR1';

/**
 * Sent once to every persistent shell before its first command. The markers go to copies of
 * the shell's stdout and stderr on fds 8 and 9, so a command's own redirections (`exec
 * 2>/dev/null`) cannot capture them. A command line runs inside `__sk_run` (state it
 * changes — cwd, variables, functions, aliases, options — is the shell's, as at top level),
 * so the ABANDON_SIGNAL trap can `return` from it: the rest of the line is dropped, as
 * Ctrl-C does, with the killed process's status (or 130). `set -x` is off while the
 * wrapper itself runs and turned on again (`__sk_x`) inside the line for a command that
 * set it, so traces show the command, never the wrapper or its markers. Signals are handled with USR1 because an asynchronous list (the container's
 * main shell) starts with SIGINT ignored, and ignored-on-entry signals cannot be trapped.
 */
export const SHELL_SETUP = [
  'exec 8>&1 9>&2',
  '__sk_x=; __sk_in=',
  // `__sk_in` is cleared inside the function: a signal after it returned must not `return`.
  '__sk_run() { __sk_in=1; command eval "$__sk_x$__sk_line"; { __sk_s=$?; __sk_in=; return $__sk_s; } 2>/dev/null; }',
  // Untraced (a `set -x` of the command must not show the wrapper's trap either).
  // The status goes in __sk_ab too: some shells put back the status from before the trap
  // once it ran, whatever it returned (busybox ash after a builtin loop).
  `trap '{ __sk_s=$?; case \${__sk_in-} in ?*) __sk_in=; __sk_ab=$((__sk_s > 128 ? __sk_s : 130)); return $__sk_ab;; esac; } 2>/dev/null' ${ABANDON_SIGNAL}`,
  '',
].join('\n');

/**
 * A POSIX sh script that sends `signal` to the processes of the shell's *current* command:
 * the subtrees of the shell's children that started at or after the command did (so
 * background jobs of earlier commands keep running), leaving the shell itself alive; with
 * `abandon`, the shell also gets the ABANDON_SIGNAL, so it drops the rest of the line.
 * Processes are found through /proc, which busybox and Debian images both have.
 */
export function stopCommandScript(shellPid: number, stateFile: string, signal: 'INT' | 'TERM' | 'KILL', abandon = false): string {
  return [
    ...(abandon ? [`kill -${ABANDON_SIGNAL} ${shellPid} 2>/dev/null`] : []),
    // /proc/uptime "12345.67" and stat's starttime are both in 1/100 s (CLK_TCK is 100 on Linux).
    `read -r u last _ <${stateFile} 2>/dev/null || exit 0; since=\${u%.*}\${u#*.}; last=\${last:-0}`,
    // One pass over /proc, builtins only (a fork per process would take seconds with hundreds):
    // "pid parent start" per process. In /proc/N/stat the command name may hold spaces: cut up
    // to ") ", then $2 is the parent pid and $20 the start time.
    'table=$(for f in /proc/[0-9]*/stat; do read -r s <"$f" 2>/dev/null || continue; d=${f%/stat}; s=${s##*) }; set -- $s; echo "${d#/proc/} $2 ${20}"; done)',
    'kids() { echo "$table" | while read -r c p t; do [ "$p" = "$1" ] && echo "$c $t"; done; }',
    'tree() { kids "$1" | while read -r c t; do echo "$c"; tree "$c"; done; }',
    // Started in a later tick than the command, or in its tick after the last earlier background job (ticks are 10 ms).
    `pids=$(kids ${shellPid} | while read -r c t; do { [ "$t" -gt "$since" ] || { [ "$t" -eq "$since" ] && [ "$c" -gt "$last" ]; }; } && { echo "$c"; tree "$c"; }; done)`,
    // The whole tree is listed first, then signalled parents first in one go: a subshell killed
    // after its child would run the rest of its line in between (and an orphan would be missed).
    `[ -n "$pids" ] && kill -${signal} $pids 2>/dev/null`,
  ].join('\n');
}
