import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { DockerStatus, ImageInfo } from '../client/protocol';
import { conflict, imageMissing } from '../errors';
import { dockerClient, resolveDockerEndpoint, type DockerEndpoint, type EngineTransport } from './connection';
import type { ContainerEvent, ContainerSpec, ContainerState, ContainerStats, Engine, EngineInfo, ExecOptions, ExecProcess, OwnContainer, OwnVolume, Role, RunOnceLimits, StatsSample } from './engine';
import { ENGINE_TEXT_MAX_CHARS, ENGINE_WARNINGS_MAX, LABEL, RUN_ONCE_MAX_BYTES, SANDBOX_CAPABILITIES, SANDBOX_NOFILE, SANDBOX_NPROC, SANDBOX_TMPFS } from './engine';
import { BindMountRefusedError, dockerCall, dockerMessage, dockerUnavailable, fromDockerError, isDockerUnreachable, statusCode, unreachableReason, asSentence } from './errors';
import { ExecGate } from './execGate';
import { FrameParser } from './frames';

/**
 * How long `status` waits for the engine. Over ssh a look may need a new connection, which is a
 * handshake plus `docker system dial-stdio` started on the remote host: seconds on a busy host.
 */
const PING_TIMEOUT_MS = 3000;
const SSH_PING_TIMEOUT_MS = 10_000;
const STOP_GRACE_SECONDS = 2;

/** The Engine on a Docker engine, through dockerode: the only module that imports it. */
export class DockerEngine implements Engine {
  private readonly docker: Docker;
  private readonly execGate = new ExecGate();
  private readonly pingClient: Docker;
  private identityKnown: Promise<{ engineId: string; engineName: string }> | undefined;
  readonly isLocal: boolean;

  constructor(
    readonly instanceId: string,
    private readonly endpoint: DockerEndpoint = resolveDockerEndpoint(),
  ) {
    this.docker = dockerClient(endpoint.options);
    // Each look at the engine on a connection of its own: an engine that shuts down still serves
    // kept-alive connections after it stopped taking new ones (see EngineHealth).
    const pingTimeout = endpoint.transport === 'ssh' ? SSH_PING_TIMEOUT_MS : PING_TIMEOUT_MS;
    this.pingClient = dockerClient({ ...endpoint.options, timeout: pingTimeout, ...freshConnections(endpoint) });
    // Only a Unix socket can lead to this machine's own engine: FIFOs, bind mounts of host
    // directories and the host firewall need that; tcp://, TLS and ssh:// engines get the fallbacks.
    this.isLocal = process.platform === 'linux' && endpoint.transport === 'unix';
  }

  get transport(): EngineTransport {
    return this.endpoint.transport;
  }

  async status(): Promise<DockerStatus> {
    const { description: endpoint, transport } = this.endpoint;
    if (this.endpoint.problem) return { available: false, endpoint, transport, error: `Docker is not reachable at ${endpoint}: ${asSentence(this.endpoint.problem)}` };
    try {
      const started = performance.now();
      const version = await this.pingClient.version();
      const roundTripMs = Math.round((performance.now() - started) * 10) / 10;
      const identity = await this.identity();
      return { available: true, version: version.Version, endpoint, transport, roundTripMs, ...identity };
    } catch (error) {
      this.identityKnown = undefined; // the engine may come back as another one (reinstalled, re-pointed)
      return { available: false, endpoint, transport, error: `Docker is not reachable at ${endpoint}: ${asSentence(unreachableReason(error))}` };
    }
  }

  /** Which engine this is: its ID stays with its data root, so a storage directory can be bound to it. */
  async identity(): Promise<{ engineId: string; engineName: string }> {
    if (!this.identityKnown) {
      this.identityKnown = this.pingClient.info().then(
        (info: { ID?: unknown; Name?: unknown }) => ({ engineId: engineText(info.ID), engineName: engineText(info.Name) }),
        (error: unknown) => {
          this.identityKnown = undefined;
          throw error;
        },
      );
    }
    return this.identityKnown;
  }

  async runtimes(): Promise<string[]> {
    return runtimesOf(await dockerCall('engine', () => this.docker.info()));
  }

  async engineInfo(): Promise<EngineInfo> {
    const [info, version] = await Promise.all([dockerCall('engine', () => this.docker.info()), dockerCall('engine', () => this.docker.version())]);
    return engineInfoOf(info, version);
  }

