/**
 * State at scale for `npm run bench`: a sidecar over a database of 10, 1,000 and 10,000
 * workspaces (made directly in the file, so no Docker object stands behind them), measured
 * through the real client: list all, first page, the durable write of one change, RSS; at the
 * largest size also a workspace create end to end (Docker's volume create is most of it) and
 * `exec true` while another client lists everything in a loop.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { homePaths } from '../sidecar/client/home';
import * as P from '../sidecar/client/protocol';
import { SidecarClient } from '../sidecar/client/sidecarClient';
import { Store } from '../sidecar/store/store';
import { percentile, time, type Row } from './stats';

const SIZES = (process.env.BENCH_SCALE_SIZES ?? '10,1000,10000').split(',').map(Number);
const READS = Number(process.env.BENCH_SCALE_READS ?? 30);
const WRITES = Number(process.env.BENCH_SCALE_WRITES ?? 100);

/**
 * One volume every made-up workspace names, so the sidecar's reconciliation finds their
 * storage in place instead of making 10,000 volumes; removed at the end.
 */
const SHARED_VOLUME = 'sandkasten-bench-scale-shared';

/** A storage directory whose database holds `count` workspaces (and nothing in Docker but the shared volume). */
async function homeWith(count: number): Promise<string> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `skb-scale-${count}-`));
  fs.chmodSync(home, 0o700);
  const store = await Store.open(homePaths(home).database);
  for (let i = 0; i < count; i++) {
    const id = `scale-${i}-${String(i).padStart(8, '0').slice(-8)}`;
    store.workspaces.insert({ id, name: `scale-${i}`, kind: i % 2 ? 'session' : 'persistent', image: 'debian:bookworm-slim', description: '', tags: i % 10 ? [] : ['tenth'], volume: SHARED_VOLUME, hostNetwork: false, now: 1_700_000_000_000 + i });
  }
  await store.checkpoint();
  store.close();
  return home;
}

function rssMb(pid: number): number {
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
}

export interface ScaleFigures {
  rows: Row[];
  notes: string[];
}

/** `sidecarScript`: the bundled sidecar; `image`: for the create and exec figures at the largest size. */
export async function measureScale(sidecarScript: string, image: string): Promise<ScaleFigures> {
  const rows: Row[] = [];
  const notes: string[] = [];
  execFileSync('docker', ['volume', 'create', SHARED_VOLUME], { stdio: 'ignore' });
  try {
    await measureSizes(sidecarScript, image, rows, notes);
  } finally {
    execFileSync('docker', ['volume', 'rm', '-f', SHARED_VOLUME], { stdio: 'ignore' });
  }
  return { rows, notes };
}

async function exited(pid: number): Promise<void> {
  for (let waited = 0; waited < 10_000; waited += 50) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function measureSizes(sidecarScript: string, image: string, rows: Row[], notes: string[]): Promise<void> {
  for (const size of SIZES) {
    const home = await homeWith(size);
    const client = await SidecarClient.connect({ home, sidecarScript });
    const other = await SidecarClient.connect({ home, sidecarScript });
    const made: string[] = [];
    let pid: number | undefined;
    try {
      const status = await client.request(P.StatusRequest.type, {});
      pid = status.pid;
      const idle = rssMb(status.pid);
      const listAll: number[] = [];
      const firstPage: number[] = [];
      for (let i = 0; i < READS; i++) {
        listAll.push(await time(() => client.request(P.ListWorkspacesRequest.type, {})));
        firstPage.push(await time(() => client.request(P.ListWorkspacesPageRequest.type, { limit: 100 })));
      }
      rows.push({ name: `${size} workspaces: \`workspace/list\` of all, round trip`, samples: listAll });
      rows.push({ name: `${size} workspaces: first page of 100, round trip`, samples: firstPage });
      // One durable change: a rename, acknowledged once journaled.
      const writes: number[] = [];
      const target = (await client.request(P.ListWorkspacesPageRequest.type, { limit: 1 })).workspaces[0].id;
      for (let i = 0; i < WRITES; i++) writes.push(await time(() => client.request(P.RenameWorkspaceRequest.type, { id: target, name: `renamed-${i % 2}` })));
      rows.push({ name: `${size} workspaces: durable write of one change (rename), round trip`, samples: writes });
      if (size === Math.max(...SIZES)) {
        await client.request(P.SetConfigRequest.type, { values: { 'pool.enabled': false } });
        const creates: number[] = [];
        for (let i = 0; i < 10; i++) creates.push(await time(async () => made.push((await client.request(P.CreateWorkspaceRequest.type, { name: 'bench-create', image })).id)));
        rows.push({ name: `${size} workspaces: \`workspace/create\` end to end (Docker volume create included)`, samples: creates });
        const session = await client.request(P.StartSessionRequest.type, { workspaceId: made[0] });
        const quiet: number[] = [];
        for (let i = 0; i < 200; i++) quiet.push(await time(() => client.request(P.ExecRequest.type, { sessionId: session.id, command: ['true'] })));
        let listing = true;
        const lister = (async () => {
          while (listing) await other.request(P.ListWorkspacesRequest.type, {});
        })();
        const loaded: number[] = [];
        for (let i = 0; i < 200; i++) loaded.push(await time(() => client.request(P.ExecRequest.type, { sessionId: session.id, command: ['true'] })));
        listing = false;
        await lister;
        rows.push({ name: `${size} workspaces: exec \`true\`, idle`, samples: quiet });
        rows.push({ name: `${size} workspaces: exec \`true\` while another client lists all in a loop`, samples: loaded, baseline: quiet });
        notes.push(`exec true under a listing loop ÷ idle (target ≤ 2): ${(percentile(loaded, 50) / percentile(quiet, 50)).toFixed(2)}`);
      }
      notes.push(`${size} workspaces: sidecar RSS ${idle} MB at start, ${rssMb(status.pid)} MB after the reads and writes`);
    } finally {
      for (const id of made) await client.request(P.DeleteWorkspaceRequest.type, { id, force: true }).catch(() => undefined);
      await client.request(P.ShutdownSidecarRequest.type, {}).catch(() => undefined);
      client.close();
      other.close();
      // The sidecar writes its last state while it exits: remove the directory after it is gone.
      if (pid !== undefined) await exited(pid);
      fs.rmSync(home, { recursive: true, force: true });
    }
  }
}
