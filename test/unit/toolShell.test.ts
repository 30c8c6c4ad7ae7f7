import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ToolShell } from '../../sidecar/pool/toolShell';

describe('the tool shell (mount and umount without a process start from Node each time)', () => {
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

  it('runs tools one at a time with their arguments quoted, and says why one failed', async () => {
    const tools = new ToolShell(env);
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-tools-'));
    try {
      // Had any of it been read by the shell, the file would have another name (or none).
      const odd = path.join(directory, `it's "odd" $(id) \`id\` ; $HOME * name`);
      await Promise.all([tools.run('/usr/bin/touch', [odd]), tools.run('/usr/bin/touch', [path.join(directory, 'second')])]);
      assert.deepEqual(fs.readdirSync(directory).sort(), [path.basename(odd), 'second'].sort(), 'no word of an argument ran as a command');
      await assert.rejects(tools.run('/bin/ls', [path.join(directory, 'missing')]), /No such file or directory/);
      await tools.run('/usr/bin/true', []); // a failure does not end the shell
    } finally {
      tools.dispose();
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });

  it('starts another shell when the last one went away', async () => {
    const tools = new ToolShell(env);
    try {
      await tools.run('/usr/bin/true', []);
      tools.dispose();
      await tools.run('/usr/bin/true', []);
      await assert.rejects(tools.run('/bin/sh', ['-c', 'kill -9 $PPID']), /ended/);
      await tools.run('/usr/bin/true', []);
    } finally {
      tools.dispose();
    }
  });
});
