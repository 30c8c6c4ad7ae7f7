import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import initSqlJs from 'sql.js';
import { Database } from '../../sidecar/store/database';
import { writeFileAtomically } from '../../sidecar/store/durableFile';
import { migrate, MIGRATIONS, schemaVersion, type Migration } from '../../sidecar/store/migrations';
import { WriteCoalescer } from '../../sidecar/store/writeCoalescer';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sk-store-'));

describe('migrations', () => {
  it('apply in order on a new database and record the version', async () => {
    const SQL = await initSqlJs();
    const db = new SQL.Database();
    assert.deepEqual(migrate(db), MIGRATIONS.map((m) => m.version));
    assert.equal(schemaVersion(db), MIGRATIONS.at(-1)!.version);
    assert.deepEqual(migrate(db), [], 'a second open applies nothing');
  });

  it('keep existing rows when a later migration adds a table', async () => {
    const SQL = await initSqlJs();
    const db = new SQL.Database();
    migrate(db);
    db.run(`INSERT INTO meta (key, value) VALUES ('instance', 'abc')`);
    const next: Migration = { version: 99, description: 'add notes', up: (d) => d.run('CREATE TABLE notes (id TEXT)') };
    assert.deepEqual(migrate(db, [...MIGRATIONS, next]), [99]);
    assert.equal(db.exec(`SELECT value FROM meta WHERE key = 'instance'`)[0].values[0][0], 'abc');
  });

  it('roll back a failing migration and leave the version where it was', async () => {
    const SQL = await initSqlJs();
    const db = new SQL.Database();
    migrate(db);
    const broken: Migration = { version: 50, description: 'broken', up: (d) => d.run('CREATE TABLE half (id TEXT); SELECT * FROM missing') };
    assert.throws(() => migrate(db, [...MIGRATIONS, broken]), /Migration 50 \(broken\) failed/);
    assert.equal(schemaVersion(db), MIGRATIONS.at(-1)!.version);
    assert.equal(db.exec(`SELECT name FROM sqlite_master WHERE name = 'half'`).length, 0);
  });

  it('refuse a database newer than this code', async () => {
    const SQL = await initSqlJs();
    const db = new SQL.Database();
    db.run('PRAGMA user_version = 500');
    assert.throws(() => migrate(db), /newer than this Sandkasten knows/);
  });
});

describe('durable writes', () => {
  it('replace the file whole and leave no temporary file behind', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'state.sqlite');
    await writeFileAtomically(file, Buffer.from('one'));
    await writeFileAtomically(file, Buffer.from('two'));
    assert.equal(fs.readFileSync(file, 'utf8'), 'two');
    assert.deepEqual(fs.readdirSync(dir), ['state.sqlite']);
  });

  it('share one write among changes made while a write runs, and each caller waits for a write that started after it', async () => {
    const started: number[] = [];
    const releases: Array<() => void> = [];
    let version = 0;
    const coalescer = new WriteCoalescer(() => {
      started.push(version);
      return new Promise<void>((resolve) => releases.push(resolve));
    });
    version = 1;
    const first = coalescer.flush();
    version = 2;
    const second = coalescer.flush();
    version = 3;
    const third = coalescer.flush();
    assert.equal(second, third, 'callers during a running write join the same next write');
    assert.deepEqual(started, [1]);
    let secondDone = false;
    void second.then(() => (secondDone = true));
    releases[0]();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(secondDone, false, 'the second change is not acknowledged by the first write');
    assert.deepEqual(started, [1, 3], 'the next write carries every change made meanwhile');
    releases[1]();
    await Promise.all([second, third]);
    assert.equal(started.length, 2);
  });

  it('report a failed write to its own callers only', async () => {
    let fail = true;
    const coalescer = new WriteCoalescer(async () => {
      if (fail) throw new Error('disk full');
    });
    const failing = coalescer.flush();
    fail = false;
    const next = coalescer.flush();
    await assert.rejects(failing, /disk full/);
    await next;
  });

  it('keep committed rows across a reopen of the database file', async () => {
    const file = path.join(tempDir(), 'state.sqlite');
    const db = await Database.open(file);
    db.run(`INSERT INTO meta (key, value) VALUES ('k', 'v')`);
    await db.commit();
    db.close();
    const reopened = await Database.open(file);
    assert.equal(reopened.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'k'`)?.value, 'v');
    reopened.close();
  });
});
