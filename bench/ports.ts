/**
 * Forwarded ports' figures for `npm run bench`: an HTTP GET through a forward (a new connection
 * each, and on a kept-alive connection) and a 256 MiB download through it, beside the same
 * straight to the container's bridge address, for both transports: `direct` (the main
 * sidecar) and the `exec` relay (a sidecar of its own started with SANDKASTEN_PORT_RELAY=exec).
 * The three paths alternate in one run, so each sees the same load.
 *
 * On its own: `npm run build && npx tsx bench/ports.ts` (needs Docker and the test image).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { SidecarClient } from '../sidecar/client/sidecarClient';
import * as P from '../sidecar/client/protocol';
import { formatRows, percentile, time, type Row } from './stats';

const REQUESTS = Number(process.env.BENCH_PORT_REQUESTS ?? 200);
const DOWNLOAD_BYTES = 256 * 1024 * 1024;
const DOWNLOAD_RUNS = Number(process.env.BENCH_PORT_DOWNLOAD_RUNS ?? 3);
/** busybox httpd: one request per connection (it always answers `Connection: close`). */
const HTTPD_PORT = 8080;
/**
 * A keep-alive HTTP server in busybox sh behind `nc -ll` (one shell per connection): reads a
 * request's head, answers "ok" with a Content-Length, and waits for the next request. Only
 * shell built-ins per request, so it adds next to nothing to what is measured.
 */
const KEEP_ALIVE_PORT = 8081;
const KEEP_ALIVE_SERVER = `while read -r line; do
  while read -r header && [ \${#header} -gt 1 ]; do :; done
  printf 'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: 3\\r\\n\\r\\nok\\n'
done`;

export interface PortFigures {
  rows: Row[];
  throughput: Array<[string, number]>;
  targets: string;
}

interface Path {
  name: string;
  url: string;
}

/** A GET; resolves with the body's length once it ended (the body itself is dropped). */
function get(url: string, agent: http.Agent | false): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (response) => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => (bytes += chunk.length));
        response.on('end', () => (response.statusCode === 200 ? resolve(bytes) : reject(new Error(`${url}: HTTP ${response.statusCode}`))));
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

/**
 * Needs a sidecar (`client`, whose forwards take the direct path) and the image (busybox: its
 * httpd and nc); starts a second sidecar for the relay and removes everything it made.
 */
