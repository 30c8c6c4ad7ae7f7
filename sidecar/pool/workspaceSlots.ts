import * as fs from 'node:fs';
import * as path from 'node:path';
import { cryptoRandomHex } from '../client/ids';
import { runOnceWithin, type Engine, type Mount } from '../docker/engine';
import type { Clock } from '../util/clock';
import { KeyedLock } from '../util/keyedLock';
import { ToolShell } from './toolShell';
import type { Logger } from '../util/log';


/** Where a container sees its workspace. */
export const WORKSPACE_MOUNT_POINT = '/workspace';

/**
 * A host directory a pooled container has at /workspace before anyone knows which workspace
 * it will serve. It is its own shared mount point, and the container mounts it with `rslave`
 * propagation: whatever is mounted onto it later appears in the running container too.
 */
export interface WorkspaceSlot {
  id: string;
  hostPath: string;
  /** For the pooled container's spec: the slot at /workspace, with the propagation that makes a later bind reach it. */
  mount: Mount;
}

/** Where util-linux's tools live; absolute paths, so no PATH decides which program runs as root. */
const MOUNT_CANDIDATES = ['/usr/bin/mount', '/bin/mount', '/usr/sbin/mount', '/sbin/mount'];
const UMOUNT_CANDIDATES = ['/usr/bin/umount', '/bin/umount', '/usr/sbin/umount', '/sbin/umount'];
/** The tools read LIBMOUNT_* and LANG: none of the sidecar's environment, and English errors for the log. */
const TOOL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };
const SLOT_ID = /^[0-9a-f]{16}$/;
const PROBE_PREFIX = 'probe-';
const PROBE_FILE = 'sandkasten-slot-probe';
const PROBE_TIMEOUT_MS = 5000;
/** Mounts stacked on one slot that one unmount takes off at most: the slot's own, a workspace's, a probe's, and spare. */
const MAX_STACKED_MOUNTS = 8;
/** Volume directories remembered (they save a Docker call per hand-out); forgotten all at once beyond. */
const MAX_REMEMBERED_MOUNTPOINTS = 10_000;

/**
 * Workspace slots under `root`, one directory per pooled container: how a container made
 * ahead (Docker cannot add a mount to a running container) gets any workspace's volume at
 * hand-out. The slot is bound into the container at /workspace with `rslave` propagation; at
 * hand-out the volume's host directory (its Mountpoint, from Docker) is bind-mounted onto the
 * slot on the host, and the kernel propagates that mount into the container, where processes
 * started afterwards see the workspace's files. A process whose working directory was
 * /workspace before the bind (the pooled container's main shell) still sits in the empty slot
 * underneath: it must `cd /workspace` again.
 *
 * Only offered when the engine is local, the sidecar is root, `mount` and `umount` exist, and
 * (once probed) the propagation reaches a container: it does not with gVisor (runsc), nor
 * through a VM's file sharing. Anything refused means "not available": the caller creates a
 * container the usual way.
 *
 * Order for a caller: newSlot → create the pooled container with `slot.mount` (start it,
 * probe once) → at hand-out bind → start the session's shells (the main one cds again) →
 * remove the container → release. Releasing first would leave the container's processes
 * that hold a directory or file of the workspace with access to it (the unmount is lazy).
 */
export class WorkspaceSlots {
  private readonly root: string;
  private readonly mountBinary: string | undefined;
  private readonly umountBinary: string | undefined;
  private readonly isRoot: boolean;
  /** Set when `mount` refused making a slot: this host will not do it (no CAP_SYS_ADMIN, a locked-down namespace). */
  private refusedBecause: string | undefined;
  /** The probe's answer, once one came back: propagation reaches containers, or not. */
  private probed: boolean | undefined;
  private probing: Promise<boolean> | undefined;
  /** Slots made (or recognised) by this process and not released: a sweep leaves them alone. */
  private readonly live = new Set<string>();
  /** Bind, probe and release of one slot never interleave. */
  private readonly lock = new KeyedLock();