  async hasImage(image: string): Promise<boolean> {
    return this.imageExists(image);
  }

  async requireAvailable(): Promise<void> {
    const status = await this.status();
    if (!status.available) throw dockerUnavailable(status.error ?? 'Docker is not reachable.');
  }

  private labels(role: Role, extra: { workspaceId?: string; sessionId?: string } = {}): Record<string, string> {
    return {
      [LABEL.managed]: 'true',
      [LABEL.role]: role,
      [LABEL.instance]: this.instanceId,
      ...(extra.workspaceId ? { [LABEL.workspace]: extra.workspaceId } : {}),
      ...(extra.sessionId ? { [LABEL.session]: extra.sessionId } : {}),
    };
  }

  private ownFilter(role?: Role): { label: string[] } {
    const label = [`${LABEL.managed}=true`, `${LABEL.instance}=${this.instanceId}`];
    if (role) label.push(`${LABEL.role}=${role}`);
    return { label };
  }

  async whyNotPullable(image: string): Promise<string | undefined> {
    try {
      await this.docker.getImage(image).distribution();
      return undefined;
    } catch (error) {
      // The engine's own words (its registry's answer), on one line and short: it is shown as it is.
      const message = String((error as { json?: { message?: unknown } }).json?.message ?? (error as Error).message);
      return message.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim().slice(0, 300) || 'the registry did not say';
    }
  }

