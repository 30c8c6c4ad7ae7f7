import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type Docker from 'dockerode';
import { FrameParser } from '../docker/frames';

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

  private constructor(
    private readonly exec: Docker.Exec,
    private readonly stream: Duplex,
  ) {}

  static async start(docker: Docker, containerId: string, command: string[], size: TerminalSize): Promise<LiveShell> {
    const exec = await docker.getContainer(containerId).exec({
      Cmd: command,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: true,
      // The launch script changes to the saved cwd itself: a cwd that no longer exists would
      // make Docker refuse the exec instead of starting somewhere sensible.
      WorkingDir: '/',
      Env: ['TERM=xterm-256color'],
    });
    // `Tty` here too: Docker decides on it whether to frame the stream. The size follows at
    // once (ConsoleSize needs API 1.42, older engines are common).
    const stream = (await exec.start({ hijack: true, stdin: true, Tty: true })) as Duplex;
    const shell = new LiveShell(exec, stream);
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
    if (!this.ended) await this.exec.resize({ h: size.rows, w: size.cols });
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

/** Runs a short non-interactive command in a container and returns what it printed on stdout. */
export async function runInContainer(docker: Docker, containerId: string, command: string[]): Promise<string> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
  const stream = (await exec.start({ hijack: true, stdin: false })) as Duplex;
  const chunks: Buffer[] = [];
  const parser = new FrameParser((type, data) => {
    if (type === 'stdout') chunks.push(Buffer.from(data));
  });
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => parser.push(chunk));
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', reject);
  });
  return Buffer.concat(chunks).toString('utf8');
}
