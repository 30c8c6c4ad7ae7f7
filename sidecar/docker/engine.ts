import Docker from 'dockerode';
import { SandkastenError, isDockerUnreachable } from '../errors';
import type { DockerStatus } from '../client/protocol';
import { DirectPipes, PIPE_MOUNT_POINT } from '../rawChannel/directPipes';
import { MAIN_PROCESS_SCRIPT } from '../exec/shellText';
import { resolveDockerEndpoint, type DockerEndpoint } from './connection';

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

export interface ContainerSpec {
  name: string;
  image: string;
  role: Role;
  workspaceId?: string;
  sessionId?: string;
  /** Volume mounted at /workspace. */
  volume?: string;
  cpus: number;
  memoryMb: number;
  pids: number;
  network: string;
}

export interface OwnContainer {
  id: string;
  name: string;
  running: boolean;
  labels: Record<string, string>;
  /** The host directory mounted at PIPE_MOUNT_POINT, if any. */
  pipeDirectory?: string;
}

export interface OwnVolume {
  name: string;
  labels: Record<string, string>;
}


const PING_TIMEOUT_MS = 3000;
const STOP_GRACE_SECONDS = 2;

/** The only module that talks to Docker. It sets labels and only touches its own instance. */
export class DockerEngine {
  readonly docker: Docker;
  private readonly pingClient: Docker;
  private readonly endpoint: DockerEndpoint;
  /** Host directories for commands' stdout FIFOs, mounted into every container when the engine is local. */
  readonly pipes: DirectPipes;

  constructor(
    readonly instanceId: string,
    pipesRoot: string,
    endpoint: DockerEndpoint = resolveDockerEndpoint(),
  ) {
    this.endpoint = endpoint;
    this.docker = new Docker(endpoint.options);
    this.pingClient = new Docker({ ...endpoint.options, timeout: PING_TIMEOUT_MS });
    // SANDKASTEN_DIRECT_PIPES=off keeps every byte on the relayed path (for tests, and as an escape hatch).
    const local = process.platform === 'linux' && endpoint.options.socketPath !== undefined && process.env.SANDKASTEN_DIRECT_PIPES !== 'off';
    this.pipes = new DirectPipes(pipesRoot, local, async (id) => pipeMountOf((await this.docker.getContainer(id).inspect()).Mounts));
  }

  async status(): Promise<DockerStatus> {
    try {
      const version = await this.pingClient.version();
      return { available: true, version: version.Version, endpoint: this.endpoint.description };
    } catch (error) {
      return {
        available: false,
        endpoint: this.endpoint.description,
        error: `Docker is not reachable at ${this.endpoint.description} (${(error as Error).message}).`,
      };
    }
  }

  /** Throws DockerUnavailable with a sentence a person can act on. */
  async requireAvailable(): Promise<void> {
    const status = await this.status();
    if (!status.available) {
      throw new SandkastenError('DockerUnavailable', `${status.error} Start the Docker engine or check DOCKER_HOST, then retry.`);
    }
  }

  labels(role: Role, extra: { workspaceId?: string; sessionId?: string } = {}): Record<string, string> {
    return {
      [LABEL.managed]: 'true',
      [LABEL.role]: role,
      [LABEL.instance]: this.instanceId,
      ...(extra.workspaceId ? { [LABEL.workspace]: extra.workspaceId } : {}),
      ...(extra.sessionId ? { [LABEL.session]: extra.sessionId } : {}),
    };
  }

  async imageExists(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (error) {
      if (statusCode(error) === 404) return false;
      throw error;
    }
  }

  /** Pulls the image when it is not local; a failed pull is ImageMissing. */
  async ensureImage(image: string, onProgress?: (message: string) => void): Promise<void> {
    if (await this.imageExists(image)) return;
    onProgress?.(`Pulling ${image}…`);
    try {
      const stream = await this.docker.pull(image);
      await new Promise<void>((resolve, reject) =>
        this.docker.modem.followProgress(
          stream,
          (error) => (error ? reject(error) : resolve()),
          (event: { status?: string; progress?: string }) => onProgress?.(`${image}: ${event.status ?? ''} ${event.progress ?? ''}`.trim()),
        ),
      );
    } catch (error) {
      if (isDockerUnreachable(error)) throw error;
      throw new SandkastenError(
        'ImageMissing',
        `Image "${image}" is not available locally and could not be pulled (${firstLine(error)}). Build or pull it, or choose another image.`,
      );
    }
  }

  async createVolume(name: string, workspaceId?: string, role: Role = 'workspace'): Promise<void> {
    await this.docker.createVolume({ Name: name, Labels: this.labels(role, { workspaceId }) });
  }

  /** Renames a container (a pooled one, once it belongs to a session) so people can read it. */
  async renameContainer(id: string, name: string): Promise<void> {
    await this.docker.getContainer(id).rename({ name });
  }

