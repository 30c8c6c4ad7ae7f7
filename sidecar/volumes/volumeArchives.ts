import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { once } from 'node:events';
import { Transform } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { cryptoRandomHex, type RandomHex } from '../client/ids';
import type { ContainerSpec, Engine, Mount } from '../docker/engine';
import { conflict, hasCode, invalidInput, notFound, SandkastenError } from '../errors';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { ARCHIVE_MOUNT, ARCHIVE_STATUS, copyScript, IDLE_SCRIPT, restoreScript, saveScript } from './archiveScripts';
import { lastLineOf, runInHelper, type HelperExecResult } from './helperExec';
import { archiveProblem, checkTarGzipFile, TarGzipCheck, type ArchiveSummary } from './tarGzipCheck';
import { syncDirectory } from '../util/syncDirectory';

export type { ArchiveSummary } from './tarGzipCheck';

/** How far a save or restore is: bytes of the archive file written or read so far. */
export interface ArchiveProgress {
  bytes: number;
}

export interface VolumeArchivesDependencies {
  engine: Engine;
  clock: Clock;
  log: Logger;
  /** An image with GNU tar, gzip, find and coreutils (Debian's, by default): asked at each use, so a setting's change applies. */
  helperImage: () => string;
  /** A container runtime for the helpers (`runsc`); Docker's default when absent or undefined. */
  runtime?: () => string | undefined;
  randomHex?: RandomHex;
}

/**
 * The helper's limits: tar and gzip are two processes, and need little memory (what the page
 * cache holds of written files is counted too, and reclaimed). The rest of the hardening —
 * capabilities, no-new-privileges, init — is what DockerEngine gives every container.
 */
const HELPER_LIMITS = { cpus: 2, memoryMb: 512, pids: 64 } as const;
/** Archive files are read through in chunks this large (and written through a buffer this large). */
const FILE_CHUNK_BYTES = 1024 * 1024;
/** A partial file's name: `<file>.partial-<hex>` (see sweepPartials). */
const PARTIAL_INFIX = '.partial-';
const PARTIAL_NAME = /\.partial-[0-9a-f]{16}$/;

/**
 * A volume's whole content as a gzip'd tar file on the host, and back; and one volume copied
 * into another. What the workspace lifecycle builds archives, snapshots, clones, exports and
 * imports on.
 *
 * The volume is never read from the host: its content is a sandbox's, hostile (a symlink
 * could lead anywhere on the host). GNU tar reads and writes it inside a short-lived helper
 * container that has the volume mounted (read-only to save), no network and the usual
 * hardening, and the archive's bytes travel between that container and the host file through
 * a Docker exec's stdin or stdout, with back-pressure: it works with a remote engine, memory
 * stays bounded, and no host path is ever mounted. Each helper is labelled with the role
 * `archive` and removed when its work ends, whatever happened; one that a crash left behind
 * has no session, so reconciliation removes it. archiveScripts.ts says what tar keeps.
 *
 * Archive files are written as `<file>.partial-<random>` beside the target. The bytes are
 * checked on their way to it (hashed, gunzipped and walked header by header on the host: a
 * complete gzip'd tar, or the save fails), then the file is fsynced, its size on disk
 * compared, renamed, and the directory fsynced. Checking on the way rather than reading the
 * file back saves a second pass (0.3-0.5 s per 100 MB) that would only read the page cache
 * anyway. A failure removes the partial file; sweepPartials removes what a crash left.
 */
export class VolumeArchives {
  constructor(private readonly deps: VolumeArchivesDependencies) {}