  constructor(
    root: string,
    private readonly engineIsLocal: boolean,
    private readonly deps: { engine: Engine; clock: Clock; log: Logger },
  ) {
    // Symbolic links are resolved once the root exists (realRoot): mountinfo names mount points without them.
    this.root = path.resolve(root);
    this.mountBinary = MOUNT_CANDIDATES.find(isExecutable);
    this.umountBinary = UMOUNT_CANDIDATES.find(isExecutable);
    this.isRoot = process.getuid?.() === 0;
  }

  /** Why slots are not offered, or undefined when they are (for status and the log). */
  get unavailableBecause(): string | undefined {
    if (!this.engineIsLocal) return 'the Docker engine is not local';
    if (!this.isRoot) return 'the sidecar is not root';
    if (!this.mountBinary || !this.umountBinary) return 'mount or umount is missing';
    if (this.refusedBecause) return this.refusedBecause;
    if (this.probed === false) return 'mounts made on the host do not reach containers (gVisor, or a VM between)';
    return undefined;
  }

  /** Whether this process can take slots down (root, umount there): the sweep's condition. */
  get canUnmount(): boolean {
    return this.isRoot && this.umountBinary !== undefined;
  }

  get available(): boolean {
    return this.unavailableBecause === undefined;
  }

  /**
   * A new slot, made its own shared mount point, for a pooled container about to be created;
   * undefined when slots are not available (the container gets a volume as before).
   */
  async newSlot(): Promise<WorkspaceSlot | undefined> {
    if (!this.available) return undefined;
    const id = cryptoRandomHex(8);
    const hostPath = path.join(this.realRoot(), id);
    this.live.add(hostPath);
    try {
      // The container's root (another user when user namespaces remap it) enters it; the owner-only home above keeps other local users out.
      fs.mkdirSync(hostPath, { mode: 0o755 });
    } catch (error) {
      this.live.delete(hostPath);
      this.deps.log.error(`workspace slots: could not make ${hostPath} (${firstLine(error)})`);
      return undefined;
    }
    try {
      // One call: the bind onto itself makes it a mount point, which can then be shared.
      await this.mount(['--bind', '--make-shared', hostPath, hostPath]);
    } catch (error) {
      this.refusedBecause = `mount refused a slot (${firstLine(error)})`;
      this.deps.log.error(`workspace slots: off, ${this.refusedBecause}`);
      await this.release(this.slotAt(hostPath));
      return undefined;
    }
    return this.slotAt(hostPath);
  }

  /**
   * The slot a container has at /workspace (from Docker's mounts, after a restart), if it is
   * one of this root's; recognised as live, so a sweep keeps it.
   */
  slotOf(mounts: Array<{ source: string; target: string }> | undefined): WorkspaceSlot | undefined {
    const source = mounts?.find((mount) => mount.target === WORKSPACE_MOUNT_POINT)?.source;
    if (!source || !this.isSlotPath(source)) return undefined;
    this.live.add(source);
    return this.slotAt(source);
  }

  /**
   * Binds the volume's host directory onto the slot, so the container that has the slot at
   * /workspace sees the workspace from now on. False when it cannot (slots off, the volume
   * missing or not a plain local one, the slot not empty, mount refused): nothing changed then.
   */
  bind(slot: WorkspaceSlot, volumeName: string): Promise<boolean> {
    if (!this.available || !this.isSlotPath(slot.hostPath)) return Promise.resolve(false);
    return this.lock.run(slot.hostPath, async () => {
      if ((await mountsAt(slot.hostPath)).length !== 1) return false; // not made, released, or bound already
      return this.bindNow(slot, volumeName);
    });
  }

