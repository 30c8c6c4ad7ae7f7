import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { runOnceWithin, type Engine, type ExecProcess } from '../docker/engine';
import { FrameParser, type StreamType } from '../docker/frames';
import type { Clock } from '../util/clock';
import { MarkerScanner } from './markers';
import { MAIN_SHELL_STATE_FILE, SESSION_CWD_FILE, SESSION_ENV_FILE, SHELL_SETUP, commandStateFile, shellQuote, stopCommandScript } from './shellText';

export interface RunOptions {
  /** A shell command line (run by `command eval`, see commandText) or an argv (quoted, always valid). */
  command: { line: string } | { argv: string[] };
  onOutput(stream: StreamType, data: Buffer): void;
  /** A file (in the container) that receives stdout instead of the shell's stream: a direct pipe. */
  stdoutFile?: string;
  /** A FIFO (in the container) the command reads its stdin from, made for it; else /dev/null. */
  stdinFifo?: string;
  /** Asked after each delivery; when true the shell's stream pauses until `waitForDrain`. */
  isCongested?(): boolean;
  waitForDrain?(): Promise<void>;
  /**
   * `session`: the session's own shell, which notes its cwd and exports after the command
   * for side-by-side commands; `side`: first takes on that cwd and those exports. Neither:
   * a clean shell.
   */
  role?: 'session' | 'side';
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
  /** The shell's working directory after the command; absent when the shell ended, or it is longer than MAX_REPORTED_CWD. */
  cwd?: string;
  /**
   * The shell's stream ended during the command with no word on how (no status, no exit
   * code): the container stopped, or the connection to the engine was cut (`error`: the
   * stream's own error, if it had one). `exitCode` is -1 then.
   */
  cut?: { error?: Error };
}

const MARKER_END = 0x1f;
/**
 * The longest cwd the end marker carries (bytes); a longer one is not reported, so the marker
 * stays short enough for its scanner (a directory name holding 0x1f only cuts it short).
 */
const MAX_REPORTED_CWD = 1024;
/** What the shell's `${#PWD}` may mean in bytes: ash counts bytes, bash characters (UTF-8: up to 4 bytes). */
const MAX_REPORTED_CWD_BYTES = 4 * MAX_REPORTED_CWD;
/** After INT (and the shell's abandon signal), how long the command's processes get before TERM. */
export const INT_GRACE_MS = 300;
/** After TERM, how long they get before KILL. */
export const TERM_GRACE_MS = 1000;
/** After KILL of the command's processes, how long before the shell itself is killed. */
export const KILL_ESCALATION_MS = 1500;
/** A shell that has not said its PID by then is given up (the caller falls back to an exec). */
const HANDSHAKE_TIMEOUT_MS = 10_000;
const MAX_HANDSHAKE_BYTES = 64;
/** How long the output relay (see moveOutput) may take to start before the command goes on without it. */
const RELAY_START_MS = 2000;
/** After the shell died, how long the relay may take to deliver what the command printed last. */
const RELAY_DRAIN_MS = 1000;
/** What a ready relay says first: a stdout frame holding one "\n". */
const RELAY_READY_FRAME = Buffer.from([1, 0, 0, 0, 0, 0, 0, 1, 0x0a]);

/**
 * Where the shell's frames come from: its own exec, or the container's main process, which
 * reports the shell's death with a marker carrying `secret` (see MAIN_PROCESS_SCRIPT).
 */
type Origin = { kind: 'exec'; process: ExecProcess } | { kind: 'main'; secret: string };

