import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Engine, ExecProcess } from '../docker/engine';
import { FrameParser, type StreamType } from '../docker/frames';
import type { Clock } from '../util/clock';
import { MarkerScanner } from './markers';
import { MAIN_SHELL_STATE_FILE, commandStateFile, shellQuote, stopCommandScript } from './shellText';

export interface RunOptions {
  /** A shell command line (run by `command eval`, see commandText) or an argv (quoted, always valid). */
  command: { line: string } | { argv: string[] };
  onOutput(stream: StreamType, data: Buffer): void;
  /** A file (in the container) that receives stdout instead of the shell's stream: a direct pipe. */
  stdoutFile?: string;
  /** Asked after each delivery; when true the shell's stream pauses until `waitForDrain`. */
  isCongested?(): boolean;
  waitForDrain?(): Promise<void>;
}

export interface CommandRun {
  result: Promise<RunResult>;
  /** Stops this command (or drops it while it waits its turn); others are not disturbed. */
  interrupt(): Promise<void>;
}

export interface RunResult {
  exitCode: number;
  /** The shell itself ended (e.g. the command was `exit`); the next command gets a new one. */
  shellEnded: boolean;
}

const MARKER_END = 0x1f;
/** After TERM, how long the command's processes get before KILL. */
const TERM_GRACE_MS = 200;
/** After asking the command's processes to stop, how long before the shell itself is killed. */
const KILL_ESCALATION_MS = 1500;
/** A shell that has not said its PID by then is given up (the caller falls back to an exec). */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Where the shell's frames come from: its own exec, or the container's main process. */
type Origin = { kind: 'exec'; process: ExecProcess } | { kind: 'main' };

/**
 * One long-lived `sh` attached without a TTY, so stdout and stderr arrive as separate
 * frames: either the container's main shell (see MAIN_PROCESS_SCRIPT), or one started with
 * a Docker exec. Commands are written to its stdin one at a time; after each, the shell
 * prints a marker carrying the exit code on stdout and a marker on stderr, so we know
 * when both streams are complete. cd and exported variables persist because every command
 * runs in this same shell process.
 */
export class CommandShell {
  private readonly parser: FrameParser;
  private running:
    | { resolve(result: RunResult): void; options: RunOptions; stdout: MarkerScanner; stderr: MarkerScanner; exitCode?: number; shellEnded: boolean; stderrDone: boolean }
    | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private ended = false;
  private readonly endListeners: Array<() => void> = [];
  /** The main shell's end marker repeats the last command's nonce; seen between commands, it means the shell died. */
  private lastNonce = '';

  private constructor(
    private readonly engine: Engine,
    private readonly clock: Clock,
    private readonly containerId: string,
    private readonly origin: Origin,
    private readonly stream: Duplex,
    readonly pid: number,
  ) {
    this.parser = new FrameParser((type, data) => this.onFrame(type, data));
  }

  /** A new shell in a Docker exec: for a container without a main shell, or a clean shell. */
  static async open(engine: Engine, clock: Clock, containerId: string, workingDir = '/workspace'): Promise<CommandShell> {
    const process = await engine.exec(containerId, { command: ['sh'], workingDir });
    return CommandShell.handshake(engine, clock, containerId, { kind: 'exec', process }, process.stream);
  }

  /**
   * Attaches to the main shell of a container that is not running yet (so nothing it says
   * is missed) and returns what to call once Docker started it.
   */
  static async attachMain(engine: Engine, clock: Clock, containerId: string): Promise<{ ready(): Promise<CommandShell>; abandon(): void }> {
    const stream = await engine.attach(containerId);
    return {
      ready: () => CommandShell.handshake(engine, clock, containerId, { kind: 'main' }, stream),
      abandon: () => stream.destroy(),
    };
  }

  /** Asks the shell for its PID (needed to stop a command's processes later): the first line it prints. */
  private static async handshake(engine: Engine, clock: Clock, containerId: string, origin: Origin, stream: Duplex): Promise<CommandShell> {
    const pid = await new Promise<number>((resolve, reject) => {
      let text = '';
      const parser = new FrameParser((_type, data) => {
        text += data.toString('latin1');
        const newline = text.indexOf('\n');
        if (newline >= 0) {
          cleanup();
          resolve(Number(text.slice(0, newline)));
        }
      });
      const onData = (chunk: Buffer) => parser.push(chunk);
      const fail = (why: string) => () => {
        cleanup();
        stream.destroy();
        reject(new Error(`The shell in container ${containerId.slice(0, 12)} ${why}.`));
      };
      const onEnd = fail('ended before it was ready');
      const timer = clock.setTimeout(fail(`did not answer within ${HANDSHAKE_TIMEOUT_MS / 1000} s`), HANDSHAKE_TIMEOUT_MS);
      const cleanup = () => {
        timer.cancel();
        stream.off('data', onData);
        stream.off('end', onEnd);
      };
      stream.on('data', onData);
      stream.once('end', onEnd);
      stream.write('echo $$\n');
    });
    const shell = new CommandShell(engine, clock, containerId, origin, stream, pid);
    stream.on('data', (chunk: Buffer) => shell.parser.push(chunk));
    const end = () => shell.onEnd();
    stream.once('end', end);
    stream.once('close', end);
    stream.once('error', end);
    return shell;
  }

  private get stateFile(): string {
    return this.origin.kind === 'main' ? MAIN_SHELL_STATE_FILE : commandStateFile(this.pid);
  }

  get isAlive(): boolean {
    return !this.ended;
  }

  onDidEnd(listener: () => void): void {
    this.endListeners.push(listener);
  }

