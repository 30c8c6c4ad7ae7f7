/**
 * The HTTP API's file routes through real HTTP (Node's fetch, FormData and raw requests),
 * against a real sidecar and the real Docker engine: text and binary round trips in sessions
 * and workspaces (and between them), limits, every way a path could lead out of /workspace —
 * `..`, absolute paths, symbolic links a sandbox plants — refused with nothing written outside,
 * special files refused without hanging, uploads and their limits, and the errors of sessions
 * that are unknown or stopped.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { docker, P, TEST_IMAGE, useSidecar, type SidecarHarness } from './harness';

type Json = Record<string, unknown>;
interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Json & { error_code?: string; message?: string; details?: Json };
}

const MiB = 1024 * 1024;
const EVERY_BYTE = Buffer.from(Array.from({ length: 256 }, (_, index) => index));
/** What the sandbox's own files look like from the test: an escape would change one of these. */
const OUTSIDE_PROBE = 'ls /etc/evil /tmp/evil /evil /etc/passwd.new 2>/dev/null; md5sum /etc/passwd';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * The API of one sidecar, and what the suite made through it, removed over HTTP afterwards.
 * Call it before `useSidecar()` (so its `after` runs while the sidecar still answers), then
 * `enable(sidecar)` after it (so its `before` runs once the sidecar is up).
 */
function useFilesApi() {
  const made = { sessions: new Set<string>(), workspaces: new Set<string>() };
  let base = '';
  let token = '';
  after(async () => {
    if (!base) return;
    for (const id of made.sessions) await api.call('DELETE', `/v1/sessions/${id}`);
    for (const id of made.workspaces) await api.call('DELETE', `/v1/workspaces/${id}`);
  });
  const api = {
    enable(sidecar: SidecarHarness) {
      before(async () => {
        await sidecar.client.request(P.SetConfigRequest.type, { values: { 'api.enabled': true, defaultImage: TEST_IMAGE } });
        const info = await sidecar.client.request(P.ApiInfoRequest.type, {});
        assert.ok(info.url, `the API listens: ${JSON.stringify(info)}`);
        base = info.url;
        token = info.token;
      });
    },
    get base() {
      return base;
    },
    get token() {
      return token;
    },
    async call(method: string, path: string, options: { json?: unknown; body?: string | Buffer | FormData; headers?: Record<string, string>; token?: string | null } = {}): Promise<Answer> {
      const headers: Record<string, string> = { ...options.headers };
      const bearer = options.token === undefined ? token : options.token;
      if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
      let body = options.body;
      if (options.json !== undefined) {
        body = JSON.stringify(options.json);
        headers['content-type'] = 'application/json';
      }
      const response = await fetch(`${base}${path}`, { method, headers, body });
      const text = await response.text();
      let json: Answer['json'] = {};
      try {
        json = JSON.parse(text) as Answer['json'];
      } catch {
        // not JSON: the assertion that needs it says so
      }
      return { status: response.status, headers: response.headers, text, json };
    },
    write(sessionId: string, body: Json) {
      return api.call('POST', `/v1/sessions/${sessionId}/fs/write`, { json: body });
    },
    read(sessionId: string, path: string, maxBytes?: number | string) {
      const query = new URLSearchParams({ path, ...(maxBytes !== undefined ? { max_bytes: String(maxBytes) } : {}) });
      return api.call('GET', `/v1/sessions/${sessionId}/fs/read?${query}`);
    },
    upload(where: string, form: FormData) {
      return api.call('POST', `${where}/fs/upload`, { body: form });
    },
    /** A new API session on a disposable workspace (or the named one), destroyed after the suite. */
    async newSession(body: Json = {}): Promise<{ id: string; container_id: string }> {
      const answer = await api.call('POST', '/v1/sessions', { json: body });
      assert.equal(answer.status, 201, answer.text);
      made.sessions.add(String(answer.json.id));
      if (typeof body.workspace_id === 'string') made.workspaces.add(body.workspace_id);
      return answer.json as { id: string; container_id: string };
    },
    /** A workspace a test makes through a file route: deleted after the suite. */
    tidy(workspaceId: string) {
      made.workspaces.add(workspaceId);
    },
    /** A shell command in the session (the test's view of the sandbox), its output. */
    async sh(sessionId: string, cmd: string): Promise<string> {
      const answer = await api.call('POST', `/v1/sessions/${sessionId}/exec`, { json: { cmd, timeout_ms: 60_000 } });
      assert.equal(answer.status, 200, answer.text);
      return String(answer.json.output);
    },
  };
  return api;
}

