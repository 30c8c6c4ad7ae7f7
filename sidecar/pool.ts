import type { PoolStatus } from './client/protocol';
import type { ConfigStore } from './config';
import type { Containers } from './containers';
import { LABEL } from './docker/engine';
import { hasCode } from './errors';
import type { CommandShell } from './exec/commandShell';
import type { WorkspaceSlot } from './pool/workspaceSlots';
import type { Changes } from './util/changes';
import type { Clock } from './util/clock';
import type { Logger } from './util/log';

/**
 * A ready pool entry: an empty volume, a running container with it at /workspace, and a
 * command shell already attached. A new workspace's first session takes the whole pair (the
 * workspace adopts the volume), so nothing is created on the hand-out path. With a `slot`
 * (see WorkspaceSlots) the volume is bound onto the slot on the host, and a used workspace's
 * session can take the container too: its own volume replaces the empty one on the slot.
 */
export interface PooledContainer {
  image: string;
  containerId: string;
  name: string;
  volume: string;
  network: string;
  shell: CommandShell;
  slot?: WorkspaceSlot;
}

interface ImagePool {
  ready: PooledContainer[];
  target: number;
  refilling: number;
  error?: string;
}

/** How often the pool looks for labelled pool objects it does not know (leaks after a crash). */
const JANITOR_INTERVAL_MS = 30_000;
/** Pause between a hand-out and the refill it triggers. */
const REFILL_DELAY_MS = 250;
/** After a failed creation, wait this long before trying the image again. */
const RETRY_AFTER_FAILURE_MS = 10_000;
/** While draining, how often to look whether creations in flight have finished. */
const DRAIN_POLL_MS = 50;

/** Settings whose change makes existing pool containers wrong: they are recycled. */
const CONTAINER_SHAPE_KEYS = ['limits.cpus', 'limits.memoryMb', 'limits.pids', 'network'];

export class Pool {
  private readonly images = new Map<string, ImagePool>();
  /** Names of containers and volumes being created right now: the janitor leaves them alone. */
  private readonly creating = new Set<string>();
  /** Taken by a session that has not recorded it yet: neither ready nor owned, but no leak. */
  private readonly handingOut = new Set<PooledContainer>();
  /** Counts recycles: a container whose creation began before the last one has the old shape. */
  private shapeGeneration = 0;
  private janitorTimer: { cancel(): void } | undefined;
  private draining = false;
  private started = false;

  constructor(
    private readonly deps: {
      containers: Containers;
      config: ConfigStore;
      clock: Clock;
      changes: Changes;
      log: Logger;
      /** Whether a session or workspace owns it now: a handed-out pool object is not a leak. */
      owned: { container(id: string): boolean; volume(name: string): boolean };
    },
  ) {
    deps.config.onDidChange((changed) => {
      if (!this.started) return;
      if (changed.some((key) => CONTAINER_SHAPE_KEYS.includes(key))) void this.recycle();
      else if (changed.some((key) => key.startsWith('pool.'))) this.applyTargets();
    });
  }

  /** Called once Docker answers and reconciliation ran: sweep leftovers, then fill. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.removeUnknownPoolObjects();
    if (this.draining) return;
    this.applyTargets();
    this.scheduleJanitor();
  }

  status(): PoolStatus {
    return {
      enabled: this.deps.config.current['pool.enabled'],
      images: [...this.images.entries()]
        .filter(([, pool]) => pool.target > 0 || pool.ready.length > 0 || pool.refilling > 0)
        .map(([image, pool]) => ({ image, ready: pool.ready.length, target: pool.target, refilling: pool.refilling, error: pool.error })),
    };
  }

  /**
   * The Docker engine is back after it was away: the entries whose shells went with it were
   * dropped (the janitor removes their containers), and the pool fills again now instead of
   * after its retry delay.
   */
  engineBack(): void {
    if (this.started && !this.draining) this.applyTargets();
  }

  /** A ready container of `image` (with a slot, when asked), or undefined (the caller creates one cold). Never waits. */
  take(image: string, options: { withSlot?: boolean } = {}): PooledContainer | undefined {
    const pool = this.images.get(image);
    const index = pool?.ready.findIndex((entry) => !options.withSlot || entry.slot) ?? -1;
    if (index < 0) return undefined;
    const [entry] = pool!.ready.splice(index, 1);
    this.handingOut.add(entry);
    this.deps.changes.emit('pool');
    // Refill a moment later: creating a container costs CPU that the session just handed out
    // needs for its first command.
    this.deps.clock.setTimeout(() => this.refill(image), REFILL_DELAY_MS);
    return entry;
  }

