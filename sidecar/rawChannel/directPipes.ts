import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { cryptoRandomHex } from '../client/ids';
import type { CommandShell } from '../exec/commandShell';

const run = promisify(execFile);

/** What takeRest reads at most: a FIFO's buffer is 64 KiB to 1 MiB. */
const TAKE_REST_MAX_BYTES = 4 * 1024 * 1024;

/** Where a container sees its pipe directory (mounted read-only: a FIFO can be written through that). */
export const PIPE_MOUNT_POINT = '/run/sandkasten';

/** The host directory a container has mounted at PIPE_MOUNT_POINT, if any. */
export function pipeDirectoryOf(mounts: Array<{ source: string; target: string }> | undefined): string | undefined {
  return mounts?.find((mount) => mount.target === PIPE_MOUNT_POINT)?.source;
}

/**
 * A FIFO that a command in the container writes its stdout to and the client reads on the
 * host: bulk output goes straight from the sandbox to the client, past Docker's stream copy
 * and the sidecar. The sidecar only holds `keeper`, an O_RDWR descriptor that keeps the FIFO
 * open (so the client never sees end-of-file early, and the command's open never blocks)
 * until the command is over.
 */
export class DirectPipe {
  private readonly keeper: number;
  private drain: net.Socket | undefined;
  /** The descriptor under `drain` when the sidecar itself reads the FIFO (see readHere). */
  private ownReader: number | undefined;
  private closed = false;

