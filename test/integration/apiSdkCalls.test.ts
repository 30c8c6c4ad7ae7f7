/**
 * Every call of Sandkasten v1's two SDKs (TypeScript 0.2.0, Python 0.3.0) against the real
 * sidecar, with the requests exactly as the compatibility spec's SDK tables (§7, §8) say each
 * SDK sends them — headers included — and checks that every field each SDK reads is there with
 * the type it expects. The SDKs themselves are not used: the wire is what matters.
 * (File calls — write, read, upload — are covered with the file routes.)
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { readLikePythonSdk, readLikeTypescriptSdk, readWithEventsourceParser, strictSseEvents, enableApi, readAll } from './apiClient';
import { TEST_IMAGE, useSidecar } from './harness';

/** The keys the Python SDK's session parser requires (a KeyError otherwise), and their JSON types from an API-made session. */
const SESSION_KEYS = ['id', 'image', 'status', 'cwd', 'created_at', 'expires_at'] as const;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

type Json = Record<string, unknown>;

/** A session object as both SDKs read it: the six keys present, strings, timestamps RFC 3339. */
function assertSessionShape(session: Json, where: string): void {
  for (const key of SESSION_KEYS) {
    assert.ok(key in session, `${where}: "${key}" is present (the Python SDK requires it): ${JSON.stringify(session)}`);
    assert.equal(typeof session[key], 'string', `${where}: "${key}" is a string: ${JSON.stringify(session)}`);
  }
  assert.match(session.created_at as string, RFC3339, `${where}: created_at is RFC 3339`);
  assert.match(session.expires_at as string, RFC3339, `${where}: expires_at is RFC 3339`);
  assert.ok(!('session_id' in session), `${where}: the id is "id", never "session_id"`);
  if ('workspace_id' in session) assert.equal(typeof session.workspace_id, 'string', `${where}: workspace_id is a string when present`);
}

/** The blocking exec result: all five fields, with their types. */
function assertExecResultShape(result: Json): void {
  assert.equal(typeof result.exit_code, 'number', `exit_code is a number: ${JSON.stringify(result)}`);
  assert.ok(Number.isInteger(result.exit_code), 'exit_code is an integer');
  assert.equal(typeof result.cwd, 'string', 'cwd is a string');
  assert.equal(typeof result.output, 'string', 'output is a string');
  assert.equal(typeof result.truncated, 'boolean', 'truncated is a boolean');
  assert.ok(Number.isInteger(result.duration_ms) && (result.duration_ms as number) >= 0, `duration_ms is a whole number: ${result.duration_ms}`);
}

function assertDoneShape(done: { exit_code: unknown; cwd: unknown; duration_ms: unknown } | undefined, exitCode: number, cwd: string): void {
  assert.ok(done, 'the stream ended with done');
  assert.equal(done.exit_code, exitCode);
  assert.equal(done.cwd, cwd);
  assert.ok(Number.isInteger(done.duration_ms), `duration_ms is a whole number: ${done.duration_ms}`);
}

/** A command whose output comes in three pieces over ~0.4 s, so a real stream has several chunk events. */
const THREE_LINES = "cd /tmp; for i in 1 2 3; do echo line$i; sleep 0.2; done; sh -c 'exit 4'";