/** 200 and the content read, decoded. */
function content(answer: Answer): Buffer {
  assert.equal(answer.status, 200, answer.text.slice(0, 400));
  return Buffer.from(String(answer.json.content_base64), 'base64');
}

function expectError(answer: Answer, status: number, errorCode: string, message?: RegExp): void {
  assert.equal(answer.status, status, `${status} expected: ${answer.status} ${answer.text.slice(0, 400)}`);
  assert.equal(answer.json.error_code, errorCode, answer.text);
  assert.equal(typeof answer.json.message, 'string');
  assert.doesNotMatch(String(answer.json.message), /\n\s+at |node_modules|\.ts:\d+/, 'a sentence, no stack trace');
  if (message) assert.match(String(answer.json.message), message);
}

function formOf(files: Array<{ field?: string; name: string; data: Buffer | string }>, path?: string): FormData {
  const form = new FormData();
  if (path !== undefined) form.append('path', path);
  for (const file of files) form.append(file.field ?? 'file', new Blob([file.data]), file.name);
  return form;
}

/**
 * A raw HTTP POST whose body `send` writes (maybe never ending it), counting what it wrote;
 * the answer whenever it comes. The server may close the connection while the body is still
 * being sent: the answer counts, not the write.
 */
function rawPost(base: string, token: string, path: string, headers: Record<string, string>, send: (req: http.ClientRequest, sent: (bytes: number) => void) => void): Promise<{ status: number; body: string; sentBytes: number }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, method: 'POST', path, headers: { authorization: `Bearer ${token}`, ...headers } });
    let sentBytes = 0;
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), sentBytes }));
      res.on('error', reject);
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (!['EPIPE', 'ECONNRESET'].includes(error.code ?? '')) return reject(error);
      setTimeout(() => answered || reject(new Error(`the connection closed (${error.code}) without an answer after ${sentBytes} bytes`)), 2000);
    });
    send(req, (bytes) => (sentBytes += bytes));
  });
}

