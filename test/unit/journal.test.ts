import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { decodeRecords, encodeRecord, Journal, type JournalRecord } from '../../sidecar/store/journal';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function journalFile(): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-journal-'));
  directories.push(directory);
  return path.join(directory, 'state.journal');
}

const record = (seq: number, name = `w${seq}`): JournalRecord => ({
  seq,
  statements: [
    ['INSERT INTO workspaces (id, name) VALUES (?, ?)', [`id-${seq}`, name]],
    ['UPDATE meta SET value = ? WHERE key = ?', [seq, 'n']],
  ],
});

describe('the journal', () => {
  it('keeps appended records, in order, across a reopen; blobs, unicode and nulls round-trip', async () => {
    const file = journalFile();
    const { journal, records } = await Journal.open(file);
    assert.deepEqual(records, []);
    const odd: JournalRecord = { seq: 3, statements: [['INSERT INTO t VALUES (?, ?, ?)', [new Uint8Array([0, 255, 10]), 'ü\n"\\', null]]] };
    await journal.append([record(1), record(2)]);
    await journal.append([odd]);
    await journal.close();
    const reopened = await Journal.open(file);
    assert.deepEqual(reopened.records, [record(1), record(2), odd]);
    assert.equal(reopened.droppedBytes, 0);
    await reopened.journal.close();
  });

  it('drops a torn tail, wherever the write stopped, and appends after the last intact record', async () => {
    const file = journalFile();
    const { journal } = await Journal.open(file);
    await journal.append([record(1), record(2)]);
    await journal.close();
    const whole = fs.readFileSync(file);
    const third = encodeRecord(record(3));
    for (let cut = 1; cut < third.length; cut += 7) {
      fs.writeFileSync(file, Buffer.concat([whole, third.subarray(0, cut)]));
      const torn = await Journal.open(file);
      assert.deepEqual(torn.records.map((r) => r.seq), [1, 2], `cut after ${cut} bytes of the third record`);
      assert.equal(torn.droppedBytes, cut);
      assert.equal(fs.statSync(file).size, whole.length, 'the torn tail is cut off the file');
      await torn.journal.append([record(3)]);
      await torn.journal.close();
      assert.deepEqual((await Journal.open(file)).records.map((r) => r.seq), [1, 2, 3], 'an append after it is read back');
      fs.writeFileSync(file, whole);
    }
  });

  it('stops at a flipped byte: the record with it and everything after are dropped', async () => {
    const file = journalFile();
    const { journal } = await Journal.open(file);
    await journal.append([record(1), record(2), record(3)]);
    await journal.close();
    const bytes = fs.readFileSync(file);
    const first = encodeRecord(record(1)).length;
    for (const offset of [4 + 2, 4 + first + 9, bytes.length - 1]) {
      const flipped = Buffer.from(bytes);
      flipped[offset] ^= 0x40;
      const { records } = decodeRecords(flipped);
      const expected = offset < 4 + first ? [] : offset < 4 + first + encodeRecord(record(2)).length ? [1] : [1, 2];
      assert.deepEqual(records.map((r) => r.seq), expected, `a byte flipped at ${offset}`);
    }
  });

  it('refuses what is not a journal, and records whose numbers do not grow', () => {
    assert.deepEqual(decodeRecords(Buffer.from('SQLite format 3\0')).records, []);
    const bytes = Buffer.concat([Buffer.from('SKJ1'), encodeRecord(record(5)), encodeRecord(record(4))]);
    assert.deepEqual(decodeRecords(bytes).records.map((r) => r.seq), [5]);
  });

  it('rewrites itself to the records a checkpoint does not hold, and appends after them', async () => {
    const file = journalFile();
    const { journal } = await Journal.open(file);
    await journal.append([record(1), record(2), record(3)]);
    await journal.rewrite([record(3)]);
    await journal.append([record(4)]);
    await journal.close();
    assert.deepEqual((await Journal.open(file)).records.map((r) => r.seq), [3, 4]);
  });

  it('leaves the file as it was when an append fails', async () => {
    const file = journalFile();
    const { journal } = await Journal.open(file);
    await journal.append([record(1)]);
    const size = fs.statSync(file).size;
    // A closed handle fails the write as a full or read-only disk would.
    await journal.close();
    await assert.rejects(journal.append([record(2)]));
    assert.equal(fs.statSync(file).size, size);
    assert.deepEqual((await Journal.open(file)).records.map((r) => r.seq), [1]);
  });
});
