import { shellQuote } from '../exec/shellText';
import { ENTRY_FUNCTION, entriesLoop, FILE_STATUS, parseEntryRecord, prelude, records, subshell, walkFromRoot, type TypedEntry } from './fileScripts';

/**
 * The scripts that watch a workspace's files from inside its running container, by polling
 * (Docker has no file events to give, and inotify would need a process of ours in the sandbox),
 * and what they print. By the rules of fileScripts.ts: the walk to the watched path is checked
 * inside /workspace, `find` never follows a link (it lists a link as itself), everything
 * printed is bounded, and what a container prints is parsed, never trusted.
 *
 * A poll asks `find` for what was modified since a stamp. busybox's `find -newer` compares
 * whole seconds, so the stamp is set one second before the previous poll began (`touch -d
 * @SECONDS`): nothing modified since then is missed, and what the previous poll saw may come
 * again — each path comes with its mtime (nanoseconds) and size, and the caller reports only
 * those whose fingerprint changed. The stamp lives in /dev/shm (tmpfs, in every container,
 * writable under a read-only root) for the poll's duration only.
 */

/** How a poll's paths come back: a record per path with its fingerprint, and whether output was cut at the bound. */
export interface PollOutput {
  /** The container's clock (whole seconds) when the poll began: the next poll's stamp is a second before. */
  startedAt?: number;
  /** Whether the watched path exists (when its directory could not be walked to, it does not). */
  exists: boolean;
  changed: PolledPath[];
  /** More was modified than the output bound holds: the caller refreshes the whole watched tree. */
  truncated: boolean;
}

export interface PolledPath {
  /** Below /workspace. */
  components: string[];
  isDirectory: boolean;
  /** mtime (with nanoseconds) and size as the container printed them: equal means unchanged. */
  fingerprint: string;
}

/**
 * Prints `t` and the container's clock, `e` or `m` (the watched path exists or is missing),
 * then one line per path below it (itself included; only its direct entries unless
 * `recursive`) modified after `since` (whole seconds; two seconds before now when
 * undefined): `d` or `f`, `stat`'s `%y %s %n`. At most `maxBytes` of those lines.
 */
export function pollScript(components: string[], options: { recursive: boolean; since?: number; nonce: string; maxBytes: number }): string {
  const name = components.length === 0 ? '.' : `./${components.at(-1)}`;
  const since = options.since === undefined ? '$(( $(date +%s) - 2 ))' : String(Math.floor(options.since));
  const depth = options.recursive ? '' : ' -maxdepth 1';
  const stamp = `/dev/shm/.sandkasten-watch-${options.nonce}`;
  return subshell(`printf 't%s\\000' "$(date +%s)"
${prelude(components.slice(0, -1), false)}f=${shellQuote(name)}
if [ ! -e "$f" ] && [ ! -L "$f" ]; then printf 'm\\000'; exit 0; fi
printf 'e\\000'
s=${stamp}
rm -f "$s"
{ (set -C; : >"$s") && touch -d "@${since}" "$s"; } 2>/dev/null || exit ${FILE_STATUS.failed}
find "$f"${depth} -newer "$s" -type d -exec stat -c 'd%y %s %n' -- {} + -o -newer "$s" -exec stat -c 'f%y %s %n' -- {} + 2>/dev/null | head -c ${Math.floor(options.maxBytes)}
rm -f "$s"
`);
}

/** One line of pollScript: its type, fingerprint and path as `find` printed it (`./name/…`, or `.` below the root). */
const POLL_LINE = /^([df])(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,9})? [+-]\d{4} \d{1,20}) (\.(?:\/[^]*)?)$/;

/**
 * Reads pollScript's output for the path `components`. A name with a newline spans lines (a
 * line that is no record continues the one before); a path that is not below the watched
 * one, or that holds `.`, `..` or an empty name, is left out.
 */