  /**
   * Saves the volume's whole content as a gzip'd tar at `file` (replacing one there). Conflict
   * when files changed while they were read (a session still writing: stop it first).
   */
  async save(volume: string, file: string, onProgress?: (progress: ArchiveProgress) => void, signal?: AbortSignal): Promise<ArchiveSummary> {
    await this.requireVolumes(volume);
    const partial = `${file}${PARTIAL_INFIX}${randomBytes(8).toString('hex')}`;
    const out = fs.createWriteStream(partial, { flags: 'wx', mode: 0o600, highWaterMark: FILE_CHUNK_BYTES });
    // The bytes go to the file and, as they pass, through the check (hash, gunzip, tar walk).
    const check = new TarGzipCheck();
    const counted = new ArchivePass(check, onProgress);
    try {
      await once(out, 'open');
      counted.pipe(out);
      // A failed write (a full disk), a failed progress report or a broken archive ends the
      // transfer at once, rather than at the end or never.
      const failed = new AbortController();
      out.once('error', (error) => failed.abort(error));
      counted.once('error', (error) => failed.abort(error));
      check.summary().catch((error: unknown) => failed.abort(brokenArchive(volume, error)));
      const stop = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
      const result = await this.inHelper([{ type: 'volume', source: volume, target: ARCHIVE_MOUNT.volume, readOnly: true }], stop, (containerId) =>
        runInHelper(this.deps.engine, this.deps.clock, containerId, saveScript(), { output: counted, signal: stop }),
      ).catch((error: unknown) => {
        throw failed.signal.aborted ? failed.signal.reason : error;
      });
      if (result.status === ARCHIVE_STATUS.changedWhileRead) {
        throw conflict(`Files of volume ${volume} changed while it was saved, so the archive would not be a true copy. Stop what writes to it (its sessions) and try again.`, lastLineOf(result.stderr));
      }
      if (result.status !== ARCHIVE_STATUS.ok) throw helperFailed(`Saving volume ${volume} failed`, result);
      counted.end();
      await finished(out);
      const summary = await check.summary().catch((error: unknown) => {
        throw brokenArchive(volume, error);
      });
      await syncFile(partial);
      const onDisk = (await fsp.stat(partial)).size;
      if (onDisk !== summary.bytes) throw new SandkastenError('Internal', `The archive of volume ${volume} has ${onDisk} bytes on disk, not the ${summary.bytes} written.`);
      await fsp.rename(partial, file);
      await syncDirectory(path.dirname(file));
      return summary;
    } catch (error) {
      counted.destroy();
      check.destroy();
      out.destroy();
      await fsp.rm(partial, { force: true }).catch((removeError: unknown) => this.deps.log.error(`removing ${partial}`, removeError));
      throw error;
    }
  }

  /**
   * Extracts the archive `file` into `volume`, which must be empty (a fresh volume the caller
   * made: Conflict otherwise, before anything is written). The file is read once: its bytes
   * go to the helper and, on their way, through the same check as verify(). An archive that is
   * not a complete gzip'd tar is refused (InvalidInput) — as soon as the check, or gzip and
   * tar in the helper, find out, which may be after some files were extracted: the caller
   * discards the volume of a failed restore (as it does after any other failure, a full disk).
   * What was extracted is synced to disk before it returns.
   */
  async restore(file: string, volume: string, onProgress?: (progress: ArchiveProgress) => void, signal?: AbortSignal): Promise<void> {
    await this.requireVolumes(volume);
    const reading = fs.createReadStream(file, { highWaterMark: FILE_CHUNK_BYTES });
    const check = new TarGzipCheck();
    const input = new ArchivePass(check, onProgress);
    try {
      await once(reading, 'open');
      // A broken archive ends the extraction as soon as the check knows.
      const failed = new AbortController();
      check.summary().catch((error: unknown) => failed.abort(archiveProblem(error, file)));
      const stop = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
      // pipeline passes a read error on to `input`, which ends the transfer with it.
      pipeline(reading, input).catch(() => undefined);
      const result = await this.inHelper([{ type: 'volume', source: volume, target: ARCHIVE_MOUNT.volume }], stop, (containerId) =>
        runInHelper(this.deps.engine, this.deps.clock, containerId, restoreScript(), { input, signal: stop }),
      ).catch((error: unknown) => {
        throw failed.signal.aborted ? failed.signal.reason : error;
      });
      if (result.status === ARCHIVE_STATUS.targetNotEmpty) throw conflict(`Volume ${volume} is not empty: an archive is restored only into a new volume.`);
      // Every byte went out (so the check has them all) unless tar stopped early, on an error of its own.
      if (input.readableEnded) {
        await check.summary().catch((error: unknown) => {
          throw archiveProblem(error, file);
        });
      }
      if (result.status !== ARCHIVE_STATUS.ok) {
        throw invalidInput(`The archive ${file} could not be restored into volume ${volume}${said(result)}.`, lastLineOf(result.stderr) || undefined);
      }
      if (!input.readableEnded) throw new SandkastenError('Internal', `tar ended before it had read all of ${file}, yet said it succeeded.`);
    } catch (error) {
      throw archiveProblem(error, file);
    } finally {
      reading.destroy();
      input.destroy();
      check.destroy();
    }
  }

  /** Copies every file of volume `from` into the empty volume `to` (Conflict when it is not empty, or when files of `from` changed meanwhile). */
  async copy(from: string, to: string, signal?: AbortSignal): Promise<void> {
    await this.requireVolumes(from, to);
    const mounts: Mount[] = [
      { type: 'volume', source: from, target: ARCHIVE_MOUNT.from, readOnly: true },
      { type: 'volume', source: to, target: ARCHIVE_MOUNT.to },
    ];
    const result = await this.inHelper(mounts, signal, (containerId) => runInHelper(this.deps.engine, this.deps.clock, containerId, copyScript(), { signal }));
    if (result.status === ARCHIVE_STATUS.ok) return;
    if (result.status === ARCHIVE_STATUS.targetNotEmpty) throw conflict(`Volume ${to} is not empty: a volume is copied only into a new volume.`);
    if (result.status === ARCHIVE_STATUS.changedWhileRead) {
      throw conflict(`Files of volume ${from} changed while it was copied, so the copy would not be true. Stop what writes to it (its sessions) and try again.`, lastLineOf(result.stderr));
    }
    throw helperFailed(`Copying volume ${from} into ${to} failed`, result);
  }

