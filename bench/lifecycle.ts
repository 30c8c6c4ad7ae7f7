/**
 * The lifecycle's figures for `npm run bench`: a frozen session's thaw until its first command
 * answered (against `docker start` and `docker unpause` of a plain container, each followed by
 * `docker exec true`), a used workspace's new session, and snapshot and restore of 100 MB
 * (against `tar` through `docker exec` and `docker cp`).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SidecarClient } from '../sidecar/client/sidecarClient';
import * as P from '../sidecar/client/protocol';
import { percentile, time, type Row } from './stats';

const SNAPSHOT_MB = 100;
const SNAPSHOT_RUNS = 3;

const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const sh = (line: string) => execFileSync('sh', ['-c', line], { encoding: 'utf8' });

export interface LifecycleFigures {
  rows: Row[];
  throughput: Array<[string, number]>;
  targets: string;
}

export async function measureLifecycle(
  client: SidecarClient,
  options: { image: string; runs: number; dockerRun: number[]; newWorkspace(): Promise<string>; waitForPool(): Promise<void> },
): Promise<LifecycleFigures> {
  const rows: Row[] = [];
  const exec = async (sessionId: string, line: string) => {
    const result = await client.request(P.ExecRequest.type, { sessionId, line });
    if (result.exitCode !== 0) throw new Error(`\`${line}\` failed (${result.exitCode}): ${result.stderr}`);
    return result;
  };

  // Thaw: freeze, then the first command's answer (the thaw on the way). Baselines alternate:
  // a plain container stopped and started again, and one paused and unpaused, each until a
  // `docker exec true` answered.
  const plain = docker('run', '-d', '--label', 'sandkasten.bench=true', options.image, 'sleep', '3600');
  const thawWorkspace = await options.newWorkspace();
  await options.waitForPool();
  const thawSession = await client.request(P.StartSessionRequest.type, { workspaceId: thawWorkspace });
  await exec(thawSession.id, 'true');
  const thaw: number[] = [];
  const dockerStart: number[] = [];
  const dockerUnpause: number[] = [];
  try {
    for (let i = 0; i < options.runs; i++) {
      docker('stop', '-t', '0', plain);
      dockerStart.push(await time(async () => (docker('start', plain), docker('exec', plain, 'true'))));
      docker('pause', plain);
      dockerUnpause.push(await time(async () => (docker('unpause', plain), docker('exec', plain, 'true'))));
      await client.request(P.FreezeSessionRequest.type, { id: thawSession.id });
      thaw.push(await time(() => exec(thawSession.id, 'true')));
    }
  } finally {
    docker('rm', '-f', plain);
  }
  rows.push({ name: '`docker start` + `docker exec true` of a stopped container (CLI, baseline)', samples: dockerStart });
  rows.push({ name: '`docker unpause` + `docker exec true` (CLI)', samples: dockerUnpause, baseline: dockerStart });
  rows.push({ name: 'thaw of a frozen session until its first command answered', samples: thaw, baseline: dockerStart });

  // A used workspace's new session (its first was destroyed), until a command ran.
  const used: number[] = [];
  let fromPool = 0;
  for (let i = 0; i < options.runs; i++) {
    const workspaceId = await options.newWorkspace();
    const first = await client.request(P.StartSessionRequest.type, { workspaceId });
    await exec(first.id, 'echo used > /workspace/mark');
    await client.request(P.DestroySessionRequest.type, { id: first.id });
    await options.waitForPool();
    let session!: P.SessionInfo;
    used.push(await time(async () => (session = await client.request(P.StartSessionRequest.type, { workspaceId }), await exec(session.id, 'test -f /workspace/mark'))));
    if (session.fromPool) fromPool++;
  }
  rows.push({ name: `a used workspace's new session (+ first command; ${fromPool} of ${options.runs} from the pool)`, samples: used, baseline: options.dockerRun });

  // Snapshot and restore of 100 MB of incompressible data, beside tar through docker exec and docker cp.
  const workspaceId = await options.newWorkspace();
  const session = await client.request(P.StartSessionRequest.type, { workspaceId });
  await exec(session.id, `head -c ${SNAPSHOT_MB * 1024 * 1024} /dev/urandom > /workspace/data`);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'skb-snap-'));
  const snapshot: number[] = [];
  const restore: number[] = [];
  const tarOut: number[] = [];
  const tarIn: number[] = [];
  const dockerCp: number[] = [];
  try {
    for (let run = 0; run < SNAPSHOT_RUNS; run++) {
      // A restore gives the session a new container (the old one mounted the replaced volume).
      const containerId = (await client.request(P.ListSessionsRequest.type, { workspaceId }))[0].containerId!;
      const file = path.join(scratch, `tar-${run}.tar.gz`);
      tarOut.push(await time(async () => sh(`docker exec ${containerId} tar czf - -C /workspace . > ${file}`)));
      dockerCp.push(await time(async () => sh(`docker cp ${containerId}:/workspace - > ${path.join(scratch, `cp-${run}.tar`)}`)));
      tarIn.push(await time(async () => sh(`docker exec -i ${containerId} sh -c 'rm -rf /tmp/r && mkdir /tmp/r && tar xzf - -C /tmp/r' < ${file}`)));
      fs.rmSync(file);
      fs.rmSync(path.join(scratch, `cp-${run}.tar`));
      await exec(session.id, 'rm -rf /tmp/r');
      let made!: P.SnapshotInfo;
      snapshot.push(await time(async () => (made = await client.request(P.CreateSnapshotRequest.type, { workspaceId, name: `bench ${run}` }))));
      await client.request(P.StopSessionRequest.type, { id: session.id });
      let undo!: P.SnapshotInfo;
      restore.push(await time(async () => (undo = (await client.request(P.RestoreSnapshotRequest.type, { id: made.id })).undo)));
      await client.request(P.StartSessionRequest.type, { workspaceId });
      await client.request(P.DeleteSnapshotRequest.type, { id: made.id });
      await client.request(P.DeleteSnapshotRequest.type, { id: undo.id });
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const mbps = (samples: number[]) => SNAPSHOT_MB / (percentile(samples, 50) / 1000);
  const throughput: Array<[string, number]> = [
    [`\`docker exec C tar czf - -C /workspace .\` to a file (CLI), median of ${SNAPSHOT_RUNS}`, mbps(tarOut)],
    [`\`docker cp C:/workspace -\` to a file (uncompressed, CLI), median of ${SNAPSHOT_RUNS}`, mbps(dockerCp)],
    [`snapshot create (gzip'd tar checked as it streams, written and fsynced), median of ${SNAPSHOT_RUNS}`, mbps(snapshot)],
    [`\`docker exec -i C tar xzf -\` from a file (CLI), median of ${SNAPSHOT_RUNS}`, mbps(tarIn)],
    [`snapshot restore (the current files snapshotted first, then a new volume filled), median of ${SNAPSHOT_RUNS}`, mbps(restore)],
  ];
  const targets =
    `Lifecycle: thaw to first answer p50 ≤ 20 ms: ${percentile(thaw, 50).toFixed(2)} ms (docker start + exec ${percentile(dockerStart, 50).toFixed(0)} ms); ` +
    `a used workspace's new session ÷ docker run ≤ 0.05: ${(percentile(used, 50) / percentile(options.dockerRun, 50)).toFixed(3)} (${fromPool}/${options.runs} pooled); ` +
    `snapshot ${mbps(snapshot).toFixed(1)} MB/s (${(mbps(snapshot) / mbps(tarOut)).toFixed(2)}× tar through docker exec), restore ${mbps(restore).toFixed(1)} MB/s`;
  return { rows, throughput, targets };
}
