/**
 * VolumeArchives against the real Docker engine: volumes saved to files, restored and copied,
 * compared by a manifest computed inside a container (never from the host). Runs without a
 * sidecar, on a DockerEngine of an instance id of its own, so it disturbs nothing else.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import type { ErrorCodeName } from '../../sidecar/client/protocol';
import { DockerEngine } from '../../sidecar/docker/dockerEngine';
import type { Mount } from '../../sidecar/docker/engine';
import { SandkastenError } from '../../sidecar/errors';
import { systemClock } from '../../sidecar/util/clock';
import { VolumeArchives, type ArchiveProgress } from '../../sidecar/volumes/volumeArchives';

const HELPER_IMAGE = 'debian:bookworm-slim';
const instanceId = `archivetest${randomBytes(4).toString('hex')}`;
const engine = new DockerEngine(instanceId);
const loggedErrors: string[] = [];
const archives = new VolumeArchives({
  engine,
  clock: systemClock,
  log: { info: () => undefined, error: (message) => loggedErrors.push(message) },
  helperImage: () => HELPER_IMAGE,
});

const volumes = new Set<string>();
let directory = '';

async function newVolume(label: string): Promise<string> {
  const name = `sandkasten-${instanceId}-${label}-${randomBytes(3).toString('hex')}`;
  await engine.createVolume(name, { role: 'workspace' });
  volumes.add(name);
  return name;
}

/** Runs a script (`set -e`) as root in a throwaway container of the helper image; returns its stdout. */
async function inContainer(mounts: Mount[], script: string): Promise<string> {
  const id = await engine.createContainer({
    name: `sandkasten-${instanceId}-test-${randomBytes(3).toString('hex')}`,
    image: HELPER_IMAGE,
    role: 'session',
    command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 86400 & wait $!; done'],
    mounts,
    cpus: 1,
    memoryMb: 512,
    pids: 64,
    network: 'none',
    readOnlyRoot: false,
  });
  try {
    await engine.startContainer(id);
    const output = await engine.runOnce(id, ['sh', '-c', `set -e\n${script}\necho __done__`], { maxBytes: 16 * 1024 * 1024 });
    assert.match(output, /__done__\n$/, `the script ran to its end; it printed:\n${output.slice(-2000)}`);
    return output.replace(/__done__\n$/, '');
  } finally {
    await engine.removeContainer(id);
  }
}

/**
 * Sets (`xattr set PATH NAME VALUE`) or prints (`xattr get PATH NAME`) an extended attribute
 * through the system calls themselves: the Debian image has perl but not the attr tools.
 */
const XATTR_SCRIPT = `cat > /tmp/xattr.pl <<'EOF'
my %calls = (x86_64 => [188, 191], aarch64 => [5, 8]);
my ($set, $get) = @{ $calls{$ARGV[0]} or die "no xattr system call numbers for $ARGV[0]" };
my ($op, $path, $name, $value) = @ARGV[1..4];
if ($op eq 'set') { syscall($set, $path, $name, $value, length($value), 0) == 0 or die "setxattr: $!"; }
else { my $buffer = "\\0" x 256; my $n = syscall($get, $path, $name, $buffer, 256); die "getxattr: $!" if $n < 0; print substr($buffer, 0, $n), "\\n"; }
EOF
xattr() { perl /tmp/xattr.pl "$(uname -m)" "$@"; }`;

/**
 * Everything of the test tree a restore must keep: regular files with random content in
 * nested directories, an empty directory and an empty file, a name with spaces, symbolic
 * links (out of the volume, dangling, inside), a hard-link pair, a 100 MiB sparse file with
 * 8 KiB of data, setuid, sticky and private modes owned by 1234:5678, a FIFO, a user xattr,
 * set mtimes; and a Unix socket, which tar leaves out (it means nothing without its process).
 */
