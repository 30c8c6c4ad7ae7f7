import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { Clock } from '../util/clock';
import type { StreamType } from '../docker/frames';
import type { DockerEngine } from '../docker/engine';
import { invalidInput } from '../errors';
import type { NotificationFlow } from '../server/flow';
import { ExecOutputNotification, RAW_CHANNEL_HEADER, type ExecParams, type ExecResult } from '../client/protocol';
import { CommandShell, type RunOptions } from './commandShell';
import type { DirectPipe } from '../rawChannel/directPipes';
import type { Shells } from './shells';
import type { RawChannels } from '../rawChannel/rawChannels';
import type { Sessions } from '../sessions';
import type { Database } from '../store/database';
import type { Workspaces } from '../workspaces';

export interface Cancellation {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => void): { dispose(): void };
}

/** Output kept per stream when it is returned in the result instead of streamed. */
const MAX_CAPTURED_BYTES = 16 * 1024 * 1024;
/** Streamed output is batched into notifications of up to this size. */
const NOTIFICATION_BYTES = 256 * 1024;
/** How long the client of a raw channel may take to open the FIFO it was offered. */
const PIPE_OPEN_WAIT_MS = 5000;

/** Runs commands in a session's persistent shell, streaming or capturing their output. */
export class Exec {
  constructor(
    private readonly deps: {
      docker: DockerEngine;
      sessions: Sessions;
      workspaces: Workspaces;
      db: Database;
      shells: Shells;
      clock: Clock;
      rawChannels: RawChannels;
    },
  ) {}

  async run(params: ExecParams, cancellation?: Cancellation, flow?: NotificationFlow): Promise<ExecResult> {
    const { sessions, workspaces, db, shells, clock, docker } = this.deps;
    if ((params.command === undefined) === (params.line === undefined)) throw invalidInput('Give either "command" (a list of words) or "line" (a shell command line).');
    if (params.streamId !== undefined && !flow) throw invalidInput('Streaming needs a connection to stream to.');
    const { containerId, workspaceId } = sessions.running(params.sessionId);
    const started = clock.now();
    // The raw channel first: if it never comes, no shell was opened for nothing.
    const rawSocket = params.rawChannelId !== undefined ? await this.deps.rawChannels.take(params.rawChannelId) : undefined;
    if (cancellation?.isCancellationRequested) {
      rawSocket?.destroy();
      return { exitCode: 130, stdout: '', stderr: '', durationMs: 0, timedOut: false, cancelled: true, droppedBytes: 0 };
    }
    const shell = params.cleanShell ? await CommandShell.open(docker.docker, containerId) : await shells.get(params.sessionId, containerId);
    const pipe = rawSocket ? await this.offerDirectPipe(rawSocket, containerId, shell) : undefined;
    const raw = rawSocket && !pipe ? new RawStdout(rawSocket) : undefined;
    const notified = params.streamId !== undefined ? new StreamedOutput(flow!, params.streamId, params.encoding) : undefined;
    const captured = notified ? undefined : new CapturedOutput(params.encoding);
    const output = {
      add: (stream: StreamType, data: Buffer) => (stream === 'stdout' && raw ? raw.add(data) : (notified ?? captured)!.add(stream, data)),
      congested: () => raw?.congested || (flow?.congested ?? false),
      drained: async () => {
        await raw?.drained();
        await flow?.drained();
      },
    };

    const run = shell.run({
      command: params.line !== undefined ? { line: params.line } : { argv: params.command! },
      stdoutFile: pipe?.containerPath,
      onOutput: output.add,
      isCongested: output.congested,
      waitForDrain: output.drained,
    } satisfies RunOptions);
    let timedOut = false;
    let cancelled = false;
    const timer = params.timeoutMs
      ? clock.setTimeout(() => {
          timedOut = true;
          void run.interrupt();
        }, params.timeoutMs)
      : undefined;
    const cancelListener = cancellation?.onCancellationRequested(() => {
      cancelled = true;
      void run.interrupt();
    });
    try {
      const result = await run.result;
      notified?.end();
      pipe?.close();
      if (rawSocket) await (raw ? raw.end() : endSocket(rawSocket));
      workspaces.recordAccess(workspaceId, { commands: 1 });
      db.commitSoon(); // statistics: not worth a durable write per command
      return {
        exitCode: result.exitCode,
        stdout: captured?.text('stdout') ?? '',
        stderr: captured?.text('stderr') ?? '',
        durationMs: clock.now() - started,
        timedOut,
        cancelled,
        droppedBytes: captured?.dropped ?? 0,
      };
    } finally {
      pipe?.close();
      if (rawSocket && !rawSocket.writableEnded) rawSocket.destroy();
      timer?.cancel();
      cancelListener?.dispose();
      if (params.cleanShell) shell.dispose();
    }
  }