  /**
   * Replaces the volume bound onto the slot (the pooled container's own empty one) with
   * another: a used workspace's, at hand-out. Replaced, not stacked on top: a container started
   * again later copies the slot's mounts, and of two stacked ones it may show the lower. False
   * when it cannot; the slot may then be empty, and the caller removes the container.
   */
  rebind(slot: WorkspaceSlot, volumeName: string): Promise<boolean> {
    if (!this.available || !this.isSlotPath(slot.hostPath) || !this.umountBinary || !this.mountBinary) return Promise.resolve(false);
    return this.lock.run(slot.hostPath, async () => {
      if ((await mountsAt(slot.hostPath)).length !== 2) return false; // the slot and the pool's volume, nothing else
      const source = await this.sourceOf(volumeName);
      if (!source) return false;
      try {
        // Both in one round trip: this is on the way to a session's first command.
        await this.tools.runAll([
          [this.umountBinary!, ['-n', '-l', slot.hostPath]],
          [this.mountBinary!, ['-n', '--bind', source, slot.hostPath]],
        ]);
      } catch (error) {
        this.deps.log.error(`workspace slots: could not put ${volumeName} onto ${slot.id} (${firstLine(error)})`);
        return false;
      }
      return (await mountsAt(slot.hostPath)).length === 2;
    });
  }

  /** Whether something (a workspace's volume) is bound onto the slot. */
  async isBound(slot: WorkspaceSlot): Promise<boolean> {
    return this.isSlotPath(slot.hostPath) && (await mountsAt(slot.hostPath)).length >= 2;
  }

  /** Whether a probe still has to say if mounts reach containers here. */
  get needsProbe(): boolean {
    return this.available && this.probed === undefined;
  }

  /** Volumes' directories as Docker reported them (a volume's Mountpoint never changes while it exists). */
  private readonly mountpoints = new Map<string, string>();

  /** Where Docker keeps local volumes (`<DockerRootDir>/volumes`), learnt from the first lookup. */
  private volumesRoot: string | undefined;

  /**
   * The volume's host directory, checked to be a real directory with no link on the way:
   * remembered, derived for this instance's own volumes (made without options: Docker puts
   * them at `<volumes root>/<name>/_data`), or asked of Docker.
   */
  private async sourceOf(volumeName: string): Promise<string | undefined> {
    const own = this.volumesRoot && volumeName.startsWith(`sandkasten-${this.deps.engine.instanceId}-`) && /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(volumeName);
    let source = this.mountpoints.get(volumeName) ?? (own ? path.join(this.volumesRoot!, volumeName, '_data') : undefined);
    if (!source || !isPlainDirectory(source)) source = await this.deps.engine.volumeMountpoint(volumeName).catch(() => undefined);
    // Checked at every bind: a removed volume's directory is gone (and its name may come back).
    if (!source || !isPlainDirectory(source)) {
      this.mountpoints.delete(volumeName);
      return undefined;
    }
    this.volumesRoot ??= path.dirname(path.dirname(source));
    if (this.mountpoints.size > MAX_REMEMBERED_MOUNTPOINTS) this.mountpoints.clear();
    this.mountpoints.set(volumeName, source);
    return source;
  }

  private async bindNow(slot: WorkspaceSlot, volumeName: string): Promise<boolean> {
    const source = await this.sourceOf(volumeName);
    if (!source) return false;
    try {
      await this.mount(['--bind', source, slot.hostPath]);
    } catch (error) {
      this.deps.log.error(`workspace slots: could not bind ${volumeName} onto ${slot.id} (${firstLine(error)})`);
      return false;
    }
    return true;
  }

  /**
   * Checks once, with a container running with `slot` (empty) at /workspace, that a mount made
   * on the host reaches it: a directory with a word in it is bound onto the slot, the
   * container reads the word, the directory is unmounted. The answer is kept (a false one
   * turns slots off); a probe that could not run (the container went away) is not.
   */
  probe(slot: WorkspaceSlot, containerId: string): Promise<boolean> {
    if (this.probed !== undefined) return Promise.resolve(this.probed);
    if (!this.available || !this.isSlotPath(slot.hostPath)) return Promise.resolve(false);
    this.probing ??= this.lock
      .run(slot.hostPath, () => this.probeNow(slot, containerId))
      .finally(() => (this.probing = undefined));
    return this.probing;
  }

