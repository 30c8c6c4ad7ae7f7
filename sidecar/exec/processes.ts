import { cryptoRandomHex, type RandomHex } from '../client/ids';
import type { OutputPage, OutputQuery, ProcessInfo, StartProcessParams } from '../client/protocol';
import type { ConfigStore } from '../config';
import type { Engine } from '../docker/engine';
import { invalidInput, notFound } from '../errors';
import type { Sessions } from '../sessions';
import type { Changes } from '../util/changes';
import { isoTime, type Clock } from '../util/clock';
import { CommandShell, type CommandRun } from './commandShell';
import type { Cancellation } from './exec';
import { OutputLog } from './outputLog';
import { shellQuote } from './shellText';

/** Exited processes kept per session (with their output), the oldest forgotten first. */
const MAX_EXITED_PER_SESSION = 32;

interface BackgroundProcess {
  info: ProcessInfo;
  output: OutputLog;
  /** Set once its shell is open and the command written. */
  run?: CommandRun;
  shell?: CommandShell;
  exited: Promise<void>;
}

/**
 * Background processes: a command started with a handle, in a shell of its own that starts
 * where the session is (like a side-by-side command), whose output is kept (bounded) for
 * whoever asks later. Its handle comes at once; list, output (follow), signal and wait work
 * on it. A process ends with its command, or when its session's container stops.
 */
export class Processes {
  private readonly processes = new Map<string, BackgroundProcess>();

  constructor(
    private readonly deps: { engine: Engine; sessions: Sessions; config: ConfigStore; clock: Clock; changes: Changes; randomHex?: RandomHex },
  ) {}

  async start(params: StartProcessParams): Promise<ProcessInfo> {
    const { sessions, clock, engine } = this.deps;
    if ((params.command === undefined) === (params.line === undefined)) throw invalidInput('Give either "command" (a list of words) or "line" (a shell command line).');
    const { containerId } = await sessions.ready(params.sessionId);
    const id = `proc-${(this.deps.randomHex ?? cryptoRandomHex)(6)}`;
    const line = params.line ?? params.command!.map(shellQuote).join(' ');
    const info: ProcessInfo = { id, sessionId: params.sessionId, command: line, state: 'running', exitCode: null, startedAt: isoTime(clock.now())!, endedAt: null };
    const output = new OutputLog(this.deps.config.current['logs.sessionKb'] * 1024);
    const process: BackgroundProcess = { info, output, exited: Promise.resolve() };
    process.exited = (async () => {
      let exitCode: number;
      try {
        const shell = await CommandShell.open(engine, clock, containerId);
        process.shell = shell;
        process.run = shell.run({ role: 'side', command: { line }, onOutput: (stream, data) => output.append(stream, data, clock.now()) });
        const result = await process.run.result;
        exitCode = result.exitCode;
        if (result.cut) {
          const why = result.cut.error ? ` (${result.cut.error.message.split('\n')[0]})` : '';
          output.append('stderr', Buffer.from(`sandkasten: the process's stream ended without its exit status${why}: its container stopped, or the connection to the Docker engine was cut.\n`), clock.now());
        }
      } catch (error) {
        output.append('stderr', Buffer.from(`sandkasten: the process could not start: ${(error as Error).message}\n`), clock.now());
        exitCode = 127;
      }
      process.shell?.dispose();
      Object.assign(info, { state: 'exited', exitCode, endedAt: isoTime(clock.now()) });
      output.close();
      this.forgetOldExited(info.sessionId);
      this.deps.changes.emit('processes');
    })();
    this.processes.set(id, process);
    this.deps.changes.emit('processes');
    return { ...info };
  }

  list(sessionId?: string): ProcessInfo[] {
    if (sessionId !== undefined) this.deps.sessions.get(sessionId);
    return [...this.processes.values()].filter((p) => sessionId === undefined || p.info.sessionId === sessionId).map((p) => ({ ...p.info }));
  }

  async output(processId: string, query: OutputQuery, cancellation?: Cancellation): Promise<OutputPage & { process: ProcessInfo }> {
    const process = this.require(processId);
    const page = await process.output.read(query, this.deps.clock, cancellation);
    return { ...page, process: { ...process.info } };
  }

  /** A signal for the command's processes; none: stop it as Ctrl-C would (INT, TERM, then KILL). */
  async signal(processId: string, signal?: 'INT' | 'TERM' | 'KILL'): Promise<ProcessInfo> {
    const process = this.require(processId);
    if (process.info.state === 'running') {
      if (!signal) await process.run?.interrupt();
      else await process.shell?.signalCommand(signal);
    }
    return { ...process.info };
  }

  /** Once it exited, or after `timeoutMs` (or a cancel) with it still running. */
  async wait(processId: string, timeoutMs: number | undefined, cancellation?: Cancellation): Promise<ProcessInfo> {
    const process = this.require(processId);
    if (process.info.state === 'running') {
      let stop = () => undefined as void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const timer = timeoutMs ? this.deps.clock.setTimeout(stop, timeoutMs) : undefined;
      const listener = cancellation?.onCancellationRequested(stop);
      await Promise.race([process.exited, stopped]);
      timer?.cancel();
      listener?.dispose();
    }
    return { ...process.info };
  }

  /** The sidecar stops: every process's shell goes (their commands live on in the container until it stops). */
  closeAll(): void {
    for (const process of this.processes.values()) process.shell?.dispose();
  }

  private require(processId: string): BackgroundProcess {
    const process = this.processes.get(processId);
    if (!process) throw notFound(`No background process "${processId}". List them with \`sandkasten ps SESSION_ID\`.`);
    return process;
  }

  private forgetOldExited(sessionId: string): void {
    const exited = [...this.processes.values()].filter((p) => p.info.sessionId === sessionId && p.info.state === 'exited');
    for (const process of exited.slice(0, Math.max(0, exited.length - MAX_EXITED_PER_SESSION))) this.processes.delete(process.info.id);
  }
}