  private async imageExists(image: string): Promise<boolean> {
    return (await dockerCall(`image ${image}`, () => this.docker.getImage(image).inspect(), 404)) !== undefined;
  }

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
      if (isDockerUnreachable(error)) throw fromDockerError(error, `image ${image}`);
      // The registry's or the engine's own words (`dial tcp …`, `pull access denied …`) are the detail, not the sentence.
      throw imageMissing(`Image "${image}" is not available locally and could not be pulled. Check its name, or build or pull it, then try again.`, dockerMessage(error).trim());
    }
  }

  async listImages(): Promise<ImageInfo[]> {
    return imageInfosOf((await dockerCall('images', () => this.docker.listImages())) ?? []);
  }

  async createVolume(name: string, owner: { role: Role; workspaceId?: string }): Promise<void> {
    await dockerCall(`volume ${name}`, () => this.docker.createVolume({ Name: name, Labels: this.labels(owner.role, owner) }));
  }

  async removeVolume(name: string): Promise<void> {
    await dockerCall(`volume ${name}`, () => this.docker.getVolume(name).remove({ force: true }), 404);
  }

  async listOwnVolumes(): Promise<OwnVolume[]> {
    const result = await dockerCall('volumes', () => this.docker.listVolumes({ filters: this.ownFilter() }));
    return (result?.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    try {
      const container = await this.docker.createContainer({
        name: spec.name,
        Image: spec.image,
        Cmd: spec.command,
        // stdin stays open across attaches: the main shell reads its commands from it.
        OpenStdin: true,
        StdinOnce: false,
        WorkingDir: spec.workingDir,
        Labels: this.labels(spec.role, spec),
        User: spec.user,
        HostConfig: {
          Mounts: spec.mounts.map((mount) => ({
            Type: mount.type,
            Source: mount.source,
            Target: mount.target,
            ReadOnly: mount.readOnly,
            BindOptions: mount.type === 'bind' && mount.propagation ? { Propagation: mount.propagation } : undefined,
          })),
          NanoCpus: Math.round(spec.cpus * 1e9),
          Memory: spec.memoryMb * 1024 * 1024,
          // No swap beyond the memory limit: the limit is what the sandbox gets.
          MemorySwap: spec.memoryMb * 1024 * 1024,
          PidsLimit: spec.pids,
          NetworkMode: spec.network,
          // Hardening (README, Security): see SANDBOX_CAPABILITIES. Docker's default seccomp profile stays on.
          CapDrop: ['ALL'],
          CapAdd: [...SANDBOX_CAPABILITIES],
          SecurityOpt: ['no-new-privileges:true'],
          // An init as PID 1 reaps orphans (a fork bomb's, a daemon's) and passes signals on.
          Init: true,
          Ulimits: [
            { Name: 'nofile', Soft: SANDBOX_NOFILE, Hard: SANDBOX_NOFILE },
            { Name: 'nproc', Soft: SANDBOX_NPROC, Hard: SANDBOX_NPROC },
          ],
          ReadonlyRootfs: spec.readOnlyRoot,
          Tmpfs: spec.readOnlyRoot ? { ...SANDBOX_TMPFS } : undefined,
          Runtime: spec.runtime,
          // The main shell's stdout carries command output: a log driver would keep it all on disk.
          LogConfig: { Type: 'none', Config: {} },
        },
      });
      return container.id;
    } catch (error) {
      const bind = spec.mounts.find((mount) => mount.type === 'bind');
      if (bind && statusCode(error) === 400 && /bind source path/i.test(String(error))) throw new BindMountRefusedError(bind.source);
      if (statusCode(error) === 404 && /no such image/i.test(dockerMessage(error))) {
        throw imageMissing(`Image "${spec.image}" is not available locally (${dockerMessage(error)}).`);
      }
      throw fromDockerError(error, `container ${spec.name}`);
    }
  }

  async startContainer(id: string): Promise<void> {
    await dockerCall(containerSubject(id), () => this.docker.getContainer(id).start(), 304);
  }

  async stopContainer(id: string): Promise<void> {
    await dockerCall(containerSubject(id), () => this.docker.getContainer(id).stop({ t: STOP_GRACE_SECONDS }), 304, 404);
  }

  async pauseContainer(id: string): Promise<void> {
    // 409: already paused (or not running, which the container watch reports anyway).
    await this.execGate.pause(id, () => dockerCall(containerSubject(id), () => this.docker.getContainer(id).pause(), 409));
  }

  /** One call, no inspect first: a thaw is on the way to a user's first keystroke. */
  async unpauseContainer(id: string): Promise<void> {
    await dockerCall(containerSubject(id), () => this.docker.getContainer(id).unpause(), 409);
  }

  async removeContainer(id: string): Promise<void> {
    await dockerCall(containerSubject(id), () => this.docker.getContainer(id).remove({ force: true, v: false }), 404, 409);
  }

  async renameContainer(id: string, name: string): Promise<void> {
    await dockerCall(containerSubject(id), () => this.docker.getContainer(id).rename({ name }));
  }

  async disconnectNetwork(id: string, network: string): Promise<void> {
    await dockerCall(`network ${network}`, () => this.docker.getNetwork(network).disconnect({ Container: id, Force: true }));
  }

  async ensureSandboxNetwork(name: string): Promise<{ bridge: string }> {
    const existing = (await dockerCall(`network ${name}`, () => this.docker.getNetwork(name).inspect(), 404)) as NetworkInfo | undefined;
    if (existing) return { bridge: this.checkedSandboxNetwork(existing) };
    try {
      await this.docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: this.labels('network'),
        Options: {
          // Inter-container communication off: Docker drops traffic between two containers of this bridge.
          'com.docker.network.bridge.enable_icc': 'false',
          // A host interface name of ours (at most 15 characters), for the host firewall rules.
          'com.docker.network.bridge.name': `sk-${this.instanceId.slice(0, 12)}`,
        },
      });
    } catch (error) {
      if (statusCode(error) !== 409) throw fromDockerError(error, `network ${name}`); // 409: made meanwhile
    }
    const created = (await dockerCall(`network ${name}`, () => this.docker.getNetwork(name).inspect())) as NetworkInfo;
    return { bridge: this.checkedSandboxNetwork(created) };
  }

  /** A network of that name that this instance did not make, or without isolation, is not used. */
  private checkedSandboxNetwork(network: NetworkInfo): string {
    const ours = network.Labels?.[LABEL.instance] === this.instanceId && network.Labels?.[LABEL.managed] === 'true';
    if (!ours || network.Options?.['com.docker.network.bridge.enable_icc'] !== 'false') {
      throw conflict(`A Docker network named "${network.Name}" exists that Sandkasten did not make (or that lets containers reach one another). Remove it (\`docker network rm ${network.Name}\`) so Sandkasten can make its own.`);
    }
    return bridgeOf(network);
  }

  async removeNetwork(name: string): Promise<boolean> {
    try {
      await this.docker.getNetwork(name).remove();
      return true;
    } catch (error) {
      if (statusCode(error) === 404) return true;
      if (statusCode(error) === 403 || statusCode(error) === 409) return false; // it has active endpoints
      throw fromDockerError(error, `network ${name}`);
    }
  }

  async diskUsage(): Promise<{ volumes: Map<string, number>; containers: Map<string, number> }> {
    const usage = (await dockerCall('disk usage', () => this.docker.df())) as {
      Volumes?: Array<{ Name: string; Labels?: Record<string, string> | null; UsageData?: { Size?: number } }>;
      Containers?: Array<{ Id: string; Labels?: Record<string, string> | null; SizeRw?: number }>;
    };
    const own = (labels?: Record<string, string> | null) => labels?.[LABEL.instance] === this.instanceId;
    return {
      volumes: new Map((usage?.Volumes ?? []).filter((v) => own(v.Labels)).map((v) => [v.Name, Math.max(0, v.UsageData?.Size ?? 0)])),
      containers: new Map((usage?.Containers ?? []).filter((c) => own(c.Labels)).map((c) => [c.Id, Math.max(0, c.SizeRw ?? 0)])),
    };
  }

  async listOwnNetworks(): Promise<Array<{ name: string; bridge: string }>> {
    const networks = (await dockerCall('networks', () => this.docker.listNetworks({ filters: this.ownFilter('network') }))) as NetworkInfo[] | undefined;
    return (networks ?? []).map((network) => ({ name: network.Name, bridge: bridgeOf(network) }));
  }

  async inspectContainer(id: string): Promise<ContainerState | undefined> {
    const info = await dockerCall(containerSubject(id), () => this.docker.getContainer(id).inspect(), 404);
    if (!info) return undefined;
    // Containers made by versions before the main shell have stdin closed.
    const addresses = Object.values(info.NetworkSettings?.Networks ?? {}).flatMap((network) => [network?.IPAddress, network?.GlobalIPv6Address].filter((ip): ip is string => typeof ip === 'string' && ip !== ''));
    return { running: info.State.Running, paused: info.State.Paused, openStdin: info.Config.OpenStdin, command: info.Config.Cmd ?? [], mounts: mountsOf(info.Mounts), addresses };
  }

  async inspectContainerRaw(id: string): Promise<unknown> {
    return dockerCall(containerSubject(id), () => this.docker.getContainer(id).inspect(), 404);
  }

  async containerStats(id: string): Promise<ContainerStats> {
    // one-shot: a single sample at once, not the two a second apart Docker takes for CPU percentages.
    const stats = (await dockerCall(containerSubject(id), () => this.docker.getContainer(id).stats({ stream: false, 'one-shot': true } as { stream: false }))) as {
      memory_stats?: { usage?: number; limit?: number };
      cpu_stats?: { cpu_usage?: { total_usage?: number } };
      pids_stats?: { current?: number };
    };
    return {
      memoryBytes: wholeNumber(stats?.memory_stats?.usage),
      memoryLimit: wholeNumber(stats?.memory_stats?.limit),
      cpuUsageUsec: Math.floor(wholeNumber(stats?.cpu_stats?.cpu_usage?.total_usage) / 1000),
      pids: wholeNumber(stats?.pids_stats?.current),
    };
  }

  async followStats(id: string, onSample: (sample: StatsSample) => void, onEnd: (error?: Error) => void): Promise<{ close(): void }> {
    const stream = (await dockerCall(containerSubject(id), () => this.docker.getContainer(id).stats({ stream: true }))) as FollowedStream;
    return follow(stream, parseStatsStream(onSample), onEnd);
  }

  async listOwnContainers(role?: Role): Promise<OwnContainer[]> {
    const containers = (await dockerCall('containers', () => this.docker.listContainers({ all: true, filters: this.ownFilter(role) }))) ?? [];
    return containers.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      running: c.State === 'running' || c.State === 'paused',
      paused: c.State === 'paused',
      labels: c.Labels,
      mounts: mountsOf(c.Mounts),
    }));
  }

  async attach(id: string): Promise<Duplex> {
    const stream = await dockerCall(containerSubject(id), () =>
      this.docker.getContainer(id).attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }),
    );
    return stream as Duplex;
  }

  async exec(id: string, options: ExecOptions): Promise<ExecProcess> {
    const tty = options.tty ?? false;
    const { exec, stream } = await this.startExec(id, {
      create: {
        Cmd: options.command,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: tty,
        WorkingDir: options.workingDir,
        Env: options.env,
      },
      // `Tty` here too: Docker decides on it whether to frame the stream.
      start: { hijack: true, stdin: true, Tty: tty },
    });
    return {
      stream,
      resize: async (size) => void (await dockerCall(containerSubject(id), () => exec!.resize({ h: size.rows, w: size.cols }))),
      exitCode: async () => {
        const info = await dockerCall(containerSubject(id), () => exec!.inspect());
        return info?.Running === false ? (info.ExitCode ?? undefined) : undefined;
      },
    };
  }

  async followContainerEvents(onEvent: (event: ContainerEvent) => void, onEnd: (error?: Error) => void): Promise<{ close(): void }> {
    const stream = (await dockerCall('events', () =>
      this.docker.getEvents({ filters: { type: ['container'], label: [`${LABEL.managed}=true`, `${LABEL.instance}=${this.instanceId}`] } }),
    )) as FollowedStream;
    return follow(stream, parseContainerEvents(onEvent), onEnd);
  }

  async runOnce(id: string, command: string[], limits: RunOnceLimits = {}): Promise<string> {
    const maxBytes = limits.maxBytes ?? RUN_ONCE_MAX_BYTES;
    limits.signal?.throwIfAborted();
    const { stream } = await this.startExec(id, { create: { Cmd: command, AttachStdout: true, AttachStderr: true }, start: { hijack: true, stdin: false } }, limits.signal);
    if (limits.signal?.aborted) {
      stream.destroy();
      limits.signal.throwIfAborted();
    }
    const chunks: Buffer[] = [];
    let size = 0;
    await new Promise<void>((resolve, reject) => {
      const stop = (why: string) => {
        stream.destroy();
        reject(new Error(`The command in ${containerSubject(id)} ${why}.`));
      };
      const parser = new FrameParser((type, data) => {
        if (type !== 'stdout') return;
        size += data.length;
        if (size > maxBytes) return stop(`printed more than ${maxBytes} bytes`);
        chunks.push(Buffer.from(data));
      });
      const onAbort = () => stop(String((limits.signal?.reason as Error)?.message ?? 'was stopped'));
      limits.signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => (limits.signal?.removeEventListener('abort', onAbort), resolve());
      stream.on('data', (chunk: Buffer) => parser.push(chunk));
      stream.once('end', done);
      stream.once('close', done);
      stream.once('error', (error) => reject(fromDockerError(error, containerSubject(id))));
    });
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Creates and starts an exec; a pause meanwhile waits, and asks it whether its process runs yet (see ExecGate). */
  private async startExec(
    id: string,
    options: { create: Docker.ExecCreateOptions; start: Docker.ExecStartOptions },
    signal?: AbortSignal,
  ): Promise<{ exec: Docker.Exec; stream: Duplex }> {
    const started = await this.execGate.beginExec(id);
    try {
      const exec = (await dockerCall(containerSubject(id), () => this.docker.getContainer(id).exec(options.create)))!;
      signal?.throwIfAborted();
      const stream = (await dockerCall(containerSubject(id), () => exec.start(options.start))) as Duplex;
      this.execGate.track(id, async () => {
        const info = await exec.inspect();
        // Not `Running`: Docker sets it before asking the runtime to start the process; the Pid comes after.
        return (info.Pid ?? 0) > 0 || (!info.Running && info.ExitCode !== null);
      });
      return { exec, stream };
    } finally {
      started();
    }
  }


  /** The engine's root directory (`docker info`), asked once: it is fixed while the engine runs. */
  private rootDirectory: Promise<string | undefined> | undefined;

  async volumeMountpoint(name: string): Promise<string | undefined> {
    const volume = await dockerCall(`volume ${name}`, () => this.docker.getVolume(name).inspect(), 404);
    // A volume with driver options (tmpfs, NFS, a device) is mounted only while a container uses it.
    if (!volume || volume.Driver !== 'local' || Object.keys(volume.Options ?? {}).length > 0) return undefined;
    this.rootDirectory ??= dockerCall('engine', () => this.docker.info()).then(
      (info) => (info as { DockerRootDir?: unknown } | undefined)?.DockerRootDir as string | undefined,
      (error: unknown) => {
        this.rootDirectory = undefined;
        throw error;
      },
    );
    const root = await this.rootDirectory;
    const mountpoint = volume.Mountpoint;
    if (typeof root !== 'string' || !path.posix.isAbsolute(root) || typeof mountpoint !== 'string') return undefined;
    const inside = path.posix.normalize(mountpoint) === mountpoint && mountpoint.startsWith(`${path.posix.join(root, 'volumes')}/`);
    return inside ? mountpoint : undefined;
  }
}