  async disconnectNetwork(containerId: string, network: string): Promise<void> {
    await this.docker.getNetwork(network).disconnect({ Container: containerId, Force: true });
  }

  async removeVolume(name: string): Promise<void> {
    await ignoreStatus(this.docker.getVolume(name).remove({ force: true }), 404);
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    const pipeDirectory = this.pipes.newDirectory();
    try {
      const id = await this.create(spec, pipeDirectory);
      this.pipes.created(id, pipeDirectory);
      return id;
    } catch (error) {
      if (!pipeDirectory) throw error;
      if (statusCode(error) === 400 && /bind source path/i.test(String(error))) {
        this.pipes.refusedMount(pipeDirectory);
        return this.createContainer(spec);
      }
      this.pipes.discardDirectory(pipeDirectory);
      throw error;
    }
  }

  private async create(spec: ContainerSpec, pipeDirectory: string | undefined): Promise<string> {
    const mounts: Docker.MountSettings[] = [];
    if (spec.volume) mounts.push({ Type: 'volume', Source: spec.volume, Target: '/workspace' });
    if (pipeDirectory) mounts.push({ Type: 'bind', Source: pipeDirectory, Target: PIPE_MOUNT_POINT, ReadOnly: true });
    const container = await this.docker.createContainer({
      name: spec.name,
      Image: spec.image,
      Cmd: ['sh', '-c', MAIN_PROCESS_SCRIPT],
      // stdin stays open across attaches: the main shell reads its commands from it.
      OpenStdin: true,
      StdinOnce: false,
      WorkingDir: spec.volume ? '/workspace' : undefined,
      Labels: this.labels(spec.role, { workspaceId: spec.workspaceId, sessionId: spec.sessionId }),
      HostConfig: {
        Mounts: mounts,
        NanoCpus: Math.round(spec.cpus * 1e9),
        Memory: spec.memoryMb * 1024 * 1024,
        PidsLimit: spec.pids,
        NetworkMode: spec.network,
        // The main shell's stdout carries command output: a log driver would keep it all on disk.
        LogConfig: { Type: 'none', Config: {} },
      },
    });
    return container.id;
  }

  async startContainer(id: string): Promise<void> {
    await ignoreStatus(this.docker.getContainer(id).start(), 304);
  }

  async stopContainer(id: string): Promise<void> {
    await ignoreStatus(this.docker.getContainer(id).stop({ t: STOP_GRACE_SECONDS }), 304, 404);
  }

  /** Idempotent: a container already gone, or already being removed (409), is fine. */
  async removeContainer(id: string): Promise<void> {
    const pipeDirectory = await this.pipes.directoryOf(id); // asks Docker after a restart: ask before the removal
    await ignoreStatus(this.docker.getContainer(id).remove({ force: true, v: false }), 404, 409);
    this.pipes.removed(id, pipeDirectory);
  }

  /** undefined when the container no longer exists. */
  async inspectContainer(id: string): Promise<{ running: boolean; hasMainShell: boolean } | undefined> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      // Containers made by versions before the main shell have stdin closed.
      return { running: info.State.Running, hasMainShell: info.Config.OpenStdin };
    } catch (error) {
      if (statusCode(error) === 404) {
        this.pipes.containerGone(id);
        return undefined;
      }
      throw error;
    }
  }

  async listOwnContainers(role?: Role): Promise<OwnContainer[]> {
    const label = [`${LABEL.managed}=true`, `${LABEL.instance}=${this.instanceId}`];
    if (role) label.push(`${LABEL.role}=${role}`);
    const containers = await this.docker.listContainers({ all: true, filters: { label } });
    return containers.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      running: c.State === 'running',
      labels: c.Labels,
      pipeDirectory: pipeMountOf(c.Mounts),
    }));
  }

  async listOwnVolumes(): Promise<OwnVolume[]> {
    const result = await this.docker.listVolumes({
      filters: { label: [`${LABEL.managed}=true`, `${LABEL.instance}=${this.instanceId}`] },
    });
    return (result.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
  }
}

function pipeMountOf(mounts: Array<{ Source: string; Destination: string }> | undefined): string | undefined {
  return mounts?.find((mount) => mount.Destination === PIPE_MOUNT_POINT)?.Source;
}

export function statusCode(error: unknown): number | undefined {
  return (error as { statusCode?: number })?.statusCode;
}

async function ignoreStatus<T>(operation: Promise<T>, ...codes: number[]): Promise<T | undefined> {
  try {
    return await operation;
  } catch (error) {
    if (codes.includes(statusCode(error) ?? 0)) return undefined;
    throw error;
  }
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0].replace(/^\(HTTP code \d+\) [^-]*- /, '');
}
