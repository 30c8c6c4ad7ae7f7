import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { homePaths } from '../../sidecar/client/home';
import { expectError, instanceObjects, P, SidecarHarness, volumeExists } from './harness';

/** Creates tried on the full disk before one must fail (a page of journal slack holds a few). */
const MAX_ATTEMPTS = 40;
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

  it('answers a journal append that finds the disk full with an error; the workspace never appears, not even after a restart', async () => {
    const harness = sidecar!;
    const kept = await harness.createWorkspace('kept');

    // The disk full to the last block. An append may still fit in the journal's last page
    // (tmpfs hands out pages), so creates go on until one meets the full disk.
    const { bavail, bsize } = fs.statfsSync(mountPoint);
    fs.writeFileSync(filler(), Buffer.alloc(bavail * bsize));
    const fitted: string[] = [];
    let failure: Error | undefined;
    for (let attempt = 0; attempt < MAX_ATTEMPTS && !failure; attempt++) {
      const name = `ghost-${attempt}`;
      const created = await harness.createWorkspace(name).then(
        (workspace) => workspace,
        (error: Error) => error,
      );
      if (created instanceof Error) failure = await expectError(Promise.reject(created), 'Internal');
      else fitted.push(created.id);
    }
    assert.ok(failure, `an append met the full disk within ${MAX_ATTEMPTS} creates`);
    assert.match(failure.message, /no space left on device.*the change was undone/i);
    const listed = await harness.client.request(P.ListWorkspacesRequest.type, {});
    assert.deepEqual(
      listed.map((w) => w.id),
      [kept.id, ...fitted],
      'the failed workspaces are not in memory either',
    );
    const known = new Set([kept.volume, ...listed.map((w) => w.volume)]);
    const ghostVolumes = (await instanceObjects(harness.instanceId)).volumes
      .filter((volume) => volume.Labels?.[ROLE_LABEL] === 'workspace' && !known.has(volume.Name))
      .map((volume) => volume.Name);
    assert.ok(ghostVolumes.length >= 1, 'their volumes were made before the append failed: labelled leftovers');

    fs.rmSync(filler());
    const later = await harness.createWorkspace('later');
    assert.deepEqual(
      (await harness.client.request(P.ListWorkspacesRequest.type, {})).map((w) => w.id),
      [kept.id, ...fitted, later.id],
      'the next successful change does not bring a failed one back',
    );

    const oldPid = harness.pid;
    await harness.shutdown();
    await harness.reconnect(); // a new sidecar; its status answers once reconciliation ran
    assert.notEqual(harness.pid, oldPid);
    assert.deepEqual(
      (await harness.client.request(P.ListWorkspacesRequest.type, {})).map((w) => w.id),
      [kept.id, ...fitted, later.id],
    );
    for (const volume of ghostVolumes) assert.equal(await volumeExists(volume), false, `reconciliation removed the leftover volume ${volume}`);
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
