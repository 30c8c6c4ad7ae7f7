import type { Duplex } from 'node:stream';
import type { DockerStatus } from '../client/protocol';

/**
 * The container engine as the rest of the sidecar sees it. `DockerEngine` (dockerode) is the
 * one implementation; unit tests use a fake. Every object created through it carries the
 * labels below, and listings only ever return this instance's objects.
 *
 * Errors are SandkastenErrors (docker/errors.ts maps Docker's status codes): Conflict (the
 * container is not running, or was removed behind the sidecar's back), InvalidInput,
 * ImageMissing, DockerUnavailable.
 */
export interface Engine {
  /** The storage directory's instance id: the `sandkasten.instance` label of everything it owns. */
  readonly instanceId: string;
  /** The engine runs on this machine behind a Unix socket: host directories can be bind-mounted. */
  readonly isLocal: boolean;

  status(): Promise<DockerStatus>;
  /** Throws DockerUnavailable with a sentence a person can act on. */
  requireAvailable(): Promise<void>;
  /** Pulls the image when it is not local; one that cannot be had is ImageMissing. */
  ensureImage(image: string, onProgress?: (message: string) => void): Promise<void>;

  createVolume(name: string, owner: { role: Role; workspaceId?: string }): Promise<void>;
  /** Idempotent: a volume already gone is fine. */
  removeVolume(name: string): Promise<void>;
  listOwnVolumes(): Promise<OwnVolume[]>;

  /** ImageMissing when the image is not local; BindMountRefusedError when a bind mount is refused. */
  createContainer(spec: ContainerSpec): Promise<string>;
  startContainer(id: string): Promise<void>;
  stopContainer(id: string): Promise<void>;
  /** Idempotent: a container that is not paused is fine. */
  unpauseContainer(id: string): Promise<void>;
  /** Idempotent: a container already gone, or already being removed, is fine. */
  removeContainer(id: string): Promise<void>;
  renameContainer(id: string, name: string): Promise<void>;
  disconnectNetwork(id: string, network: string): Promise<void>;
  /** undefined when the container no longer exists. */
  inspectContainer(id: string): Promise<ContainerState | undefined>;
  listOwnContainers(role?: Role): Promise<OwnContainer[]>;

  /** The container's main process's stdin, stdout and stderr (framed), attached before or after its start. */
  attach(id: string): Promise<Duplex>;
  /** A process started in the container, its stdio attached; framed unless `tty`. */
  exec(id: string, options: ExecOptions): Promise<ExecProcess>;
  /** Runs a short non-interactive command and returns what it printed on stdout. */
  runOnce(id: string, command: string[]): Promise<string>;

  /**
   * Follows what happens to this instance's containers (started, stopped, paused, removed,
   * killed for memory), whoever did it. `onEnd` is called once when the stream ends or
   * fails (the engine restarted, the connection dropped): subscribe again after re-listing.
   */
  followContainerEvents(onEvent: (event: ContainerEvent) => void, onEnd: (error?: Error) => void): Promise<{ close(): void }>;
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

/** `workspace` marks volumes; containers are `pool` or `session`. */
export type Role = 'pool' | 'session' | 'workspace';

export interface Mount {
  /** A volume name, or a host path for a bind mount. */
  source: string;
  target: string;
  type: 'volume' | 'bind';
  readOnly?: boolean;
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
}

export interface ContainerState {
  running: boolean;
  /** Frozen by `docker pause` (or the lifecycle's freeze): running, but nothing in it moves. */
  paused: boolean;
  /** Made with an open stdin, which a main shell reads its commands from. */
  openStdin: boolean;
  /** The main process's argv, as created. */
  command: string[];
  mounts: Array<Pick<Mount, 'source' | 'target'>>;
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
