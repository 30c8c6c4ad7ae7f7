import * as fs from 'node:fs';
import * as net from 'node:net';
import {
  createMessageConnection,
  ExitNotification,
  InitializeRequest,
  ShutdownRequest,
  type MessageConnection,
} from 'vscode-languageserver-protocol/node';
import { version } from '../package.json';
import { Changes } from './util/changes';
import { systemClock, type Clock } from './util/clock';
import { ConfigStore } from './config';
import { DockerEngine } from './docker/engine';
import { Exec } from './exec/exec';
import { NotificationFlow } from './server/flow';
import { registerHandlers } from './server/handlers';
import { homePaths, type HomePaths } from './client/home';
import { newInstanceId } from './client/ids';
import { KeyedLock } from './util/keyedLock';
import { acquireLock } from './util/lock';
import type { Logger } from './util/log';
import { StateChangedNotification, type SidecarStatus } from './client/protocol';
import { reconcileWithDocker } from './reconcile';
import { Pool } from './pool';
import { RawChannels } from './rawChannel/rawChannels';
import { Sessions } from './sessions';
import { Shells } from './exec/shells';
import { registerTerminalHandlers } from './server/handlers/terminals';
import { Terminals } from './terminals/terminals';
import { Database } from './store/database';

/** How often pipe directories that no container mounts are looked for. */
const PIPE_SWEEP_INTERVAL_MS = 60_000;
import { Workspaces } from './workspaces';

export interface Services {
  workspaces: Workspaces;
  sessions: Sessions;
  exec: Exec;
  pool: Pool;
  config: ConfigStore;
  status(): Promise<SidecarStatus>;
  shutdown(reason: string): Promise<void>;
}

export interface SidecarOptions {
  home: string;
  log: Logger;
  clock?: Clock;
  /** Called once the sidecar has shut down (main exits the process there). */
  onExit?: () => void;
}

/**
 * The daemon: owns the storage directory (lock, database, config), the Docker objects of its
 * instance, and a socket every client (windows, CLI) connects to.
 */
