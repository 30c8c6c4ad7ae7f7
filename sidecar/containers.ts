import { cryptoRandomHex } from './client/ids';
import type { WorkspaceInfo, WorkspaceKind } from './client/protocol';
import type { ConfigStore } from './config';
import type { ContainerSpec, ContainerState, Engine, Mount } from './docker/engine';
import { BindMountRefusedError } from './docker/errors';
import { hasCode } from './errors';
import { CommandShell } from './exec/commandShell';
import { MAIN_PROCESS_SCRIPT } from './exec/shellText';
import type { HostFirewall } from './docker/hostFirewall';
import type { WorkspaceSlot, WorkspaceSlots } from './pool/workspaceSlots';
import { PIPE_MOUNT_POINT, type DirectPipes } from './rawChannel/directPipes';
import type { Clock } from './util/clock';

/** What a container is made for: a session of a workspace, or the pool. */
export type ContainerPurpose =
  | { role: 'session'; sessionId: string; workspace: { id: string; kind: WorkspaceKind; image: string; volume: string; hostNetwork?: boolean } }
  | { role: 'pool'; image: string; volume: string; name: string; slot?: WorkspaceSlot };

/**
 * Containers as sessions and the pool make them: the one place for their names, their spec
 * (limits and network from the settings, the workspace volume, the pipe directory) and their
 * life cycle around the engine (pull when missing, start with the main shell attached,
 * removal that also removes the pipe directory).
 */
export class Containers {
  constructor(
    private readonly deps: {
      engine: Engine;
      config: ConfigStore;
      clock: Clock;
      /** Host directories for commands' stdout FIFOs, mounted into every container when the engine is local. */
      pipes: DirectPipes;
      /** Keeps sandboxes on the bridge from the host's own services and link-local addresses, where it can. */
      firewall: HostFirewall;
      /** Mount points through which a pooled container gets any workspace's volume (see WorkspaceSlots); absent: none. */
      slots?: WorkspaceSlots;
    },
  ) {}

  /** The slot each container made with one has at /workspace (others are found through Docker after a restart). */
  private readonly slotByContainer = new Map<string, WorkspaceSlot>();

  get slots(): WorkspaceSlots | undefined {
    return this.deps.slots;
  }

  /** The container was made with this slot at /workspace. */
  noteSlot(containerId: string, slot: WorkspaceSlot): void {
    this.slotByContainer.set(containerId, slot);
  }

  /** The slot a container has at /workspace, if any (asks Docker for a container this process did not make). */
  async slotOf(containerId: string, mounts?: Array<{ source: string; target: string }>): Promise<WorkspaceSlot | undefined> {
    const known = this.slotByContainer.get(containerId);
    if (known || !this.deps.slots) return known;
    const found = this.deps.slots.slotOf(mounts ?? (await this.deps.engine.inspectContainer(containerId))?.mounts);
    if (found) this.slotByContainer.set(containerId, found);
    return found;
  }

  get engine(): Engine {
    return this.deps.engine;
  }

  sessionContainerName(sessionId: string): string {
    return `sandkasten-${this.deps.engine.instanceId}-${sessionId}`;
  }

  workspaceVolumeName(workspaceId: string): string {
    return `sandkasten-${this.deps.engine.instanceId}-${workspaceId}`;
  }

  /** A pool entry's container and volume share one name. */
  newPoolName(): string {
    return `sandkasten-${this.deps.engine.instanceId}-pool-${cryptoRandomHex(6)}`;
  }

  /**
   * The network a new container gets. Ephemeral workspaces are for untrusted one-off runs:
   * none. Others reach the outside through this instance's own bridge, on which sandboxes
   * cannot reach one another (see Engine.ensureSandboxNetwork); one network per instance,
   * not per workspace, because Docker has address space for a few dozen bridges only.
   */
  networkFor(kind: WorkspaceKind | undefined): string {
    if (kind === 'ephemeral') return 'none';
    const settings = this.deps.config.current;
    const outbound = (kind && settings['sandbox.network'][kind]) || settings.network;
    return outbound === 'none' ? 'none' : this.sandboxNetworkName();
  }

  sandboxNetworkName(): string {
    return `sandkasten-${this.deps.engine.instanceId}-sandboxes`;
  }

