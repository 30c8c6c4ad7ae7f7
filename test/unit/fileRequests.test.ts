import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { ApiError } from '../../sidecar/api/apiError';
import { base64Pieces, decodeBase64, DEFAULT_READ_BYTES, readLimit, sendReadAnswer, uploadedFiles, writeContent } from '../../sidecar/api/fileRequests';
import { dropRestOfBody, readMultipart, type MultipartForm } from '../../sidecar/api/multipart';
import { FakeClock } from './fakes/clock';

function refusedWith(status: number, message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ApiError, `an ApiError, got ${String(error)}`);
    assert.equal(error.status, status);
    assert.match(error.message, message);
    return true;
  };
}

/** A request as readMultipart sees one: a stream with headers, its body written by the test. */
function request(headers: Record<string, string>): PassThrough & IncomingMessage {
  const req = new PassThrough() as PassThrough & IncomingMessage;
  req.headers = headers;
  return req;
}

const BOUNDARY = 'b0undary';
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;
const filePart = (name: string, filename: string, data: string | Buffer) =>
  Buffer.concat([Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`), Buffer.from(data), Buffer.from('\r\n')]);
const fieldPart = (name: string, value: string) => Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
const END = Buffer.from(`--${BOUNDARY}--\r\n`);

describe('file requests', () => {
  describe('a write body', () => {
    it('takes text as UTF-8, or base64, and an empty value when its key is there', () => {
      assert.equal(writeContent('grüß', undefined).toString('utf8'), 'grüß');
      assert.deepEqual([...writeContent(undefined, 'AAH/')], [0, 1, 255]);
      assert.equal(writeContent('', undefined).length, 0, 'an empty file (v1 refused it)');
      assert.equal(writeContent(undefined, '').length, 0);
      assert.equal(writeContent('', 'eA==').toString(), 'x', 'the non-empty one counts');
      assert.equal(writeContent('y', '').toString(), 'y');
    });

    it('refuses neither and both, as v1 words it', () => {
      assert.throws(() => writeContent(undefined, undefined), refusedWith(400, /^either 'text' or 'content_base64' must be provided$/));
      assert.throws(() => writeContent('a', 'YQ=='), refusedWith(400, /^provide either 'text' or 'content_base64', not both$/));
    });
  });

  describe('base64', () => {
    it('decodes the standard alphabet, padded or not, ignoring line breaks', () => {
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, index) => index));
      assert.ok(decodeBase64(bytes.toString('base64')).equals(bytes));
      assert.equal(decodeBase64('YWI').toString(), 'ab');
      assert.equal(decodeBase64('YW\r\nJj').toString(), 'abc');
    });

    it('refuses anything else with 400 (v1 answered 500), never half-decoding', () => {
      for (const value of ['not base64!', 'YQ=', 'Y', 'YQ==YQ==', '-_8=', 'YQ== ', '=']) {
        assert.throws(() => decodeBase64(value), refusedWith(400, /not valid base64/), value);
      }
    });
  });

  describe('max_bytes', () => {
    it('is 10 MiB when absent, empty or 0, and at most 100 MiB', () => {
      assert.equal(readLimit(null), DEFAULT_READ_BYTES);
      assert.equal(readLimit(''), DEFAULT_READ_BYTES);
      assert.equal(readLimit('0'), DEFAULT_READ_BYTES);
      assert.equal(readLimit('7'), 7);
      assert.equal(readLimit('104857600'), 104857600);
      assert.throws(() => readLimit('104857601'), refusedWith(400, /must not exceed 104857600 \(100MB\)/));
      assert.throws(() => readLimit('-1'), refusedWith(400, /non-negative/));
      for (const value of ['x', '1.5', '1e3', ' 1', '99999999999999999']) assert.throws(() => readLimit(value), refusedWith(400, /max_bytes must be/), value);
    });
  });

  describe('base64 of a read', () => {
    it('encodes chunks piece by piece into exactly the base64 of their bytes', () => {
      const bytes = Buffer.from(Array.from({ length: 1000 }, (_, index) => (index * 7) % 256));
      for (const sizes of [[1000], [1, 2, 3, 994], [2, 2, 2, 994], [0, 500, 0, 500], [999, 1]]) {
        const chunks: Buffer[] = [];
        let at = 0;
        for (const size of sizes) chunks.push(bytes.subarray(at, (at += size)));
        assert.equal([...base64Pieces(chunks)].join(''), bytes.toString('base64'), JSON.stringify(sizes));
      }
      assert.deepEqual([...base64Pieces([])], []);
    });

    it('answers {path, truncated, content_base64} with its length known before the content', async () => {
      const written: Buffer[] = [];
      let head: { status: number; headers: Record<string, unknown> } | undefined;
      const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (written.push(Buffer.from(chunk)), done()) });
      const res = Object.assign(sink, {
        writeHead(status: number, headers: Record<string, unknown>) {
          head = { status, headers };
          return res;
        },
      }) as unknown as ServerResponse;
      await sendReadAnswer(res, { path: 'a "quoted" path', truncated: true }, [Buffer.from('hel'), Buffer.from('lo')], 5);
      const body = Buffer.concat(written).toString();
      assert.deepEqual(JSON.parse(body), { path: 'a "quoted" path', truncated: true, content_base64: Buffer.from('hello').toString('base64') });
      assert.equal(head?.status, 200);
      assert.equal(head?.headers['Content-Length'], Buffer.byteLength(body));
    });
  });

  describe('multipart', () => {
    const read = (body: Buffer, headers: Record<string, string> = { 'content-type': MULTIPART }, limits = { maxBytes: 10_000, maxFiles: 3 }) => {
      const req = request(headers);
      const form = readMultipart(req, limits);
      req.end(body);
      return form;
    };

    it('reads fields and file parts in order, filenames as sent, bytes exact', async () => {
      const binary = Buffer.from(Array.from({ length: 256 }, (_, index) => index));
      const form = await read(Buffer.concat([fieldPart('path', '/workspace/in'), filePart('file', '../a.bin', binary), filePart('file', 'b.txt', ''), END]));
      assert.deepEqual([...form.fields], [['path', '/workspace/in']]);
      assert.deepEqual(form.files.map((file) => [file.field, file.filename, file.content.length]), [['file', '../a.bin', 256], ['file', 'b.txt', 0]]);
      assert.ok(form.files[0].content.equals(binary));
    });

    it("counts a part as a file when it has a filename, whatever its content type (v1's rule)", async () => {
      const plain = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"\r\nContent-Type: application/octet-stream\r\n\r\nnot a file\r\n`);
      const form = await read(Buffer.concat([plain, END]));
      assert.deepEqual(form.files, []);
      assert.equal(form.fields.get('file'), 'not a file');
    });

    it('refuses a body over the limit with 413: by its Content-Length before reading, or once that many bytes came', async () => {
      await assert.rejects(read(Buffer.alloc(0), { 'content-type': MULTIPART, 'content-length': '10001' }), refusedWith(413, /too large/));
      await assert.rejects(read(Buffer.concat([filePart('file', 'big', Buffer.alloc(10_000)), END])), (error: unknown) => {
        assert.ok(error instanceof ApiError && error.status === 413);
        assert.deepEqual(error.details, { max_bytes: 10_000 });
        return true;
      });
    });

    it('refuses one file too many with 400 and max_files', async () => {
      await assert.rejects(read(Buffer.concat([1, 2, 3, 4].map((n) => filePart('file', `f${n}`, 'x')).concat(END))), (error: unknown) => {
        assert.ok(error instanceof ApiError && error.status === 400);
        assert.equal(error.message, 'too many files');
        assert.deepEqual(error.details, { max_files: 3 });
        return true;
      });
      assert.equal((await read(Buffer.concat([1, 2, 3].map((n) => filePart('file', `f${n}`, 'x')).concat(END)))).files.length, 3);
    });

    it('refuses broken bodies and other content types with 400', async () => {
      const broken = [
        Buffer.concat([filePart('file', 'a', 'cut off')]).subarray(0, -2),
        Buffer.from('no parts at all'),
        Buffer.alloc(0),
        Buffer.concat([filePart('file', 'a', 'x')]),
      ];
      for (const body of broken) await assert.rejects(read(body), refusedWith(400, /^invalid multipart form/));
      for (const type of ['application/json', 'multipart/form-data', 'text/plain; boundary=x']) {
        await assert.rejects(read(END, { 'content-type': type }), refusedWith(400, /^invalid multipart form/), type);
      }
      await assert.rejects(read(END, {}), refusedWith(400, /^invalid multipart form/));
      await assert.rejects(read(Buffer.concat([fieldPart('path', 'x'.repeat(20_000)), END]), { 'content-type': MULTIPART }, { maxBytes: 100_000, maxFiles: 3 }), refusedWith(400, /longer than/));
    });

    it("uses the parts named 'file', else those named 'files', never both", () => {
      const form = (fields: string[]): MultipartForm => ({ fields: new Map(), files: fields.map((field, index) => ({ field, filename: `n${index}`, content: Buffer.alloc(0) })) });
      assert.deepEqual(uploadedFiles(form(['files', 'file', 'other'])).map((file) => file.filename), ['n1']);
      assert.deepEqual(uploadedFiles(form(['files', 'other', 'files'])).map((file) => file.filename), ['n0', 'n2']);
      assert.throws(() => uploadedFiles(form(['other'])), refusedWith(400, /^no file provided: use form field 'file' or 'files'$/));
    });
  });

  describe('the rest of a body after an early answer', () => {
    function unfinishedRequest() {
      const req = request({});
      let destroyed = false;
      Object.defineProperty(req, 'complete', { get: () => false });
      Object.defineProperty(req, 'socket', { value: { destroy: () => (destroyed = true) } });
      return { req, destroyed: () => destroyed };
    }

    it('is read and dropped; a body that ends within the bounds keeps the connection', async () => {
      const { req, destroyed } = unfinishedRequest();
      const clock = new FakeClock();
      dropRestOfBody(req, clock, { maxBytes: 100, maxMs: 1000 });
      req.write(Buffer.alloc(60));
      req.end(Buffer.alloc(30));
      await new Promise((resolve) => req.once('end', resolve));
      await clock.advance(2000);
      assert.equal(destroyed(), false);
    });

    it('closes the connection past the byte bound or the time bound', async () => {
      const bytes = unfinishedRequest();
      dropRestOfBody(bytes.req, new FakeClock(), { maxBytes: 100, maxMs: 1000 });
      bytes.req.write(Buffer.alloc(101));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(bytes.destroyed(), true);

      const time = unfinishedRequest();
      const clock = new FakeClock();
      dropRestOfBody(time.req, clock, { maxBytes: 100, maxMs: 1000 });
      time.req.write(Buffer.alloc(10));
      await clock.advance(999);
      assert.equal(time.destroyed(), false);
      await clock.advance(1);
      assert.equal(time.destroyed(), true);
    });
  });
});