  private async probeNow(slot: WorkspaceSlot, containerId: string): Promise<boolean> {
    if ((await mountsAt(slot.hostPath)).length !== 1) return false;
    const word = cryptoRandomHex(8);
    const probeDirectory = path.join(this.realRoot(), `${PROBE_PREFIX}${cryptoRandomHex(8)}`);
    let output: string | undefined;
    try {
      fs.mkdirSync(probeDirectory, { mode: 0o755 });
      fs.writeFileSync(path.join(probeDirectory, PROBE_FILE), word, { mode: 0o644 });
      await this.mount(['--bind', probeDirectory, slot.hostPath]);
      const command = ['cat', `${WORKSPACE_MOUNT_POINT}/${PROBE_FILE}`];
      output = await runOnceWithin(this.deps.engine, this.deps.clock, containerId, command, { maxBytes: 64, timeoutMs: PROBE_TIMEOUT_MS }).catch(() => undefined);
    } catch (error) {
      this.deps.log.error(`workspace slots: the probe could not run (${firstLine(error)})`);
    } finally {
      await this.unmountAbove(slot.hostPath, 1);
      await this.removeUnmounted(probeDirectory);
    }
    if (output === undefined) return false; // the container did not answer: ask again with another
    this.probed = output === word;
    this.deps.log.info(`workspace slots: ${this.probed ? 'mounts reach containers' : 'off, mounts made on the host do not reach containers'}`);
    return this.probed;
  }

  /**
   * Unmounts whatever is on the slot (lazily: a process inside that holds a directory keeps
   * it, nobody else reaches it) and removes the directory. Idempotent; call it once the
   * container is removed. A directory that stays mounted is left in place, never emptied.
   */
  async release(slot: WorkspaceSlot): Promise<void> {
    if (!this.isSlotPath(slot.hostPath)) return;
    await this.lock.run(slot.hostPath, async () => {
      if (await this.unmountAbove(slot.hostPath, 0)) await this.removeUnmounted(slot.hostPath);
      this.live.delete(slot.hostPath);
    });
  }

  /**
   * At the sidecar's start: unmounts and removes every directory under the root that no
   * container uses (`inUse`: the host paths containers have at /workspace, as Docker reports
   * their mounts) and no slot of this process is: what a crash left, a hand-out's bind included.
   */
  async sweep(inUse: Set<string>): Promise<void> {
    let names: string[];
    try {
      names = fs.readdirSync(this.realRoot());
    } catch {
      return; // no root yet: nothing was ever made
    }
    for (const name of names) {
      const hostPath = path.join(this.realRoot(), name);
      if (inUse.has(hostPath) || this.live.has(hostPath)) continue;
      await this.lock.run(hostPath, async () => {
        if (await this.unmountAbove(hostPath, 0)) await this.removeUnmounted(hostPath);
        else this.deps.log.error(`workspace slots: ${hostPath} is still mounted; left in place`);
      });
    }
  }

  /** At shutdown: the root (and the instance's directory above it) goes once no slot is left in it. */
  async removeRootIfUnused(): Promise<void> {
    const root = this.resolvedRoot ?? this.root;
    if (!fs.existsSync(root) || fs.readdirSync(root).length > 0 || (await mountsAtOrUnder(root)).length > 0) return;
    fs.rmdirSync(root);
    const instanceDirectory = path.dirname(root);
    if (fs.readdirSync(instanceDirectory).length === 0) fs.rmdirSync(instanceDirectory);
  }

  // ----- inside -----

  private slotAt(hostPath: string): WorkspaceSlot {
    return { id: path.basename(hostPath), hostPath, mount: { type: 'bind', source: hostPath, target: WORKSPACE_MOUNT_POINT, propagation: 'rslave' } };
  }

  private isSlotPath(hostPath: string): boolean {
    return path.dirname(hostPath) === this.realRoot() && SLOT_ID.test(path.basename(hostPath));
  }

  private resolvedRoot: string | undefined;

