import * as net from 'node:net';
import { PORT_AUTO_FORWARD_DEFAULTS, type PortAutoForward } from '../client/configSchema';
import type { ForwardPortParams, PortInfo, SessionInfo } from '../client/protocol';
import type { ConfigStore } from '../config';
import { runOnceWithin, type Engine } from '../docker/engine';
import { conflict, exists, invalidInput, notFound } from '../errors';
import type { Activity } from '../lifecycle/activity';
import type { Sessions } from '../sessions';
import type { Store } from '../store/store';
import type { Changes } from '../util/changes';
import { isoTime, type Clock } from '../util/clock';
import { KeyedLock } from '../util/keyedLock';
import type { Logger } from '../util/log';
import { Repeating } from '../util/repeating';
import { PortForward } from './portForward';
import { isRelayTool, RELAY_TOOL_COMMAND, type RelayTool } from './portRelay';
import { parseListeningSockets, parseSocketOwners, SOCKET_OWNERS_COMMAND, SOCKET_TABLES_COMMAND, type ListeningSocket } from './socketTable';

/** A session counts as in use (and is looked at on schedule) this long after its last use. */
const IN_USE_FOR_MS = 10 * 60_000;
/** Sessions looked at at once: each look is one short exec. */
const SCAN_CONCURRENCY = 4;
const SCAN_TIMEOUT_MS = 5000;
/** What a socket table or owner listing may be at most: /proc/net/tcp lists every socket (~150 bytes each), so ~25,000 of them. */
const SCAN_MAX_BYTES = 4 * 1024 * 1024;
/** After a look that failed (timed out, too much output), the scheduled looks at that session wait this long, doubling to BACKOFF_MAX_MS. */
const BACKOFF_FIRST_MS = 30_000;
const BACKOFF_MAX_MS = 5 * 60_000;
const MAX_LABEL_LENGTH = 64;
/** Ports of one session forwarded without asking; more only get offered (a container may open hundreds). */
const MAX_AUTO_FORWARDS_PER_SESSION = 16;
/** Ports of one session announced at all (forwarded or offered); more are only listed. */
const MAX_NOTICES_PER_SESSION = 16;
/** Also refused in labels: C1 controls and the marks that reorder text. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
/**
 * Ports of services people run on their own machines (databases, caches, debuggers, Docker,
 * secret stores, model servers): a sandbox's server on one of these is forwarded to another
 * local number unless someone asks for that number, so it never stands in for the host's own.
 */
const SERVICE_PORTS = new Set([
  1433, 1521, 2375, 2376, 2379, 3306, 5432, 5672, 5984, 6379, 6443, 7687, 8200, 8500, 9042, 9092, 9200, 9229, 9300, 11211, 11434, 15672, 27017, 28015,
]);

export interface PortsDependencies {
  store: Store;
  sessions: Sessions;
  engine: Engine;
  activity: Activity;
  config: ConfigStore;
  clock: Clock;
  changes: Changes;
  log: Logger;
}

/** A port seen listening in a session. */
interface DetectedPort extends ListeningSocket {
  process?: string;
  detectedAt: number;
  notice?: 'forwarded' | 'offer';
}

/** What the sidecar knows of one running session's ports (in memory; rebuilt by the next look). */
interface SessionPorts {
  listening: Map<number, DetectedPort>;
  /** Ports ever seen in this session during this run: a server that restarts is not news. */
  seen: Set<number>;
  /** Socket inode → process name, for sockets already looked up. */
  owners: Map<string, string>;
  /** The first look after the sidecar started, for a session started before: what it finds was there already. */
  firstLookIsOld: boolean;
  /** Ports announced (forwarded or offered) so far. */
  notices: number;
  /** Scheduled looks skip the session until then, after failed looks (a broken or hostile container). */
  backoffUntil?: number;
  failedLooks: number;
  scanning?: Promise<void>;
  relayTool?: Promise<RelayTool | undefined>;
  /** The container's addresses, asked once per container (a connection that cannot use them asks again). */
  addresses?: { containerId: string; addresses: Promise<string[]> };
}

