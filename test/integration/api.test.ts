/**
 * The HTTP API's non-file routes through real HTTP, against a real sidecar and the real Docker
 * engine: authentication, status codes and error shapes, exec (persistent shell, output cap,
 * timeouts, side by side), streaming (framing, back-pressure, disconnects), sessions shared with
 * the CLI, caller-named workspaces, leases, background processes, and the listener itself
 * (its port across a restart, turning it off).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createParser } from 'eventsource-parser';
import { ApiClient, assertApiError, enableApi, followSse, strictSseEvents, type ApiResponse } from './apiClient';
import { containerProbes, MEMORY_BOUND_MB, MiB, rssMb, rssPeak } from './execSupport';
import { inspectContainer, P, runCli, TEST_IMAGE, useSidecar, waitFor, type CliResult, type SidecarHarness } from './harness';

type Json = Record<string, unknown>;
type Session = Json & { id: string; workspace_id: string; container_id: string; cwd: string; created_at: string; expires_at: string | null };

/** Commands that wait for the test carry this timeout (ms), so a failing test cannot hold a shell for good. */
const SAFETY_TIMEOUT_MS = 60_000;
/** The default lease of an API session (Sandkasten v1: 30 min). */
const DEFAULT_TTL_MS = 1_800_000;

function cliJson<T>(result: CliResult): T {
  assert.equal(result.code, 0, `the CLI exits 0; stderr: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

function ok<T = Json>(response: ApiResponse, status = 200): T {
  assert.equal(response.status, status, `${status} expected: ${response.status} ${response.text.slice(0, 400)}`);
  assert.match(String(response.headers['content-type']), /^application\/json/);
  return response.json<T>();
}

/**
 * What the suite needs: the API of its sidecar, a client, and the sessions and workspaces it made,
 * removed over HTTP afterwards. Call it before `useSidecar()` (so its `after` runs while the
 * sidecar still answers), then `enable(sidecar)` after it (so its `before` runs once it is up).
 */
function useApi() {
  const state = { api: undefined as ApiClient | undefined, baseUrl: '', sessions: new Set<string>(), workspaces: new Set<string>() };
  after(async () => {
    if (!state.api) return;
    for (const id of state.sessions) await state.api.delete(`/v1/sessions/${id}`);
    for (const id of state.workspaces) await state.api.delete(`/v1/workspaces/${id}`);
    state.api.close();
  });
  return {
    enable(sidecar: SidecarHarness, values: P.ConfigValues = {}) {
      before(async () => {
        const { url, token } = await enableApi(sidecar.client, values);
        state.baseUrl = url;
        state.api = new ApiClient(url, token);
      });
    },
    get api(): ApiClient {
      assert.ok(state.api, 'the API is enabled');
      return state.api;
    },
    get baseUrl() {
      return state.baseUrl;
    },
    /** POST /v1/sessions, 201; destroyed after the suite unless a test did. */
    async newSession(body: Json = {}): Promise<Session> {
      const session = ok<Session>(await this.api.post('/v1/sessions', body), 201);
      state.sessions.add(session.id);
      if (typeof body.workspace_id === 'string') state.workspaces.add(body.workspace_id);
      return session;
    },
    /** A workspace to delete after the suite (one the API made and kept). */
    keepTidy(workspaceId: string) {
      state.workspaces.add(workspaceId);
    },
    async exec(sessionId: string, body: Json): Promise<ApiResponse> {
      return this.api.post(`/v1/sessions/${sessionId}/exec`, { timeout_ms: SAFETY_TIMEOUT_MS, ...body });
    },
  };
}

describe('the HTTP API against the real engine', () => {
  const context = useApi();
  const sidecar = useSidecar();
  context.enable(sidecar);
  const { waitUntilRunning, waitUntilGone, waitUntilHeldBack } = containerProbes(sidecar);
  const api = () => context.api;
  const sessionIds = async () => ok<Json[]>(await api().get('/v1/sessions')).map((s) => s.id as string).sort();
  const workspaceIds = async () => ok<{ workspaces: Json[] }>(await api().get('/v1/workspaces')).workspaces.map((w) => w.id as string).sort();

  describe('authentication', () => {
    it('answers /healthz without a token', async () => {
      const response = await api().get('/healthz', { token: null });
      assert.deepEqual(ok(response), { status: 'ok' });
    });

    it('refuses every other route with 401 UNAUTHORIZED without the token, with a wrong one, or with the wrong scheme', async () => {
      const token = api().token;
      const attempts: Array<[string, Record<string, string>]> = [
        ['none', {}],
        ['wrong token', { authorization: 'Bearer not-the-token' }],
        ['empty token', { authorization: 'Bearer ' }],
        ['lower-case scheme', { authorization: `bearer ${token}` }],
        ['no space', { authorization: `Bearer${token}` }],
        ['two spaces', { authorization: `Bearer  ${token}` }],
        ['token twice', { authorization: `Bearer ${token}${token}` }],
        ['a prefix of it', { authorization: `Bearer ${token.slice(0, -1)}` }],
        ['Basic', { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` }],
        ['token alone', { authorization: token }],
        ['another header', { 'x-api-key': token }],
      ];
      const routes: Array<[string, string]> = [['GET', '/v1/sessions'], ['POST', '/v1/sessions'], ['GET', '/v1/no-such-route'], ['DELETE', '/v1/workspaces/anything'], ['GET', `/v1/sessions?api_key=${token}`]];
      for (const [name, headers] of attempts) {
        for (const [method, path] of routes) {
          const response = await api().request(method, path, { token: null, headers, ...(method === 'POST' ? { json: {} } : {}) });
          assert.equal(response.status, 401, `${name}, ${method} ${path}: 401 expected, got ${response.status} ${response.text.slice(0, 200)}`);
          const body = assertApiError(response, 401, 'UNAUTHORIZED');
          assert.doesNotMatch(body.message, new RegExp(token), `${name}: the message never echoes the token`);
        }
      }
      assert.deepEqual(ok(await api().get('/v1/sessions')), [], 'nothing was made by the refused requests');
    });

    it('refuses the old token and accepts the new one once it is rotated', async () => {
      const old = api().token;
      const rotated = await sidecar.client.request(P.RotateApiTokenRequest.type, {});
      assert.notEqual(rotated.token, old);
      assert.match(rotated.token, /^[A-Za-z0-9_-]{32,}$/);
      assertApiError(await api().get('/v1/sessions', { token: old }), 401, 'UNAUTHORIZED');
      ok(await api().get('/v1/sessions', { token: rotated.token }));
      assert.equal((await sidecar.client.request(P.ApiInfoRequest.type, {})).token, rotated.token, 'api/info gives the new token');
      api().token = rotated.token;
    });
  });

  describe('routes and errors', () => {
    it('answers an unknown route with a JSON 404 and a wrong method with a JSON 405 and Allow', async () => {
      for (const path of ['/v1/nothing', '/v2/sessions', '/', '/v1', '/v1/sessions/x/y/z']) assertApiError(await api().get(path), 404, 'NOT_FOUND');
      const wrong = await api().request('PUT', '/v1/sessions', { json: {} });
      assertApiError(wrong, 405, 'METHOD_NOT_ALLOWED');
      assert.deepEqual(String(wrong.headers.allow).split(/,\s*/).sort(), ['GET', 'POST']);
      const patch = await api().request('PATCH', '/v1/sessions/ses-000000000000', { json: {} });
      assertApiError(patch, 405, 'METHOD_NOT_ALLOWED');
      assert.deepEqual(String(patch.headers.allow).split(/,\s*/).sort(), ['DELETE', 'GET']);
    });

    it('echoes a plain X-Request-ID and makes one up otherwise', async () => {
      assert.equal((await api().get('/v1/sessions', { headers: { 'x-request-id': 'req-42.a_b' } })).headers['x-request-id'], 'req-42.a_b');
      assert.match(String((await api().get('/v1/sessions')).headers['x-request-id']), /^[0-9a-f]{8}$/);
      assert.match(String((await api().get('/v1/sessions', { headers: { 'x-request-id': 'has space\u00e9' } })).headers['x-request-id']), /^[0-9a-f]{8}$/);
    });

    it('refuses malformed session creation with 400 and makes nothing', async () => {
      const sessionsBefore = await sessionIds();
      const workspacesBefore = await workspaceIds();
      const bodies: Array<[string | Buffer, string]> = [
        ['', 'INVALID_REQUEST'],
        ['not json', 'INVALID_REQUEST'],
        ['{"image":', 'INVALID_REQUEST'],
        ['[]', 'INVALID_REQUEST'],
        ['"text"', 'INVALID_REQUEST'],
        ['null', 'INVALID_REQUEST'],
        ['42', 'INVALID_REQUEST'],
        ['{"ttl_seconds":-1}', 'INVALID_REQUEST'],
        ['{"ttl_seconds":86401}', 'INVALID_REQUEST'],
        ['{"ttl_seconds":"60"}', 'INVALID_REQUEST'],
        ['{"ttl_seconds":1.5}', 'INVALID_REQUEST'],
        ['{"image":5}', 'INVALID_REQUEST'],
        ['{"image":"no such/image name!"}', 'INVALID_IMAGE'],
        ['{"image":"../etc"}', 'INVALID_IMAGE'],
        ['{"workspace_id":7}', 'INVALID_REQUEST'],
        ['{"workspace_kind":"forever"}', 'INVALID_REQUEST'],
        ['{"workspace_kind":3}', 'INVALID_REQUEST'],
      ];
      for (const [body, code] of bodies) {
        assertApiError(await api().request('POST', '/v1/sessions', { body, headers: { 'content-type': 'application/json' } }), 400, code);
      }
      const ttlMessage = assertApiError(await api().post('/v1/sessions', { ttl_seconds: 86_401 }), 400).message;
      assert.match(ttlMessage, /ttl_seconds must not exceed 86400/);
      assert.deepEqual(await sessionIds(), sessionsBefore);
      assert.deepEqual(await workspaceIds(), workspacesBefore, 'no workspace either');
    });

    it('refuses image names that every JavaScript object has (not api.images aliases) with 400 INVALID_IMAGE', async () => {
      const workspacesBefore = await workspaceIds();
      for (const image of ['toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
        assertApiError(await api().post('/v1/sessions', { image }), 400, 'INVALID_IMAGE');
        assertApiError(await api().post('/v1/workspaces', { name: 'proto-image', image }), 400, 'INVALID_IMAGE');
      }
      assert.deepEqual(await workspaceIds(), workspacesBefore, 'nothing was made');
    });

    it("gives v1's template names (the Python SDK always asks for python) the default image when no such image is here, and destroys what it made", async () => {
      const status = await sidecar.client.request(P.GetConfigRequest.type, { key: 'defaultImage' });
      for (const image of ['python', 'node']) {
        const created = ok<Json>(await api().post('/v1/sessions', { image }), 201);
        assert.equal(created.image, status.defaultImage, `${image} without an alias or a local image is the default image`);
        const exec = ok<Json>(await api().post(`/v1/sessions/${created.id as string}/exec`, { cmd: 'echo works' }));
        assert.equal(exec.output, 'works\n');
        ok(await api().request('DELETE', `/v1/sessions/${created.id as string}`));
      }
    });

    it('answers 404 SESSION_NOT_FOUND on every session route for an unknown id, and 400 for an id that cannot be one', async () => {
      const unknown = 'ses-000000000000';
      const routes: Array<[string, string, Json | undefined]> = [
        ['GET', `/v1/sessions/${unknown}`, undefined],
        ['DELETE', `/v1/sessions/${unknown}`, undefined],
        ['GET', `/v1/sessions/${unknown}/stats`, undefined],
        ['POST', `/v1/sessions/${unknown}/exec`, { cmd: 'echo' }],
        ['POST', `/v1/sessions/${unknown}/exec/stream`, { cmd: 'echo' }],
        ['POST', `/v1/sessions/${unknown}/processes`, { cmd: 'echo' }],
        ['GET', `/v1/sessions/${unknown}/processes`, undefined],
        ['POST', `/v1/sessions/${unknown}/stop`, {}],
        ['POST', `/v1/sessions/${unknown}/start`, {}],
      ];
      for (const [method, path, json] of routes) assertApiError(await api().request(method, path, { json }), 404, 'SESSION_NOT_FOUND');
      assertApiError(await api().get('/v1/sessions/a..b'), 400, 'INVALID_REQUEST');
      assertApiError(await api().get(`/v1/sessions/${'a'.repeat(200)}`), 400, 'INVALID_REQUEST');
      assertApiError(await api().get('/v1/sessions/with%20space'), 400, 'INVALID_REQUEST');
      assertApiError(await api().get('/v1/workspaces/no-such-workspace'), 404, 'WORKSPACE_NOT_FOUND');
      assertApiError(await api().get('/v1/processes/proc-000000000000'), 404, 'PROCESS_NOT_FOUND');
    });

    it('refuses malformed exec requests with 400 before running anything, and a body over 2 MiB with 413', async () => {
      const session = await context.newSession();
      const path = `/v1/sessions/${session.id}/exec`;
      for (const body of [{}, { cmd: '' }, { cmd: 5 }, { cmd: ['echo'] }, { cmd: 'echo', timeout_ms: -1 }, { cmd: 'echo', timeout_ms: 600_001 }, { cmd: 'echo', timeout_ms: '10' }, { cmd: 'echo', raw_output: 'yes' }, { cmd: 'echo', side_by_side: 1 }]) {
        assertApiError(await api().post(path, body), 400, 'INVALID_REQUEST');
        assertApiError(await api().post(`${path}/stream`, body), 400, 'INVALID_REQUEST');
      }
      assert.match(assertApiError(await api().post(path, { cmd: 'echo', timeout_ms: 600_001 }), 400).message, /timeout_ms must not exceed 600000/);
      const tooLong = assertApiError(await api().post(path, { cmd: `echo ${'x'.repeat(MiB)}` }), 400, 'INVALID_REQUEST');
      assert.deepEqual([tooLong.details?.cmd_bytes, tooLong.details?.max_cmd_bytes], [MiB + 5, MiB]);
      assertApiError(await api().post(path, { cmd: 'echo', padding: 'x'.repeat(2 * MiB) }), 413, 'PAYLOAD_TOO_LARGE');
      const history = ok<{ exit_code: number; output: string }>(await context.exec(session.id, { cmd: 'cat /tmp/ran 2>/dev/null; echo checked' }));
      assert.equal(history.output, 'checked\n');
    });

    it('refuses exec, streams and stats on a stopped session with 409 CONFLICT, and runs again once started', async () => {
      const session = await context.newSession();
      assert.equal(ok<Session>(await api().post(`/v1/sessions/${session.id}/stop`, {})).status, 'stopped');
      assertApiError(await context.exec(session.id, { cmd: 'echo' }), 409, 'CONFLICT');
      assertApiError(await api().post(`/v1/sessions/${session.id}/exec/stream`, { cmd: 'echo' }), 409, 'CONFLICT');
      assertApiError(await api().get(`/v1/sessions/${session.id}/stats`), 409, 'CONFLICT');
      assert.equal(ok<Session>(await api().get(`/v1/sessions/${session.id}`)).status, 'stopped');
      assert.equal(ok<Session>(await api().post(`/v1/sessions/${session.id}/start`, {})).status, 'running');
      assert.equal(ok<{ output: string }>(await context.exec(session.id, { cmd: 'echo back' })).output, 'back\n');
    });

    it('destroys a session with 200 {ok: true}, its container with it; a second DELETE is a 404', async () => {
      const session = await context.newSession();
      assert.ok(await inspectContainer(session.container_id), 'its container exists');
      assert.deepEqual(ok(await api().delete(`/v1/sessions/${session.id}`)), { ok: true });
      assert.equal(await inspectContainer(session.container_id), undefined, 'its container is gone');
      assertApiError(await api().delete(`/v1/sessions/${session.id}`), 404, 'SESSION_NOT_FOUND');
      assertApiError(await api().get(`/v1/workspaces/${session.workspace_id}`), 404, 'WORKSPACE_NOT_FOUND');
    });
  });

  describe('exec', () => {
    let session: Session;
    before(async () => {
      session = await context.newSession();
    });

    it('keeps cwd and exported variables from one call to the next, and reports the cwd', async () => {
      const first = ok<Json>(await context.exec(session.id, { cmd: 'mkdir -p /tmp/api-dir && cd /tmp/api-dir && export API_VAR="kept value"' }));
      assert.deepEqual([first.exit_code, first.cwd], [0, '/tmp/api-dir']);
      const second = ok<Json>(await context.exec(session.id, { cmd: 'echo "$API_VAR"; pwd' }));
      assert.deepEqual([second.output, second.cwd], ['kept value\n/tmp/api-dir\n', '/tmp/api-dir']);
      assert.equal(ok<Session>(await api().get(`/v1/sessions/${session.id}`)).cwd, '/tmp/api-dir', 'the session says where its shell is');
      await context.exec(session.id, { cmd: 'cd /workspace' });
    });

    it('returns stdout and stderr together with the exit code', async () => {
      const result = ok<Json>(await context.exec(session.id, { cmd: "echo out; echo err >&2; sh -c 'exit 7'" }));
      assert.deepEqual([result.exit_code, result.truncated], [7, false]);
      // Two pipes: which of the two lines the sidecar read first is not fixed.
      assert.deepEqual((result.output as string).split('\n').sort(), ['', 'err', 'out']);
    });

    it('survives `exit` of its shell: the next command gets a fresh one', async () => {
      const ended = ok<Json>(await context.exec(session.id, { cmd: 'exit 5' }));
      assert.equal(ended.exit_code, 5);
      assert.equal(ok<Json>(await context.exec(session.id, { cmd: 'echo alive' })).output, 'alive\n');
    });

    it('caps blocking output at api.maxOutputKb with truncated: true, and does not cap a stream', async () => {
      await sidecar.client.request(P.SetConfigRequest.type, { values: { 'api.maxOutputKb': 1 } });
      try {
        const capped = ok<Json>(await context.exec(session.id, { cmd: "head -c 5000 /dev/zero | tr '\\0' a; echo done >&2" }));
        assert.deepEqual([capped.exit_code, capped.truncated, (capped.output as string).length], [0, true, 1024]);
        // stdout and stderr share the cap; which comes first is not fixed (two pipes).
        assert.match(capped.output as string, /^(?:a|done\n)+$/);
        const exact = ok<Json>(await context.exec(session.id, { cmd: "head -c 1024 /dev/zero | tr '\\0' b" }));
        assert.deepEqual([exact.truncated, (exact.output as string).length], [false, 1024], 'exactly the limit is not truncated');
        const streamed = strictSseEvents((await api().stream(`/v1/sessions/${session.id}/exec/stream`, { cmd: "head -c 5000 /dev/zero | tr '\\0' a" })).text);
        assert.equal(streamed.filter((e) => e.event === 'chunk').map((e) => e.data.chunk).join('').length, 5000);
      } finally {
        await sidecar.client.request(P.SetConfigRequest.type, { values: { 'api.maxOutputKb': null } });
      }
    });

    it('answers a command that runs out of time with 504 COMMAND_TIMEOUT, what it printed in details, and stops it', async () => {
      const response = await context.exec(session.id, { cmd: 'echo partial-output; sleep 304; echo never', timeout_ms: 1_000 });
      const error = assertApiError(response, 504, 'COMMAND_TIMEOUT');
      assert.ok(error.details, 'details carry the partial result');
      assert.match(String(error.details.output), /^partial-output\n/);
      assert.doesNotMatch(String(error.details.output), /never/);
      assert.equal(error.details.timed_out, true);
      assert.equal(typeof error.details.exit_code, 'number');
      await waitUntilGone(session.id, /sleep 304/);
      assert.equal(ok<Json>(await context.exec(session.id, { cmd: 'echo next' })).output, 'next\n', 'the session takes the next command');
    });

    it('runs a side_by_side command at once while a long one runs, and queues one without it (v1 waits its turn)', async () => {
      const flag = '/tmp/api-release';
      const first = context.exec(session.id, { cmd: `touch /tmp/api-started; while [ ! -e ${flag} ]; do sleep 0.1; done; echo first > /tmp/api-first; echo first-done` });
      await waitFor('the long command to start', async () => {
        const probe = ok<Json>(await context.exec(session.id, { cmd: 'test -e /tmp/api-started && echo yes', side_by_side: true }));
        return probe.output === 'yes\n' ? true : undefined;
      });
      const queued = context.exec(session.id, { cmd: 'cat /tmp/api-first' });
      const beside = ok<Json>(await context.exec(session.id, { cmd: `echo beside; touch ${flag}`, side_by_side: true }));
      assert.deepEqual([beside.output, beside.side_by_side, beside.exit_code], ['beside\n', true, 0]);
      const firstResult = ok<Json>(await first);
      assert.deepEqual([firstResult.output, firstResult.side_by_side], ['first-done\n', false]);
      assert.equal(ok<Json>(await queued).output, 'first\n', 'the queued command ran after the first had finished');
      await context.exec(session.id, { cmd: `rm -f ${flag} /tmp/api-started /tmp/api-first` });
    });

    it('cancels a blocking command whose client disconnects, and the session takes the next one', async () => {
      const leaving = new AbortController();
      const running = api().request('POST', `/v1/sessions/${session.id}/exec`, { json: { cmd: 'sleep 303; touch /tmp/api-not-cancelled', timeout_ms: SAFETY_TIMEOUT_MS }, signal: leaving.signal });
      await waitUntilRunning(session.id, /sleep 303/);
      leaving.abort();
      await assert.rejects(running);
      await waitUntilGone(session.id, /sleep 303/);
      const next = ok<Json>(await context.exec(session.id, { cmd: 'test -e /tmp/api-not-cancelled && echo ran-on || echo cancelled' }));
      assert.equal(next.output, 'cancelled\n', 'the rest of the command line was abandoned too');
    });
  });

  describe('streaming exec', () => {
    let session: Session;
    before(async () => {
      session = await context.newSession();
    });

    it('frames events as v1 does, with SSE headers, one JSON line per event, stdout and stderr marked', async () => {
      const response = await api().stream(`/v1/sessions/${session.id}/exec/stream`, {
        cmd: `cd /tmp; printf 'a\\nb\\tc "q" \\303\\274 \\\\ end\\n'; echo to-stderr >&2; sh -c 'exit 6'`,
      });
      assert.equal(response.status, 200);
      assert.match(String(response.headers['content-type']), /^text\/event-stream/);
      assert.equal(response.headers['cache-control'], 'no-cache');
      const events = strictSseEvents(response.text);
      const chunks = events.filter((e) => e.event === 'chunk');
      const stdout = chunks.filter((e) => e.data.stream === 'stdout').map((e) => e.data.chunk).join('');
      const stderr = chunks.filter((e) => e.data.stream === 'stderr').map((e) => e.data.chunk).join('');
      assert.deepEqual([stdout, stderr], ['a\nb\tc "q" ü \\ end\n', 'to-stderr\n']);
      for (const chunk of chunks) {
        assert.equal(typeof chunk.data.chunk, 'string');
        assert.ok(Number.isInteger(chunk.data.timestamp), 'timestamp in epoch ms');
        assert.notEqual(chunk.data.chunk, '', 'never an empty chunk');
      }
      const done = events.at(-1)!;
      assert.equal(done.event, 'done');
      assert.deepEqual([done.data.exit_code, done.data.cwd, Number.isInteger(done.data.duration_ms)], [6, '/tmp', true]);
    });

    it('ends a stream that runs out of time with an error event carrying COMMAND_TIMEOUT', async () => {
      const events = strictSseEvents((await api().stream(`/v1/sessions/${session.id}/exec/stream`, { cmd: 'echo soon; sleep 306', timeout_ms: 1_000 })).text);
      const end = events.at(-1)!;
      assert.equal(end.event, 'error');
      assert.equal(end.data.error_code, 'COMMAND_TIMEOUT');
      assert.match(String(end.data.error), /timeout/);
      await waitUntilGone(session.id, /sleep 306/);
    });

    it('streams 64 MiB with back-pressure: the command waits for a paused client, the sidecar stays within its memory bound, every byte arrives', async () => {
      const bytes = 64 * MiB;
      const res = await api().open('POST', `/v1/sessions/${session.id}/exec/stream`, { json: { cmd: `head -c ${bytes} /dev/zero | tr '\\0' a`, timeout_ms: 300_000 } });
      assert.equal(res.statusCode, 200);
      res.pause();
      const baseline = rssMb(sidecar.pid);
      const sampler = rssPeak(sidecar.pid);
      let received = 0;
      let chunkEvents = 0;
      let foreign = 0;
      const ends: Array<{ event?: string; data: string }> = [];
      try {
        await waitUntilHeldBack(session.id, 'tr');
        const heldBack = sampler.peak;
        assert.ok(heldBack - baseline <= MEMORY_BOUND_MB, `RSS grew by ${(heldBack - baseline).toFixed(1)} MB while the client read nothing`);
        const parser = createParser({
          onEvent: (message) => {
            if (message.event !== 'chunk') return void ends.push(message);
            const text = (JSON.parse(message.data) as { chunk: string }).chunk;
            received += Buffer.byteLength(text);
            chunkEvents++;
            if (!/^a+$/.test(text)) foreign++;
          },
        });
        const decoder = new TextDecoder();
        for await (const read of res) parser.feed(decoder.decode(read as Buffer, { stream: true }));
      } finally {
        sampler.stop();
      }
      assert.equal(received, bytes, 'every byte arrived');
      assert.equal(foreign, 0, 'nothing but the output');
      assert.ok(chunkEvents >= bytes / (64 * 1024), `output in many small events (${chunkEvents})`);
      assert.equal(ends.length, 1);
      assert.equal(ends[0].event, 'done');
      assert.equal((JSON.parse(ends[0].data) as Json).exit_code, 0);
      assert.ok(sampler.peak - baseline <= MEMORY_BOUND_MB, `RSS grew by ${(sampler.peak - baseline).toFixed(1)} MB over the transfer`);
    });

    it('cancels the command of a client that disconnects mid-stream; the next exec works', async () => {
      const abort = new AbortController();
      const res = await api().open('POST', `/v1/sessions/${session.id}/exec/stream`, { json: { cmd: 'echo started; sleep 301; echo never', timeout_ms: SAFETY_TIMEOUT_MS }, signal: abort.signal });
      res.on('error', () => undefined);
      const stream = followSse(res);
      await stream.until((message) => message.event === 'chunk');
      await waitUntilRunning(session.id, /sleep 301/);
      abort.abort();
      await waitUntilGone(session.id, /sleep 301/);
      assert.ok(!stream.events.some((message) => message.data.includes('never')));
      assert.equal(ok<Json>(await context.exec(session.id, { cmd: 'echo next' })).output, 'next\n');
      const again = strictSseEvents((await api().stream(`/v1/sessions/${session.id}/exec/stream`, { cmd: 'echo streamed-again' })).text);
      assert.equal(again[0].data.chunk, 'streamed-again\n');
    });
  });

  describe('several clients at once', () => {
    it('serves concurrent requests of several clients on several sessions, each answer its own', async () => {
      const sessions = await Promise.all([0, 1, 2].map(() => context.newSession()));
      const clients = [0, 1, 2, 3].map(() => new ApiClient(context.baseUrl, api().token));
      try {
        const work = clients.flatMap((client, c) =>
          Array.from({ length: 8 }, async (_, n) => {
            const session = sessions[(c + n) % sessions.length];
            const [result, listed, stats] = await Promise.all([
              client.post(`/v1/sessions/${session.id}/exec`, { cmd: `echo client${c}-request${n}` }),
              client.get('/v1/sessions'),
              client.get(`/v1/sessions/${session.id}/stats`),
            ]);
            assert.equal(ok<Json>(result).output, `client${c}-request${n}\n`);
            assert.ok(ok<Json[]>(listed).some((s) => s.id === session.id));
            assert.ok(Number.isInteger(ok<Json>(stats).memory_bytes));
          }),
        );
        await Promise.all(work);
        const streams = await Promise.all(sessions.map((session, s) => clients[s].stream(`/v1/sessions/${session.id}/exec/stream`, { cmd: `seq 1 ${200 * (s + 1)}` })));
        streams.forEach((stream, s) => {
          const text = strictSseEvents(stream.text).filter((e) => e.event === 'chunk').map((e) => e.data.chunk).join('');
          assert.equal(text, `${Array.from({ length: 200 * (s + 1) }, (_, i) => i + 1).join('\n')}\n`);
        });
      } finally {
        for (const client of clients) client.close();
      }
    });
  });

  describe('sessions shared with the CLI', () => {
    const cli = (...args: string[]) => runCli(sidecar.home, args);

    it('lets the CLI destroy a session made over HTTP', async () => {
      const session = await context.newSession();
      assert.equal(session.origin, 'api');
      const listed = cliJson<P.SessionInfo[]>(await cli('session', 'list', '--json')).find((s) => s.id === session.id);
      assert.equal(listed?.origin, 'api', 'the CLI sees where it was made');
      cliJson(await cli('session', 'destroy', session.id, '--json'));
      assertApiError(await api().get(`/v1/sessions/${session.id}`), 404, 'SESSION_NOT_FOUND');
      assert.ok(!ok<Json[]>(await api().get('/v1/sessions')).some((s) => s.id === session.id));
      assert.equal(await inspectContainer(session.container_id), undefined, 'its container is gone');
      context.keepTidy(session.workspace_id);
    });

    it('removes the workspace made for a session alone when the CLI destroys that session (README: "It goes with the session")', async () => {
      const session = await context.newSession();
      context.keepTidy(session.workspace_id);
      cliJson(await cli('session', 'destroy', session.id, '--json'));
      const left = await api().get(`/v1/workspaces/${session.workspace_id}`);
      assert.equal(left.status, 404, `the disposable workspace ${session.workspace_id} stays behind: ${left.text}`);
    });

    it('shows a session made by the CLI over HTTP (origin cli, no lease), runs commands in it and destroys it', async () => {
      const workspace = cliJson<P.WorkspaceInfo>(await cli('workspace', 'create', 'from-cli', '--image', TEST_IMAGE, '--json'));
      context.keepTidy(workspace.id);
      const made = cliJson<P.SessionInfo>(await cli('session', 'start', workspace.id, '--json'));
      const apiMade = await context.newSession();
      const seen = ok<Session>(await api().get(`/v1/sessions/${made.id}`));
      assert.deepEqual([seen.id, seen.status, seen.workspace_id, seen.origin, seen.expires_at, seen.workspace_kind], [made.id, 'running', workspace.id, 'cli', null, 'session']);
      const list = ok<Session[]>(await api().get('/v1/sessions'));
      assert.deepEqual(
        [list.find((s) => s.id === made.id)?.origin, list.find((s) => s.id === apiMade.id)?.origin],
        ['cli', 'api'],
      );
      assert.equal(list.findIndex((s) => s.id === apiMade.id) < list.findIndex((s) => s.id === made.id), true, 'newest first');
      const result = ok<Json>(await context.exec(made.id, { cmd: 'echo over-http > /workspace/from-http; cat /workspace/from-http' }));
      assert.equal(result.output, 'over-http\n');
      assert.equal((await cli('exec', made.id, '--', 'cat', '/workspace/from-http')).stdout, 'over-http\n', 'the CLI sees what HTTP did');
      assert.equal(ok<Session>(await api().get(`/v1/sessions/${made.id}`)).expires_at, null, 'using it over HTTP gives it no lease');
      assert.deepEqual(ok(await api().delete(`/v1/sessions/${made.id}`)), { ok: true });
      assert.ok(!cliJson<P.SessionInfo[]>(await cli('session', 'list', '--json')).some((s) => s.id === made.id));
      assert.ok(cliJson<P.WorkspaceInfo[]>(await cli('workspace', 'list', '--json')).some((w) => w.id === workspace.id), 'its workspace, made by the CLI, stays');
    });
  });

  describe('workspaces', () => {
    it('keeps a caller-named workspace (user123-project456) and its files across sessions', async () => {
      const id = 'user123-project456';
      const first = await context.newSession({ workspace_id: id });
      assert.deepEqual([first.workspace_id, first.workspace_kind], [id, 'persistent']);
      ok(await context.exec(first.id, { cmd: 'echo kept > /workspace/note' }));
      ok(await api().delete(`/v1/sessions/${first.id}`));
      const workspace = ok<Json>(await api().get(`/v1/workspaces/${id}`));
      assert.deepEqual([workspace.id, workspace.kind, workspace.origin, workspace.session_count], [id, 'persistent', 'api', 0]);
      assert.equal(ok<Json>(await api().get(`/v1/workspaces/sandkasten-ws-${id}`)).id, id, "v1's legacy prefix names the same workspace");
      const second = await context.newSession({ workspace_id: id });
      assert.equal(ok<Json>(await context.exec(second.id, { cmd: 'cat /workspace/note' })).output, 'kept\n');
      assert.deepEqual(ok(await api().delete(`/v1/workspaces/${id}`)), { ok: true });
      assertApiError(await api().get(`/v1/workspaces/${id}`), 404, 'WORKSPACE_NOT_FOUND');
      assertApiError(await api().get(`/v1/sessions/${second.id}`), 404, 'SESSION_NOT_FOUND');
      assert.equal(await inspectContainer(second.container_id), undefined, 'its session went with it');
      assert.deepEqual(ok(await api().delete(`/v1/workspaces/${id}`)), { ok: true }, 'deleting it again is done already (v1)');
    });

    it('takes a workspace_id of exactly 64 characters and refuses malformed ones with 400', async () => {
      const longest = `w${'0123456789abcdef'.repeat(4).slice(0, 62)}z`;
      assert.equal(longest.length, 64);
      const session = await context.newSession({ workspace_id: longest });
      assert.equal(session.workspace_id, longest);
      const workspacesBefore = await workspaceIds();
      assert.ok(workspacesBefore.includes(longest));
      const malformed: unknown[] = [`${longest}a`, 'a', 'Upper-case', '-leading', 'trailing-', 'under_score', 'dot.ted', 'sp ace', 'slash/ed', '..', 'ümlaut', 'a\u0000b', 12, true, ['x'], { id: 'x' }];
      for (const workspaceId of malformed) {
        const error = assertApiError(await api().post('/v1/sessions', { workspace_id: workspaceId }), 400, 'INVALID_REQUEST');
        assert.match(error.message, /workspace_id/, `the message names the field: ${error.message}`);
      }
      assert.deepEqual(await workspaceIds(), workspacesBefore, 'no workspace was made for the malformed ids');
    });

    it('makes one workspace when two sessions name a new one at once', async () => {
      const [a, b] = await Promise.all([context.newSession({ workspace_id: 'raced-project' }), context.newSession({ workspace_id: 'raced-project' })]);
      assert.notEqual(a.id, b.id);
      const workspace = ok<Json>(await api().get('/v1/workspaces/raced-project'));
      assert.deepEqual([workspace.session_count, workspace.active_session_count], [2, 2]);
      assert.equal(ok<{ workspaces: Json[] }>(await api().get('/v1/workspaces')).workspaces.filter((w) => w.id === 'raced-project').length, 1);
    });

    it('gives a session the workspace_kind asked for: session without a workspace_id, persistent with one, by default', async () => {
      const networks = async (session: Session) => ok<Json>(await context.exec(session.id, { cmd: 'ls /sys/class/net' })).output as string;
      const disposable = await context.newSession();
      assert.equal(disposable.workspace_kind, 'session');
      assert.match(await networks(disposable), /eth0/, 'a session-kind workspace has outbound network');
      const ephemeral = await context.newSession({ workspace_kind: 'ephemeral' });
      assert.equal(ephemeral.workspace_kind, 'ephemeral');
      assert.equal(ok<Json>(await api().get(`/v1/workspaces/${ephemeral.workspace_id}`)).kind, 'ephemeral');
      assert.equal(await networks(ephemeral), 'lo\n', 'an ephemeral one has no network at all');
      ok(await api().delete(`/v1/sessions/${ephemeral.id}`));
      assertApiError(await api().get(`/v1/workspaces/${ephemeral.workspace_id}`), 404, 'WORKSPACE_NOT_FOUND');
      const collaborative = await context.newSession({ workspace_id: 'shared-board', workspace_kind: 'collaborative' });
      assert.equal(collaborative.workspace_kind, 'collaborative');
      assert.equal(ok<Json>(await api().get('/v1/workspaces/shared-board')).kind, 'collaborative');
    });

    it('makes a workspace ahead of its sessions with POST /v1/workspaces, refusing a taken id with 409', async () => {
      const made = ok<Json>(await api().post('/v1/workspaces', { id: 'made-ahead', kind: 'session' }), 201);
      context.keepTidy('made-ahead');
      assert.deepEqual([made.id, made.kind, made.origin], ['made-ahead', 'session', 'api']);
      assertApiError(await api().post('/v1/workspaces', { id: 'made-ahead' }), 409, 'CONFLICT');
      assertApiError(await api().post('/v1/workspaces', {}), 400, 'INVALID_REQUEST');
      assertApiError(await api().post('/v1/workspaces', { id: 'Bad_Id' }), 400, 'INVALID_REQUEST');
      const named = ok<Json>(await api().post('/v1/workspaces', { name: 'by-name' }), 201);
      context.keepTidy(named.id as string);
      assert.match(named.id as string, /^by-name-[0-9a-f]{8}$/);
      const session = await context.newSession({ workspace_id: 'made-ahead' });
      assert.equal(session.workspace_kind, 'session', 'a session on it takes the workspace as it is');
    });
  });

  describe('leases', () => {
    it('sets expires_at to created_at + ttl_seconds, the default 30 min when none or 0 is given', async () => {
      const lease = (session: Session) => Date.parse(session.expires_at!) - Date.parse(session.created_at);
      const near = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) <= 1_000, `lease ${actual} ms, ${expected} ms expected`);
      near(lease(await context.newSession({ ttl_seconds: 600 })), 600_000);
      near(lease(await context.newSession({})), DEFAULT_TTL_MS);
      near(lease(await context.newSession({ ttl_seconds: 0 })), DEFAULT_TTL_MS);
      near(lease(ok<Session>(await api().get(`/v1/sessions/${(await context.newSession({ ttl_seconds: 86_400 })).id}`))), 86_400_000);
    });

    it('moves the lease to at least the default from now when the session is used', async () => {
      const session = await context.newSession({ ttl_seconds: 60 });
      const before = Date.now();
      ok(await context.exec(session.id, { cmd: 'true' }));
      const extended = Date.parse(ok<Session>(await api().get(`/v1/sessions/${session.id}`)).expires_at!);
      assert.ok(extended >= before + DEFAULT_TTL_MS - 1_000, `expires_at moved to ${new Date(extended).toISOString()}`);
    });

    it('destroys a session when its lease ends, with the workspace made for it alone; a named workspace stays', async () => {
      const disposable = await context.newSession({ ttl_seconds: 1 });
      const named = await context.newSession({ ttl_seconds: 1, workspace_id: 'outlives-lease' });
      // The reaper looks every 30 s; reading a session does not extend its lease.
      await waitFor(
        'both leases to end',
        async () => {
          const [a, b] = await Promise.all([api().get(`/v1/sessions/${disposable.id}`), api().get(`/v1/sessions/${named.id}`)]);
          return a.status === 404 && b.status === 404 ? true : undefined;
        },
        40_000,
      );
      assert.equal(await inspectContainer(disposable.container_id), undefined);
      assert.equal(await inspectContainer(named.container_id), undefined);
      assertApiError(await api().get(`/v1/workspaces/${disposable.workspace_id}`), 404, 'WORKSPACE_NOT_FOUND');
      assert.equal(ok<Json>(await api().get('/v1/workspaces/outlives-lease')).session_count, 0, 'the named workspace stays');
    });
  });

  describe('background processes', () => {
    let session: Session;
    before(async () => {
      session = await context.newSession();
    });

    it('starts one (201), lists it, pages its output by offset and waits for its exit code', async () => {
      const started = ok<Json>(await api().post(`/v1/sessions/${session.id}/processes`, { cmd: "for i in 1 2 3; do echo p$i; sleep 0.2; done; echo e >&2; sh -c 'exit 3'" }), 201);
      assert.match(started.id as string, /^proc-/);
      assert.deepEqual([started.session_id, started.state, started.exit_code], [session.id, 'running', null]);
      const listed = ok<{ processes: Json[] }>(await api().get(`/v1/sessions/${session.id}/processes`)).processes;
      assert.ok(listed.some((p) => p.id === started.id));
      assert.equal(ok<Json>(await api().get(`/v1/processes/${started.id}`)).command, started.command);

      let offset = 0;
      let text = '';
      for (let page = 0; ; page++) {
        assert.ok(page < 100, 'the output ends');
        const body = ok<{ chunks: Array<{ stream: string; data: string }>; next_offset: number; dropped_bytes: number; process: Json }>(
          await api().get(`/v1/processes/${started.id}/output?offset=${offset}&wait_ms=5000`),
        );
        assert.equal(body.dropped_bytes, 0);
        assert.ok(body.next_offset >= offset);
        text += body.chunks.map((c) => `${c.stream}:${c.data}`).join('');
        if (body.chunks.length === 0 && body.process.state === 'exited') break;
        offset = body.next_offset;
      }
      assert.equal(text, 'stdout:p1\nstdout:p2\nstdout:p3\nstderr:e\n', 'each byte once, in order');
      const waited = ok<Json>(await api().post(`/v1/processes/${started.id}/wait`, { timeout_ms: 30_000 }));
      assert.deepEqual([waited.state, waited.exit_code, typeof waited.ended_at], ['exited', 3, 'string']);
    });

    it('signals one, waits with a timeout, and refuses bad signals and queries with 400', async () => {
      const started = ok<Json>(await api().post(`/v1/sessions/${session.id}/processes`, { cmd: 'sleep 307' }), 201);
      await waitUntilRunning(session.id, /sleep 307/);
      const stillRunning = ok<Json>(await api().post(`/v1/processes/${started.id}/wait`, { timeout_ms: 200 }));
      assert.equal(stillRunning.state, 'running', 'wait returns at its timeout while it runs');
      assertApiError(await api().post(`/v1/processes/${started.id}/signal`, { signal: 'HUP' }), 400, 'INVALID_REQUEST');
      assertApiError(await api().post(`/v1/processes/${started.id}/signal`, { signal: 9 }), 400, 'INVALID_REQUEST');
      assertApiError(await api().get(`/v1/processes/${started.id}/output?offset=-1`), 400, 'INVALID_REQUEST');
      assertApiError(await api().get(`/v1/processes/${started.id}/output?wait_ms=600001`), 400, 'INVALID_REQUEST');
      assertApiError(await api().get(`/v1/processes/${started.id}/output?offset=abc`), 400, 'INVALID_REQUEST');
      assertApiError(await api().post(`/v1/sessions/${session.id}/processes`, { cmd: '' }), 400, 'INVALID_REQUEST');
      assertApiError(await api().post(`/v1/processes/proc-000000000000/signal`, { signal: 'TERM' }), 404, 'PROCESS_NOT_FOUND');
      ok(await api().post(`/v1/processes/${started.id}/signal`, { signal: 'TERM' }));
      const ended = ok<Json>(await api().post(`/v1/processes/${started.id}/wait`, { timeout_ms: 30_000 }));
      assert.deepEqual([ended.state, ended.exit_code], ['exited', 143]);
      await waitUntilGone(session.id, /sleep 307/);
    });
  });
});

