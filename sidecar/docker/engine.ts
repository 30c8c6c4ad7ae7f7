import type { Duplex } from 'node:stream';
import type { DockerStatus, ImageInfo } from '../client/protocol';
import type { Clock } from '../util/clock';

/**
 * The container engine as the rest of the sidecar sees it. `DockerEngine` (dockerode) is the
 * one implementation; unit tests use a fake. Every object created through it carries the
 * labels below, and listings only ever return this instance's objects.
 *
 * Errors are SandkastenErrors (docker/errors.ts maps Docker's status codes): Conflict (the
 * container is not running, or was removed behind the sidecar's back), InvalidInput,
 * ImageMissing, DockerUnavailable.
 */
/** A running container's use: memory now and its limit, CPU time so far, processes. */
export interface ContainerStats {
  memoryBytes: number;
  memoryLimit: number;
  cpuUsageUsec: number;
  pids: number;
}

/** One reading of a container's stats stream (see Engine.followStats). */
export interface StatsSample extends ContainerStats {
  /** When the engine read it, in ms since the epoch. */
  at: number;
}

/**
 * The engine as `docker info` and `docker version` describe it (for `sandkasten doctor`). Each
 * text is the engine's own, cut to ENGINE_TEXT_MAX_CHARS and cleared of control characters.
 */
export interface EngineInfo {
  version: string;
  apiVersion: string;
  /** `Debian GNU/Linux 12 (bookworm)`, `Docker Desktop`… */
  operatingSystem: string;
  kernelVersion: string;
  /** `overlay2`, `vfs`, `overlayfs` (the containerd image store)… */
  storageDriver: string;
  /** The storage driver's own facts, e.g. `Backing Filesystem` → `xfs`, `Supports d_type` → `true`. */
  driverStatus: Record<string, string>;
  /** `1` or `2`; empty when the engine does not say (Docker before 20.10). */
  cgroupVersion: string;
  cgroupDriver: string;
  /** `name=seccomp,profile=default`, `name=rootless`, `name=userns`, `name=apparmor`… */
  securityOptions: string[];
  /** The container runtimes it has, its default first. */
  runtimes: string[];
  /** Which resource limits the kernel lets the engine apply. */
  limits: { memory: boolean; swap: boolean; pids: boolean; cpuQuota: boolean };
  /** The engine's own warnings (`WARNING: No swap limit support`…), at most ENGINE_WARNINGS_MAX. */
  warnings: string[];
}
export const ENGINE_TEXT_MAX_CHARS = 300;
export const ENGINE_WARNINGS_MAX = 20;

export interface Engine {
  /** The storage directory's instance id: the `sandkasten.instance` label of everything it owns. */
  readonly instanceId: string;
  /** The engine runs on this machine behind a Unix socket: host directories can be bind-mounted. */
  readonly isLocal: boolean;

  status(): Promise<DockerStatus>;
  /** The engine's ID (it stays with its data root) and host name: what a storage directory is bound to. */
  identity(): Promise<{ engineId: string; engineName: string }>;
  /** The container runtimes the engine has, its default first. */
  runtimes(): Promise<string[]>;
  /** What `docker info` and `docker version` say of the engine, for diagnostics. */
  engineInfo(): Promise<EngineInfo>;
  /** Whether the image is on the engine (Docker's own name resolution); never pulls. */
  hasImage(image: string): Promise<boolean>;
  /**
   * Whether the image's registry has it (its manifest, asked through the engine; nothing is
   * pulled): undefined when it does, else why not (unknown image, no access, registry unreachable).
   */
  whyNotPullable(image: string): Promise<string | undefined>;
  /** Throws DockerUnavailable with a sentence a person can act on. */
  requireAvailable(): Promise<void>;
  /** Pulls the image when it is not local; one that cannot be had is ImageMissing (the engine's reason in its detail). */
  ensureImage(image: string, onProgress?: (message: string) => void): Promise<void>;
  /** Every repo:tag of the engine's local images (of any owner), newest first; untagged ones are left out. */
  listImages(): Promise<ImageInfo[]>;

  createVolume(name: string, owner: { role: Role; workspaceId?: string }): Promise<void>;
  /** Idempotent: a volume already gone is fine. */
  removeVolume(name: string): Promise<void>;
  listOwnVolumes(): Promise<OwnVolume[]>;

