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
} as const;

/** The first line of every script: the subshell, a known umask, and the walk into the file's directory. */
function prelude(directories: string[], create: boolean): string {
  const walk = directories.map((name) => `sk_dir ${shellQuote(name)} ${create ? 1 : 0}`).join('\n');
  return `umask 022
sk_in() { cd -P "./$1" || exit ${FILE_STATUS.failed}; case $PWD in ${WORKSPACE_ROOT}|${WORKSPACE_ROOT}/*) ;; *) exit ${FILE_STATUS.outsideWorkspace};; esac; }
sk_dir() {
  if [ -d "./$1" ]; then sk_in "$1"
  elif [ -L "./$1" ]; then exit ${FILE_STATUS.outsideWorkspace}
  elif [ -e "./$1" ]; then exit ${FILE_STATUS.notADirectory}
  elif [ "$2" = 1 ]; then { mkdir "./$1" || [ -d "./$1" ]; } || exit ${FILE_STATUS.failed}; sk_in "$1"
  else exit ${FILE_STATUS.notFound}
  fi
}
cd -P ${WORKSPACE_ROOT} 2>/dev/null && [ "$PWD" = ${WORKSPACE_ROOT} ] || exit ${FILE_STATUS.noWorkspace}
${walk}
`;
}

const subshell = (body: string) => `(\n${body})`;

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
 * Writes the file: parents made (0755), the bytes into a new hidden file beside it (0644),
 * renamed over the target. `nonce` makes the temporary name unguessable.
 */
export function writeScript(components: string[], source: WriteSource, nonce: string): string {
  const name = shellQuote(`./${components.at(-1)}`);
  const bytes = source === 'stdin' ? 'cat' : `printf %s ${shellQuote(source.base64)} | base64 -d`;
  return subshell(`${prelude(components.slice(0, -1), true)}f=${name}
[ -L "$f" ] && exit ${FILE_STATUS.symbolicLink}
[ -d "$f" ] && exit ${FILE_STATUS.isADirectory}
[ -e "$f" ] && [ ! -f "$f" ] && exit ${FILE_STATUS.notARegularFile}
t=./.sandkasten-write-${nonce}
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
