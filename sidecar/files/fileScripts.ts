import { shellQuote } from '../exec/shellText';
import { WORKSPACE_ROOT } from './paths';

/**
 * The POSIX sh scripts that read, write and list files inside a container (busybox ash and
 * dash alike; the tools they use, `head`, `readlink`, `mv -T`, `base64`, are in busybox and
 * coreutils). Each runs in a subshell, so nothing it does lasts in the shell that runs it.
 *
 * Where a path leads is checked on what the kernel actually did, not on what a name looked
 * like a moment before (a sandbox can swap a directory for a symlink at any time):
 * - a directory is entered with `cd -P` (the kernel follows links), then `$PWD` — the
 *   physical path the shell got from the kernel — must be /workspace or below it; whatever is
 *   renamed afterwards, the cwd stays the directory that was checked;
 * - a file is read from an fd already open, whose real path (`/proc/self/fd/3`) must be under
 *   /workspace and which must be a regular file; special files are refused before opening
 *   (a FIFO would block the open), so only a sandbox racing us can make an open wait, and then
 *   the caller's deadline ends it;
 * - a file is written into a new name made with O_EXCL (`set -C`; never follows a link),
 *   then renamed over the target with `mv -T`, which replaces a name and never follows one:
 *   nothing is ever written through a link, not even in a race.
 * Links that stay inside /workspace are followed (a `current -> releases/3` layout works);
 * links that leave it are refused. A container can still lie about all this with its own
 * `sh` — it can only ever reach its own files that way, which it can anyway.
 */

/** What a script's exit status means; any other status is a failure the script did not expect. */
export const FILE_STATUS = {
  ok: 0,
  /** A component, or the file, does not exist. */
  notFound: 70,
  /** A component on the way is not a directory. */
  notADirectory: 71,
  /** The path names a directory where a file was asked for. */
  isADirectory: 72,
  /** A FIFO, socket or device: never opened. */
  notARegularFile: 73,
  /** A symbolic link on the path leads out of /workspace (or nowhere). */
  outsideWorkspace: 74,
  /** A write's target is a symbolic link: it is refused rather than replaced or followed. */
  symbolicLink: 75,
  /** /workspace itself is missing in the container. */
  noWorkspace: 76,
  /** The filesystem refused (permission, space, a missing tool); stderr says what. */
  failed: 77,
  /** Something is at the path where a create (without overwrite) wanted nothing. */
  exists: 78,
  /** A directory still has entries (a delete that is not recursive). */
  notEmpty: 79,
  /** A rename would move a directory into itself, or replace a directory holding the source. */
  intoItself: 80,
} as const;

/** The steps of a walk from the current directory into `directories`, each checked (see WALK_FUNCTIONS). */
function walk(directories: string[], create: boolean): string {
  return directories.map((name) => `sk_dir ${shellQuote(name)} ${create ? 1 : 0}`).join('\n');
}

/** The checked walk: each directory entered with `cd -P`, then `$PWD` must be inside /workspace; made when asked (`sk_dir NAME 1`). */
const WALK_FUNCTIONS = `sk_in() { cd -P "./$1" || exit ${FILE_STATUS.failed}; case $PWD in ${WORKSPACE_ROOT}|${WORKSPACE_ROOT}/*) ;; *) exit ${FILE_STATUS.outsideWorkspace};; esac; }
sk_dir() {
  if [ -d "./$1" ]; then sk_in "$1"
  elif [ -L "./$1" ]; then exit ${FILE_STATUS.outsideWorkspace}
  elif [ -e "./$1" ]; then exit ${FILE_STATUS.notADirectory}
  elif [ "$2" = 1 ]; then { mkdir "./$1" || [ -d "./$1" ]; } || exit ${FILE_STATUS.failed}; sk_in "$1"
  else exit ${FILE_STATUS.notFound}
  fi
}`;