  /** ImageMissing when the image is not local; BindMountRefusedError when a bind mount is refused. */
  createContainer(spec: ContainerSpec): Promise<string>;
  startContainer(id: string): Promise<void>;
  stopContainer(id: string): Promise<void>;
  /** Freezes every process of the container (memory kept). Idempotent: one already paused is fine. */
  pauseContainer(id: string): Promise<void>;
  /** Idempotent: a container that is not paused is fine. */
  unpauseContainer(id: string): Promise<void>;
  /** Idempotent: a container already gone, or already being removed, is fine. */
  removeContainer(id: string): Promise<void>;
  renameContainer(id: string, name: string): Promise<void>;
  disconnectNetwork(id: string, network: string): Promise<void>;
  /**
   * Creates this instance's bridge network for sandboxes when missing: labelled, and with
   * traffic between its containers off (each sandbox reaches the outside, not another sandbox).
   */
  ensureSandboxNetwork(name: string): Promise<{ bridge: string }>;
  /** Removes a network of this instance; false when a container still uses it. */
  removeNetwork(name: string): Promise<boolean>;
  /** This instance's networks and the host interface (bridge) of each. */
  listOwnNetworks(): Promise<Array<{ name: string; bridge: string }>>;
  /**
   * Disk space of this instance's volumes and of its containers' writable layers, in bytes,
   * as the engine measures it (from the host: a sandbox cannot misreport it).
   */
  diskUsage(): Promise<{ volumes: Map<string, number>; containers: Map<string, number> }>;
  /** undefined when the container no longer exists. */
  inspectContainer(id: string): Promise<ContainerState | undefined>;
  /** Docker's own inspect JSON of the container, untouched (for people and tools); undefined when it no longer exists. */
  inspectContainerRaw(id: string): Promise<unknown>;
  /** One sample of a running container's use, as its cgroup counts it (NotFound when it is gone). */
  containerStats(id: string): Promise<ContainerStats>;
  /**
   * Follows a running container's use as its cgroup counts it, about one sample a second, until
   * `close()` or until the container stops (`onEnd`, once). Memory is counted as `docker stats`
   * shows it (page cache that can be dropped left out). NotFound when the container is gone.
   */
  followStats(id: string, onSample: (sample: StatsSample) => void, onEnd: (error?: Error) => void): Promise<{ close(): void }>;
  listOwnContainers(role?: Role): Promise<OwnContainer[]>;

  /** The container's main process's stdin, stdout and stderr (framed), attached before or after its start. */
  attach(id: string): Promise<Duplex>;
  /** A process started in the container, its stdio attached; framed unless `tty`. */
  exec(id: string, options: ExecOptions): Promise<ExecProcess>;
  /**
   * Runs a short non-interactive command and returns what it printed on stdout. What a
   * container prints is its own to choose: more than `maxBytes` (default RUN_ONCE_MAX_BYTES)
   * or an abort through `signal` ends the read with an error; nothing unbounded is kept.
   */
  runOnce(id: string, command: string[], limits?: RunOnceLimits): Promise<string>;

  /**
   * Follows what happens to this instance's containers (started, stopped, paused, removed,
   * killed for memory), whoever did it. `onEnd` is called once when the stream ends or
   * fails (the engine restarted, the connection dropped): subscribe again after re-listing.
   */
  followContainerEvents(onEvent: (event: ContainerEvent) => void, onEnd: (error?: Error) => void): Promise<{ close(): void }>;

  /**
   * The host directory holding a volume's files, as the engine reports it: only for a plain
   * local volume (no driver options, so nothing is mounted on use) whose directory is inside
   * the engine's own root directory (`docker info`'s DockerRootDir); undefined otherwise, and
   * when the volume does not exist.
   */
  volumeMountpoint(name: string): Promise<string | undefined>;
}

/** What happened to a container, as Docker reports it. */
export interface ContainerEvent {
  containerId: string;
  action: 'start' | 'die' | 'stop' | 'kill' | 'pause' | 'unpause' | 'destroy' | 'oom';
  /** For `die`: the main process's exit status. */
  exitCode?: number;
}

/** Every object the sidecar creates carries these labels; reconciliation relies on them. */
export const LABEL = {
  managed: 'sandkasten.managed',
  role: 'sandkasten.role',
  instance: 'sandkasten.instance',
  workspace: 'sandkasten.workspace',
  session: 'sandkasten.session',
} as const;

/**
 * `workspace` marks volumes; containers are `pool` or `session`, or one of two short-lived
 * helpers: `files`, which reaches a workspace's volume for the HTTP API's file routes while
 * no session of it runs, and `archive`, which saves a volume to an archive, restores one, or
 * copies a volume (volumes/volumeArchives.ts). Helpers are owned by no session, so
 * reconciliation removes one a crash left behind.
 */
export type Role = 'pool' | 'session' | 'workspace' | 'network' | 'files' | 'archive';