  /** The root, made when missing (owner-only), with symbolic links resolved: mountinfo's spelling. */
  private realRoot(): string {
    if (this.resolvedRoot) return this.resolvedRoot;
    try {
      fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
      this.resolvedRoot = fs.realpathSync(this.root);
    } catch {
      return this.root;
    }
    return this.resolvedRoot;
  }

  /** Runs mount and umount (see ToolShell: a hand-out must not pay a process start from Node). */
  private readonly tools = new ToolShell(TOOL_ENV);

  private async mount(args: string[]): Promise<void> {
    if (!this.mountBinary) throw new Error('mount is missing');
    // -n: no /etc/mtab bookkeeping (the kernel's table is the truth).
    await this.tools.run(this.mountBinary, ['-n', ...args]);
  }

  /** Ends the tool shell (at shutdown). */
  dispose(): void {
    this.tools.dispose();
  }

  /**
   * Takes mounts off `hostPath`, the topmost first, until `keep` remain (1: the slot's own).
   * Lazy (MNT_DETACH): a busy mount is detached at once, with everything mounted under it.
   * True once exactly `keep` remain (or none, when none are to be kept).
   */
  private async unmountAbove(hostPath: string, keep: number): Promise<boolean> {
    const stacked = (await mountsAt(hostPath)).length;
    if (stacked <= keep) return stacked === keep || keep === 0;
    if (!this.umountBinary) return false;
    // One umount for the whole stack: it takes its arguments in turn, each time the topmost mount.
    const times = Math.min(stacked - keep, MAX_STACKED_MOUNTS);
    try {
      await this.tools.run(this.umountBinary, ['-n', '-l', ...Array<string>(times).fill(hostPath)]);
    } catch (error) {
      this.deps.log.error(`workspace slots: could not unmount ${hostPath} (${firstLine(error)})`);
    }
    return (await mountsAt(hostPath)).length === keep;
  }

  /**
   * Removes a directory of ours once nothing is mounted at or under it. Recursively: a
   * process that sat in the slot before the bind may have written there. rm never follows a
   * symbolic link, and with no mount below nothing but the slot's own files is reached.
   */
  private async removeUnmounted(hostPath: string): Promise<void> {
    if ((await mountsAtOrUnder(hostPath)).length > 0) return;
    try {
      fs.rmSync(hostPath, { recursive: true, force: true });
    } catch (error) {
      this.deps.log.error(`workspace slots: could not remove ${hostPath} (${firstLine(error)})`);
    }
  }
}

/** The mounts whose mount point is exactly `hostPath`, bottom first (mountinfo lists them in the order made). */
async function mountsAt(hostPath: string): Promise<string[]> {
  return (await mountPoints()).filter((point) => point === hostPath);
}

async function mountsAtOrUnder(hostPath: string): Promise<string[]> {
  return (await mountPoints()).filter((point) => point === hostPath || point.startsWith(`${hostPath}/`));
}

/** Every mount point of the sidecar's mount namespace, as the kernel lists them. */
async function mountPoints(): Promise<string[]> {
  // Synchronous: a kernel file of a few KiB reads in microseconds; the thread pool's queue
  // (busy with other file work) would add milliseconds to a hand-out.
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  // "id parent major:minor root mount-point options …": the fifth field, with \ooo escapes for space, tab, newline, backslash.
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => unescapeMountinfo(line.split(' ')[4] ?? ''));
}

function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * An absolute, normalised path to a real directory with no symbolic link on the way: the
 * volume's directory as Docker reported it, checked before mount (which would follow links).
 */
function isPlainDirectory(candidate: string): boolean {
  if (!path.isAbsolute(candidate) || path.normalize(candidate) !== candidate) return false;
  try {
    return fs.lstatSync(candidate).isDirectory() && fs.realpathSync(candidate) === candidate;
  } catch {
    return false;
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function firstLine(error: unknown): string {
  const failure = error as { stderr?: string; message?: string };
  return String(failure?.stderr || failure?.message || error).trim().split('\n')[0];
}
