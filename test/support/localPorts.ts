/** Ports of this machine, for tests of anything that listens (forwards, code-server, the API). */
import * as net from 'node:net';

/** A port nothing listens on right now on 127.0.0.1 (the kernel's choice, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Whether something listens on 127.0.0.1:port now: a connection is accepted, or accepted and
 * reset at once (a forward whose relay has nowhere to go) — refused is the only "no".
 */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') resolve(false);
      else if (error.code === 'ECONNRESET') resolve(true);
      else reject(error);
    });
  });
}