const containerSubject = (id: string) => `container ${id.slice(0, 12)}`;

/** An agent that opens a new connection for every request, on Node's own sockets (ssh:// brings its own agent). */
function freshConnections(endpoint: DockerEndpoint): { agent?: http.Agent } {
  if (endpoint.transport === 'ssh') return {};
  if (endpoint.transport !== 'tls') return { agent: new http.Agent({ keepAlive: false }) };
  // A context's SkipTLSVerify (see endpointForHost): docker-modem would not pass it on.
  const verify = (endpoint.options as { rejectUnauthorized?: boolean }).rejectUnauthorized !== false;
  return { agent: new https.Agent({ keepAlive: false, rejectUnauthorized: verify }) };
}

interface NetworkInfo {
  Id: string;
  Name: string;
  Options?: Record<string, string>;
  Labels?: Record<string, string>;
}

/** The host interface of a bridge network: the name it was given, else Docker's `br-<id>`. */
const bridgeOf = (network: NetworkInfo) => network.Options?.['com.docker.network.bridge.name'] ?? `br-${network.Id.slice(0, 12)}`;

const FOLLOWED_ACTIONS = new Set<ContainerEvent['action']>(['start', 'die', 'stop', 'kill', 'pause', 'unpause', 'destroy', 'oom']);
/** One event line is a few hundred bytes; a longer one is not Docker's. */
const MAX_EVENT_LINE_BYTES = 64 * 1024;

