/**
 * A small HTTP client for the HTTP API suites, written from the compatibility spec (not from
 * either SDK): plain requests with exactly the headers a test asks for, Server-Sent Events read
 * as they arrive, the three ways clients parse them (the TypeScript SDK's, the Python SDK's and
 * eventsource-parser's), raw bytes on a socket for requests no HTTP client would send, and the
 * checks every error answer must pass.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { P, TEST_IMAGE, type SidecarClient } from './harness';

/** What the API answered: status, headers and the whole body. */
export interface ApiResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The body as JSON; fails the test, quoting the body, when it is not. */
  json<T = Record<string, unknown>>(): T;
}

export interface RequestOptions {
  /** Sent as compact JSON with `Content-Type: application/json`. */
  json?: unknown;
  /** Sent as it is (no Content-Type unless `headers` has one). */
  body?: string | Buffer;
  /** Added to (or, with the same lower-case name, replacing) the default headers. */
  headers?: Record<string, string>;
  /** The bearer token; `null` sends no Authorization header. Defaults to the client's. */
  token?: string | null;
  signal?: AbortSignal;
}

/** Turns on the HTTP API of a sidecar (with the test image as default image) and answers where it listens. */
export async function enableApi(client: SidecarClient, values: P.ConfigValues = {}): Promise<{ url: string; token: string; port: number }> {
  await client.request(P.SetConfigRequest.type, { values: { 'api.enabled': true, defaultImage: TEST_IMAGE, ...values } });
  const info = await client.request(P.ApiInfoRequest.type, {});
  assert.ok(info.url && info.port, `the HTTP API listens once enabled: ${JSON.stringify(info)}`);
  assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'on loopback by default');
  return { url: info.url, token: info.token, port: info.port };
}

/** A client of one API endpoint; requests carry `Authorization: Bearer <token>` unless told otherwise. */
export class ApiClient {
  /** Its own agent, so one client's keep-alive sockets never serve another's requests. */
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  constructor(
    readonly baseUrl: string,
    public token: string,
  ) {}

  get(path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    return this.request('GET', path, options);
  }

  post(path: string, json: unknown, options: RequestOptions = {}): Promise<ApiResponse> {
    return this.request('POST', path, { json, ...options });
  }

  delete(path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    return this.request('DELETE', path, options);
  }

  /** One request, its whole answer. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const res = await this.open(method, path, options);
    const body = await readAll(res);
    return toResponse(res, body);
  }

  /** One request, its response as it arrives (for SSE, disconnects, back-pressure). */
  open(method: string, path: string, options: RequestOptions = {}): Promise<http.IncomingMessage> {
    const { headers, body } = this.prepare(options);
    return new Promise((resolve, reject) => {
      // The path goes out exactly as given (no URL parsing here: `//x`, `..` and `%zz` are tests too).
      const { hostname, port } = new URL(this.baseUrl);
      const req = http.request({ host: hostname, port, path, method, headers, agent: this.agent, signal: options.signal }, resolve);
      req.once('error', reject);
      req.end(body);
    });
  }

  /** `POST path` with a JSON body, read as an event stream until the server ends it. */
  async stream(path: string, json: unknown, options: RequestOptions = {}): Promise<SseResponse> {
    const res = await this.open('POST', path, { json, ...options });
    const batches: Buffer[] = [];
    for await (const batch of res) batches.push(batch as Buffer);
    return { status: res.statusCode ?? 0, headers: res.headers, batches, text: Buffer.concat(batches).toString('utf8') };
  }

  close(): void {
    this.agent.destroy();
  }

  private prepare(options: RequestOptions): { headers: Record<string, string>; body: Buffer | undefined } {
    const headers: Record<string, string> = {};
    const token = options.token === undefined ? this.token : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: Buffer | undefined;
    if (options.json !== undefined) {
      body = Buffer.from(JSON.stringify(options.json));
      headers['content-type'] = 'application/json';
    } else if (options.body !== undefined) {
      body = Buffer.from(options.body);
    }
    if (body) headers['content-length'] = String(body.length);
    for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
    return { headers, body };
  }
}