  constructor(
    readonly hostPath: string,
    readonly containerPath: string,
  ) {
    this.keeper = fs.openSync(hostPath, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    // The name is only needed until both ends are open; the descriptors keep the FIFO alive.
  }

  /**
   * The sidecar reads the command's stdout itself (the HTTP API's streaming exec) instead of a
   * client: the socket gives what the command writes; pausing it fills the FIFO, and the
   * command then blocks on its next write, as back-pressure should.
   */
  readHere(): net.Socket {
    if (this.drain) throw new Error('The pipe already has a reader.');
    this.ownReader = fs.openSync(this.hostPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    this.drain = this.readerOf(this.ownReader);
    return this.drain;
  }

  /**
   * The command is over, so everything it wrote is in the FIFO already (it exited before its
   * shell said so): returns what the reader of readHere has not delivered yet, without
   * waiting for the end-of-file that a background job holding the FIFO would put off. The
   * reader is paused; what comes later is a background job's (see handOver).
   */
  takeRest(): Buffer[] {
    const reader = this.drain;
    const fd = this.ownReader;
    if (!reader || fd === undefined || this.closed) return [];
    reader.pause();
    const rest: Buffer[] = [];
    // Synchronous from here on: no turn of the event loop lets the socket read in between.
    for (let chunk: Buffer | null; (chunk = reader.read() as Buffer | null) !== null; ) rest.push(chunk);
    // At most what a FIFO holds, several times over: a background job that keeps writing
    // cannot keep this loop (and the sidecar) busy; what it writes after is its own (handOver).
    for (let taken = 0; taken < TAKE_REST_MAX_BYTES; ) {
      const buffer = Buffer.allocUnsafe(64 * 1024);
      let read: number;
      try {
        read = fs.readSync(fd, buffer);
      } catch {
        break; // EAGAIN: empty (the keeper is a writer, so there is never an end-of-file here)
      }
      if (read === 0) break;
      rest.push(buffer.subarray(0, read));
      taken += read;
    }
    return rest;
  }

  /** The reader went away: read and drop what the command still writes, as the relay does. */
  discard(): void {
    this.openDrain(() => undefined);
  }

  /**
   * The command is over, but a background job it started may still write into the FIFO. The
   * sidecar holds a reader open from now on, so that job never dies of SIGPIPE, but reads
   * nothing yet: what is in the FIFO is the client's. Once the client is done (call the
   * returned function), the sidecar reads what comes into `onData`, until the last writer
   * closes the FIFO. The keeper goes, so the client sees end-of-file as before.
   */
  handOver(onData: (data: Buffer) => void): () => void {
    if (this.closed) return () => undefined;
    this.closed = true;
    const heldBack = this.drain ? undefined : fs.openSync(this.hostPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    fs.closeSync(this.keeper);
    fs.rmSync(this.hostPath, { force: true });
    let started = false;
    return () => {
      if (started) return;
      started = true;
      const drain = this.drain ?? this.readerOf(heldBack!);
      drain.removeAllListeners('data');
      drain.on('data', onData);
      drain.once('end', () => drain.destroy());
      drain.resume(); // takeRest paused it
    };
  }

  private openDrain(onData: (data: Buffer) => void): void {
    if (this.closed) return;
    this.drain ??= this.readerOf(fs.openSync(this.hostPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
    this.drain.removeAllListeners('data');
    this.drain.on('data', onData);
  }

  private readerOf(fd: number): net.Socket {
    const reader = new net.Socket({ fd, readable: true, writable: false });
    reader.on('error', () => undefined);
    return reader;
  }

  /** The command is over: the client reads what is left in the FIFO, then end-of-file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.keeper);
    this.drain?.destroy();
    fs.rmSync(this.hostPath, { force: true });
  }
}

/**
 * Pipe directories, one per container, bind-mounted read-only at PIPE_MOUNT_POINT, under
 * `<home>/pipes`. Only offered when the Docker engine is local (a Unix socket), and only
 * used for a container once a probe showed that a FIFO written in it arrives here (it would
 * not through a VM's file sharing, such as Docker Desktop's, or with remapped user ids).
 */
export class DirectPipes {
  /** Set when the engine refused a bind mount: it is not on this machine after all. */
  private refused = false;
  private readonly directories = new Map<string, string | undefined>();
  /** Made for a container whose create is in flight: not mounted yet, but not a leftover. */
  private readonly creating = new Set<string>();
  /** Counts sweeps; a directory whose container was created during a sweep's listing is spared. */
  private sweeps = 0;
  private readonly createdInSweep = new Map<string, number>();
  private readonly probes = new Map<string, Promise<boolean>>();
  /** One FIFO made ahead per directory: mkfifo is a process, and an exec should not wait for one. */
  private readonly spares = new Map<string, Promise<string>>();

  constructor(
    private readonly root: string,
    private readonly engineIsLocal: boolean,
    /** The pipe directory a container was created with, from Docker (after a sidecar restart). */
    private readonly lookUp: (containerId: string) => Promise<string | undefined>,
  ) {}

  /** Whether new containers get a pipe directory (for `status`: which output path is in use). */
  get offered(): boolean {
    return this.engineIsLocal && !this.refused;
  }

  /** A new, empty directory to mount into a container about to be created; undefined when pipes are off. */
  newDirectory(): string | undefined {
    if (!this.engineIsLocal || this.refused) return undefined;
    const directory = path.join(this.root, cryptoRandomHex(8));
    // The container's root (a different user when user namespaces remap it) opens FIFOs
    // here; the owner-only home above keeps other local users out.
    fs.mkdirSync(directory, { recursive: true, mode: 0o755 });
    this.creating.add(directory);
    return directory;
  }

  /** The container `directory` was made for was not created. */
  discardDirectory(directory: string): void {
    this.creating.delete(directory);
    this.createdInSweep.delete(directory);
    this.spares.delete(directory);
    fs.rmSync(directory, { recursive: true, force: true });
  }

  /** The engine would not mount `directory` (a remote engine behind a local socket): stop offering. */
  refusedMount(directory: string): void {
    this.refused = true;
    this.discardDirectory(directory);
  }

  created(containerId: string, directory: string | undefined): void {
    if (directory) {
      this.creating.delete(directory);
      this.createdInSweep.set(directory, this.sweeps);
    }
    this.directories.set(containerId, directory);
  }

  /** Docker says the container no longer exists (removed behind the sidecar's back). */
  containerGone(containerId: string): void {
    this.removed(containerId, this.directories.get(containerId));
  }

  /** Call with what `directoryOf` said before the container was removed. */
  removed(containerId: string, directory: string | undefined): void {
    this.directories.delete(containerId);
    this.probes.delete(containerId);
    if (directory) this.discardDirectory(directory);
  }

  /** A FIFO for one command's stdout, or undefined when the relay must carry it. */
  async open(containerId: string, shell: CommandShell): Promise<DirectPipe | undefined> {
    const directory = await this.directoryOf(containerId);
    if (!directory) return undefined;
    let works = this.probes.get(containerId);
    if (!works) {
      works = this.probe(directory, shell).catch(() => false);
      this.probes.set(containerId, works);
    }
    if (!(await works)) return undefined;
    return this.make(directory).catch(() => undefined);
  }

  /** The container's pipe directory, if it has one that still exists. */
  async directoryOf(containerId: string): Promise<string | undefined> {
    if (!this.directories.has(containerId)) this.directories.set(containerId, await this.lookUp(containerId).catch(() => undefined));
    const directory = this.directories.get(containerId);
    return directory && fs.existsSync(directory) ? directory : undefined;
  }

  private async make(directory: string): Promise<DirectPipe> {
    const made = this.spares.get(directory) ?? this.makeFifo(directory);
    const spare = this.makeFifo(directory);
    spare.catch(() => undefined); // a failed spare fails the exec that takes it, which then goes by the relay
    this.spares.set(directory, spare);
    const hostPath = await made;
    return new DirectPipe(hostPath, `${PIPE_MOUNT_POINT}/${path.basename(hostPath)}`);
  }

  private async makeFifo(directory: string): Promise<string> {
    const hostPath = path.join(directory, `out-${cryptoRandomHex(8)}`);
    // Node has no mkfifo; the coreutils tool is on every Linux host.
    await run('mkfifo', ['-m', '0622', hostPath]);
    return hostPath;
  }

  /** Writes a word into a FIFO from inside the container and checks it arrives here. */
  private async probe(directory: string, shell: CommandShell): Promise<boolean> {
    const pipe = await this.make(directory);
    const fd = fs.openSync(pipe.hostPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const { result } = shell.run({ command: { line: `echo pipe-ok >${pipe.containerPath}` }, onOutput: () => undefined });
      if ((await result).exitCode !== 0) return false;
      const buffer = Buffer.alloc(16);
      const read = fs.readSync(fd, buffer);
      return buffer.subarray(0, read).toString() === 'pipe-ok\n';
    } catch {
      return false;
    } finally {
      fs.closeSync(fd);
      pipe.close();
    }
  }

  /**
   * Removes directories that no container of this instance mounts and no create is about to
   * (a crash's leftovers, or a container removed behind the sidecar's back).
   */
  async sweep(listMounted: () => Promise<Set<string>>): Promise<void> {
    const sweep = ++this.sweeps;
    const mounted = await listMounted();
    let names: string[];
    try {
      names = fs.readdirSync(this.root);
    } catch {
      return;
    }
    for (const name of names) {
      const directory = path.join(this.root, name);
      const spared = mounted.has(directory) || this.creating.has(directory) || (this.createdInSweep.get(directory) ?? -1) >= sweep;
      if (!spared) this.discardDirectory(directory);
    }
  }
}