/** Parses Docker's event stream (one JSON object per line) into the events we follow. */
export function parseContainerEvents(onEvent: (event: ContainerEvent) => void): (chunk: Buffer) => void {
  return lines(MAX_EVENT_LINE_BYTES, (line) => {
    const event = parseEventLine(line);
    if (event) onEvent(event);
  });
}

function parseEventLine(line: string): ContainerEvent | undefined {
  let raw: { Type?: unknown; Action?: unknown; Actor?: { ID?: unknown; Attributes?: Record<string, unknown> } };
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  // Docker reports some actions with details after a colon ("exec_start: sh"); those are not followed.
  const action = typeof raw.Action === 'string' ? (raw.Action as ContainerEvent['action']) : undefined;
  const containerId = raw.Actor?.ID;
  if (raw.Type !== 'container' || !action || !FOLLOWED_ACTIONS.has(action) || typeof containerId !== 'string') return undefined;
  const exitCode = Number(raw.Actor?.Attributes?.exitCode);
  return { containerId, action, ...(action === 'die' && Number.isInteger(exitCode) ? { exitCode } : {}) };
}

type FollowedStream = NodeJS.ReadableStream & { destroy(): void };

/** Feeds a long-lived stream (events, stats) to `onData`; `onEnd` once, when it ends or fails, never after `close()`. */
function follow(stream: FollowedStream, onData: (chunk: Buffer) => void, onEnd: (error?: Error) => void): { close(): void } {
  let ended = false;
  const end = (error?: Error) => {
    if (ended) return;
    ended = true;
    onEnd(error);
  };
  stream.on('data', onData);
  stream.once('end', () => end());
  stream.once('close', () => end());
  stream.once('error', (error: Error) => end(error));
  return {
    close: () => {
      ended = true;
      stream.destroy();
    },
  };
}

