/**
 * The workspace file system (what VS Code's Explorer and editors use for `sandkasten:`
 * folders) over JSON-RPC, against a real sidecar and the real Docker engine: stat, listings,
 * reads and writes with VS Code's create and overwrite flags, deletes and renames, bytes of
 * every value and a large file, symbolic links a sandbox plants out of /workspace refused
 * with nothing outside changed, typed errors, and watching: changes made in the container
 * arrive as files/changed, a frozen session stays frozen, a workspace without a session is
 * read and written through a helper container and watching it starts none.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { exec, expectError, inspectContainer, instanceObjects, P, sleep, useSidecar, waitFor, type SidecarClient } from './harness';

const MiB = 1024 * 1024;
const EVERY_BYTE = Buffer.from(Array.from({ length: 256 }, (_, index) => index));
/** What the sandbox's own files outside /workspace look like: an escape would change one of these. */
const OUTSIDE_PROBE = 'ls /etc/evil /evil /stolen /etc/passwd.new 2>/dev/null; md5sum /etc/passwd; ls -la /etc | md5sum';
/** A change in the container is noticed within about a second; this is the bound a test waits. */
const NOTICED_WITHIN_MS = 10_000;

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

/** The requests of one client on one workspace, as VS Code's provider makes them. */
function filesOf(client: SidecarClient, workspaceId: string) {
  const target = { workspaceId };
  return {
    stat: (path: string) => client.request(P.FileStatRequest.type, { target, path }),
    list: (path: string) => client.request(P.ReadDirectoryRequest.type, { target, path }),
    read: async (path: string) => Buffer.from((await client.request(P.ReadFileRequest.type, { target, path })).content, 'base64'),
    write: (path: string, content: Buffer | string, flags = { create: true, overwrite: true }) =>
      client.request(P.WriteFileRequest.type, { target, path, content: Buffer.from(content).toString('base64'), ...flags }),
    remove: (path: string, recursive = false) => client.request(P.DeleteFileRequest.type, { target, path, recursive }),
    rename: (path: string, newPath: string, overwrite = false) => client.request(P.RenameFileRequest.type, { target, path, newPath, overwrite }),
    mkdir: (path: string) => client.request(P.CreateDirectoryRequest.type, { target, path }),
    watch: (watchId: string, path = '/', recursive = true) => client.request(P.WatchFilesRequest.type, { target, path, watchId, recursive }),
    unwatch: (watchId: string) => client.request(P.UnwatchFilesRequest.type, { watchId }),
  };
}

/** The files/changed notifications a client receives, by watch. */
function changesSeen(client: SidecarClient) {
  const seen: Array<{ watchId: string } & P.FileChangeInfo & { at: number }> = [];
  client.onNotification(P.FileChangedNotification.type, ({ watchId, changes }) => {
    for (const change of changes) seen.push({ watchId, ...change, at: Date.now() });
  });
  return {
    seen,
    /** Waits for a change of that type and path on the watch, seen after `since`. */
    async arrives(watchId: string, type: P.FileChangeInfo['type'], path: string, since = 0, limitMs = NOTICED_WITHIN_MS) {
      return waitFor(
        `${type} ${path} on ${watchId} (seen: ${JSON.stringify(seen.map((change) => `${change.watchId} ${change.type} ${change.path}`))})`,
        () => seen.find((change) => change.watchId === watchId && change.type === type && change.path === path && change.at >= since),
        limitMs,
      );
    },
  };
}

function fileKind(error: unknown): unknown {
  return (error as { data?: { file?: unknown } }).data?.file;
}