  /**
   * Queues one command. `interrupt()` stops only this command: while queued it is dropped,
   * while running its processes are stopped; other commands are not disturbed.
   */
  run(options: RunOptions): CommandRun {
    let cancelledWhileQueued = false;
    let started = false;
    let dropQueued: (result: RunResult) => void = () => undefined;
    const dropped = new Promise<RunResult>((resolve) => (dropQueued = resolve));
    const ran = this.queue.then(() => {
      if (cancelledWhileQueued) return dropped;
      started = true;
      return this.runNow(options);
    });
    this.queue = ran.catch(() => undefined);
    const result = Promise.race([ran, dropped]);
    return {
      result,
      interrupt: async () => {
        if (!started) {
          cancelledWhileQueued = true;
          dropQueued({ exitCode: 130, shellEnded: false });
          return;
        }
        if (this.running?.options === options) await this.interruptRunning();
      },
    };
  }

  private runNow(options: RunOptions): Promise<RunResult> {
    if (this.ended) return Promise.resolve({ exitCode: -1, shellEnded: true });
    const nonce = randomBytes(6).toString('hex');
    this.lastNonce = nonce;
    return new Promise<RunResult>((resolve) => {
      const emit = (stream: StreamType) => (data: Buffer) => options.onOutput(stream, data);
      this.running = {
        resolve,
        options,
        stdout: new MarkerScanner(Buffer.from(`\x1eSK${nonce}:`, 'latin1'), MARKER_END, 12, emit('stdout')),
        stderr: new MarkerScanner(Buffer.from(`\x1eSK${nonce}`, 'latin1'), MARKER_END, 2, emit('stderr')),
        shellEnded: false,
        stderrDone: false,
      };
      this.stream.write(commandText(options.command, nonce, this.stateFile, options.stdoutFile));
    });
  }

  private onFrame(type: StreamType, data: Buffer): void {
    const running = this.running;
    if (!running) {
      // Output of a background job between commands, which nobody asked for; or the main
      // shell's end marker: the shell died while idle.
      if (this.origin.kind === 'main' && type === 'stdout' && data.includes(`\x1eSK${this.lastNonce}:E`)) this.dispose();
      return;
    }
    if (type === 'stdout') {
      const code = running.stdout.push(data);
      if (code !== undefined) {
        running.shellEnded = code.startsWith('E'); // the main shell ended during the command
        running.exitCode = Number(running.shellEnded ? code.slice(1) : code);
      }
    } else if (running.stderr.push(data) !== undefined) {
      running.stderrDone = true;
    }
    if (running.exitCode !== undefined && running.stderrDone) {
      this.running = undefined;
      running.resolve({ exitCode: running.exitCode, shellEnded: running.shellEnded });
      if (running.shellEnded) this.dispose();
      return;
    }
    if (running.options.isCongested?.() && running.options.waitForDrain) {
      this.stream.pause();
      void running.options.waitForDrain().then(() => this.stream.resume());
    }
  }

  private onEnd(): void {
    if (this.ended) return;
    this.ended = true;
    const running = this.running;
    this.running = undefined;
    if (running) {
      running.stdout.flush();
      running.stderr.flush();
      const exitCode = this.origin.kind === 'exec' ? this.origin.process.exitCode().then((code) => code ?? -1) : Promise.resolve(-1);
      void exitCode.catch(() => -1).then((code) => running.resolve({ exitCode: code, shellEnded: true }));
    }
    for (const listener of this.endListeners) listener();
  }

  /**
   * Stops the running command: its processes get TERM, then KILL; if the command is the
   * shell itself (a builtin loop), the shell is killed and the next command gets a new one.
   */
  private async interruptRunning(): Promise<void> {
    const running = this.running;
    if (!running) return;
    await this.runSideCommand(stopCommandScript(this.pid, this.stateFile, 'TERM'));
    await this.clock.sleep(TERM_GRACE_MS);
    if (this.running !== running) return;
    await this.runSideCommand(stopCommandScript(this.pid, this.stateFile, 'KILL'));
    await this.clock.sleep(KILL_ESCALATION_MS);
    if (this.running === running) await this.runSideCommand(`kill -KILL ${this.pid}`);
  }

  /** A separate one-off exec, so it runs even while the shell is busy. */
  private async runSideCommand(script: string): Promise<void> {
    await this.engine.runOnce(this.containerId, ['sh', '-c', script]).catch(() => undefined); // the container may be gone already: nothing left to stop
  }

  dispose(): void {
    if (!this.stream.destroyed) {
      this.stream.end();
      this.stream.destroy();
    }
    this.onEnd();
  }
}

/**
 * What is written to the shell for one command. stdin comes from /dev/null so a command that
 * reads input cannot swallow the commands after it. A command line runs through `command
 * eval`: a syntax error in a plain `eval` makes a non-interactive shell exit, while `command`
 * turns it into status 2 (POSIX; busybox ash and dash agree), with no fork for a `sh -n` check.
 */
function commandText(command: RunOptions['command'], nonce: string, stateFile: string, stdoutFile?: string): string {
  // Builtins only (no fork): note the start time, so a cancel spares older background jobs.
  const start = `read -r __sk_up __sk_idle </proc/uptime; echo "$__sk_up ${nonce}" 2>/dev/null >${stateFile}\n`;
  const markers = `__sk_rc=$?; printf '\\036SK${nonce}\\037' >&2; printf '\\036SK${nonce}:%d\\037' "$__sk_rc"\n`;
  const redirects = stdoutFile ? `</dev/null >${shellQuote(stdoutFile)}` : '</dev/null';
  if ('argv' in command) return `${start}${command.argv.map(shellQuote).join(' ')} ${redirects}\n${markers}`;
  return `${start}command eval ${shellQuote(command.line)} ${redirects}\n${markers}`;
}
