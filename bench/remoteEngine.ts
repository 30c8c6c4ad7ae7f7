/**
 * `npm run bench`'s section "remote engine": the table of what users feel on the second
 * Docker engine (scripts/remote-engine.sh) reached over TLS and over ssh, each row beside
 * the docker CLI pointed at the same engine with the same settings, alternating. A sidecar
 * of its own per transport: a storage directory belongs to one engine.
 *
 * Alone: `node --import tsx bench/remoteEngine.ts [tls|ssh]...` (after `npm run build`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SidecarClient } from '../sidecar/client/sidecarClient';
import * as P from '../sidecar/client/protocol';
import {
  cleanUpRun,
  containerIdOf,
  dockerCli,
  measureCliEcho,
  measureExecTrue,
  measureRawStream,
  startAndRun,
  timeDockerRun,
  waitForPool,
  type DockerCli,
} from './engineRows';
import { formatRows, percentile, time, type Row } from './stats';
import { KEYSTROKES, measureTerminalEcho } from './terminalEcho';

/** Where scripts/remote-engine.sh writes the settings a client needs, one file per way in. */
const ENV_DIRECTORY = '/var/lib/sandkasten-test-engine/env';
export const REMOTE_TRANSPORTS = ['tls', 'ssh'] as const;
export type RemoteTransport = (typeof REMOTE_TRANSPORTS)[number];

export interface RemoteOptions {
  image: string;
  sidecarScript: string;
  sessions: number;
  execs: number;
  cliExecs: number;
  streamBytes: number;
  streamRuns: number;
}

export interface RemoteFigures {
  transport: RemoteTransport;
  /** The engine's address and version, for the section's heading. */
  engine: string;
  rows: Row[];
  streamMiB: number;
  throughput: Array<[string, number]>;
  targets: string;
}

/** The figures per transport, or a line saying why there are none (the engine is not up). */
export async function measureRemoteEngines(options: RemoteOptions, transports: readonly RemoteTransport[] = REMOTE_TRANSPORTS): Promise<Array<RemoteFigures | string>> {
  const results: Array<RemoteFigures | string> = [];
  for (const transport of transports) {
    const env = engineEnvironment(transport);
    if (!env) {
      results.push(`Remote engine over ${transport}: not set up (${ENV_DIRECTORY}/${transport}.env is missing); bring it up with \`bash scripts/remote-engine.sh up\`.`);
      continue;
    }
    const docker = dockerCli(env);
    try {
      docker('version', '--format', '{{.Server.Version}}');
    } catch {
      results.push(`Remote engine over ${transport}: ${env.DOCKER_HOST} does not answer; start it with \`bash scripts/remote-engine.sh up\`.`);
      continue;
    }
    // A fault on the way (the engine restarted, the connection dropped) costs this section, not the local bench's.
    results.push(await measureEngine(transport, env, docker, options).catch((error: Error) => `Remote engine over ${transport}: the run failed: ${error.message}`));
  }
  return results;
}

/** The environment the docker CLI and the sidecar need for the second engine: its env file over ours. */
function engineEnvironment(transport: RemoteTransport): NodeJS.ProcessEnv | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(ENV_DIRECTORY, `${transport}.env`), 'utf8');
  } catch {
    return undefined;
  }
  // Ours may name another engine; only the file's settings count.
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: undefined, DOCKER_CONTEXT: undefined, DOCKER_TLS_VERIFY: undefined, DOCKER_CERT_PATH: undefined };
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at <= 0) continue;
    const [key, value] = [line.slice(0, at).trim(), line.slice(at + 1).trim()];
    // PATH_PREPEND: where the engine's ssh wrapper is (its config and known hosts).
    if (key === 'PATH_PREPEND') env.PATH = `${value}${path.delimiter}${process.env.PATH ?? ''}`;
    else env[key] = value;
  }
  return env;
}

