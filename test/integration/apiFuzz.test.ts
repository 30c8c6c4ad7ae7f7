/**
 * The HTTP API under a few thousand malformed requests, generated deterministically (a seeded
 * PRNG): bad JSON, wrong types for every field, bodies over the limit, slow bodies and headers
 * that never end, odd paths and methods, unknown ids, broken multipart against the upload
 * routes, missing and extra headers. Every answer must be a 4xx with a JSON body
 * `{error_code, message}` (no 5xx, no HTML, no stack trace); between batches the sidecar must
 * still answer /healthz and run a real command; at the end nothing may have changed in its
 * database or in Docker.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { ApiClient, enableApi, rawExchange, type RawAnswer } from './apiClient';
import { instanceObjects, P, useSidecar } from './harness';

type Json = Record<string, unknown>;

const SEED = 0x5a4d6b31;
/** Requests in flight at once. */
const CONCURRENCY = 16;
/** A health check (healthz and a real exec) after this many requests. */
const BATCH = 200;
/** Headers are cut off after 10 s, requests after 60 s; Node looks every 30 s, so answers come by 40 s and 90 s. */
const SLOW_HEADERS_LIMIT_MS = 60_000;
const SLOW_BODY_LIMIT_MS = 110_000;
const MiB = 1024 * 1024;

/** mulberry32: small, fast, and the same sequence for the same seed. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (max: number) => Math.floor(next() * max),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)],
  };
}

/** One malformed request, and what it is for the report. */
interface FuzzRequest {
  kind: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** null: no Authorization header. */
  token?: string | null;
  /** The check for this request when it is not "a 4xx JSON error" (problemOf). */
  check?: (answer: Answer) => string | undefined;
}

/** Bytes written as they are on a new connection: what no HTTP client would send. */
interface RawRequest {
  kind: string;
  raw: string | Buffer | ((socket: Socket) => void);
  limitMs?: number;
  check?: (answer: Answer) => string | undefined;
}

interface Answer {
  status?: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Why an answer is not a proper refusal, or undefined when it is one. */
function problemOf(answer: Answer, method: string): string | undefined {
  if (answer.status === undefined) return 'no answer: the connection was closed';
  if (answer.status >= 500) return `a ${answer.status} (server error)`;
  if (answer.status < 400) return `a ${answer.status}, not refused`;
  const type = String(answer.headers['content-type'] ?? '');
  if (!/^application\/json/.test(type)) return `a ${answer.status} without a JSON body (Content-Type: ${type || 'none'}, body: ${JSON.stringify(answer.text.slice(0, 60))})`;
  if (method === 'HEAD') return undefined;
  let body: Json;
  try {
    body = JSON.parse(answer.text) as Json;
  } catch {
    return `a ${answer.status} whose body is not JSON`;
  }
  if (typeof body.error_code !== 'string' || typeof body.message !== 'string' || body.message === '') return `a ${answer.status} whose body is not {error_code, message}`;
  if (/<html|\n\s+at |node_modules|\/work\/|\.[jt]s:\d+/i.test(answer.text)) return `a ${answer.status} with internal details: ${answer.text.slice(0, 120)}`;
  return undefined;
}

/** Problems found, grouped by kind of request and problem, with a few examples each. */
class Findings {
  private readonly groups = new Map<string, { count: number; examples: string[] }>();
  total = 0;

  record(kind: string, request: string, answer: Answer, method: string, check?: (answer: Answer) => string | undefined): void {
    this.total++;
    const problem = check ? check(answer) : problemOf(answer, method);
    if (!problem) return;
    const key = `${kind}: ${problem}`;
    const group = this.groups.get(key) ?? { count: 0, examples: [] };
    group.count++;
    if (group.examples.length < 3) group.examples.push(request.slice(0, 160));
    this.groups.set(key, group);
  }