interface RunningCommand {
  resolve(result: RunResult): void;
  options: RunOptions;
  stdout: MarkerScanner;
  stderr: MarkerScanner;
  exitCode?: number;
  stderrDone: boolean;
  cwd?: string;
}

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
  private running: RunningCommand | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Commands running or waiting their turn. */
  private commandsInHand = 0;
  /** This shell noted the session's state (see commandText) before its first session command. */
  private sessionNoted = false;
  /** A directory to enter before the next command (see enterBeforeNextCommand). */
  private enterFirst: string | undefined;

  /**
   * The next command starts with a `cd` into `directory`, in the same round trip: a pooled
   * container's main shell sits in the empty volume that a used workspace's replaced.
   */
  enterBeforeNextCommand(directory: string): void {
    this.enterFirst = directory;
  }
  private ended = false;
  private readonly endListeners: Array<() => void> = [];
  /** The main shell's death marker, looked for in all stdout, during a command or between commands. */
  private readonly deathScanner: MarkerScanner | undefined;
  /** Where output goes that is not a command's: background jobs of earlier ones (see SessionLogs). */
  onStrayOutput: ((stream: StreamType, data: Buffer) => void) | undefined;
  /**
   * Where commands' output arrives: the shell's own stream, or the relay it moved its output
   * to (see moveOutput). Frames of any other stream are background jobs'.
   */
  private output: Duplex;
  /** Relays this shell moved its output to, the current one last; each is read until it ends. */
  private readonly relays: Duplex[] = [];
  /** The last command left background jobs that hold the current output (see moveOutput). */
  private outputHeldByJobs = false;

  private constructor(
    private readonly engine: Engine,
    private readonly clock: Clock,
    private readonly containerId: string,
    private readonly origin: Origin,
    private readonly stream: Duplex,
    readonly pid: number,
  ) {
    this.output = stream;
    this.parser = new FrameParser((type, data) => (this.output === this.stream ? this.onFrame(type, data) : this.onJobOutput(type, data)));
    if (origin.kind === 'main') {
      // Output that is not the death marker belongs to the running command, or to a background job.
      this.deathScanner = new MarkerScanner(Buffer.from(`\x1eSK${origin.secret}:E`, 'latin1'), MARKER_END, 12, (data) =>
        this.running && this.output === this.stream ? this.running.options.onOutput('stdout', data) : this.onStrayOutput?.('stdout', data),
      );
    }
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
      ready: () => CommandShell.handshake(engine, clock, containerId, { kind: 'main', secret: randomBytes(12).toString('hex') }, stream),
      abandon: () => stream.destroy(),
    };
  }

  /**
   * Sets the shell up (SHELL_SETUP; the main process first reads its secret) and asks for its
   * PID (needed to stop a command's processes later): the first line it prints.
   */
  private static async handshake(engine: Engine, clock: Clock, containerId: string, origin: Origin, stream: Duplex): Promise<CommandShell> {
    const pid = await new Promise<number>((resolve, reject) => {
      let text = '';
      const parser = new FrameParser((type, data) => {
        if (type !== 'stdout') return; // e.g. "can't fork" of a sandbox out of processes
        text += data.toString('latin1');
        const newline = text.indexOf('\n');
        // The first line is a PID; an image's `sh` that says something else is not a shell we can drive.
        if (newline < 0 && text.length > MAX_HANDSHAKE_BYTES) return fail('did not say its PID')();
        if (newline >= 0) {
          const pid = Number(text.slice(0, newline));
          if (!Number.isInteger(pid) || pid <= 0) return fail('did not say its PID')();
          cleanup();
          resolve(pid);
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
      stream.write(`${origin.kind === 'main' ? `#${origin.secret}\n` : ''}${SHELL_SETUP}echo $$\n`);
    });
    const shell = new CommandShell(engine, clock, containerId, origin, stream, pid);
    stream.on('data', (chunk: Buffer) => shell.parser.push(chunk));
    stream.once('end', () => shell.onEnd({}));
    stream.once('close', () => shell.onEnd({}));
    stream.once('error', (error: Error) => shell.onEnd({ error }));
    return shell;
  }

  private get stateFile(): string {
    return this.origin.kind === 'main' ? MAIN_SHELL_STATE_FILE : commandStateFile(this.pid);
  }

  get isAlive(): boolean {
    return !this.ended;
  }

  /** A command runs or waits its turn: a new one would have to wait. */
  get isBusy(): boolean {
    return this.commandsInHand > 0;
  }

  onDidEnd(listener: () => void): void {
    this.endListeners.push(listener);
  }

  /**
   * Queues one command. `interrupt()` stops only this command: while queued it is dropped,
   * while running its processes are stopped; other commands are not disturbed.
   */
  run(options: RunOptions): CommandRun {
    this.commandsInHand++;
    let cancelledBeforeWritten = false;
    let started = false;
    let dropQueued: (result: RunResult) => void = () => undefined;
    const dropped = new Promise<RunResult>((resolve) => (dropQueued = resolve));
    const ran = this.queue.then(() => {
      if (cancelledBeforeWritten) return dropped;
      started = true;
      return this.runNow(options, () => cancelledBeforeWritten);
    });
    this.queue = ran.catch(() => undefined);
    const result = Promise.race([ran, dropped]);
    void result.finally(() => this.commandsInHand--).catch(() => undefined);
    return {
      result,
      interrupt: async () => {
        if (!started) {
          cancelledBeforeWritten = true;
          dropQueued({ exitCode: 130, shellEnded: false });
          return;
        }
        // Not written to the shell yet (its output is being moved): it will not be.
        if (this.running?.options !== options) cancelledBeforeWritten = true;
        else await this.interruptRunning();
      },
    };
  }

  private async runNow(options: RunOptions, cancelled: () => boolean): Promise<RunResult> {
    if (this.outputHeldByJobs && !this.ended) await this.moveOutput();
    if (this.ended) return { exitCode: -1, shellEnded: true };
    if (cancelled()) return { exitCode: 130, shellEnded: false };
    const nonce = randomBytes(12).toString('hex');
    return new Promise<RunResult>((resolve) => {
      // stdout passes the death scanner (main shell, while it prints on its own stream) after the command's own marker scanner.
      const stdout = (data: Buffer) => {
        if (!this.deathScanner || this.output !== this.stream) return options.onOutput('stdout', data);
        const deathStatus = this.deathScanner.push(data);
        if (deathStatus !== undefined) this.shellDied(Number(deathStatus));
      };
      this.running = {
        resolve,
        options,
        stdout: new MarkerScanner(Buffer.from(`\x1eSK${nonce}:`, 'latin1'), MARKER_END, 12, stdout),
        stderr: new MarkerScanner(Buffer.from(`\x1eSK${nonce}`, 'latin1'), MARKER_END, MAX_REPORTED_CWD_BYTES + 2, (data) => options.onOutput('stderr', data)),
        stderrDone: false,
      };
      const firstInShell = options.role === 'session' && !this.sessionNoted;
      if (options.role === 'session') this.sessionNoted = true;
      const enter = this.enterFirst;
      this.enterFirst = undefined;
      this.stream.write(commandText(options.command, nonce, this.stateFile, { ...options, firstInShell, enter }));
    });
  }

  /** A frame of the stream commands' output arrives on. */
  private onFrame(type: StreamType, data: Buffer): void {
    const running = this.running;
    if (!running) return this.onJobOutput(type, data);
    if (type === 'stdout') {
      const code = running.stdout.push(data);
      if (this.running !== running) return; // the shell died during the command
      if (code !== undefined) {
        // "j": the command started background jobs, which may write to this output later.
        // Only ever digits and the flag (see commandText); anything else would be a bug, not a status.
        const parsed = /^(\d{1,3})(j?)$/.exec(code);
        if (parsed?.[2]) this.outputHeldByJobs = true;
        running.exitCode = parsed ? Number(parsed[1]) : 255;
        if (this.output === this.stream) this.deathScanner?.flush(); // bytes held back as a possible marker were the command's output
      }
    } else {
      // The stderr marker carries the shell's cwd after the command (bytes, as latin1).
      const cwd = running.stderr.push(data);
      if (cwd !== undefined) {
        running.stderrDone = true;
        running.cwd = cwd === '' ? undefined : Buffer.from(cwd, 'latin1').toString('utf8');
      }
    }
    if (running.exitCode !== undefined && running.stderrDone) {
      this.running = undefined;
      running.resolve({ exitCode: running.exitCode, shellEnded: false, cwd: running.cwd });
      return;
    }
    if (running.options.isCongested?.() && running.options.waitForDrain) {
      const output = this.output;
      output.pause();
      void running.options.waitForDrain().then(() => output.resume());
    }
  }

  /**
   * Output that is not the running command's: a background job's, or on the main shell's
   * own stream its death marker (during a command, its status is the command's).
   */
  private onJobOutput(type: StreamType, data: Buffer, stream: Duplex = this.stream): void {
    if (type === 'stdout' && this.deathScanner && stream === this.stream) {
      const status = this.deathScanner.push(data);
      if (status === undefined) return;
      if (this.running) this.shellDied(Number(status));
      else this.dispose();
      return;
    }
    this.onStrayOutput?.(type, data);
  }

  /**
   * A background job holds the fds the shell prints on, and writes into whatever command
   * runs next. So before that next command the shell moves its own stdout and stderr (and
   * the marker fds) to FIFOs that a relay, a Docker exec of two `cat`s, copies to a new
   * stream; from then on everything on the old stream is the job's and goes to the session
   * log. Costs one exec, and only after a command that started jobs. If the relay cannot
   * start, the shell keeps its output (the job's bytes may then mix into later commands').
   */
  private async moveOutput(): Promise<void> {
    this.outputHeldByJobs = false;
    const fifo = `/dev/shm/.sandkasten-output-${this.pid}-${randomBytes(6).toString('hex')}`;
    // Ready only once both readers run: the shell's open of a FIFO blocks until its reader opens it.
    const script = `umask 077; mkfifo ${fifo}.1 ${fifo}.2 || exit 1; a=; cat ${fifo}.1 & a=$!; b=$a; cat ${fifo}.2 >&2 & b=$!; [ -n "$a" ] && [ "$a" != "$b" ] && kill -0 $a $b 2>/dev/null || exit 1; echo; wait`;
    let relay: Duplex;
    let firstBytes: Buffer;
    try {
      // A sandbox out of processes (a fork bomb) cannot start one: the command runs at once without it.
      const starting = this.engine.exec(this.containerId, { command: ['sh', '-c', script], workingDir: '/' });
      let timer: { cancel(): void } | undefined;
      const late = new Promise<undefined>((resolve) => (timer = this.clock.setTimeout(() => resolve(undefined), RELAY_START_MS)));
      const started = await Promise.race([starting, late]).finally(() => timer?.cancel());
      if (!started) {
        void starting.then((process) => process.stream.destroy(), () => undefined);
        return;
      }
      relay = started.stream;
      firstBytes = await this.relayReady(relay);
    } catch {
      return;
    }
    if (this.ended) return void relay.destroy();
    const parser = new FrameParser((type, data) => (this.output === relay ? this.onFrame(type, data) : this.onJobOutput(type, data, relay)));
    parser.push(firstBytes);
    relay.on('data', (chunk: Buffer) => parser.push(chunk));
    relay.resume();
    relay.once('end', () => relay.destroy());
    relay.on('error', () => relay.destroy());
    relay.once('close', () => {
      const at = this.relays.indexOf(relay);
      if (at >= 0) this.relays.splice(at, 1);
    });
    this.relays.push(relay);
    this.output = relay;
    this.stream.write(moveOutputScript(fifo));
  }

  /** The relay prints an empty line once both its readers run; resolves, paused, with what came after it. */
  private relayReady(relay: Duplex): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const fail = () => (cleanup(), relay.destroy(), reject(new Error('The output relay did not start.')));
      const timer = this.clock.setTimeout(fail, RELAY_START_MS);
      let header = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        header = Buffer.concat([header, chunk]);
        // One stdout frame of one byte (8 bytes of header: type 1, size 1) and the "\n".
        if (header.length < 9) return;
        cleanup();
        if (!header.subarray(0, 9).equals(RELAY_READY_FRAME)) return fail();
        resolve(header.subarray(9));
      };
      const cleanup = () => {
        relay.pause();
        timer.cancel();
        relay.off('data', onData);
        relay.off('end', fail);
        relay.off('error', fail);
      };
      relay.on('data', onData);
      relay.once('end', fail);
      relay.once('error', fail);
    });
  }

  /**
   * The main process reported the shell's end during a command (e.g. `exit 3`): its status
   * is the result. When the shell's output went through a relay, what the command printed
   * last may still be on its way (the death report takes the other stream): the result waits
   * for the relay to end — it does once the dead shell's FIFO ends close — or RELAY_DRAIN_MS.
   */
  private shellDied(status: number): void {
    const running = this.running;
    if (!running) return;
    const finish = () => {
      if (this.running !== running) return;
      this.running = undefined;
      running.stdout.flush();
      running.stderr.flush();
      running.resolve({ exitCode: status, shellEnded: true });
      this.dispose();
    };
    const relay = this.output !== this.stream ? this.output : undefined;
    if (!relay || relay.destroyed) return finish();
    const timer = this.clock.setTimeout(finish, RELAY_DRAIN_MS);
    relay.once('close', () => {
      timer.cancel();
      finish();
    });
  }

  /** The shell is gone: its stream ended (`streamEnd`, with its error if any), or it was disposed of. */
  private onEnd(streamEnd?: { error?: Error }): void {
    if (this.ended) return;
    this.ended = true;
    const running = this.running;
    this.running = undefined;
    if (running) {
      running.stdout.flush();
      this.deathScanner?.flush();
      running.stderr.flush();
      // A main shell's death is reported by its PID 1 (see shellDied): an end without it is a cut, as is an exec's without an exit code.
      const exitCode = this.origin.kind === 'exec' ? this.origin.process.exitCode().catch(() => undefined) : Promise.resolve(undefined);
      void exitCode.then((code) =>
        running.resolve({ exitCode: code ?? -1, shellEnded: true, ...(code === undefined && streamEnd ? { cut: { error: streamEnd.error } } : {}) }),
      );
    }
    for (const listener of this.endListeners) listener();
  }

  /**
   * Stops the running command as Ctrl-C would: the shell abandons the rest of the line and
   * the command's processes get INT, then TERM, then KILL; a shell that still does not
   * answer (its abandon trap replaced, or the shell itself stuck) is killed, and the next
   * command gets a new one.
   */
  private async interruptRunning(): Promise<void> {
    const running = this.running;
    if (!running) return;
    const steps: Array<{ script: string; graceMs: number }> = [
      { script: stopCommandScript(this.pid, this.stateFile, 'INT', true), graceMs: INT_GRACE_MS },
      { script: stopCommandScript(this.pid, this.stateFile, 'TERM'), graceMs: TERM_GRACE_MS },
      { script: stopCommandScript(this.pid, this.stateFile, 'KILL'), graceMs: KILL_ESCALATION_MS },
      { script: `kill -KILL ${this.pid}`, graceMs: 0 },
    ];
    for (const step of steps) {
      if (this.running !== running) return;
      await this.runSideCommand(step.script);
      if (step.graceMs > 0) await this.clock.sleep(step.graceMs);
    }
  }

  /** Sends `signal` to the running command's processes, as they are (no escalation). */
  async signalCommand(signal: 'INT' | 'TERM' | 'KILL'): Promise<void> {
    if (this.running) await this.runSideCommand(stopCommandScript(this.pid, this.stateFile, signal));
  }

  /** A separate one-off exec, so it runs even while the shell is busy. */
  private async runSideCommand(script: string): Promise<void> {
    // The container may be gone already (nothing left to stop), or stuck: the caller escalates.
    await runOnceWithin(this.engine, this.clock, this.containerId, ['sh', '-c', script], { maxBytes: 64 * 1024, timeoutMs: HANDSHAKE_TIMEOUT_MS }).catch(() => undefined);
  }

  dispose(): void {
    if (!this.stream.destroyed) {
      this.stream.end();
      this.stream.destroy();
    }
    for (const relay of this.relays) relay.destroy();
    this.onEnd();
  }
}

