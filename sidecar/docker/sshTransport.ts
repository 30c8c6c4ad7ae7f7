import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as http from 'node:http';
import { Duplex } from 'node:stream';

/** How much of ssh's stderr we keep to explain a failure (it can print a banner first). */
const STDERR_KEEP_BYTES = 8192;

/** An `ssh://[user@]host[:port]` engine address, taken apart. */
export interface SshTarget {
  user?: string;
  host: string;
  port?: number;
}

/** Parses `ssh://…` as the docker CLI does: a path or query names nothing and is refused. */
export function parseSshHost(url: string): SshTarget | string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url}" is not an ssh:// address`;
  }
  if (parsed.protocol !== 'ssh:' || !parsed.hostname) return `"${url}" is not an ssh://[user@]host[:port] address`;
  if (parsed.password) return `"${url}" carries a password; ssh:// engines take keys (an agent or ~/.ssh/config), never a password in the address`;
  if ((parsed.pathname && parsed.pathname !== '/') || parsed.search) return `"${url}" has a path or query; an ssh:// engine address is ssh://[user@]host[:port]`;
  // ssh would read "-oProxyCommand=…" as an option: a host never starts with "-".
  if (parsed.hostname.startsWith('-') || decodeURIComponent(parsed.username).startsWith('-')) return `"${url}" is not a host name`;
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    ...(parsed.username ? { user: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.port ? { port: Number(parsed.port) } : {}),
  };
}

/**
 * The ssh command line, as the docker CLI builds it (`docker -H ssh://…`): the system's ssh,
 * so the agent, ~/.ssh/config and known_hosts apply. BatchMode: the sidecar has no terminal,
 * so a password or host-key question must fail at once instead of waiting for an answer.
 */
export function sshArguments(target: SshTarget): string[] {
  return [
    ...(target.user ? ['-l', target.user] : []),
    ...(target.port ? ['-p', String(target.port)] : []),
    '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=30',
    '-o', 'ServerAliveInterval=15',
    '-T',
    '--', target.host,
    'docker', 'system', 'dial-stdio',
  ];
}

/** ssh's complaint, as a sentence a person can act on. */
export function explainSshFailure(target: SshTarget, stderr: string, exitCode: number | null): string {
  const where = `${target.user ? `${target.user}@` : ''}${target.host}${target.port ? `:${target.port}` : ''}`;
  const text = stderr.replace(/\r/g, '');
  const lastLine = text.trim().split('\n').filter(Boolean).pop()?.slice(0, 300);
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/i.test(text)) {
    return `ssh does not know the host key of ${where} (or it changed): run \`ssh ${where}\` once in a terminal to check and accept it, then retry.`;
  }
  if (/Permission denied \(/i.test(text)) {
    return `ssh to ${where} was refused: none of your keys is accepted there (add the key to your agent with \`ssh-add\`, or name it in ~/.ssh/config).`;
  }
  if (/Could not resolve hostname/i.test(text)) return `ssh cannot resolve the host name in ${where}.`;
  if (/Connection refused/i.test(text)) return `ssh to ${where} was refused: no ssh server listens there.`;
  if (/timed out/i.test(text)) return `ssh to ${where} timed out.`;
  if (/docker: (command )?not found|command not found/i.test(text)) return `${where} has no docker command: install the Docker CLI there (ssh engines run \`docker system dial-stdio\` on the remote host).`;
  if (/Cannot connect to the Docker daemon|docker\.sock/i.test(text)) return `the Docker engine on ${where} is not running (${lastLine}).`;
  if (exitCode === null) return `the ssh connection to ${where} was cut.`;
  return `ssh to ${where} failed${lastLine ? `: ${lastLine}` : ` (exit ${exitCode})`}.`;
}

/** The failure of an ssh connection to an engine, with its sentence as the message. */
export class SshConnectionError extends Error {
  readonly code = 'ESSHFAILED';
}

/**
 * One connection to the remote engine: an ssh process running `docker system dial-stdio`,
 * its stdout and stdin seen as one socket. Node's HTTP client takes any Duplex with the few
 * socket methods it calls; those that make no sense over a pipe are no-ops.
 */
class SshStream extends Duplex {
  private stderr = '';
  private readonly child: ChildProcessWithoutNullStreams;
  private timer: NodeJS.Timeout | undefined;
  private timeoutMs = 0;

