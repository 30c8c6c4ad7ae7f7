import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { invalidInput, notFound } from '../errors';

/**
 * Checks an archive file on the host without extracting anything: its bytes are only read,
 * gunzipped (zlib checks every member's CRC and length, and that the data does not stop
 * short) and walked header by header (TarStructure). No name in it is ever used as a path.
 */

/** What a checked archive file is: its size and the SHA-256 of its bytes. */
export interface ArchiveSummary {
  bytes: number;
  sha256: string;
}

const BLOCK = 512;
/** Files are read in chunks this large. */
const CHUNK_BYTES = 1024 * 1024;
/** A pax header longer than this is not one tar would write for a volume (long names and xattrs stay far below). */
const MAX_PAX_HEADER_BYTES = 8 * 1024 * 1024;
/** Types whose size field, whatever it says, is followed by no data (as Go's archive/tar reads them). */
const HEADER_ONLY_TYPES = new Set(['1', '2', '3', '4', '5', '6']);
/** Headers that describe the next member rather than being one. */
const META_TYPES = new Set(['x', 'g', 'L', 'K']);

/** Why an archive is not a complete tar: thrown by TarStructure. */
export class TarStructureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarStructureError';
  }
}

/**
 * Follows a tar stream block by block, as pushed, and says whether it is whole: every header
 * has a valid checksum and a size that can be read, every member's data is there, and it ends
 * with tar's end-of-archive mark (two zero blocks), after which only zeros follow (the record
 * padding). It keeps one header and, briefly, a pax header's records; nothing else.
 */
export class TarStructure {
  private readonly block = Buffer.alloc(BLOCK);
  private blockFilled = 0;
  /** Member data (padded to whole blocks) still to pass. */
  private dataLeft = 0;
  /** Old GNU sparse headers chain extension blocks before the data. */
  private sparseExtensionFollows = false;
  private dataAfterExtensions = 0;
  /** A pax extended header's records, collected to learn the next member's real size. */
  private paxRecords: { chunks: Buffer[]; left: number; padding: number } | undefined;
  /** The size the last pax header gave the next member, in place of its header's field. */
  private paxSize: number | undefined;
  private zeroBlocks = 0;
  private offset = 0;
  /** Members (files, directories, links…) seen. */
  members = 0;

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.paxRecords) {
        const take = Math.min(this.paxRecords.left, chunk.length - at);
        this.paxRecords.chunks.push(chunk.subarray(at, at + take));
        this.paxRecords.left -= take;
        this.offset += take;
        at += take;
        if (this.paxRecords.left === 0) {
          this.paxSize = paxSizeOf(Buffer.concat(this.paxRecords.chunks));
          this.dataLeft = this.paxRecords.padding;
          this.paxRecords = undefined;
        }
        continue;
      }
      if (this.dataLeft > 0) {
        const take = Math.min(this.dataLeft, chunk.length - at);
        this.dataLeft -= take;
        this.offset += take;
        at += take;
        continue;
      }
      const take = Math.min(BLOCK - this.blockFilled, chunk.length - at);
      chunk.copy(this.block, this.blockFilled, at, at + take);
      this.blockFilled += take;
      at += take;
      if (this.blockFilled < BLOCK) return;
      this.blockFilled = 0;
      this.onBlock();
      this.offset += BLOCK;
    }
  }

  /** Throws unless what was pushed is a whole archive. */
  finish(): void {
    if (this.offset === 0) throw new TarStructureError('it is not a tar archive (shorter than one tar header)');
    if (this.blockFilled !== 0 || this.dataLeft > 0 || this.paxRecords || this.sparseExtensionFollows) {
      throw new TarStructureError(`the tar data ends inside a member (after ${this.offset + this.blockFilled} bytes)`);
    }
    if (this.zeroBlocks < 2) throw new TarStructureError(`the tar data ends without its end-of-archive mark (after ${this.offset} bytes)`);
  }

  private onBlock(): void {
    const block = this.block;
    if (this.sparseExtensionFollows) {
      // An old GNU sparse extension block: 21 more map entries, then its own "more follow" flag.
      this.sparseExtensionFollows = block[504] !== 0;
      if (!this.sparseExtensionFollows) this.dataLeft = this.dataAfterExtensions;
      return;
    }
    if (isZero(block)) {
      this.zeroBlocks++;
      return;
    }
    if (this.zeroBlocks > 0) throw new TarStructureError(`data follows the end-of-archive mark (at byte ${this.offset})`);
    if (!checksumMatches(block)) {
      throw new TarStructureError(this.offset === 0 ? 'it is not a tar archive (the first header is not one)' : `the tar header at byte ${this.offset} is damaged (its checksum does not match)`);
    }
    const type = String.fromCharCode(block[156] || 0x30); // NUL: a regular file of old tars
    const meta = META_TYPES.has(type);
    const size = !meta && this.paxSize !== undefined ? this.paxSize : numericField(block.subarray(124, 136), this.offset);
    if (!meta) {
      this.paxSize = undefined; // a pax size applies to the next member only
      this.members++;
    }
    if (type === 'S') this.sparseExtensionFollows = block[482] !== 0;
    const stored = HEADER_ONLY_TYPES.has(type) ? 0 : size;
    const padded = Math.ceil(stored / BLOCK) * BLOCK;
    if (type === 'x') {
      if (stored > MAX_PAX_HEADER_BYTES) throw new TarStructureError(`the pax header at byte ${this.offset} is ${stored} bytes long, more than any tar writes`);
      if (stored > 0) this.paxRecords = { chunks: [], left: stored, padding: padded - stored };
      return;
    }
    // Old GNU sparse: the member's data comes after its extension blocks.
    if (this.sparseExtensionFollows) this.dataAfterExtensions = padded;
    else this.dataLeft = padded;
  }
}

