import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SandkastenError } from '../../sidecar/errors';
import {
  absolutePath,
  cleanComponents,
  relativePath,
  sessionDirectoryPath,
  sessionFilePath,
  uploadName,
  workspaceDirectoryPath,
  workspaceFilePath,
} from '../../sidecar/files/paths';

/** Asserts an InvalidInput (a 400 to the HTTP API) whose message matches. */
function refused(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof SandkastenError, `a SandkastenError, got ${String(error)}`);
    assert.equal(error.codeName, 'InvalidInput');
    assert.match(error.message, message);
    return true;
  });
}

describe('file paths', () => {
  describe('cleanComponents', () => {
    it('drops empty and `.` components and resolves `..` textually, as Go path.Clean does', () => {
      assert.deepEqual(cleanComponents('/workspace//a/./b/../c/'), { components: ['workspace', 'a', 'c'], climbsOut: false });
      assert.deepEqual(cleanComponents('a/b/../../c'), { components: ['c'], climbsOut: false });
    });

    it('keeps a rooted `..` at the root and flags a relative one that climbs above its start', () => {
      assert.deepEqual(cleanComponents('/../../etc'), { components: ['etc'], climbsOut: false });
      assert.deepEqual(cleanComponents('a/../../etc'), { components: ['etc'], climbsOut: true });
      assert.deepEqual(cleanComponents('..'), { components: [], climbsOut: true });
    });
  });

  describe('in a session', () => {
    it('takes absolute paths under /workspace and relative ones as below it', () => {
      assert.deepEqual(sessionFilePath('/workspace/src/main.py'), ['src', 'main.py']);
      assert.deepEqual(sessionFilePath('src/main.py'), ['src', 'main.py']);
      assert.deepEqual(sessionFilePath('./a//b/'), ['a', 'b']);
      assert.deepEqual(sessionFilePath('/workspace/a/../b'), ['b'], 'a `..` that stays inside is resolved');
      assert.deepEqual(sessionFilePath('a b/ü \\x'), ['a b', 'ü \\x'], 'spaces, non-ASCII and backslashes are plain characters');
    });

    it('refuses what leads out of /workspace, whatever the spelling', () => {
      for (const path of ['../etc/passwd', '/etc/passwd', '/workspace/../etc/passwd', '/workspace/../../x', '/workspacex/a', '/tmp', '/', '..', 'a/../../x', '/../workspace/../x']) {
        refused(() => sessionFilePath(path), /must be under \/workspace/);
      }
    });

    it('refuses /workspace itself, an empty path, NUL and names too long for a filesystem', () => {
      for (const path of ['/workspace', '/workspace/', '.', '/workspace/a/..', '']) refused(() => sessionFilePath(path), /required|point to a file/);
      refused(() => sessionFilePath(undefined, 'path query parameter is required'), /^path query parameter is required$/);
      refused(() => sessionFilePath('a\0b'), /NUL/);
      refused(() => sessionFilePath(`${'n'.repeat(256)}`), /too long/);
      assert.deepEqual(sessionFilePath('n'.repeat(255)), ['n'.repeat(255)]);
      refused(() => sessionFilePath(`${'d/'.repeat(2100)}f`), /too long/);
    });

    it('takes an upload directory: /workspace by default, absolute or relative to /workspace, trailing slashes dropped', () => {
      assert.deepEqual(sessionDirectoryPath(undefined), []);
      assert.deepEqual(sessionDirectoryPath(''), []);
      assert.deepEqual(sessionDirectoryPath('/workspace/'), []);
      assert.deepEqual(sessionDirectoryPath('/workspace/data//'), ['data']);
      assert.deepEqual(sessionDirectoryPath('data/sub'), ['data', 'sub'], 'v1 dropped a relative directory; it is resolved under /workspace');
      for (const path of ['/etc', '..', '/workspace/..', '/']) refused(() => sessionDirectoryPath(path), /must be under \/workspace/);
    });
  });

  describe('in a workspace', () => {
    it('names files relative to its root; a leading slash is that root', () => {
      assert.deepEqual(workspaceFilePath('src/main.py'), ['src', 'main.py']);
      assert.deepEqual(workspaceFilePath('/code.py'), ['code.py']);
      assert.deepEqual(workspaceFilePath('//a/./b/../c'), ['a', 'c']);
    });

    it('refuses a `..` above the root, the root itself and a missing path', () => {
      for (const path of ['../x', '/../x', 'a/../../x', '..']) refused(() => workspaceFilePath(path), /stay inside the workspace/);
      for (const path of ['.', '/', 'a/..']) refused(() => workspaceFilePath(path), /not its root/);
      refused(() => workspaceFilePath(''), /path is required/);
      refused(() => workspaceFilePath(undefined), /path is required/);
    });

    it('takes directories, the root included', () => {
      for (const path of [undefined, '', '.', '/', '//']) assert.deepEqual(workspaceDirectoryPath(path), []);
      assert.deepEqual(workspaceDirectoryPath('/subdir/'), ['subdir']);
      refused(() => workspaceDirectoryPath('../up'), /stay inside/);
    });
  });

  describe('uploadName', () => {
    it("takes a filename's last component, after either kind of slash", () => {
      assert.equal(uploadName('report.pdf'), 'report.pdf');
      assert.equal(uploadName('../../etc/passwd'), 'passwd');
      assert.equal(uploadName('C:\\Users\\me\\notes.txt'), 'notes.txt');
      assert.equal(uploadName('..data'), '..data', 'dots inside a name are fine');
    });

    it('refuses a name that is empty, `.` or `..` once directories are dropped', () => {
      for (const filename of ['', '.', '..', 'dir/', 'dir/..', 'a\\..', '/']) refused(() => uploadName(filename), /invalid filename/);
      refused(() => uploadName('x'.repeat(256)), /invalid filename/);
    });
  });

  it('shows components as a session caller names them (absolute) and as a workspace caller does (relative)', () => {
    assert.equal(absolutePath(['a', 'b.txt']), '/workspace/a/b.txt');
    assert.equal(absolutePath([]), '/workspace');
    assert.equal(relativePath(['a', 'b.txt']), 'a/b.txt');
  });
});