/** A stats line is a few KiB (more with many CPUs or networks); a longer one is not Docker's. */
const MAX_STATS_LINE_BYTES = 256 * 1024;

/** Parses Docker's stats stream (one JSON object per line, about one a second) into samples. */
export function parseStatsStream(onSample: (sample: StatsSample) => void, now: () => number = Date.now): (chunk: Buffer) => void {
  return lines(MAX_STATS_LINE_BYTES, (line) => {
    const sample = statsSampleOf(line, now);
    if (sample) onSample(sample);
  });
}

/** Splits a stream's chunks into lines; an unfinished line longer than `maxLineBytes` is dropped (not Docker's). */
function lines(maxLineBytes: number, onLine: (line: string) => void): (chunk: Buffer) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk.toString('utf8');
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      onLine(line);
    }
    if (pending.length > maxLineBytes) pending = '';
  };
}

function statsSampleOf(line: string, now: () => number): StatsSample | undefined {
  let raw: {
    read?: unknown;
    memory_stats?: { usage?: unknown; limit?: unknown; stats?: { inactive_file?: unknown; total_inactive_file?: unknown } };
    cpu_stats?: { cpu_usage?: { total_usage?: unknown } };
    pids_stats?: { current?: unknown };
  };
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const read = typeof raw.read === 'string' ? Date.parse(raw.read) : Number.NaN;
  const memory = raw.memory_stats;
  // As `docker stats` counts it: the page cache the kernel can drop is not the sandbox's (cgroup v2, then v1).
  const inactiveFile = wholeNumber(memory?.stats?.inactive_file) || wholeNumber(memory?.stats?.total_inactive_file);
  const usage = wholeNumber(memory?.usage);
  return {
    // Docker's own reading time when it gives one (zero before the first reading: year 1).
    at: Number.isFinite(read) && read > 0 ? read : now(),
    memoryBytes: Math.max(0, usage - inactiveFile),
    memoryLimit: wholeNumber(memory?.limit),
    cpuUsageUsec: Math.floor(wholeNumber(raw.cpu_stats?.cpu_usage?.total_usage) / 1000),
    pids: wholeNumber(raw.pids_stats?.current),
  };
}