/** The `size` record of a pax extended header ("<length> size=<decimal>\n"), if it has one. */
function paxSizeOf(records: Buffer): number | undefined {
  let size: number | undefined;
  let at = 0;
  while (at < records.length) {
    const space = records.indexOf(0x20, at);
    const length = space > at ? Number(records.toString('latin1', at, space)) : NaN;
    if (!Number.isSafeInteger(length) || length <= space - at || at + length > records.length || records[at + length - 1] !== 0x0a) {
      throw new TarStructureError('a pax header has a malformed record');
    }
    const record = records.toString('utf8', space + 1, at + length - 1);
    if (record.startsWith('size=')) {
      const value = Number(record.slice(5));
      if (!Number.isSafeInteger(value) || value < 0 || !/^\d+$/.test(record.slice(5))) throw new TarStructureError('a pax header has a malformed size');
      size = value;
    }
    at += length;
  }
  return size;
}

/** A header's octal number field, or the base-256 form GNU tar uses for large values. */
function numericField(field: Buffer, offset: number): number {
  if (field[0] & 0x80) {
    let value = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) {
      value = value * 256 + field[i];
      if (!Number.isSafeInteger(value)) break;
    }
    if (field[0] & 0x40 || !Number.isSafeInteger(value)) throw new TarStructureError(`the tar header at byte ${offset} has a size out of range`);
    return value;
  }
  const text = field.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (!/^[0-7]*$/.test(text)) throw new TarStructureError(`the tar header at byte ${offset} has an unreadable size`);
  return text === '' ? 0 : parseInt(text, 8);
}

/** The checksum field against the header's bytes, that field counted as spaces (unsigned, or signed as some old tars summed). */
function checksumMatches(block: Buffer): boolean {
  const text = block.toString('latin1', 148, 156).replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (!/^[0-7]+$/.test(text)) return false;
  const expected = parseInt(text, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return expected === unsigned || expected === signed;
}

function isZero(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * Takes a gzip'd tar's bytes as they come (piped into it, beside wherever else they go): hashes
 * and counts them, gunzips and walks them. `summary()` resolves once they all came and make a
 * whole archive, and rejects as soon as they cannot. A failure does not disturb the writer: the
 * rest is taken and dropped, so a stream piped both here and to a file never stalls.
 */
export class TarGzipCheck extends Writable {
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private readonly gunzip = zlib.createGunzip();
  private readonly structure = new TarStructure();
  private failure: unknown;
  private pendingWrite: (() => void) | undefined;
  private readonly outcome: Promise<ArchiveSummary>;
  private rejectOutcome!: (error: unknown) => void;

  constructor() {
    super({ highWaterMark: CHUNK_BYTES });
    let resolveOutcome!: (summary: ArchiveSummary) => void;
    this.outcome = new Promise<ArchiveSummary>((resolve, reject) => {
      resolveOutcome = resolve;
      this.rejectOutcome = reject;
    });
    this.outcome.catch(() => undefined); // seen through summary(), which may be asked later
    this.gunzip.on('data', (chunk: Buffer) => {
      if (this.failure) return;
      try {
        this.structure.push(chunk);
      } catch (error) {
        this.fail(error);
      }
    });
    this.gunzip.on('drain', () => this.releaseWrite());
    this.gunzip.once('error', (error) => this.fail(error));
    this.gunzip.once('end', () => {
      if (this.failure) return;
      try {
        this.structure.finish();
        resolveOutcome({ bytes: this.bytes, sha256: this.hash.digest('hex') });
      } catch (error) {
        this.fail(error);
      }
    });
  }

  /** The archive's size and SHA-256 once every byte came; a TarStructureError or zlib's error when they do not make a whole archive. */
  summary(): Promise<ArchiveSummary> {
    return this.outcome;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.failure) return callback();
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.gunzip.write(chunk)) callback();
    else this.pendingWrite = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.failure) return callback();
    this.gunzip.end();
    // Finished once the verdict is in (not before: a destroy after `finish` would cut the gunzip short).
    this.outcome.then(
      () => callback(),
      () => callback(),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.gunzip.destroy();
    this.releaseWrite();
    callback(error);
  }

  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = error;
    this.rejectOutcome(error);
    this.gunzip.destroy();
    this.releaseWrite();
  }

  private releaseWrite(): void {
    const callback = this.pendingWrite;
    this.pendingWrite = undefined;
    callback?.();
  }
}

/**
 * Reads the whole file once: its SHA-256 and size, and that it is a complete gzip'd tar.
 * InvalidInput says what is wrong with it, NotFound when there is no such file.
 */
export async function checkTarGzipFile(file: string, signal?: AbortSignal): Promise<ArchiveSummary> {
  const check = new TarGzipCheck();
  try {
    await pipeline(fs.createReadStream(file, { highWaterMark: CHUNK_BYTES }), check, { signal });
    return await check.summary();
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw archiveProblem(error, file);
  }
}

/** What TarGzipCheck or reading the file found, as an error a person can act on (other errors as they are). */
export function archiveProblem(error: unknown, file: string): unknown {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return notFound(`There is no archive file at ${file}.`);
  if (error instanceof TarStructureError) return invalidInput(`${file} is not a valid archive: ${error.message}.`);
  // zlib's own codes: the data is not gzip, or damaged (Z_DATA_ERROR), or stops short (Z_BUF_ERROR).
  if (code === 'Z_BUF_ERROR') return invalidInput(`${file} is not a complete gzip file: it ends too early (cut short?).`, (error as Error).message);
  if (code === 'Z_DATA_ERROR' || code === 'Z_STREAM_ERROR') return invalidInput(`${file} is not a valid gzip file, or it is damaged.`, (error as Error).message);
  return error;
}