/**
 * Ports of sessions: what listens inside each running session (looked at on schedule while
 * the session is in use, and when asked) and forwards to this machine (see PortForward).
 * Forwards are recorded, so they come back after a restart of the sidecar while their
 * session runs; they go when the session stops.
 */
export class Ports {
  private readonly sessionsPorts = new Map<string, SessionPorts>();
  private readonly forwards = new Map<string, PortForward>();
  private readonly locks = new KeyedLock();
  private readonly scanner: Repeating;
  private readonly startedAt: number;
  private stopped = false;
  /** Sessions the lifecycle froze (kept in step with the store on every sessions change: read per chunk of traffic). */
  private frozen = new Set<string>();
  private started: Promise<void> | undefined;

  constructor(private readonly deps: PortsDependencies) {
    this.startedAt = deps.clock.now();
    this.scanner = new Repeating(deps.clock, () => Math.max(1, deps.config.current['ports.scanSeconds']) * 1000, () => this.scanSessionsInUse());
    deps.changes.onSessionEnded((sessionId) => void this.sessionEnded(sessionId));
    deps.config.onDidChange(() => this.scanner.reschedule());
    deps.changes.subscribe((areas) => {
      if (areas.includes('sessions')) this.frozen = new Set(deps.store.sessions.listLive().filter((s) => s.state === 'paused' && s.frozenAt).map((s) => s.id));
    });
  }

  /**
   * A forward someone asked for, or one in use lately, keeps the sidecar up (a browser may use
   * it with no window open); one made by itself and left unused does not.
   */
  get active(): boolean {
    const now = this.deps.clock.now();
    for (const forward of this.forwards.values()) if (!forward.auto || now - forward.lastUsedAt < IN_USE_FOR_MS) return true;
    return false;
  }

  /** Brings back the recorded forwards of running sessions, drops those of the others, and starts looking (once). */
  start(): Promise<void> {
    // Once; again after a failure (reconciliation retries), which skips the forwards already open.
    this.started ??= this.restore().catch((error) => {
      this.started = undefined;
      throw error;
    });
    return this.started;
  }

  private async restore(): Promise<void> {
    const { store, log } = this.deps;
    const live = new Set(store.sessions.listLive().map((session) => session.id));
    let dropped = false; // or moved: something to commit
    for (const row of store.ports.list()) {
      if (!live.has(row.session_id)) {
        store.ports.clear(row.session_id);
        dropped = true;
        continue;
      }
      if (row.local_port === null) continue;
      const { session_id: sessionId, port, local_port: localPort } = row;
      await this.locks
        .run(sessionId, async () => {
          // Asked for again meanwhile (the sidecar answers before it restores), or the session ended meanwhile.
          if (this.forwards.has(forwardKey(sessionId, port)) || !this.isLive(sessionId)) return;
          const { forward, warning } = await this.open(sessionId, port, { localPort, preferred: true, auto: row.auto === 1, since: row.forwarded_at ?? this.deps.clock.now() });
          this.forwards.set(forwardKey(sessionId, port), forward);
          if (forward.localPort !== localPort) {
            log.info(warning ?? `port ${port} of session ${sessionId} moved to local port ${forward.localPort}`);
            store.ports.setForward(sessionId, port, { localPort: forward.localPort, auto: row.auto === 1, at: forward.since });
            dropped = true;
          }
        })
        .catch((error) => log.error(`restoring the forward of port ${port} of session ${sessionId} failed`, error));
    }
    if (dropped) await store.commit();
    this.deps.changes.emit('ports');
    this.scanner.start();
  }

  private isLive(sessionId: string): boolean {
    const state = this.deps.store.sessions.get(sessionId)?.state;
    return state === 'running' || state === 'paused';
  }

  /** Closes every forward (at shutdown; the records stay for the next start). */
  stop(): void {
    this.stopped = true;
    this.scanner.stop();
    for (const forward of this.forwards.values()) forward.close();
    this.forwards.clear();
  }