/** Enters /workspace (the real one, not a link) and walks into `directories` below it; needs WALK_FUNCTIONS. */
export function walkFromRoot(directories: string[], create: boolean): string {
  return `cd -P ${WORKSPACE_ROOT} 2>/dev/null && [ "$PWD" = ${WORKSPACE_ROOT} ] || exit ${FILE_STATUS.noWorkspace}
${walk(directories, create)}
`;
}

/** The first lines of every script: a known umask, the checked walk's functions, and the walk into `directories` below /workspace. */
export function prelude(directories: string[], create: boolean): string {
  return `umask 022
${WALK_FUNCTIONS}
${walkFromRoot(directories, create)}`;
}

/** A script's body in a subshell of its own: nothing it does lasts in the shell that runs it. */
export const subshell = (body: string) => `(\n${body})`;

/**
 * Prints at most `limit` bytes of the file (the caller asks for one more than it returns, to
 * know whether there was more). A symlink to /dev/zero is not a regular file; one to
 * /etc/passwd is opened and then refused, nothing printed.
 */
export function readScript(components: string[], limit: number): string {
  const name = shellQuote(`./${components.at(-1)}`);
  return subshell(`${prelude(components.slice(0, -1), false)}f=${name}
[ -d "$f" ] && exit ${FILE_STATUS.isADirectory}
if [ ! -e "$f" ]; then [ -L "$f" ] && exit ${FILE_STATUS.outsideWorkspace}; exit ${FILE_STATUS.notFound}; fi
[ -f "$f" ] || exit ${FILE_STATUS.notARegularFile}
command exec 3<"$f" || exit ${FILE_STATUS.failed}
[ -f /proc/self/fd/3 ] || exit ${FILE_STATUS.notARegularFile}
p=$(readlink /proc/self/fd/3) || exit ${FILE_STATUS.failed}
case $p in ${WORKSPACE_ROOT}/*) ;; *) exit ${FILE_STATUS.outsideWorkspace};; esac
head -c ${Math.floor(limit)} <&3 || exit ${FILE_STATUS.failed}
`);
}

/**
 * Where a write's bytes come from: base64 inside the script (small files, through a warm
 * shell: no exec), or the script's stdin (large ones, through an exec of their own).
 */
export type WriteSource = { base64: string } | 'stdin';

/**
 * What a write may do besides writing: make missing parent directories, make the file when it
 * is missing (else notFound), replace it when it is there (else exists). The HTTP API does all
 * three; VS Code asks for each.
 */
export interface WriteMode {
  makeParents: boolean;
  create: boolean;
  overwrite: boolean;
}
const WRITE_ANYHOW: WriteMode = { makeParents: true, create: true, overwrite: true };

/** Where a write's temporary file is made (beside its target); watchers leave these names out. */
export const WRITE_TEMPORARY_PREFIX = '.sandkasten-write-';

/**
 * Writes the file: parents made (0755) when the mode says so, the bytes into a new hidden
 * file beside it (0644), renamed over the target. `nonce` makes the temporary name unguessable.
 */
export function writeScript(components: string[], source: WriteSource, nonce: string, mode: WriteMode = WRITE_ANYHOW): string {
  const name = shellQuote(`./${components.at(-1)}`);
  const bytes = source === 'stdin' ? 'cat' : `printf %s ${shellQuote(source.base64)} | base64 -d`;
  const present = !mode.overwrite ? `\nif [ -e "$f" ] || [ -L "$f" ]; then exit ${FILE_STATUS.exists}; fi` : '';
  const missing = !mode.create ? `\nif [ ! -e "$f" ] && [ ! -L "$f" ]; then exit ${FILE_STATUS.notFound}; fi` : '';
  return subshell(`${prelude(components.slice(0, -1), mode.makeParents)}f=${name}${present}${missing}
[ -L "$f" ] && exit ${FILE_STATUS.symbolicLink}
[ -d "$f" ] && exit ${FILE_STATUS.isADirectory}
[ -e "$f" ] && [ ! -f "$f" ] && exit ${FILE_STATUS.notARegularFile}
t=./${WRITE_TEMPORARY_PREFIX}${nonce}
set -C
command exec 3>"$t" || exit ${FILE_STATUS.failed}
set +C
${bytes} >&3 || { rm -f "$t"; exit ${FILE_STATUS.failed}; }
command exec 3>&-
mv -f -T "$t" "$f" || { rm -f "$t"; exit ${FILE_STATUS.failed}; }
`);
}