/**
 * Moves the shell's output to the relay's FIFOs `<fifo>.1` and `.2`. Every fd a command can
 * name (1 to 7) that prints on the old stream (fds 8 and 9 are its stdout and stderr) moves
 * to the FIFO of the stream it printed on, and nothing else, so what a command set up on
 * purpose lasts: `exec 2>&1` stays merged, `exec 2>/dev/null` stays quiet, a stderr saved
 * with `exec 7>&2` comes back to the new stream. `command exec`: a failed redirection must
 * not end the shell (POSIX special built-in); nothing here is redirected as a whole, or the
 * shell would put the old fds back after it.
 */
function moveOutputScript(fifo: string): string {
  const move = (fd: number) =>
    `if [ /proc/$$/fd/${fd} -ef /proc/$$/fd/8 ]; then \\command exec ${fd}>|${fifo}.1; elif [ /proc/$$/fd/${fd} -ef /proc/$$/fd/9 ]; then \\command exec ${fd}>|${fifo}.2; fi`;
  return `${[1, 2, 3, 4, 5, 6, 7].map(move).join('\n')}\n\\command exec 8>|${fifo}.1 9>|${fifo}.2 || :\n\\command rm -f ${fifo}.1 ${fifo}.2\n`;
}

/**
 * What is written to the shell for one command. The prelude notes the start time (builtins
 * only, no fork; `>|` works under `set -C`; `\command` gets past aliases and functions of
 * the same name). The line runs inside `__sk_run` (see SHELL_SETUP) with stdin from
 * /dev/null, so a command that reads input cannot swallow the commands after it, and with
 * fds 8 and 9 closed. `command eval` turns a syntax error into status 2 instead of ending a
 * non-interactive shell (POSIX; busybox ash and dash agree). The epilogue, untraced, prints
 * the markers on the saved fds: the nonce exists only in this text and the shell's memory.
 */