export class Sidecar implements Services {
  readonly workspaces: Workspaces;
  readonly sessions: Sessions;
  readonly exec: Exec;
  private readonly shells: Shells;
  private readonly terminals: Terminals;
  readonly pool: Pool;
  /** Every JSON-RPC client, with the flow that paces notifications to it. */
  private readonly connections = new Map<MessageConnection, NotificationFlow>();
  private readonly rawChannels = new RawChannels();
  private readonly server = net.createServer((socket) => this.accept(socket));
  private readonly startedAt: number;
  private idleTimer: { cancel(): void } | undefined;
  private pipeSweepTimer: { cancel(): void } | undefined;
  private reconciled: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly options: SidecarOptions,
    private readonly paths: HomePaths,
    private readonly releaseLock: () => void,
    private readonly db: Database,
    readonly config: ConfigStore,
    private readonly docker: DockerEngine,
    private readonly changes: Changes,
    private readonly clock: Clock,
  ) {
    const locks = new KeyedLock();
    this.startedAt = clock.now();
    this.workspaces = new Workspaces({ db, docker, config, clock, changes, locks });
    this.shells = new Shells(docker);
    this.pool = new Pool({
      docker,
      config,
      clock,
      changes,
      log: options.log,
      owned: {
        container: (id) => db.get('SELECT 1 FROM sessions WHERE container_id = ?', [id]) !== undefined,
        volume: (name) => db.get('SELECT 1 FROM workspaces WHERE volume = ?', [name]) !== undefined,
      },
    });
    this.sessions = new Sessions({ db, docker, config, clock, changes, locks, workspaces: this.workspaces, shells: this.shells, pool: this.pool });
    this.exec = new Exec({ docker, sessions: this.sessions, workspaces: this.workspaces, db, shells: this.shells, clock, rawChannels: this.rawChannels });
    changes.onSessionEnded((sessionId) => this.shells.close(sessionId));
    this.terminals = new Terminals({ db, docker, sessions: this.sessions, changes, clock, log: options.log });
    changes.subscribe((areas) => {
      // A client that is disconnecting fails the write (EPIPE); it must not take the sidecar down.
      for (const flow of this.connections.values()) flow.send(StateChangedNotification.type, { areas }, 0);
    });
    config.onDidChange(() => changes.emit('config'));
  }

  static async start(options: SidecarOptions): Promise<Sidecar> {
    const paths = homePaths(options.home);
    fs.mkdirSync(paths.home, { recursive: true, mode: 0o700 });
    const releaseLock = acquireLock(paths.lock);
    try {
      const clock = options.clock ?? systemClock;
      const config = await ConfigStore.open(paths.config);
      const db = await Database.open(paths.database);
      let instanceId = db.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'instance'`)?.value;
      if (!instanceId) {
        instanceId = newInstanceId();
        db.run(`INSERT INTO meta (key, value) VALUES ('instance', ?)`, [instanceId]);
        await db.commit();
      }
      const sidecar = new Sidecar(options, paths, releaseLock, db, config, new DockerEngine(instanceId, paths.pipes), new Changes(), clock);
      await sidecar.listen();
      options.log.info(`sidecar ${version} (pid ${process.pid}, instance ${instanceId}) listening on ${paths.socket}`);
      void sidecar.ensureReconciled();
      sidecar.scheduleIdleShutdown();
      return sidecar;
    } catch (error) {
      releaseLock();
      throw error;
    }
  }

  private async listen(): Promise<void> {
    // The lock proves no live sidecar owns the socket, so a leftover file is stale.
    if (process.platform !== 'win32') fs.rmSync(this.paths.socket, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.paths.socket, () => resolve());
    });
    if (process.platform !== 'win32') fs.chmodSync(this.paths.socket, 0o600);
  }

  /** Reconciles once Docker answers; retried on later status checks while it does not. */
  ensureReconciled(): Promise<void> {
    if (!this.reconciled) {
      this.reconciled = (async () => {
        await this.docker.requireAvailable();
        const plan = await reconcileWithDocker({ db: this.db, docker: this.docker, workspaces: this.workspaces, sessions: this.sessions });
        const counts = Object.entries(plan)
          .filter(([, items]) => items.length > 0)
          .map(([action, items]) => `${action}=${items.length}`);
        this.options.log.info(`reconciled with Docker${counts.length ? `: ${counts.join(', ')}` : ': nothing to do'}`);
        this.changes.emit('workspaces', 'sessions');
        await this.sweepPipeDirectories();
        await this.pool.start();
      })().catch((error) => {
        this.reconciled = undefined;
        this.options.log.info(`reconciliation postponed: ${(error as Error).message}`);
      });
    }
    return this.reconciled;
  }

  async status(): Promise<SidecarStatus> {
    const docker = await this.docker.status();
    if (docker.available) await this.ensureReconciled();
    return {
      version,
      pid: process.pid,
      home: this.paths.home,
      instanceId: this.docker.instanceId,
      clients: this.connections.size,
      startedAt: new Date(this.startedAt).toISOString(),
      docker,
    };
  }

  /** A new connection is either a JSON-RPC client or a raw byte channel for one exec. */
  private accept(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    void this.rawChannels.classify(socket).then((isRawChannel) => {
      if (!isRawChannel) this.serveJsonRpc(socket);
    });
  }

  private serveJsonRpc(socket: net.Socket): void {
    const connection = createMessageConnection(socket, socket);
    const flow = new NotificationFlow(connection);
    this.connections.set(connection, flow);
    this.idleTimer?.cancel();
    registerHandlers(connection, flow, this, this.options.log);
    registerTerminalHandlers(connection, flow, this.terminals, this.options.log);
    // A LanguageClient speaks LSP's lifecycle; `exit` ends only this client's connection.
    connection.onRequest(InitializeRequest.type, () => ({ capabilities: {}, serverInfo: { name: 'sandkasten-sidecar', version } }));
    connection.onRequest(ShutdownRequest.type, () => undefined);
    connection.onNotification(ExitNotification.type, () => {
      socket.end();
    });
    connection.onUnhandledNotification(() => undefined);
    const forget = () => {
      if (!this.connections.delete(connection)) return;
      connection.dispose();
      this.scheduleIdleShutdown();
    };
    connection.onClose(forget);
    socket.on('close', forget);
    connection.listen();
    socket.resume(); // classify() paused it to put back the first bytes
  }

  private scheduleIdleShutdown(): void {
    if (this.connections.size > 0 || this.stopping) return;
    this.idleTimer?.cancel();
    const seconds = this.config.current.idleShutdownSeconds;
    this.idleTimer = this.clock.setTimeout(() => {
      if (this.connections.size === 0) void this.shutdown(`no client for ${seconds} s`);
    }, seconds * 1000);
  }

  /** Removes pipe directories no container mounts (a crash's leftovers), now and every minute. */
  private async sweepPipeDirectories(): Promise<void> {
    await this.docker.pipes
      .sweep(async () => new Set((await this.docker.listOwnContainers()).flatMap((c) => (c.pipeDirectory ? [c.pipeDirectory] : []))))
      .catch((error) => this.options.log.error('sweeping pipe directories failed', error));
    if (!this.stopping) this.pipeSweepTimer = this.clock.setTimeout(() => void this.sweepPipeDirectories(), PIPE_SWEEP_INTERVAL_MS);
  }

  /** Stops accepting clients, flushes state and releases the storage directory. */
  shutdown(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.options.log.info(`shutting down: ${reason}`);
      this.idleTimer?.cancel();
      this.pipeSweepTimer?.cancel();
      this.server.close();
      this.shells.closeAll();
      this.terminals.closeAll();
      for (const connection of this.connections.keys()) connection.dispose();
      this.connections.clear();
      try {
        await this.pool.drain().catch((error) => this.options.log.error('draining the pool failed', error));
        await this.db.commit();
      } finally {
        this.db.close();
        if (process.platform !== 'win32') fs.rmSync(this.paths.socket, { force: true });
        this.releaseLock();
        this.options.onExit?.();
      }
    })();
    return this.stopping;
  }
}
