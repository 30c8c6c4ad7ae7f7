import type { Duplex } from 'node:stream';
import type { DockerStatus, ImageInfo } from '../../../sidecar/client/protocol';
import {
  LABEL,
  type ContainerEvent,
  type ContainerSpec,
  type ContainerState,
  type ContainerStats,
  type Engine,
  type EngineInfo,
  type ExecOptions,
  type ExecProcess,
  type Mount,
  type OwnContainer,
  type OwnVolume,
  type Role,
  type StatsSample,
} from '../../../sidecar/docker/engine';
import { conflict, dockerUnavailableError, imageMissing, notFound } from '../../../sidecar/errors';

import { FakeShell, type ShellScript } from './shell';

export interface FakeContainer {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  mounts: Mount[];
  running: boolean;
  paused?: boolean;
  hasMainShell: boolean;
  network: string;
  /** As the sidecar asked for it; absent for containers a test put there. */
  spec?: ContainerSpec;
  /** Every shell opened in it (main and exec'd), alive or ended. */
  shells: Set<FakeShell>;
}

export interface EngineCall {
  method: keyof Engine;
  args: unknown[];
}

/**
 * An in-memory Docker engine. Containers and volumes live in maps; every call is recorded
 * in `calls`; `failNext` makes a call throw, `hold` makes one wait until released, and
 * `vanish` removes a container behind the sidecar's back. The shells that `attach` and
 * `exec` hand out speak Docker's framed stream and answer CommandShell's protocol, with
 * output from `script`.
 */
/** What the fake engine's `engineInfo` answers unless a test changes it: a healthy modern engine. */
export const FAKE_ENGINE_INFO: EngineInfo = {
  version: '27.0.0',
  apiVersion: '1.46',
  operatingSystem: 'Fake Linux',
  kernelVersion: '6.1.0',
  storageDriver: 'overlay2',
  driverStatus: { 'Backing Filesystem': 'extfs', 'Supports d_type': 'true' },
  cgroupVersion: '2',
  cgroupDriver: 'systemd',
  securityOptions: ['name=seccomp,profile=builtin', 'name=cgroupns'],
  runtimes: ['runc'],
  limits: { memory: true, swap: true, pids: true, cpuQuota: true },
  warnings: [],
};

/** A shell's status for a command killed by the signal: 128 + its number. */
const SIGNAL_STATUS = { INT: 130, TERM: 143, KILL: 137 } as const;

export class FakeEngine implements Engine {
  readonly instanceId: string;
  readonly isLocal = false;
  readonly containers = new Map<string, FakeContainer>();
  readonly volumes = new Map<string, OwnVolume>();
  /** Images that are local; `ensureImage` pulls any other unless it is unpullable. */
  readonly images = new Set<string>();
  readonly unpullable = new Set<string>();
  readonly calls: EngineCall[] = [];
  /** The scripts `runOnce` was asked to run (the text after `sh -c`). */
  readonly runOnceScripts: string[] = [];
  available = true;
  /** Signals a hanging command shrugs off (it still ends on a kill of its shell). */
  readonly hangIgnores = new Set<'INT' | 'TERM' | 'KILL'>();
  script: ShellScript = () => ({});

  private readonly failures = new Map<keyof Engine, Error[]>();
  private readonly targetedFailures = new Map<keyof Engine, Array<{ target: string; error: Error }>>();
  private readonly holds = new Map<keyof Engine, Array<Promise<void>>>();
  private nextId = 1;
  private nextPid = 42;

  constructor(options: { instanceId?: string; images?: string[] } = {}) {
    this.instanceId = options.instanceId ?? 'fakeinstance';
    for (const image of options.images ?? ['debian:bookworm-slim']) this.images.add(image);
  }

  // ----- knobs and views for tests -----

