import type { Engine } from '../docker/engine';
import { FrameParser } from '../docker/frames';
import { CommandShell } from '../exec/commandShell';
import type { Clock } from '../util/clock';

/** Idle shells kept per container for file work, and how long an unused one lives. */
const MAX_IDLE_SHELLS = 2;
const IDLE_CLOSE_MS = 60_000;
/** What is kept of a script's stderr: enough for one error sentence. */
const MAX_STDERR_BYTES = 4096;

/** The status of a script whose shell ended under it. */
export const SHELL_ENDED = -1;

/** Why a script did not finish as scripts do. */
export type ScriptFailure = 'timeout' | 'overflow' | 'shellEnded';

export class ScriptError extends Error {
  constructor(readonly failure: ScriptFailure, message: string) {
    super(message);
    this.name = 'ScriptError';
  }
}

export interface ScriptResult {
  /** The script's exit status; SHELL_ENDED when its shell ended first (the container stopped). */
  status: number;
  /** stdout, as it arrived (never more than asked). */
  stdout: Buffer[];
  stdoutBytes: number;
  stderr: string;
}

/**
 * Shells for file work in sessions' containers: each a CommandShell of its own (never the
 * session's, whose cwd and queue belong to the person's commands), kept warm between uses so
 * a small read or write costs one round trip instead of a `docker exec` (~30–50 ms). Up to
 * MAX_IDLE_SHELLS per container wait idle, closed after IDLE_CLOSE_MS unused; a shell whose
 * container stopped has ended and is dropped when next looked at.
 */
export class FileShells {
  private readonly idle = new Map<string, { shells: CommandShell[]; timer?: { cancel(): void } }>();

  constructor(
    private readonly engine: Engine,
    private readonly clock: Clock,
  ) {}

  /** Runs `work` with a shell of the container to itself; a shell that failed it is not used again. */
  async with<T>(containerId: string, work: (shell: CommandShell) => Promise<T>): Promise<T> {
    const shell = await this.take(containerId);
    try {
      const result = await work(shell);
      this.give(containerId, shell);
      return result;
    } catch (error) {
      if (error instanceof ScriptError) {
        // What the shell still does is unknown (ScriptRunner stops it): not reused.
      } else {
        this.give(containerId, shell);
      }
      throw error;
    }
  }

  private async take(containerId: string): Promise<CommandShell> {
    const entry = this.idle.get(containerId);
    for (let shell = entry?.shells.pop(); shell; shell = entry?.shells.pop()) {
      if (shell.isAlive && !shell.isBusy) return shell;
      shell.dispose();
    }
    return CommandShell.open(this.engine, this.clock, containerId, '/');
  }

  private give(containerId: string, shell: CommandShell): void {
    if (!shell.isAlive || shell.isBusy) return shell.dispose();
    const entry = this.idle.get(containerId) ?? { shells: [] };
    if (entry.shells.length >= MAX_IDLE_SHELLS) return shell.dispose();
    entry.shells.push(shell);
    entry.timer?.cancel();
    entry.timer = this.clock.setTimeout(() => this.close(containerId), IDLE_CLOSE_MS);
    this.idle.set(containerId, entry);
  }

  private close(containerId: string): void {
    const entry = this.idle.get(containerId);
    this.idle.delete(containerId);
    entry?.timer?.cancel();
    for (const shell of entry?.shells ?? []) shell.dispose();
  }

  /** Closes every idle shell (the sidecar's shutdown, tests). */
  closeAll(): void {
    for (const containerId of [...this.idle.keys()]) this.close(containerId);
  }
}

/**
 * Runs one script line in `shell`, keeping at most `maxStdoutBytes` of its stdout. A script
 * that prints more (a container may print anything) or outlives `timeoutMs` (a sandbox racing
 * a FIFO into place) is stopped — its processes interrupted, its shell closed — and fails.
 */
export function runScript(shell: CommandShell, clock: Clock, script: string, limits: { maxStdoutBytes: number; timeoutMs: number }): Promise<ScriptResult> {
  const stdout: Buffer[] = [];
  let stdoutBytes = 0;
  let stderr = '';
  return new Promise<ScriptResult>((resolve, reject) => {
    let settled = false;
    const stop = (error: ScriptError) => {
      if (settled) return;
      settled = true;
      timer.cancel();
      reject(error);
      void run.interrupt().finally(() => shell.dispose());
    };
    const run = shell.run({
      command: { line: script },
      onOutput: (stream, data) => {
        if (settled) return;
        if (stream === 'stderr') {
          if (stderr.length < MAX_STDERR_BYTES) stderr += data.toString('utf8', 0, Math.min(data.length, MAX_STDERR_BYTES));
          return;
        }
        stdoutBytes += data.length;
        if (stdoutBytes > limits.maxStdoutBytes) return stop(new ScriptError('overflow', `the container printed more than the ${limits.maxStdoutBytes} bytes asked for`));
        stdout.push(data);
      },
    });
    const timer = clock.setTimeout(() => stop(new ScriptError('timeout', `the file operation took longer than ${limits.timeoutMs / 1000} s`)), limits.timeoutMs);
    run.result.then(
      (result) => {
        if (settled) return;
        settled = true;
        timer.cancel();
        resolve({ status: result.shellEnded ? SHELL_ENDED : result.exitCode, stdout, stdoutBytes, stderr });
      },
      (error: unknown) => stop(new ScriptError('shellEnded', `its shell failed: ${(error as Error).message}`)),
    );
  });
}

/**
 * Runs `script` (`sh -c`) in a Docker exec of its own with `input` as its stdin: for bytes too
 * many to send as text through a warm shell (see INLINE_WRITE_MAX_BYTES). Its stdout is not
 * kept; stderr up to MAX_STDERR_BYTES.
 */
export async function runScriptWithInput(engine: Engine, clock: Clock, containerId: string, script: string, input: Buffer, timeoutMs: number): Promise<ScriptResult> {
  const process = await engine.exec(containerId, { command: ['sh', '-c', script], workingDir: '/' });
  let stderr = '';
  const parser = new FrameParser((stream, data) => {
    if (stream === 'stderr' && stderr.length < MAX_STDERR_BYTES) stderr += data.toString('utf8', 0, Math.min(data.length, MAX_STDERR_BYTES));
  });
  await new Promise<void>((resolve, reject) => {
    const timer = clock.setTimeout(() => {
      process.stream.destroy();
      reject(new ScriptError('timeout', `the file operation took longer than ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const done = () => (timer.cancel(), resolve());
    process.stream.on('data', (chunk: Buffer) => parser.push(chunk));
    process.stream.once('end', done);
    process.stream.once('close', done);
    process.stream.once('error', (error) => (timer.cancel(), reject(error)));
    // Ending the stream closes the command's stdin (Docker closes an exec's stdin on the client's end of input).
    process.stream.end(input);
  });
  return { status: await exitCodeOf(process.exitCode, clock), stdout: [], stdoutBytes: 0, stderr };
}

/** An exec's exit code just after its stream ended (Docker may need a moment to record it); SHELL_ENDED when it does not say. */
async function exitCodeOf(exitCode: () => Promise<number | undefined>, clock: Clock): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const code = await exitCode();
    if (code !== undefined) return code;
    await clock.sleep(10);
  }
  return SHELL_ENDED;
}