const POPULATE = `${XATTR_SCRIPT}
cd /v
mkdir -p src/nested/deeper empty
head -c 300000 /dev/urandom > src/random.bin
head -c 1 /dev/urandom > src/nested/one-byte
: > src/nested/deeper/empty-file
head -c 70000 /dev/urandom > 'src/name with spaces'
ln -s /etc/passwd link-out
ln -s does/not/exist link-dangling
ln -s src/random.bin link-inside
head -c 5000 /dev/urandom > hard-a
ln hard-a src/hard-b
dd if=/dev/urandom of=sparse bs=4096 count=2 seek=12800 conv=notrunc 2>/dev/null
truncate -s 100M sparse
printf suid > suid; chown 1234:5678 suid; chmod 4755 suid
mkdir sticky; chown 1234:5678 sticky; chmod 1777 sticky
printf secret > secret; chown 1234:5678 secret; chmod 0600 secret
mkfifo fifo
xattr set /v/src/random.bin user.sandkasten kept
perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => "/v/socket", Listen => 1) or die "socket: $!"'
touch -h -d '2001-02-03 04:05:06.123456789' link-out
touch -d '1999-12-31 23:59:59.5' src/random.bin
touch -d '2010-01-01 00:00:00' empty src/nested`;

interface Entry {
  type: string;
  mode: string;
  uid: string;
  gid: string;
  /** Regular files and links only: a directory's size is its filesystem's business. */
  size?: string;
  target: string;
  mtime: string;
  sha256?: string;
  /** For a file with several names: the first of them (the inode number itself differs between volumes). */
  sameInodeAs?: string;
  /** Allocated bytes (regular files). */
  allocated?: number;
}

/** The volume's tree as seen inside a container: path → what it is. */
async function manifest(volume: string): Promise<Map<string, Entry>> {
  const output = await inContainer(
    [{ type: 'volume', source: volume, target: '/m', readOnly: true }],
    `cd /m
find . -printf '%p\\t%y\\t%m\\t%U\\t%G\\t%s\\t%l\\t%i\\t%n\\t%b\\t%T@\\n' | LC_ALL=C sort
echo --
find . -type f -exec sha256sum {} + | LC_ALL=C sort -k2`,
  );
  const [listing, sums] = output.split('--\n');
  const entries = new Map<string, Entry>();
  const firstNameOfInode = new Map<string, string>();
  for (const line of listing.trim().split('\n')) {
    const [name, type, mode, uid, gid, size, target, inode, links, blocks, mtime] = line.split('\t');
    const entry: Entry = { type, mode, uid, gid, target, mtime };
    if (type === 'f' || type === 'l') entry.size = size;
    if (type === 'f') entry.allocated = Number(blocks) * 512;
    if (type === 'f' && Number(links) > 1) {
      if (!firstNameOfInode.has(inode)) firstNameOfInode.set(inode, name);
      entry.sameInodeAs = firstNameOfInode.get(inode);
    }
    entries.set(name, entry);
  }
  for (const line of sums.split('\n').filter(Boolean)) {
    const [sha256, name] = [line.slice(0, 64), line.slice(66)];
    entries.get(name)!.sha256 = sha256;
  }
  return entries;
}

/** The manifest without allocation sizes, which a filesystem may choose differently for the same content. */
function comparable(entries: Map<string, Entry>): Record<string, Omit<Entry, 'allocated'>> {
  return Object.fromEntries([...entries].map(([name, { allocated: _allocated, ...rest }]) => [name, rest]));
}

async function xattrOf(volume: string, file: string, name: string): Promise<string> {
  const output = await inContainer([{ type: 'volume', source: volume, target: '/m', readOnly: true }], `${XATTR_SCRIPT}\nxattr get /m/${file} ${name}`);
  return output.trim();
}

