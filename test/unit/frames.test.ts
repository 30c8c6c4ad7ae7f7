import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameParser, type StreamType } from '../../sidecar/docker/frames';

/** Docker's framing: [stream type, 0, 0, 0, payload size as big-endian uint32], then the payload. */
function frame(type: number, payload: string): Buffer {
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(Buffer.byteLength(payload), 4);
  return Buffer.concat([header, Buffer.from(payload)]);
}

/** What each stream received, the payloads joined, after `chunks` were pushed in order. */
function received(chunks: Buffer[]): Record<StreamType, string> {
  const out: Record<StreamType, string> = { stdout: '', stderr: '' };
  const parser = new FrameParser((type, data) => (out[type] += data.toString()));
  for (const chunk of chunks) parser.push(chunk);
  return out;
}

describe('Docker stream frames', () => {
  const stream = Buffer.concat([frame(1, 'out one\n'), frame(2, 'err\n'), frame(1, ''), frame(0, '<stdin echo>'), frame(2, 'two\n'), frame(1, 'x'.repeat(70_000))]);
  const expected = { stdout: `out one\n<stdin echo>${'x'.repeat(70_000)}`, stderr: 'err\ntwo\n' };

  it('splits stdout and stderr (type 0 counts as stdout)', () => {
    assert.deepEqual(received([stream]), expected);
  });

  it('gives the same bytes wherever the chunks are cut, headers included', () => {
    for (let cut = 1; cut < 80; cut++) assert.deepEqual(received([stream.subarray(0, cut), stream.subarray(cut)]), expected, `cut at ${cut}`);
    const head = stream.subarray(0, 60);
    assert.deepEqual(received([...head].map((byte) => Buffer.from([byte])).concat(stream.subarray(60))), expected, 'one byte at a time');
  });

  it('hands out slices of the chunk it was given, not copies', () => {
    const chunk = Buffer.concat([frame(1, 'no copy'), frame(2, 'nor here')]);
    const payloads: Buffer[] = [];
    new FrameParser((_type, data) => payloads.push(data)).push(chunk);
    assert.deepEqual(
      payloads.map((payload) => [payload.buffer === chunk.buffer, payload.byteOffset - chunk.byteOffset, payload.toString()]),
      [
        [true, 8, 'no copy'],
        [true, 23, 'nor here'],
      ],
    );
  });
});
