import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { removeStaleTemporaryFiles, writeFileAtomically } from '../../sidecar/store/durableFile';
import { Store } from '../../sidecar/store/store';
import { WriteCoalescer } from '../../sidecar/store/writeCoalescer';
import type { Logger } from '../../sidecar/util/log';
import { eventually, FakeClock } from './fakes/clock';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sk-rollback-'));

/**
 * A disk that works until told otherwise: journal appends (`writes`) fail while `failing`,
 * and can be held open to let others queue up; checkpoint images go through `writeFile`.
 */
class Disk {
  failing = false;
  writes = 0;
  checkpoints = 0;
  checkpointFails = false;
  private held: Array<() => void> | undefined;

  readonly beforeAppend = async (): Promise<void> => {
    this.writes++;
    if (this.held) await new Promise<void>((release) => this.held!.push(release));
    if (this.failing) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  };

  readonly writeFile = async (target: string, bytes: Uint8Array): Promise<void> => {
    this.checkpoints++;
    if (this.checkpointFails) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
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

/** Waits (real time, bounded) for what real file writes and fsyncs bring about. */
async function untilOnDisk(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; waited < 10_000; waited += 10) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`Timed out waiting for ${what}.`);
}

const ids = (store: Store) => store.workspaces.list().map((workspace) => workspace.id);

async function openStore(file = path.join(tempDir(), 'state.sqlite'), clock = new FakeClock()) {
  const disk = new Disk();
  const log = new RecordingLog();
  const store = await Store.open(file, clock, { writeFile: disk.writeFile, beforeAppend: disk.beforeAppend, log });
  return { store, disk, log, file, clock };
}

/**
 * A copy of the database file and its journal, opened as the next start would open them (a
 * copy: an open may replay and checkpoint, and the store under test still owns the files).
 */
async function reopenCopy<T>(file: string, read: (store: Store) => T): Promise<T> {
  const directory = tempDir();
  for (const name of [path.basename(file), `${path.basename(file)}.journal`]) {
    if (fs.existsSync(path.join(path.dirname(file), name))) fs.copyFileSync(path.join(path.dirname(file), name), path.join(directory, name));
  }
  const reopened = await Store.open(path.join(directory, path.basename(file)), new FakeClock(), { log: new RecordingLog() });
  try {
    return read(reopened);
  } finally {
    reopened.close();
  }
}

/** What the files hold, as the next start would see it. */
const idsOnDisk = (file: string) => reopenCopy(file, ids);
const commandsOnDisk = (file: string, id: string) => reopenCopy(file, (store) => store.workspaces.get(id)?.stats.commands);

describe('store rollback after a failed journal append', () => {
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

  it('serves no row read while its change was pending once the change is undone (the row cache is dropped)', async () => {
    const { store, disk } = await openStore();
    const id = addWorkspace(store);
    await store.commit();
    disk.failing = true;
    store.workspaces.rename(id, 'doomed');
    assert.equal(store.workspaces.get(id)?.name, 'doomed', 'memory has the change, and the cache the row with it');
    assert.equal(store.workspaces.list()[0].name, 'doomed');
    await assert.rejects(store.commit());
    assert.equal(store.workspaces.get(id)?.name, id, 'the durable name, not the cached one');
    assert.equal(store.workspaces.list()[0].name, id);
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
    assert.deepEqual(ids(store).sort(), [durable, after].sort());
    assert.deepEqual((await idsOnDisk(file)).sort(), [durable, after].sort());
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

  it('loses nothing when a checkpoint cannot be written: the journal keeps every change, replayed at the next start', async () => {
    const { store, disk, file, clock, log } = await openStore();
    const first = addWorkspace(store);
    await store.commit();
    disk.checkpointFails = true;
    await clock.advance(6 * 60_000); // the oldest record is old: the next append is followed by a checkpoint
    const second = addWorkspace(store);
    await store.commit();
    await untilOnDisk(() => log.errors.some((line) => /writing the checkpoint .* failed; the journal keeps every change/.test(line)), 'the failed checkpoint to be logged');
    const third = addWorkspace(store);
    await store.commit();
    store.close();
    assert.deepEqual(await idsOnDisk(file), [first, second, third]);
  });

  it('checkpoints once the journal is old, then keeps only later records in it; a restart replays them', async () => {
    const { store, disk, file, clock } = await openStore();
    const before = disk.checkpoints;
    const first = addWorkspace(store);
    await store.commit();
    await clock.advance(6 * 60_000);
    const second = addWorkspace(store);
    await store.commit();
    await eventually(() => disk.checkpoints === before + 1, 'the checkpoint');
    await untilOnDisk(() => fs.statSync(`${file}.journal`).size === 4, 'the journal to hold no record the checkpoint has');
    const third = addWorkspace(store);
    await store.commit();
    store.close();
    assert.deepEqual(await idsOnDisk(file), [first, second, third], 'the checkpoint plus the one record after it');
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
    assert.deepEqual(fs.readdirSync(directory).sort(), [...others, 'state.sqlite', 'state.sqlite.journal', 'state.sqlite.5.tmp'].sort());
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