export async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function toResponse(res: http.IncomingMessage, body: Buffer): ApiResponse {
  const text = body.toString('utf8');
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    body,
    text,
    json<T>() {
      try {
        return JSON.parse(text) as T;
      } catch {
        assert.fail(`${res.statusCode}: the body is not JSON: ${text.slice(0, 500)}`);
      }
    },
  };
}

/** A failure answer: the status, JSON, `{error_code, message[, details]}`, a sentence (no stack trace). */
export function assertApiError(response: Pick<ApiResponse, 'status' | 'headers' | 'text'>, status: number, errorCode?: string): { error_code: string; message: string; details?: Record<string, unknown> } {
  const where = `${response.status} ${response.text.slice(0, 400)}`;
  assert.equal(response.status, status, `status ${status} expected, got ${where}`);
  assert.match(String(response.headers['content-type']), /^application\/json/, `a JSON error, got ${response.headers['content-type']}: ${where}`);
  let body: { error_code: string; message: string; details?: Record<string, unknown> };
  try {
    body = JSON.parse(response.text);
  } catch {
    assert.fail(`the error body is not JSON: ${where}`);
  }
  assert.equal(typeof body.error_code, 'string', `error_code is a string: ${where}`);
  assert.match(body.error_code, /^[A-Z_]+$/, `error_code is a code: ${where}`);
  assert.equal(typeof body.message, 'string', `message is a string: ${where}`);
  assert.ok(body.message.length > 0, `message says something: ${where}`);
  assert.doesNotMatch(body.message, /\n\s+at |node_modules|\/work\/|\.ts:\d+/, `no stack trace or internal path: ${where}`);
  if (body.details !== undefined) assert.equal(typeof body.details, 'object', `details is an object: ${where}`);
  if (errorCode) assert.equal(body.error_code, errorCode, `error_code ${errorCode} expected: ${where}`);
  return body;
}

// ---------------------------------------------------------------------------------------
// Server-Sent Events
// ---------------------------------------------------------------------------------------

export interface SseResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body as the socket delivered it, read by read. */
  batches: Buffer[];
  text: string;
}

export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/**
 * The stream's exact framing, checked: only `event: NAME\ndata: JSON\n\n` frames (a space after
 * each colon, one data line of compact JSON) and `: comment\n\n` lines, LF endings, ending with
 * exactly one `done` or `error` and nothing after it. Answers the events.
 */
export function strictSseEvents(text: string): SseEvent[] {
  assert.ok(text.endsWith('\n\n'), `the stream ends with a whole event: ${JSON.stringify(text.slice(-200))}`);
  assert.doesNotMatch(text, /\r/, 'LF line endings only');
  const frames = text.slice(0, -2).split('\n\n');
  const events: SseEvent[] = [];
  for (const frame of frames) {
    if (frame.startsWith(':')) {
      assert.doesNotMatch(frame, /\n/, `a comment is one line: ${JSON.stringify(frame)}`);
      continue;
    }
    const match = /^event: (chunk|done|error)\ndata: (\{.*\})$/.exec(frame);
    assert.ok(match, `an event is "event: NAME\\ndata: {JSON}": ${JSON.stringify(frame.slice(0, 300))}`);
    events.push({ event: match[1], data: JSON.parse(match[2]) as Record<string, unknown> });
  }
  const ends = events.filter((e) => e.event === 'done' || e.event === 'error');
  assert.equal(ends.length, 1, `exactly one done or error event: ${JSON.stringify(ends)}`);
  assert.equal(events.at(-1), ends[0], 'done or error comes last');
  return events;
}

