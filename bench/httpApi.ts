/**
 * The HTTP API's figures for `npm run bench`, in the same run as the JSON-RPC ones: pooled
 * session create, `exec true` round trip, exec requests per second from 8 clients on 8
 * sessions, and SSE throughput against the docker CLI carrying the same bytes.
 */
import { execFileSync } from 'node:child_process';
import * as http from 'node:http';
import type { SidecarClient } from '../sidecar/client/sidecarClient';
import * as P from '../sidecar/client/protocol';
import { percentile, time, type Row } from './stats';

/** Printable output (SSE carries text; NUL bytes would be JSON-escaped to six). */
const STREAM_COMMAND = (bytes: number) => `yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ | head -c ${bytes}`;
const CONCURRENT_CLIENTS = 8;

interface Api {
  url: URL;
  token: string;
}

/** One keep-alive connection per client, as an SDK's HTTP client keeps one. */
function request(api: Api, agent: http.Agent, method: string, path: string, body?: unknown, onData?: (chunk: Buffer) => void): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { host: api.url.hostname, port: api.url.port, method, path, agent, headers: { Authorization: `Bearer ${api.token}`, ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => (onData ? onData(chunk) : chunks.push(chunk)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function json<T>(api: Api, agent: http.Agent, method: string, path: string, body?: unknown): Promise<T> {
  const { status, text } = await request(api, agent, method, path, body);
  if (status >= 300) throw new Error(`${method} ${path}: ${status} ${text}`);
  return JSON.parse(text) as T;
}

export interface HttpFigures {
  rows: Row[];
  throughput: Array<[string, number]>;
  targets: string;
}

/**
 * Needs the pool enabled for `image` (3 ready); leaves the API on and destroys what it made.
 * `dockerRun`: the `docker run -d` baseline samples; `cliExec`: `docker exec true` samples.
 */
export async function measureHttpApi(
  client: SidecarClient,
  options: { image: string; sessions: number; execs: number; streamBytes: number; dockerRun: number[]; cliExec: number[]; waitForPool(): Promise<void> },
): Promise<HttpFigures> {
  await client.request(P.SetConfigRequest.type, { values: { 'api.enabled': true } });
  const info = await client.request(P.ApiInfoRequest.type, {});
  if (!info.url) throw new Error(`the HTTP API does not listen: ${info.error ?? ''}`);
  const api: Api = { url: new URL(info.url), token: info.token };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const made: string[] = [];
  const workspaces: string[] = [];
  const rows: Row[] = [];
  try {
    // Pooled create: a new session (and its workspace) from the warm pool, as `create_session()` does.
    const creates: number[] = [];
    for (let i = 0; i < options.sessions; i++) {
      await options.waitForPool();
      let session!: { id: string; workspace_id: string; acquire_source: string };
      creates.push(await time(async () => (session = await json(api, agent, 'POST', '/v1/sessions', { image: options.image }))));
      if (session.acquire_source !== 'pool') throw new Error('expected a pooled session');
      made.push(session.id);
      workspaces.push(session.workspace_id);
    }
    rows.push({ name: 'HTTP `POST /v1/sessions`, warm pool', samples: creates, baseline: options.dockerRun });

    // exec `true`: a round trip over a kept-alive connection.
    const sessionId = made[0];
    const execs: number[] = [];
    for (let i = 0; i < options.execs; i++) {
      execs.push(await time(async () => {
        const result = await json<{ exit_code: number }>(api, agent, 'POST', `/v1/sessions/${sessionId}/exec`, { cmd: 'true' });
        if (result.exit_code !== 0) throw new Error('exec true failed');
      }));
    }
    rows.push({ name: 'HTTP `POST …/exec` of `true`', samples: execs, baseline: options.cliExec });

    // Requests per second: 8 clients, each on its own session and connection, at once.
    const perClient = Math.max(50, Math.floor(options.execs / 2));
    const agents = made.slice(0, CONCURRENT_CLIENTS).map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    if (agents.length < CONCURRENT_CLIENTS) throw new Error(`need ${CONCURRENT_CLIENTS} sessions for the concurrency figure`);
    const started = performance.now();
    await Promise.all(
      agents.map(async (clientAgent, index) => {
        for (let i = 0; i < perClient; i++) await json(api, clientAgent, 'POST', `/v1/sessions/${made[index]}/exec`, { cmd: 'true' });
      }),
    );
    const rps = (CONCURRENT_CLIENTS * perClient) / ((performance.now() - started) / 1000);
    for (const clientAgent of agents) clientAgent.destroy();

    // SSE throughput: the same printable bytes through `docker exec` and through the stream.
    const containerId = (await client.request(P.ListSessionsRequest.type, {})).find((s) => s.id === sessionId)!.containerId!;
    const cli: number[] = [];
    const sse: number[] = [];
    for (let run = 0; run < 3; run++) {
      cli.push(await time(async () => execFileSync('sh', ['-c', `docker exec ${containerId} sh -c '${STREAM_COMMAND(options.streamBytes)}' > /dev/null`])));
      let received = 0;
      let tail = '';
      sse.push(
        await time(async () => {
          // Counting the chunks' characters means parsing every event: the client's real work.
          const { status } = await request(api, agent, 'POST', `/v1/sessions/${sessionId}/exec/stream`, { cmd: STREAM_COMMAND(options.streamBytes) }, (chunk) => {
            const text = tail + chunk.toString('latin1');
            const events = text.split('\n\n');
            tail = events.pop() ?? '';
            for (const event of events) {
              const data = event.slice(event.indexOf('data: ') + 6);
              if (event.startsWith('event: chunk')) received += (JSON.parse(data) as { chunk: string }).chunk.length;
            }
          });
          if (status !== 200) throw new Error(`exec/stream answered ${status}`);
        }),
      );
      if (received !== options.streamBytes) throw new Error(`the SSE stream carried ${received} of ${options.streamBytes} characters`);
    }
    const mbps = (ms: number) => options.streamBytes / 1024 / 1024 / (ms / 1000);
    const cliMbps = mbps(percentile(cli, 50));
    const sseMbps = mbps(percentile(sse, 50));
    const throughput: Array<[string, number]> = [
      ['`docker exec C sh -c \'yes … \\| head -c 256M\'` (CLI, printable bytes), median of 3', cliMbps],
      ['HTTP `POST …/exec/stream`, the same bytes as SSE `chunk` events, parsed, median of 3', sseMbps],
    ];
    const dockerRun = percentile(options.dockerRun, 50);
    const targets =
      `HTTP: pooled create p50 ${percentile(creates, 50).toFixed(2)} ms, p95 ${percentile(creates, 95).toFixed(2)} ms (÷ docker run ≤ 0.05: ${(percentile(creates, 50) / dockerRun).toFixed(3)}); ` +
      `exec true p50 ≤ 3 ms: ${percentile(execs, 50).toFixed(2)} ms; ${CONCURRENT_CLIENTS} clients on ${CONCURRENT_CLIENTS} sessions: ${rps.toFixed(0)} exec/s; ` +
      `SSE ≥ 0.8× CLI: ${(sseMbps / cliMbps).toFixed(2)}×`;
    return { rows, throughput, targets };
  } finally {
    // Deleting a workspace destroys its sessions.
    for (const id of workspaces) await request(api, agent, 'DELETE', `/v1/workspaces/${id}`).catch(() => undefined);
    agent.destroy();
  }
}
