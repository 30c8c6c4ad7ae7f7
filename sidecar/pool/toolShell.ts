import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** What a tool may print before its status line, at most (mount and umount say a line or two). */
const MAX_OUTPUT_BYTES = 64 * 1024;
/** A tool that does not answer within this is given up on (and the shell replaced). */
const TIMEOUT_MS = 10_000;

/**
 * One long-lived `sh` that runs host tools (mount, umount) one at a time: starting a process
 * from Node costs ~4 ms on a small machine, and a hand-out of a pooled container to a used
 * workspace runs one. The shell forks the tool itself (~1 ms). Arguments are always quoted;
 * each answer ends with a status line carrying a nonce the tool cannot know. Should the shell
 * die or hang, the next call starts another.
 */
export class ToolShell {
  private shell: ChildProcessWithoutNullStreams | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  /** Runs `binary args…`; rejects with the tool's output when it exits non-zero. */
  run(binary: string, args: string[]): Promise<void> {
    return this.runAll([[binary, args]]);
  }

  /** Runs the tools one after the other, each only if the one before succeeded (`&&`), in one round trip. */
  runAll(commands: Array<[binary: string, args: string[]]>): Promise<void> {
    const result = this.queue.then(() => this.runNow(commands));
    this.queue = result.catch(() => undefined);
    return result;
  }

  dispose(): void {
    this.shell?.kill();
    this.shell = undefined;
  }

  private runNow(commands: Array<[binary: string, args: string[]]>): Promise<void> {
    const shell = this.ensureShell();
    const binary = commands.map(([tool]) => tool).join(' && ');
    const nonce = randomBytes(12).toString('hex');
    const marker = `\n${nonce}:`;
    return new Promise<void>((resolve, reject) => {
      let output = '';
      const done = (error?: Error) => {
        clearTimeout(timer);
        shell.stdout.off('data', onData);
        shell.off('exit', onExit);
        if (error) reject(error);
        else resolve();
      };
      const onData = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        const at = output.indexOf(marker);
        if (at >= 0) {
          const rest = output.slice(at + marker.length);
          const newline = rest.indexOf('\n');
          if (newline < 0) return;
          const status = Number(rest.slice(0, newline));
          const said = output.slice(0, at).trim();
          return done(status === 0 ? undefined : new Error(said || `${binary} exited with ${status}`));
        }
        if (output.length > MAX_OUTPUT_BYTES) {
          this.dispose();
          done(new Error(`${binary} printed more than ${MAX_OUTPUT_BYTES} bytes`));
        }
      };
      const onExit = () => {
        this.shell = undefined;
        done(new Error(`the tool shell ended while ${binary} ran`));
      };
      const timer = setTimeout(() => {
        this.dispose();
        done(new Error(`${binary} did not finish within ${TIMEOUT_MS / 1000} s`));
      }, TIMEOUT_MS);
      shell.stdout.on('data', onData);
      shell.once('exit', onExit);
      // stdin from /dev/null: the tool reads nothing of the commands after it.
      const line = commands.map(([tool, args]) => `${[tool, ...args].map(quote).join(' ')} </dev/null 2>&1`).join(' && ');
      shell.stdin.write(`${line}; printf '\\n%s:%s\\n' ${nonce} "$?"\n`);
    });
  }

  private ensureShell(): ChildProcessWithoutNullStreams {
    if (this.shell && this.shell.exitCode === null) return this.shell;
    const shell = spawn('/bin/sh', [], { env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
    shell.on('error', () => undefined);
    shell.stdin.on('error', () => undefined);
    shell.stderr.resume();
    // The sidecar may exit while it waits for work: it must not keep the process alive.
    shell.unref();
    (shell.stdin as unknown as { unref?: () => void }).unref?.();
    (shell.stdout as unknown as { unref?: () => void }).unref?.();
    (shell.stderr as unknown as { unref?: () => void }).unref?.();
    this.shell = shell;
    return shell;
  }
}

function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
