import * as fs from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { SqlValue } from 'sql.js';
import { writeFileAtomically } from './durableFile';

/** A change's statements as they ran: SQL text and its parameters. */
export type JournalStatement = [sql: string, params: SqlValue[] | Record<string, SqlValue>];

/** One acknowledged change (a `commit()`'s worth of statements), numbered in order. */
export interface JournalRecord {
  seq: number;
  statements: JournalStatement[];
}

/**
 * The file a record sits in:
 *   header  "SKJ1" (4 bytes)
 *   record  length u32 LE (of what follows the checksum) | crc32 u32 LE (of what follows it) |
 *           seq u64 LE | the statements as UTF-8 JSON (blobs as {"$b64": "…"})
 * A record is whole or it is not there: reading stops at the first record whose length runs
 * past the end or whose checksum does not match (a write torn by a crash), and what follows
 * is dropped.
 */
const MAGIC = Buffer.from('SKJ1', 'latin1');
const RECORD_HEAD = 8;
const SEQ_BYTES = 8;
/** A record longer than this is corruption, not a change (a change is a few statements). */
const MAX_RECORD_BYTES = 64 * 1024 * 1024;

export function encodeRecord(record: JournalRecord): Buffer {
  const json = Buffer.from(JSON.stringify(record.statements, (_key, value: unknown) => (value instanceof Uint8Array ? { $b64: Buffer.from(value).toString('base64') } : value)), 'utf8');
  const body = Buffer.alloc(SEQ_BYTES + json.length);
  body.writeBigUInt64LE(BigInt(record.seq), 0);
  json.copy(body, SEQ_BYTES);
  const head = Buffer.alloc(RECORD_HEAD);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt32LE(crc32(body), 4);
  return Buffer.concat([head, body]);
}

/** The intact records at the start of `bytes` (after the header), and how many bytes they take. */
export function decodeRecords(bytes: Buffer): { records: JournalRecord[]; intactBytes: number } {
  const records: JournalRecord[] = [];
  if (bytes.length < MAGIC.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return { records, intactBytes: 0 };
  let at = MAGIC.length;
  while (at + RECORD_HEAD <= bytes.length) {
    const length = bytes.readUInt32LE(at);
    const checksum = bytes.readUInt32LE(at + 4);
    const end = at + RECORD_HEAD + length;
    if (length < SEQ_BYTES || length > MAX_RECORD_BYTES || end > bytes.length) break;
    const body = bytes.subarray(at + RECORD_HEAD, end);
    if (crc32(body) !== checksum) break;
    let statements: JournalStatement[];
    try {
      statements = JSON.parse(body.subarray(SEQ_BYTES).toString('utf8'), (_key, value: unknown) =>
        value !== null && typeof value === 'object' && typeof (value as { $b64?: unknown }).$b64 === 'string' ? new Uint8Array(Buffer.from((value as { $b64: string }).$b64, 'base64')) : value,
      ) as JournalStatement[];
    } catch {
      break;
    }
    const seq = Number(body.readBigUInt64LE(0));
    // Numbers only grow: anything else was not written by this journal in this order.
    if (records.length > 0 && seq <= records[records.length - 1].seq) break;
    records.push({ seq, statements });
    at = end;
  }
  return { records, intactBytes: at };
}

/**
 * The write-ahead journal beside the database file: each acknowledged change is appended and
 * made durable (one fdatasync for every change waiting at that moment), so an acknowledgement
 * costs the change's bytes, not the database's. Only one writer at a time (the Database's
 * write queue) appends or compacts.
 */
export class Journal {
  private constructor(
    private readonly file: string,
    private handle: fs.FileHandle,
    private size: number,
  ) {}

  /**
   * Opens the journal, reading its intact records; a torn or corrupted tail is cut off (so
   * later appends follow the last intact record). A missing file is an empty journal.
   */
  static async open(file: string): Promise<{ journal: Journal; records: JournalRecord[]; droppedBytes: number }> {
    const bytes = await fs.readFile(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return Buffer.alloc(0);
      throw error;
    });
    const { records, intactBytes } = decodeRecords(bytes);
    if (intactBytes === 0) {
      await writeFileAtomically(file, MAGIC);
      return { journal: new Journal(file, await fs.open(file, 'r+'), MAGIC.length), records: [], droppedBytes: bytes.length };
    }
    const handle = await fs.open(file, 'r+');
    if (intactBytes < bytes.length) {
      await handle.truncate(intactBytes);
      await handle.datasync();
    }
    return { journal: new Journal(file, handle, intactBytes), records, droppedBytes: bytes.length - intactBytes };
  }

  /** Bytes in the file: the checkpoint's cue. */
  get bytes(): number {
    return this.size;
  }

  /** Appends the records and makes them durable together; on failure the file is cut back to where it was. */
  async append(records: JournalRecord[]): Promise<void> {
    const bytes = Buffer.concat(records.map(encodeRecord));
    const at = this.size;
    try {
      let written = 0;
      while (written < bytes.length) written += (await this.handle.write(bytes, written, bytes.length - written, at + written)).bytesWritten;
      await this.handle.datasync();
      this.size = at + bytes.length;
    } catch (error) {
      // A half-appended record would be dropped at the next open anyway (its checksum); cut
      // it now so the next append does not sit behind it.
      await this.handle.truncate(at).catch(() => undefined);
      throw error;
    }
  }

  /** After a checkpoint: the journal holds only `records` (those the checkpoint does not), written atomically. */
  async rewrite(records: JournalRecord[]): Promise<void> {
    const bytes = Buffer.concat([MAGIC, ...records.map(encodeRecord)]);
    await writeFileAtomically(this.file, bytes);
    const handle = await fs.open(this.file, 'r+');
    await this.handle.close().catch(() => undefined);
    this.handle = handle;
    this.size = bytes.length;
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}
