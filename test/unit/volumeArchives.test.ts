import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import type { ContainerSpec } from '../../sidecar/docker/engine';
import { SandkastenError } from '../../sidecar/errors';
import { planReconciliation } from '../../sidecar/reconcile';
import { ARCHIVE_MOUNT, copyScript, restoreScript, saveScript } from '../../sidecar/volumes/archiveScripts';
import { checkTarGzipFile, TarStructure } from '../../sidecar/volumes/tarGzipCheck';
import { VolumeArchives } from '../../sidecar/volumes/volumeArchives';
import { FakeClock } from './fakes/clock';
import { FakeEngine } from './fakes/engine';

/** One tar header block: name, type and size field as given, the checksum computed. */
function header(name: string, type: string, size: number | Buffer, tweak?: (block: Buffer) => void): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, 'latin1');
  block.write('0000644\0', 100, 'latin1');
  if (Buffer.isBuffer(size)) size.copy(block, 124);
  else block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  block.write(type, 156, 'latin1');
  block.write('ustar\0', 257, 'latin1');
  block.write('00', 263, 'latin1');
  tweak?.(block);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

/** `bytes` padded with zeros to whole blocks. */
const data = (bytes: Buffer) => Buffer.concat([bytes, Buffer.alloc((512 - (bytes.length % 512)) % 512)]);
const END = Buffer.alloc(1024);
/** A pax record: "<length> key=value\n", the length counting itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length++;
  return `${length}${body}`;
}

/** Runs TarStructure over `archive`, pushed in chunks of `chunk` bytes. */
function walk(archive: Buffer, chunk = 100): TarStructure {
  const structure = new TarStructure();
  for (let at = 0; at < archive.length; at += chunk) structure.push(archive.subarray(at, at + chunk));
  structure.finish();
  return structure;
}

describe('tar structure check', () => {
  it('follows files, directories, links, pax sizes, base-256 sizes and old GNU sparse extensions to the end mark', () => {
    const content = Buffer.from('x'.repeat(1000));
    const pax = Buffer.from(paxRecord('path', 'a/long/name') + paxRecord('size', '700'));
    const base256 = Buffer.alloc(12);
    base256[0] = 0x80;
    base256.writeUInt32BE(600, 8);
    const archive = Buffer.concat([
      header('dir/', '5', 0),
      header('dir/file', '0', content.length),
      data(content),
      // A link's size field does not mean data follows.
      header('dir/link', '2', 4096),
      header('PaxHeaders/big', 'x', pax.length),
      data(pax),
      header('big', '0', 0), // the pax header's size (700) wins
      data(Buffer.alloc(700, 1)),
      header('huge', '0', base256),
      data(Buffer.alloc(600, 2)),
      header('sparse', 'S', 100, (block) => (block[482] = 1)),
      Buffer.alloc(512, 0).fill(1, 504, 505), // extension, another follows
      Buffer.alloc(512, 0), // the last extension
      data(Buffer.alloc(100, 3)),
      END,
      Buffer.alloc(512 * 7), // record padding
    ]);
    assert.equal(walk(archive).members, 6);
    assert.equal(walk(archive, 1).members, 6, 'any chunking');
    assert.equal(walk(archive, 64 * 1024).members, 6);
  });

  it('rejects what is not a whole archive', () => {
    const content = Buffer.from('hello');
    const good = Buffer.concat([header('a', '0', content.length), data(content), END]);
    const damaged = Buffer.from(good);
    damaged[10] ^= 1;
    const cases: Array<[string, Buffer, RegExp]> = [
      ['nothing', Buffer.alloc(0), /not a tar archive/],
      ['text', data(Buffer.from('just some text')), /not a tar archive/],
      ['damaged header', damaged, /not a tar archive/],
      ['cut in the data', good.subarray(0, 700), /ends inside a member/],
      ['cut before the end mark', good.subarray(0, 1024), /without its end-of-archive mark/],
      ['one zero block only', good.subarray(0, 1536), /without its end-of-archive mark/],
      ['data after the end mark', Buffer.concat([good, header('b', '0', 0)]), /data follows the end-of-archive mark/],
      ['a second header damaged', Buffer.concat([good.subarray(0, 1024), Buffer.from(damaged.subarray(0, 512)), END]), /damaged/],
    ];
    for (const [what, archive, message] of cases) assert.throws(() => walk(archive), message, what);
  });
});

