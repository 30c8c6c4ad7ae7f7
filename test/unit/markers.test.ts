import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameParser } from '../../sidecar/docker/frames';
import { MarkerScanner } from '../../sidecar/exec/markers';

const PREFIX = Buffer.from('\x1eSKabc:', 'latin1');

function scanAll(chunks: Buffer[]): { output: string; code: string | undefined } {
  let output = '';
  let code: string | undefined;
  const scanner = new MarkerScanner(PREFIX, 0x1f, 12, (data) => (output += data.toString('latin1')));
  for (const chunk of chunks) {
    const found = scanner.push(chunk);
    if (found !== undefined) code = found;
  }
  return { output, code };
}

describe('end-of-command marker scanner', () => {
  const stream = Buffer.from('hello world\nsecond line\n\x1eSKabc:42\x1f', 'latin1');

  it('passes output through and reads the exit code, whatever the chunking', () => {
    for (let size = 1; size <= stream.length; size++) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
      assert.deepEqual(scanAll(chunks), { output: 'hello world\nsecond line\n', code: '42' }, `chunks of ${size}`);
    }
  });

  it('holds nothing without bound: a prefix followed by more than a marker can hold is plain output', () => {
    const long = Buffer.concat([Buffer.from('x'), PREFIX, Buffer.alloc(5 * 1024 * 1024, 0x37), Buffer.from('tail\x1eSKabc:3\x1f', 'latin1')]);
    for (const size of [1024, 65536, long.length]) {
      let held = 0;
      let output = 0;
      const scanner = new MarkerScanner(PREFIX, 0x1f, 12, (data) => (output += data.length));
      let code: string | undefined;
      for (let i = 0; i < long.length; i += size) {
        const found = scanner.push(long.subarray(i, i + size));
        if (found !== undefined) code = found;
        held = Math.max(held, i + Math.min(size, long.length - i) - output);
      }
      assert.equal(code, '3', `the real marker after it is found (chunks of ${size})`);
      assert.equal(output, long.length - PREFIX.length - 2, 'everything before the marker came out');
      assert.ok(held <= Math.max(size, PREFIX.length + 12) + PREFIX.length + 12, `at most about a chunk was held back (${held})`);
    }
  });

  it('passes a short line on at once, without waiting for more output', () => {
    let output = '';
    const scanner = new MarkerScanner(PREFIX, 0x1f, 12, (data) => (output += data.toString('latin1')));
    scanner.push(Buffer.from('started\n'));
    assert.equal(output, 'started\n');
  });

  it('keeps bytes that merely resemble the marker', () => {
    const data = Buffer.from('a\x1eSKab\x1eSKabd:1\x1fz\x1eSKabc:0\x1f', 'latin1');
    assert.deepEqual(scanAll([data.subarray(0, 5), data.subarray(5)]), { output: 'a\x1eSKab\x1eSKabd:1\x1fz', code: '0' });
  });

  it('handles a large chunk after held bytes without losing or duplicating any', () => {
    const big = Buffer.alloc(100_000, 0x41);
    const { output, code } = scanAll([Buffer.from('xyz'), big, Buffer.from('\x1eSKabc:7\x1f', 'latin1')]);
    assert.equal(output.length, 100_003);
    assert.equal(code, '7');
  });
});

describe('Docker frame parser', () => {
  const frame = (type: number, text: string) => {
    const payload = Buffer.from(text);
    const header = Buffer.alloc(8);
    header[0] = type;
    header.writeUInt32BE(payload.length, 4);
    return Buffer.concat([header, payload]);
  };

  it('separates stdout and stderr across any split of headers and payloads', () => {
    const wire = Buffer.concat([frame(1, 'out-1 '), frame(2, 'err-1 '), frame(1, 'out-2'), frame(2, '')]);
    for (let size = 1; size <= wire.length; size++) {
      const seen = { stdout: '', stderr: '' };
      const parser = new FrameParser((stream, data) => (seen[stream] += data.toString()));
      for (let i = 0; i < wire.length; i += size) parser.push(wire.subarray(i, i + size));
      assert.deepEqual(seen, { stdout: 'out-1 out-2', stderr: 'err-1 ' }, `chunks of ${size}`);
    }
  });
});
