/**
 * What listens inside a container, from its own socket tables (/proc/net/tcp and tcp6, the
 * kernel's — or gVisor's — view of its network namespace) and, for new ports, which process
 * holds each socket (/proc/PID/fd links to `socket:[INODE]`). Both are read by one short
 * command in the container (any image with a POSIX shell, `cat` and `ls`); everything it
 * prints is the container's to choose, so the parsers here take only well-formed lines, cap
 * what they keep and clean what they show.
 */
import { MAX_LISTED_PORTS } from '../client/portProtocol';

/** A look may take this long inside the container; then its command is killed there (the sidecar's own limit is longer). */
const LOOK_SECONDS = 4;

/**
 * Runs `command` in the background and kills it after LOOK_SECONDS, so a look that hangs (a
 * frozen or broken container, a `cat` replaced by something else) leaves nothing running.
 * The watchdog's output goes nowhere: the exec ends with the command, not with the watchdog.
 */
function withDeadline(command: string): string {
  return `${command} & p=$!; (sleep ${LOOK_SECONDS}; kill -9 $p) >/dev/null 2>&1 & w=$!; wait $p; kill $w 2>/dev/null; exit 0`;
}

/** Prints the TCP socket tables (IPv4, then IPv6). */
export const SOCKET_TABLES_COMMAND = ['sh', '-c', withDeadline('cat /proc/net/tcp /proc/net/tcp6 2>/dev/null')];

/**
 * Prints `PID INODE` for each socket of every process the command may look at (its own
 * user's unless it runs as root), then `PID comm NAME` for each such process.
 */
export const SOCKET_OWNERS_COMMAND = [
  'sh',
  '-c',
  withDeadline(
    [
      '(for d in /proc/[0-9]*; do',
      '  q=${d#/proc/}; s=$(ls -l "$d/fd" 2>/dev/null | sed -n "s/.*socket:\\[\\([0-9]*\\)\\].*/\\1/p");',
      '  [ -n "$s" ] || continue;',
      '  for i in $s; do echo "$q $i"; done;',
      '  echo "$q comm $(head -c 64 "$d/comm" 2>/dev/null)";',
      'done)',
    ].join(' '),
  ),
];

/** A socket listening inside the container. */
export interface ListeningSocket {
  port: number;
  /** `127.0.0.1`, `0.0.0.0`, `::`, `::1` or another address of the container. */
  address: string;
  inode: string;
}

const LISTEN = '0A';
/** Docker's embedded DNS server listens in every container on a user-defined network, at a random port: not the sandbox's. */
const DOCKER_DNS_ADDRESS = '127.0.0.11';

/**
 * The listening sockets in the text of /proc/net/tcp and tcp6: one per port (a wildcard
 * address wins over a specific one), lowest port first, at most MAX_LISTED_PORTS.
 */
export function parseListeningSockets(text: string): ListeningSocket[] {
  const byPort = new Map<number, ListeningSocket>();
  for (const line of text.split('\n')) {
    // "  sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid  timeout inode"
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10 || !/^\d+:$/.test(fields[0]) || fields[3] !== LISTEN) continue;
    const local = /^([0-9A-F]{8}|[0-9A-F]{32}):([0-9A-F]{4})$/.exec(fields[1]);
    const inode = fields[9];
    if (!local || !/^\d{1,20}$/.test(inode)) continue;
    const port = parseInt(local[2], 16);
    if (port === 0) continue;
    const address = local[1].length === 8 ? ipv4(local[1]) : ipv6(local[1]);
    if (address === DOCKER_DNS_ADDRESS) continue;
    const known = byPort.get(port);
    if (!known || (isWildcard(address) && !isWildcard(known.address))) byPort.set(port, { port, address, inode });
  }
  return [...byPort.values()].sort((a, b) => a.port - b.port).slice(0, MAX_LISTED_PORTS);
}

/** `PID INODE` and `PID comm NAME` lines → the process name holding each socket inode. */
export function parseSocketOwners(text: string, inodes: ReadonlySet<string>): Map<string, string> {
  const names = new Map<string, string>();
  const pidOfInode = new Map<string, string>();
  for (const line of text.split('\n')) {
    const comm = /^(\d{1,10}) comm (.*)$/.exec(line);
    if (comm) {
      names.set(comm[1], cleanProcessName(comm[2]));
      continue;
    }
    const socket = /^(\d{1,10}) (\d{1,20})$/.exec(line);
    if (socket && inodes.has(socket[2]) && !pidOfInode.has(socket[2])) pidOfInode.set(socket[2], socket[1]);
  }
  const owners = new Map<string, string>();
  for (const [inode, pid] of pidOfInode) {
    const name = names.get(pid);
    if (name) owners.set(inode, name);
  }
  return owners;
}

/** A process name as shown to people: printable, one line, at most 32 characters. */
export function cleanProcessName(raw: string): string {
  return raw
    .replace(/[^\x20-\x7e]/g, '')
    .trim()
    .slice(0, 32);
}

export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/** /proc/net/tcp writes an IPv4 address as one 32-bit word in host (little-endian) order. */
function ipv4(hex: string): string {
  const bytes = Buffer.from(hex, 'hex');
  return [bytes[3], bytes[2], bytes[1], bytes[0]].join('.');
}

/** …and an IPv6 address as four such words. */
function ipv6(hex: string): string {
  const words: string[] = [];
  for (let i = 0; i < 32; i += 8) {
    const word = Buffer.from(hex.slice(i, i + 8), 'hex').reverse();
    words.push(word.subarray(0, 2).toString('hex'), word.subarray(2, 4).toString('hex'));
  }
  const full = words.map((w) => w.replace(/^0+(?=.)/, '')).join(':');
  if (full === '0:0:0:0:0:0:0:0') return '::';
  if (full === '0:0:0:0:0:0:0:1') return '::1';
  const mapped = /^0:0:0:0:0:ffff:([0-9a-f]+):([0-9a-f]+)$/.exec(full);
  if (mapped) {
    const n = (parseInt(mapped[1], 16) << 16) | parseInt(mapped[2], 16);
    return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  }
  return full;
}
