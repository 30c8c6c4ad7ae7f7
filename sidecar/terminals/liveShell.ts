import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Engine, ExecProcess } from '../docker/engine';

export interface TerminalSize {
  cols: number;
  rows: number;
}

/**
 * One interactive shell in a container: a Docker exec with a TTY, attached over a hijacked
 * connection. With a TTY the stream is raw (no stdout/stderr frames), exactly what a terminal
 * shows. Closing the connection does not end the process in the container (Docker keeps it),
 * so ending a shell is the owner's job (terminals.ts sends it SIGHUP).
 */
export class LiveShell {
  private readonly decoder = new StringDecoder('utf8');
  private ended = false;

  private readonly stream: Duplex;

  private constructor(private readonly process: ExecProcess) {
    this.stream = process.stream;
  }

  static async start(engine: Engine, containerId: string, command: string[], size: TerminalSize): Promise<LiveShell> {
    const process = await engine.exec(containerId, {
      command,
      tty: true,
      // The launch script changes to the saved cwd itself: a cwd that no longer exists would
      // make Docker refuse the exec instead of starting somewhere sensible.
      workingDir: '/',
      env: ['TERM=xterm-256color'],
    });
    const shell = new LiveShell(process);
    // The size follows at once (ConsoleSize needs API 1.42, older engines are common).
    await shell.resize(size).catch(() => undefined);
    return shell;
  }

  /** Decoded output as it comes; a UTF-8 character split across chunks is held until whole. */
  onOutput(listener: (text: string) => void): void {
    this.stream.on('data', (chunk: Buffer) => {
      const text = this.decoder.write(chunk);
      if (text) listener(text);
    });
  }

  /** Called once when the stream ends, whatever the cause (exit, kill, container stop). */
  onEnd(listener: () => void): void {
    const end = () => {
      if (this.ended) return;
      this.ended = true;
      listener();
    };
    this.stream.once('end', end);
    this.stream.once('close', end);
    this.stream.once('error', end);
  }

  get isAlive(): boolean {
    return !this.ended;
  }

  write(data: string): void {
    if (!this.ended) this.stream.write(data);
  }

  async resize(size: TerminalSize): Promise<void> {
    if (!this.ended) await this.process.resize(size);
  }

  /** Stops reading (back-pressure reaches the shell through the TTY) until resume(). */
  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  /** Drops the connection only; the process in the container lives until someone ends it. */
  detach(): void {
    this.stream.destroy();
  }
}