describe('the v1 SDKs\' calls, on the wire as each SDK makes them', () => {
  const sidecar = useSidecar();
  let baseUrl = '';
  let token = '';

  before(async () => {
    // The Python SDK always asks for the image "python"; here it stands for the test image.
    ({ url: baseUrl, token } = await enableApi(sidecar.client, { 'api.images': { python: TEST_IMAGE } }));
  });

  describe('the TypeScript SDK (fetch; Content-Type: application/json on every request, GET and DELETE too)', () => {
    const made: string[] = [];

    /** As the SDK requests: fetch, the two headers, the body only when there is one; a non-2xx throws with the body. */
    async function call(method: string, path: string, body?: Json): Promise<Response> {
      const res = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (!res.ok) assert.fail(`sandkasten: ${res.status} ${res.statusText} — ${await res.text()}`);
      return res;
    }

    /** The SDK reads a stream with a reader, read by read; these are those reads. */
    async function streamReads(path: string, body: Json): Promise<{ res: Response; reads: Buffer[] }> {
      const res = await call('POST', path, body);
      const reads: Buffer[] = [];
      const reader = res.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        reads.push(Buffer.from(value));
      }
      return { res, reads };
    }

    after(async () => {
      for (const id of made) await fetch(`${baseUrl}/v1/sessions/${id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    });

    let sessionId = '';

    it('createSession() sends {} and reads the id of a 201', async () => {
      const res = await call('POST', '/v1/sessions', {});
      assert.equal(res.status, 201);
      const session = (await res.json()) as Json;
      assert.equal(typeof session.id, 'string');
      assertSessionShape(session, 'create');
      assert.equal(session.status, 'running');
      assert.equal(session.cwd, '/workspace');
      assert.equal(session.image, TEST_IMAGE, 'no image asked: the default image');
      sessionId = session.id as string;
      made.push(sessionId);
    });

    it('createSession({image, ttlSeconds, workspaceId}) sends image, ttl_seconds and workspace_id', async () => {
      const res = await call('POST', '/v1/sessions', { image: 'base', ttl_seconds: 600, workspace_id: 'ts-sdk-project' });
      assert.equal(res.status, 201);
      const session = (await res.json()) as Json;
      assertSessionShape(session, 'create with a workspace');
      assert.equal(session.workspace_id, 'ts-sdk-project');
      assert.equal(session.image, TEST_IMAGE, '"base" is the default image');
      made.push(session.id as string);
    });

    it('getSession(id) and session.info() read the whole session object', async () => {
      const session = (await (await call('GET', `/v1/sessions/${sessionId}`)).json()) as Json;
      assertSessionShape(session, 'get');
      assert.equal(session.id, sessionId);
    });

    it('listSessions() reads a bare array of sessions', async () => {
      const list = (await (await call('GET', '/v1/sessions')).json()) as Json[];
      assert.ok(Array.isArray(list), 'a bare array, not {sessions: [...]}');
      assert.ok(list.some((s) => s.id === sessionId));
      for (const session of list) assertSessionShape(session, 'list item');
    });

    it('session.exec(cmd) sends only {cmd} and reads exit_code, cwd, output, truncated and duration_ms', async () => {
      const res = await call('POST', `/v1/sessions/${sessionId}/exec`, { cmd: "cd /tmp && echo hello && sh -c 'exit 3'" });
      const result = (await res.json()) as Json;
      assertExecResultShape(result);
      assert.deepEqual([result.exit_code, result.cwd, result.truncated], [3, '/tmp', false]);
      assert.match(result.output as string, /^hello\n?$/);
    });

    it('session.exec(cmd, {timeoutMs, rawOutput}) sends timeout_ms and raw_output', async () => {
      const result = (await (await call('POST', `/v1/sessions/${sessionId}/exec`, { cmd: 'echo again', timeout_ms: 10_000, raw_output: true })).json()) as Json;
      assertExecResultShape(result);
      assert.equal(result.exit_code, 0);
      assert.match(result.output as string, /again/);
    });

    it('session.execStream(cmd) gets every chunk and done when read as the SDK reads (event type per read)', async () => {
      const { res, reads } = await streamReads(`/v1/sessions/${sessionId}/exec/stream`, { cmd: THREE_LINES });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const streamed = readLikeTypescriptSdk(reads);
      assert.equal(streamed.dropped, 0, 'no data line arrived without its event line');
      assert.equal(streamed.chunks.map((c) => c.output).join(''), 'line1\nline2\nline3\n');
      assert.ok(streamed.chunks.length >= 2, `output streamed as it came, in several chunks (${streamed.chunks.length})`);
      for (const chunk of streamed.chunks) assert.ok(Number.isInteger(chunk.timestamp) && chunk.timestamp > 1e12, `timestamp is epoch ms: ${chunk.timestamp}`);
      assertDoneShape(streamed.done, 4, '/tmp');
      strictSseEvents(Buffer.concat(reads).toString('utf8'));
      const messages = readWithEventsourceParser(reads);
      assert.deepEqual(messages.map((m) => m.event), [...streamed.chunks.map(() => 'chunk'), 'done'], 'eventsource-parser sees the same events');
      assert.deepEqual(messages.slice(0, -1).map((m) => (JSON.parse(m.data) as Json).chunk), streamed.chunks.map((c) => c.output));
    });

    it('session.execStream(cmd, {timeoutMs}) ends with an error event the SDK throws', async () => {
      const { res, reads } = await streamReads(`/v1/sessions/${sessionId}/exec/stream`, { cmd: 'echo before; sleep 30', timeout_ms: 1_000 });
      assert.equal(res.status, 200, 'errors after the stream started are events, not statuses');
      const streamed = readLikeTypescriptSdk(reads);
      assert.ok(streamed.chunks.map((c) => c.output).join('').startsWith('before\n'), 'what it printed before the timeout came');
      assert.equal(typeof streamed.error, 'string', 'an error event with an "error" message');
      assert.match(streamed.error!, /timeout/i);
      const events = strictSseEvents(Buffer.concat(reads).toString('utf8'));
      assert.equal(events.at(-1)!.event, 'error');
    });

    it('listWorkspaces() reads .workspaces, items with id (and the typed created_at, session_count, active_session_count)', async () => {
      const body = (await (await call('GET', '/v1/workspaces')).json()) as { workspaces: Json[] };
      assert.ok(Array.isArray(body.workspaces), 'an object with a workspaces array');
      const named = body.workspaces.find((w) => w.id === 'ts-sdk-project');
      assert.ok(named, `the named workspace is listed: ${JSON.stringify(body.workspaces.map((w) => w.id))}`);
      for (const workspace of body.workspaces) {
        assert.equal(typeof workspace.id, 'string');
        assert.equal(typeof workspace.created_at, 'string');
        assert.ok(Number.isInteger(workspace.session_count) && Number.isInteger(workspace.active_session_count), JSON.stringify(workspace));
      }
      assert.deepEqual([named.session_count, named.active_session_count], [1, 1]);
    });

    it('session.destroy() and deleteWorkspace(id) answer 2xx, and both are gone', async () => {
      await call('DELETE', `/v1/sessions/${sessionId}`);
      made.splice(made.indexOf(sessionId), 1);
      const gone = await fetch(`${baseUrl}/v1/sessions/${sessionId}`, { headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` } });
      assert.equal(gone.status, 404);
      await call('DELETE', '/v1/workspaces/ts-sdk-project'); // with its running session
      const body = (await (await call('GET', '/v1/workspaces')).json()) as { workspaces: Json[] };
      assert.ok(!body.workspaces.some((w) => w.id === 'ts-sdk-project'));
      const sessions = (await (await call('GET', '/v1/sessions')).json()) as Json[];
      assert.ok(!sessions.some((s) => s.workspace_id === 'ts-sdk-project'), 'its session went with it');
      made.length = 0;
    });
  });

  describe('the Python SDK (httpx; Authorization on every request, JSON bodies with json=)', () => {
    const made: string[] = [];

    /** httpx's default headers, then the SDK's Authorization; json= adds Content-Type and Content-Length. */
    function call(method: string, path: string, json?: Json, signal?: AbortSignal): Promise<http.IncomingMessage> {
      const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
      const { hostname, port } = new URL(baseUrl);
      const headers: Record<string, string> = {
        host: `${hostname}:${port}`,
        accept: '*/*',
        'accept-encoding': 'gzip, deflate',
        connection: 'keep-alive',
        'user-agent': 'python-httpx/0.28.1',
        authorization: `Bearer ${token}`,
        ...(body ? { 'content-length': String(body.length), 'content-type': 'application/json' } : {}),
      };
      return new Promise((resolve, reject) => {
        const req = http.request({ hostname, port, path, method, headers, signal }, resolve);
        req.once('error', reject);
        req.end(body);
      });
    }

    /** raise_for_status(), then resp.json(). */
    async function json<T = Json>(method: string, path: string, body?: Json): Promise<{ status: number; body: T }> {
      const res = await call(method, path, body);
      const text = (await readAll(res)).toString('utf8');
      assert.ok((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300, `raise_for_status: ${res.statusCode} ${text}`);
      assert.doesNotMatch(String(res.headers['content-encoding'] ?? ''), /./, 'no content encoding is needed');
      return { status: res.statusCode!, body: JSON.parse(text) as T };
    }

    after(async () => {
      for (const id of made) await call('DELETE', `/v1/sessions/${id}`).then(readAll);
    });

    let sessionId = '';

    it('create_session() always sends {"image": "python"} and reads the id', async () => {
      const { status, body } = await json('POST', '/v1/sessions', { image: 'python' });
      assert.equal(status, 201);
      assertSessionShape(body, 'create');
      assert.equal(body.image, TEST_IMAGE, '"python" is mapped by api.images');
      sessionId = body.id as string;
      made.push(sessionId);
    });

    it('create_session(ttl_seconds=, workspace_id=) sends them beside the image', async () => {
      const { status, body } = await json('POST', '/v1/sessions', { image: 'python', ttl_seconds: 900, workspace_id: 'py-sdk-project' });
      assert.equal(status, 201);
      assertSessionShape(body, 'create with a workspace');
      assert.equal(body.workspace_id, 'py-sdk-project');
      made.push(body.id as string);
    });

    it('get_session(id) needs only a 2xx; session.info() parses the required keys', async () => {
      const { body } = await json('GET', `/v1/sessions/${sessionId}`);
      assertSessionShape(body, 'info');
      assert.equal(body.id, sessionId);
    });

    it('list_sessions() parses every item with the required keys', async () => {
      const { body } = await json<Json[]>('GET', '/v1/sessions');
      assert.ok(Array.isArray(body));
      assert.ok(body.some((s) => s.id === sessionId));
      for (const session of body) assertSessionShape(session, 'list item');
    });

    it('session.exec(cmd) sends cmd, timeout_ms 30000 and raw_output false; reads exit_code, cwd, output (and truncated, duration_ms)', async () => {
      await json('POST', `/v1/sessions/${sessionId}/exec`, { cmd: 'cd /tmp; export GREETING=hi', timeout_ms: 30_000, raw_output: false });
      const { body } = await json('POST', `/v1/sessions/${sessionId}/exec`, { cmd: "echo $GREETING; echo err >&2; sh -c 'exit 2'", timeout_ms: 30_000, raw_output: false });
      assertExecResultShape(body);
      assert.deepEqual([body.exit_code, body.cwd, body.truncated], [2, '/tmp', false]);
      // stdout and stderr together (two pipes: either may come first), cd and export kept.
      assert.deepEqual((body.output as string).split('\n').filter(Boolean).sort(), ['err', 'hi']);
    });

    it('session.exec_stream(cmd) yields every chunk and done with "event: "/"data: " lines, and the server closes after done', async () => {
      const res = await call('POST', `/v1/sessions/${sessionId}/exec/stream`, { cmd: THREE_LINES, timeout_ms: 30_000, raw_output: false }, AbortSignal.timeout(30_000));
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/event-stream/);
      // Reading to the end means the server ended the response: the SDK reads on until it does.
      const reads: Buffer[] = [];
      for await (const read of res) reads.push(read as Buffer);
      const text = Buffer.concat(reads).toString('utf8');
      const streamed = readLikePythonSdk(text);
      assert.deepEqual(streamed.ignored, [], 'every field line has its space after the colon');
      assert.equal(streamed.dropped, 0);
      assert.equal(streamed.afterEnd, 0, 'nothing after done');
      assert.equal(streamed.chunks.map((c) => c.output).join(''), 'line1\nline2\nline3\n');
      assertDoneShape(streamed.done, 4, '/tmp');
      const messages = readWithEventsourceParser(reads);
      assert.equal(messages.at(-1)!.event, 'done');
      assert.ok(messages.slice(0, -1).every((m) => m.event === 'chunk'));
      strictSseEvents(text);
    });

    it('session.exec_stream on a timeout gets an error event (SandkastenStreamError)', async () => {
      const res = await call('POST', `/v1/sessions/${sessionId}/exec/stream`, { cmd: 'sleep 30', timeout_ms: 1_000, raw_output: false }, AbortSignal.timeout(30_000));
      assert.equal(res.statusCode, 200);
      const streamed = readLikePythonSdk((await readAll(res)).toString('utf8'));
      assert.match(streamed.error ?? '', /timeout/i);
      assert.equal(streamed.done, undefined);
    });

    it('session.stats() reads memory_bytes, memory_limit and cpu_usage_usec as integers', async () => {
      const { body } = await json('GET', `/v1/sessions/${sessionId}/stats`);
      for (const key of ['memory_bytes', 'memory_limit', 'cpu_usage_usec']) {
        assert.ok(Number.isInteger(body[key]) && (body[key] as number) >= 0, `${key} is a whole number: ${JSON.stringify(body)}`);
      }
      assert.ok((body.memory_bytes as number) > 0, 'a running container uses memory');
      assert.ok((body.memory_limit as number) > 0, 'sessions have a memory limit');
    });

    it('list_workspaces() reads {"workspaces": [...]} with an id in each', async () => {
      const { body } = await json<{ workspaces: Json[] }>('GET', '/v1/workspaces');
      assert.equal(typeof body, 'object');
      assert.ok(!Array.isArray(body) && Array.isArray(body.workspaces), 'an object: the SDK calls data.get("workspaces")');
      for (const workspace of body.workspaces) assert.equal(typeof workspace.id, 'string');
      assert.ok(body.workspaces.some((w) => w.id === 'py-sdk-project'));
    });

    it('session.destroy() and delete_workspace(id) need only a 2xx', async () => {
      await json('DELETE', `/v1/sessions/${sessionId}`);
      made.splice(made.indexOf(sessionId), 1);
      const gone = await call('GET', `/v1/sessions/${sessionId}`);
      await readAll(gone);
      assert.equal(gone.statusCode, 404);
      await json('DELETE', '/v1/workspaces/py-sdk-project');
      const { body } = await json<{ workspaces: Json[] }>('GET', '/v1/workspaces');
      assert.ok(!body.workspaces.some((w) => w.id === 'py-sdk-project'));
      made.length = 0;
    });
  });

  it('leaves no API session or workspace behind', async () => {
    const res = await fetch(`${baseUrl}/v1/sessions`, { headers: { Authorization: `Bearer ${token}` } });
    assert.deepEqual(await res.json(), []);
    const workspaces = (await (await fetch(`${baseUrl}/v1/workspaces`, { headers: { Authorization: `Bearer ${token}` } })).json()) as { workspaces: Json[] };
    assert.deepEqual(workspaces.workspaces.map((w) => w.id), [], 'the workspaces made for sessions without workspace_id went with them');
  });
});