  /**
   * Tells the raw channel's client how stdout comes (RAW_CHANNEL_HEADER): through a FIFO
   * when one works for this container, which the client must open before the command runs;
   * else on the socket, relayed by the sidecar.
   */
  private async offerDirectPipe(socket: Socket, containerId: string, shell: CommandShell): Promise<DirectPipe | undefined> {
    const pipe = await this.deps.docker.pipes.open(containerId, shell);
    if (!pipe) {
      socket.write(`${RAW_CHANNEL_HEADER.socket}\n`);
      return undefined;
    }
    socket.write(`${RAW_CHANNEL_HEADER.pipe}${pipe.hostPath}\n`);
    const opened = await new Promise<boolean>((resolve) => {
      const done = (answer: boolean) => () => {
        clearTimeout(timer);
        socket.off('data', yes).off('close', no);
        resolve(answer);
      };
      const yes = done(true);
      const no = done(false);
      const timer = setTimeout(no, PIPE_OPEN_WAIT_MS);
      socket.once('data', yes).once('close', no);
    });
    if (!opened) {
      pipe.close();
      socket.destroy();
      throw invalidInput(`The raw channel's client did not open the pipe ${pipe.hostPath} within ${PIPE_OPEN_WAIT_MS / 1000} s.`);
    }
    // A reader that goes away early must not block the command: the sidecar reads and drops the rest.
    socket.once('close', () => pipe.discard());
    return pipe;
  }
}

function endSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.end(resolve)));
}

/** Output returned in the result: bounded, with a count of what did not fit. */
class CapturedOutput {
  private readonly chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  private size = 0;
  dropped = 0;

  constructor(private readonly encoding: ExecParams['encoding']) {}

  add(stream: StreamType, data: Buffer): void {
    if (this.size + data.length > MAX_CAPTURED_BYTES) {
      this.dropped += data.length;
      return;
    }
    this.chunks[stream].push(Buffer.from(data));
    this.size += data.length;
  }

  text(stream: StreamType): string {
    return Buffer.concat(this.chunks[stream]).toString(this.encoding === 'base64' ? 'base64' : 'utf8');
  }
}

/** Bytes queued on a raw channel before the command's output is paused. */
const RAW_HIGH_WATER_BYTES = 1024 * 1024;

/** stdout written straight to a raw channel socket: no copy, no encoding, the socket's own back-pressure. */
class RawStdout {
  private corked = false;

  constructor(private readonly socket: Socket) {}

  /** Slices of one read from Docker leave in one writev, not one syscall each. */
  add(data: Buffer): void {
    if (this.socket.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(data);
  }

  get congested(): boolean {
    return this.socket.writableLength > RAW_HIGH_WATER_BYTES;
  }

  drained(): Promise<void> {
    if (!this.congested || this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => (this.socket.off('close', done), this.socket.off('drain', done), resolve());
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  /** Ends the channel once every byte was handed to the kernel. */
  end(): Promise<void> {
    return endSocket(this.socket);
  }
}

/** Output sent as exec/output notifications as it comes, batched, with back-pressure. */
class StreamedOutput {
  private readonly pending = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  private readonly pendingBytes = { stdout: 0, stderr: 0 };
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  private flushScheduled = false;

  constructor(
    private readonly flow: NotificationFlow,
    private readonly streamId: string,
    private readonly encoding: ExecParams['encoding'],
  ) {}

  add(stream: StreamType, data: Buffer): void {
    this.pending[stream].push(Buffer.from(data));
    this.pendingBytes[stream] += data.length;
    if (this.pendingBytes[stream] >= NOTIFICATION_BYTES) this.flush(stream);
    else if (!this.flushScheduled) {
      // Small output goes out at the end of this turn, so interactive output is not delayed.
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush('stdout');
        this.flush('stderr');
      });
    }
  }

  private flush(stream: StreamType, final = false): void {
    const bytes = Buffer.concat(this.pending[stream]);
    this.pending[stream] = [];
    this.pendingBytes[stream] = 0;
    const data = this.encoding === 'base64' ? bytes.toString('base64') : this.decoders[stream].write(bytes) + (final ? this.decoders[stream].end() : '');
    if (data.length === 0) return;
    this.flow.send(ExecOutputNotification.type, { streamId: this.streamId, stream, data }, data.length);
  }

  end(): void {
    this.flush('stdout', true);
    this.flush('stderr', true);
  }
}
