/**
 * Lists at scale through the real sidecar and the real CLI: a database of 1,500 workspaces
 * (made directly in the file, all naming one shared volume, so Docker has one object for
 * them) is listed page by page and whole; the CLI's full list, filtered or not, equals what
 * the database holds.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { homePaths } from '../../sidecar/client/home';
import { Store } from '../../sidecar/store/store';
import { P, runCli, useSidecar } from './harness';

const COUNT = 1500;
const SHARED_VOLUME = 'sandkasten-test-scale-shared';
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-scale-'));
fs.chmodSync(home, 0o700);

interface Made {
  id: string;
  name: string;
  kind: P.WorkspaceKind;
  tags: string[];
  now: number;
}
const made: Made[] = [];

describe('workspace lists at scale, through the sidecar and the CLI', () => {
  before(async () => {
    execFileSync('docker', ['volume', 'create', SHARED_VOLUME], { stdio: 'ignore' });
    const store = await Store.open(homePaths(home).database);
    for (let i = 0; i < COUNT; i++) {
      // Several share a creation time: pages must order by id within it.
      const workspace: Made = {
        id: `scale-${i}-${((i * 2654435761) >>> 0).toString(16).padStart(8, '0')}`,
        name: `scale-${i}`,
        kind: i % 3 ? 'session' : 'persistent',
        tags: i % 7 ? [] : ['seventh'],
        now: 1_700_000_000_000 + Math.floor(i / 4),
      };
      store.workspaces.insert({ ...workspace, image: 'sandkasten-test/busybox:latest', description: '', volume: SHARED_VOLUME, hostNetwork: false });
      made.push(workspace);
    }
    await store.checkpoint();
    store.close();
  });
  const sidecar = useSidecar({ home, connect: 'after' });
  after(() => {
    execFileSync('docker', ['volume', 'rm', '-f', SHARED_VOLUME], { stdio: 'ignore' });
    fs.rmSync(home, { recursive: true, force: true });
  });

  const cliList = async (...args: string[]) => {
    const result = await runCli(home, ['workspace', 'list', '--json', ...args]);
    assert.equal(result.code, 0, result.stderr);
    return (JSON.parse(result.stdout) as P.WorkspaceInfo[]).map((workspace) => workspace.id);
  };
  /** The order lists promise: creation time, then id. */
  const inOrder = (workspaces: Made[]) =>
    [...workspaces].sort((a, b) => a.now - b.now || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((workspace) => workspace.id);

  it('lists all of them with the CLI (page by page, to a pipe), in creation order, equal to the database', async () => {
    const listed = await cliList();
    assert.equal(listed.length, COUNT);
    assert.deepEqual(listed, inOrder(made), 'the same ids in the same order');
  });

  it('filters in the sidecar: kind, tag, name prefix and state, alone and together', async () => {
    assert.deepEqual(await cliList('--kind', 'persistent'), inOrder(made.filter((w) => w.kind === 'persistent')));
    assert.deepEqual(await cliList('--tag', 'seventh'), inOrder(made.filter((w) => w.tags.includes('seventh'))));
    assert.deepEqual(await cliList('--prefix', 'scale-14'), inOrder(made.filter((w) => w.name.startsWith('scale-14'))));
    assert.deepEqual(await cliList('--kind', 'persistent', '--tag', 'seventh'), inOrder(made.filter((w) => w.kind === 'persistent' && w.tags.includes('seventh'))));
    assert.deepEqual(await cliList('--state', 'new'), inOrder(made), 'the words the table shows');
    assert.deepEqual(await cliList('--state', 'running'), []);
    const bad = await runCli(home, ['workspace', 'list', '--state', 'sleeping']);
    assert.equal(bad.code, 2, 'a state that is not one is bad usage');
  });

  it('pages through the client with a total, each page at most its limit, the whole equal to the list', async () => {
    await sidecar.reconnect();
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await sidecar.client.request(P.ListWorkspacesPageRequest.type, { limit: 333, cursor });
      assert.equal(page.total, COUNT);
      assert.ok(page.workspaces.length <= 333);
      seen.push(...page.workspaces.map((workspace) => workspace.id));
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(seen, inOrder(made));
    await assert.rejects(sidecar.client.request(P.ListWorkspacesPageRequest.type, { limit: 1001 }), /limit/i, 'a page is at most 1,000');
  });
});
