/** Quotes one word for a POSIX shell: inside single quotes only `'` needs care. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Where the persistent shell notes when its current command started (from /proc/uptime). */
export const commandStartFile = (shellPid: number) => `/tmp/.sandkasten-command-start-${shellPid}`;

/**
 * A POSIX sh script that sends `signal` to the processes of the shell's *current* command:
 * the subtrees of the shell's children that started at or after the command did (so
 * background jobs of earlier commands keep running), leaving the shell itself alive.
 * Processes are found through /proc, which busybox and Debian images both have.
 */
export function stopCommandScript(shellPid: number, signal: 'TERM' | 'KILL'): string {
  return [
    // /proc/uptime "12345.67" and stat's starttime are both in 1/100 s (CLK_TCK is 100 on Linux).
    `u=$(cat ${commandStartFile(shellPid)} 2>/dev/null) || exit 0; since=\${u%.*}\${u#*.}`,
    // In /proc/N/stat the command name may hold spaces: cut up to ") ", then $2 is the
    // parent pid and $20 the start time.
    'kids() { for f in /proc/[0-9]*/stat; do s=$(cat "$f" 2>/dev/null) || continue; s=${s##*) }; set -- $s;',
    '  [ "$2" = "$P" ] && { d=${f%/stat}; echo "${d#/proc/} ${20}"; }; done; }',
    `tree() { P=$1; kids | while read -r c t; do tree "$c"; kill -${signal} "$c" 2>/dev/null; done; }`,
    `P=${shellPid}; kids | while read -r c t; do [ "$t" -ge "$since" ] && { tree "$c"; kill -${signal} "$c" 2>/dev/null; }; done`,
  ].join('\n');
}
