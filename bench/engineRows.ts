/**
 * Rows of `npm run bench` that are measured the same way against any engine (the local one,
 * or the second engine over TLS and ssh, see remoteEngine.ts): each beside the docker CLI
 * pointed at that engine, alternating, so both legs see the same load.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { SidecarClient } from '../sidecar/client/sidecarClient';
import * as P from '../sidecar/client/protocol';
import { time } from './stats';

/** The docker CLI pointed at an engine by `env` (DOCKER_HOST, DOCKER_TLS_VERIFY…; the default engine without). */
export function dockerCli(env: NodeJS.ProcessEnv = process.env) {
  const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8', env }).trim();
  /** A shell line (for redirections) run with the same settings. */
  docker.sh = (line: string) => execFileSync('sh', ['-c', line], { encoding: 'utf8', env });
  docker.env = env;
  return docker;
}

export type DockerCli = ReturnType<typeof dockerCli>;

/** Containers the bench starts itself carry this label, so whatever is left is removed at the end. */
export const BENCH_LABEL = 'sandkasten.bench=true';

/** `docker run -d` of a sleeping container, timed; the container is removed after. */
export async function timeDockerRun(docker: DockerCli, image: string, extra: string[] = []): Promise<number> {
  let id = '';
  const ms = await time(async () => (id = docker('run', '-d', '--label', BENCH_LABEL, ...extra, image, 'sleep', '3600')));
  docker('rm', '-f', id);
  return ms;
}

/** A session started, until its first command ran. */
export async function startAndRun(client: SidecarClient, start: () => Promise<P.SessionInfo>): Promise<P.SessionInfo> {
  const session = await start();
  const result = await client.request(P.ExecRequest.type, { sessionId: session.id, command: ['true'] });
  if (result.exitCode !== 0) throw new Error('the first command failed');
  return session;
}

export async function waitForPool(client: SidecarClient, image: string, target: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const pool = await client.request(P.PoolStatusRequest.type, {});
    const entry = pool.images.find((e) => e.image === image);
    if (entry && entry.ready >= target) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the pool did not fill within 60 s');
}

export async function containerIdOf(client: SidecarClient, sessionId: string): Promise<string> {
  const containerId = (await client.request(P.ListSessionsRequest.type, {})).find((s) => s.id === sessionId)?.containerId;
  if (!containerId) throw new Error(`session ${sessionId} has no container`);
  return containerId;
}

/** `docker exec C true` through the CLI (`cliRuns` times), then exec `true` through the persistent shell (`runs` times). */
export async function measureExecTrue(
  client: SidecarClient,
  docker: DockerCli,
  session: { id: string; containerId: string },
  counts: { cliRuns: number; runs: number },
): Promise<{ cli: number[]; ours: number[] }> {
  const cli: number[] = [];
  for (let i = 0; i < counts.cliRuns; i++) cli.push(await time(async () => docker('exec', session.containerId, 'true')));
  const ours: number[] = [];
  for (let i = 0; i < counts.runs; i++) ours.push(await time(() => client.request(P.ExecRequest.type, { sessionId: session.id, command: ['true'] })));
  return { cli, ours };
}

export interface StreamTimes {
  /** `docker exec C head -c BYTES /dev/zero > /dev/null`, ms per run. */
  cli: number[];
  /** The same command's stdout over a raw channel to this process, ms per run. */
  raw: number[];
  /** How the raw channel's bytes came: `FIFO straight from the container` or `relayed by the sidecar`. */
  transport: string;
}

/**
 * `bytes` of zeros produced in the container, streamed out `runs` times: the docker CLI to
 * /dev/null, and stdout over a raw channel (what our CLI uses), alternating; `alsoEachRun`
 * is a third leg of each round (the local bench's physical limit).
 */
export async function measureRawStream(
  client: SidecarClient,
  docker: DockerCli,
  session: { id: string; containerId: string },
  options: { bytes: number; runs: number; alsoEachRun?: () => Promise<void> },
): Promise<StreamTimes> {
  const times: StreamTimes = { cli: [], raw: [], transport: '' };
  for (let run = 0; run < options.runs; run++) {
    times.cli.push(await time(async () => docker.sh(`docker exec ${session.containerId} head -c ${options.bytes} /dev/zero > /dev/null`)));
    await options.alsoEachRun?.();
    let received = 0;
    const channelId = `bench-raw-${process.pid}-${run}`;
    const channel = await client.openRawChannel(channelId);
    channel.on('data', (chunk: Buffer) => (received += chunk.length));
    const channelClosed = new Promise((resolve) => channel.once('close', resolve));
    times.raw.push(
      await time(async () => {
        await client.request(P.ExecRequest.type, { sessionId: session.id, command: ['head', '-c', String(options.bytes), '/dev/zero'], rawChannelId: channelId });
        await channelClosed;
      }),
    );
    if (received !== options.bytes) throw new Error(`the raw channel carried ${received} of ${options.bytes} bytes`);
    times.transport = channel.transport === 'pipe' ? 'FIFO straight from the container' : 'relayed by the sidecar';
  }
  return times;
}

/**
 * The docker CLI's nearest thing to a keystroke's echo: one byte written to `docker exec -i C
 * cat`, timed until cat's copy of it comes back (no TTY: the CLI attaches stdin as it is).
 */
export async function measureCliEcho(docker: DockerCli, containerId: string, keystrokes: number): Promise<number[]> {
  const child = spawn('docker', ['exec', '-i', containerId, 'cat'], { env: docker.env, stdio: ['pipe', 'pipe', 'ignore'] });
  let onOutput: ((chunk: Buffer) => void) | undefined;
  child.stdout.on('data', (chunk: Buffer) => onOutput?.(chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const echo = (key: string) => new Promise<void>((resolve) => ((onOutput = (chunk) => chunk.toString().endsWith(key) && resolve()), child.stdin.write(key)));
    await echo('.'); // the exec started
    const samples: number[] = [];
    for (let index = 0; index < keystrokes; index++) samples.push(await time(() => echo(String(index % 10))));
    return samples;
  } finally {
    child.stdin.end();
    await exited;
  }
}

/** After a run: its workspaces deleted, its sidecar shut down, the CLI baselines' containers removed. */
export async function cleanUpRun(client: SidecarClient, workspaces: string[], docker: DockerCli): Promise<void> {
  for (const id of workspaces) await client.request(P.DeleteWorkspaceRequest.type, { id, force: true }).catch(() => undefined);
  await client.request(P.ShutdownSidecarRequest.type, {}).catch(() => undefined);
  client.close();
  const leftovers = docker('ps', '-aq', '--filter', `label=${BENCH_LABEL}`).split('\n').filter(Boolean);
  if (leftovers.length > 0) docker('rm', '-f', ...leftovers);
}