/**
 * Lists the directory: per entry a type byte (`d`irectory — a link to one counts as a file,
 * as Sandkasten v1 lists it — or `f`) and the name, NUL-terminated; after `limit` entries a
 * lone `+` says there were more.
 */
export function listScript(components: string[], limit: number): string {
  return subshell(`${prelude(components, false)}n=0
for e in * .[!.]* ..?*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  n=$((n + 1))
  if [ "$n" -gt ${Math.floor(limit)} ]; then printf '+\\000'; break; fi
  if [ -d "$e" ] && [ ! -L "$e" ]; then printf 'd%s\\000' "$e"; else printf 'f%s\\000' "$e"; fi
done
`);
}

export interface ListedEntry {
  name: string;
  isDirectory: boolean;
}

/** Reads listScript's output; anything it would not print is left out (a container may print anything). */
export function parseListing(output: Buffer): { entries: ListedEntry[]; truncated: boolean } {
  const entries: ListedEntry[] = [];
  let truncated = false;
  let start = 0;
  for (let end = output.indexOf(0, start); end >= 0; start = end + 1, end = output.indexOf(0, start)) {
    const record = output.subarray(start, end);
    if (record.length === 1 && record[0] === 0x2b) truncated = true;
    else if (record.length > 1 && (record[0] === 0x64 || record[0] === 0x66)) {
      entries.push({ name: record.subarray(1).toString('utf8'), isDirectory: record[0] === 0x64 });
    }
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { entries, truncated };
}

// ---------------------------------------------------------------------------------------
// The file system of editors (VS Code's FileSystemProvider): stat, typed listings, delete,
// rename and mkdir, by the same rules as above.
// ---------------------------------------------------------------------------------------

/** `stat -c` fields (GNU and busybox alike): raw mode in hex, size, mtime and ctime in seconds and as text with nanoseconds. */
const STAT_FORMAT = '%f|%s|%Y|%Z|%y|%z';

/** The name a script acts on in the directory the walk ended in: `.` for /workspace itself. */
const nameIn = (components: string[]) => (components.length === 0 ? '.' : shellQuote(`./${components.at(-1)}`));

/**
 * One line: how the path was reached, then STAT_FORMAT's fields. `P`: a plain path, stated
 * without following anything. A symbolic link is followed only into /workspace, checked on
 * what the kernel opened (a directory entered with `cd -P`, a file open on fd 3): `L` then
 * states what it leads to; one leading out, nowhere, or to something that cannot be opened
 * is `l`, the link itself.
 */
export function statScript(components: string[]): string {
  const stat = `sk_stat() { v=$(stat $3 -c '${STAT_FORMAT}' -- "$1") || exit ${FILE_STATUS.failed}; printf '%s%s\\n' "$2" "$v"; }`;
  return subshell(`${prelude(components.slice(0, -1), false)}${stat}
f=${nameIn(components)}
if [ -L "$f" ]; then
  own=$(stat -c '${STAT_FORMAT}' -- "$f") || exit ${FILE_STATUS.failed}
  if [ -d "$f" ]; then
    cd -P "$f" 2>/dev/null && case $PWD in ${WORKSPACE_ROOT}|${WORKSPACE_ROOT}/*) sk_stat . L; exit 0;; esac
  elif [ -f "$f" ] && command exec 3<"$f"; then
    case $(readlink /proc/self/fd/3) in ${WORKSPACE_ROOT}/*) sk_stat /proc/self/fd/3 L -L; exit 0;; esac
  fi
  printf 'l%s\\n' "$own"
  exit 0
fi
[ -e "$f" ] || exit ${FILE_STATUS.notFound}
sk_stat "$f" P
`);
}

export interface StatLine {
  type: 'file' | 'directory';
  symlink: boolean;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** Reads statScript's line; undefined when it is not one (a container may print anything). */
export function parseStat(output: string): StatLine | undefined {
  const match = /^([PLl])([0-9a-fA-F]{1,8})\|(\d{1,20})\|(-?\d{1,20})\|(-?\d{1,20})\|([^|\n]*)\|([^|\n]*)\n?$/.exec(output);
  if (!match) return undefined;
  const [, how, mode, size, mtime, ctime, mtimeText, ctimeText] = match;
  const isDirectory = (Number.parseInt(mode, 16) & 0o170000) === 0o040000;
  return {
    // A link that is not followed is a file to whoever lists it (see DirectoryEntryInfo).
    type: how !== 'l' && isDirectory ? 'directory' : 'file',
    symlink: how !== 'P',
    size: Number(size),
    mtimeMs: milliseconds(mtime, mtimeText),
    ctimeMs: milliseconds(ctime, ctimeText),
  };
}

/** Whole seconds since the epoch plus the milliseconds of `%y`'s fraction (`… 22:36:08.430519509 +0000`). */
function milliseconds(seconds: string, text: string): number {
  const fraction = /:\d\d\.(\d{1,9})/.exec(text)?.[1] ?? '';
  return Number(seconds) * 1000 + Number(fraction.padEnd(3, '0').slice(0, 3));
}

/**
 * The shell function that prints one entry of the current directory: its type (`d`, or `f`
 * for anything else), `l` for a symbolic link or `-`, the name, a NUL. A link counts as a
 * directory only when it leads to one inside /workspace (readlink -f says where); it is
 * never entered here.
 */
export const ENTRY_FUNCTION = `sk_entry() {
  if [ -L "$1" ]; then
    t=f
    case $(readlink -f -- "$1" 2>/dev/null) in ${WORKSPACE_ROOT}|${WORKSPACE_ROOT}/*) [ -d "$1" ] && t=d;; esac
    printf '%sl%s\\000' "$t" "$1"
  elif [ -d "$1" ]; then printf 'd-%s\\000' "$1"
  else printf 'f-%s\\000' "$1"
  fi
}`;

/** The loop that prints the current directory's entries with sk_entry, and a lone `+` after `limit` of them. */
export function entriesLoop(limit: number): string {
  return `n=0
for e in * .[!.]* ..?*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  n=$((n + 1))
  if [ "$n" -gt ${Math.floor(limit)} ]; then printf '+\\000'; break; fi
  sk_entry "$e"
done
`;
}

/** Lists the directory with types and links (see ENTRY_FUNCTION); after `limit` entries a lone `+`. */
export function entriesScript(components: string[], limit: number): string {
  return subshell(`${prelude(components, false)}${ENTRY_FUNCTION}
${entriesLoop(limit)}`);
}

export interface TypedEntry {
  name: string;
  type: 'file' | 'directory';
  symlink: boolean;
}

/** One record of sk_entry, or `+`; undefined for anything it would not print (a name with `/`, `.`, `..`). */
export function parseEntryRecord(record: Buffer): TypedEntry | '+' | undefined {
  if (record.length === 1 && record[0] === 0x2b) return '+';
  if (record.length < 3 || (record[0] !== 0x64 && record[0] !== 0x66) || (record[1] !== 0x6c && record[1] !== 0x2d)) return undefined;
  const name = record.subarray(2).toString('utf8');
  if (name === '.' || name === '..' || name.includes('/')) return undefined;
  return { name, type: record[0] === 0x64 ? 'directory' : 'file', symlink: record[1] === 0x6c };
}

/** NUL-terminated records of `output` (an unterminated tail is left out). */
export function records(output: Buffer): Buffer[] {
  const found: Buffer[] = [];
  for (let start = 0, end = output.indexOf(0); end >= 0; start = end + 1, end = output.indexOf(0, start)) found.push(output.subarray(start, end));
  return found;
}

/** Reads entriesScript's output, sorted by name. */
export function parseEntries(output: Buffer): { entries: TypedEntry[]; truncated: boolean } {
  const entries: TypedEntry[] = [];
  let truncated = false;
  for (const record of records(output)) {
    const entry = parseEntryRecord(record);
    if (entry === '+') truncated = true;
    else if (entry) entries.push(entry);
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { entries, truncated };
}

/**
 * Removes the file, link or directory (`rm -r` removes links, never what they lead to). A
 * directory with entries needs `recursive`, else notEmpty.
 */
export function deleteScript(components: string[], recursive: boolean): string {
  const directory = recursive
    ? `rm -rf -- "$f" || exit ${FILE_STATUS.failed}`
    : `for e in "$f"/* "$f"/.[!.]* "$f"/..?*; do if [ -e "$e" ] || [ -L "$e" ]; then exit ${FILE_STATUS.notEmpty}; fi; done
  rmdir -- "$f" || exit ${FILE_STATUS.failed}`;
  return subshell(`${prelude(components.slice(0, -1), false)}f=${nameIn(components)}
[ -e "$f" ] || [ -L "$f" ] || exit ${FILE_STATUS.notFound}
if [ -d "$f" ] && [ ! -L "$f" ]; then
  ${directory}
else
  rm -f -- "$f" || exit ${FILE_STATUS.failed}
fi
`);
}

/**
 * Renames `from` to `to`. Both parents are walked as every script walks (each checked inside
 * /workspace) and then held open as directories (fds 4 and 5); the rename goes through
 * /proc/self/fd/4 and /5, so it acts on exactly the directories that were checked, whatever
 * is renamed meanwhile. With `overwrite` a directory at `to` (or anything there when `from`
 * is a directory) is removed first, as VS Code's own file system does; a file is replaced
 * by the rename itself.
 */
export function renameScript(from: string[], to: string[], overwrite: boolean): string {
  const source = shellQuote(from.at(-1)!);
  const target = shellQuote(to.at(-1)!);
  const replace = overwrite
    ? `if { [ -d "$d" ] && [ ! -L "$d" ]; } || { [ -d "$s" ] && [ ! -L "$s" ]; }; then rm -rf -- "$d" || exit ${FILE_STATUS.failed}; fi`
    : `exit ${FILE_STATUS.exists}`;
  return subshell(`${prelude(from.slice(0, -1), false)}a=$PWD/${source}
command exec 4<. || exit ${FILE_STATUS.failed}
${walkFromRoot(to.slice(0, -1), false)}b=$PWD/${target}
command exec 5<. || exit ${FILE_STATUS.failed}
s=/proc/self/fd/4/${source}
d=/proc/self/fd/5/${target}
[ -e "$s" ] || [ -L "$s" ] || exit ${FILE_STATUS.notFound}
[ "$a" = "$b" ] && exit 0
case "$b/" in "$a/"*) exit ${FILE_STATUS.intoItself};; esac
if [ -e "$d" ] || [ -L "$d" ]; then
  case "$a/" in "$b/"*) exit ${FILE_STATUS.intoItself};; esac
  ${replace}
fi
mv -f -T -- "$s" "$d" || exit ${FILE_STATUS.failed}
`);
}

/** Makes the directory (0755); its parent must exist; exists when anything is there. */
export function makeDirectoryScript(components: string[]): string {
  return subshell(`${prelude(components.slice(0, -1), false)}f=${nameIn(components)}
if [ -e "$f" ] || [ -L "$f" ]; then exit ${FILE_STATUS.exists}; fi
mkdir -- "$f" || { if [ -e "$f" ]; then exit ${FILE_STATUS.exists}; fi; exit ${FILE_STATUS.failed}; }
`);
}
