/**
 * What the host side checks before it trusts a path or a name (issue 12): image references
 * against Docker's grammar, the storage and socket directories, the settings that would open
 * the host up.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { SETTINGS } from '../../sidecar/client/configSchema';
import { homePaths } from '../../sidecar/client/home';
import { imageReferenceProblem } from '../../sidecar/client/imageReference';
import { checkPrivateDirectory, ensurePrivateDirectory, UnsafeDirectoryError } from '../../sidecar/client/privateDirectory';

describe('image references', () => {
  it('accepts what Docker accepts', () => {
    for (const good of [
      'busybox',
      'debian:bookworm-slim',
      'sandkasten-test/busybox:latest',
      'library/python:3.12-slim',
      'ghcr.io/owner/repo/image:v1.2.3',
      'localhost:5000/my_app__x:dev',
      'registry.example.com:443/a-b/c.d',
      `alpine@sha256:${'a'.repeat(64)}`,
      `my/app:1.0@sha256:${'0'.repeat(64)}`,
    ]) {
      assert.equal(imageReferenceProblem(good), undefined, good);
    }
  });

  it('refuses names that are not references, naming the rule', () => {
    const cases: Array<[string, RegExp]> = [
      ['../../etc', /registry host|name component/],
      ['ubuntu/../../containers/json', /name component/],
      ['Debian', /name component/],
      ['', /empty/],
      [' debian', /spaces/],
      ['debian:', /tag/],
      ['debian:-x', /tag/],
      [`debian:${'x'.repeat(129)}`, /tag/],
      ['debian@sha256:xyz', /digest/],
      ['a//b', /name component/],
      ['a/b-', /name component/],
      ['a..b', /name component/],
      ['exa mple.com/x', /spaces|registry|name component/],
      ['example.com:port/x', /registry/],
      [`${'a'.repeat(256)}`, /255/],
    ];
    for (const [bad, rule] of cases) {
      const problem = imageReferenceProblem(bad);
      assert.ok(problem, `${JSON.stringify(bad)} is refused`);
      assert.match(problem!, rule, `${JSON.stringify(bad)}: ${problem}`);
    }
  });

  it('guards the image settings with the same grammar', () => {
    assert.equal(SETTINGS.defaultImage.check('python:3.12-slim'), undefined);
    assert.match(SETTINGS.defaultImage.check('../../etc')!, /not an image reference/);
    assert.match(SETTINGS['pool.images'].check({ '../x': 1 })!, /not an image reference/);
    assert.equal(SETTINGS['pool.images'].check({ 'debian:bookworm-slim': 2 }), undefined);
  });
});

describe('settings that would open the host up', () => {
  it('refuses the host network globally and says what to do', () => {
    assert.match(SETTINGS.network.check('host')!, /--allow-host-network/);
    assert.equal(SETTINGS.network.check('bridge'), undefined);
    assert.equal(SETTINGS.network.check('none'), undefined);
  });

  it('checks the per-kind sandbox settings: kinds, users, runtimes', () => {
    assert.equal(SETTINGS['sandbox.readOnlyRoot'].check({ ephemeral: true, persistent: false }), undefined);
    assert.match(SETTINGS['sandbox.readOnlyRoot'].check({ everything: true })!, /not a workspace kind/);
    assert.match(SETTINGS['sandbox.readOnlyRoot'].check({ ephemeral: 'yes' })!, /true or false/);
    assert.match(SETTINGS['sandbox.readOnlyRoot'].check(['ephemeral'])!, /object/);
    assert.equal(SETTINGS['sandbox.user'].check({ ephemeral: '1000:1000', session: 'node' }), undefined);
    assert.match(SETTINGS['sandbox.user'].check({ ephemeral: 'root; rm -rf /' })!, /user name or uid/);
    assert.equal(SETTINGS['sandbox.runtime'].check({ ephemeral: 'runsc' }), undefined);
    assert.match(SETTINGS['sandbox.runtime'].check({ ephemeral: '../runc' })!, /runtime/);
  });
});

describe('private directories', () => {
  const scratch = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sk-private-'));

  it('creates a missing directory owner-only and accepts it', () => {
    const directory = path.join(scratch(), 'home');
    ensurePrivateDirectory(directory, 'storage directory', { allowSymlink: true });
    assert.equal(fs.statSync(directory).mode & 0o777, 0o700);
    fs.rmSync(path.dirname(directory), { recursive: true });
  });

  it('refuses an existing directory others can write into, naming the fix, and changes nothing', () => {
    const directory = scratch();
    fs.chmodSync(directory, 0o777);
    assert.throws(
      () => ensurePrivateDirectory(directory, 'storage directory', { allowSymlink: true }),
      (error: Error) => error instanceof UnsafeDirectoryError && /mode 0777/.test(error.message) && /chmod 700/.test(error.message),
    );
    assert.equal(fs.statSync(directory).mode & 0o777, 0o777, 'left as it was');
    fs.chmodSync(directory, 0o770);
    assert.throws(() => checkPrivateDirectory(directory, 'storage directory', { allowSymlink: true }), /mode 0770/);
    fs.rmSync(directory, { recursive: true });
  });

  it('refuses one others can only enter or read: the command pipes inside take anyone\'s bytes once reached', () => {
    const directory = scratch();
    for (const mode of [0o755, 0o711, 0o750, 0o704]) {
      fs.chmodSync(directory, mode);
      assert.throws(
        () => checkPrivateDirectory(directory, 'storage directory', { allowSymlink: true }),
        (error: Error) => error instanceof UnsafeDirectoryError && /can be entered by other users/.test(error.message) && /chmod 700/.test(error.message),
        mode.toString(8),
      );
    }
    fs.chmodSync(directory, 0o700);
    checkPrivateDirectory(directory, 'storage directory', { allowSymlink: true });
    fs.rmSync(directory, { recursive: true });
  });

  it('refuses a symbolic link where a directory of its own is needed (the socket directory)', () => {
    const base = scratch();
    fs.mkdirSync(path.join(base, 'real'), { mode: 0o700 });
    fs.symlinkSync(path.join(base, 'real'), path.join(base, 'link'));
    assert.throws(() => checkPrivateDirectory(path.join(base, 'link'), 'socket directory', { allowSymlink: false }), /symbolic link/);
    assert.doesNotThrow(() => checkPrivateDirectory(path.join(base, 'link'), 'storage directory', { allowSymlink: true }));
    fs.rmSync(base, { recursive: true });
  });

  it('refuses a directory of another user', { skip: process.getuid?.() !== 0 ? 'needs root to give a directory away' : false }, () => {
    const directory = scratch();
    fs.chownSync(directory, 65534, 65534);
    assert.throws(() => checkPrivateDirectory(directory, 'socket directory', { allowSymlink: false }), /another user \(uid 65534/);
    fs.rmSync(directory, { recursive: true });
  });
});

describe('the socket of a long storage path', () => {
  it('lives in a private directory named for this user in /tmp, the same for every client whatever its environment', () => {
    const home = path.join('/tmp', 'x'.repeat(120));
    const paths = homePaths(home);
    assert.ok(paths.socketDirectory, 'a directory of its own');
    assert.equal(path.dirname(paths.socket), paths.socketDirectory);
    assert.equal(path.dirname(paths.socketDirectory!), '/tmp');
    assert.match(path.basename(paths.socketDirectory!), new RegExp(`^sandkasten-${process.getuid?.() ?? 0}-[0-9a-f]{16}$`));
    const saved = { TMPDIR: process.env.TMPDIR, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR };
    process.env.TMPDIR = '/var/tmp/elsewhere';
    process.env.XDG_RUNTIME_DIR = '/run/user/1000';
    try {
      assert.equal(homePaths(home).socket, paths.socket, 'no environment variable moves it');
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
    const short = homePaths('/tmp/short-home');
    assert.equal(short.socketDirectory, undefined);
    assert.equal(short.socket, '/tmp/short-home/sidecar.sock');
  });
});