/** What Docker's image list says of an image (`GET /images/json`). */
export interface ImageSummary {
  Id: string;
  /** null, or `<none>:<none>`, for an untagged image. */
  RepoTags?: string[] | null;
  Size: number;
  /** Seconds since the epoch. */
  Created: number;
}

/** One entry per repo:tag, untagged images left out, newest first (tags of one image by name). */
export function imageInfosOf(images: ImageSummary[]): ImageInfo[] {
  return images
    .flatMap((image) =>
      (image.RepoTags ?? [])
        .filter((reference) => reference !== '<none>:<none>')
        .map((reference) => ({ reference, id: image.Id, sizeBytes: image.Size, created: image.Created })),
    )
    .sort((a, b) => b.created - a.created || a.reference.localeCompare(b.reference))
    .map(({ created, ...image }) => ({ ...image, createdAt: new Date(created * 1000).toISOString() }));
}

function mountsOf(mounts: Array<{ Source: string; Destination: string }> | undefined): OwnContainer['mounts'] {
  return (mounts ?? []).map((mount) => ({ source: mount.Source, target: mount.Destination }));
}

/** A count from the engine's JSON; anything else is 0. */
function wholeNumber(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : 0;
}

/** The runtimes of `docker info`, its default first, then by name. */
function runtimesOf(info: unknown): string[] {
  const { DefaultRuntime: defaultRuntime, Runtimes: runtimes } = (info ?? {}) as { DefaultRuntime?: unknown; Runtimes?: unknown };
  const names = typeof runtimes === 'object' && runtimes !== null ? Object.keys(runtimes) : [];
  return [...names.filter((name) => name === defaultRuntime), ...names.filter((name) => name !== defaultRuntime).sort()];
}

/** An engine's text as diagnostics show it: a string, without control characters, not too long. */
function engineText(value: unknown): string {
  return typeof value === 'string' ? value.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim().slice(0, ENGINE_TEXT_MAX_CHARS) : '';
}

/** What diagnostics need of `docker info` (GET /info) and `docker version` (GET /version). */
export function engineInfoOf(info: unknown, version: unknown): EngineInfo {
  const i = (info ?? {}) as Record<string, unknown>;
  const v = (version ?? {}) as Record<string, unknown>;
  const list = (value: unknown) => (Array.isArray(value) ? value.map(engineText).filter(Boolean) : []);
  const driverStatus: Record<string, string> = {};
  for (const pair of Array.isArray(i.DriverStatus) ? i.DriverStatus : []) {
    if (Array.isArray(pair) && pair.length === 2) driverStatus[engineText(pair[0])] = engineText(pair[1]);
  }
  return {
    version: engineText(v.Version ?? i.ServerVersion),
    apiVersion: engineText(v.ApiVersion),
    operatingSystem: engineText(i.OperatingSystem),
    kernelVersion: engineText(i.KernelVersion),
    storageDriver: engineText(i.Driver),
    driverStatus,
    cgroupVersion: engineText(i.CgroupVersion),
    cgroupDriver: engineText(i.CgroupDriver),
    securityOptions: list(i.SecurityOptions),
    runtimes: runtimesOf(i).map(engineText),
    // Absent means supported: engines before these fields existed applied the limits.
    limits: { memory: i.MemoryLimit !== false, swap: i.SwapLimit !== false, pids: i.PidsLimit !== false, cpuQuota: i.CpuCfsQuota !== false },
    warnings: list(i.Warnings).slice(0, ENGINE_WARNINGS_MAX),
  };
}
