/** Quotes one word for a POSIX shell: inside single quotes only `'` needs care. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * A POSIX sh script that sends `signal` to every descendant of `pid` (children first found
 * through /proc, which busybox and Debian images both have), leaving `pid` itself alive.
 */
export function killDescendantsScript(pid: number, signal: 'TERM' | 'KILL' | 'INT'): string {
  return [
    // Field 4 of /proc/N/stat is the parent pid; the command name before it may hold spaces.
    'kids() { for f in /proc/[0-9]*/stat; do s=$(cat "$f" 2>/dev/null) || continue; s=${s##*) }; set -- $s;',
    '  [ "$2" = "$P" ] && { d=${f%/stat}; echo "${d#/proc/}"; }; done; }',
    `tree() { P=$1; for c in $(kids); do tree "$c"; kill -${signal} "$c" 2>/dev/null; done; }`,
    `tree ${pid}`,
  ].join('\n');
}