  constructor(
    private readonly target: SshTarget,
    command: string,
  ) {
    // 64 KiB reads: the ssh pipe's size; a larger highWaterMark lets a big download run ahead.
    super({ allowHalfOpen: false, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
    this.child = spawn(command, sshArguments(target), { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    this.child.stdout.on('data', (chunk: Buffer) => {
      this.activity();
      if (!this.push(chunk)) this.child.stdout.pause();
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < STDERR_KEEP_BYTES) this.stderr += chunk.toString('utf8').slice(0, STDERR_KEEP_BYTES - this.stderr.length);
    });
    this.child.stdin.on('error', () => undefined); // seen as the child's exit below
    this.child.on('error', (error) => this.destroy(new SshConnectionError(`cannot run ssh (${error.message}); install an OpenSSH client.`)));
    // The end is read from the exit, not from stdout's end: a clean exit after the remote side
    // closed is the normal end of a connection; anything else (killed, refused, dropped) is a
    // failure with ssh's own reason, which the HTTP client would otherwise see as a hang-up.
    this.child.on('close', (code) => {
      if (this.destroyed) return;
      if (code === 0) this.push(null);
      else this.destroy(new SshConnectionError(explainSshFailure(this.target, this.stderr, code)));
    });
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.activity();
    if (this.child.stdin.write(chunk)) callback();
    else this.child.stdin.once('drain', () => callback());
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this._write(Buffer.concat(chunks.map(({ chunk }) => chunk)), 'binary', callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.child.stdin.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    this.child.stdin.destroy();
    this.child.stdout.destroy();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    callback(error);
  }

  /** net.Socket's idle timeout, which the HTTP client uses for `timeout` (0 turns it off and drops `onTimeout`, as net does). */
  setTimeout(ms: number, onTimeout?: () => void): this {
    this.timeoutMs = ms;
    if (onTimeout) {
      if (ms === 0) this.removeListener('timeout', onTimeout);
      else this.once('timeout', onTimeout);
    }
    this.activity();
    return this;
  }

  private activity(): void {
    clearTimeout(this.timer);
    if (this.timeoutMs > 0) this.timer = setTimeout(() => this.emit('timeout'), this.timeoutMs).unref();
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}

/** Connections opened ahead, so a new one (each hijacked exec stream is one) needs no wait. */
const SPARE_CONNECTIONS = 2;

/**
 * An HTTP agent whose connections are ssh processes (see SshStream): handed to dockerode as
 * `agent`, so every Docker API call, the hijacked exec streams included, goes over ssh.
 * Kept-alive connections are reused, so ordinary calls do not pay for an ssh handshake; and a
 * few connections are opened ahead, because a hijacked stream (an exec, an attach) takes its
 * connection for good, and opening one costs a handshake plus starting `docker system
 * dial-stdio` on the remote host — from a hundred milliseconds to seconds. Spares are only
 * opened once the engine is in use and answered, never in a loop against a host that refuses.
 */
export class SshAgent extends http.Agent {
  private readonly spares: SshStream[] = [];
  private answered = false;

  constructor(
    private readonly target: SshTarget,
    private readonly command = 'ssh',
  ) {
    super({ keepAlive: true, keepAliveMsecs: 15_000, maxFreeSockets: 4 });
  }

  override createConnection(): Duplex {
    let connection: SshStream | undefined;
    while (!connection && this.spares.length > 0) {
      const spare = this.spares.shift()!;
      if (!spare.destroyed && !spare.readableEnded) connection = spare;
    }
    connection ??= this.open();
    connection.once('data', () => this.connectionAnswered());
    if (this.answered) this.fillSpares();
    return connection;
  }

  override destroy(): void {
    for (const spare of this.spares.splice(0)) spare.destroy();
    super.destroy();
  }

  private open(): SshStream {
    return new SshStream(this.target, this.command);
  }

  /** The remote side answered on a connection: ssh works, so opening spares is worth it. */
  private connectionAnswered(): void {
    if (this.answered) return;
    this.answered = true;
    this.fillSpares();
  }

  private fillSpares(): void {
    while (this.spares.length < SPARE_CONNECTIONS) {
      const spare = this.open();
      // A spare that fails (the host went away) is dropped; the next use opens one as usual.
      spare.on('error', () => undefined);
      spare.once('close', () => {
        const index = this.spares.indexOf(spare);
        if (index < 0) return; // taken: its end is its user's business
        this.spares.splice(index, 1);
        this.answered = false; // it died unused: wait for an answer before opening more
      });
      this.spares.push(spare);
    }
  }
}