function commandText(
  command: RunOptions['command'],
  nonce: string,
  stateFile: string,
  options: Pick<RunOptions, 'stdoutFile' | 'stdinFifo' | 'role'> & { firstInShell: boolean; enter?: string },
): string {
  const { stdoutFile, stdinFifo, role } = options;
  // The session's shell notes where it is before its first command and after each, so a side
  // shell or a background process takes on the session's cwd and exports as they were when
  // the running command started, or are now (a new session shell replaces what an ended one noted).
  // The cwd first, then the environment with an end line: a reader that finds the end line
  // read a whole file (a side command may start while the session's shell rewrites them).
  const noteSession = ` \\command printf '%s\\n' "$PWD" >|${SESSION_CWD_FILE}; { \\export -p; \\command echo __sk_noted=1; } >|${SESSION_ENV_FILE};`;
  // A side command runs in a subshell that takes that on, so nothing it or an earlier side
  // command changed lasts in the side shell; a half-written note is read again (10 ms, at
  // most 20 times). A missing file must not end the shell.
  const takeOnSession =
    ` __sk_n=0; while \\command test -r ${SESSION_ENV_FILE}; do __sk_noted=; . ${SESSION_ENV_FILE}; IFS= \\command read -r __sk_cwd <${SESSION_CWD_FILE};` +
    ` [ "$__sk_noted" = 1 ] && [ -n "$__sk_cwd" ] && break; __sk_n=$((__sk_n + 1)); [ "$__sk_n" -ge 20 ] && break; sleep 0.01; done;` +
    ` [ -n "\${__sk_cwd-}" ] && \\command cd -- "$__sk_cwd";`;
  const notedFirst = role === 'session' && options.firstInShell ? noteSession : '';
  // The start time and the last background job so far: a cancel spares what started before.
  const enter = options.enter ? ` \\command cd -- ${shellQuote(options.enter)};` : '';
  const start = `{${enter}${notedFirst} IFS=' ' \\command read -r __sk_up __sk_idle </proc/uptime; __sk_bg=\${!:-0}; \\command echo "$__sk_up $__sk_bg" >|${stateFile}; } 2>/dev/null\n`;
  const line = 'argv' in command ? command.argv.map(shellQuote).join(' ') : command.line;
  // A stdin FIFO is made here if the writer has not made it yet (whoever comes first), and removed after.
  const stdin = stdinFifo ? `<${shellQuote(stdinFifo)}` : '</dev/null';
  const redirects = stdoutFile ? `${stdin} >${shellQuote(stdoutFile)}` : stdin;
  const makeFifo = stdinFifo ? `{ mkfifo -m 600 ${shellQuote(stdinFifo)} || :; } 2>/dev/null; ` : '';
  const invoke = `__sk_run 8>&- 9>&- ${redirects}`;
  // Did the command start a background job (it may print later, into the next command's
  // output: see moveOutput)? A side command runs in a subshell, which leaves a note.
  const jobsNote = `/dev/shm/.sandkasten-jobs-$$`;
  const sideCommand = `( {${takeOnSession} } 2>/dev/null; ${invoke}; { __sk_s=$?; case \${!:-0} in "$__sk_bg") ;; *) : >|${jobsNote};; esac; } 2>/dev/null; exit $__sk_s )`;
  const run = `${makeFifo}__sk_line=${shellQuote(line)}; ${role === 'side' ? sideCommand : invoke}\n`;
  const startedJobs =
    role === 'side' ? ` if [ -e ${jobsNote} ]; then \\command rm -f ${jobsNote}; __sk_rc=\${__sk_rc}j; fi;` : ` case \${!:-0} in "$__sk_bg") ;; *) __sk_rc=\${__sk_rc}j;; esac;`;
  // Where the shell is now, for the result; a side command's cd ended with its subshell.
  const reportCwd = role === 'side' ? '__sk_c=;' : `{ \\command test \${#PWD} -le ${MAX_REPORTED_CWD} && __sk_c=$PWD || __sk_c=; } 2>/dev/null;`;
  const end =
    `{ __sk_rc=$?; case \${__sk_ab-} in [0-9]|[0-9][0-9]|[0-9][0-9][0-9]) __sk_rc=$__sk_ab;; esac; __sk_ab=; case $- in *x*) __sk_x='set -x; ';; *) __sk_x=;; esac; set +x;${role === 'session' ? noteSession : ''} ${startedJobs} } 2>/dev/null; ` +
    `${stdinFifo ? `\\command rm -f ${shellQuote(stdinFifo)}; ` : ''}${reportCwd} ` +
    `\\command printf '\\036SK${nonce}%s\\037' "$__sk_c" >&9; \\command printf '\\036SK${nonce}:%s\\037' "$__sk_rc" >&8\n`;
  return start + run + end;
}