/** What an SDK's stream iterator yields: output pieces, then the end. */
export interface StreamedExec {
  chunks: Array<{ output: string; timestamp: number }>;
  done?: { exit_code: unknown; cwd: unknown; duration_ms: unknown };
  error?: string;
  /** `data:` lines the parser would have dropped (no event type known at that point). */
  dropped: number;
  /** Lines that look like fields but that this parser does not recognise (e.g. no space after the colon). */
  ignored: string[];
}

/**
 * The TypeScript SDK's reading of a stream (spec §5.2): text split on `\n` only, a partial line
 * carried to the next read, the event type known only within one read (an `event:` line in one
 * read and its `data:` line in the next loses the event), each non-empty `data:` line parsed as
 * a whole JSON document (a parse error here is the SDK's exception), reading stops at `done`.
 */
export function readLikeTypescriptSdk(batches: Buffer[]): StreamedExec {
  const result: StreamedExec = { chunks: [], dropped: 0, ignored: [] };
  const decoder = new TextDecoder();
  let buffer = '';
  for (const batch of batches) {
    buffer += decoder.decode(batch, { stream: true });
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    let eventType = ''; // re-created per read, as the SDK does
    for (const line of lines) {
      if (line.startsWith('event:')) {
        eventType = line.substring(6).trim();
        continue;
      }
      if (!line.startsWith('data:')) continue;
      const payload = line.substring(5).trim();
      if (payload === '') continue;
      const data = JSON.parse(payload) as Record<string, unknown>;
      if (eventType === 'chunk') result.chunks.push({ output: String(data.chunk ?? ''), timestamp: Number(data.timestamp ?? Date.now()) });
      else if (eventType === 'done') {
        result.done = { exit_code: data.exit_code, cwd: data.cwd, duration_ms: data.duration_ms };
        return result;
      } else if (eventType === 'error') {
        result.error = String(data.error ?? 'Unknown streaming error');
        return result;
      } else result.dropped++;
      eventType = '';
    }
  }
  return result;
}

/**
 * The Python SDK's reading (spec §5.3): lines split on `\n`, `\r\n` and `\r` across reads,
 * blank lines skipped, exactly `event: ` and `data: ` (with the space) recognised, the event
 * type kept until the next `event: `, reading on until the server ends the response.
 */
export function readLikePythonSdk(text: string): StreamedExec & { afterEnd: number } {
  const result: StreamedExec & { afterEnd: number } = { chunks: [], dropped: 0, ignored: [], afterEnd: 0 };
  let eventType = '';
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line.trim() === '') continue;
    if (line.startsWith('event: ')) {
      eventType = line.slice(7).trim();
      continue;
    }
    if (!line.startsWith('data: ')) {
      if (/^(event|data):/.test(line)) result.ignored.push(line.slice(0, 80));
      continue;
    }
    if (result.done || result.error) {
      result.afterEnd++;
      continue;
    }
    const data = JSON.parse(line.slice(6).trim()) as Record<string, unknown>;
    if (eventType === 'chunk') result.chunks.push({ output: String(data.chunk ?? ''), timestamp: Number(data.timestamp ?? 0) });
    else if (eventType === 'done') result.done = { exit_code: data.exit_code ?? 0, cwd: data.cwd ?? '', duration_ms: data.duration_ms ?? 0 };
    else if (eventType === 'error') result.error = String(data.error ?? 'Unknown error');
    else result.dropped++;
  }
  return result;
}

/** The events as eventsource-parser (the SSE specification's parsing) sees them, fed read by read. */
export function readWithEventsourceParser(batches: Buffer[]): EventSourceMessage[] {
  const messages: EventSourceMessage[] = [];
  const errors: string[] = [];
  const parser = createParser({ onEvent: (message) => messages.push(message), onError: (error) => errors.push(error.message) });
  const decoder = new TextDecoder();
  for (const batch of batches) parser.feed(decoder.decode(batch, { stream: true }));
  assert.deepEqual(errors, [], 'eventsource-parser found no error');
  return messages;
}