  /** The next `times` calls of `method` throw `error` (after being recorded). */
  failNext(method: keyof Engine, error: Error, times = 1): void {
    const queue = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++) queue.push(error);
    this.failures.set(method, queue);
  }

  /**
   * The next call of `method` whose first argument is `target` (a container id, a volume name)
   * throws `error` (after being recorded); calls about anything else go through.
   */
  failNextFor(method: keyof Engine, target: string, error: Error): void {
    const queue = this.targetedFailures.get(method) ?? [];
    queue.push({ target, error });
    this.targetedFailures.set(method, queue);
  }

  /** The next call of `method` waits (after being recorded) until `release()` is called. */
  hold(method: keyof Engine): { release(): void } {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const queue = this.holds.get(method) ?? [];
    queue.push(gate);
    this.holds.set(method, queue);
    return { release };
  }

  callsTo(method: keyof Engine): unknown[][] {
    return this.calls.filter((call) => call.method === method).map((call) => call.args);
  }

  /** Removes the container as if someone ran `docker rm -f` outside the sidecar. */
  vanish(id: string): void {
    const container = this.requireContainer(id);
    this.endShells(container);
    this.containers.delete(id);
  }

  /** A container of this instance that the sidecar did not create in this test (e.g. a crash's leftover). */
  addContainer(options: { name: string; role: Role; running?: boolean; image?: string; mounts?: Mount[]; labels?: Record<string, string>; hasMainShell?: boolean }): string {
    const id = this.newContainerId();
    this.containers.set(id, {
      id,
      name: options.name,
      image: options.image ?? 'debian:bookworm-slim',
      labels: { ...this.ownLabels(options.role), ...options.labels },
      mounts: options.mounts ?? [],
      running: options.running ?? true,
      hasMainShell: options.hasMainShell ?? true,
      network: 'bridge',
      shells: new Set(),
    });
    return id;
  }

  addVolume(name: string, owner: { role: Role; workspaceId?: string }): void {
    this.volumes.set(name, { name, labels: this.ownLabels(owner.role, owner.workspaceId) });
  }

  containersWithRole(role: Role): FakeContainer[] {
    return [...this.containers.values()].filter((container) => container.labels[LABEL.role] === role);
  }

  volumesWithRole(role: Role): string[] {
    return [...this.volumes.values()].filter((volume) => volume.labels[LABEL.role] === role).map((volume) => volume.name);
  }

  /** Every shell ever opened in the container (main and exec'd), alive or not. */
  shellsOf(id: string): FakeShell[] {
    return [...(this.containers.get(id)?.shells ?? [])];
  }

  // ----- Engine -----

  async runtimes(): Promise<string[]> {
    await this.enter('runtimes', []);
    this.checkAvailable();
    return ['runc'];
  }

  /** What `engineInfo` answers; tests change it to stage an engine. */
  info: EngineInfo = structuredClone(FAKE_ENGINE_INFO);

  async engineInfo(): Promise<EngineInfo> {
    await this.enter('engineInfo', []);
    this.checkAvailable();
    return structuredClone(this.info);
  }

  async hasImage(image: string): Promise<boolean> {
    await this.enter('hasImage', [image]);
    this.checkAvailable();
    return this.images.has(image);
  }

  /** Images a registry would have: by default none (nothing is pullable, as on these machines). */
  readonly pullable = new Set<string>();

  async whyNotPullable(image: string): Promise<string | undefined> {
    await this.enter('whyNotPullable', [image]);
    this.checkAvailable();
    return this.pullable.has(image) ? undefined : `Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host`;
  }

  async status(): Promise<DockerStatus> {
    await this.enter('status', []);
    return this.available ? { available: true, version: 'fake', endpoint: 'fake://engine' } : { available: false, endpoint: 'fake://engine', error: 'The fake engine is off.' };
  }

  /** Which engine this fake claims to be (tests of the engine binding change it). */
  engineId = 'fake-engine-id';

  async identity(): Promise<{ engineId: string; engineName: string }> {
    await this.enter('identity', []);
    return { engineId: this.engineId, engineName: 'fake' };
  }

  async requireAvailable(): Promise<void> {
    await this.enter('requireAvailable', []);
    this.checkAvailable();
  }

  async ensureImage(image: string, onProgress?: (message: string) => void): Promise<void> {
    await this.enter('ensureImage', [image]);
    this.checkAvailable();
    if (this.images.has(image)) return;
    if (this.unpullable.has(image)) throw imageMissing(`The image "${image}" is not local and cannot be pulled.`, `pull access denied for ${image}`);
    onProgress?.(`Pulling ${image}`);
    this.images.add(image);
  }

  /** Local images as `listImages` reports them: one entry per image in `images`, each made at the epoch. */
  async listImages(): Promise<ImageInfo[]> {
    await this.enter('listImages', []);
    this.checkAvailable();
    return [...this.images].sort().map((reference) => ({ reference, id: `sha256:${fakeHex(reference)}`, sizeBytes: 1024, createdAt: new Date(0).toISOString() }));
  }

  async createVolume(name: string, owner: { role: Role; workspaceId?: string }): Promise<void> {
    await this.enter('createVolume', [name, owner]);
    this.checkAvailable();
    this.addVolume(name, owner);
  }

  async removeVolume(name: string): Promise<void> {
    await this.enter('removeVolume', [name]);
    this.checkAvailable();
    // As Docker does: a volume a container still mounts cannot be removed.
    const user = [...this.containers.values()].find((container) => container.mounts.some((mount) => mount.type === 'volume' && mount.source === name));
    if (user) throw conflict(`The volume ${name} is in use by container ${user.id}.`);
    this.volumes.delete(name);
  }

  async listOwnVolumes(): Promise<OwnVolume[]> {
    await this.enter('listOwnVolumes', []);
    this.checkAvailable();
    return [...this.volumes.values()].filter((volume) => volume.labels[LABEL.instance] === this.instanceId).map((volume) => ({ ...volume, labels: { ...volume.labels } }));
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    await this.enter('createContainer', [spec]);
    this.checkAvailable();
    if (!this.images.has(spec.image)) throw imageMissing(`The image "${spec.image}" is not local.`);
    if (this.findByName(spec.name)) throw conflict(`The container name "${spec.name}" is already in use.`);
    for (const mount of spec.mounts) {
      // Docker makes a named volume that does not exist yet, without labels.
      if (mount.type === 'volume' && !this.volumes.has(mount.source)) this.volumes.set(mount.source, { name: mount.source, labels: {} });
    }
    const id = this.newContainerId();
    this.containers.set(id, {
      id,
      name: spec.name,
      image: spec.image,
      labels: {
        ...this.ownLabels(spec.role, spec.workspaceId),
        ...(spec.sessionId ? { [LABEL.session]: spec.sessionId } : {}),
      },
      mounts: spec.mounts.map((mount) => ({ ...mount })),
      running: false,
      hasMainShell: true,
      network: spec.network,
      spec,
      shells: new Set(),
    });
    return id;
  }

  async startContainer(id: string): Promise<void> {
    await this.enter('startContainer', [id]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    container.running = true;
    for (const shell of container.shells) shell.containerStarted();
  }

  async stopContainer(id: string): Promise<void> {
    await this.enter('stopContainer', [id]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    container.running = false;
    this.endShells(container);
  }

  async pauseContainer(id: string): Promise<void> {
    await this.enter('pauseContainer', [id]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    container.paused = container.running;
  }

  async unpauseContainer(id: string): Promise<void> {
    await this.enter('unpauseContainer', [id]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    container.paused = false;
  }

  async removeContainer(id: string): Promise<void> {
    await this.enter('removeContainer', [id]);
    this.checkAvailable();
    const container = this.containers.get(id);
    if (!container) return;
    this.endShells(container);
    this.containers.delete(id);
  }

  async renameContainer(id: string, name: string): Promise<void> {
    await this.enter('renameContainer', [id, name]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    const holder = this.findByName(name);
    if (holder && holder !== container) throw conflict(`The container name "${name}" is already in use.`);
    container.name = name;
  }

  async disconnectNetwork(id: string, network: string): Promise<void> {
    await this.enter('disconnectNetwork', [id, network]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    if (container.network === network) container.network = 'none';
  }

  /** Networks of every instance, by name: the labels they were made with. */
  readonly networks = new Map<string, Record<string, string>>();

  async ensureSandboxNetwork(name: string): Promise<{ bridge: string }> {
    await this.enter('ensureSandboxNetwork', [name]);
    this.checkAvailable();
    if (!this.networks.has(name)) this.networks.set(name, { [LABEL.managed]: 'true', [LABEL.role]: 'network', [LABEL.instance]: this.instanceId });
    return { bridge: `sk-${this.instanceId.slice(0, 12)}` };
  }

  async removeNetwork(name: string): Promise<boolean> {
    await this.enter('removeNetwork', [name]);
    this.checkAvailable();
    if ([...this.containers.values()].some((container) => container.running && container.network === name)) return false;
    this.networks.delete(name);
    return true;
  }

  /** What diskUsage reports, set by a test. */
  readonly diskBytes = { volumes: new Map<string, number>(), containers: new Map<string, number>() };

  async diskUsage(): Promise<{ volumes: Map<string, number>; containers: Map<string, number> }> {
    await this.enter('diskUsage', []);
    this.checkAvailable();
    return { volumes: new Map(this.diskBytes.volumes), containers: new Map(this.diskBytes.containers) };
  }

  async listOwnNetworks(): Promise<Array<{ name: string; bridge: string }>> {
    await this.enter('listOwnNetworks', []);
    this.checkAvailable();
    return [...this.networks].filter(([, labels]) => labels[LABEL.instance] === this.instanceId).map(([name]) => ({ name, bridge: `sk-${this.instanceId.slice(0, 12)}` }));
  }

  async inspectContainer(id: string): Promise<ContainerState | undefined> {
    await this.enter('inspectContainer', [id]);
    this.checkAvailable();
    const container = this.containers.get(id);
    if (!container) return undefined;
    return {
      running: container.running,
      paused: container.paused ?? false,
      openStdin: container.hasMainShell,
      command: container.hasMainShell ? (container.spec?.command ?? []) : ['sleep', 'infinity'],
      mounts: container.mounts.map(({ source, target }) => ({ source, target })),
    };
  }

  async containerStats(id: string): Promise<ContainerStats> {
    await this.enter('containerStats', [id]);
    this.checkAvailable();
    if (!this.containers.get(id)?.running) throw notFound(`No running container ${id}.`);
    return { memoryBytes: 4096, memoryLimit: 1024 * 1024 * 1024, cpuUsageUsec: 1000, pids: 2 };
  }

  /** Open stats streams (followStats), by container id. */
  readonly statsFollowers = new Map<string, Set<{ onSample(sample: StatsSample): void; onEnd(error?: Error): void }>>();

  async followStats(id: string, onSample: (sample: StatsSample) => void, onEnd: (error?: Error) => void): Promise<{ close(): void }> {
    await this.enter('followStats', [id]);
    this.checkAvailable();
    if (!this.containers.get(id)?.running) throw notFound(`No running container ${id}.`);
    const follower = { onSample, onEnd };
    const followers = this.statsFollowers.get(id) ?? new Set();
    followers.add(follower);
    this.statsFollowers.set(id, followers);
    return { close: () => this.forgetStatsFollower(id, follower) };
  }

  /** How many stats streams are open now. */
  get openStatsStreams(): number {
    return [...this.statsFollowers.values()].reduce((sum, followers) => sum + followers.size, 0);
  }

  /** The engine reads the container's use: every stream of it gets the sample. */
  emitStats(id: string, sample: StatsSample): void {
    for (const follower of this.statsFollowers.get(id) ?? []) follower.onSample(sample);
  }

  /** The container's stats streams end (it stopped): each follower hears it once. */
  endStats(id: string): void {
    const followers = [...(this.statsFollowers.get(id) ?? [])];
    this.statsFollowers.delete(id);
    for (const follower of followers) follower.onEnd();
  }

  private forgetStatsFollower(id: string, follower: { onSample(sample: StatsSample): void; onEnd(error?: Error): void }): void {
    const followers = this.statsFollowers.get(id);
    followers?.delete(follower);
    if (followers?.size === 0) this.statsFollowers.delete(id);
  }

  /** A few of the fields Docker's inspect has, in its spelling. */
  async inspectContainerRaw(id: string): Promise<unknown> {
    await this.enter('inspectContainerRaw', [id]);
    this.checkAvailable();
    const container = this.containers.get(id);
    if (!container) return undefined;
    return {
      Id: container.id,
      Name: `/${container.name}`,
      Config: { Image: container.image, Labels: { ...container.labels } },
      State: { Running: container.running, Paused: container.paused ?? false },
      Mounts: container.mounts.map((mount) => ({ Type: mount.type, Source: mount.source, Destination: mount.target })),
    };
  }

  async listOwnContainers(role?: Role): Promise<OwnContainer[]> {
    await this.enter('listOwnContainers', [role]);
    this.checkAvailable();
    return [...this.containers.values()]
      .filter((container) => container.labels[LABEL.instance] === this.instanceId && (role === undefined || container.labels[LABEL.role] === role))
      .map((container) => ({
        id: container.id,
        name: container.name,
        running: container.running,
        paused: container.paused ?? false,
        labels: { ...container.labels },
        mounts: container.mounts.map(({ source, target }) => ({ source, target })),
      }));
  }

  async attach(id: string): Promise<Duplex> {
    await this.enter('attach', [id]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    const shell = new FakeShell(this, container, 'main', this.nextPid++, true);
    container.shells.add(shell);
    return shell;
  }

  async exec(id: string, options: ExecOptions): Promise<ExecProcess> {
    await this.enter('exec', [id, options]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    if (!container.running) throw conflict(`Container ${id} is not running.`);
    const shell = new FakeShell(this, container, 'exec', this.nextPid++, !options.tty);
    container.shells.add(shell);
    return {
      stream: shell,
      resize: async () => undefined,
      exitCode: async () => {
        this.checkAvailable(); // asked over a new connection
        return shell.exitCode;
      },
    };
  }

  /** Who follows container events now, with how to end their stream. */
  readonly eventFollowers = new Set<{ onEvent(event: ContainerEvent): void; onEnd(error?: Error): void }>();

  async followContainerEvents(onEvent: (event: ContainerEvent) => void, onEnd: (error?: Error) => void): Promise<{ close(): void }> {
    await this.enter('followContainerEvents', []);
    this.checkAvailable();
    const follower = { onEvent, onEnd };
    this.eventFollowers.add(follower);
    return { close: () => void this.eventFollowers.delete(follower) };
  }

  /** Docker reports something that happened to a container (done behind the sidecar's back). */
  emitContainerEvent(event: ContainerEvent): void {
    for (const follower of this.eventFollowers) follower.onEvent(event);
  }

  /** The event stream drops (the engine restarted): every follower's stream ends. */
  endContainerEvents(error?: Error): void {
    const followers = [...this.eventFollowers];
    this.eventFollowers.clear();
    for (const follower of followers) follower.onEnd(error);
  }

  /**
   * The engine stops as dockerd does: its API first, then its containers (their die events
   * still reach the open event streams), then those streams break. `startUp` brings it back
   * with its containers stopped (no live-restore).
   */
  shutDown(): void {
    this.available = false;
    for (const container of this.containers.values()) {
      if (!container.running) continue;
      container.running = false;
      container.paused = false;
      this.endShells(container);
      this.emitContainerEvent({ containerId: container.id, action: 'die', exitCode: 143 });
    }
    this.endContainerEvents(new Error('aborted'));
  }

  startUp(): void {
    this.available = true;
  }

  /** The connections to the engine break (its ssh processes killed): every open stream fails with `error`; the engine runs on. */
  cutConnections(error: Error): void {
    for (const container of this.containers.values()) {
      for (const shell of container.shells) if (shell.alive) shell.destroy(error);
    }
    this.endContainerEvents(error);
  }

  async runOnce(id: string, command: string[]): Promise<string> {
    await this.enter('runOnce', [id, command]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    if (!container.running) throw conflict(`Container ${id} is not running.`);
    const script = command[0] === 'sh' && command[1] === '-c' ? command[2] : command.join(' ');
    this.runOnceScripts.push(script);
    for (const shell of container.shells) {
      if (!shell.alive) continue;
      if (new RegExp(`^kill -KILL ${shell.pid}$`).test(script.trim())) shell.killed(137);
      else if (script.includes(`kids ${shell.pid} |`)) {
        const signal = (['KILL', 'TERM', 'INT'] as const).find((name) => script.includes(`kill -${name}`));
        if (signal && !this.hangIgnores.has(signal)) shell.finish(SIGNAL_STATUS[signal]);
      }
    }
    return '';
  }

  /** Where a local engine keeps a volume's files; nothing is made there (the fake's engine is not local). */
  async volumeMountpoint(name: string): Promise<string | undefined> {
    await this.enter('volumeMountpoint', [name]);
    this.checkAvailable();
    return this.volumes.has(name) ? `/var/lib/docker/volumes/${name}/_data` : undefined;
  }

  // ----- inside -----

  private async enter(method: keyof Engine, args: unknown[]): Promise<void> {
    this.calls.push({ method, args });
    const gate = this.holds.get(method)?.shift();
    if (gate) await gate;
    const failure = this.failures.get(method)?.shift();
    if (failure) throw failure;
    const targeted = this.targetedFailures.get(method);
    const index = targeted?.findIndex((entry) => entry.target === args[0]) ?? -1;
    if (targeted && index >= 0) throw targeted.splice(index, 1)[0].error;
  }

  private checkAvailable(): void {
    if (!this.available) throw dockerUnavailableError('The fake engine is off. Start the Docker engine or check DOCKER_HOST, then retry.');
  }

  private requireContainer(id: string): FakeContainer {
    const container = this.containers.get(id);
    if (!container) throw conflict(`No such container: ${id}`);
    return container;
  }

  private findByName(name: string): FakeContainer | undefined {
    return [...this.containers.values()].find((container) => container.name === name);
  }

  private endShells(container: FakeContainer): void {
    for (const shell of container.shells) shell.containerGone();
  }

  private newContainerId(): string {
    return (this.nextId++).toString(16).padStart(12, '0').padEnd(64, 'f');
  }

  private ownLabels(role: Role, workspaceId?: string): Record<string, string> {
    return {
      [LABEL.managed]: 'true',
      [LABEL.instance]: this.instanceId,
      [LABEL.role]: role,
      ...(workspaceId ? { [LABEL.workspace]: workspaceId } : {}),
    };
  }
}

/** 64 hex digits derived from `text`: a stable fake image id. */
function fakeHex(text: string): string {
  return Buffer.from(text).toString('hex').padEnd(64, '0').slice(0, 64);
}