  private sandboxNetworkReady: Promise<void> | undefined;

  /** Makes the sandbox network before the first container that needs it (once; again after a failure). */
  private ensureNetwork(network: string): Promise<void> {
    if (network !== this.sandboxNetworkName()) return Promise.resolve();
    this.sandboxNetworkReady ??= this.deps.engine.ensureSandboxNetwork(network).then(
      async ({ bridge }) => {
        this.hostGuarded = await this.deps.firewall.guard(bridge);
      },
      (error: unknown) => {
        this.sandboxNetworkReady = undefined;
        throw error;
      },
    );
    return this.sandboxNetworkReady;
  }

  /** Whether the host firewall rules guard the sandbox network (see HostFirewall); undefined before it was made. */
  private hostGuarded: boolean | undefined;

  /** For `status`: what keeps sandboxes on the bridge from the host. */
  hostIsolation(): { enforced: boolean; reason?: string } {
    const reason = this.deps.firewall.unavailableBecause;
    if (reason) return { enforced: false, reason };
    return this.hostGuarded === false ? { enforced: false, reason: 'iptables refused the rules' } : { enforced: true };
  }

  /**
   * Removes this instance's networks once no container of it remains (at shutdown: a stopped
   * container still names its network and could not start again without it).
   */
  async removeUnusedNetworks(): Promise<void> {
    const { engine } = this.deps;
    if ((await engine.listOwnContainers()).length > 0) return;
    this.sandboxNetworkReady = undefined;
    for (const { name, bridge } of await engine.listOwnNetworks()) {
      if (await engine.removeNetwork(name)) await this.deps.firewall.unguard(bridge);
    }
  }

  /** What the `sandbox.*` settings ask of a kind's containers (the pool's have none of it). */
  sandboxShape(kind: WorkspaceKind): Pick<ContainerSpec, 'readOnlyRoot' | 'user' | 'runtime'> {
    const settings = this.deps.config.current;
    return { readOnlyRoot: settings['sandbox.readOnlyRoot'][kind] === true, user: settings['sandbox.user'][kind] || undefined, runtime: settings['sandbox.runtime'][kind] || undefined };
  }

  /** Whether a pooled container (made without any `sandbox.*` setting, on the sandbox network) suits a workspace. */
  poolSuits(workspace: Pick<WorkspaceInfo, 'kind' | 'hostNetwork'>): boolean {
    const shape = this.sandboxShape(workspace.kind);
    // A pooled container can be cut off the network (see Sessions), not given one it lacks.
    const network = this.networkFor(workspace.kind);
    const networkFits = network === 'none' || network === this.networkFor(undefined);
    return networkFits && !shape.readOnlyRoot && !shape.user && !shape.runtime && !workspace.hostNetwork;
  }

  spec(purpose: ContainerPurpose): ContainerSpec {
    const settings = this.deps.config.current;
    const shape = {
      command: mainProcessCommand(),
      workingDir: '/workspace',
      cpus: settings['limits.cpus'],
      memoryMb: settings['limits.memoryMb'],
      pids: settings['limits.pids'],
    };
    if (purpose.role === 'pool') {
      // With a slot, the pool's volume is bound onto it on the host (so another can replace it at hand-out).
      const mounts = purpose.slot ? [purpose.slot.mount] : [workspaceMount(purpose.volume)];
      return { ...shape, name: purpose.name, image: purpose.image, role: 'pool', mounts, network: this.networkFor(undefined), readOnlyRoot: false };
    }
    const { workspace, sessionId } = purpose;
    return {
      ...shape,
      ...this.sandboxShape(workspace.kind),
      name: this.sessionContainerName(sessionId),
      image: workspace.image,
      role: 'session',
      workspaceId: workspace.id,
      sessionId,
      mounts: [workspaceMount(workspace.volume)],
      network: workspace.hostNetwork ? 'host' : this.networkFor(workspace.kind),
    };
  }

  /**
   * Creates the container with a fresh pipe directory mounted (when pipes work here); pulls
   * the image only when Docker says it is missing, and tries again.
   */
  async create(spec: ContainerSpec): Promise<string> {
    try {
      return await this.createWithPipes(spec);
    } catch (error) {
      if (!hasCode(error, 'ImageMissing')) throw error;
      await this.deps.engine.ensureImage(spec.image);
      return this.createWithPipes(spec);
    }
  }