describe('the HTTP API listener across a restart and when turned off', () => {
  const sidecar = useSidecar();
  const { waitUntilRunning, waitUntilGone } = containerProbes(sidecar);

  it('keeps its port (api.port 0), its token and its sessions across a sidecar restart', async () => {
    const first = await enableApi(sidecar.client, { 'api.port': 0 });
    const api = new ApiClient(first.url, first.token);
    try {
      const session = ok<Session>(await api.post('/v1/sessions', {}), 201);
      await sidecar.shutdown();
      await sidecar.reconnect();
      const info = await sidecar.client.request(P.ApiInfoRequest.type, {});
      assert.deepEqual([info.enabled, info.port, info.url, info.token], [true, first.port, first.url, first.token]);
      assert.deepEqual(ok(await api.get('/healthz')), { status: 'ok' });
      assert.equal(ok<Session>(await api.get(`/v1/sessions/${session.id}`)).status, 'running');
      assert.equal(ok<Json>(await api.post(`/v1/sessions/${session.id}/exec`, { cmd: 'echo after-restart' })).output, 'after-restart\n');
      ok(await api.delete(`/v1/sessions/${session.id}`));
    } finally {
      api.close();
    }
  });

  it('closes its port when api.enabled is turned off, ending open streams and their commands, and opens it again on the same port', async () => {
    const { url, token, port } = await enableApi(sidecar.client);
    const api = new ApiClient(url, token);
    try {
      const session = ok<Session>(await api.post('/v1/sessions', {}), 201);
      const res = await api.open('POST', `/v1/sessions/${session.id}/exec/stream`, { json: { cmd: 'echo started; sleep 308', timeout_ms: SAFETY_TIMEOUT_MS } });
      res.on('error', () => undefined);
      const stream = followSse(res);
      await stream.until((message) => message.event === 'chunk');
      await waitUntilRunning(session.id, /sleep 308/);
      await sidecar.client.request(P.SetConfigRequest.type, { values: { 'api.enabled': false } });
      const info = await sidecar.client.request(P.ApiInfoRequest.type, {});
      assert.deepEqual([info.enabled, info.url], [false, undefined]);
      await stream.ended;
      await waitUntilGone(session.id, /sleep 308/);
      await assert.rejects(api.get('/healthz', { headers: { connection: 'close' } }), (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED');
      const again = await enableApi(sidecar.client);
      assert.equal(again.port, port, 'the same port again');
      assert.equal(ok<Json>(await api.post(`/v1/sessions/${session.id}/exec`, { cmd: 'echo reopened' })).output, 'reopened\n');
      ok(await api.delete(`/v1/sessions/${session.id}`));
    } finally {
      api.close();
    }
  });
});