async function expectCode(promise: Promise<unknown>, code: ErrorCodeName, message?: RegExp): Promise<SandkastenError> {
  const error = await promise.then(
    () => assert.fail(`expected ${code}, but it succeeded`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof SandkastenError, `expected a SandkastenError ${code}, got ${String(error)}`);
  assert.equal(error.codeName, code, error.message);
  if (message) assert.match(error.message, message);
  return error;
}

const partialFiles = () => fs.readdirSync(directory).filter((name) => name.includes('.partial-'));
const sha256Of = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('volume archives', () => {
  before(async () => {
    await engine.requireAvailable();
    const images = await engine.listImages();
    assert.ok(
      images.some((image) => image.reference === HELPER_IMAGE),
      `${HELPER_IMAGE} is not a local image: run \`bash scripts/build-test-image.sh --debian\` (integration tests never skip).`,
    );
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-archives-'));
  });

  afterEach(async () => {
    assert.deepEqual(await engine.listOwnContainers('archive'), [], 'every archive helper is removed');
    assert.deepEqual(partialFiles(), [], 'no partial archive file is left');
    for (const volume of volumes) await engine.removeVolume(volume);
    volumes.clear();
    for (const name of fs.readdirSync(directory)) fs.rmSync(path.join(directory, name), { force: true });
  });

  after(async () => {
    for (const container of await engine.listOwnContainers()) await engine.removeContainer(container.id);
    for (const volume of await engine.listOwnVolumes()) await engine.removeVolume(volume.name);
    if (directory) fs.rmSync(directory, { recursive: true, force: true });
    assert.deepEqual(loggedErrors, [], 'nothing went wrong on the way (removing helpers, partial files)');
  });

  it('saves a volume and restores it byte for byte: content, owners, modes, links, a sparse file, a FIFO, mtimes', async () => {
    const source = await newVolume('source');
    await inContainer([{ type: 'volume', source, target: '/v' }], POPULATE);
    const file = path.join(directory, 'source.tar.gz');
    const saveProgress: number[] = [];
    const saved = await archives.save(source, file, (progress: ArchiveProgress) => saveProgress.push(progress.bytes));

    assert.equal(saved.bytes, fs.statSync(file).size);
    assert.equal(saved.sha256, sha256Of(file));
    assert.ok(saved.bytes < 2 * 1024 * 1024, `the sparse file's holes are not stored (the archive has ${saved.bytes} bytes)`);
    assert.ok(saveProgress.length > 0 && saveProgress.every((bytes, i) => i === 0 || bytes > saveProgress[i - 1]), 'progress only grows');
    assert.equal(saveProgress.at(-1), saved.bytes);
    assert.equal((fs.statSync(file).mode & 0o777).toString(8), '600', 'the archive file is its owner’s only');

    const restored = await newVolume('restored');
    const restoreProgress: number[] = [];
    await archives.restore(file, restored, (progress) => restoreProgress.push(progress.bytes));
    assert.equal(restoreProgress.at(-1), saved.bytes);

    const [before, after] = [await manifest(source), await manifest(restored)];
    assert.equal(before.get('./socket')?.type, 's');
    before.delete('./socket');
    assert.deepEqual(comparable(after), comparable(before));
    assert.equal(await xattrOf(restored, 'src/random.bin', 'user.sandkasten'), 'kept');
    // The manifest holds what the test made (so equality above means something).
    assert.deepEqual(
      { ...after.get('./link-out'), allocated: undefined },
      { ...before.get('./link-out'), allocated: undefined, type: 'l', target: '/etc/passwd', mtime: '981173106.1234567890' },
    );
    assert.equal(after.get('./link-dangling')?.target, 'does/not/exist');
    assert.equal(after.get('./src/hard-b')?.sameInodeAs, './hard-a');
    assert.equal(after.get('./hard-a')?.sameInodeAs, './hard-a');
    assert.deepEqual([after.get('./suid')?.mode, after.get('./suid')?.uid, after.get('./suid')?.gid], ['4755', '1234', '5678']);
    assert.deepEqual([after.get('./sticky')?.type, after.get('./sticky')?.mode, after.get('./sticky')?.uid], ['d', '1777', '1234']);
    assert.deepEqual([after.get('./secret')?.mode, after.get('./secret')?.gid], ['600', '5678']);
    assert.equal(after.get('./fifo')?.type, 'p');
    assert.equal(after.get('./empty')?.type, 'd');
    assert.equal(after.get('./src/random.bin')?.mtime, '946684799.5000000000');
    assert.equal(after.get('./sparse')?.size, String(100 * 1024 * 1024));
    assert.ok(after.get('./sparse')!.allocated! < 1024 * 1024, `the sparse file stays sparse (${after.get('./sparse')!.allocated} bytes allocated)`);
  });

  it('copies a volume into an empty one, identical', async () => {
    const source = await newVolume('source');
    await inContainer([{ type: 'volume', source, target: '/v' }], POPULATE);
    const copy = await newVolume('copy');
    await archives.copy(source, copy);
    const [before, after] = [await manifest(source), await manifest(copy)];
    before.delete('./socket');
    assert.deepEqual(comparable(after), comparable(before));
    assert.equal(await xattrOf(copy, 'src/random.bin', 'user.sandkasten'), 'kept');
    assert.ok(after.get('./sparse')!.allocated! < 1024 * 1024, 'the sparse file stays sparse');
    assert.equal(after.get('./src/hard-b')?.sameInodeAs, './hard-a');
  });

  it('restores and copies only into an empty volume (Conflict), leaving that volume as it was', async () => {
    const source = await newVolume('source');
    await inContainer([{ type: 'volume', source, target: '/v' }], 'echo data > /v/file');
    const file = path.join(directory, 'small.tar.gz');
    await archives.save(source, file);
    const occupied = await newVolume('occupied');
    await inContainer([{ type: 'volume', source: occupied, target: '/v' }], 'echo mine > /v/.hidden');
    const before = await manifest(occupied);
    await expectCode(archives.restore(file, occupied), 'Conflict', /not empty/);
    await expectCode(archives.copy(source, occupied), 'Conflict', /not empty/);
    assert.deepEqual(await manifest(occupied), before);
  });

  it('verifies a whole archive, and rejects a truncated one, one that is not gzip, and gzip that is not tar', async () => {
    const source = await newVolume('source');
    await inContainer([{ type: 'volume', source, target: '/v' }], 'head -c 200000 /dev/urandom > /v/random');
    const file = path.join(directory, 'whole.tar.gz');
    const saved = await archives.save(source, file);
    assert.deepEqual(await archives.verify(file), saved);

    const whole = fs.readFileSync(file);
    const truncated = path.join(directory, 'truncated.tar.gz');
    fs.writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
    await expectCode(archives.verify(truncated), 'InvalidInput', /ends too early/);
    const notGzip = path.join(directory, 'random.bin');
    fs.writeFileSync(notGzip, randomBytes(100_000));
    await expectCode(archives.verify(notGzip), 'InvalidInput', /not a valid gzip file/);
    const notTar = path.join(directory, 'text.gz');
    fs.writeFileSync(notTar, zlib.gzipSync(Buffer.from('hello, this is not a tar archive\n'.repeat(100))));
    await expectCode(archives.verify(notTar), 'InvalidInput', /not a valid archive/);
    await expectCode(archives.verify(path.join(directory, 'missing.tar.gz')), 'NotFound');
  });

  it('refuses to restore a corrupt, truncated or non-gzip file (InvalidInput)', async () => {
    const source = await newVolume('source');
    await inContainer([{ type: 'volume', source, target: '/v' }], 'head -c 200000 /dev/urandom > /v/random; mkdir /v/d; echo x > /v/d/x');
    const file = path.join(directory, 'good.tar.gz');
    await archives.save(source, file);
    const whole = fs.readFileSync(file);
    const corrupt = Buffer.from(whole);
    for (let i = 0; i < 64; i++) corrupt[Math.floor(whole.length / 2) + i] ^= 0xff;
    const cases = {
      'corrupt.tar.gz': corrupt,
      'truncated.tar.gz': whole.subarray(0, whole.length - 100),
      'plain.tar': zlib.gunzipSync(whole),
      'empty.tar.gz': Buffer.alloc(0),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      fs.writeFileSync(path.join(directory, name), bytes);
      // Each into a fresh volume, as the caller does: a failed restore may have extracted some files.
      await expectCode(archives.restore(path.join(directory, name), await newVolume('target')), 'InvalidInput');
    }
    await expectCode(archives.restore(path.join(directory, 'missing.tar.gz'), await newVolume('target')), 'NotFound');
  });

  it('leaves no partial file and no helper when a save is aborted half-way, nor when it fails', async () => {
    const source = await newVolume('source');
    await inContainer([{ type: 'volume', source, target: '/v' }], 'head -c 60000000 /dev/urandom > /v/random');
    const file = path.join(directory, 'aborted.tar.gz');
    const controller = new AbortController();
    let reached = 0;
    await assert.rejects(
      archives.save(
        source,
        file,
        (progress) => {
          reached = progress.bytes;
          if (progress.bytes > 1024 * 1024) controller.abort(new Error('stopped by the test'));
        },
        controller.signal,
      ),
      /stopped by the test/,
    );
    assert.ok(reached > 1024 * 1024, 'the save was under way');
    assert.equal(fs.existsSync(file), false);
    assert.deepEqual(fs.readdirSync(directory), []);

    await assert.rejects(
      archives.save(source, file, () => {
        throw new Error('a broken progress callback');
      }),
      /a broken progress callback/,
    );
    await expectCode(archives.save(`sandkasten-${instanceId}-no-such-volume`, file), 'NotFound');
    await assert.rejects(archives.save(source, path.join(directory, 'no-such-directory', 'x.tar.gz')), /ENOENT/);
    assert.deepEqual(fs.readdirSync(directory), []);
  });

  it('refuses to save or copy a volume whose files change while they are read (Conflict)', async () => {
    const source = await newVolume('source');
    await inContainer([{ type: 'volume', source, target: '/v' }], 'head -c 20000000 /dev/urandom > /v/changing');
    const writer = await engine.createContainer({
      name: `sandkasten-${instanceId}-writer-${randomBytes(3).toString('hex')}`,
      image: HELPER_IMAGE,
      role: 'session',
      // Rewrites the file's first byte for as long as it runs, without a fork (thousands of
      // times a second): its ctime moves all the time, its size stays. Says when it is at it.
      command: ['sh', '-c', 'printf x 1<>/v/changing; : > /v/writing; while :; do printf x 1<>/v/changing; done'],
      mounts: [{ type: 'volume', source, target: '/v' }],
      cpus: 1,
      memoryMb: 256,
      pids: 16,
      network: 'none',
      readOnlyRoot: false,
    });
    try {
      await engine.startContainer(writer);
      for (let tries = 0; (await engine.runOnce(writer, ['sh', '-c', 'test -e /v/writing && echo yes'])) !== 'yes\n'; tries++) {
        assert.ok(tries < 100, 'the writer started');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await expectCode(archives.save(source, path.join(directory, 'moving.tar.gz')), 'Conflict', /changed while it was saved/);
      const copy = await newVolume('copy');
      await expectCode(archives.copy(source, copy), 'Conflict', /changed while it was copied/);
    } finally {
      await engine.removeContainer(writer);
    }
    assert.equal(fs.existsSync(path.join(directory, 'moving.tar.gz')), false);
  });

  it('replaces an existing archive only once the new one is whole', async () => {
    const source = await newVolume('source');
    await inContainer([{ type: 'volume', source, target: '/v' }], 'echo first > /v/file');
    const file = path.join(directory, 'archive.tar.gz');
    const first = await archives.save(source, file);
    const controller = new AbortController();
    controller.abort(new Error('not now'));
    await assert.rejects(archives.save(source, file, undefined, controller.signal), /not now/);
    assert.equal(sha256Of(file), first.sha256, 'a failed save leaves the previous archive in place');
    await inContainer([{ type: 'volume', source, target: '/v' }], 'echo second > /v/file');
    const second = await archives.save(source, file);
    assert.notEqual(second.sha256, first.sha256);
    assert.equal(sha256Of(file), second.sha256);
  });

  it('sweeps the partial files a crash left, and nothing else', () => {
    const partial = path.join(directory, 'a.tar.gz.partial-0123456789abcdef');
    fs.writeFileSync(partial, 'half');
    fs.writeFileSync(path.join(directory, 'a.tar.gz'), 'whole');
    fs.mkdirSync(path.join(directory, 'b.partial-0123456789abcdef'));
    assert.deepEqual(VolumeArchives.sweepPartials(directory), ['a.tar.gz.partial-0123456789abcdef']);
    assert.deepEqual(fs.readdirSync(directory).sort(), ['a.tar.gz', 'b.partial-0123456789abcdef']);
    fs.rmdirSync(path.join(directory, 'b.partial-0123456789abcdef'));
    assert.deepEqual(VolumeArchives.sweepPartials(path.join(directory, 'missing')), []);
  });
});
