/**
 * The database's journal end to end (sql.js in memory, the journal and checkpoints on a real
 * disk): replay after a crash, torn tails, replay that never applies a change twice, and a
 * checkpoint that appends go on beside.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { writeFileAtomically } from '../../sidecar/store/durableFile';
import { Store } from '../../sidecar/store/store';
import type { Logger } from '../../sidecar/util/log';
import { FakeClock } from './fakes/clock';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function databaseFile(): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-store-journal-'));
  directories.push(directory);
  return path.join(directory, 'state.sqlite');
}

const quiet: Logger = { info: () => undefined, error: () => undefined };

function addWorkspace(store: Store, id: string): void {
  store.workspaces.insert({ id, name: id, kind: 'session', image: 'busybox', description: '', tags: [], volume: `volume-${id}`, hostNetwork: false, now: 1 });
}

/** The files as a crash leaves them: copied while the store is still open, then opened as the next start would. */
function crashCopy(file: string): string {
  const copy = databaseFile();
  for (const suffix of ['', '.journal']) if (fs.existsSync(file + suffix)) fs.copyFileSync(file + suffix, copy + suffix);
  return copy;
}

describe('the database journal', () => {
  it('brings back every committed change after a crash, by replay, and applies each exactly once', async () => {
    const file = databaseFile();
    const store = await Store.open(file, new FakeClock(), { log: quiet });
    addWorkspace(store, 'a');
    await store.commit();
    store.workspaces.recordAccess('a', 2, { commands: 1 }); // an increment: applied twice it would say 2
    await store.commit();
    addWorkspace(store, 'b');
    addWorkspace(store, 'c');
    addWorkspace(store, 'gone');
    await store.commit();
    store.workspaces.deleteWithSessions('gone'); // a transaction: journaled once it committed
    await store.commit();
    const crashed = crashCopy(file);
    store.close();

    const infos: string[] = [];
    const first = await Store.open(crashed, new FakeClock(), { log: { info: (line) => void infos.push(line), error: () => undefined } });
    assert.deepEqual(first.workspaces.list().map((w) => w.id), ['a', 'b', 'c']);
    assert.equal(first.workspaces.get('a')?.stats.commands, 1);
    assert.ok(infos.some((line) => /replayed 4 journal record/.test(line)), infos.join('\n'));
    first.close();
    // Opened again (the first open checkpointed): nothing is applied twice.
    const second = await Store.open(crashed, new FakeClock(), { log: quiet });
    assert.equal(second.workspaces.get('a')?.stats.commands, 1);
    assert.equal(second.workspaces.list().length, 3);
    second.close();
  });

  it('drops a torn tail: what was acknowledged stays, the cut append is not there', async () => {
    const file = databaseFile();
    const store = await Store.open(file, new FakeClock(), { log: quiet });
    addWorkspace(store, 'kept');
    await store.commit();
    const crashed = crashCopy(file);
    store.close();
    // A record cut mid-write: a length, a checksum and half a body.
    fs.appendFileSync(`${crashed}.journal`, Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9]));
    const reopened = await Store.open(crashed, new FakeClock(), { log: quiet });
    assert.deepEqual(reopened.workspaces.list().map((w) => w.id), ['kept']);
    addWorkspace(reopened, 'after');
    await reopened.commit();
    reopened.close();
    const again = await Store.open(crashed, new FakeClock(), { log: quiet });
    assert.deepEqual(again.workspaces.list().map((w) => w.id).sort(), ['after', 'kept'], 'appends after the cut are read back');
    again.close();
  });

  it('checkpoints on demand (a clean shutdown): the journal is empty and the next open replays nothing', async () => {
    const file = databaseFile();
    const store = await Store.open(file, new FakeClock(), { log: quiet });
    addWorkspace(store, 'one');
    addWorkspace(store, 'two');
    await store.checkpoint();
    store.close();
    assert.equal(fs.statSync(`${file}.journal`).size, 4, 'only the header is left');
    const infos: string[] = [];
    const reopened = await Store.open(file, new FakeClock(), { log: { info: (line) => void infos.push(line), error: () => undefined } });
    assert.deepEqual(reopened.workspaces.list().map((w) => w.id).sort(), ['one', 'two']);
    assert.ok(!infos.some((line) => /replayed/.test(line)), infos.join('\n'));
    reopened.close();
  });

  it('keeps appending while a checkpoint is written; the journal then holds only what came after it', async () => {
    const file = databaseFile();
    const clock = new FakeClock();
    let release: (() => void) | undefined;
    let checkpoints = 0;
    const store = await Store.open(file, clock, {
      log: quiet,
      writeFile: async (target, bytes) => {
        checkpoints++;
        if (checkpoints > 1) await new Promise<void>((resolve) => (release = resolve)); // hold the background one
        await writeFileAtomically(target, bytes);
      },
    });
    addWorkspace(store, 'before');
    await store.commit();
    await clock.advance(6 * 60_000);
    addWorkspace(store, 'triggers');
    await store.commit(); // followed by a checkpoint, held
    for (let i = 0; !release && i < 1000; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(release, 'the checkpoint started');
    addWorkspace(store, 'during');
    await store.commit(); // acknowledged while the checkpoint is written
    release!();
    for (let waited = 0; fs.statSync(`${file}.journal`).size > 4 + 400 && waited < 5000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    const crashed = crashCopy(file);
    store.close();
    const reopened = await Store.open(crashed, new FakeClock(), { log: quiet });
    assert.deepEqual(reopened.workspaces.list().map((w) => w.id).sort(), ['before', 'during', 'triggers']);
    reopened.close();
  });
});