  async list(sessionId: string | undefined, scan = false): Promise<PortInfo[]> {
    const sessions = sessionId === undefined ? this.deps.store.sessions.listLive() : [this.deps.sessions.get(sessionId)];
    if (scan) {
      await runLimited(
        sessions.filter((session) => this.canLook(session)),
        SCAN_CONCURRENCY,
        (session) => this.scan(session),
      );
    }
    return sessions.flatMap((session) => this.portsOf(session));
  }

  async forward(params: ForwardPortParams, auto = false): Promise<PortInfo> {
    const { sessionId, port } = params;
    const localPort = params.localPort ?? 0;
    if (localPort > 65535) throw invalidInput(`"localPort" must be a port number from 1 to 65535 (or 0: the same as the port when free).`);
    const label = params.label === undefined ? undefined : checkLabel(params.label);
    // Someone's forward is a use (a frozen session thaws); the sidecar's own (auto) is not.
    if (!auto) await this.deps.sessions.ready(sessionId);
    this.deps.sessions.running(sessionId); // Conflict with how to go on when it does not run
    return this.locks.run(sessionId, async () => {
      const session = this.deps.sessions.running(sessionId);
      const key = forwardKey(sessionId, port);
      const current = this.forwards.get(key);
      let warning: string | undefined;
      if (!current || (localPort !== 0 && current.localPort !== localPort)) {
        // A port nobody asked for never takes a well-known service's number here (a host database started later, its clients).
        const wanted = localPort || (auto && !mayTakeSameNumber(port) ? 0 : port);
        const opened = await this.open(sessionId, port, { localPort: wanted, preferred: localPort === 0, auto, since: this.deps.clock.now() });
        warning = opened.warning;
        try {
          this.deps.store.ports.setForward(sessionId, port, { localPort: opened.forward.localPort, auto, at: opened.forward.since });
          if (label !== undefined) this.deps.store.ports.setLabel(sessionId, port, label || null);
          await this.deps.store.commit();
        } catch (error) {
          // Not recorded, so not forwarded: the old forward (if any) stays as it was.
          opened.forward.close();
          throw error;
        }
        current?.close();
        this.forwards.set(key, opened.forward);
        this.deps.log.info(`forwarding port ${port} of session ${sessionId} to ${opened.forward.address}:${opened.forward.localPort}`);
      } else if (label !== undefined) {
        this.deps.store.ports.setLabel(sessionId, port, label || null);
        await this.deps.store.commit();
      }
      this.deps.changes.emit('ports');
      const info = this.portsOf(session).find((p) => p.port === port)!;
      return warning ? { ...info, warning } : info;
    });
  }

  async stopForwarding(sessionId: string, port: number): Promise<PortInfo> {
    const session = this.deps.sessions.get(sessionId);
    return this.locks.run(sessionId, async () => {
      const key = forwardKey(sessionId, port);
      const forward = this.forwards.get(key);
      if (!forward) throw notFound(`Port ${port} of session "${sessionId}" is not forwarded. List its ports with \`sandkasten port list ${sessionId}\`.`);
      this.deps.store.ports.setForward(sessionId, port, null);
      await this.deps.store.commit();
      this.forwards.delete(key);
      forward.close();
      this.deps.log.info(`stopped forwarding port ${port} of session ${sessionId}`);
      this.deps.changes.emit('ports');
      return this.portsOf(session).find((p) => p.port === port) ?? { sessionId, workspaceId: session.workspaceId, port, listening: false };
    });
  }

  async setLabel(sessionId: string, port: number, rawLabel: string): Promise<PortInfo> {
    const label = checkLabel(rawLabel);
    const session = await this.deps.sessions.ready(sessionId);
    return this.locks.run(sessionId, async () => {
      this.deps.store.ports.setLabel(sessionId, port, label || null);
      await this.deps.store.commit();
      this.deps.changes.emit('ports');
      return this.portsOf(session).find((p) => p.port === port) ?? { sessionId, workspaceId: session.workspaceId, port, listening: false };
    });
  }

  // --- looking at what listens ------------------------------------------------------------

