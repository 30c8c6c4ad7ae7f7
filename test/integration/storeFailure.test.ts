import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { homePaths } from '../../sidecar/client/home';
import { expectError, instanceObjects, P, SidecarHarness, volumeExists } from './harness';

/** Room left on the full disk: enough for log lines, far too little for the database image. */
const ROOM_LEFT_BYTES = 16 * 1024;
/** The label saying what a Docker object is to the sidecar (a workspace's volume here). */
const ROLE_LABEL = 'sandkasten.role';

/**
 * The storage directory on a small tmpfs (root only: `mount -t tmpfs`) that the test fills,
 * so the sidecar's durable write fails for real with ENOSPC.
 */
describe('a durable write that fails (full disk)', () => {
  let mountPoint = '';
  let sidecar: SidecarHarness | undefined;
  const filler = () => path.join(mountPoint, 'filler');

  before(async () => {
    mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', mountPoint]);
    const home = path.join(mountPoint, 'h');
    fs.mkdirSync(home, { mode: 0o700 });
    sidecar = new SidecarHarness({ home });
    await sidecar.start();
  });

  after(async () => {
    try {
      fs.rmSync(filler(), { force: true });
      await sidecar?.cleanup();
    } finally {
      execFileSync('umount', [mountPoint]);
      fs.rmdirSync(mountPoint);
    }
  });

  it('answers with an error, and the workspace never appears, not even after a restart', async () => {
    const harness = sidecar!;
    const database = homePaths(harness.home).database;
    const kept = await harness.createWorkspace('kept');
    assert.ok(fs.statSync(database).size > 2 * ROOM_LEFT_BYTES, 'the database image does not fit in the room left');

    const { bavail, bsize } = fs.statfsSync(mountPoint);
    fs.writeFileSync(filler(), Buffer.alloc(Math.max(0, bavail * bsize - ROOM_LEFT_BYTES)));
    const failure = await expectError(harness.createWorkspace('ghost'), 'Internal');
    assert.match(failure.message, /no space left on device.*the change was undone/i);
    const listed = await harness.client.request(P.ListWorkspacesRequest.type, {});
    assert.deepEqual(
      listed.map((w) => w.name),
      ['kept'],
      'the failed workspace is not in memory either',
    );
    const ghostVolumes = (await instanceObjects(harness.instanceId)).volumes
      .filter((volume) => volume.Labels?.[ROLE_LABEL] === 'workspace' && volume.Name !== kept.volume)
      .map((volume) => volume.Name);
    assert.equal(ghostVolumes.length, 1, 'its volume was made before the write failed: a labelled leftover');
    assert.deepEqual(
      fs.readdirSync(harness.home).filter((name) => name.endsWith('.tmp')),
      [],
      'the failed write removed its temporary file',
    );

    fs.rmSync(filler());
    const later = await harness.createWorkspace('later');
    assert.deepEqual(
      (await harness.client.request(P.ListWorkspacesRequest.type, {})).map((w) => w.name),
      ['kept', 'later'],
      'the next successful change does not bring the failed one back',
    );

    const oldPid = harness.pid;
    await harness.shutdown();
    await harness.reconnect(); // a new sidecar; its status answers once reconciliation ran
    assert.notEqual(harness.pid, oldPid);
    assert.deepEqual(
      (await harness.client.request(P.ListWorkspacesRequest.type, {})).map((w) => w.id),
      [kept.id, later.id],
    );
    assert.equal(await volumeExists(ghostVolumes[0]), false, 'reconciliation removed the leftover volume');
  });

  it('removes the temporary file of a write killed half-way at the next start', async () => {
    const harness = sidecar!;
    const leftover = `${homePaths(harness.home).database}.999999.tmp`;
    fs.writeFileSync(leftover, 'half a database');
    await harness.shutdown();
    await harness.reconnect();
    assert.equal(fs.existsSync(leftover), false);
    assert.match(harness.logTail(200), /removed state\.sqlite\.999999\.tmp, left by an interrupted write/);
  });
});
