/**
 * Workspace slots against the real engine and the real kernel: a volume bound onto a slot on
 * the host reaches a container that was already running with the slot at /workspace; release
 * and sweep leave no mount and no directory behind. Needs a local engine and root (mount).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cryptoRandomHex, newInstanceId } from '../../sidecar/client/ids';
import { DockerEngine } from '../../sidecar/docker/dockerEngine';
import type { ContainerSpec, Mount } from '../../sidecar/docker/engine';
import { WorkspaceSlots, type WorkspaceSlot } from '../../sidecar/pool/workspaceSlots';
import { systemClock } from '../../sidecar/util/clock';
import type { Logger } from '../../sidecar/util/log';
import { makeHome, TEST_IMAGE } from './harness';

const canMount = process.platform === 'linux' && process.getuid?.() === 0;

describe('workspace slots, against the real Docker engine', { skip: canMount ? false : 'needs root on Linux (mount)' }, () => {
  const engine = new DockerEngine(newInstanceId());
  const errors: string[] = [];
  const log: Logger = { info: () => undefined, error: (message) => errors.push(message) };
  let home: string;
  let root: string;

  const newSlots = () => new WorkspaceSlots(root, engine.isLocal, { engine, clock: systemClock, log });

  before(async () => {
    await engine.requireAvailable();
    await engine.ensureImage(TEST_IMAGE);
    home = makeHome();
    root = path.join(fs.realpathSync(home), 'slots');
  });

  after(async () => {
    // What a failed test left: this instance's containers and volumes, then the slots.
    for (const container of await engine.listOwnContainers()) await engine.removeContainer(container.id);
    for (const volume of await engine.listOwnVolumes()) await engine.removeVolume(volume.name);
    await newSlots().sweep(new Set());
    assert.deepEqual(mountsUnder(root), [], 'no mount is left under the slots root');
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** A running container as the pool makes one, with `mounts` (a slot at /workspace). */
  async function runningContainer(role: 'pool' | 'files', mounts: Mount[]): Promise<string> {
    const spec: ContainerSpec = {
      name: `sandkasten-${engine.instanceId}-${role}-${cryptoRandomHex(6)}`,
      image: TEST_IMAGE,
      role,
      command: ['sleep', '3600'],
      workingDir: '/workspace',
      mounts,
      cpus: 1,
      memoryMb: 128,
      pids: 64,
      network: 'none',
      readOnlyRoot: false,
    };
    const id = await engine.createContainer(spec);
    try {
      await engine.startContainer(id);
    } catch (error) {
      await engine.removeContainer(id);
      throw error;
    }
    return id;
  }

  /** Runs `script` in a short-lived container that mounts the volume the usual way (by name). */
  async function inVolume(volume: string, script: string): Promise<string> {
    const id = await runningContainer('files', [{ type: 'volume', source: volume, target: '/workspace' }]);
    try {
      return await engine.runOnce(id, ['sh', '-c', script]);
    } finally {
      await engine.removeContainer(id);
    }
  }

  async function newVolume(): Promise<string> {
    const name = `sandkasten-${engine.instanceId}-ws-${cryptoRandomHex(4)}`;
    await engine.createVolume(name, { role: 'workspace', workspaceId: `slots-${cryptoRandomHex(4)}` });
    return name;
  }

  async function newSlot(slots: WorkspaceSlots): Promise<WorkspaceSlot> {
    const slot = await slots.newSlot();
    assert.ok(slot, `a slot is made (${slots.unavailableBecause ?? errors.join('; ')})`);
    return slot;
  }

  it('binds a workspace volume into a pooled container that was already running; writes land in the volume', async (t) => {
    const slots = newSlots();
    const volume = await newVolume();
    await inVolume(volume, 'echo from-the-workspace > /workspace/hello.txt');
    const slot = await newSlot(slots);
    assert.deepEqual(slot.mount, { type: 'bind', source: slot.hostPath, target: '/workspace', propagation: 'rslave' });
    assert.equal(mountsUnder(slot.hostPath).length, 1, 'the slot is its own mount point');
    assert.match(mountLinesAt(slot.hostPath)[0], / shared:\d+/, 'and a shared one');
    const containerId = await runningContainer('pool', [slot.mount]);
    try {
      assert.equal(await slots.probe(slot, containerId), true, 'a mount made on the host reaches the container');
      assert.equal(mountsUnder(slot.hostPath).length, 1, 'the probe took its mount off again');
      assert.equal(await engine.runOnce(containerId, ['ls', '-A', '/workspace']), '', 'the pooled container starts with an empty /workspace');

      const bindStarted = performance.now();
      assert.equal(await slots.bind(slot, volume), true);
      t.diagnostic(`bind: ${(performance.now() - bindStarted).toFixed(1)} ms`);

      assert.equal(await engine.runOnce(containerId, ['cat', '/workspace/hello.txt']), 'from-the-workspace\n');
      await engine.runOnce(containerId, ['sh', '-c', 'echo from-the-pooled-container > /workspace/new.txt']);
      assert.equal(await inVolume(volume, 'cat /workspace/new.txt'), 'from-the-pooled-container\n', 'a container that mounts the volume by name sees the write');
      // The main process (PID 2, under Docker's init) sat in /workspace before the bind: it still sees the empty slot.
      assert.equal(await engine.runOnce(containerId, ['ls', '-A', '/proc/2/cwd/']), '', 'a process that was in /workspace before the bind must cd again');
      assert.equal(await slots.bind(slot, volume), false, 'a bound slot is not bound twice');
      assert.equal(mountsUnder(slot.hostPath).length, 2);
    } finally {
      await engine.removeContainer(containerId);
    }
    const releaseStarted = performance.now();
    await slots.release(slot);
    t.diagnostic(`release: ${(performance.now() - releaseStarted).toFixed(1)} ms`);
    assert.deepEqual(mountLinesMentioning(slot.hostPath), [], 'no mount of the slot is left in /proc/self/mountinfo');
    assert.equal(fs.existsSync(slot.hostPath), false, 'the slot directory is gone');
    await slots.release(slot); // idempotent
    assert.equal(await inVolume(volume, 'cat /workspace/hello.txt /workspace/new.txt'), 'from-the-workspace\nfrom-the-pooled-container\n', 'the workspace keeps its files');
    await engine.removeVolume(volume);
    assert.deepEqual(errors, []);
  });

  it('sweeps a slot a crash left bound, and keeps the one a container uses', async () => {
    const crashed = newSlots();
    const volume = await newVolume();
    await inVolume(volume, 'echo survives-the-sweep > /workspace/keep.txt');
    const leftover = await newSlot(crashed);
    const used = await newSlot(crashed);
    assert.equal(await crashed.bind(leftover, volume), true, 'bound as at a hand-out, then the sidecar died');
    assert.equal(await crashed.bind(used, volume), true);
    const strayProbe = path.join(root, `probe-${cryptoRandomHex(8)}`);
    fs.mkdirSync(strayProbe);

    const afterRestart = newSlots(); // a new sidecar process knows nothing of the slots above
    await afterRestart.sweep(new Set([used.hostPath]));
    assert.deepEqual(mountLinesMentioning(leftover.hostPath), [], 'the leftover is unmounted');
    assert.equal(fs.existsSync(leftover.hostPath), false, 'and removed');
    assert.equal(fs.existsSync(strayProbe), false, "a probe's leftover directory is removed");
    assert.equal(mountsUnder(used.hostPath).length, 2, 'the slot in use keeps its own mount and the workspace');
    assert.equal(fs.readFileSync(path.join(used.hostPath, 'keep.txt'), 'utf8'), 'survives-the-sweep\n');
    assert.equal(await inVolume(volume, 'cat /workspace/keep.txt'), 'survives-the-sweep\n', "the sweep never touches the volume's files");

    await afterRestart.release(used);
    assert.deepEqual(mountsUnder(root), []);
    assert.deepEqual(fs.readdirSync(root), []);
    await engine.removeVolume(volume);
    assert.deepEqual(errors, []);
  });

  it('refuses a volume that does not exist, one with driver options, and a path that is not a slot, changing nothing', async () => {
    const slots = newSlots();
    const slot = await newSlot(slots);
    assert.equal(await slots.bind(slot, `sandkasten-${engine.instanceId}-missing-${cryptoRandomHex(4)}`), false);
    assert.equal(mountsUnder(slot.hostPath).length, 1, 'only the slot itself is mounted');
    assert.deepEqual(fs.readdirSync(slot.hostPath), []);

    // A tmpfs volume's directory is only a mount while a container uses it: not bound.
    const tmpfsVolume = `sandkasten-${engine.instanceId}-tmpfs-${cryptoRandomHex(4)}`;
    execFileSync('docker', ['volume', 'create', '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', tmpfsVolume], { stdio: 'ignore' });
    try {
      assert.equal(await engine.volumeMountpoint(tmpfsVolume), undefined);
      assert.equal(await slots.bind(slot, tmpfsVolume), false);
      assert.equal(mountsUnder(slot.hostPath).length, 1);
    } finally {
      execFileSync('docker', ['volume', 'rm', '-f', tmpfsVolume], { stdio: 'ignore' });
    }

    const volume = await newVolume();
    const outside = fs.mkdtempSync(path.join(fs.realpathSync(home), 'not-a-slot-'));
    const forged: WorkspaceSlot = { ...slot, id: 'forged', hostPath: outside };
    assert.equal(await slots.bind(forged, volume), false, 'a directory outside the root is never mounted onto');
    assert.deepEqual(mountsUnder(outside), []);
    await slots.release(forged);
    assert.equal(fs.existsSync(outside), true, 'nor removed');
    fs.rmSync(outside, { recursive: true });

    await slots.release(slot);
    assert.deepEqual(mountLinesMentioning(slot.hostPath), []);
    assert.equal(fs.existsSync(slot.hostPath), false);
    await engine.removeVolume(volume);
    assert.deepEqual(errors, []);
  });
});

function mountinfoLines(): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
}

/** Mount points at or under `hostPath` (test paths have no characters mountinfo escapes). */
function mountsUnder(hostPath: string): string[] {
  return mountinfoLines()
    .map((line) => line.split(' ')[4])
    .filter((point) => point === hostPath || point.startsWith(`${hostPath}/`));
}

function mountLinesAt(hostPath: string): string[] {
  return mountinfoLines().filter((line) => line.split(' ')[4] === hostPath);
}

/** Any line naming the path, as mount point or as a bind's source. */
function mountLinesMentioning(hostPath: string): string[] {
  return mountinfoLines().filter((line) => line.includes(hostPath));
}