  private canLook(session: SessionInfo): boolean {
    return session.state === 'running' && session.containerId !== null && !this.stopped;
  }

  private async scanSessionsInUse(): Promise<void> {
    if (this.deps.config.current['ports.scanSeconds'] === 0) return;
    const { activity, clock } = this.deps;
    const now = clock.now();
    const inUse = this.deps.store.sessions
      .listLive()
      .filter((session) => this.canLook(session))
      .filter((session) => activity.isBusy(session.id) || now - activity.lastUseOf(session.id, this.startedAt) < IN_USE_FOR_MS)
      .filter((session) => (this.sessionsPorts.get(session.id)?.backoffUntil ?? 0) <= now);
    await runLimited(inUse, SCAN_CONCURRENCY, (session) => this.scan(session));
  }

  /** One look at a session's sockets (never two at once for one session). */
  private scan(session: SessionInfo): Promise<void> {
    const state = this.stateOf(session);
    state.scanning ??= this.lookAt(session, state)
      .then(() => {
        state.failedLooks = 0;
        state.backoffUntil = undefined;
      })
      .catch((error) => {
        state.failedLooks++;
        const waitMs = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (state.failedLooks - 1));
        state.backoffUntil = this.deps.clock.now() + waitMs;
        this.deps.log.info(`looking at the ports of session ${session.id} failed (next scheduled look in ${waitMs / 1000} s): ${(error as Error).message}`);
      })
      .finally(() => (state.scanning = undefined));
    return state.scanning;
  }

  private stateOf(session: SessionInfo): SessionPorts {
    let state = this.sessionsPorts.get(session.id);
    if (!state) {
      const startedBefore = session.startedAt !== null && Date.parse(session.startedAt) < this.startedAt;
      state = { listening: new Map(), seen: new Set(), owners: new Map(), firstLookIsOld: startedBefore, notices: 0, failedLooks: 0 };
      this.sessionsPorts.set(session.id, state);
    }
    return state;
  }

  private async lookAt(session: SessionInfo, state: SessionPorts): Promise<void> {
    const { engine, clock } = this.deps;
    const containerId = session.containerId!;
    const sockets = parseListeningSockets(await runOnceWithin(engine, clock, containerId, SOCKET_TABLES_COMMAND, { maxBytes: SCAN_MAX_BYTES, timeoutMs: SCAN_TIMEOUT_MS }));
    if (this.sessionsPorts.get(session.id) !== state) return; // the session ended meanwhile
    const unknownInodes = new Set(sockets.filter((s) => !state.owners.has(s.inode)).map((s) => s.inode));
    if (unknownInodes.size > 0) {
      const owners = await runOnceWithin(engine, clock, containerId, SOCKET_OWNERS_COMMAND, { maxBytes: SCAN_MAX_BYTES, timeoutMs: SCAN_TIMEOUT_MS }).catch(() => '');
      for (const [inode, name] of parseSocketOwners(owners, unknownInodes)) state.owners.set(inode, name);
      // Keep only the owners of sockets that listen now: the map cannot grow without bound.
      const current = new Set(sockets.map((s) => s.inode));
      for (const inode of state.owners.keys()) if (!current.has(inode)) state.owners.delete(inode);
    }
    if (this.sessionsPorts.get(session.id) !== state) return;

    const now = clock.now();
    const firstLook = state.firstLookIsOld;
    state.firstLookIsOld = false;
    const next = new Map<number, DetectedPort>();
    const fresh: DetectedPort[] = [];
    for (const socket of sockets) {
      const known = state.listening.get(socket.port);
      const detected: DetectedPort = { ...socket, process: state.owners.get(socket.inode) ?? known?.process, detectedAt: known?.detectedAt ?? now, notice: known?.notice };
      if (!known && !state.seen.has(socket.port)) {
        state.seen.add(socket.port);
        if (!firstLook) fresh.push(detected);
      }
      next.set(socket.port, detected);
    }
    const changed = next.size !== state.listening.size || [...next.keys()].some((port) => !state.listening.has(port));
    state.listening = next;
    for (const detected of fresh) await this.announce(session, state, detected);
    if (changed || fresh.length > 0) this.deps.changes.emit('ports');
  }

  /** A port listens for the first time in this session: forward it or offer to, as `ports.autoForward` says for its kind. */
  private async announce(session: SessionInfo, state: SessionPorts, detected: DetectedPort): Promise<void> {
    const kind = this.deps.store.workspaces.get(session.workspaceId)?.kind ?? 'session';
    const policy: PortAutoForward = { ...PORT_AUTO_FORWARD_DEFAULTS, ...this.deps.config.current['ports.autoForward'] }[kind] ?? 'notify';
    if (policy === 'off') return;
    // A sandbox may open hundreds of ports: only the first few of a session are news.
    if (++state.notices > MAX_NOTICES_PER_SESSION) return;
    const autoForwards = [...this.forwards.values()].filter((forward) => forward.sessionId === session.id && forward.auto).length;
    if (policy === 'notify' || autoForwards >= MAX_AUTO_FORWARDS_PER_SESSION || this.forwards.has(forwardKey(session.id, detected.port))) {
      detected.notice = 'offer';
      return;
    }
    try {
      await this.forward({ sessionId: session.id, port: detected.port }, true);
      detected.notice = 'forwarded';
    } catch (error) {
      this.deps.log.info(`auto-forwarding port ${detected.port} of session ${session.id} failed: ${(error as Error).message}`);
      detected.notice = 'offer';
    }
  }

  // --- forwards ---------------------------------------------------------------------------

  /** Opens a listener for a port; the caller holds the session's lock, records it and puts it in `forwards`. */
  private async open(
    sessionId: string,
    port: number,
    options: { localPort: number; preferred: boolean; auto: boolean; since: number },
  ): Promise<{ forward: PortForward; warning?: string }> {
    const bindAddress = this.deps.config.current['ports.bindAddress'];
    const workspaceId = this.deps.sessions.get(sessionId).workspaceId;
    const forward = new PortForward({
      sessionId,
      port,
      auto: options.auto,
      since: options.since,
      engine: this.deps.engine,
      clock: this.deps.clock,
      log: this.deps.log,
      target: () => this.targetOf(sessionId, port),
      // Each connection is a use: a frozen session thaws before the bytes go in.
      onConnection: () => this.deps.sessions.thawIfFrozen(sessionId).catch(() => undefined),
      // So are the bytes on an open one (a WebSocket, a keep-alive connection): a timestamp per
      // chunk (a freeze under way sees it and thaws), and a thaw when the session is frozen now.
      onTraffic: () => {
        this.deps.activity.touch(sessionId, workspaceId);
        if (this.frozen.has(sessionId)) void this.deps.sessions.thawIfFrozen(sessionId).catch(() => undefined);
      },
    });
    let warning: string | undefined;
    try {
      await forward.listen(bindAddress, options.localPort);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' && code !== 'EACCES') throw error;
      if (!options.preferred) {
        throw exists(`Port ${options.localPort} is ${code === 'EACCES' ? 'not allowed for this user' : 'in use'} on ${bindAddress}. Forward to another local port (PORT:LOCAL), or leave the local port out to get a free one.`);
      }
      await forward.listen(bindAddress, 0);
      warning = `Port ${options.localPort} is ${code === 'EACCES' ? 'not allowed for this user' : 'taken'} on this machine: port ${port} is forwarded to ${forward.address}:${forward.localPort} instead.`;
    }
    if (!isLoopbackAddress(bindAddress)) {
      warning = `${warning ? `${warning} ` : ''}Port ${port} is reachable from the network on ${bindAddress}:${forward.localPort} (ports.bindAddress): anyone who can reach this machine can use what runs there.`;
      this.deps.log.info(`warning: ${warning}`);
    }
    forward.warning = warning;
    return { forward, warning };
  }

  /** Where a new connection of a forward goes: the container, its addresses, and how the port listens there. */
  private async targetOf(sessionId: string, port: number): Promise<{ containerId: string; addresses: string[]; listeningOn?: string; relayTool(): Promise<RelayTool | undefined> }> {
    const session = this.deps.sessions.get(sessionId);
    if (!session.containerId || (session.state !== 'running' && session.state !== 'paused')) throw conflict(`Session "${sessionId}" is ${session.state}.`);
    const containerId = session.containerId;
    const state = this.stateOf(session);
    if (state.addresses?.containerId !== containerId) {
      const addresses = this.deps.engine.isLocal ? this.deps.engine.inspectContainer(containerId).then((found) => found?.addresses ?? []) : Promise.resolve([]);
      state.addresses = { containerId, addresses };
      addresses.catch(() => (state.addresses = undefined));
    }
    return {
      containerId,
      addresses: await state.addresses.addresses,
      listeningOn: state.listening.get(port)?.address,
      relayTool: () => {
        state.relayTool ??= runOnceWithin(this.deps.engine, this.deps.clock, containerId, RELAY_TOOL_COMMAND, { maxBytes: 64, timeoutMs: SCAN_TIMEOUT_MS }).then(
          (out) => (isRelayTool(out.trim()) ? (out.trim() as RelayTool) : undefined),
          () => {
            state.relayTool = undefined; // ask again next time
            return undefined;
          },
        );
        return state.relayTool;
      },
    };
  }

  private async sessionEnded(sessionId: string): Promise<void> {
    this.sessionsPorts.delete(sessionId);
    await this.locks.run(sessionId, async () => {
      for (const [key, forward] of this.forwards) {
        if (forward.sessionId !== sessionId) continue;
        forward.close();
        this.forwards.delete(key);
      }
      if (this.deps.store.ports.list(sessionId).length === 0) return;
      this.deps.store.ports.clear(sessionId);
      await this.deps.store.commit().catch((error) => this.deps.log.error(`forgetting the ports of session ${sessionId} failed`, error));
    });
    this.deps.changes.emit('ports');
  }

  /** The session's ports: listening, forwarded or labelled, lowest first. */
  private portsOf(session: SessionInfo): PortInfo[] {
    const state = this.sessionsPorts.get(session.id);
    const rows = new Map(this.deps.store.ports.list(session.id).map((row) => [row.port, row]));
    const numbers = new Set<number>([...(state?.listening.keys() ?? []), ...rows.keys()]);
    for (const forward of this.forwards.values()) if (forward.sessionId === session.id) numbers.add(forward.port);
    return [...numbers]
      .sort((a, b) => a - b)
      .map((port) => {
        const detected = state?.listening.get(port);
        const forward = this.forwards.get(forwardKey(session.id, port));
        const label = rows.get(port)?.label ?? undefined;
        return {
          sessionId: session.id,
          workspaceId: session.workspaceId,
          port,
          listening: detected !== undefined,
          ...(detected?.process ? { process: detected.process } : {}),
          ...(label ? { label } : {}),
          ...(detected ? { detectedAt: isoTime(detected.detectedAt)! } : {}),
          ...(detected?.notice ? { notice: detected.notice } : {}),
          ...(forward ? { forward: forward.info() } : {}),
          ...(forward?.warning ? { warning: forward.warning } : {}),
        };
      });
  }
}

function forwardKey(sessionId: string, port: number): string {
  return `${sessionId}:${port}`;
}

function isLoopbackAddress(address: string): boolean {
  return net.isIP(address) !== 0 && (address.startsWith('127.') || address === '::1');
}

/** Whether a port nobody asked for may be forwarded to the same number here: not a privileged port, nor a well-known service's. */
function mayTakeSameNumber(port: number): boolean {
  return port >= 1024 && !SERVICE_PORTS.has(port);
}

function checkLabel(raw: string): string {
  const label = raw.trim();
  if (label.length > MAX_LABEL_LENGTH || UNPRINTABLE.test(label)) {
    throw invalidInput(`A port label is text of at most ${MAX_LABEL_LENGTH} characters on one line.`);
  }
  return label;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function runLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
