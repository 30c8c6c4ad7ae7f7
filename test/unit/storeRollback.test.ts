import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { removeStaleTemporaryFiles, UnsyncedRenameError, writeFileAtomically } from '../../sidecar/store/durableFile';
import { Store } from '../../sidecar/store/store';
import { WriteCoalescer } from '../../sidecar/store/writeCoalescer';
import type { Logger } from '../../sidecar/util/log';
import { eventually, FakeClock } from './fakes/clock';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sk-rollback-'));

/** A disk that works until told otherwise; a write can be held open to let others queue up. */
class Disk {
  failing = false;
  writes = 0;
  private held: Array<() => void> | undefined;

  readonly writeFile = async (target: string, bytes: Uint8Array): Promise<void> => {
    this.writes++;
    if (this.held) await new Promise<void>((release) => this.held!.push(release));
    if (this.failing) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    await writeFileAtomically(target, bytes);
  };

  /** Writes wait from now on until `release()`. */
  hold(): void {
    this.held = [];
  }

  release(): void {
    const waiting = this.held ?? [];
    this.held = undefined;
    for (const release of waiting) release();
  }
}

class RecordingLog implements Logger {
  readonly infos: string[] = [];
  readonly errors: string[] = [];
  info(message: string): void {
    this.infos.push(message);
  }
  error(message: string): void {
    this.errors.push(message);
  }
}

let workspaceNumber = 0;
function addWorkspace(store: Store, id = `ws-${++workspaceNumber}`): string {
  store.workspaces.insert({ id, name: id, kind: 'session', image: 'busybox', description: '', tags: [], volume: `volume-${id}`, hostNetwork: false, now: 1 });
  return id;
}

const ids = (store: Store) => store.workspaces.list().map((workspace) => workspace.id);

async function openStore(file = path.join(tempDir(), 'state.sqlite'), clock = new FakeClock()) {
  const disk = new Disk();
  const log = new RecordingLog();
  const store = await Store.open(file, clock, { writeFile: disk.writeFile, log });
  return { store, disk, log, file, clock };
}

/** What the file holds, as the next start would see it. */
async function idsOnDisk(file: string): Promise<string[]> {
  const reopened = await Store.open(file, new FakeClock(), { log: new RecordingLog() });
  try {
    return ids(reopened);
  } finally {
    reopened.close();
  }
}

async function commandsOnDisk(file: string, id: string): Promise<number | undefined> {
  const reopened = await Store.open(file, new FakeClock(), { log: new RecordingLog() });
  try {
    return reopened.workspaces.get(id)?.stats.commands;
  } finally {
    reopened.close();
  }
}

describe('store rollback after a failed durable write', () => {
  it('answers the commit with an error and undoes the change in memory', async () => {
    const { store, disk, file, log } = await openStore();
    const kept = addWorkspace(store);
    await store.commit();
    disk.failing = true;
    const ghost = addWorkspace(store);
    await assert.rejects(store.commit(), /Saving the state to .*state\.sqlite failed \(ENOSPC: no space left on device, write\); the change was undone/);
    assert.equal(store.workspaces.get(ghost), undefined, 'the change is gone from memory');
    assert.deepEqual(ids(store), [kept], 'what was durable before is still there');
    assert.equal(log.errors.length, 1, 'the failure is logged once');
    assert.deepEqual(await idsOnDisk(file), [kept]);
    store.close();
  });

  it('never writes the undone change with a later successful one, and keeps changes made after the failure', async () => {
    const { store, disk, file } = await openStore();
    disk.failing = true;
    const ghost = addWorkspace(store);
    await assert.rejects(store.commit());
    disk.failing = false;
    const later = addWorkspace(store);
    await store.commit();
    assert.deepEqual(ids(store), [later]);
    assert.deepEqual(await idsOnDisk(file), [later], `no ghost ${ghost} on disk`);
    store.close();
  });

  it('gives every caller sharing the failed write the error, and undoes all their changes', async () => {
    const { store, disk, file } = await openStore();
    const durable = addWorkspace(store);
    await store.commit();
    disk.hold();
    disk.failing = true;
    // Both changes are made before the write exports the image: one write carries them.
    const first = addWorkspace(store);
    const second = addWorkspace(store);
    const firstCommit = store.commit();
    const secondCommit = store.commit();
    // Made while that write runs: it builds on state that is about to be undone.
    const during = addWorkspace(store);
    const duringCommit = store.commit();
    const outcomes = Promise.allSettled([firstCommit, secondCommit, duringCommit]);
    disk.release();
    const settled = await outcomes;
    assert.deepEqual(
      settled.map((outcome) => outcome.status),
      ['rejected', 'rejected', 'rejected'],
    );
    for (const id of [first, second, during]) assert.equal(store.workspaces.get(id), undefined, `${id} is undone`);
    disk.failing = false;
    const after = addWorkspace(store);
    await store.commit();
    assert.deepEqual(ids(store), [durable, after]);
    assert.deepEqual(await idsOnDisk(file), [durable, after]);
    store.close();
  });

  it('answers a caller whose change a successful write carried, even when the next write fails', async () => {
    const { store, disk, file } = await openStore();
    disk.hold();
    const carried = addWorkspace(store);
    const carriedCommit = store.commit();
    const joinedLate = store.commit(); // its change is in the running write's image already
    const next = addWorkspace(store);
    const nextCommit = store.commit();
    disk.release();
    await carriedCommit;
    await joinedLate;
    disk.failing = true;
    await assert.rejects(nextCommit);
    assert.deepEqual(ids(store), [carried]);
    disk.failing = false;
    assert.deepEqual(await idsOnDisk(file), [carried], `${next} was never written`);
    store.close();
  });

  it('undoes and logs a failed lazy write of statistics, and throws nothing', async () => {
    const { store, disk, log, file, clock } = await openStore();
    const id = addWorkspace(store);
    await store.commit();
    disk.failing = true;
    store.workspaces.recordAccess(id, 2, { commands: 1 });
    store.commitSoon();
    await clock.advance(60_000);
    await eventually(() => log.errors.length === 1, 'the failed lazy write to be logged');
    assert.equal(store.workspaces.get(id)?.stats.commands, 0, 'the statistics are undone, not left for a later write');
    disk.failing = false;
    await store.commit();
    assert.equal(await commandsOnDisk(file, id), 0, 'a later write does not bring them back');
    const writes = disk.writes;
    store.workspaces.recordAccess(id, 3, { commands: 1 });
    store.commitSoon();
    await clock.advance(60_000);
    await eventually(() => disk.writes === writes + 1, 'the next lazy write');
    await store.commit(); // after that write
    assert.equal(log.errors.length, 1);
    store.close();
    assert.equal(await commandsOnDisk(file, id), 1, 'lazy writes work again');
  });

  it('puts the last durable image back when the file was replaced but its directory could not be synced', async () => {
    const file = path.join(tempDir(), 'state.sqlite');
    const log = new RecordingLog();
    let unsynced = false;
    const store = await Store.open(file, new FakeClock(), {
      log,
      writeFile: async (target, bytes) => {
        await writeFileAtomically(target, bytes);
        if (unsynced) throw new UnsyncedRenameError(target, new Error('EIO: i/o error, fsync'));
      },
    });
    const kept = addWorkspace(store);
    await store.commit();
    unsynced = true;
    addWorkspace(store);
    await assert.rejects(store.commit(), /could not be synced/);
    unsynced = false;
    assert.deepEqual(ids(store), [kept]);
    assert.deepEqual(await idsOnDisk(file), [kept], 'the file says what memory says');
    store.close();
  });

  it('undoes the change with the real writer too, when the file cannot be replaced', async () => {
    const file = path.join(tempDir(), 'state.sqlite');
    const store = await Store.open(file, new FakeClock(), { log: new RecordingLog() });
    const kept = addWorkspace(store);
    await store.commit();
    const saved = fs.readFileSync(file);
    // A non-empty directory in the file's place: the rename over it fails.
    fs.rmSync(file);
    fs.mkdirSync(path.join(file, 'blocker'), { recursive: true });
    const ghost = addWorkspace(store);
    await assert.rejects(store.commit(), /the change was undone/);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['state.sqlite'], 'the failed write removed its temporary file');
    fs.rmSync(file, { recursive: true });
    fs.writeFileSync(file, saved);
    await store.commit();
    assert.deepEqual(await idsOnDisk(file), [kept], `no ghost ${ghost}`);
    store.close();
  });
});