  /** The session that took `entry` recorded it (or gave up): from now on the database says who owns it. */
  handedOver(entry: PooledContainer): void {
    this.handingOut.delete(entry);
  }

  /** Reads the targets from the settings, shrinks or grows each image's pool. */
  private applyTargets(): void {
    if (this.draining) return;
    const { current } = this.deps.config;
    const targets = current['pool.enabled'] ? current['pool.images'] : {};
    for (const image of new Set([...this.images.keys(), ...Object.keys(targets)])) {
      const pool = this.poolOf(image);
      pool.target = targets[image] ?? 0;
      pool.error = undefined;
      const surplus = pool.ready.splice(pool.target);
      for (const entry of surplus) void this.remove(entry);
      this.refill(image);
    }
    this.deps.changes.emit('pool');
  }

  private poolOf(image: string): ImagePool {
    let pool = this.images.get(image);
    if (!pool) {
      pool = { ready: [], target: 0, refilling: 0 };
      this.images.set(image, pool);
    }
    return pool;
  }

  /**
   * Creates containers one at a time until ready + refilling reaches the target. Runs in the
   * background: a hand-out never waits for it. One at a time, because on a small machine
   * parallel creates only slow each other and the sessions being served.
   */
  private refill(image: string): void {
    const pool = this.poolOf(image);
    if (this.draining || pool.refilling > 0 || pool.ready.length >= pool.target || pool.error) return;
    pool.refilling++;
    this.deps.changes.emit('pool');
    const generation = this.shapeGeneration;
    void this.create(image)
      .then((entry) => {
        const stale = generation !== this.shapeGeneration; // settings changed while it was made
        if (this.draining || stale || pool.ready.length >= pool.target) return this.remove(entry);
        pool.ready.push(entry);
        entry.shell.onDidEnd(() => this.forget(image, entry));
      })
      .catch((error) => {
        pool.error = `Could not warm a container of ${image}: ${(error as Error).message.split('\n')[0]}`;
        // An engine that went away is logged once, by its health; its return refills at once (engineBack).
        if (!hasCode(error, 'DockerUnavailable')) this.deps.log.error(pool.error);
        this.deps.clock.setTimeout(() => {
          pool.error = undefined;
          this.refill(image);
        }, RETRY_AFTER_FAILURE_MS);
      })
      .finally(() => {
        pool.refilling--;
        this.deps.changes.emit('pool');
        this.refill(image);
      });
  }

  private async create(image: string): Promise<PooledContainer> {
    const { containers, log } = this.deps;
    const name = containers.newPoolName();
    const volume = name;
    this.creating.add(name);
    log.info(`pool: warming ${name} (${image})`);
    const slots = containers.slots;
    let slot: WorkspaceSlot | undefined;
    try {
      await containers.engine.ensureImage(image);
      await containers.engine.createVolume(volume, { role: 'pool' });
      slot = slots?.available ? await slots.newSlot() : undefined;
      const spec = containers.spec({ role: 'pool', image, volume, name, slot });
      const { containerId, shell: shellStarting } = await containers.createAndStart(spec);
      if (slot) containers.noteSlot(containerId, slot);
      try {
        const shell = await shellStarting;
        // A slot is bound only now that the container runs: only a mount made after its start
        // propagates into it (one there before would be copied as itself, and stay).
        if (slot && !(await this.bindAfterStart(slot, containerId, volume, shell))) {
          shell.dispose();
          throw new SlotRefused();
        }
        return { image, containerId, name, volume, network: spec.network, shell, ...(slot ? { slot } : {}) };
      } catch (error) {
        await containers.remove(containerId); // its shell never answered, or its slot is of no use
        throw error;
      }
    } catch (error) {
      if (slot) await slots?.release(slot);
      await containers.engine.removeVolume(volume).catch(() => undefined);
      // Mounts made on the host do not reach containers here (the probe said so): one without a slot.
      if (error instanceof SlotRefused && !slots?.available) return this.create(image);
      throw error instanceof SlotRefused ? new Error('could not bind the pool volume onto its workspace slot') : error;
    } finally {
      this.creating.delete(name);
    }
  }