describe('archive files on the host', () => {
  let directory: string;
  beforeEach(() => (directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-archive-unit-'))));
  afterEach(() => fs.rmSync(directory, { recursive: true, force: true }));

  const archive = () => zlib.gzipSync(Buffer.concat([header('a', '0', 5), data(Buffer.from('hello')), END]));

  it('returns the size and SHA-256 of a whole gzip’d tar', async () => {
    const file = path.join(directory, 'a.tar.gz');
    const bytes = archive();
    fs.writeFileSync(file, bytes);
    assert.deepEqual(await checkTarGzipFile(file), { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  });

  it('says what is wrong with one that is not (InvalidInput), and NotFound for a missing file', async () => {
    const bytes = archive();
    const cases: Array<[string, Buffer, RegExp]> = [
      ['cut.tar.gz', bytes.subarray(0, bytes.length - 4), /ends too early/],
      ['plain.tar', zlib.gunzipSync(bytes), /not a valid gzip file/],
      ['garbage.tar.gz', Buffer.concat([bytes, Buffer.from('more')]), /not a valid gzip file/],
      ['text.gz', zlib.gzipSync(Buffer.from('hello')), /not a valid archive: it is not a tar archive/],
    ];
    for (const [name, content, message] of cases) {
      fs.writeFileSync(path.join(directory, name), content);
      await assert.rejects(checkTarGzipFile(path.join(directory, name)), (error: unknown) => {
        assert.ok(error instanceof SandkastenError && error.codeName === 'InvalidInput', `${name}: ${String(error)}`);
        assert.match(error.message, message);
        return true;
      });
    }
    await assert.rejects(checkTarGzipFile(path.join(directory, 'missing')), (error: unknown) => error instanceof SandkastenError && error.codeName === 'NotFound');
  });
});

describe('archive scripts', () => {
  it('are valid sh, with the xattr pattern quoted (never a glob in the helper’s cwd)', () => {
    for (const script of [saveScript(), restoreScript(), copyScript()]) {
      execFileSync('sh', ['-n', '-c', script]);
      assert.match(script, /'--xattrs-include=user\.\*'/);
    }
  });

  it('keep sparse files, numeric owners and nanosecond mtimes (pax), and restore modes and owners as archived', () => {
    assert.match(saveScript(), /--format=posix.*--sparse.*--numeric-owner/);
    assert.match(saveScript(), /--use-compress-program='gzip -1'/);
    assert.match(restoreScript(), /--numeric-owner.*--same-owner.*--same-permissions/);
    assert.match(restoreScript(), /find \/sandkasten-archive\/volume -mindepth 1/, 'refuses a volume that is not empty');
  });
});

describe('volume archives with a fake engine', () => {
  let directory: string;
  let engine: FakeEngine;
  let archives: VolumeArchives;
  const errors: string[] = [];
  beforeEach(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-archive-unit-'));
    engine = new FakeEngine({ images: [] });
    archives = new VolumeArchives({ engine, clock: new FakeClock(), log: { info: () => undefined, error: (message) => errors.push(message) }, helperImage: () => 'helper:1' });
    await engine.createVolume('vol-a', { role: 'workspace' });
    await engine.createVolume('vol-b', { role: 'workspace' });
  });
  afterEach(() => fs.rmSync(directory, { recursive: true, force: true }));

  it('runs a save in a helper of role archive: the image pulled when missing, no network, the volume read-only, a read-only root; removed afterwards', async () => {
    engine.failNext('exec', new Error('engine went away'));
    await assert.rejects(archives.save('vol-a', path.join(directory, 'a.tar.gz')), /engine went away/);
    assert.deepEqual(engine.callsTo('ensureImage'), [['helper:1']]);
    const spec = engine.callsTo('createContainer').at(-1)![0] as ContainerSpec;
    assert.equal(spec.role, 'archive');
    assert.equal(spec.network, 'none');
    assert.equal(spec.readOnlyRoot, true);
    assert.equal(spec.workspaceId, undefined);
    assert.deepEqual(spec.mounts, [{ type: 'volume', source: 'vol-a', target: ARCHIVE_MOUNT.volume, readOnly: true }]);
    assert.equal(engine.containers.size, 0, 'the helper is removed');
    assert.deepEqual(fs.readdirSync(directory), [], 'no partial file is left');
  });

  it('removes the helper when its start fails, and mounts copy’s source read-only and its target writable', async () => {
    engine.failNext('startContainer', new Error('no start'));
    await assert.rejects(archives.copy('vol-a', 'vol-b'), /no start/);
    const spec = engine.callsTo('createContainer').at(-1)![0] as ContainerSpec;
    assert.deepEqual(
      spec.mounts.map((mount) => [mount.source, mount.readOnly ?? false]),
      [
        ['vol-a', true],
        ['vol-b', false],
      ],
    );
    assert.equal(engine.containers.size, 0);
  });

  it('refuses a volume that is not this instance’s (NotFound) before any container is made (Docker would make it)', async () => {
    await assert.rejects(archives.save('vol-nobody', path.join(directory, 'a.tar.gz')), (error: unknown) => error instanceof SandkastenError && error.codeName === 'NotFound');
    await assert.rejects(archives.copy('vol-a', 'vol-nobody'), (error: unknown) => error instanceof SandkastenError && error.codeName === 'NotFound');
    assert.deepEqual(engine.callsTo('createContainer'), []);
    assert.equal(engine.volumes.has('vol-nobody'), false);
    assert.deepEqual(fs.readdirSync(directory), []);
  });

  it('does not start when already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    await assert.rejects(archives.copy('vol-a', 'vol-b', controller.signal), /too late/);
    assert.deepEqual(engine.callsTo('createContainer'), []);
  });
});

describe('archive helpers and reconciliation', () => {
  it('removes an archive helper a crash left behind (it belongs to no session)', () => {
    const plan = planReconciliation(
      { workspaces: [], sessions: [] },
      {
        containers: [{ id: 'h1', name: 'h1', running: true, paused: false, mounts: [], labels: { 'sandkasten.managed': 'true', 'sandkasten.instance': 'i1', 'sandkasten.role': 'archive' } }],
        volumes: [],
      },
    );
    assert.deepEqual(plan.removeContainers, ['h1']);
  });
});
