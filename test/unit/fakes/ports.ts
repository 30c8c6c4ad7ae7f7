import { Ports } from '../../../sidecar/ports/ports';
import { SOCKET_TABLES_COMMAND } from '../../../sidecar/ports/socketTable';
import type { Logger } from '../../../sidecar/util/log';
import type { Domain } from './domain';

/** The header line of /proc/net/tcp. */
export const TCP_TABLE_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';

/** A /proc/net/tcp line: the address as the kernel writes it (little-endian hex), the state, the inode. */
export function tcpLine(n: number, local: string, state: string, inode: string): string {
  return `   ${n}: ${local} 00000000:0000 ${state} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0`;
}

/** /proc/net/tcp of a container listening on the given ports, all on 0.0.0.0. */
export function tablesWith(ports: number[]): string {
  return [TCP_TABLE_HEADER, ...ports.map((port, i) => tcpLine(i, `00000000:${port.toString(16).toUpperCase().padStart(4, '0')}`, '0A', String(1000 + port)))].join('\n');
}

/**
 * Makes every container of the fake engine answer the socket-table look with `listening` (a
 * container that is not there or not running still fails as it would), and counts the looks.
 */
export function stageListening(domain: Domain): { listening: number[]; looks: number } {
  const staged = { listening: [] as number[], looks: 0 };
  const realRunOnce = domain.engine.runOnce.bind(domain.engine);
  domain.engine.runOnce = async (id: string, command: string[]) => {
    if (command !== SOCKET_TABLES_COMMAND) return realRunOnce(id, command);
    staged.looks++;
    await realRunOnce(id, ['true']);
    return tablesWith(staged.listening);
  };
  return staged;
}

/** The Ports module over the domain, as sidecar.ts wires it. */
export function portsOf(domain: Domain, log: Logger = { info: () => undefined, error: () => undefined }): Ports {
  return new Ports({ store: domain.store, sessions: domain.sessions, engine: domain.engine, activity: domain.activity, config: domain.config, clock: domain.clock, changes: domain.changes, log });
}