describe('leftovers of interrupted writes', () => {
  it('are removed when the store opens, and nothing else is', async () => {
    const directory = tempDir();
    const file = path.join(directory, 'state.sqlite');
    const first = await Store.open(file, new FakeClock(), { log: new RecordingLog() });
    const id = addWorkspace(first);
    await first.commit();
    first.close();
    const leftovers = ['state.sqlite.4242.tmp', 'state.sqlite.1.tmp'];
    const others = ['state.sqlite.tmp', 'state.sqlite.12a.tmp', 'state.sqlite.7.tmp.bak', 'xstate.sqlite.3.tmp', 'config.json', 'notes.txt'];
    for (const name of [...leftovers, ...others]) fs.writeFileSync(path.join(directory, name), 'half a database');
    fs.mkdirSync(path.join(directory, 'state.sqlite.5.tmp')); // not a file: not ours to remove
    const log = new RecordingLog();
    const store = await Store.open(file, new FakeClock(), { log });
    assert.deepEqual(ids(store), [id]);
    assert.deepEqual(fs.readdirSync(directory).sort(), [...others, 'state.sqlite', 'state.sqlite.5.tmp'].sort());
    assert.equal(log.infos.filter((line) => /left by an interrupted write/.test(line)).length, leftovers.length);
    store.close();
  });

  it('are found only beside the target, and a missing directory means none', async () => {
    const directory = tempDir();
    fs.mkdirSync(path.join(directory, 'sub'));
    fs.writeFileSync(path.join(directory, 'sub', 'state.sqlite.9.tmp'), 'x');
    assert.deepEqual(await removeStaleTemporaryFiles(path.join(directory, 'state.sqlite')), []);
    assert.ok(fs.existsSync(path.join(directory, 'sub', 'state.sqlite.9.tmp')));
    assert.deepEqual(await removeStaleTemporaryFiles(path.join(directory, 'missing', 'state.sqlite')), []);
  });
});

describe('durable writes', () => {
  it('never run two at once, even for a caller that comes between one write and the queued next', async () => {
    let running = 0;
    let most = 0;
    const releases: Array<() => void> = [];
    const coalescer = new WriteCoalescer(async () => {
      running++;
      most = Math.max(most, running);
      await new Promise<void>((release) => releases.push(release));
      running--;
    });
    const first = coalescer.flush();
    const queued = coalescer.flush();
    // Runs when the first write has ended but before the queued one started.
    const between = first.then(() => coalescer.flush());
    releases[0]();
    await first;
    await eventually(() => releases.length === 2, 'the queued write to start');
    assert.equal(releases.length, 2, 'the late caller joined the queued write');
    releases[1]();
    await Promise.all([queued, between]);
    assert.equal(most, 1);
  });
});