/**
 * Reads an event stream as it arrives, event by event (eventsource-parser), with the events so
 * far and a way to wait for one; for tests that act mid-stream.
 */
export function followSse(res: http.IncomingMessage) {
  const events: EventSourceMessage[] = [];
  let bytes = 0;
  const waiters = new Set<() => void>();
  const parser = createParser({ onEvent: (message) => {
    events.push(message);
    for (const wake of waiters) wake();
  } });
  const decoder = new TextDecoder();
  res.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    parser.feed(decoder.decode(chunk, { stream: true }));
  });
  const ended = new Promise<void>((resolve) => res.once('close', () => {
    for (const wake of waiters) wake();
    resolve();
  }));
  return {
    events,
    ended,
    get bytes() {
      return bytes;
    },
    /** Resolves with the first event that matches, failing if the stream ends first. */
    async until(matches: (message: EventSourceMessage) => boolean): Promise<EventSourceMessage> {
      for (;;) {
        const found = events.find(matches);
        if (found) return found;
        if (res.closed) assert.fail(`the stream ended without the event looked for; it had: ${JSON.stringify(events.slice(-5))}`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            resolve();
          };
          waiters.add(wake);
        });
      }
    },
  };
}

// ---------------------------------------------------------------------------------------
// Raw requests
// ---------------------------------------------------------------------------------------

export interface RawAnswer {
  /** undefined when the server closed the connection without an answer. */
  status?: number;
  headers: Record<string, string>;
  body: string;
  /** The bytes the server sent, for failure messages. */
  raw: string;
}

/**
 * Writes `request` (bytes exactly as given, possibly in pieces over time via `write`) on a new
 * connection and reads one answer: until its Content-Length is complete, or the server closes.
 * Nothing here fixes up a malformed request: that is the point.
 */
export function rawExchange(
  baseUrl: string,
  request: string | Buffer | ((socket: net.Socket) => void),
  limitMs = 30_000,
): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(parseRawAnswer(received));
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${limitMs} ms to ${describeRaw(request)}`)), limitMs);
    socket.on('connect', () => {
      if (typeof request === 'function') request(socket);
      else socket.write(request);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (answerComplete(received)) finish();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The server may reset a connection it refused after writing its answer.
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') finish();
      else finish(error);
    });
    socket.on('close', () => finish());
  });
}

function describeRaw(request: string | Buffer | ((socket: net.Socket) => void)): string {
  return typeof request === 'function' ? 'a request written over time' : JSON.stringify(request.toString('latin1').slice(0, 120));
}

function headerEnd(data: Buffer): number {
  return data.indexOf('\r\n\r\n');
}

function answerComplete(data: Buffer): boolean {
  const end = headerEnd(data);
  if (end < 0) return false;
  const head = data.subarray(0, end).toString('latin1');
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length) return data.length - (end + 4) >= Number(length[1]);
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return data.subarray(end + 4).includes('\r\n0\r\n\r\n') || data.subarray(end + 4).toString('latin1').startsWith('0\r\n\r\n');
  return false; // no length: the answer ends with the connection
}

function parseRawAnswer(data: Buffer): RawAnswer {
  const raw = data.toString('utf8');
  const end = headerEnd(data);
  if (data.length === 0) return { headers: {}, body: '', raw };
  const head = (end < 0 ? data : data.subarray(0, end)).toString('latin1');
  const [statusLine, ...headerLines] = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = end < 0 ? Buffer.alloc(0) : data.subarray(end + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  return { status: status ? Number(status[1]) : undefined, headers, body: body.toString('utf8'), raw };
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let rest = data;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    if (lineEnd < 0) return Buffer.concat(parts);
    const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
    if (!size) return Buffer.concat(parts);
    parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
    rest = rest.subarray(lineEnd + 2 + size + 2);
  }
}