  /**
   * The first pooled container with a slot asks whether mounts made on the host reach
   * containers here at all; then the entry's own volume is bound onto the slot and the main
   * shell steps into it (it started in the empty slot).
   */
  private async bindAfterStart(slot: WorkspaceSlot, containerId: string, volume: string, shell: CommandShell): Promise<boolean> {
    const slots = this.deps.containers.slots!;
    if (slots.needsProbe && !(await slots.probe(slot, containerId))) return false;
    if (!(await slots.bind(slot, volume))) return false;
    const { result } = shell.run({ command: { line: 'cd /workspace' }, onOutput: () => undefined });
    return (await result).exitCode === 0;
  }

  private forget(image: string, entry: PooledContainer): void {
    const pool = this.images.get(image);
    const index = pool?.ready.indexOf(entry) ?? -1;
    if (index < 0) return;
    pool!.ready.splice(index, 1);
    void this.remove(entry);
    this.refill(image);
  }

  private async remove(entry: PooledContainer): Promise<void> {
    entry.shell.dispose();
    await this.deps.containers.remove(entry.containerId).catch(() => undefined);
    await this.deps.containers.engine.removeVolume(entry.volume).catch(() => undefined);
  }

  /** Settings that shape containers changed: replace every ready container. */
  private async recycle(): Promise<void> {
    this.shapeGeneration++;
    const stale = [...this.images.values()].flatMap((pool) => pool.ready.splice(0));
    await Promise.all(stale.map((entry) => this.remove(entry)));
    this.applyTargets();
  }

  /**
   * Removes pool containers and volumes of this instance that are neither ready here, nor
   * being created, nor handed out to a session: what a crash (kill -9) left behind.
   */
  async removeUnknownPoolObjects(): Promise<void> {
    const { containers, owned } = this.deps;
    const found = await containers.engine.listOwnContainers('pool');
    // Read what is ours only now: a creation may have finished while Docker answered.
    const ours = [...this.images.values()].flatMap((pool) => pool.ready).concat([...this.handingOut]);
    const known = new Set(ours.map((entry) => entry.containerId));
    const leaked = found.filter((c) => !known.has(c.id) && !this.creating.has(c.name) && !owned.container(c.id));
    await Promise.all(leaked.map((c) => containers.remove(c.id)));
    const volumes = (await containers.engine.listOwnVolumes()).filter((v) => v.labels[LABEL.role] === 'pool');
    const knownVolumes = new Set([...this.images.values()].flatMap((pool) => pool.ready).concat([...this.handingOut]).map((entry) => entry.volume));
    await Promise.all(
      volumes
        .filter((v) => !knownVolumes.has(v.name) && !this.creating.has(v.name) && !owned.volume(v.name))
        .map((v) => containers.engine.removeVolume(v.name).catch(() => undefined)),
    );
    if (leaked.length > 0) this.deps.log.info(`pool: removed ${leaked.length} leftover pool container(s)`);
  }

  private scheduleJanitor(): void {
    this.janitorTimer = this.deps.clock.setTimeout(() => {
      void this.removeUnknownPoolObjects()
        .catch((error) => hasCode(error, 'DockerUnavailable') || this.deps.log.error('pool janitor failed', error))
        .finally(() => !this.draining && this.scheduleJanitor());
    }, JANITOR_INTERVAL_MS);
  }

  /** On shutdown: stop refilling, remove every ready container and what is being created. */
  async drain(): Promise<void> {
    this.draining = true;
    this.janitorTimer?.cancel();
    const entries = [...this.images.values()].flatMap((pool) => pool.ready.splice(0));
    await Promise.all(entries.map((entry) => this.remove(entry)));
    // Creations in flight remove themselves when they finish (draining is set); wait for them.
    while ([...this.images.values()].some((pool) => pool.refilling > 0)) {
      await this.deps.clock.sleep(DRAIN_POLL_MS);
    }
    // What no session took and a tidy-up had not removed yet (the empty volume a used
    // workspace's hand-out set aside, a moment ago): nothing of the pool outlives the sidecar.
    await this.removeUnknownPoolObjects().catch((error: unknown) => this.deps.log.error('removing what is left of the pool', error));
  }
}

/** A pooled container's slot could not take its volume. */
class SlotRefused extends Error {}