/** The multipart body of one file of `size` bytes, and its boundary. */
function multipartBody(size: number, boundary = 'sandkastenBoundary'): { head: Buffer; data: Buffer; tail: Buffer; contentType: string } {
  return {
    head: Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    data: Buffer.alloc(size, 0x61),
    tail: Buffer.from(`\r\n--${boundary}--\r\n`),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

describe('HTTP file routes against the real engine', () => {
  const api = useFilesApi();
  const sidecar = useSidecar();
  api.enable(sidecar);

  describe('in a session', () => {
    let session: { id: string; container_id: string };
    before(async () => {
      session = await api.newSession();
    });

    it('writes and reads text and every byte value exactly, and the sandbox sees the same bytes', async () => {
      assert.deepEqual((await api.write(session.id, { path: 'hello.txt', text: 'grüß dich\n' })).json, { ok: true });
      const read = await api.read(session.id, 'hello.txt');
      assert.deepEqual({ path: read.json.path, truncated: read.json.truncated }, { path: 'hello.txt', truncated: false });
      assert.equal(content(read).toString('utf8'), 'grüß dich\n');

      const binary = Buffer.concat([EVERY_BYTE, EVERY_BYTE.reverse(), Buffer.from('\n\0\r\n')]);
      assert.equal((await api.write(session.id, { path: '/workspace/bin/every-byte', content_base64: binary.toString('base64') })).status, 200);
      assert.ok(content(await api.read(session.id, '/workspace/bin/every-byte')).equals(binary), 'every byte comes back as written');
      assert.equal((await api.sh(session.id, 'md5sum < /workspace/bin/every-byte')).split(' ')[0], createHash('md5').update(binary).digest('hex'));
      assert.equal((await api.sh(session.id, 'stat -c %a /workspace/bin/every-byte /workspace/bin')).trim(), '644\n755');
    });

    it('writes an empty file, replaces an existing one, and makes missing parents', async () => {
      assert.equal((await api.write(session.id, { path: 'empty.txt', text: '' })).status, 200);
      assert.equal(content(await api.read(session.id, 'empty.txt')).length, 0);
      assert.equal((await api.write(session.id, { path: 'empty-b64', content_base64: '' })).status, 200);
      assert.equal((await api.sh(session.id, 'wc -c < /workspace/empty-b64')).trim(), '0');

      await api.write(session.id, { path: 'over.txt', text: 'a much longer first version' });
      await api.write(session.id, { path: 'over.txt', text: 'short' });
      assert.equal(content(await api.read(session.id, 'over.txt')).toString(), 'short');

      assert.equal((await api.write(session.id, { path: 'deep/er/than/ever/x.txt', text: 'x' })).status, 200);
      assert.equal((await api.sh(session.id, 'cat /workspace/deep/er/than/ever/x.txt; ls -a /workspace/deep/er/than/ever')).trim(), 'x.\n..\nx.txt', 'no temporary file is left beside it');
    });

    it('refuses malformed writes with 400: no content, both contents, invalid base64, no path, a directory as target', async () => {
      expectError(await api.write(session.id, { path: 'x' }), 400, 'INVALID_REQUEST', /either 'text' or 'content_base64'/);
      expectError(await api.write(session.id, { path: 'x', text: 'a', content_base64: 'YQ==' }), 400, 'INVALID_REQUEST', /not both/);
      expectError(await api.write(session.id, { path: 'x', content_base64: 'not base64!' }), 400, 'INVALID_REQUEST', /base64/);
      expectError(await api.write(session.id, { path: 'x', content_base64: 'YQ=' }), 400, 'INVALID_REQUEST', /base64/);
      expectError(await api.write(session.id, { text: 'a' }), 400, 'INVALID_REQUEST', /path is required/);
      expectError(await api.write(session.id, { path: 'x', text: 3 }), 400, 'INVALID_REQUEST');
      expectError(await api.write(session.id, { path: 'deep', text: 'a' }), 400, 'INVALID_REQUEST', /is a directory/);
      expectError(await api.write(session.id, { path: 'over.txt/below', text: 'a' }), 400, 'INVALID_REQUEST', /not a directory/);
      expectError(await api.read(session.id, 'deep'), 400, 'INVALID_REQUEST', /is a directory/);
      expectError(await api.read(session.id, 'nothing/here.txt'), 404, 'FILE_NOT_FOUND', /no such file/);
      expectError(await api.call('GET', `/v1/sessions/${session.id}/fs/read`), 400, 'INVALID_REQUEST', /path query parameter is required/);
      assert.equal((await api.sh(session.id, 'ls /workspace/x 2>&1 >/dev/null | wc -l')).trim(), '1', 'nothing was written');
    });

    it('truncates a read at max_bytes, 10 MiB by default, and refuses bad max_bytes with 400', async () => {
      await api.sh(session.id, 'head -c 12582912 /dev/urandom > /workspace/twelve-mib; seq 1 100 > /workspace/numbers');
      const whole = content(await api.read(session.id, 'numbers'));
      const cut = await api.read(session.id, 'numbers', 10);
      assert.equal(cut.json.truncated, true);
      assert.ok(content(cut).equals(whole.subarray(0, 10)));
      assert.equal((await api.read(session.id, 'numbers', whole.length)).json.truncated, false);
      assert.equal((await api.read(session.id, 'numbers', whole.length - 1)).json.truncated, true);
      const byDefault = await api.read(session.id, 'twelve-mib', 0);
      assert.equal(byDefault.json.truncated, true);
      assert.equal(content(byDefault).length, 10 * MiB);
      expectError(await api.read(session.id, 'numbers', 'x'), 400, 'INVALID_REQUEST', /whole number/);
      expectError(await api.read(session.id, 'numbers', -1), 400, 'INVALID_REQUEST', /non-negative/);
      expectError(await api.read(session.id, 'numbers', 100 * MiB + 1), 400, 'INVALID_REQUEST', /must not exceed 104857600/);
    });

    it('reads 100 MiB (the most max_bytes allows) and writes what a JSON body holds, byte for byte', async () => {
      const sums = await api.sh(session.id, 'head -c 104857600 /dev/urandom > /workspace/hundred; sha256sum /workspace/hundred');
      const read = await api.read(session.id, 'hundred', 100 * MiB);
      const bytes = content(read);
      assert.equal(read.json.truncated, false);
      assert.equal(bytes.length, 100 * MiB);
      assert.equal(sha256(bytes), sums.split(' ')[0]);
      await api.sh(session.id, 'rm /workspace/hundred /workspace/twelve-mib');

      const large = randomBytes(1536 * 1024 - 64); // base64 of it fills most of the 2 MiB a JSON body may have
      assert.equal((await api.write(session.id, { path: 'large.bin', content_base64: large.toString('base64') })).status, 200);
      assert.equal((await api.sh(session.id, 'sha256sum /workspace/large.bin')).split(' ')[0], sha256(large));
      assert.ok(content(await api.read(session.id, 'large.bin')).equals(large));
    });

    it('refuses every path that leads out of /workspace with 400 and writes nothing outside', async () => {
      const before = await api.sh(session.id, OUTSIDE_PROBE);
      for (const path of ['../evil', '/etc/evil', '/workspace/../etc/evil', '/workspace/../../evil', '/tmp/evil', '/evil', '/workspace', '/workspace/', '.', '..', 'a/../../evil']) {
        expectError(await api.write(session.id, { path, text: 'evil' }), 400, 'INVALID_REQUEST', /under \/workspace/);
        expectError(await api.read(session.id, path), 400, 'INVALID_REQUEST', /under \/workspace/);
      }
      expectError(await api.read(session.id, '/etc/passwd'), 400, 'INVALID_REQUEST');
      for (const path of ['/etc', '..', '/workspace/../tmp']) {
        expectError(await api.upload(`/v1/sessions/${session.id}`, formOf([{ name: 'evil', data: 'evil' }], path)), 400, 'INVALID_REQUEST', /under \/workspace/);
      }
      for (const name of ['..', '.', 'dir/..', '../..']) {
        expectError(await api.upload(`/v1/sessions/${session.id}`, formOf([{ name, data: 'evil' }])), 400, 'INVALID_REQUEST', /invalid filename/);
      }
      // A `..` that stays inside is resolved as Sandkasten v1 resolves it.
      assert.equal((await api.write(session.id, { path: '/workspace/a/../inside.txt', text: 'in' })).status, 200);
      assert.equal(content(await api.read(session.id, 'inside.txt')).toString(), 'in');
      assert.equal(await api.sh(session.id, OUTSIDE_PROBE), before, 'nothing outside /workspace changed');
    });

    it('refuses symbolic links the sandbox planted that lead out, for read, write, upload and listing; links inside are followed', async () => {
      await api.sh(session.id, [
        'cd /workspace && ln -s /etc etc && ln -s / up && ln -s /etc/passwd pw && ln -s /tmp tmplink && ln -s /nowhere dangling',
        'mkdir -p real/sub && echo inside > real/sub/f && ln -s real inlink && ln -s real/sub/f flink',
      ].join('; '));
      const before = await api.sh(session.id, OUTSIDE_PROBE);
      for (const path of ['etc/passwd', 'up/etc/passwd', 'pw', 'tmplink/x', 'dangling']) {
        expectError(await api.read(session.id, path), 400, 'INVALID_REQUEST', /symbolic link/);
      }
      for (const path of ['etc/evil', 'up/tmp/evil', 'up/evil', 'tmplink/evil', 'tmplink/new/evil', 'pw', 'dangling', 'flink']) {
        expectError(await api.write(session.id, { path, text: 'evil' }), 400, 'INVALID_REQUEST', /symbolic link/);
      }
      for (const path of ['/workspace/tmplink', '/workspace/up/tmp', 'etc']) {
        expectError(await api.upload(`/v1/sessions/${session.id}`, formOf([{ name: 'evil', data: 'evil' }], path)), 400, 'INVALID_REQUEST', /symbolic link/);
      }
      assert.equal(await api.sh(session.id, OUTSIDE_PROBE), before, 'nothing outside /workspace changed');
      assert.equal((await api.sh(session.id, 'readlink /workspace/pw; readlink /workspace/flink')).trim(), '/etc/passwd\nreal/sub/f', 'the links themselves are untouched');

      assert.equal(content(await api.read(session.id, 'inlink/sub/f')).toString(), 'inside\n');
      assert.equal(content(await api.read(session.id, 'flink')).toString(), 'inside\n');
      assert.equal((await api.write(session.id, { path: 'inlink/sub/g', text: 'via a link inside' })).status, 200);
      assert.equal((await api.sh(session.id, 'cat /workspace/real/sub/g')).trim(), 'via a link inside');
    });

    it('refuses FIFOs, devices behind links and sockets at once, without reading them', async () => {
      await api.sh(session.id, 'cd /workspace && mkfifo fifo && ln -s /dev/zero zero && ln -s /dev/urandom random && ln -s /dev/null null && ln -s /proc/self/fd/0 stdin');
      for (const path of ['fifo', 'zero', 'random', 'null', 'stdin']) {
        const started = Date.now();
        const answer = await api.read(session.id, path);
        expectError(answer, 400, 'INVALID_REQUEST');
        assert.ok(Date.now() - started < 5000, `${path} answered at once`);
      }
      expectError(await api.write(session.id, { path: 'fifo', text: 'x' }), 400, 'INVALID_REQUEST', /not a regular file/);
      assert.equal((await api.sh(session.id, 'test -p /workspace/fifo && echo still a fifo')).trim(), 'still a fifo');
    });

    it('uploads files with multipart: binary exact, into a directory (relative to /workspace or absolute), basename only', async () => {
      const binary = Buffer.concat([EVERY_BYTE, randomBytes(100_000)]);
      const answer = await api.upload(`/v1/sessions/${session.id}`, formOf([
        { name: 'every.bin', data: binary },
        { name: '../../etc/passwd', data: 'just a name' },
      ], '/workspace/uploaded/here/'));
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.json, { ok: true, paths: ['/workspace/uploaded/here/every.bin', '/workspace/uploaded/here/passwd'] });
      assert.ok(content(await api.read(session.id, 'uploaded/here/every.bin')).equals(binary));
      assert.equal(content(await api.read(session.id, 'uploaded/here/passwd')).toString(), 'just a name');

      const relative = await api.upload(`/v1/sessions/${session.id}`, formOf([{ name: 'r.txt', data: 'r' }], 'data/sub'));
      assert.deepEqual(relative.json.paths, ['/workspace/data/sub/r.txt'], 'a relative directory is under /workspace (v1 dropped it)');
      const byDefault = await api.upload(`/v1/sessions/${session.id}`, formOf([{ name: 'top.txt', data: 'top' }, { name: 'empty.bin', data: '' }]));
      assert.deepEqual(byDefault.json.paths, ['/workspace/top.txt', '/workspace/empty.bin']);
      assert.equal((await api.sh(session.id, 'wc -c < /workspace/empty.bin')).trim(), '0');

      const filesField = await api.upload(`/v1/sessions/${session.id}`, formOf([{ field: 'files', name: 'f1', data: '1' }, { field: 'files', name: 'f2', data: '2' }]));
      assert.deepEqual(filesField.json.paths, ['/workspace/f1', '/workspace/f2']);
      const fileWins = await api.upload(`/v1/sessions/${session.id}`, formOf([{ field: 'files', name: 'not-me', data: '' }, { name: 'me', data: '' }]));
      assert.deepEqual(fileWins.json.paths, ['/workspace/me'], "parts named 'file' win over 'files'");
      const noFile = new FormData();
      noFile.append('path', '/workspace');
      noFile.append('other', new Blob(['x']), 'x');
      expectError(await api.upload(`/v1/sessions/${session.id}`, noFile), 400, 'INVALID_REQUEST', /no file provided/);
    });

    it('takes 100 files in one upload and refuses 101 with 400 before writing any', async () => {
      const hundred = Array.from({ length: 100 }, (_, index) => ({ name: `n${index}.txt`, data: String(index) }));
      const answer = await api.upload(`/v1/sessions/${session.id}`, formOf(hundred, 'many'));
      assert.equal(answer.status, 200, answer.text);
      assert.equal((answer.json.paths as string[]).length, 100);
      assert.equal((await api.sh(session.id, 'cat /workspace/many/n99.txt; ls /workspace/many | wc -l')).trim(), '99100');

      const tooMany = await api.upload(`/v1/sessions/${session.id}`, formOf([...hundred, { name: 'n100.txt', data: 'x' }], 'too-many'));
      expectError(tooMany, 400, 'INVALID_REQUEST', /too many files/);
      assert.deepEqual(tooMany.json.details, { max_files: 100 });
      assert.equal((await api.sh(session.id, 'ls /workspace/too-many 2>&1 >/dev/null | wc -l')).trim(), '1', 'nothing was written');
    });

    it('answers an upload over 10 MiB with 413: at once from its Content-Length, and without one before reading it all', async () => {
      const { head, data, tail, contentType } = multipartBody(10 * MiB);
      const where = `/v1/sessions/${session.id}/fs/upload`;
      const declared = await rawPost(api.base, api.token, where, { 'content-type': contentType, 'content-length': String(head.length + data.length + tail.length) }, (req) => {
        req.write(head);
        req.write(data);
        req.end(tail);
      });
      assert.equal(declared.status, 413, declared.body);
      assert.deepEqual(JSON.parse(declared.body).details, { max_bytes: 10 * MiB });

      // Chunked, never ended: the answer comes once the limit is passed, not at the end of the body.
      const piece = Buffer.alloc(256 * 1024, 0x62);
      const chunked = await rawPost(api.base, api.token, where, { 'content-type': contentType, 'transfer-encoding': 'chunked' }, (req, sent) => {
        req.write(head);
        let pieces = 0;
        const more = () => {
          if (req.destroyed || pieces++ >= 400) return; // at most 100 MiB: the answer comes long before
          sent(piece.length);
          if (req.write(piece)) setImmediate(more);
          else req.once('drain', more);
        };
        more();
      });
      assert.equal(chunked.status, 413, chunked.body);
      assert.ok(chunked.sentBytes < 40 * MiB, `answered before the body ended (${chunked.sentBytes} bytes sent)`);

      const justFits = multipartBody(10 * MiB - 300);
      const fits = await rawPost(api.base, api.token, where, { 'content-type': justFits.contentType }, (req) => req.end(Buffer.concat([justFits.head, justFits.data, justFits.tail])));
      assert.equal(fits.status, 200, fits.body);
      assert.equal((await api.sh(session.id, 'wc -c < /workspace/big.bin')).trim(), String(10 * MiB - 300));
      assert.equal((await api.sh(session.id, 'ls /workspace/.sandkasten-write-* 2>/dev/null | wc -l')).trim(), '0');
    });

    it('refuses broken multipart with 400', async () => {
      const where = `/v1/sessions/${session.id}/fs/upload`;
      const { head, tail, contentType } = multipartBody(0);
      expectError(await api.call('POST', where, { body: Buffer.concat([head, Buffer.from('cut off here')]), headers: { 'content-type': contentType } }), 400, 'INVALID_REQUEST', /multipart/);
      expectError(await api.call('POST', where, { body: 'no parts at all', headers: { 'content-type': contentType } }), 400, 'INVALID_REQUEST', /multipart/);
      expectError(await api.call('POST', where, { body: Buffer.concat([head, tail]), headers: { 'content-type': 'multipart/form-data' } }), 400, 'INVALID_REQUEST', /multipart/);
      expectError(await api.call('POST', where, { json: { path: 'x' } }), 400, 'INVALID_REQUEST', /multipart/);
      expectError(await api.call('POST', where, { body: '' }), 400, 'INVALID_REQUEST', /multipart/);
    });

    it('extends the lease of the session it uses', async () => {
      const short = await api.newSession({ ttl_seconds: 60 });
      const before = Date.parse(String((await api.call('GET', `/v1/sessions/${short.id}`)).json.expires_at));
      await api.write(short.id, { path: 'x', text: 'x' });
      const after = Date.parse(String((await api.call('GET', `/v1/sessions/${short.id}`)).json.expires_at));
      assert.ok(after - before > 25 * 60 * 1000, `the lease moved to the default from now (${before} → ${after})`);
    });

    it('answers concurrent reads and writes on one session each with its own bytes', async () => {
      const payloads = Array.from({ length: 12 }, (_, index) => randomBytes(1000 + index * 7000));
      await Promise.all(payloads.map((payload, index) => api.write(session.id, { path: `parallel/${index}`, content_base64: payload.toString('base64') })));
      const reads = await Promise.all(payloads.map((_, index) => api.read(session.id, `parallel/${index}`)));
      reads.forEach((read, index) => assert.ok(content(read).equals(payloads[index]), `file ${index}`));
    });

    it('takes a few milliseconds for a small write or read in a running session (no exec per call)', async (t) => {
      await api.write(session.id, { path: 'timing.txt', text: 'warm' });
      const time = async (work: () => Promise<unknown>) => {
        const samples: number[] = [];
        for (let round = 0; round < 40; round++) {
          const started = performance.now();
          await work();
          samples.push(performance.now() - started);
        }
        samples.sort((a, b) => a - b);
        return { min: samples[0], p50: samples[20], p90: samples[36] };
      };
      const write = await time(() => api.write(session.id, { path: 'timing.txt', text: 'x'.repeat(100) }));
      const read = await time(() => api.read(session.id, 'timing.txt'));
      const show = (name: string, ms: { min: number; p50: number; p90: number }) => `${name} min ${ms.min.toFixed(1)} p50 ${ms.p50.toFixed(1)} p90 ${ms.p90.toFixed(1)} ms`;
      t.diagnostic(`${show('small write', write)}; ${show('small read', read)}`);
      // The fastest of 40 is what the path costs (a shared machine's load only adds to it); a
      // `docker exec` per call alone costs 30–50 ms.
      assert.ok(write.min < 20 && read.min < 20, `${show('write', write)}; ${show('read', read)}`);
    });
  });

  describe('in a workspace', () => {
    it('writes, uploads, lists and reads without a session (a helper container, removed after), and a session sees the files', async () => {
      const workspace = 'files-ws';
      api.tidy(workspace);
      assert.deepEqual((await api.call('POST', `/v1/workspaces/${workspace}/fs/write`, { json: { path: '/src/main.py', text: 'print(1)\n' } })).json, { ok: true });
      assert.equal((await api.call('GET', `/v1/workspaces/${workspace}`)).status, 200, 'the write made the workspace');
      const binary = Buffer.concat([EVERY_BYTE, EVERY_BYTE]);
      assert.equal((await api.call('POST', `/v1/workspaces/${workspace}/fs/write`, { json: { path: 'bin/every', content_base64: binary.toString('base64') } })).status, 200);
      const uploaded = await api.upload(`/v1/workspaces/${workspace}`, formOf([{ name: 'data.csv', data: 'a,b\n1,2\n' }], 'subdir/'));
      assert.deepEqual(uploaded.json, { ok: true, paths: ['subdir/data.csv'] });
      const atRoot = await api.upload(`/v1/workspaces/${workspace}`, formOf([{ name: 'root.txt', data: 'r' }]));
      assert.deepEqual(atRoot.json.paths, ['root.txt']);

      assert.deepEqual((await api.call('GET', `/v1/workspaces/${workspace}/fs`)).json, {
        entries: [
          { name: 'bin', is_dir: true },
          { name: 'root.txt', is_dir: false },
          { name: 'src', is_dir: true },
          { name: 'subdir', is_dir: true },
        ],
        truncated: false,
      });
      assert.deepEqual((await api.call('GET', `/v1/workspaces/${workspace}/fs?path=subdir`)).json.entries, [{ name: 'data.csv', is_dir: false }]);
      const read = await api.call('GET', `/v1/workspaces/${workspace}/fs/read?path=${encodeURIComponent('/bin/every')}`);
      assert.equal(read.json.path, '/bin/every');
      assert.ok(content(read).equals(binary));
      const helpers = await docker.listContainers({ all: true, filters: { label: ['sandkasten.role=files', `sandkasten.instance=${sidecar.instanceId}`] } });
      assert.deepEqual(helpers, [], 'no helper container is left');

      const session = await api.newSession({ workspace_id: workspace });
      assert.equal((await api.sh(session.id, 'cat /workspace/src/main.py /workspace/subdir/data.csv')).trim(), 'print(1)\na,b\n1,2');
      assert.ok(content(await api.read(session.id, 'bin/every')).equals(binary));
      await api.write(session.id, { path: 'from-session.txt', text: 'written in the session' });
      await api.sh(session.id, 'mkdir /workspace/empty-dir');
      // With the session running, the workspace routes work in its container.
      assert.equal(content(await api.call('GET', `/v1/workspaces/${workspace}/fs/read?path=from-session.txt`)).toString(), 'written in the session');
      assert.deepEqual((await api.call('GET', `/v1/workspaces/${workspace}/fs?path=empty-dir`)).json.entries, []);
      await api.call('POST', `/v1/workspaces/${workspace}/fs/write`, { json: { path: 'from-workspace.txt', text: 'while it runs' } });
      assert.equal((await api.sh(session.id, 'cat /workspace/from-workspace.txt')).trim(), 'while it runs');

      // Stopped again: back to a helper, which sees the session's files.
      assert.equal((await api.call('POST', `/v1/sessions/${session.id}/stop`, { json: {} })).status, 200);
      assert.equal(content(await api.call('GET', `/v1/workspaces/${workspace}/fs/read?path=from-session.txt`)).toString(), 'written in the session');
    });

    it('refuses escapes and symbolic links leading out, and answers what is missing with 404', async () => {
      const workspace = 'files-ws-escapes';
      api.tidy(workspace);
      for (const path of ['../x', '/../x', 'a/../../x', '', '.', '/']) {
        expectError(await api.call('POST', `/v1/workspaces/${workspace}/fs/write`, { json: { path, text: 'evil' } }), 400, 'INVALID_REQUEST');
      }
      assert.equal((await api.call('GET', `/v1/workspaces/${workspace}`)).status, 404, 'a refused write made no workspace');
      expectError(await api.upload(`/v1/workspaces/${workspace}`, formOf([{ name: 'x', data: 'x' }], '../up')), 400, 'INVALID_REQUEST');
      expectError(await api.upload(`/v1/workspaces/${workspace}`, formOf([{ name: '..', data: 'x' }])), 400, 'INVALID_REQUEST', /invalid filename/);
      expectError(await api.upload(`/v1/workspaces/${workspace}`, formOf([{ field: 'other', name: 'x', data: 'x' }])), 400, 'INVALID_REQUEST', /no file provided/);
      assert.equal((await api.call('GET', `/v1/workspaces/${workspace}`)).status, 404, 'a refused upload made no workspace');

      const session = await api.newSession({ workspace_id: workspace });
      await api.sh(session.id, 'cd /workspace && ln -s /etc etc && ln -s /etc/passwd pw && mkfifo fifo && echo x > file');
      const before = await api.sh(session.id, OUTSIDE_PROBE);
      const base = `/v1/workspaces/${workspace}`;
      expectError(await api.call('GET', `${base}/fs/read?path=etc/passwd`), 400, 'INVALID_REQUEST', /symbolic link/);
      expectError(await api.call('GET', `${base}/fs/read?path=pw`), 400, 'INVALID_REQUEST', /symbolic link/);
      expectError(await api.call('GET', `${base}/fs/read?path=fifo`), 400, 'INVALID_REQUEST', /not a regular file/);
      expectError(await api.call('GET', `${base}/fs?path=etc`), 400, 'INVALID_REQUEST', /symbolic link/);
      expectError(await api.call('POST', `${base}/fs/write`, { json: { path: 'etc/evil', text: 'evil' } }), 400, 'INVALID_REQUEST', /symbolic link/);
      expectError(await api.upload(base, formOf([{ name: 'evil', data: 'evil' }], 'etc')), 400, 'INVALID_REQUEST', /symbolic link/);
      expectError(await api.call('GET', `${base}/fs/read?path=missing`), 404, 'FILE_NOT_FOUND');
      expectError(await api.call('GET', `${base}/fs?path=missing`), 404, 'FILE_NOT_FOUND');
      expectError(await api.call('GET', `${base}/fs?path=file`), 400, 'INVALID_REQUEST', /not a directory/);
      expectError(await api.call('GET', `${base}/fs/read`), 400, 'INVALID_REQUEST', /path is required/);
      assert.equal(await api.sh(session.id, OUTSIDE_PROBE), before, 'nothing outside /workspace changed');

      // The same links seen by a helper container (no session running).
      await api.call('POST', `/v1/sessions/${session.id}/stop`, { json: {} });
      expectError(await api.call('GET', `${base}/fs/read?path=etc/passwd`), 400, 'INVALID_REQUEST', /symbolic link/);
      expectError(await api.call('POST', `${base}/fs/write`, { json: { path: 'etc/evil', text: 'evil' } }), 400, 'INVALID_REQUEST', /symbolic link/);
      expectError(await api.call('GET', '/v1/workspaces/no-such-workspace/fs'), 404, 'WORKSPACE_NOT_FOUND');
      expectError(await api.call('GET', '/v1/workspaces/no-such-workspace/fs/read?path=x'), 404, 'WORKSPACE_NOT_FOUND');
      expectError(await api.call('POST', '/v1/workspaces/Not_Valid/fs/write', { json: { path: 'x', text: 'x' } }), 400, 'INVALID_REQUEST');
    });
  });

  describe('errors of the session', () => {
    it('answers an unknown session with 404, a stopped one with 409, and no token with 401', async () => {
      const unknown = 'ses-000000000000';
      expectError(await api.write(unknown, { path: 'x', text: 'x' }), 404, 'SESSION_NOT_FOUND');
      expectError(await api.read(unknown, 'x'), 404, 'SESSION_NOT_FOUND');
      expectError(await api.upload(`/v1/sessions/${unknown}`, formOf([{ name: 'x', data: 'x' }])), 404, 'SESSION_NOT_FOUND');

      const stopped = await api.newSession();
      await api.write(stopped.id, { path: 'kept.txt', text: 'kept' });
      assert.equal((await api.call('POST', `/v1/sessions/${stopped.id}/stop`, { json: {} })).status, 200);
      expectError(await api.write(stopped.id, { path: 'x', text: 'x' }), 409, 'CONFLICT', /stopped/);
      expectError(await api.read(stopped.id, 'kept.txt'), 409, 'CONFLICT', /stopped/);
      expectError(await api.upload(`/v1/sessions/${stopped.id}`, formOf([{ name: 'x', data: 'x' }])), 409, 'CONFLICT');
      assert.equal((await api.call('POST', `/v1/sessions/${stopped.id}/start`, { json: {} })).status, 200);
      assert.equal(content(await api.read(stopped.id, 'kept.txt')).toString(), 'kept', 'files are back once it runs');

      for (const [method, path] of [
        ['POST', `/v1/sessions/${stopped.id}/fs/write`],
        ['GET', `/v1/sessions/${stopped.id}/fs/read?path=kept.txt`],
        ['POST', `/v1/sessions/${stopped.id}/fs/upload`],
        ['POST', '/v1/workspaces/any/fs/write'],
        ['POST', '/v1/workspaces/any/fs/upload'],
        ['GET', '/v1/workspaces/any/fs'],
        ['GET', '/v1/workspaces/any/fs/read?path=x'],
      ]) {
        expectError(await api.call(method, path, { token: null, ...(method === 'POST' ? { json: {} } : {}) }), 401, 'UNAUTHORIZED');
      }
    });
  });
});