describe('the workspace file system over JSON-RPC', () => {
  const sidecar = useSidecar();

  describe('with a running session', () => {
    let workspaceId = '';
    let sessionId = '';
    let files: ReturnType<typeof filesOf>;
    const sh = async (line: string) => {
      const result = await exec(sidecar.client, sessionId, ['sh', '-c', line]);
      assert.equal(result.exitCode, 0, `${line}: ${result.stderr}`);
      return result.stdout;
    };
    before(async () => {
      const session = await sidecar.newSession('fs-rpc');
      workspaceId = session.workspaceId;
      sessionId = session.id;
      files = filesOf(sidecar.client, workspaceId);
    });
    after(async () => {
      if (workspaceId) await sidecar.removeWorkspace(workspaceId);
    });

    it('stats, lists, reads and writes, with create and overwrite as VS Code asks for them', async () => {
      const root = await files.stat('/');
      assert.deepEqual({ type: root.type, symlink: root.symlink }, { type: 'directory', symlink: false });

      const startedAt = Date.now();
      assert.equal(await files.write('/a.txt', 'grüß dich\n', { create: true, overwrite: false }), null);
      const stat = await files.stat('/a.txt');
      assert.deepEqual({ type: stat.type, symlink: stat.symlink, size: stat.size }, { type: 'file', symlink: false, size: Buffer.byteLength('grüß dich\n') });
      assert.ok(Math.abs(stat.mtimeMs - startedAt) < 60_000, `mtime in milliseconds since the epoch: ${stat.mtimeMs} (now ${startedAt})`);
      assert.equal((await files.read('/a.txt')).toString(), 'grüß dich\n');

      await expectError(files.write('/a.txt', 'again', { create: true, overwrite: false }), 'Exists');
      await expectError(files.write('/missing.txt', 'x', { create: false, overwrite: true }), 'NotFound');
      await files.write('/a.txt', 'replaced', { create: false, overwrite: true });
      assert.equal((await files.read('/a.txt')).toString(), 'replaced');
      await expectError(files.write('/no-such-dir/x.txt', 'x'), 'NotFound'); // VS Code makes parents itself
      assert.equal((await sh('ls /workspace')).trim(), 'a.txt', 'nothing else was made, no temporary file left');

      await files.mkdir('/dir');
      await expectError(files.mkdir('/dir'), 'Exists');
      await expectError(files.mkdir('/none/deeper'), 'NotFound');
      await files.write('/dir/b.txt', '');
      assert.deepEqual(await files.list('/dir'), [{ name: 'b.txt', type: 'file', symlink: false }]);
      assert.deepEqual(
        (await files.list('/')).map((entry) => `${entry.name}:${entry.type}`),
        ['a.txt:file', 'dir:directory'],
      );
      assert.equal((await files.read('/dir/b.txt')).length, 0);

      await expectError(files.stat('/nope'), 'NotFound');
      await expectError(files.stat('/a.txt/below'), 'NotFound');
      assert.equal(fileKind(await expectError(files.list('/a.txt'), 'InvalidInput')), 'notADirectory');
      assert.equal(fileKind(await expectError(files.read('/dir'), 'InvalidInput')), 'isADirectory');
      assert.equal(fileKind(await expectError(files.write('/dir', 'x'), 'InvalidInput')), 'isADirectory');
      await expectError(files.stat('relative/path'), 'InvalidInput');
      await expectError(files.stat('/dir/../a.txt'), 'InvalidInput');
      await expectError(filesOf(sidecar.client, 'no-such-ws-00000000').stat('/'), 'NotFound');
    });

    it('deletes (a directory with entries only recursively) and renames, with and without overwrite', async () => {
      await files.mkdir('/tree');
      await files.mkdir('/tree/sub');
      await files.write('/tree/sub/leaf', 'leaf');
      await expectError(files.remove('/tree'), 'Conflict');
      await files.remove('/tree', true);
      await expectError(files.stat('/tree'), 'NotFound');
      await expectError(files.remove('/tree'), 'NotFound');
      await expectError(files.remove('/'), 'Forbidden');

      await files.write('/r1', 'one');
      await files.write('/r2', 'two');
      await expectError(files.rename('/r1', '/r2'), 'Exists');
      assert.equal((await files.read('/r2')).toString(), 'two', 'nothing replaced');
      await files.rename('/r1', '/r2', true);
      assert.equal((await files.read('/r2')).toString(), 'one');
      await expectError(files.stat('/r1'), 'NotFound');
      await expectError(files.rename('/r2', '/no-such-dir/r2'), 'NotFound');
      await expectError(files.rename('/r-missing', '/r3'), 'NotFound');

      await files.mkdir('/d1');
      await files.write('/d1/inside', 'in');
      await files.rename('/d1', '/d2');
      assert.deepEqual((await files.list('/d2')).map((entry) => entry.name), ['inside']);
      await expectError(files.rename('/d2', '/d2/deeper'), 'InvalidInput');
      // A file over a directory, with overwrite: the directory goes first, as VS Code's disk provider does.
      await files.mkdir('/target-dir');
      await files.write('/target-dir/old', 'old');
      await files.rename('/r2', '/target-dir', true);
      assert.equal((await files.read('/target-dir')).toString(), 'one');
      await expectError(files.rename('/d2/inside', '/'), 'Forbidden');
      await files.remove('/d2', true);
      await files.remove('/target-dir');
    });

    it('carries every byte value and a 20 MiB file exactly, and refuses a file over 64 MiB with a sentence', async () => {
      const binary = Buffer.concat([EVERY_BYTE, Buffer.from(EVERY_BYTE).reverse(), Buffer.from('\n\0\r\n')]);
      await files.write('/every-byte', binary);
      assert.ok((await files.read('/every-byte')).equals(binary), 'every byte comes back as written');
      assert.equal((await sh('md5sum < /workspace/every-byte')).split(' ')[0], md5(binary), 'the sandbox sees the same bytes');

      const large = randomBytes(20 * MiB);
      const started = Date.now();
      await files.write('/large.bin', large);
      const written = Date.now();
      const back = await files.read('/large.bin');
      const read = Date.now();
      assert.ok(back.equals(large), '20 MiB come back as written');
      assert.equal((await sh('md5sum < /workspace/large.bin')).split(' ')[0], md5(large));
      assert.equal((await files.stat('/large.bin')).size, 20 * MiB);
      console.log(`20 MiB over JSON-RPC: write ${written - started} ms, read ${read - written} ms`);

      await sh(`head -c ${P.MAX_FILE_BYTES + 1} /dev/zero > /workspace/huge.bin`);
      const error = await expectError(files.read('/huge.bin'), 'InvalidInput');
      assert.match(error.message, /larger than 64 MiB/);
      await files.remove('/huge.bin');
      await files.remove('/large.bin');
    });

    it('never follows a symbolic link the sandbox planted out of /workspace, and changes nothing outside', async () => {
      await sh('ln -s /etc /workspace/etc-link && ln -s /etc/passwd /workspace/passwd-link && ln -s /nowhere /workspace/dangling');
      const outside = await sh(OUTSIDE_PROBE);

      const listed = await files.list('/');
      for (const name of ['etc-link', 'passwd-link', 'dangling']) {
        assert.deepEqual(listed.find((entry) => entry.name === name), { name, type: 'file', symlink: true }, `${name} is listed as a link, not followed`);
      }
      const linkStat = await files.stat('/etc-link');
      assert.deepEqual({ type: linkStat.type, symlink: linkStat.symlink }, { type: 'file', symlink: true });

      await expectError(files.read('/passwd-link'), 'Forbidden');
      await expectError(files.read('/etc-link/passwd'), 'Forbidden');
      await expectError(files.list('/etc-link'), 'Forbidden');
      await expectError(files.write('/passwd-link', 'evil'), 'Forbidden');
      await expectError(files.write('/etc-link/evil', 'evil'), 'Forbidden');
      await expectError(files.write('/etc-link/passwd', 'evil'), 'Forbidden');
      await expectError(files.mkdir('/etc-link/evil'), 'Forbidden');
      await expectError(files.remove('/etc-link/passwd'), 'Forbidden');
      await expectError(files.remove('/etc-link/passwd', true), 'Forbidden');
      await expectError(files.rename('/etc-link/passwd', '/stolen'), 'Forbidden');
      await expectError(files.rename('/a.txt', '/etc-link/evil'), 'Forbidden');
      await expectError(files.rename('/a.txt', '/etc-link/passwd', true), 'Forbidden');

      // The link itself is the workspace's: deleting or renaming it touches only the link.
      await files.rename('/passwd-link', '/moved-link');
      await files.remove('/moved-link');
      await files.remove('/etc-link', true);
      await files.remove('/dangling');
      assert.equal(await sh(OUTSIDE_PROBE), outside, 'nothing outside /workspace changed');
      assert.equal((await sh('ls /workspace | grep -c link || true')).trim(), '0');
    });

    it('reports changes made inside the container as files/changed, only to the connection that watches, until unwatched', async () => {
      const watcher = await sidecar.connectAgain();
      const other = await sidecar.connectAgain();
      const watching = filesOf(watcher, workspaceId);
      const changes = changesSeen(watcher);
      const elsewhere = changesSeen(other);
      await watching.list('/'); // what the Explorer shows: new entries are compared with it
      await watching.watch('root');
      await watching.watch('file', '/a.txt', false);

      const t0 = Date.now();
      await sh('echo hi > /workspace/x');
      const created = await changes.arrives('root', 'created', '/x', t0);
      console.log(`a file made in the container was reported after ${created.at - t0} ms`);
      await changes.arrives('root', 'changed', '/', t0);

      const t1 = Date.now();
      await sh('sleep 0.05; echo more >> /workspace/x');
      await changes.arrives('root', 'changed', '/x', t1);
      await sh('mkdir -p /workspace/deep/er && echo z > /workspace/deep/er/z');
      await changes.arrives('root', 'created', '/deep', t1);
      await sh('rm /workspace/x');
      await changes.arrives('root', 'deleted', '/x', t1);

      const t2 = Date.now();
      await sh('echo edited > /workspace/a.txt');
      await changes.arrives('file', 'changed', '/a.txt', t2);

      // Through the file system itself: reported at once, not a poll later.
      const t3 = Date.now();
      await files.write('/made-by-rpc', 'x');
      const madeAt = (await changes.arrives('root', 'created', '/made-by-rpc', t3, 500)).at;
      assert.ok(madeAt - t3 < 500, `reported with the write (${madeAt - t3} ms)`);
      await files.remove('/made-by-rpc');
      await changes.arrives('root', 'deleted', '/made-by-rpc', t3, 500);

      await watching.unwatch('root');
      await watching.unwatch('file');
      const t4 = Date.now();
      await sh('echo later > /workspace/later && echo again > /workspace/a.txt');
      await sleep(3000);
      assert.deepEqual(changes.seen.filter((change) => change.at > t4), [], 'nothing after the unwatch');
      assert.deepEqual(elsewhere.seen, [], 'another connection hears nothing of watches it did not make');
      await files.remove('/later');
      await files.remove('/deep', true);
      watcher.close();
      other.close();
    });

    it('ends a connection’s watches when it closes: the polls stop', async () => {
      // Each poll makes and removes its stamp in /dev/shm, which changes the directory's mtime.
      const pollsDuring = async (ms: number) => (await sh(`a=$(stat -c %y /dev/shm); sleep ${ms / 1000}; b=$(stat -c %y /dev/shm); [ "$a" = "$b" ] && echo still || echo polled`)).trim();
      const watcher = await sidecar.connectAgain();
      const changes = changesSeen(watcher);
      await filesOf(watcher, workspaceId).watch('gone-with-connection');
      assert.equal(await pollsDuring(2500), 'polled', 'a watch polls');
      const t0 = Date.now();
      await sh('echo y > /workspace/y');
      await waitFor('a change of /y', () => changes.seen.find((change) => change.path === '/y' && change.at >= t0), NOTICED_WITHIN_MS);
      watcher.close();
      await sleep(1500);
      assert.equal(await pollsDuring(2500), 'still', 'no poll once the connection that watched is gone');
      await files.remove('/y');
    });

    it('leaves a frozen session frozen while watching; a file access thaws it, as any use does', async () => {
      const watcher = await sidecar.connectAgain();
      await filesOf(watcher, workspaceId).watch('frozen');
      await sidecar.client.request(P.FreezeSessionRequest.type, { id: sessionId });
      const session = await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId }).then((sessions) => sessions.find((s) => s.id === sessionId)!);
      assert.equal(session.state, 'paused');
      await sleep(3500); // several poll intervals
      const still = (await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId })).find((s) => s.id === sessionId);
      assert.equal(`${still?.state} frozen: ${Boolean(still?.frozenAt)}`, 'paused frozen: true', 'the watcher did not thaw it');
      assert.equal((await inspectContainer(session.containerId!))?.State.Paused, true, 'Docker says it is still paused');

      await files.stat('/a.txt');
      const thawed = (await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId })).find((s) => s.id === sessionId);
      assert.equal(thawed?.state, 'running', 'a stat is a use: it thaws');
      watcher.close();
    });
  });

  describe('without a running session', () => {
    let workspaceId = '';
    after(async () => {
      if (workspaceId) await sidecar.removeWorkspace(workspaceId);
    });

    it('reads and writes through a short-lived helper container; watching starts no container', async () => {
      workspaceId = (await sidecar.createWorkspace('fs-helper')).id;
      const files = filesOf(sidecar.client, workspaceId);
      await files.mkdir('/src');
      await files.write('/src/main.txt', 'from a helper');
      assert.equal((await files.read('/src/main.txt')).toString(), 'from a helper');
      assert.deepEqual(await files.list('/src'), [{ name: 'main.txt', type: 'file', symlink: false }]);

      const containersOf = async () => (await instanceObjects(sidecar.instanceId)).containers.filter((container) => container.Labels['sandkasten.workspace'] === workspaceId);
      // Removed once the requests that came together are answered (it holds the workspace's lock until then).
      await waitFor('the helper container to go', async () => ((await containersOf()).length === 0 ? true : undefined));
      const watcher = await sidecar.connectAgain();
      const changes = changesSeen(watcher);
      await filesOf(watcher, workspaceId).watch('idle');
      for (let second = 0; second < 3; second++) {
        await sleep(1000);
        assert.deepEqual((await containersOf()).map((container) => container.Names[0]), [], 'watching started no container');
      }
      assert.equal((await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId })).length, 0, 'and no session');

      // A write through the file system is still reported to the watcher, at once.
      const t0 = Date.now();
      await files.write('/src/second.txt', 'two');
      await changes.arrives('idle', 'created', '/src/second.txt', t0, 500);
      watcher.close();
    });
  });
});
