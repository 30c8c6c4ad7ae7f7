import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Engine } from '../docker/engine';
import { FrameParser } from '../docker/frames';

/**
 * The two ways a forwarded connection reaches a port inside a container. Neither needs a
 * published Docker port or the host network:
 * - direct: a TCP connection from this machine to the container's address on its bridge
 *   network. The fastest; only for a local engine, a container with an address, and a
 *   server listening on every address (not only on the container's loopback).
 * - exec: a relay process in the container (`docker exec` of perl, python3, node, nc or
 *   bash, whichever the image has) connects to the port from inside and copies bytes both
 *   ways over the exec's stream. Works on any engine and network, `none` included.
 */
export type Transport = 'direct' | 'exec';

/** What is kept of a relay's error output (for the log): a container chooses what it prints. */
const RELAY_STDERR_BYTES = 2048;
/** A direct connection that neither connects nor fails by then falls back to the relay. */
export const DIRECT_CONNECT_TIMEOUT_MS = 2000;

/**
 * Finds the relay tool an image has, once per session: prints the first name that exists.
 * `command -v` is POSIX sh; each later relay is then one exec of that tool.
 */
export const RELAY_TOOL_COMMAND = ['sh', '-c', 'for t in perl python3 node nc bash; do command -v "$t" >/dev/null 2>&1 && { echo "$t"; exit 0; }; done; echo none'];
export type RelayTool = 'perl' | 'python3' | 'node' | 'nc' | 'bash';
/**
 * Best first: perl and python3 keep both halves of a connection apart (a server that
 * half-closes still gets what the client sends after); node's and busybox `nc` end when the
 * server ends its side; bash cannot half-close at all.
 */
export const RELAY_TOOLS: readonly RelayTool[] = ['perl', 'python3', 'node', 'nc', 'bash'];

/**
 * The argv that connects to host:port inside the container and copies stdin to the socket
 * (then half-closes it) and the socket to stdout. Host and port are passed as arguments,
 * never spliced into code.
 */
export function relayCommand(tool: RelayTool, host: string, port: number): string[] {
  const p = String(port);
  switch (tool) {
    case 'nc':
      return ['nc', host, p];
    case 'perl':
      return [
        'perl',
        '-e',
        'use IO::Socket::INET; my $s = IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => $ARGV[1], Proto => "tcp") or die "connect: $!\\n";' +
          ' sub copy { my ($i, $o) = @_; my $b; while (my $n = sysread($i, $b, 65536)) { my $w = 0; while ($w < $n) { my $k = syswrite($o, $b, $n - $w, $w); return unless defined $k; $w += $k } } }' +
          ' my $pid = fork; die "fork: $!\\n" unless defined $pid; if ($pid) { copy(\\*STDIN, $s); shutdown($s, 1); waitpid($pid, 0) } else { copy($s, \\*STDOUT); exit 0 }',
        host,
        p,
      ];
    case 'python3':
      return [
        'python3',
        '-c',
        'import os, socket, sys, threading\n' +
          's = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n' +
          'def up():\n' +
          '    while True:\n' +
          '        b = os.read(0, 65536)\n' +
          '        if not b: break\n' +
          '        s.sendall(b)\n' +
          '    s.shutdown(socket.SHUT_WR)\n' +
          'threading.Thread(target=up, daemon=True).start()\n' +
          'out = os.fdopen(1, "wb", buffering=0)\n' +
          'while True:\n' +
          '    b = s.recv(65536)\n' +
          '    if not b: break\n' +
          '    out.write(b)\n',
        host,
        p,
      ];
    case 'node':
      return [
        'node',
        '-e',
        'const s = require("net").connect(Number(process.argv[2]), process.argv[1]); process.stdin.pipe(s); s.pipe(process.stdout); s.on("error", (e) => { console.error(e.message); process.exit(1); });',
        host,
        p,
      ];
    case 'bash':
      // No half-close in bash: the request side just ends; fine for request/response protocols.
      return ['bash', '-c', 'exec 3<>"/dev/tcp/$0/$1" || exit 1; cat <&3 & cat >&3; wait', host, p];
  }
}

export function isRelayTool(name: string): name is RelayTool {
  return (RELAY_TOOLS as readonly string[]).includes(name);
}

/** Opens a TCP connection to host:port, or fails within DIRECT_CONNECT_TIMEOUT_MS. */
export function connectDirect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: true });
    const timer = setTimeout(() => socket.destroy(new Error(`no answer from ${host}:${port} within ${DIRECT_CONNECT_TIMEOUT_MS / 1000} s`)), DIRECT_CONNECT_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Copies both ways between two sockets, with back-pressure and half-close; either's error ends both. */
export function spliceSockets(local: net.Socket, remote: net.Socket, onClose: () => void): void {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    local.destroy();
    remote.destroy();
    onClose();
  };
  local.pipe(remote);
  remote.pipe(local);
  local.on('error', close);
  remote.on('error', close);
  local.on('close', close);
  remote.on('close', close);
  // Both halves ended: nothing more will come either way.
  let ends = 0;
  const ended = () => {
    if (++ends === 2) close();
  };
  local.on('end', ended);
  remote.on('end', ended);
}

/**
 * Relays a local connection through a process in the container: the socket's bytes go to
 * the relay's stdin (its end half-closes the container's connection), the relay's stdout
 * frames come back with back-pressure (the exec stream pauses while the local socket's
 * buffer is full). A relay that fails before sending anything (no server, no tool) resets
 * the local connection and reports what it said.
 */
export async function spliceThroughExec(
  engine: Engine,
  containerId: string,
  command: string[],
  local: net.Socket,
  onClose: (relayError?: string) => void,
): Promise<void> {
  const relay = await engine.exec(containerId, { command });
  const stream: Duplex = relay.stream;
  if (local.destroyed) {
    // The forward closed (or the client left) while the exec started: end the relay at once.
    stream.destroy();
    onClose();
    return;
  }
  let sentBytes = 0;
  let stderr = '';
  let closed = false;
  const close = (reset: boolean) => {
    if (closed) return;
    closed = true;
    stream.destroy();
    if (reset) local.resetAndDestroy();
    else local.destroy();
    onClose(stderr.trim() || undefined);
  };
  const parser = new FrameParser((kind, data) => {
    if (kind === 'stderr') {
      if (stderr.length < RELAY_STDERR_BYTES) stderr += data.subarray(0, RELAY_STDERR_BYTES - stderr.length).toString('utf8');
      return;
    }
    sentBytes += data.length;
    if (!local.write(data)) stream.pause();
  });
  local.on('drain', () => stream.resume());
  stream.on('data', (chunk: Buffer) => parser.push(chunk));
  stream.on('end', () => {
    if (sentBytes === 0 && stderr) close(true);
    else local.end(); // what the server sent is all there; the local side may still be sending
  });
  stream.on('error', () => close(true));
  stream.on('close', () => {
    if (local.writableEnded) return; // ended cleanly above; the local side closes when it is done
    close(true);
  });
  local.pipe(stream);
  local.on('error', () => close(true));
  local.on('close', () => close(false));
}
