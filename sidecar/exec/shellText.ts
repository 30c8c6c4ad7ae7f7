/** Quotes one word for a POSIX shell: inside single quotes only `'` needs care. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Where a persistent shell notes its current command: "UPTIME NONCE", the start time (from
 * /proc/uptime, so a cancel spares older background jobs) and the command's marker nonce.
 * An exec'd shell has one per PID; the container's main shell has a fixed one. In /dev/shm
 * (tmpfs, in every container Docker makes): written per command, it costs half of what a
 * write to the overlay filesystem's /tmp costs.
 */
export const commandStateFile = (shellPid: number) => `/dev/shm/.sandkasten-command-${shellPid}`;
export const MAIN_SHELL_STATE_FILE = '/dev/shm/.sandkasten-main-shell';

/**
 * PID 1 of every container the sidecar creates. Its stdin (kept open by Docker, attached by
 * the sidecar before the start) feeds a command shell, so a new container's first command
 * needs no `docker exec` (runc spawning an exec costs ~50 ms). PID 1 stays a plain waiter:
 * it stops at once on TERM, and when the shell ends (`exit`, or a kill) it prints the
 * running command's end markers with "E" and the shell's status, so the sidecar learns of
 * it, then idles; the session's next command gets an exec'd shell.
 */
export const MAIN_PROCESS_SCRIPT = [
  'trap "exit 0" TERM INT',
  // An asynchronous list's stdin is /dev/null unless redirected: hand the shell fd 3.
  'exec 3<&0 </dev/null; sh <&3 3<&- & wait $!; rc=$?',
  `read -r _ n <${MAIN_SHELL_STATE_FILE} 2>/dev/null`,
  `printf '\\036SK%s\\037' "$n" >&2; printf '\\036SK%s:E%d\\037' "$n" "$rc"`,
  'exec 3<&- >/dev/null 2>&1; while :; do sleep 86400 & wait $!; done',
].join('\n');

/**
 * A POSIX sh script that sends `signal` to the processes of the shell's *current* command:
 * the subtrees of the shell's children that started at or after the command did (so
 * background jobs of earlier commands keep running), leaving the shell itself alive.
 * Processes are found through /proc, which busybox and Debian images both have.
 */
export function stopCommandScript(shellPid: number, stateFile: string, signal: 'TERM' | 'KILL'): string {
  return [
    // /proc/uptime "12345.67" and stat's starttime are both in 1/100 s (CLK_TCK is 100 on Linux).
    `read -r u _ <${stateFile} 2>/dev/null || exit 0; since=\${u%.*}\${u#*.}`,
    // In /proc/N/stat the command name may hold spaces: cut up to ") ", then $2 is the
    // parent pid and $20 the start time.
    'kids() { for f in /proc/[0-9]*/stat; do s=$(cat "$f" 2>/dev/null) || continue; s=${s##*) }; set -- $s;',
    '  [ "$2" = "$P" ] && { d=${f%/stat}; echo "${d#/proc/} ${20}"; }; done; }',
    `tree() { P=$1; kids | while read -r c t; do tree "$c"; kill -${signal} "$c" 2>/dev/null; done; }`,
    `P=${shellPid}; kids | while read -r c t; do [ "$t" -ge "$since" ] && { tree "$c"; kill -${signal} "$c" 2>/dev/null; }; done`,
  ].join('\n');
}
