/**
 * Helpers of the ports suite: a test image with node (busybox plus this machine's node binary
 * and the libraries it links), the servers the suite runs in a sandbox, and small clients of
 * a forward on this machine (HTTP, a raw TCP exchange, "is anything listening here").
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { acceptsConnections } from '../support/localPorts';
import { exec, P, TEST_IMAGE, type SidecarClient } from './harness';

export { freePort } from '../support/localPorts';

export const NODE_IMAGE = 'sandkasten-test/node:latest';

/**
 * Builds NODE_IMAGE unless Docker has it: the test image plus this machine's node at /bin/node
 * (the image's /usr/bin is a link to /bin) and, at their own paths, the shared libraries and
 * the dynamic loader `ldd` lists for it. Nothing is pulled; the build runs once per machine.
 */
export function ensureNodeImage(): void {
  if (spawnSync('docker', ['image', 'inspect', NODE_IMAGE], { stdio: 'ignore' }).status !== 0) {
    const context = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-node-image-'));
    try {
      const node = fs.realpathSync(process.execPath);
      const libraries = execFileSync('ldd', [node], { encoding: 'utf8' })
        .split('\n')
        .map((line) => /(\/\S+) \(0x/.exec(line)?.[1])
        .filter((library): library is string => library !== undefined);
      for (const [source, target] of [[node, '/bin/node'], ...libraries.map((library) => [library, library])]) {
        const copy = path.join(context, 'root', target);
        fs.mkdirSync(path.dirname(copy), { recursive: true });
        fs.copyFileSync(fs.realpathSync(source), copy);
        fs.chmodSync(copy, 0o755);
      }
      fs.writeFileSync(path.join(context, 'Dockerfile'), `FROM ${TEST_IMAGE}\nCOPY root/ /\n`);
      execFileSync('docker', ['build', '--quiet', '--tag', NODE_IMAGE, context], { stdio: 'pipe' });
    } finally {
      fs.rmSync(context, { recursive: true, force: true });
    }
  }
  const check = spawnSync('docker', ['run', '--rm', NODE_IMAGE, 'node', '-e', 'process.stdout.write(String(1 + 1))'], { encoding: 'utf8' });
  if (check.stdout !== '2') {
    spawnSync('docker', ['image', 'rm', NODE_IMAGE], { stdio: 'ignore' });
    throw new Error(`node does not run in ${NODE_IMAGE} (removed it; the next run builds it again): ${check.stderr}`);
  }
}

/**
 * The servers a sandbox runs for the suite, for the node in NODE_IMAGE (no npm inside):
 * 8090 a WebSocket echo written by hand ("close, please" makes the server close with 4000),
 * 8091 counts the bytes it gets until the client's end and then answers with the count and
 * where the connection came from (the relay connects from the container's loopback), 8092
 * says bye and ends its side at once, then writes what still comes to /tmp/after-bye.log,
 * 8093 an echo on the container's loopback only.
 */
export const NODE_SERVERS = String.raw`
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');

// 8090: a WebSocket echo (RFC 6455 by hand: handshake, unmasking, fragments, ping, close).
const web = http.createServer((req, res) => res.end('websocket server\n'));
web.on('upgrade', (req, socket) => {
  const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' + accept + '\r\n\r\n');
  let buffered = Buffer.alloc(0);
  let fragments = [];
  let fragmentOpcode = 0;
  let closeSent = false;
  const send = (opcode, payload) => {
    const length = payload.length;
    const header = length < 126 ? Buffer.from([0x80 | opcode, length]) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    if (length >= 126) {
      header[0] = 0x80 | opcode;
      header[1] = length < 65536 ? 126 : 127;
      if (length < 65536) header.writeUInt16BE(length, 2);
      else header.writeBigUInt64BE(BigInt(length), 2);
    }
    socket.write(Buffer.concat([header, payload]));
  };
  const sendClose = (code, reason) => {
    const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
    payload.writeUInt16BE(code, 0);
    payload.write(reason, 2);
    send(8, payload);
    closeSent = true;
  };
  const onFrame = (fin, opcode, payload) => {
    if (opcode === 8) {
      // The client's close: answer with the same code (unless this side asked), then end.
      if (!closeSent) send(8, payload);
      socket.end();
      return;
    }
    if (opcode === 9) return send(10, payload);
    if (opcode === 0) fragments.push(payload);
    else if (opcode === 1 || opcode === 2) {
      fragmentOpcode = opcode;
      fragments = [payload];
    } else return;
    if (!fin) return;
    const message = Buffer.concat(fragments);
    fragments = [];
    if (fragmentOpcode === 1 && message.toString() === 'close, please') sendClose(4000, 'server says bye');
    else send(fragmentOpcode, message);
  };
  socket.on('data', (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      if (buffered.length < 2) return;
      let length = buffered[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffered.length < 4) return;
        length = buffered.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffered.length < 10) return;
        length = Number(buffered.readBigUInt64BE(2));
        offset = 10;
      }
      const masked = (buffered[1] & 0x80) !== 0;
      const mask = offset;
      if (masked) offset += 4;
      if (buffered.length < offset + length) return;
      const payload = Buffer.from(buffered.subarray(offset, offset + length));
      if (masked) for (let i = 0; i < length; i++) payload[i] ^= buffered[mask + (i & 3)];
      const first = buffered[0];
      buffered = buffered.subarray(offset + length);
      onFrame((first & 0x80) !== 0, first & 0x0f, payload);
    }
  });
  socket.on('error', () => undefined);
});
web.listen(8090);

// 8091: counts what it receives until the client's end, then answers with the count and the
// address the connection came from, and ends.
net
  .createServer({ allowHalfOpen: true }, (socket) => {
    let received = 0;
    socket.on('data', (chunk) => (received += chunk.length));
    socket.on('end', () => socket.end('received ' + received + ' from ' + socket.remoteAddress + '\n'));
    socket.on('error', () => undefined);
  })
  .listen(8091);

// 8092: says bye and ends its side at once; what the client sends after that goes to a file.
net
  .createServer({ allowHalfOpen: true }, (socket) => {
    const chunks = [];
    socket.end('bye\n');
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => fs.appendFileSync('/tmp/after-bye.log', Buffer.concat(chunks)));
    socket.on('error', () => undefined);
  })
  .listen(8092);

// 8093, on the container's loopback only: an echo (reachable from outside only through a relay).
net
  .createServer({ allowHalfOpen: true }, (socket) => {
    socket.pipe(socket);
    socket.on('error', () => undefined);
  })
  .listen(8093, '127.0.0.1');
`;

/** Listening in the sandbox by then (what `startServers` starts), with each one's process name. */
export const SERVER_PORTS: Record<number, string> = { 8080: 'httpd', 8090: 'node', 8091: 'node', 8092: 'node', 8093: 'node', 9099: 'nc' };
export const PAGE = 'hello from httpd\n';
export const BIG_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Starts, in a session of NODE_IMAGE: busybox httpd on 8080 serving PAGE and a 64 MiB random
 * file, busybox's `nc` as an echo server on 9099 (`-ll`: a new `cat` for each connection),
 * and NODE_SERVERS.
 * Returns the sha256 of the big file as the container computes it.
 */
export async function startServers(client: SidecarClient, sessionId: string): Promise<string> {
  const script = Buffer.from(NODE_SERVERS).toString('base64');
  const started = await exec(client, sessionId, [
    'sh',
    '-c',
    [
      'set -e; mkdir -p /tmp/www',
      `echo '${PAGE.trim()}' > /tmp/www/index.html`,
      `head -c ${BIG_FILE_BYTES} /dev/urandom > /tmp/www/big.bin`,
      `echo ${script} | base64 -d > /tmp/servers.js`,
      '(httpd -p 8080 -h /tmp/www &)',
      '(nc -ll -p 9099 -e cat &)',
      '(node /tmp/servers.js > /tmp/servers.log 2>&1 &)',
      'sha256sum /tmp/www/big.bin',
    ].join('\n'),
  ]);
  if (started.exitCode !== 0) throw new Error(`starting the servers failed: ${started.stderr}`);
  return started.stdout.split(' ')[0];
}

export function listPorts(client: SidecarClient, sessionId: string, scan = true): Promise<P.PortInfo[]> {
  return client.request(P.ListPortsRequest.type, { sessionId, scan });
}

export function forwardPort(client: SidecarClient, params: P.ForwardPortParams): Promise<P.PortInfo> {
  return client.request(P.ForwardPortRequest.type, params);
}

export function stopForwarding(client: SidecarClient, sessionId: string, port: number): Promise<P.PortInfo> {
  return client.request(P.StopForwardingRequest.type, { sessionId, port });
}

/** What a list says of the ports, without what changes by itself (times, connection counts). */
export function portsSnapshot(ports: P.PortInfo[]): unknown[] {
  return ports.map(({ port, listening, process, label, forward }) => ({ port, listening, process, label, local: forward && `${forward.localAddress}:${forward.localPort}` }));
}

/** A GET on a new connection (no keep-alive), its body as text. */
export function httpGet(url: string, agent: http.Agent | false = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

/** The sha256 and length of what a GET returns, streamed (nothing kept in memory). */
export function httpDigest(url: string, onFirstChunk?: (response: http.IncomingMessage) => Promise<void>): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (response) => {
        const hash = createHash('sha256');
        let bytes = 0;
        let first = true;
        response.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          bytes += chunk.length;
          if (first && onFirstChunk) {
            first = false;
            response.pause();
            onFirstChunk(response).then(() => response.resume(), reject);
          }
        });
        response.on('end', () => resolve({ sha256: hash.digest('hex'), bytes }));
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

/** A TCP connection to 127.0.0.1:port that may half-close (it stays open after the server's end). */
export function connectTo(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Everything a socket receives until the other side's end. */
export function readToEnd(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
  });
}

/** How a connection ended from this side's view: the other side's end (FIN) or a reset. */
export function ending(socket: net.Socket): Promise<'end' | 'reset'> {
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve('end'));
    socket.once('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve('reset') : reject(error)));
  });
}

/** True when nothing listens on 127.0.0.1:port (the connection is refused). */
export async function refuses(port: number): Promise<boolean> {
  return !(await acceptsConnections(port));
}

/** A server on 127.0.0.1 on a free port, to hold a local port taken. */
export function listenAnywhere(): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** The command lines of the processes in a session's container (read from /proc: Debian's minimal image has no `ps`). */
export async function processesIn(client: SidecarClient, sessionId: string): Promise<string[]> {
  const result = await exec(client, sessionId, ['sh', '-c', 'for d in /proc/[0-9]*; do tr "\\0" " " < "$d/cmdline" 2>/dev/null && echo; done']);
  return result.stdout.split('\n').map((line) => line.trim()).filter(Boolean);
}

/** A process's resident memory in MiB (from /proc). */
export function residentMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}