  private async createWithPipes(spec: ContainerSpec): Promise<string> {
    const { pipes, engine } = this.deps;
    await this.ensureNetwork(spec.network);
    const pipeDirectory = pipes.newDirectory();
    const mounts: Mount[] = pipeDirectory ? [...spec.mounts, { type: 'bind', source: pipeDirectory, target: PIPE_MOUNT_POINT, readOnly: true }] : spec.mounts;
    try {
      const id = await engine.createContainer({ ...spec, mounts });
      pipes.created(id, pipeDirectory);
      return id;
    } catch (error) {
      if (!pipeDirectory) throw error;
      if (error instanceof BindMountRefusedError) {
        pipes.refusedMount(pipeDirectory);
        return this.createWithPipes(spec);
      }
      pipes.discardDirectory(pipeDirectory);
      throw error;
    }
  }

  /**
   * Starts a created container with its main shell attached, so the first command needs no
   * exec. Attach and start run together: the shell says nothing until it is asked, so an
   * attach that lands after the start misses nothing. Resolves once the engine started the
   * container; `shell` resolves once the shell answered.
   */
  async startWithMainShell(containerId: string): Promise<{ shell: Promise<CommandShell> }> {
    const attaching = CommandShell.attachMain(this.deps.engine, this.deps.clock, containerId);
    try {
      await this.deps.engine.startContainer(containerId).catch(async (error: unknown) => {
        // A stopped container whose network was removed behind our back: make it again, once.
        if (!/network .*not found/i.test(String((error as Error)?.message))) throw error;
        this.sandboxNetworkReady = undefined;
        await this.ensureNetwork(this.sandboxNetworkName());
        await this.deps.engine.startContainer(containerId);
      });
    } catch (error) {
      void attaching.then((attached) => attached.abandon(), () => undefined);
      throw error;
    }
    const attached = await attaching;
    return { shell: attached.ready() };
  }

  /** Creates and starts with the main shell; a container that fails to start is removed. */
  async createAndStart(spec: ContainerSpec): Promise<{ containerId: string; shell: Promise<CommandShell> }> {
    const containerId = await this.create(spec);
    try {
      const { shell } = await this.startWithMainShell(containerId);
      return { containerId, shell };
    } catch (error) {
      await this.remove(containerId);
      throw error;
    }
  }

  /** Idempotent; the container's pipe directory goes with it, and its slot is unmounted (after: see WorkspaceSlots). */
  async remove(containerId: string): Promise<void> {
    const pipeDirectory = await this.deps.pipes.directoryOf(containerId); // asks Docker after a restart: ask before the removal
    // Also when slots are off now (another start's setting): a slot a container has is released with it.
    const slot = this.deps.slots?.canUnmount ? await this.slotOf(containerId) : undefined;
    await this.deps.engine.removeContainer(containerId);
    this.deps.pipes.removed(containerId, pipeDirectory);
    if (slot) {
      this.slotByContainer.delete(containerId);
      await this.deps.slots?.release(slot);
    }
  }

  /** Docker says the container no longer exists (removed behind the sidecar's back): its pipe directory goes too. */
  forgetRemoved(containerId: string): void {
    this.deps.pipes.containerGone(containerId);
    const slot = this.slotByContainer.get(containerId);
    if (slot) {
      this.slotByContainer.delete(containerId);
      void this.deps.slots?.release(slot);
    }
  }

  /**
   * Whether the container's main process is this version's command shell host. Containers
   * made by older versions (stdin closed, or another PID 1 script) get exec'd shells.
   */
  hasCurrentMainShell(state: ContainerState): boolean {
    return state.openStdin && state.command.join('\0') === mainProcessCommand().join('\0');
  }

  /** undefined when the container no longer exists (its pipe directory is removed then). */
  async inspect(containerId: string): Promise<ContainerState | undefined> {
    const state = await this.deps.engine.inspectContainer(containerId);
    if (!state) this.deps.pipes.containerGone(containerId);
    return state;
  }
}

function mainProcessCommand(): string[] {
  return ['sh', '-c', MAIN_PROCESS_SCRIPT];
}

function workspaceMount(volume: string): Mount {
  return { type: 'volume', source: volume, target: '/workspace' };
}