async function measureEngine(transport: RemoteTransport, env: NodeJS.ProcessEnv, docker: DockerCli, options: RemoteOptions): Promise<RemoteFigures> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `skb-${transport}-`));
  const client = await SidecarClient.connect({ home, sidecarScript: options.sidecarScript, env });
  const workspaces: string[] = [];
  const newWorkspace = async () => {
    const workspace = await client.request(P.CreateWorkspaceRequest.type, { name: `bench-${transport}`, image: options.image, kind: 'session' });
    workspaces.push(workspace.id);
    return workspace.id;
  };
  try {
    const status = await client.request(P.StatusRequest.type, {});
    if (!status.docker.available) throw new Error(`the sidecar cannot reach ${env.DOCKER_HOST}: ${status.docker.error}`);
    const engine = `${status.docker.endpoint}, Docker ${status.docker.version}, ${status.docker.transport}, output ${status.docker.outputPath ?? 'relayed'}`;
    console.error(`bench: remote engine over ${transport}: ${engine}`);
    const rows: Row[] = [];

    // Cold create beside `docker run -d`, alternating; the pool is off.
    await client.request(P.SetConfigRequest.type, { values: { 'pool.enabled': false } });
    const dockerRun: number[] = [];
    const cold: number[] = [];
    for (let i = 0; i < options.sessions; i++) {
      dockerRun.push(await timeDockerRun(docker, options.image));
      const workspaceId = await newWorkspace();
      cold.push(await time(() => startAndRun(client, () => client.request(P.StartSessionRequest.type, { workspaceId }))));
    }

    // Pooled: a new workspace's first session, until a command ran.
    await client.request(P.SetConfigRequest.type, { values: { 'pool.enabled': true, 'pool.images': { [options.image]: 3 } } });
    const pooled: number[] = [];
    let session: P.SessionInfo | undefined;
    for (let i = 0; i < options.sessions; i++) {
      const workspaceId = await newWorkspace();
      await waitForPool(client, options.image, 3);
      pooled.push(await time(async () => (session = await startAndRun(client, () => client.request(P.StartSessionRequest.type, { workspaceId })))));
      if (!session?.fromPool) throw new Error('expected a pooled session');
    }
    rows.push({ name: '`docker run -d` (CLI, baseline)', samples: dockerRun });
    rows.push({ name: 'session start, warm pool (+ first command)', samples: pooled, baseline: dockerRun });
    rows.push({ name: 'session start, cold create (+ first command)', samples: cold, baseline: dockerRun });
    // The pool refills in the background; the rows below should not compete with it.
    await client.request(P.SetConfigRequest.type, { values: { 'pool.enabled': false } });

    const target = { id: session!.id, containerId: await containerIdOf(client, session!.id) };
    const exec = await measureExecTrue(client, docker, target, { cliRuns: options.cliExecs, runs: options.execs });
    rows.push({ name: '`docker exec C true` (CLI, baseline)', samples: exec.cli });
    rows.push({ name: 'exec `true`, persistent shell, through the client', samples: exec.ours, baseline: exec.cli });

    const cliEcho = await measureCliEcho(docker, target.containerId, KEYSTROKES);
    rows.push({ name: '`docker exec -i C cat`: a byte in, its copy out (CLI, baseline)', samples: cliEcho });
    const echo = await measureTerminalEcho(client, target.id);
    if (echo) rows.push({ name: 'terminal keystroke echo', samples: echo, baseline: cliEcho });

    const streams = await measureRawStream(client, docker, target, { bytes: options.streamBytes, runs: options.streamRuns });
    const mbps = (ms: number) => options.streamBytes / 1024 / 1024 / (ms / 1000);
    const mib = options.streamBytes / 1024 / 1024;
    const throughput: Array<[string, number]> = [
      [`\`docker exec … head -c ${mib}M /dev/zero > /dev/null\` (CLI), median of ${options.streamRuns}`, mbps(percentile(streams.cli, 50))],
      [`exec stdout over a raw channel to the client (${streams.transport}), median of ${options.streamRuns}`, mbps(percentile(streams.raw, 50))],
    ];
    const ratio = (samples: number[], baseline: number[]) => (percentile(samples, 50) / percentile(baseline, 50)).toFixed(3);
    const targets =
      `Targets over ${transport}: pooled ÷ docker run ≤ 0.05: ${ratio(pooled, dockerRun)}; cold ÷ docker run ≤ 1: ${ratio(cold, dockerRun)}; ` +
      `exec \`true\` ÷ docker exec: ${ratio(exec.ours, exec.cli)}; relayed stream ≥ 1.0× CLI: ${(throughput[1][1] / throughput[0][1]).toFixed(2)}× ` +
      `(each run, MB/s: CLI ${streams.cli.map((ms) => mbps(ms).toFixed(0)).join(' ')}; relay ${streams.raw.map((ms) => mbps(ms).toFixed(0)).join(' ')})`;
    return { transport, engine, rows, streamMiB: mib, throughput, targets };
  } finally {
    try {
      await cleanUpRun(client, workspaces, docker);
    } catch {
      // The engine went away: what the run failed on says more than this would.
    }
  }
}

/** The section as printed: per transport its table and throughput, or the line saying why not. */
export function formatRemote(results: Array<RemoteFigures | string>): string {
  return results
    .map((result) => {
      if (typeof result === 'string') return `\n${result}`;
      const throughput = result.throughput.map(([name, value]) => `| ${name} | ${value.toFixed(1)} | ${(value / result.throughput[0][1]).toFixed(2)} |`);
      return [
        `\n### Remote engine over ${result.transport.toUpperCase()} — ${result.engine}\n`,
        formatRows(result.rows),
        `\n| throughput over ${result.transport}, ${result.streamMiB} MiB | MB/s | × CLI |\n|---|---:|---:|`,
        ...throughput,
        `\n${result.targets}`,
      ].join('\n');
    })
    .join('\n');
}

if (require.main === module) {
  const asked = process.argv.slice(2) as RemoteTransport[];
  const unknown = asked.filter((transport) => !REMOTE_TRANSPORTS.includes(transport));
  if (unknown.length > 0) {
    console.error(`usage: node --import tsx bench/remoteEngine.ts [${REMOTE_TRANSPORTS.join('|')}]...`);
    process.exit(2);
  }
  const options: RemoteOptions = {
    image: process.env.BENCH_IMAGE ?? 'sandkasten-test/busybox:latest',
    sidecarScript: path.join(__dirname, '..', 'dist', 'sidecar.js'),
    sessions: Number(process.env.BENCH_SESSIONS ?? 15),
    execs: Number(process.env.BENCH_EXECS ?? 300),
    cliExecs: Number(process.env.BENCH_CLI_EXECS ?? 40),
    streamBytes: 256 * 1024 * 1024,
    streamRuns: Number(process.env.BENCH_STREAM_RUNS ?? 3),
  };
  measureRemoteEngines(options, asked.length > 0 ? asked : REMOTE_TRANSPORTS).then(
    (results) => console.log(`\n## Remote engine — ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${os.cpus()[0].model.trim()}\n${formatRemote(results)}`),
    (error) => {
      console.error(`bench failed: ${(error as Error).stack ?? error}`);
      process.exit(1);
    },
  );
}