  /**
   * Checks that `file` is a complete, readable gzip'd tar (on the host, reading it once), and
   * returns its size and SHA-256. InvalidInput says what is wrong; NotFound when it is missing.
   */
  verify(file: string, signal?: AbortSignal): Promise<ArchiveSummary> {
    return checkTarGzipFile(file, signal);
  }

  /**
   * Removes the `*.partial-*` files a crash left in `directory` (regular files only; nothing
   * else is touched) and returns their names. Only while no save into that directory runs,
   * such as at the start of the process that owns it.
   */
  static sweepPartials(directory: string): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const removed: string[] = [];
    for (const name of names.filter((candidate) => PARTIAL_NAME.test(candidate))) {
      const file = path.join(directory, name);
      if (!fs.lstatSync(file, { throwIfNoEntry: false })?.isFile()) continue;
      fs.rmSync(file, { force: true });
      removed.push(name);
    }
    return removed;
  }

  /** NotFound unless each volume exists and is this instance's: Docker would otherwise make a missing one, unlabelled, on mount. */
  private async requireVolumes(...names: string[]): Promise<void> {
    const own = new Set((await this.deps.engine.listOwnVolumes()).map((volume) => volume.name));
    const missing = names.find((name) => !own.has(name));
    if (missing) throw notFound(`There is no volume ${missing} of this Sandkasten.`);
  }

  /**
   * Runs `work` in a new helper container with `mounts` (its main process only waits; the
   * work runs in execs) and removes the helper afterwards, whatever happened: an error, an
   * abort, a failed start.
   */
  private async inHelper<T>(mounts: Mount[], signal: AbortSignal | undefined, work: (containerId: string) => Promise<T>): Promise<T> {
    const { engine, log } = this.deps;
    signal?.throwIfAborted();
    const spec: ContainerSpec = {
      name: `sandkasten-${engine.instanceId}-archive-${(this.deps.randomHex ?? cryptoRandomHex)(6)}`,
      image: this.deps.helperImage(),
      role: 'archive',
      command: ['sh', '-c', IDLE_SCRIPT],
      workingDir: '/',
      mounts,
      ...HELPER_LIMITS,
      network: 'none',
      readOnlyRoot: true,
      runtime: this.deps.runtime?.() || undefined,
    };
    const containerId = await engine.createContainer(spec).catch(async (error: unknown) => {
      if (!hasCode(error, 'ImageMissing')) throw error;
      await engine.ensureImage(spec.image);
      return engine.createContainer(spec);
    });
    try {
      signal?.throwIfAborted();
      await engine.startContainer(containerId);
      return await work(containerId);
    } finally {
      await engine.removeContainer(containerId).catch((error: unknown) => log.error(`removing archive helper container ${containerId.slice(0, 12)}`, error));
    }
  }
}

/**
 * Passes an archive's bytes on unchanged, on their way between the file and the helper: counts
 * them, reports progress, and hands each to the check too (waiting when it lags, so memory
 * stays bounded).
 */
class ArchivePass extends Transform {
  bytes = 0;

  constructor(
    private readonly check: TarGzipCheck,
    private readonly onProgress?: (progress: ArchiveProgress) => void,
  ) {
    super({ readableHighWaterMark: FILE_CHUNK_BYTES, writableHighWaterMark: FILE_CHUNK_BYTES });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    try {
      this.onProgress?.({ bytes: this.bytes });
    } catch (error) {
      // A caller's failing callback fails the transfer (as a stream error), never the process.
      return done(error as Error);
    }
    if (this.check.write(chunk)) done(null, chunk);
    else this.check.once('drain', () => done(null, chunk));
  }

  override _flush(done: (error?: Error | null) => void): void {
    this.check.end();
    done();
  }
}

/** The helper's own archive does not check out: not the volume's fault, nor the caller's. */
function brokenArchive(volume: string, error: unknown): SandkastenError {
  return new SandkastenError('Internal', `The archive made of volume ${volume} is not whole (${(error as Error)?.message ?? String(error)}).`);
}

function said(result: HelperExecResult): string {
  const line = lastLineOf(result.stderr);
  return line ? ` (${line})` : ` (status ${result.status})`;
}

/** A helper's failure that is neither the archive's nor the caller's fault (a full disk, a broken image). */
function helperFailed(what: string, result: HelperExecResult): SandkastenError {
  return new SandkastenError('Internal', `${what}${said(result)}.`, lastLineOf(result.stderr) || undefined);
}

/** fsync through a descriptor of its own: what is synced is the file, whichever descriptor asks. */
async function syncFile(file: string): Promise<void> {
  const handle = await fsp.open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}