  /** Fails with every group, its count and examples, unless there is none. */
  assertNone(what: string): void {
    const lines = [...this.groups].map(([key, { count, examples }]) => `- ${key} (${count}×), e.g.\n    ${examples.join('\n    ')}`);
    assert.equal(lines.length, 0, `${what}: ${lines.length} kinds of wrong answers among ${this.total} requests:\n${lines.join('\n')}`);
  }
}

function describeRequest(request: FuzzRequest): string {
  const body = request.body === undefined ? '' : ` body ${JSON.stringify(Buffer.from(request.body).toString('utf8').slice(0, 80))}${Buffer.byteLength(request.body) > 80 ? `… (${Buffer.byteLength(request.body)} bytes)` : ''}`;
  const headers = request.headers ? ` headers ${JSON.stringify(request.headers).slice(0, 80)}` : '';
  return `${request.method} ${request.path.slice(0, 100)}${request.path.length > 100 ? `… (${request.path.length} chars)` : ''}${headers}${body}`;
}

function rawText(raw: RawRequest['raw']): string {
  return typeof raw === 'function' ? '(written over time)' : JSON.stringify(Buffer.from(raw).toString('latin1').slice(0, 140));
}

/** What differs between two snapshots, one line per thing made, gone or changed. */
function changesBetween<T extends Record<string, unknown[]>>(before: T, after: T): string[] {
  const changes: string[] = [];
  for (const area of Object.keys(before)) {
    const key = (item: unknown) => (typeof item === 'string' ? item : String((item as { id: unknown }).id));
    const old = new Map(before[area].map((item) => [key(item), JSON.stringify(item)]));
    const now = new Map(after[area].map((item) => [key(item), JSON.stringify(item)]));
    for (const [id, item] of now) {
      if (!old.has(id)) changes.push(`${area}: made ${item}`);
      else if (old.get(id) !== item) changes.push(`${area}: changed ${old.get(id)} → ${item}`);
    }
    for (const [id, item] of old) if (!now.has(id)) changes.push(`${area}: gone ${item}`);
  }
  return changes;
}

/** A caller-named workspace id (v1's rule): deleting one that does not exist is done already (200). */
function couldBeWorkspaceId(pathSegment: string): boolean {
  let id: string;
  try {
    id = decodeURIComponent(pathSegment);
  } catch {
    return false;
  }
  if (id.startsWith('sandkasten-ws-') && id.length > 'sandkasten-ws-'.length) id = id.slice('sandkasten-ws-'.length);
  return id.length >= 2 && id.length <= 64 && /^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(id);
}

/** v1: DELETE of a missing workspace is a 200 {ok: true} when the id could be one, a 400 when it cannot. */
function deletedWorkspaceCheck(pathSegment: string): (answer: Answer) => string | undefined {
  return (answer) => {
    if (!couldBeWorkspaceId(pathSegment)) return problemOf(answer, 'DELETE');
    if (answer.status !== 200) return problemOf(answer, 'DELETE') ?? undefined;
    return answer.text.trim() === '{"ok":true}' ? undefined : `a 200 with ${answer.text.slice(0, 80)}`;
  };
}

/** True when the server would take this body as a JSON object: such a body is not malformed. */
function isJsonObject(body: string | Buffer): boolean {
  try {
    const value: unknown = JSON.parse(Buffer.from(body).toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

describe('the HTTP API under malformed requests', () => {
  let api: ApiClient;
  let baseUrl = '';
  let token = '';
  let control: P.SessionInfo;
  /** A session that only a request that should be refused could destroy (a path with dot segments). */
  let victim: P.SessionInfo;
  const namedWorkspace = 'fuzz-target';
  /** Requests sent so far, all tests together. */
  let sent = 0;
  let checks = 0;
  let slowAnswers: Promise<Array<{ kind: string; request: string; answer: Answer }>>;

  // Registered before useSidecar's hooks, so it runs while the sidecar still answers.
  after(() => api?.close());
  const sidecar = useSidecar();

  /** What must not change: the database's workspaces, sessions and processes, and Docker's objects of this instance. */
  async function snapshot() {
    const [workspaces, sessions, processes, objects] = await Promise.all([
      sidecar.client.request(P.ListWorkspacesRequest.type, {}),
      sidecar.client.request(P.ListSessionsRequest.type, {}),
      sidecar.client.request(P.ListProcessesRequest.type, {}),
      instanceObjects(sidecar.instanceId),
    ]);
    return {
      // Using the control session moves its workspace's access time and counters: those may change.
      workspaces: workspaces.map(({ id, name, kind, image, state, volume, origin, description, tags, pinned, createdAt }) => ({ id, name, kind, image, state, volume, origin, description, tags, pinned, createdAt })),
      sessions: sessions.map(({ id, workspaceId, state, containerId, origin, expiresAt, createdAt, startedAt }) => ({ id, workspaceId, state, containerId, origin, expiresAt, createdAt, startedAt })),
      processes: processes.map(({ id, sessionId, command }) => ({ id, sessionId, command })),
      containers: objects.containers.map((c) => `${c.Names[0]} ${c.State} ${c.Image}`).sort(),
      volumes: objects.volumes.map((v) => v.Name).sort(),
      networks: objects.networks.map((n) => n.Name).sort(),
    };
  }
  let initial: Awaited<ReturnType<typeof snapshot>>;

  /** The sidecar still answers /healthz and runs a real command over HTTP. */
  async function assertResponsive(): Promise<void> {
    checks++;
    const health = await api.get('/healthz', { token: null });
    assert.equal(health.status, 200, `healthz after ${sent} requests: ${health.status} ${health.text}`);
    const result = await api.post(`/v1/sessions/${control.id}/exec`, { cmd: `echo alive-${checks}`, timeout_ms: 30_000 });
    assert.equal(result.status, 200, `a real exec after ${sent} requests: ${result.status} ${result.text}`);
    assert.equal(result.json<Json>().output, `alive-${checks}\n`);
  }

  async function send(request: FuzzRequest, findings: Findings): Promise<void> {
    sent++;
    let answer: Answer;
    try {
      const response = await api.request(request.method, request.path, { headers: request.headers, body: request.body, token: request.token === undefined ? token : request.token });
      answer = { status: response.status, headers: response.headers, text: response.text };
    } catch (error) {
      answer = { headers: {}, text: (error as Error).message };
    }
    findings.record(request.kind, describeRequest(request), answer, request.method, request.check);
  }

  /** The same request as bytes on a socket of its own, read by rawExchange (which keeps an answer that came early). */
  function asRaw(request: FuzzRequest): RawRequest {
    const body = request.body === undefined ? Buffer.alloc(0) : Buffer.from(request.body);
    const headers = { host: 'x', authorization: `Bearer ${token}`, ...request.headers, 'content-length': String(body.length) };
    const head = `${request.method} ${request.path} HTTP/1.1\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;
    return { kind: request.kind, raw: Buffer.concat([Buffer.from(head), body]) };
  }

  async function sendRaw(request: RawRequest, findings: Findings): Promise<void> {
    sent++;
    let answer: RawAnswer | Answer;
    try {
      answer = await rawExchange(baseUrl, request.raw, request.limitMs ?? 15_000);
    } catch (error) {
      answer = { headers: {}, text: '', body: '', raw: (error as Error).message } as RawAnswer;
    }
    const method = typeof request.raw === 'function' ? 'GET' : (/^(\S+)/.exec(Buffer.from(request.raw).toString('latin1'))?.[1] ?? '');
    findings.record(request.kind, rawText(request.raw), { status: answer.status, headers: (answer as RawAnswer).headers, text: (answer as RawAnswer).body }, method, request.check);
  }

  /** Sends them CONCURRENCY at a time, checking the sidecar between batches; answers the wrong answers found. */
  async function run(requests: Array<FuzzRequest | RawRequest>): Promise<Findings> {
    const findings = new Findings();
    for (let start = 0; start < requests.length; start += BATCH) {
      const batch = requests.slice(start, start + BATCH);
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(CONCURRENCY, batch.length) }, async () => {
          while (next < batch.length) {
            const request = batch[next++];
            await ('raw' in request ? sendRaw(request, findings) : send(request, findings));
          }
        }),
      );
      await assertResponsive();
    }
    return findings;
  }

  before(async () => {
    ({ url: baseUrl, token } = await enableApi(sidecar.client));
    api = new ApiClient(baseUrl, token);
    control = await sidecar.newSession('fuzz-control');
    victim = await sidecar.newSession('fuzz-victim');
    assert.equal((await api.post('/v1/workspaces', { id: namedWorkspace, kind: 'session' })).status, 201);
    initial = await snapshot();
    // The slow ones take up to 90 s to be cut off: they run while everything else does.
    slowAnswers = Promise.all(slowRequests().map(async (request) => {
      const answer = await rawExchange(baseUrl, request.raw, request.limitMs).catch((error: Error) => ({ status: undefined, headers: {}, body: '', raw: error.message }) as RawAnswer);
      return { kind: request.kind, request: request.description, answer: { status: answer.status, headers: answer.headers, text: answer.body } };
    }));
  });

  /** Headers that never end (silent, or dribbled a byte a second) and bodies that never come. */
  function slowRequests(): Array<{ kind: string; description: string; raw: (socket: Socket) => void; limitMs: number }> {
    const dribble = (prefix: string) => (socket: Socket) => {
      socket.write(prefix);
      const timer = setInterval(() => (socket.writable ? socket.write('x') : clearInterval(timer)), 1_000);
      socket.once('close', () => clearInterval(timer));
    };
    const auth = `Authorization: Bearer ${token}\r\n`;
    return [
      { kind: 'headers that never end', description: 'GET /v1/sessions, headers stop mid-line', raw: (socket) => socket.write(`GET /v1/sessions HTTP/1.1\r\nHost: x\r\n${auth}X-Slow: `), limitMs: SLOW_HEADERS_LIMIT_MS },
      { kind: 'headers that never end', description: 'GET /v1/sessions, a header dribbled a byte a second', raw: dribble(`GET /v1/sessions HTTP/1.1\r\nHost: x\r\n${auth}X-Slow: `), limitMs: SLOW_HEADERS_LIMIT_MS },
      { kind: 'headers that never end', description: 'only the request line', raw: (socket) => socket.write('POST /v1/sessions HTTP/1.1\r\n'), limitMs: SLOW_HEADERS_LIMIT_MS },
      { kind: 'slow bodies', description: `POST exec, Content-Length 1000, 8 bytes sent`, raw: (socket) => socket.write(`POST /v1/sessions/${control.id}/exec HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"cmd":"`), limitMs: SLOW_BODY_LIMIT_MS },
      { kind: 'slow bodies', description: 'POST /v1/sessions, a body dribbled a byte a second', raw: dribble(`POST /v1/sessions HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 100000\r\n\r\n{"image":"`), limitMs: SLOW_BODY_LIMIT_MS },
      { kind: 'slow bodies', description: 'POST /v1/workspaces, chunked, a chunk that never ends', raw: (socket) => socket.write(`POST /v1/workspaces HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\n10\r\n{"id":"`), limitMs: SLOW_BODY_LIMIT_MS },
    ];
  }

  it('refuses bodies that are not JSON objects on every JSON route', async () => {
    const random = prng(SEED);
    const routes = [
      '/v1/sessions',
      `/v1/sessions/${control.id}/exec`,
      `/v1/sessions/${control.id}/exec/stream`,
      `/v1/sessions/${control.id}/processes`,
      '/v1/workspaces',
      '/v1/processes/proc-000000000000/signal',
      '/v1/processes/proc-000000000000/wait',
      `/v1/sessions/${control.id}/fs/write`,
      `/v1/workspaces/${namedWorkspace}/fs/write`,
    ];
    const templates = [
      '{"cmd":"echo fuzz","timeout_ms":1000,"raw_output":false}',
      '{"image":"base","ttl_seconds":60,"workspace_id":"fuzz-made"}',
      '{"id":"fuzz-made","kind":"session","tags":["a","b"]}',
      '{"path":"/workspace/fuzz.txt","text":"hello"}',
      '{"signal":"TERM","timeout_ms":100}',
    ];
    const fixed: Array<string | Buffer> = [
      '', ' ', '\n', 'null', 'true', '0', '-1', '"text"', '[]', '[{}]', '[1,2]', '{', '}', '{}}', '{"a":1,}', "{'cmd':'x'}", '{cmd:"x"}', '{"cmd":"x" /* c */}',
      '{"cmd":NaN}', '{"cmd":undefined}', '{"cmd":Infinity}', '{"cmd":"\\x41"}', '{"cmd":"\\u12"}', '\uFEFF{"cmd":"x"}', '{"cmd":"x"}\u0000garbage{',
      Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), Buffer.from([0x00, 0x00, 0x00]), '[' .repeat(50_000), '{"a":'.repeat(20_000), `"${'x'.repeat(100_000)}"`,
      `[${'1,'.repeat(100_000)}1]`, '1e999999', '{"cmd":"x"', '{"cmd":"\u0000', Buffer.from('{"cmd":"\xc3\x28"', 'latin1'),
    ];
    const bodies: Array<string | Buffer> = [...fixed];
    const mutate = (text: string): string => {
      const at = random.int(text.length);
      switch (random.int(6)) {
        case 0:
          return text.slice(0, at); // a strict prefix of an object is never JSON
        case 1:
          return text.slice(0, at) + random.pick(['{', '}', '[', ']', ',', ':', '"', '\\', "'", '\u0000', '\n', 'NaN', '//', '/*']) + text.slice(at);
        case 2:
          return text.slice(0, at) + text.slice(at + 1 + random.int(4));
        case 3:
          return text.replace(/[{}[\]":,]/, () => random.pick(['(', ')', '<', '>', ';', '=']));
        case 4:
          return `${text}${random.pick(['}', ']', ',', 'x', '{'])}`;
        default:
          return random.pick(['[', '"', '1', 'n', 't', '-']) + text;
      }
    };
    while (bodies.length < 1_300) {
      const body = mutate(mutate(random.pick(templates)));
      if (!isJsonObject(body)) bodies.push(body);
    }
    const requests = bodies.map((body, index): FuzzRequest => ({
      kind: 'bad JSON',
      method: 'POST',
      path: routes[index % routes.length],
      body,
      headers: index % 3 === 0 ? {} : { 'content-type': random.pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1']) },
    }));
    const findings = await run(requests);
    findings.assertNone('bad JSON');
  });

  it('refuses a wrong type or value for every field of every route', async () => {
    // Not Infinity: JSON.stringify makes it null, which is "not given" (see the literal bodies below).
    const wrongInteger = ['60', 1.5, -1, true, [], {}, [1], '', 2 ** 53 + 2, 0.0001];
    const wrongBoolean = ['true', 1, 0, [], {}, 'false'];
    const wrongString = [5, 0, true, false, [], ['x'], {}, { a: 1 }];
    const exec = { cmd: 'echo fuzz-must-not-run' };
    /** Route, a body that is valid apart from the field, the field, and values that are wrong for it. */
    const matrix: Array<[string, Json, string, unknown[]]> = [
      ['/v1/sessions', {}, 'ttl_seconds', [...wrongInteger, 86_401, 1e9, -86_400]],
      ['/v1/sessions', {}, 'image', [...wrongString, 'Not Valid!', 'a b', '../x', 'UPPER/case', 'x:', '@sha256:zz', 'a'.repeat(300), 'trailing-', 'ü']],
      ['/v1/sessions', {}, 'workspace_id', [...wrongString, 'A', 'a', '-x', 'x-', 'x_y', 'x.y', 'a'.repeat(65), 'ü-x', 'x/y', '..', 'a b']],
      ['/v1/sessions', {}, 'workspace_kind', [...wrongString, 'forever', 'EPHEMERAL', 'ephemeral ', 'persistent\u0000']],
      ['/v1/sessions', { workspace_id: 'fuzz-made' }, 'workspace_kind', ['nope', 5]],
      ['/v1/sessions', { workspace_id: 'fuzz-made' }, 'ttl_seconds', [-5, 'x']],
      [`/v1/sessions/${control.id}/exec`, {}, 'cmd', [...wrongString, '', null]],
      [`/v1/sessions/${control.id}/exec`, exec, 'timeout_ms', [...wrongInteger, 600_001, 1e12, -600_000]],
      [`/v1/sessions/${control.id}/exec`, exec, 'raw_output', wrongBoolean],
      [`/v1/sessions/${control.id}/exec`, exec, 'side_by_side', wrongBoolean],
      [`/v1/sessions/${control.id}/exec`, exec, 'clean_shell', wrongBoolean],
      [`/v1/sessions/${control.id}/exec/stream`, {}, 'cmd', [...wrongString, '', null]],
      [`/v1/sessions/${control.id}/exec/stream`, exec, 'timeout_ms', [...wrongInteger, 600_001]],
      [`/v1/sessions/${control.id}/exec/stream`, exec, 'raw_output', wrongBoolean],
      [`/v1/sessions/${control.id}/exec/stream`, exec, 'side_by_side', wrongBoolean],
      [`/v1/sessions/${control.id}/processes`, {}, 'cmd', [...wrongString, '', null]],
      ['/v1/workspaces', {}, 'id', [...wrongString, 'Bad_Id', '-x', 'x-', 'a', 'a'.repeat(65)]],
      ['/v1/workspaces', {}, 'name', [...wrongString, 'Bad Name!', '-x', 'a'.repeat(100)]],
      ['/v1/workspaces', { name: 'fuzz-made' }, 'kind', [...wrongString, 'forever']],
      ['/v1/workspaces', { name: 'fuzz-made' }, 'image', [...wrongString, 'Not Valid!']],
      ['/v1/workspaces', { name: 'fuzz-made' }, 'description', wrongString],
      ['/v1/workspaces', { name: 'fuzz-made' }, 'tags', ['x', 5, [1], [{}], [null], {}, [['x']]]],
      ['/v1/processes/proc-000000000000/signal', {}, 'signal', [...wrongString, 'HUP', 'kill', '', 'SIGTERM']],
      ['/v1/processes/proc-000000000000/wait', {}, 'timeout_ms', [...wrongInteger, 600_001]],
    ];
    const requests: FuzzRequest[] = [];
    for (const [path, base, field, values] of matrix) {
      for (const value of values) {
        requests.push({ kind: `wrong ${field}`, method: 'POST', path, body: JSON.stringify({ ...base, [field]: value }), headers: { 'content-type': 'application/json' } });
      }
    }
    // Numbers JSON has but JavaScript's integers are not.
    for (const [path, field] of [['/v1/sessions', 'ttl_seconds'], [`/v1/sessions/${control.id}/exec`, 'timeout_ms'], ['/v1/processes/proc-000000000000/wait', 'timeout_ms']]) {
      for (const number of ['1e400', '-1e400', '1.0e2.5', '0x10', '+5', '.5', '5.', '01', '-', '1e2e3']) {
        const base = path.endsWith('/exec') ? '"cmd":"echo fuzz-must-not-run",' : '';
        requests.push({ kind: `wrong ${field}`, method: 'POST', path, body: `{${base}"${field}":${number}}`, headers: { 'content-type': 'application/json' } });
      }
    }
    // Image names looked up among the api.images aliases that every JavaScript object has (none is a valid reference).
    for (const image of ['__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__', 'toLocaleString', 'propertyIsEnumerable']) {
      requests.push({ kind: 'image named like an Object.prototype member', method: 'POST', path: '/v1/sessions', body: JSON.stringify({ image }), headers: { 'content-type': 'application/json' } });
    }
    const findings = await run(requests);
    findings.assertNone('wrong field types');
  });

  it('refuses bodies over 2 MiB with 413, by Content-Length or as they are read', async () => {
    const big = (size: number) => JSON.stringify({ cmd: 'echo fuzz-must-not-run', padding: 'x'.repeat(size) });
    const routes = ['/v1/sessions', `/v1/sessions/${control.id}/exec`, `/v1/sessions/${control.id}/exec/stream`, `/v1/sessions/${control.id}/processes`, '/v1/workspaces', '/v1/processes/proc-000000000000/wait'];
    const exactly413 = (answer: Answer) => problemOf(answer, 'POST') ?? (answer.status === 413 && /"PAYLOAD_TOO_LARGE"/.test(answer.text) ? undefined : `a ${answer.status}, not 413 PAYLOAD_TOO_LARGE`);
    const requests: RawRequest[] = [];
    for (const path of routes) {
      const body = Buffer.from(big(2 * MiB));
      const head = (length: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n${length}\r\n`;
      requests.push({ kind: 'body over 2 MiB (Content-Length)', raw: Buffer.concat([Buffer.from(head(`Content-Length: ${body.length}\r\n`)), body]) });
      requests.push({ kind: 'body over 2 MiB (Content-Length only, no body sent)', raw: head('Content-Length: 3000000\r\n') });
      requests.push({ kind: 'body over 2 MiB (chunked)', raw: Buffer.concat([Buffer.from(head('Transfer-Encoding: chunked\r\n')), ...Array.from({ length: 3 }, () => Buffer.from(`100000\r\n${'x'.repeat(0x100000)}\r\n`)), Buffer.from('0\r\n\r\n')]) });
    }
    const findings = await run(requests.map((request) => ({ ...request, check: exactly413 })));
    findings.assertNone('bodies over 2 MiB');
  });

  it('refuses odd paths: dot segments, %00, bad escapes, very long, unicode, double slashes', async () => {
    const random = prng(SEED + 1);
    const known = [control.id, namedWorkspace];
    const segments = ['..', '.', '%2e%2e', '%2E.', '.%2e', '%00', '%ZZ', '%', '%2F', '%5C', '%2f..%2f', '\\', '%C3%BC', '%F0%9F%98%80', '%FF', '%C0%AF', 'ses-%00', '%20', '+', '*', '~', ';', '%0d%0a', 'a'.repeat(300), 'a'.repeat(4000)];
    const bases = ['/v1/sessions/', '/v1/workspaces/', '/v1/processes/', '/v1/sessions/ses-000000000000/', '/v1/', '/', '//', '/v1//sessions/', '/V1/SESSIONS/'];
    const paths = new Set<string>([
      // Dot segments that would land on real routes if they were resolved.
      '/v1/sessions/../workspaces',
      '/v1/sessions/%2e%2e/workspaces',
      '/v1/x/../sessions',
      '/v1/./sessions',
      '/v1/sessions/./',
      `/v1/workspaces/x/../../sessions/${victim.id}`,
      `/v1/processes/../sessions/${control.id}/stats`,
      '/./v1/sessions',
      '/v1/sessions/..%2fworkspaces',
      '//v1/sessions',
      '/v1//sessions',
      '/v1/sessions//',
      `/v1/sessions/${control.id}//stats`,
      `/v1/sessions/${control.id}/stats/..`,
      `/${'a'.repeat(8_000)}`,
      `/v1/sessions/${'%41'.repeat(2_000)}`,
      '/healthz/..',
      '/healthz%00',
      '/%2e%2e/%2e%2e/etc/passwd',
    ]);
    while (paths.size < 500) {
      const depth = 1 + random.int(3);
      let path = random.pick(bases);
      for (let i = 0; i < depth; i++) path += (i ? '/' : '') + random.pick(segments);
      if (known.some((id) => path.endsWith(`/${id}`))) continue;
      paths.add(path);
    }
    // A POST body no route takes, so a path that reached a real route still changes nothing.
    const refused = JSON.stringify({ cmd: 5, ttl_seconds: -1, id: 5, name: 5, signal: 5, timeout_ms: -1, path: 5 });
    const requests: FuzzRequest[] = [...paths].flatMap((path) => [
      { kind: 'odd path (GET)', method: 'GET', path },
      // DELETE only where no dot segment could lead to a real session or workspace, except the victim's.
      ...(/(^|\/)(\.|%2e){1,2}(\/|$)/i.test(path) && !path.includes(victim.id) ? [] : [{ kind: 'odd path (DELETE)', method: 'DELETE', path }]),
      { kind: 'odd path (POST)', method: 'POST', path, body: refused, headers: { 'content-type': 'application/json' } },
    ]);
    const raws: RawRequest[] = [
      ...['ü', '\u00e9t\u00e9', '😀', '\u0000', '\t', ' x', '\u007f', '\r'].map((odd) => ({ kind: 'odd path (raw bytes in the target)', raw: Buffer.from(`GET /v1/sessions/${odd} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`) })),
      { kind: 'odd path (target over the header limit)', raw: `GET /v1/sessions/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n` },
      { kind: 'odd path (not a path)', raw: `GET * HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n` },
      { kind: 'odd path (not a path)', raw: `GET http://elsewhere/v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n` },
      { kind: 'odd path (not a path)', raw: `GET v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n` },
      { kind: 'odd path (not a path)', raw: `GET ?x=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n` },
    ];
    const findings = await run([...requests, ...raws]);
    findings.assertNone('odd paths');
  });

  it('refuses odd methods with 405 (or 404) as JSON', async () => {
    const paths = ['/v1/sessions', `/v1/sessions/${control.id}`, `/v1/sessions/${control.id}/exec`, `/v1/sessions/${control.id}/exec/stream`, '/v1/workspaces', `/v1/workspaces/${namedWorkspace}`, '/v1/processes/proc-000000000000', '/healthz', '/v1/nothing'];
    const methods = ['PUT', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'PURGE', 'LINK', 'UNLINK', 'REPORT', 'MKACTIVITY', 'CHECKOUT', 'MERGE', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACL', 'BIND', 'REBIND', 'UNBIND', 'MKCALENDAR', 'QUERY', 'SOURCE'];
    const requests: FuzzRequest[] = paths.flatMap((path) => [
      ...methods.map((method) => ({ kind: `odd method ${method}`, method, path })),
      { kind: 'HEAD on a route without GET', method: 'HEAD', path: path.endsWith('/exec') || path.endsWith('/stream') ? path : '/v1/nothing' },
      // Body-less routes given a body: still not a real request (wrong method).
      { kind: 'odd method with a body', method: 'PUT', path, body: '{"cmd":"echo fuzz-must-not-run"}', headers: { 'content-type': 'application/json' } },
    ]);
    const raws: RawRequest[] = ['FOO', 'get', 'Get', 'G ET', 'GET\t', 'BREW', 'DELETE_ALL', '', '💥', 'CONNECT', 'PRI'].flatMap((method) => [
      { kind: `odd method ${JSON.stringify(method)} (raw)`, raw: `${method} /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n` },
    ]);
    raws.push({ kind: 'HTTP/2 preface', raw: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' });
    raws.push({ kind: 'unknown HTTP version', raw: `GET /v1/sessions HTTP/3.7\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n` });
    raws.push({ kind: 'garbage bytes', raw: Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) % 256)) });
    raws.push({ kind: 'TLS client hello on the plain port', raw: Buffer.from('160301002e0100002a0303', 'hex') });
    const findings = await run([...requests, ...raws]);
    findings.assertNone('odd methods');
  });

  it('answers unknown ids with 404 on every route', async () => {
    const random = prng(SEED + 2);
    const known = new Set([control.id, control.workspaceId, namedWorkspace]);
    const randomId = () => {
      const style = random.int(4);
      if (style === 0) return `ses-${Array.from({ length: 12 }, () => random.int(16).toString(16)).join('')}`;
      if (style === 1) return `proc-${Array.from({ length: 12 }, () => random.int(16).toString(16)).join('')}`;
      if (style === 2) return `${random.pick(['a', 'b', 'x'])}${Array.from({ length: 1 + random.int(30) }, () => random.pick([...'abcdefghijklmnopqrstuvwxyz0123456789-'])).join('')}${random.pick(['a', '1'])}`;
      return encodeURIComponent(Array.from({ length: 1 + random.int(12) }, () => String.fromCodePoint(random.pick([0x41, 0xe9, 0x4e2d, 0x1f600, 0x5f, 0x2e, 0x3a, 0x40, 0x21, 0x7e]))).join(''));
    };
    const requests: FuzzRequest[] = [];
    while (requests.length < 1_000) {
      const id = randomId();
      // Ids of dots only are dot segments: the odd-paths test has those.
      if (known.has(id) || known.has(decodeURIComponent(id)) || /^(\.|%2e)+$/i.test(id)) continue;
      const json = (body: Json) => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      requests.push(
        random.pick<FuzzRequest>([
          { kind: 'unknown session', method: 'GET', path: `/v1/sessions/${id}` },
          { kind: 'unknown session', method: 'DELETE', path: `/v1/sessions/${id}` },
          { kind: 'unknown session', method: 'GET', path: `/v1/sessions/${id}/stats` },
          { kind: 'unknown session', method: 'POST', path: `/v1/sessions/${id}/exec`, ...json({ cmd: 'echo fuzz-must-not-run' }) },
          { kind: 'unknown session', method: 'POST', path: `/v1/sessions/${id}/exec/stream`, ...json({ cmd: 'echo fuzz-must-not-run' }) },
          { kind: 'unknown session', method: 'POST', path: `/v1/sessions/${id}/processes`, ...json({ cmd: 'echo fuzz-must-not-run' }) },
          { kind: 'unknown session', method: 'GET', path: `/v1/sessions/${id}/processes` },
          { kind: 'unknown session', method: 'POST', path: `/v1/sessions/${id}/stop`, ...json({}) },
          { kind: 'unknown session', method: 'POST', path: `/v1/sessions/${id}/start`, ...json({}) },
          { kind: 'unknown session', method: 'GET', path: `/v1/sessions/${id}/fs/read?path=/workspace/x` },
          { kind: 'unknown workspace', method: 'GET', path: `/v1/workspaces/${id}` },
          { kind: 'unknown workspace', method: 'GET', path: `/v1/workspaces/${id}/fs?path=.` },
          { kind: 'unknown process', method: 'GET', path: `/v1/processes/${id}` },
          { kind: 'unknown process', method: 'GET', path: `/v1/processes/${id}/output?offset=0` },
          { kind: 'unknown process', method: 'POST', path: `/v1/processes/${id}/signal`, ...json({ signal: 'TERM' }) },
          { kind: 'unknown process', method: 'POST', path: `/v1/processes/${id}/wait`, ...json({ timeout_ms: 10 }) },
          // v1: deleting a workspace that does not exist is done already (200), and must change nothing.
          { kind: `unknown workspace deleted (${couldBeWorkspaceId(id) ? 'a possible id' : 'an id that cannot be one'})`, method: 'DELETE', path: `/v1/workspaces/${id}`, check: deletedWorkspaceCheck(id) },
        ]),
      );
    }
    const findings = await run(requests);
    findings.assertNone('unknown ids');
  });

  it('refuses broken multipart on the upload routes', async () => {
    const random = prng(SEED + 3);
    const targets = [`/v1/sessions/${control.id}/fs/upload`, `/v1/workspaces/${namedWorkspace}/fs/upload`, '/v1/workspaces/fuzz-not-made/fs/upload', '/v1/sessions/ses-000000000000/fs/upload'];
    const part = (boundary: string, headers: string, content: string) => `--${boundary}\r\n${headers}\r\n\r\n${content}\r\n`;
    const file = (boundary: string, name = 'a.txt', content = 'hello') => part(boundary, `Content-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: text/plain`, content);
    const field = (boundary: string, name: string, value: string) => part(boundary, `Content-Disposition: form-data; name="${name}"`, value);
    const broken: Array<[string, string, string | Buffer]> = [];
    for (let i = 0; i < 12; i++) {
      const b = `fuzz${random.int(1e9)}`;
      const type = `multipart/form-data; boundary=${b}`;
      broken.push(
        ['no boundary parameter', 'multipart/form-data', `${file(b)}--${b}--\r\n`],
        ['empty boundary', 'multipart/form-data; boundary=', `${file(b)}--${b}--\r\n`],
        ['boundary mismatch', `multipart/form-data; boundary=other${b}`, `${file(b)}--${b}--\r\n`],
        ['no closing delimiter', type, file(b)],
        ['truncated mid-part', type, file(b).slice(0, 20 + random.int(40))],
        ['no parts at all', type, `--${b}--\r\n`],
        ['an empty body', type, ''],
        ['only a path field, no file', type, `${field(b, 'path', '/workspace')}--${b}--\r\n`],
        ['a part without Content-Disposition', type, `--${b}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--${b}--\r\n`],
        ['a part whose headers never end', type, `--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n`],
        // Only for sessions: a workspace's upload path is relative to its root, `/etc` is its `etc`.
        ['a target outside /workspace', type, `${field(b, 'path', '/etc')}${file(b)}--${b}--\r\n`],
        ['a target with ..', type, `${field(b, 'path', '../..')}${file(b)}--${b}--\r\n`],
        ['an empty filename', type, `${file(b, '')}--${b}--\r\n`],
        ['filename ..', type, `${file(b, '..')}--${b}--\r\n`],
        ['filename .', type, `${file(b, '.')}--${b}--\r\n`],
        ['a JSON body labelled multipart', type, '{"path":"/workspace/x","text":"y"}'],
        ['multipart/mixed', `multipart/mixed; boundary=${b}`, `${file(b)}--${b}--\r\n`],
        ['not multipart at all', 'application/octet-stream', 'hello'],
        ['no Content-Type', '', `${file(b)}--${b}--\r\n`],
        ['a header line over 16 KiB in a part', type, `--${b}\r\nContent-Disposition: form-data; name="file"; filename="${'a'.repeat(17_000)}"\r\n\r\nx\r\n--${b}--\r\n`],
        ['over 10 MiB', type, `${file(b, 'big.bin', 'x'.repeat(10 * MiB + 1))}--${b}--\r\n`],
        ['over 100 files', type, `${Array.from({ length: 101 }, (_, n) => file(b, `f${n}.txt`, 'x')).join('')}--${b}--\r\n`],
      );
    }
    // The larger ones once only.
    const once = new Set(['over 10 MiB', 'over 100 files', 'a header line over 16 KiB in a part']);
    const seen = new Set<string>();
    const requests: Array<FuzzRequest | RawRequest> = [];
    for (const [kind, type, body] of broken) {
      if (once.has(kind) && seen.has(kind)) continue;
      seen.add(kind);
      for (const path of targets) {
        if (kind === 'a target outside /workspace' && path.startsWith('/v1/workspaces/')) continue;
        const request: FuzzRequest = { kind: `broken multipart: ${kind}`, method: 'POST', path, body, headers: type ? { 'content-type': type } : {} };
        // Written whole on a raw socket: the refusal may come while the body is still on its way.
        requests.push(Buffer.byteLength(body) > MiB ? asRaw(request) : request);
      }
    }
    const findings = await run(requests);
    findings.assertNone('broken multipart');
  });

  it('refuses requests with missing, duplicated or odd headers', async () => {
    const auth = `Authorization: Bearer ${token}\r\n`;
    const invalidBody = '{"cmd":5}';
    const exec = `/v1/sessions/${control.id}/exec`;
    const raws: RawRequest[] = [
      { kind: 'no Host (HTTP/1.1)', raw: `GET /v1/sessions/ses-000000000000 HTTP/1.1\r\n${auth}\r\n` },
      { kind: 'two Host headers', raw: `GET /v1/sessions/ses-000000000000 HTTP/1.1\r\nHost: a\r\nHost: b\r\n${auth}\r\n` },
      { kind: 'two different Content-Length', raw: `POST ${exec} HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 9\r\nContent-Length: 3\r\n\r\n${invalidBody}` },
      { kind: 'Content-Length and chunked', raw: `POST ${exec} HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n${invalidBody}\r\n0\r\n\r\n` },
      { kind: 'negative Content-Length', raw: `POST ${exec} HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: -1\r\n\r\n${invalidBody}` },
      { kind: 'Content-Length not a number', raw: `POST ${exec} HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: nine\r\n\r\n${invalidBody}` },
      { kind: 'Content-Length shorter than the body', raw: `POST ${exec} HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\nContent-Length: 4\r\n\r\n${invalidBody}` },
      { kind: 'bad chunk size', raw: `POST ${exec} HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\nZZ\r\n${invalidBody}\r\n0\r\n\r\n` },
      { kind: 'unknown Transfer-Encoding', raw: `POST ${exec} HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: gzip\r\n\r\n${invalidBody}` },
      { kind: 'Expect other than 100-continue', raw: `POST ${exec} HTTP/1.1\r\nHost: x\r\n${auth}Expect: the-unexpected\r\nContent-Length: 9\r\n\r\n${invalidBody}` },
      { kind: 'a header name with a space', raw: `GET /v1/sessions/ses-000000000000 HTTP/1.1\r\nHost: x\r\n${auth}Bad Header: 1\r\n\r\n` },
      { kind: 'a header without a colon', raw: `GET /v1/sessions/ses-000000000000 HTTP/1.1\r\nHost: x\r\n${auth}NoColonHere\r\n\r\n` },
      { kind: 'a header value with a NUL', raw: `GET /v1/sessions/ses-000000000000 HTTP/1.1\r\nHost: x\r\n${auth}X-Odd: a\u0000b\r\n\r\n` },
      { kind: 'obsolete line folding', raw: `GET /v1/sessions/ses-000000000000 HTTP/1.1\r\nHost: x\r\n${auth}X-Folded: a\r\n  b\r\n\r\n` },
      { kind: 'bare LF line endings', raw: `GET /v1/sessions/ses-000000000000 HTTP/1.1\nHost: x\n${auth.replace('\r\n', '\n')}\n` },
      { kind: 'headers over 16 KiB', raw: `GET /v1/sessions/ses-000000000000 HTTP/1.1\r\nHost: x\r\n${auth}X-Big: ${'a'.repeat(20_000)}\r\n\r\n` },
      { kind: 'three thousand headers', raw: `GET /v1/sessions/ses-000000000000 HTTP/1.1\r\nHost: x\r\n${auth}${Array.from({ length: 3_000 }, (_, i) => `X-${i}: y\r\n`).join('')}\r\n` },
      { kind: 'a wrong token, then the right one', raw: `GET /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n${auth}\r\n` },
      { kind: 'HTTP/1.0 without Host', raw: `GET /v1/sessions/ses-000000000000 HTTP/1.0\r\n${auth}\r\n` },
    ];
    const requests: FuzzRequest[] = [
      ...['', 'Bearer', 'Bearer ', `Bearer ${token.toUpperCase()}`, `Bearer ${token.slice(1)}`, `Token ${token}`, `Bearer\t${token}`, `bearer ${token}`].flatMap((authorization): FuzzRequest[] => [
        { kind: 'a wrong Authorization', method: 'GET', path: '/v1/sessions', token: null, headers: authorization ? { authorization } : undefined },
        { kind: 'a wrong Authorization', method: 'POST', path: '/v1/sessions', token: null, headers: authorization ? { authorization, 'content-type': 'application/json' } : { 'content-type': 'application/json' }, body: '{}' },
      ]),
      { kind: 'no Authorization', method: 'DELETE', path: `/v1/sessions/${control.id}`, token: null },
      { kind: 'no Authorization', method: 'POST', path: exec, token: null, body: '{"cmd":"echo fuzz-must-not-run"}' },
      ...['text/html', 'multipart/form-data', 'application/xml', 'application/json; charset=utf-16', '*/*', 'garbage'].map((type) => ({ kind: 'an odd Content-Type and a bad body', method: 'POST', path: exec, headers: { 'content-type': type }, body: invalidBody })),
      { kind: 'gzip Content-Encoding of a bad body', method: 'POST', path: exec, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(invalidBody) },
      { kind: 'Expect: 100-continue and a bad body', method: 'POST', path: exec, headers: { 'content-type': 'application/json', expect: '100-continue' }, body: invalidBody },
      { kind: 'GET with a body', method: 'GET', path: '/v1/sessions/ses-000000000000', headers: { 'content-type': 'application/json' }, body: '{"x":1}' },
      { kind: 'DELETE with a body', method: 'DELETE', path: '/v1/sessions/ses-000000000000', headers: { 'content-type': 'application/json' }, body: '{"x":1}' },
      { kind: 'an odd X-Request-ID', method: 'GET', path: '/v1/sessions/ses-000000000000', headers: { 'x-request-id': 'a'.repeat(5_000) } },
      { kind: 'Upgrade: websocket', method: 'GET', path: '/v1/sessions/ses-000000000000', headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } },
      { kind: 'Upgrade: h2c', method: 'GET', path: '/v1/sessions/ses-000000000000', headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQAoAAAAAIAAAAA' } },
      { kind: 'a Range header', method: 'GET', path: '/v1/sessions/ses-000000000000', headers: { range: 'bytes=0-10' } },
      { kind: 'X-HTTP-Method-Override', method: 'POST', path: '/v1/sessions/ses-000000000000', headers: { 'x-http-method-override': 'DELETE', 'content-type': 'application/json' }, body: '{}' },
    ];
    const findings = await run([...requests, ...raws]);
    findings.assertNone('missing and odd headers');
  });

  it('cuts off slow bodies and headers that never end, answering each', async () => {
    const answers = await slowAnswers;
    const slow = new Findings();
    for (const { kind, request, answer } of answers) slow.record(kind, request, answer, 'GET');
    await assertResponsive();
    slow.assertNone('slow requests');
  });

  it('stays up, and changed nothing in its database or in Docker', async () => {
    assert.ok(sent >= 3_000, `a few thousand requests were sent (${sent})`);
    await assertResponsive();
    const status = await sidecar.client.request(P.StatusRequest.type, {});
    assert.equal(status.pid, sidecar.pid, 'the same sidecar process');
    assert.deepEqual(changesBetween(initial, await snapshot()), [], 'nothing changed in the database or in Docker');
  });
});
