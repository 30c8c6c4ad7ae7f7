/**
 * `npm run bench`: what users feel, measured against the docker CLI in the same run on the
 * same image, printed as a table with ratios. Not a test: nothing here asserts a time.
 * Needs a Docker engine and the test image (npm run docker:up && npm run image:test) and
 * the bundles (npm run build).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { CancellationTokenSource, SidecarClient } from '../sidecar/client/sidecarClient';
import * as P from '../sidecar/client/protocol';
import { cleanUpRun, containerIdOf, dockerCli, measureExecTrue, measureRawStream, startAndRun as startAndRunWith, timeDockerRun, waitForPool } from './engineRows';
import { measureHttpApi } from './httpApi';
import { measureLifecycle } from './lifecycle';
import { formatThroughput as formatPortThroughput, measurePorts } from './ports';
import { measureShare } from './share';
import { formatRemote, measureRemoteEngines, type RemoteFigures } from './remoteEngine';
import { measureScale } from './scale';
import { measureTerminalEcho } from './terminalEcho';
import { formatRows, percentile, time, type Row } from './stats';

const IMAGE = process.env.BENCH_IMAGE ?? 'sandkasten-test/busybox:latest';
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 15);
const EXECS = Number(process.env.BENCH_EXECS ?? 300);
const CLI_EXECS = Number(process.env.BENCH_CLI_EXECS ?? 40);
const STREAM_BYTES = 256 * 1024 * 1024;
const STREAM_RUNS = Number(process.env.BENCH_STREAM_RUNS ?? 3);
const root = path.join(__dirname, '..');
const sidecarScript = path.join(root, 'dist', 'sidecar.js');

const docker = dockerCli();

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'skb-'));
  const client = await SidecarClient.connect({ home, sidecarScript });
  const rows: Row[] = [];
  const workspaces: string[] = [];
  const newWorkspace = async (kind: P.WorkspaceKind = 'session') => {
    const workspace = await client.request(P.CreateWorkspaceRequest.type, { name: 'bench', image: IMAGE, kind });
    workspaces.push(workspace.id);
    return workspace.id;
  };
  const startAndRun = (start: () => Promise<P.SessionInfo>) => startAndRunWith(client, start);
  try {
    const status = await client.request(P.StatusRequest.type, {});
    if (!status.docker.available) throw new Error(`Docker is not reachable: ${status.docker.error}`);
    console.error(`bench: ${os.cpus().length} × ${os.cpus()[0].model}, Docker ${status.docker.version}, image ${IMAGE}`);

    // Baseline and cold create alternate, so both see the same load on a shared machine: the
    // docker CLI starting a detached container of the same image, and a session whose
    // container is created on demand (the pool is off), until its first command ran.
    // A third leg: the same with a read-only root filesystem (persistent workspaces, here).
    await client.request(P.SetConfigRequest.type, { values: { 'pool.enabled': false, 'sandbox.readOnlyRoot': { persistent: true } } });
    const baseline: number[] = [];
    const sameShapeBaseline: number[] = [];
    const cold: number[] = [];
    const coldReadOnly: number[] = [];
    // The docker CLI with what our containers get: the instance's network (a user-defined
    // bridge costs Docker ~35 ms for its embedded DNS), init, dropped capabilities, limits.
    const network = `sandkasten-${status.instanceId}-sandboxes`;
    const sameShape = ['--network', network, '--init', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true', '--pids-limit', '512', '--memory', '1g', '--memory-swap', '1g'];
    for (let i = 0; i < SESSIONS; i++) {
      baseline.push(await timeDockerRun(docker, IMAGE));
      // The first cold create below makes the network.
      if (i > 0) sameShapeBaseline.push(await timeDockerRun(docker, IMAGE, sameShape));
      const workspaceId = await newWorkspace();
      cold.push(await time(() => startAndRun(() => client.request(P.StartSessionRequest.type, { workspaceId }))));
      const readOnlyId = await newWorkspace('persistent');
      coldReadOnly.push(await time(() => startAndRun(() => client.request(P.StartSessionRequest.type, { workspaceId: readOnlyId }))));
    }
    await client.request(P.SetConfigRequest.type, { values: { 'sandbox.readOnlyRoot': {} } });
    rows.push({ name: '`docker run -d` (CLI, baseline)', samples: baseline });
    rows.push({ name: "`docker run -d` with our containers' network and hardening (CLI)", samples: sameShapeBaseline, baseline });

    // Pooled: a new workspace's first session, until a command has run in it.
    await client.request(P.SetConfigRequest.type, { values: { 'pool.enabled': true, 'pool.images': { [IMAGE]: 3 } } });
    const pooled: number[] = [];
    const pooledSessions: P.SessionInfo[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      const workspaceId = await newWorkspace();
      await waitForPool(client, IMAGE, 3);
      let session!: P.SessionInfo;
      pooled.push(await time(async () => (session = await startAndRun(() => client.request(P.StartSessionRequest.type, { workspaceId })))));
      if (!session.fromPool) throw new Error('expected a pooled session');
      pooledSessions.push(session);
    }
    rows.push({ name: 'session start, warm pool (+ first command)', samples: pooled, baseline });
    rows.push({ name: 'session start, cold create (+ first command)', samples: cold, baseline });
    rows.push({ name: 'session start, cold create, read-only root (+ first command)', samples: coldReadOnly, baseline });

    // Resume: a workspace used before, its stopped container started again.
    const resume: number[] = [];
    for (const session of pooledSessions) {
      await client.request(P.StopSessionRequest.type, { id: session.id });
      resume.push(await time(() => startAndRun(() => client.request(P.StartSessionRequest.type, { workspaceId: session.workspaceId }))));
    }
    rows.push({ name: 'session resume of a stopped workspace (+ first command)', samples: resume, baseline });

    // Exec round trip of `true`.
    const session = pooledSessions[0];
    const containerId = await containerIdOf(client, session.id);
    const { cli: cliExec, ours } = await measureExecTrue(client, docker, { id: session.id, containerId }, { cliRuns: CLI_EXECS, runs: EXECS });
    rows.push({ name: '`docker exec C true` (CLI, baseline)', samples: cliExec });
    const dockerode = new Docker();
    const rawExec: number[] = [];
    for (let i = 0; i < CLI_EXECS; i++) {
      rawExec.push(
        await time(async () => {
          const exec = await dockerode.getContainer(containerId).exec({ Cmd: ['true'], AttachStdout: true, AttachStderr: true });
          const stream = await exec.start({ hijack: true, stdin: false });
          await new Promise((resolve) => (stream.on('end', resolve), stream.resume()));
          await exec.inspect();
        }),
      );
    }
    rows.push({ name: 'dockerode exec create+start+inspect of `true`', samples: rawExec, baseline: cliExec });
    rows.push({ name: 'exec `true`, persistent shell, through the client', samples: ours, baseline: cliExec });

    // Side by side: `exec true` while a long command holds the session's shell (a warm side
    // shell after the first), and a background process's handle.
    const longCancel = new CancellationTokenSource();
    const holder = client.request(P.ExecRequest.type, { sessionId: session.id, line: 'sleep 3600' }, longCancel);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the long command holds the shell
    const beside: number[] = [];
    for (let i = 0; i < EXECS; i++) {
      beside.push(await time(async () => {
        const result = await client.request(P.ExecRequest.type, { sessionId: session.id, command: ['true'] });
        if (!result.sideBySide) throw new Error('expected the command to run side by side');
      }));
    }
    rows.push({ name: 'exec `true` beside a long command on the same session (side shell)', samples: beside, baseline: cliExec });
    const handles: number[] = [];
    const started: string[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      handles.push(await time(async () => started.push((await client.request(P.StartProcessRequest.type, { sessionId: session.id, line: 'sleep 3600' })).id)));
    }
    rows.push({ name: 'background process start → handle', samples: handles });
    for (const processId of started) await client.request(P.SignalProcessRequest.type, { processId, signal: 'KILL' });
    longCancel.cancel();
    await holder.catch(() => undefined);

    // Streaming throughput: 256 MiB produced in the container. The CLI baseline, the physical
    // limit and the raw channel alternate (medians of STREAM_RUNS each); the other two paths
    // run once. The physical limit is a pipe inside the container that no byte leaves
    // (`head | cat > /dev/null`), timed by the sidecar (the exec's durationMs): the fastest any
    // way of carrying the bytes out could be on this machine.
    const sidecarPid = (await client.request(P.StatusRequest.type, {})).pid;
    const rssBefore = rssMb(sidecarPid, 'VmRSS');
    const pipeStreams: number[] = [];
    const streams = await measureRawStream(client, docker, { id: session.id, containerId }, {
      bytes: STREAM_BYTES,
      runs: STREAM_RUNS,
      alsoEachRun: async () => {
        const pipe = await client.request(P.ExecRequest.type, { sessionId: session.id, line: `head -c ${STREAM_BYTES} /dev/zero | cat > /dev/null` });
        if (pipe.exitCode !== 0) throw new Error(`the pipe inside the container failed (${pipe.exitCode}): ${pipe.stderr}`);
        pipeStreams.push(pipe.durationMs);
      },
    });
    const rawTransport = streams.transport;
    const cliStream = percentile(streams.cli, 50);
    const rawStream = percentile(streams.raw, 50);
    const pipeStream = percentile(pipeStreams, 50);
    const peakAfterRaw = rssMb(sidecarPid, 'VmHWM');
    let received = 0;
    client.onNotification(P.ExecOutputNotification.type, ({ streamId, data }) => {
      if (streamId === 'bench') received += Buffer.byteLength(data, 'base64');
    });
    const ourStream = await time(() =>
      client.request(P.ExecRequest.type, { sessionId: session.id, command: ['head', '-c', String(STREAM_BYTES), '/dev/zero'], streamId: 'bench', encoding: 'base64' }),
    );
    if (received !== STREAM_BYTES) throw new Error(`received ${received} of ${STREAM_BYTES} bytes`);
    const peakAfterNotifications = rssMb(sidecarPid, 'VmHWM');
    const cliPipe = await time(
      () =>
        new Promise<void>((resolve, reject) => {
          const child = spawn('sh', ['-c', `node ${path.join(root, 'bin', 'sandkasten')} exec ${session.id} -- head -c ${STREAM_BYTES} /dev/zero | wc -c`], {
            env: { ...process.env, SANDKASTEN_HOME: home },
          });
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.on('exit', () => (out.trim() === String(STREAM_BYTES) ? resolve() : reject(new Error(`wc -c said ${out.trim()}`))));
        }),
    );
    const mbps = (ms: number) => STREAM_BYTES / 1024 / 1024 / (ms / 1000);
    const throughput = [
      [`\`docker exec … head -c 256M /dev/zero > /dev/null\` (CLI), median of ${STREAM_RUNS}`, mbps(cliStream)],
      // `\|`: a pipe inside a table cell, code or not, ends the cell in GitHub's Markdown.
      [`\`head -c 256M /dev/zero \\| cat > /dev/null\` inside the container (physical limit), median of ${STREAM_RUNS}`, mbps(pipeStream)],
      [`exec stdout over a raw channel to the client (${rawTransport}), median of ${STREAM_RUNS}`, mbps(rawStream)],
      ['exec streamed to the client as notifications (JSON-RPC, base64)', mbps(ourStream)],
      ['`sandkasten exec … \\| wc -c` (our CLI)', mbps(cliPipe)],
    ] as const;

    const echo = await measureTerminalEcho(client, session.id);
    if (echo) rows.push({ name: 'terminal keystroke echo', samples: echo });

    // Sharing: a session of a collaborative workspace, a guest's sidecar of its own.
    const sharedSession = await client.request(P.StartSessionRequest.type, { workspaceId: await newWorkspace('collaborative') });
    const share = await measureShare(client, sidecarScript, sharedSession.id);
    rows.push(...share.rows);

    const httpApi = await measureHttpApi(client, {
      image: IMAGE,
      sessions: SESSIONS,
      execs: EXECS,
      streamBytes: STREAM_BYTES,
      dockerRun: baseline,
      cliExec,
      waitForPool: () => waitForPool(client, IMAGE, 3),
    });
    rows.push(...httpApi.rows);

    const lifecycle = await measureLifecycle(client, {
      image: IMAGE,
      runs: SESSIONS,
      dockerRun: baseline,
      newWorkspace: () => newWorkspace(),
      waitForPool: () => waitForPool(client, IMAGE, 3),
    });
    rows.push(...lifecycle.rows);

    // Forwarded ports: a forward (direct, and the exec relay in a sidecar of its own) beside straight to the container.
    const ports = await measurePorts(client, { image: IMAGE, sidecarScript });
    rows.push(...ports.rows);

    // State at scale, in sidecars of their own over databases made directly.
    const scale = await measureScale(sidecarScript, IMAGE);
    rows.push(...scale.rows);

    // The same rows against the second engine (scripts/remote-engine.sh) over TLS and over ssh, when it is up.
    const remote = await measureRemoteEngines({
      image: IMAGE,
      sidecarScript,
      sessions: SESSIONS,
      execs: EXECS,
      cliExecs: CLI_EXECS,
      streamBytes: STREAM_BYTES,
      streamRuns: STREAM_RUNS,
    });

    console.log(`\n## Benchmark — ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${os.cpus()[0].model.trim()}, Docker ${status.docker.version}, image ${IMAGE}\n`);
    console.log(formatRows(rows));
    console.log('\n| throughput, 256 MiB | MB/s | × CLI |\n|---|---:|---:|');
    for (const [name, value] of throughput) console.log(`| ${name} | ${value.toFixed(1)} | ${(value / throughput[0][1]).toFixed(2)} |`);
    console.log('\n| HTTP API throughput, 256 MiB | MB/s | × CLI |\n|---|---:|---:|');
    for (const [name, value] of httpApi.throughput) console.log(`| ${name} | ${value.toFixed(1)} | ${(value / httpApi.throughput[0][1]).toFixed(2)} |`);
    console.log('\n| snapshot and restore, 100 MB of random data | MB/s | × tar through docker exec |\n|---|---:|---:|');
    for (const [name, value] of lifecycle.throughput) console.log(`| ${name} | ${value.toFixed(1)} | ${(value / lifecycle.throughput[0][1]).toFixed(2)} |`);
    console.log(formatPortThroughput(ports.throughput));
    console.log(
      `\nSidecar memory: ${rssBefore} MB RSS before streaming; peak ${peakAfterRaw} MB after 256 MiB over the raw channel, ${peakAfterNotifications} MB after 256 MiB as notifications (peak includes start-up).`,
    );
    console.log(
      `Targets: pooled ÷ docker run ≤ 0.05: ${ratio(pooled, baseline)}; cold ÷ docker run ≤ 1: ${ratio(cold, baseline)} (read-only root: ${ratio(coldReadOnly, baseline)}; ÷ docker run of the same shape: ${ratio(cold, sameShapeBaseline)}); ` +
        `exec p50 ≤ 2 ms: ${percentile(ours, 50).toFixed(2)} ms and ≥ 35× docker exec: ${(percentile(cliExec, 50) / percentile(ours, 50)).toFixed(0)}×; ` +
        `exec beside a long command p50 ≤ 5 ms: ${percentile(beside, 50).toFixed(2)} ms; ` +
        `raw stream ≥ 1.0× CLI: ${(mbps(rawStream) / mbps(cliStream)).toFixed(2)}× and ≥ 1/3 of the physical limit (a pipe inside the container): ${(mbps(rawStream) / mbps(pipeStream)).toFixed(2)}` +
        (echo ? `; keystroke echo p50 < 2 ms: ${percentile(echo, 50).toFixed(2)} ms` : ''),
    );
    console.log(httpApi.targets);
    console.log(lifecycle.targets);
    console.log(share.targets);
    console.log(ports.targets);
    console.log(scale.notes.join('\n'));
    console.log(formatRemote(remote));
    const jsonFile = jsonOutput(process.argv.slice(2));
    if (jsonFile) {
      // Every row printed, for comparing runs: times in ms, throughputs in MB/s.
      const remoteFigures = remote.filter((result): result is RemoteFigures => typeof result !== 'string');
      const figures = [
        ...[...rows, ...remoteFigures.flatMap((result) => result.rows.map((row) => ({ ...row, name: `remote ${result.transport}: ${row.name}` })))].map((row) => ({
          name: row.name,
          n: row.samples.length,
          p50: percentile(row.samples, 50),
          p95: percentile(row.samples, 95),
          ratio: row.baseline ? percentile(row.samples, 50) / percentile(row.baseline, 50) : null,
          unit: 'ms',
        })),
        ...[...throughput, ...httpApi.throughput, ...lifecycle.throughput].map(([name, value]) => ({ name, n: 1, p50: value, p95: value, ratio: value / throughput[0][1], unit: 'MB/s' })),
        ...ports.throughput.map(([name, value]) => ({ name, n: 1, p50: value, p95: value, ratio: value / ports.throughput[0][1], unit: 'MB/s' })),
        ...remoteFigures.flatMap((result) =>
          result.throughput.map(([name, value]) => ({ name: `remote ${result.transport}: ${name}`, n: 1, p50: value, p95: value, ratio: value / result.throughput[0][1], unit: 'MB/s' })),
        ),
      ];
      fs.writeFileSync(jsonFile, `${JSON.stringify(figures, null, 2)}\n`);
      console.error(`bench: wrote ${figures.length} figures to ${jsonFile}`);
    }
  } finally {
    await cleanUpRun(client, workspaces, docker);
  }
}

/** `--json FILE` (or `--json=FILE`): where to write every figure as JSON. */
function jsonOutput(args: string[]): string | undefined {
  const at = args.findIndex((arg) => arg === '--json' || arg.startsWith('--json='));
  if (at < 0) return undefined;
  const file = args[at].startsWith('--json=') ? args[at].slice('--json='.length) : args[at + 1];
  if (!file) throw new Error('--json needs a file name: npm run bench -- --json FILE');
  // npm runs the script in the package root; a relative name is meant from where npm was called.
  return path.resolve(process.env.INIT_CWD ?? process.cwd(), file);
}

function ratio(samples: number[], baseline: number[]): string {
  return (percentile(samples, 50) / percentile(baseline, 50)).toFixed(3);
}

function rssMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

main().catch((error) => {
  console.error(`bench failed: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