export interface Mount {
  /** A volume name, or a host path for a bind mount. */
  source: string;
  target: string;
  type: 'volume' | 'bind';
  readOnly?: boolean;
  /**
   * For a bind mount: whether mounts made later under the host path reach the container
   * (`rslave`: they do, and none of the container's go back; the host path must be a shared
   * mount point). Docker's default, `rprivate`, when absent.
   */
  propagation?: 'private' | 'rprivate' | 'shared' | 'rshared' | 'slave' | 'rslave';
}

export interface ContainerSpec {
  name: string;
  image: string;
  role: Role;
  workspaceId?: string;
  sessionId?: string;
  /** The main process's argv; its stdin stays open across attaches. */
  command: string[];
  workingDir?: string;
  mounts: Mount[];
  cpus: number;
  memoryMb: number;
  pids: number;
  network: string;
  /** A read-only root filesystem, with tmpfs /tmp and /run. */
  readOnlyRoot: boolean;
  /** The user the main process (and every exec) runs as; the image's (root) when absent. */
  user?: string;
  /** A container runtime the engine has (`runsc`); Docker's default when absent. */
  runtime?: string;
}

/**
 * The capabilities a sandbox keeps; every other one is dropped. What ordinary work needs:
 * files of other owners (package installs, `chown`: CHOWN, DAC_OVERRIDE, FOWNER, FSETID),
 * changing user (`su`, apt's sandbox user: SETUID, SETGID), signalling processes of other
 * users (KILL), and ports below 1024 for dev servers (NET_BIND_SERVICE). Docker's other
 * defaults go: MKNOD, NET_RAW (raw sockets, ARP spoofing), SETFCAP, SETPCAP, SYS_CHROOT,
 * AUDIT_WRITE.
 */
export const SANDBOX_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'NET_BIND_SERVICE'] as const;
/** Open files per process: plenty for watchers and dev servers, and within what Docker engines allow themselves. */
export const SANDBOX_NOFILE = 8192;
/**
 * Processes per user. Without a user namespace the count is the host user's (root's), so
 * this is a second guard set well above the pids limit, which is the real cap.
 */
export const SANDBOX_NPROC = 16384;
/** tmpfs sizes for a read-only root's writable places. */
export const SANDBOX_TMPFS = { '/tmp': 'rw,nosuid,nodev,size=512m', '/run': 'rw,nosuid,nodev,size=64m' } as const;

export interface ContainerState {
  running: boolean;
  /** Frozen by `docker pause` (or the lifecycle's freeze): running, but nothing in it moves. */
  paused: boolean;
  /** Made with an open stdin, which a main shell reads its commands from. */
  openStdin: boolean;
  /** The main process's argv, as created. */
  command: string[];
  mounts: Array<Pick<Mount, 'source' | 'target'>>;
  /** Its IP addresses on its networks (none on network `none` or the host network). */
  addresses?: string[];
}

export interface OwnContainer {
  id: string;
  name: string;
  /** Its processes exist (a paused container's too). */
  running: boolean;
  paused: boolean;
  labels: Record<string, string>;
  mounts: Array<Pick<Mount, 'source' | 'target'>>;
}

export interface OwnVolume {
  name: string;
  labels: Record<string, string>;
}

export interface RunOnceLimits {
  maxBytes?: number;
  signal?: AbortSignal;
}

/** What runOnce keeps of a command's stdout at most, unless told otherwise. */
export const RUN_ONCE_MAX_BYTES = 1024 * 1024;

/** runOnce with a deadline on the injected clock: a container cannot keep the sidecar waiting. */
export async function runOnceWithin(
  engine: Engine,
  clock: Clock,
  id: string,
  command: string[],
  limits: { maxBytes?: number; timeoutMs: number },
): Promise<string> {
  const controller = new AbortController();
  const timer = clock.setTimeout(() => controller.abort(new Error(`took longer than ${limits.timeoutMs / 1000} s`)), limits.timeoutMs);
  try {
    return await engine.runOnce(id, command, { maxBytes: limits.maxBytes, signal: controller.signal });
  } finally {
    timer.cancel();
  }
}

export interface ExecOptions {
  command: string[];
  /** A terminal: raw output, no stdout/stderr frames, resizable. */
  tty?: boolean;
  workingDir?: string;
  env?: string[];
}

export interface ExecProcess {
  /** stdin in, output out (framed when not a TTY). Closing it leaves the process running. */
  readonly stream: Duplex;
  resize(size: { cols: number; rows: number }): Promise<void>;
  /** The exit code once the process ended, undefined while it runs. */
  exitCode(): Promise<number | undefined>;
}
