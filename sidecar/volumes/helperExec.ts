import type { Readable, Writable } from 'node:stream';
import type { Engine } from '../docker/engine';
import { FrameParser } from '../docker/frames';
import type { Clock } from '../util/clock';

/** What a script said on stderr is kept up to this many bytes (its last ones): enough for tar's reasons. */
const MAX_STDERR_BYTES = 8 * 1024;
/** After the stream ended, how long Docker may take to record the exec's exit code. */
const EXIT_CODE_WAIT_MS = 5000;
const EXIT_CODE_POLL_MS = 10;

export interface HelperExecResult {
  /** The script's exit status. */
  status: number;
  /** The end of what it printed on stderr, as text. */
  stderr: string;
}

/**
 * Runs `script` with `sh -c` in a running helper container through a Docker exec, so the
 * bytes travel through the engine's API (a remote engine too). stdin is fed from `input`
 * (or closed at once) and stdout goes into `output` (or is dropped), both with
 * back-pressure: a slow disk pauses the container's output, a slow container pauses the
 * reading of `input`. Resolves once the script ended; an abort through `signal` rejects at
 * once with its reason (the caller removes the container, which ends the script).
 */
export async function runInHelper(
  engine: Engine,
  clock: Clock,
  containerId: string,
  script: string,
  io: { input?: Readable; output?: Writable; signal?: AbortSignal },
): Promise<HelperExecResult> {
  const { input, output, signal } = io;
  signal?.throwIfAborted();
  const process = await engine.exec(containerId, { command: ['sh', '-c', script], workingDir: '/' });
  const { stream } = process;
  const stderr = new Tail(MAX_STDERR_BYTES);
  let waitingForDrain = false;
  const parser = new FrameParser((type, data) => {
    if (type === 'stderr') return stderr.push(data);
    if (!output || output.destroyed) return;
    if (!output.write(data) && !waitingForDrain) {
      waitingForDrain = true;
      stream.pause();
      output.once('drain', () => {
        waitingForDrain = false;
        stream.resume();
      });
    }
  });
  // A failed stream is not yet a failure: a script that exits early (tar refusing its input)
  // closes the connection under the write still going on; its status tells what happened.
  const streamError = await new Promise<Error | undefined>((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | undefined, aborted?: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (aborted !== undefined) reject(aborted);
      else resolve(error);
    };
    const onAbort = () => {
      stream.destroy();
      input?.destroy();
      settle(undefined, signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('data', (chunk: Buffer) => parser.push(chunk));
    stream.once('end', () => settle(undefined));
    stream.once('close', () => settle(undefined));
    stream.once('error', (error: Error) => settle(error));
    if (input) {
      input.once('error', (error: Error) => {
        stream.destroy();
        settle(undefined, error);
      });
      // pipe ends the stream after the last byte, which closes the exec's stdin (Docker
      // passes on the half-close).
      input.pipe(stream);
    } else {
      stream.end();
    }
  });
  input?.unpipe(stream);
  const status = await exitCodeOf(process.exitCode, clock, signal);
  if (status === undefined) throw streamError ?? new Error(`The archive helper's command in container ${containerId.slice(0, 12)} did not report how it ended.`);
  return { status, stderr: stderr.text() };
}

/** An exec's exit code just after its stream ended: Docker may need a moment to record it. */
async function exitCodeOf(exitCode: () => Promise<number | undefined>, clock: Clock, signal?: AbortSignal): Promise<number | undefined> {
  for (let waited = 0; waited <= EXIT_CODE_WAIT_MS; waited += EXIT_CODE_POLL_MS) {
    signal?.throwIfAborted();
    const code = await exitCode();
    if (code !== undefined) return code;
    await clock.sleep(EXIT_CODE_POLL_MS);
  }
  return undefined;
}

/** The last `limit` bytes pushed, as text. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(data: Buffer): void {
    this.chunks.push(Buffer.from(data));
    this.size += data.length;
    while (this.size - this.chunks[0].length >= this.limit) this.size -= this.chunks.shift()!.length;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/**
 * The last line a helper printed on stderr, as plain short text: tar's words, with names
 * from the volume in them (a sandbox's to choose), so control characters go.
 */
export function lastLineOf(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').trim()).filter(Boolean);
  const last = lines.at(-1) ?? '';
  return last.length > 300 ? `${last.slice(0, 300)}…` : last;
}