export function parsePoll(output: Buffer, components: string[], maxBytes: number): PollOutput {
  // Two records (the clock, then `e` or `m`), then the lines, which hold no NUL.
  const clockEnd = output.indexOf(0);
  const stateEnd = clockEnd < 0 ? -1 : output.indexOf(0, clockEnd + 1);
  const clock = /^t(\d{1,20})$/.exec(output.subarray(0, Math.max(0, clockEnd)).toString('latin1'));
  const startedAt = clock ? Number(clock[1]) : undefined;
  const state = stateEnd < 0 ? '' : output.subarray(clockEnd + 1, stateEnd).toString('latin1');
  if (state !== 'e') return { startedAt, exists: false, changed: [], truncated: false };
  const lines = output.subarray(stateEnd + 1);
  const truncated = lines.length >= maxBytes;
  const text = lines.toString('utf8');
  const whole = truncated ? text.slice(0, Math.max(0, text.lastIndexOf('\n'))) : text;
  const parent = components.slice(0, -1);
  const name = components.at(-1);
  const changed: PolledPath[] = [];
  let last: { type: string; fingerprint: string; path: string } | undefined;
  const finish = () => {
    if (!last) return;
    const below = pathBelow(last.path, parent, name);
    if (below) changed.push({ components: below, isDirectory: last.type === 'd', fingerprint: last.fingerprint });
    last = undefined;
  };
  for (const line of whole.split('\n')) {
    const match = POLL_LINE.exec(line);
    if (match) {
      finish();
      last = { type: match[1], fingerprint: `${match[1]}${match[2]}`, path: match[3] };
    } else if (last) {
      last.path += `\n${line}`;
    }
  }
  if (!truncated) {
    // The final newline leaves an empty last line, which belongs to no name.
    if (last && last.path.endsWith('\n')) last.path = last.path.slice(0, -1);
  }
  finish();
  return { startedAt, exists: true, changed, truncated };
}

/** The components of `path` (`.`, `./name/…`, as `find` printed it from `parent`'s directory), when it is `name` or below it; else undefined. */
function pathBelow(path: string, parent: string[], name: string | undefined): string[] | undefined {
  const relative = path === '.' ? [] : path.slice(2).split('/');
  if (relative.some((part) => part === '' || part === '.' || part === '..')) return undefined;
  if (name !== undefined && relative[0] !== name) return undefined;
  return [...parent, ...relative];
}

/**
 * Lists several directories in one round trip: per directory `D` and its index, then its
 * entries as sk_entry prints them (`+` after `limit`); a directory that cannot be walked to
 * prints nothing. At most `maxBytes` in all.
 */
export function listDirectoriesScript(directories: string[][], options: { limit: number; maxBytes: number }): string {
  const each = directories.map((components, index) => subshell(`${walkFromRoot(components, false)}printf 'D${index}\\000'\n${entriesLoop(options.limit)}`)).join('\n');
  return subshell(`${prelude([], false)}${ENTRY_FUNCTION}
{
${each}
} 2>/dev/null | head -c ${Math.floor(options.maxBytes)}
`);
}

/** Per directory index: its entries, or `incomplete` when they were cut (by its limit or the output bound). Missing: it could not be listed. */
export function parseDirectoryListings(output: Buffer, count: number): Map<number, TypedEntry[] | 'incomplete'> {
  const listings = new Map<number, TypedEntry[] | 'incomplete'>();
  let current: number | undefined;
  const all = records(output);
  // An output that does not end in a NUL was cut: its last directory is incomplete.
  const cut = output.length > 0 && output[output.length - 1] !== 0;
  for (const record of all) {
    const header = /^D(\d{1,9})$/.exec(record.toString('latin1'));
    if (header && Number(header[1]) < count) {
      current = Number(header[1]);
      listings.set(current, []);
      continue;
    }
    if (current === undefined) continue;
    const listed = listings.get(current);
    if (listed === 'incomplete') continue;
    const entry = parseEntryRecord(record);
    if (entry === '+') listings.set(current, 'incomplete');
    else if (entry) listed!.push(entry);
  }
  if (cut && current !== undefined) listings.set(current, 'incomplete');
  return listings;
}
