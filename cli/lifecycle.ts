/**
 * How the CLI ends, as a Unix tool should. It never dies of a closed pipe: a write error on
 * stdout or stderr (EPIPE once the reader went away) is an event, not a crash. It writes out
 * everything it was given before it exits: stdout and stderr to a pipe are asynchronous, so
 * process.exit() right after a write drops whatever the pipe had not taken yet (64 KiB of a
 * larger output). And SIGINT, SIGTERM, SIGHUP or a closed output pipe interrupt what runs
 * (an exec is cancelled in the container, like Ctrl-C), after which the CLI exits with the
 * code a shell gives a command ended by that signal: 128 + the signal's number.
 */

/**
 * The exit code after each interruption. A closed output pipe (EPIPE) counts as SIGPIPE, which
 * Node ignores; any other failed write (a full disk) as a plain failure.
 */
export const INTERRUPTION_EXIT_CODES = { SIGHUP: 129, SIGINT: 130, SIGPIPE: 141, SIGTERM: 143, OUTPUT_FAILED: 1 } as const;
export type Interruption = keyof typeof INTERRUPTION_EXIT_CODES;

const INTERRUPTING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type InterruptingSignal = (typeof INTERRUPTING_SIGNALS)[number];

/** A signal someone sent, as opposed to an output that closed. */
export function isSignal(interruption: Interruption | undefined): interruption is InterruptingSignal {
  return (INTERRUPTING_SIGNALS as readonly string[]).includes(interruption ?? '');
}

/** When an interruption ends the CLI at once, what is still buffered gets this long to reach its reader. */
const INTERRUPTED_FLUSH_LIMIT_MS = 1_000;

export interface InterruptHandler {
  /** Called once, for the first interruption; a second one ends the CLI at once. */
  onInterrupt: (interruption: Interruption) => void;
  /** How long to wait for the interrupted work to wind down before leaving without it. */
  graceMs?: number;
}

export class CliLifecycle {
  /** The first interruption; once set, it decides the exit code. */
  interruption: Interruption | undefined;
  private handler: InterruptHandler | undefined;
  private exiting = false;
  /**
   * stdout or stderr once a write failed. Node never really destroys these two (`destroyed`
   * stays false, each later write fails again), so the CLI keeps count itself.
   */
  private readonly closedOutputs = new Set<NodeJS.WriteStream>();

  /** Installs the stream and signal handlers; call once, before anything is written. */
  install(): this {
    for (const stream of [process.stdout, process.stderr]) {
      stream.on('error', (error: NodeJS.ErrnoException) => {
        if (this.closedOutputs.has(stream)) return;
        this.closedOutputs.add(stream);
        if (error.code === 'EPIPE') return this.interrupt('SIGPIPE');
        const name = stream === process.stdout ? 'stdout' : 'stderr';
        if (!this.closedOutputs.has(process.stderr)) process.stderr.write(`sandkasten: writing to ${name} failed: ${error.message}\n`);
        this.interrupt('OUTPUT_FAILED');
      });
    }
    for (const signal of INTERRUPTING_SIGNALS) process.on(signal, () => this.interrupt(signal));
    return this;
  }

  /**
   * Lets `handler` deal with an interruption while `work` runs (instead of exiting at once).
   * Without a handler, an interruption ends the CLI directly.
   */
  async whileRunning<T>(handler: InterruptHandler, work: () => Promise<T>): Promise<T> {
    this.handler = handler;
    try {
      return await work();
    } finally {
      this.handler = undefined;
    }
  }

  /** True once a write to `stream` failed: its reader went away. */
  isClosed(stream: NodeJS.WriteStream): boolean {
    return this.closedOutputs.has(stream);
  }

  /**
   * Writes one chunk of output to stdout or stderr; while that is behind, `source` (the
   * socket the output comes from) is not read, which back-pressures the sender. A closed
   * output takes nothing more.
   */
  writeHoldingBack(target: NodeJS.WriteStream, data: Uint8Array, source: { pause(): unknown; resume(): unknown; isPaused(): boolean }): void {
    if (this.isClosed(target)) return;
    if (target.write(data) || source.isPaused()) return;
    source.pause();
    const resume = () => {
      for (const event of ['drain', 'error', 'close']) target.off(event, resume);
      source.resume();
    };
    for (const event of ['drain', 'error', 'close']) target.on(event, resume);
  }

  /** `code`, unless an interruption came first: then that interruption's code. */
  exitCode(code: number): number {
    return this.interruption ? INTERRUPTION_EXIT_CODES[this.interruption] : code;
  }

  /**
   * Exits once stdout and stderr have handed everything to the system (waiting, like any
   * Unix tool, for a slow reader), or after `flushLimitMs`. Exiting explicitly then means no
   * leftover handle can keep the process alive.
   */
  async exit(code: number, flushLimitMs?: number): Promise<void> {
    if (this.exiting) return;
    this.exiting = true;
    process.exitCode = this.exitCode(code);
    const flushed = Promise.all([process.stdout, process.stderr].map((stream) => (this.isClosed(stream) ? undefined : flush(stream))));
    if (flushLimitMs === undefined) await flushed;
    else await Promise.race([flushed, new Promise((resolve) => setTimeout(resolve, flushLimitMs).unref())]);
    // A failed write reports its error a tick later (on a file, after an already "flushed" write).
    await new Promise((resolve) => setImmediate(resolve));
    // A closed pipe found while flushing changes the code: the output did not all arrive.
    process.exit(this.exitCode(code));
  }

  private interrupt(interruption: Interruption): void {
    // A closed output after another interruption (or the other output closed) adds nothing.
    const signal = isSignal(interruption);
    if (!signal && this.interruption !== undefined) return;
    if (this.exiting) {
      // Flushing: a closed output ends its flush by itself; a signal means stop waiting.
      this.interruption ??= interruption;
      if (signal) process.exit(this.exitCode(1));
      return;
    }
    const first = this.interruption === undefined;
    this.interruption ??= interruption;
    const handler = this.handler;
    if (first && handler) {
      handler.onInterrupt(interruption);
      if (handler.graceMs !== undefined) setTimeout(() => void this.exit(1, INTERRUPTED_FLUSH_LIMIT_MS), handler.graceMs).unref();
      return;
    }
    void this.exit(1, INTERRUPTED_FLUSH_LIMIT_MS);
  }
}

/** Resolves once the stream has handed all it was given to the system, or can take no more. */
function flush(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('error', () => resolve());
    stream.once('close', () => resolve());
    // Writes complete in order: the callback of an empty write comes after all earlier ones.
    stream.write('', () => resolve());
  });
}