export async function measurePorts(client: SidecarClient, options: { image: string; sidecarScript: string }): Promise<PortFigures> {
  const relayHome = fs.mkdtempSync(path.join(os.tmpdir(), 'skb-relay-'));
  const relayClient = await SidecarClient.connect({ home: relayHome, sidecarScript: options.sidecarScript, env: { ...process.env, SANDKASTEN_PORT_RELAY: 'exec' } });
  const made: Array<[SidecarClient, string]> = [];
  const agents: http.Agent[] = [];
  try {
    /** A session serving the big file and "ok", its container's address, and its two ports forwarded. */
    const serve = async (owner: SidecarClient) => {
      const workspace = await owner.request(P.CreateWorkspaceRequest.type, { name: 'bench-ports', image: options.image, kind: 'session' });
      made.push([owner, workspace.id]);
      const session = await owner.request(P.StartSessionRequest.type, { workspaceId: workspace.id });
      const setUp = await owner.request(P.ExecRequest.type, {
        sessionId: session.id,
        line: [
          `mkdir -p /tmp/www && head -c ${DOWNLOAD_BYTES} /dev/zero > /tmp/www/big && echo ok > /tmp/www/index.html`,
          `printf '%s\\n' '${KEEP_ALIVE_SERVER.replace(/'/g, `'\\''`)}' > /tmp/keep-alive.sh`,
          `(httpd -p ${HTTPD_PORT} -h /tmp/www &)`,
          `(nc -ll -p ${KEEP_ALIVE_PORT} -e sh /tmp/keep-alive.sh &)`,
        ].join(' && '),
      });
      if (setUp.exitCode !== 0) throw new Error(`setting up the servers failed: ${setUp.stderr}`);
      const address = execFileSync('docker', ['inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', session.containerId!], { encoding: 'utf8' }).trim().split(' ')[0];
      if (!address) throw new Error('the container has no bridge address');
      const forward = async (port: number) => {
        const info = await owner.request(P.ForwardPortRequest.type, { sessionId: session.id, port });
        return info.forward!.url;
      };
      return { address, httpd: await forward(HTTPD_PORT), keepAlive: await forward(KEEP_ALIVE_PORT) };
    };
    const direct = await serve(client);
    const relay = await serve(relayClient);
    const straight = (port: number) => `http://${direct.address}:${port}/`;
    const httpdPaths: Path[] = [
      { name: 'straight to the container address (baseline)', url: straight(HTTPD_PORT) },
      { name: 'through a forward, direct', url: direct.httpd },
      { name: 'through a forward, exec relay', url: relay.httpd },
    ];
    const keepAlivePaths: Path[] = [
      { name: 'straight to the container address (baseline)', url: straight(KEEP_ALIVE_PORT) },
      { name: 'through a forward, direct', url: direct.keepAlive },
      { name: 'through a forward, exec relay', url: relay.keepAlive },
    ];
    // Every server answers before anything is timed (the relay's first connection finds its tool).
    for (const { url } of [...httpdPaths, ...keepAlivePaths]) await get(url, false);

    const rows: Row[] = [];
    const latency = async (title: string, paths: Path[], agentOf: () => http.Agent | false) => {
      const agentsOfPaths = paths.map(agentOf);
      const samples = paths.map(() => [] as number[]);
      for (let i = 0; i < REQUESTS; i++) {
        for (const [index, { url }] of paths.entries()) samples[index].push(await time(() => get(url, agentsOfPaths[index])));
      }
      for (const [index, { name }] of paths.entries()) rows.push({ name: `forwarded port: HTTP GET, ${title}, ${name}`, samples: samples[index], baseline: index > 0 ? samples[0] : undefined });
      return samples;
    };
    const fresh = await latency('a new connection each', httpdPaths, () => false);
    const kept = await latency('one kept-alive connection', keepAlivePaths, () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      return agent;
    });

    const downloads = httpdPaths.map(() => [] as number[]);
    for (let run = 0; run < DOWNLOAD_RUNS; run++) {
      for (const [index, { url }] of httpdPaths.entries()) {
        let bytes = 0;
        downloads[index].push(await time(async () => (bytes = await get(`${url}big`, false))));
        if (bytes !== DOWNLOAD_BYTES) throw new Error(`${url}big carried ${bytes} of ${DOWNLOAD_BYTES} bytes`);
      }
    }
    const mbps = (ms: number) => DOWNLOAD_BYTES / 1024 / 1024 / (ms / 1000);
    const throughput = httpdPaths.map(({ name }, index): [string, number] => [`256 MiB HTTP download ${name}, median of ${DOWNLOAD_RUNS}`, mbps(percentile(downloads[index], 50))]);
    const p50 = (samples: number[]) => percentile(samples, 50).toFixed(2);
    return {
      rows,
      throughput,
      targets:
        `Forwarded ports: GET p50 on a new connection ${p50(fresh[1])} ms direct, ${p50(fresh[2])} ms relayed (straight ${p50(fresh[0])} ms); ` +
        `on a kept-alive connection ${p50(kept[1])} ms direct, ${p50(kept[2])} ms relayed (straight ${p50(kept[0])} ms); ` +
        `256 MiB download ${(throughput[1][1] / throughput[0][1]).toFixed(2)}× straight direct, ${(throughput[2][1] / throughput[0][1]).toFixed(2)}× relayed`,
    };
  } finally {
    for (const agent of agents) agent.destroy();
    for (const [owner, id] of made) await owner.request(P.DeleteWorkspaceRequest.type, { id, force: true }).catch(() => undefined);
    await relayClient.request(P.ShutdownSidecarRequest.type, {}).catch(() => undefined);
    relayClient.close();
    fs.rmSync(relayHome, { recursive: true, force: true });
  }
}

/** On its own: a sidecar of its own, the figures, the tables. */
async function main(): Promise<void> {
  const image = process.env.BENCH_IMAGE ?? 'sandkasten-test/busybox:latest';
  const sidecarScript = path.join(__dirname, '..', 'dist', 'sidecar.js');
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'skb-'));
  const client = await SidecarClient.connect({ home, sidecarScript });
  try {
    const status = await client.request(P.StatusRequest.type, {});
    if (!status.docker.available) throw new Error(`Docker is not reachable: ${status.docker.error}`);
    const figures = await measurePorts(client, { image, sidecarScript });
    console.log(`\n## Forwarded ports — ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${os.cpus()[0].model.trim()}, Docker ${status.docker.version}, image ${image}\n`);
    console.log(formatRows(figures.rows));
    console.log(formatThroughput(figures.throughput));
    console.log(figures.targets);
  } finally {
    await client.request(P.ShutdownSidecarRequest.type, {}).catch(() => undefined);
    client.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/** The download table, each path beside the download straight from the container. */
export function formatThroughput(throughput: Array<[string, number]>): string {
  const lines = ['\n| forwarded port, 256 MiB download | MB/s | × straight to the container |', '|---|---:|---:|'];
  for (const [name, value] of throughput) lines.push(`| ${name} | ${value.toFixed(1)} | ${(value / throughput[0][1]).toFixed(2)} |`);
  return lines.join('\n');
}

if (require.main === module) {
  main().catch((error) => {
    console.error(`bench failed: ${(error as Error).stack ?? error}`);
    process.exit(1);
  });
}
