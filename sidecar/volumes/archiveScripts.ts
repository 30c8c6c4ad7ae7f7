import { shellQuote } from '../exec/shellText';

/**
 * The POSIX sh scripts the archive helper runs (dash and busybox ash alike; GNU tar and gzip
 * must be in the image). They name only fixed paths, where the helper mounts the volumes: no
 * text of a caller or of a sandbox ever becomes part of a script.
 */

/** Where the helper mounts the volume it saves or restores, and copy's two volumes. Paths no image has, so Docker never copies image content into a fresh volume there. */
export const ARCHIVE_MOUNT = {
  volume: '/sandkasten-archive/volume',
  from: '/sandkasten-archive/from',
  to: '/sandkasten-archive/to',
} as const;

/** What a script's exit status means beyond tar's own (0 ok, 1 files changed while read, 2 failed). */
export const ARCHIVE_STATUS = {
  ok: 0,
  /** tar --create: a file changed, shrank or vanished while it was read; the archive is not a true copy. */
  changedWhileRead: 1,
  /** The target volume of a restore or copy has something in it already. */
  targetNotEmpty: 90,
  /** copy: the reading tar failed (its own status was not 0 or 1). */
  copyReadFailed: 91,
  /** copy: the writing tar failed. */
  copyWriteFailed: 92,
} as const;

/**
 * What tar keeps (both ends agree on it):
 * - `--format=posix` (pax): nanosecond mtimes, any uid/gid, names of any length, and the
 *   only format GNU tar stores xattrs and ACLs in; `atime`/`ctime` records are left out
 *   (never restored, and they would make two saves of one volume differ).
 * - `--sparse` with sparse format 1.0: holes are found with SEEK_HOLE and not stored; on
 *   extraction the file gets its holes back (it stays small on disk).
 * - `--numeric-owner`: ids as numbers; the helper's /etc/passwd has nothing to do with the sandbox's users.
 * - `--acls`, and `--xattrs` of the `user.` namespace: the ones a sandbox can set (it lacks
 *   the capabilities for `trusted.` and `security.capability`; `security.selinux` is the host's).
 * Symlinks are archived as links, never followed; hard links as links to the first name;
 * FIFOs as FIFOs. Sockets are skipped (tar says so on stderr): they mean nothing once their
 * process is gone. Device nodes cannot be in a sandbox's volume (no MKNOD).
 */
export const TAR_CREATE_OPTIONS = [
  '--format=posix',
  '--pax-option=delete=atime,delete=ctime',
  '--sparse',
  '--sparse-version=1.0',
  '--numeric-owner',
  '--acls',
  '--xattrs',
  '--xattrs-include=user.*',
] as const;

/**
 * Extraction as root with every owner and mode as archived (`-p`: setuid, setgid and sticky
 * bits included, no umask). GNU tar refuses names with `..` and strips a leading `/`, and
 * makes a symlink that points out only after everything else, so nothing is written through
 * one; all of that happens in the helper's own mount namespace in any case.
 */
export const TAR_EXTRACT_OPTIONS = [
  '--numeric-owner',
  '--same-owner',
  '--same-permissions',
  '--acls',
  '--xattrs',
  '--xattrs-include=user.*',
] as const;

/**
 * gzip at level 1: on source trees and packages it is 2.5 times as fast as the default
 * level 6 for archives 9 % larger (measured on a Debian /usr, 116 MB: 1.8 s against 4.6 s),
 * and for data that does not compress both take as long. One gzip is the save's bottleneck.
 */
export const COMPRESSOR = 'gzip -1';

const words = (options: readonly string[]) => options.map(shellQuote).join(' ');

/** Fails with ARCHIVE_STATUS.targetNotEmpty when the directory holds anything (hidden names too). */
function refuseNonEmpty(directory: string): string {
  return `if [ -n "$(find ${directory} -mindepth 1 -maxdepth 1 -print -quit)" ]; then echo 'the target volume is not empty' >&2; exit ${ARCHIVE_STATUS.targetNotEmpty}; fi`;
}

/** Writes the volume's content as a gzip'd tar on stdout; tar's status (it reports gzip's failure as its own). */
export function saveScript(): string {
  return `exec tar --create --file=- --directory=${ARCHIVE_MOUNT.volume} ${words(TAR_CREATE_OPTIONS)} --use-compress-program=${shellQuote(COMPRESSOR)} .`;
}

/**
 * Extracts a gzip'd tar from stdin into the (empty) volume, then syncs the volume's
 * filesystem (`sync -f`: syncfs), so what the caller records as restored is on disk.
 */
export function restoreScript(): string {
  return [
    refuseNonEmpty(ARCHIVE_MOUNT.volume),
    `tar --extract --file=- --directory=${ARCHIVE_MOUNT.volume} --gzip ${words(TAR_EXTRACT_OPTIONS)} && exec sync -f ${ARCHIVE_MOUNT.volume}`,
  ].join('\n');
}

/**
 * Copies one volume into the other (empty) one through a tar pipe, the same options as a
 * save and a restore: the copy is what a save and restore would have made, without the bytes
 * leaving the helper; then syncs the target's filesystem. dash has no pipefail, so the
 * reading tar's status goes through a file.
 */
export function copyScript(): string {
  const status = '/tmp/sandkasten-copy-status';
  return [
    refuseNonEmpty(ARCHIVE_MOUNT.to),
    `{ tar --create --file=- --directory=${ARCHIVE_MOUNT.from} ${words(TAR_CREATE_OPTIONS)} .; echo $? > ${status}; } | tar --extract --file=- --directory=${ARCHIVE_MOUNT.to} ${words(TAR_EXTRACT_OPTIONS)}`,
    `extracted=$?; created=$(cat ${status})`,
    // The writer's failure first: it makes the reader fail too (a broken pipe), not the other way round.
    `[ "$extracted" = 0 ] || exit ${ARCHIVE_STATUS.copyWriteFailed}`,
    `case $created in 0) ;; 1) exit ${ARCHIVE_STATUS.changedWhileRead};; *) exit ${ARCHIVE_STATUS.copyReadFailed};; esac`,
    `exec sync -f ${ARCHIVE_MOUNT.to}`,
  ].join('\n');
}

/** The helper's main process: it only waits (stops at once on TERM), while the work runs in execs. */
export const IDLE_SCRIPT = 'trap "exit 0" TERM INT; while :; do sleep 86400 & wait $!; done';
