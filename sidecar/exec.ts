import { PassThrough } from 'node:stream';
import type { DockerEngine } from './docker/engine';
import type { ExecParams, ExecResult } from './protocol';
import type { Sessions } from './sessions';
import type { Workspaces } from './workspaces';
import type { Database } from './store/database';

export interface Cancellation {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => void): { dispose(): void };
}

/** Output kept per stream by the request/response exec; the rest is cut with a note. */
const MAX_CAPTURED_BYTES = 16 * 1024 * 1024;

/**
 * Runs one command in a session's container and returns its output and exit code.
 * The command runs under a tiny `sh` wrapper that records its PID, so a timeout or a
 * cancellation can kill it inside the container.
 */
export class Exec {
  constructor(
    private readonly deps: { docker: DockerEngine; sessions: Sessions; workspaces: Workspaces; db: Database },
  ) {}

  async run(params: ExecParams, cancellation?: Cancellation): Promise<ExecResult> {
    const { docker, sessions, workspaces, db } = this.deps;
    const containerId = sessions.runningContainer(params.sessionId);
    const session = sessions.get(params.sessionId);
    const started = Date.now();
    const pidFile = `/tmp/.sandkasten-exec-${process.pid}-${started}-${Math.random().toString(16).slice(2, 8)}`;
    const exec = await docker.docker.getContainer(containerId).exec({
      Cmd: ['sh', '-c', `echo $$ > ${pidFile}; exec "$@"`, 'sandkasten-exec', ...params.command],
      AttachStdout: true,
      AttachStderr: true,
      WorkingDir: '/workspace',
    });
    const stream = await exec.start({ hijack: true, stdin: false });
    const stdout = new Capture();
    const stderr = new Capture();
    const out = new PassThrough();
    const err = new PassThrough();
    out.on('data', (chunk: Buffer) => stdout.add(chunk));
    err.on('data', (chunk: Buffer) => stderr.add(chunk));
    docker.docker.modem.demuxStream(stream, out, err);

    let timedOut = false;
    const kill = () => {
      stream.destroy();
      void docker.docker
        .getContainer(containerId)
        .exec({ Cmd: ['sh', '-c', `kill -KILL $(cat ${pidFile}) 2>/dev/null; rm -f ${pidFile}`] })
        .then((killer) => killer.start({ hijack: true, stdin: false }))
        .then((killerStream) => killerStream.resume())
        .catch(() => undefined);
    };
    const timer = params.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          kill();
        }, params.timeoutMs)
      : undefined;
    const cancelled = cancellation?.onCancellationRequested(kill);
    try {
      await new Promise<void>((resolve) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', resolve);
      });
    } finally {
      if (timer) clearTimeout(timer);
      cancelled?.dispose();
    }
    const info = await exec.inspect();
    const durationMs = Date.now() - started;
    // Clean the PID file after a normal exit; a killed command's file is removed by the killer.
    if (!timedOut && !cancellation?.isCancellationRequested) {
      void docker.docker
        .getContainer(containerId)
        .exec({ Cmd: ['rm', '-f', pidFile] })
        .then((e) => e.start({ hijack: true, stdin: false }))
        .then((s) => s.resume())
        .catch(() => undefined);
    }
    workspaces.recordAccess(session.workspaceId, { commands: 1 });
    void db.commit();
    return {
      exitCode: timedOut ? 124 : (info.ExitCode ?? (cancellation?.isCancellationRequested ? 130 : -1)),
      stdout: stdout.text(),
      stderr: stderr.text(),
      durationMs,
      timedOut,
    };
  }
}

class Capture {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private dropped = 0;

  add(chunk: Buffer): void {
    if (this.size >= MAX_CAPTURED_BYTES) {
      this.dropped += chunk.length;
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  text(): string {
    const text = Buffer.concat(this.chunks).toString('utf8');
    return this.dropped > 0 ? `${text}\n[sandkasten: ${this.dropped} more bytes were dropped]\n` : text;
  }
}
