import * as path from 'node:path';
import * as fs from 'node:fs';
import { version } from '../package.json';
import { ApiLeases } from './api/leases';
import { ApiServer } from './api/apiServer';
import { ApiToken } from './api/apiToken';
import { homePaths, type HomePaths } from './client/home';
import { ensurePrivateDirectory } from './client/privateDirectory';
import type { ApiInfo, FileTarget, SidecarStatus } from './client/protocol';
import { ConfigStore } from './config';
import { ContainerWatch } from './containerWatch';
import { DiskWatch } from './diskWatch';
import { Dashboard } from './dashboard/dashboard';
import { ExecMetrics } from './dashboard/execMetrics';
import { Containers } from './containers';
import { resolveDockerEndpoint } from './docker/connection';
import { DockerEngine } from './docker/dockerEngine';
import { EngineHealth } from './docker/engineHealth';
import { dockerUnavailable } from './docker/errors';
import { describeEngine, EngineBinding } from './engineBinding';
import { conflict } from './errors';
import { Doctor } from './doctor/doctor';
import type { Engine } from './docker/engine';
import { HostFirewall } from './docker/hostFirewall';
import { Exec } from './exec/exec';
import { Files } from './files/files';
import { WorkspaceFileSystem, type FileOps } from './files/workspaceFileSystem';
import { Processes } from './exec/processes';
import { SessionLogs } from './exec/sessionLogs';
import { Activity } from './lifecycle/activity';
import { WorkspaceSlots } from './pool/workspaceSlots';
import { Lifecycle } from './lifecycle/lifecycle';
import { WorkspaceArchives } from './lifecycle/workspaceArchives';
import { VolumeArchives } from './volumes/volumeArchives';
import { Shells } from './exec/shells';
import { Pool } from './pool';
import { Ports } from './ports/ports';
import { DirectPipes, pipeDirectoryOf } from './rawChannel/directPipes';
import { RawChannels } from './rawChannel/rawChannels';
import { reconcileWithDocker } from './reconcile';
import { Server } from './server/server';
import type { Services } from './server/services';
import { Sessions } from './sessions';
import { JoinedShares } from './share/joinedShares';
import { defaultDisplayName, Shares } from './share/shares';
import { ParkedStates } from './store/parkedStates';
import { Store } from './store/store';
import { Terminals } from './terminals/terminals';
import { Changes } from './util/changes';
import { systemClock, type Clock } from './util/clock';
import { KeyedLock } from './util/keyedLock';
import { acquireLock } from './util/lock';
import type { Logger } from './util/log';
import { Workspaces } from './workspaces';

/** How often pipe directories that no container mounts are looked for. */
const PIPE_SWEEP_INTERVAL_MS = 60_000;

/** Where workspace slots live (see WorkspaceSlots), per instance. */
const SLOT_ROOT = '/run/sandkasten';

export interface SidecarOptions {
  home: string;
  log: Logger;
  clock?: Clock;
  /** The engine to use; by default Docker as DOCKER_HOST or the Docker context says. */
  engine?: (instanceId: string) => Engine;
  /** Called once the sidecar has shut down (main exits the process there). */
  onExit?: () => void;
}

/**
 * The daemon's composition root: owns the storage directory (lock, database, config), builds
 * the domain modules on the store and the engine, serves them on the socket, and brings the
 * database and Docker into agreement once the engine answers.
 */
export class Sidecar implements Services {
  readonly workspaces: Workspaces;
  readonly sessions: Sessions;
  readonly exec: Exec;
  readonly processes: Processes;
  readonly sessionLogs: SessionLogs;
  readonly terminals: Terminals;
  /** Workspaces' files for editors and share guests (see fileOps). */
  private readonly fileSystem: WorkspaceFileSystem;
  private readonly files: Files;
  readonly shares: Shares;
  readonly joinedShares: JoinedShares;
  readonly pool: Pool;
  readonly ports: Ports;
  readonly rawChannels: RawChannels;
  readonly pipes: DirectPipes;
  readonly lifecycle: Lifecycle;
  readonly doctor: Doctor;
  readonly dashboard: Dashboard;
  readonly archives: WorkspaceArchives;
  private readonly slots: WorkspaceSlots;
  readonly log: Logger;
  /** The HTTP API's address and token, for `api/info` and `api/rotateToken`. */
  readonly api: { info(): Promise<ApiInfo>; rotateToken(): Promise<ApiInfo> };
  private readonly apiServer: ApiServer;
  private readonly apiLeases: ApiLeases;
  private readonly shells: Shells;
  private readonly containers: Containers;
  private readonly containerWatch: ContainerWatch;
  private readonly diskWatch: DiskWatch;
  private readonly server: Server;
  private readonly changes: Changes;
  private readonly reconcile: () => ReturnType<typeof reconcileWithDocker>;
  private readonly startedAt: number;
  private readonly binding: EngineBinding;
  /** Whether the engine answers (see EngineHealth): every Docker call goes through it. */
  private readonly health: EngineHealth;
  readonly engine: Engine;
  /** Set by a switch of engines: carried out once the database is closed (see ParkedStates). */
  private switchOnExit: ParkedStates | undefined;
  private idleTimer: { cancel(): void } | undefined;
  private pipeSweepTimer: { cancel(): void } | undefined;
  private reconciled: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly options: SidecarOptions,
    private readonly paths: HomePaths,
    private readonly releaseLock: () => void,
    private readonly store: Store,
    readonly config: ConfigStore,
    rawEngine: Engine,
    readonly clock: Clock,
    apiToken: ApiToken,
  ) {
    // Everything but status and the binding itself sees the guarded engine (see EngineBinding).
    this.health = new EngineHealth({ engine: rawEngine, clock, log: options.log });
    this.binding = new EngineBinding(store, this.health.engine);
    // Before anyone acts on its return (listeners run in order): the engine back may be another one.
    this.health.onChange((change) => change.state === 'back' && this.binding.checkAgain());
    const engine = this.binding.guard();
    this.engine = engine;
    const changes = new Changes();
    const locks = new KeyedLock();
    this.log = options.log;
    this.startedAt = clock.now();
    // SANDKASTEN_DIRECT_PIPES=off keeps every byte on the relayed path (for tests, and as an escape hatch).
    const pipesWork = engine.isLocal && process.env.SANDKASTEN_DIRECT_PIPES !== 'off';
    this.pipes = new DirectPipes(paths.pipes, pipesWork, async (id) => pipeDirectoryOf((await engine.inspectContainer(id))?.mounts));
    this.rawChannels = new RawChannels(clock);
    // Under /run: cleared at a reboot with the mounts themselves, and never inside the storage
    // directory, whose removal (rm -rf) would follow a bound slot into a workspace's files.
    // SANDKASTEN_WORKSPACE_SLOTS=off: used workspaces' sessions start cold (an escape hatch).
    const slotsWork = engine.isLocal && process.env.SANDKASTEN_WORKSPACE_SLOTS !== 'off';
    this.slots = new WorkspaceSlots(path.join(SLOT_ROOT, engine.instanceId, 'slots'), slotsWork, { engine, clock, log: options.log });
    const containers = new Containers({ engine, config, clock, pipes: this.pipes, firewall: new HostFirewall(engine.isLocal), slots: this.slots });
    this.containers = containers;
    this.sessionLogs = new SessionLogs({ config, clock });
    this.shells = new Shells(engine, clock, (sessionId, stream, data) => this.sessionLogs.append(sessionId, stream, data));
    this.workspaces = new Workspaces({ store, containers, config, clock, changes, locks, onDeleted: (id) => this.archives.forget(id) });
    const volumes = new VolumeArchives({
      engine,
      clock,
      log: options.log,
      helperImage: () => config.current['lifecycle.archiveImage'],
      // tar parses what sandboxes wrote: under the strongest runtime any kind is given (gVisor, say).
      runtime: () => Object.values(config.current['sandbox.runtime']).find(Boolean),
    });
    this.archives = new WorkspaceArchives({
      store,
      workspaces: this.workspaces,
      containers,
      volumes,
      clock,
      changes,
      locks,
      log: options.log,
      freezeSessionsDuring: (workspaceId, work) => this.sessions.frozenDuring(workspaceId, work),
      storageDirectory: paths.home,
      archiveDirectory: paths.archives,
      snapshotDirectory: paths.snapshots,
    });
    this.pool = new Pool({
      containers,
      config,
      clock,
      changes,
      log: options.log,
      owned: { container: (id) => store.sessions.ownsContainer(id), volume: (name) => store.workspaces.ownsVolume(name) },
    });
    const activity = new Activity(clock, (workspaceId) => {
      if (store.workspaces.get(workspaceId)?.state === 'deleting') return;
      this.workspaces.recordAccess(workspaceId);
      store.commitSoon();
    });
    this.sessions = new Sessions({ store, containers, config, clock, changes, locks, workspaces: this.workspaces, shells: this.shells, pool: this.pool, activity, engineHealth: this.health,
      unarchive: (id, progress) => this.archives.unarchive(id, progress) });
    this.lifecycle = new Lifecycle({
      store,
      workspaces: this.workspaces,
      sessions: this.sessions,
      activity,
      config,
      clock,
      changes,
      log: options.log,
      archive: async (id, reason, onlyIf) => (await this.archives.archive(id, reason, undefined, { onlyIf })).state === 'archived',
    });
    const execMetrics = new ExecMetrics(clock);
    this.exec = new Exec({ engine, sessions: this.sessions, workspaces: this.workspaces, store, shells: this.shells, clock, onFinished: (durationMs, outputBytes) => execMetrics.record(durationMs, outputBytes) });
    this.dashboard = new Dashboard({
      engine,
      sessions: this.sessions,
      workspaces: this.workspaces,
      pool: this.pool,
      lifecycle: this.lifecycle,
      execMetrics,
      diskLimitBytes: () => config.current['limits.diskMb'] * 1024 * 1024,
      clock,
      log: options.log,
    });
    this.processes = new Processes({ engine, sessions: this.sessions, config, clock, changes });
    this.terminals = new Terminals({ store, engine, sessions: this.sessions, changes, clock, log: options.log });
    this.files = new Files({ engine, clock, config, sessions: this.sessions, workspaces: this.workspaces, log: options.log });
    this.fileSystem = new WorkspaceFileSystem({ files: this.files, sessions: this.sessions, workspaces: this.workspaces, clock, log: options.log });
    const displayName = () => config.current['share.displayName'] || defaultDisplayName();
    this.shares = new Shares({
      store,
      sessions: this.sessions,
      workspaces: this.workspaces,
      terminals: this.terminals,
      fileOps: (workspaceId) => this.fileSystem.forWorkspace(workspaceId),
      config,
      displayName,
      changes,
      clock,
      log: options.log,
    });
    this.joinedShares = new JoinedShares({ clock, changes, log: options.log, displayName });
    this.ports = new Ports({ store, sessions: this.sessions, engine, activity, config, clock, changes, log: options.log });
    // A share keeps the sidecar up without clients (the host's window may close); its end lets it go idle.
    changes.subscribe((areas) => {
      if (areas.includes('shares') || areas.includes('ports')) this.scheduleIdleShutdown();
    });
    this.containerWatch = new ContainerWatch({ containers, store, sessions: this.sessions, config, clock, log: options.log, engineHealth: this.health });
    this.diskWatch = new DiskWatch({ containers, store, sessions: this.sessions, workspaces: this.workspaces, config, clock, changes, log: options.log });
    this.server = new Server(this, this.rawChannels, {
      onClientConnected: () => this.idleTimer?.cancel(),
      onLastClientGone: () => this.scheduleIdleShutdown(),
    });
    const apiServices = { workspaces: this.workspaces, sessions: this.sessions, exec: this.exec, processes: this.processes, ports: this.ports, pipes: this.pipes, sessionLogs: this.sessionLogs, engine, config, clock, log: options.log, locks: new KeyedLock() };
    this.apiServer = new ApiServer({
      services: apiServices,
      token: apiToken,
      log: options.log,
      settings: () => ({ enabled: config.current['api.enabled'], port: config.current['api.port'], bindAddress: config.current['api.bindAddress'] }),
      lastPort: () => store.meta.apiPort(),
      rememberPort: async (port) => {
        store.meta.setApiPort(port);
        await store.commit();
      },
    });
    this.apiLeases = new ApiLeases({ services: apiServices, store, clock, log: options.log });
    this.api = {
      info: () => this.apiServer.info(),
      rotateToken: async () => {
        await apiToken.rotate();
        this.log.info('HTTP API token rotated');
        return this.apiServer.info();
      },
    };
    changes.onSessionEnded((sessionId) => this.shells.close(sessionId));
    changes.subscribe((areas) => this.server.broadcast(areas));
    // The engine went away or came back: clients look again; what acts on sessions by the clock waits for it.
    this.health.onChange((change) => {
      changes.emit('docker', 'sessions', 'workspaces');
      if (change.state === 'away') this.pauseEngineWork();
      else void this.resumeEngineWork(change.awayMs);
    });
    config.onDidChange((changed) => {
      options.log.info(`settings changed: ${changed.join(', ')}`);
      changes.emit('config');
      // The engine is chosen at start: a new one means a new sidecar (after this answer went out).
      if (changed.some((key) => key === 'docker.host' || key === 'docker.context')) {
        setImmediate(() => void this.shutdown('the Docker engine setting changed; the next client starts the sidecar on the new engine'));
        return;
      }
      // The API follows its settings; while it is on, the sidecar stays up without clients.
      void this.apiServer.apply();
      this.lifecycle.reschedule();
      this.scheduleIdleShutdown();
    });
    this.doctor = new Doctor({
      engine,
      config,
      pool: this.pool,
      api: this.api,
      hostIsolation: () => containers.hostIsolation(),
      sidecar: () => ({ version, pid: process.pid, instanceId: engine.instanceId, clients: this.server.clientCount, startedAt: new Date(this.startedAt).toISOString() }),
      paths,
      clock,
      log: options.log,
    });
    this.reconcile = () => reconcileWithDocker({ store, containers, workspaces: this.workspaces, sessions: this.sessions });
    this.changes = changes;
  }

  static async start(options: SidecarOptions): Promise<Sidecar> {
    const paths = homePaths(options.home);
    ensurePrivateDirectory(paths.home, 'storage directory', { allowSymlink: true });
    if (paths.socketDirectory) ensurePrivateDirectory(paths.socketDirectory, 'socket directory', { allowSymlink: false });
    const releaseLock = acquireLock(paths.lock);
    try {
      const clock = options.clock ?? systemClock;
      const config = await ConfigStore.open(paths.config);
      const switchedTo = await parkedStates(paths).complete();
      if (switchedTo) options.log.info(`switched this storage directory to engine ${switchedTo}`);
      const store = await Store.open(paths.database, clock, { log: options.log });
      const instance = store.meta.instanceId();
      if (instance.isNew) await store.commit();
      const choice = { host: config.current['docker.host'], context: config.current['docker.context'] };
      const engine = options.engine?.(instance.id) ?? new DockerEngine(instance.id, resolveDockerEndpoint(choice));
      const apiToken = await ApiToken.open(paths.apiToken);
      const sidecar = new Sidecar(options, paths, releaseLock, store, config, engine, clock, apiToken);
      await sidecar.server.listen(paths.socket);
      await sidecar.apiServer.apply();
      options.log.info(`sidecar ${version} (pid ${process.pid}, instance ${instance.id}) listening on ${paths.socket}`);
      void sidecar.ensureReconciled();
      sidecar.scheduleIdleShutdown();
      return sidecar;
    } catch (error) {
      releaseLock();
      throw error;
    }
  }

  /** Reconciles once Docker answers; retried on later status checks while it does not. */
  ensureReconciled(): Promise<void> {
    if (!this.reconciled) {
      this.reconciled = (async () => {
        const docker = await this.health.engine.status();
        if (!docker.available) throw dockerUnavailable(docker.error ?? 'Docker is not reachable.');
        await this.binding.check(docker.endpoint);
        const plan = await this.reconcile();
        const counts = Object.entries(plan)
          .filter(([, items]) => items.length > 0)
          .map(([action, items]) => `${action}=${items.length}`);
        this.log.info(`reconciled with Docker${counts.length ? `: ${counts.join(', ')}` : ': nothing to do'}`);
        this.changes.emit('workspaces', 'sessions');
        await this.containerWatch.start();
        this.diskWatch.start();
        await this.sweepPipeDirectories();
        await this.sweepSlots();
        this.archives.sweep();
        await this.pool.start();
        await this.ports.start();
        this.apiLeases.start();
        this.lifecycle.start();
      })().catch((error) => {
        this.reconciled = undefined;
        this.log.info(`reconciliation postponed: ${(error as Error).message}`);
      });
    }
    return this.reconciled;
  }

  /** The engine went away: nothing that acts on sessions by the clock runs (a failed call is not a gone container). */
  private pauseEngineWork(): void {
    this.lifecycle.stop();
    this.diskWatch.stop();
    this.apiLeases.stop();
  }

  /**
   * The engine is back after `awayMs`: reconciled first if it never was; else what paused
   * runs again, with the gap not counted against anyone (sessions count as used now, leases
   * move on), and the pool fills. The container watch catches up by itself (see ContainerWatch).
   */
  private async resumeEngineWork(awayMs: number): Promise<void> {
    const reconciling = this.reconciled;
    if (reconciling) await reconciling;
    if (this.stopping || this.health.away) return;
    // Not reconciled yet (the engine was away from the start), or that failed: it starts all of this.
    if (!reconciling || this.reconciled !== reconciling) return void this.ensureReconciled();
    this.lifecycle.countAsUsedNow();
    await this.apiLeases.extendBy(awayMs).catch((error) => this.log.error('moving the API leases on after the engine was away failed', error));
    this.lifecycle.start();
    this.diskWatch.start();
    this.apiLeases.start();
    this.pool.engineBack();
  }

  /** A workspace's files, or those of a session someone shares with us. */
  fileOps(target: FileTarget): FileOps {
    if ('workspaceId' in target) return this.fileSystem.forWorkspace(target.workspaceId);
    return this.joinedShares.files(target.joinedShareId);
  }

  async status(): Promise<SidecarStatus> {
    let docker = await this.health.engine.status();
    if (docker.available) {
      docker.runtimes = await this.health.engine.runtimes().catch(() => undefined);
      docker.outputPath = this.pipes.offered ? 'direct pipes' : 'relayed';
      await this.ensureReconciled();
      docker = this.binding.describe(docker);
    }
    return {
      version,
      pid: process.pid,
      home: this.paths.home,
      instanceId: this.engine.instanceId,
      clients: this.server.clientCount,
      startedAt: new Date(this.startedAt).toISOString(),
      docker,
      hostIsolation: this.containers.hostIsolation(),
    };
  }

  private scheduleIdleShutdown(): void {
    this.idleTimer?.cancel();
    if (this.server.clientCount > 0 || this.stopping || this.config.current['api.enabled']) return;
    const seconds = this.config.current.idleShutdownSeconds;
    this.idleTimer = this.clock.setTimeout(() => {
      if (this.server.clientCount > 0) return;
      // Work that keeps it up ends by itself too (a forward nobody uses any more): look again later.
      if (this.keptUpByWork()) this.scheduleIdleShutdown();
      else void this.shutdown(`no client for ${seconds} s`);
    }, seconds * 1000);
  }

  /** Something shared or forwarded keeps the sidecar up without clients (a guest or a browser uses it). */
  private keptUpByWork(): boolean {
    return this.shares.active || this.ports.active;
  }

  /** Unmounts and removes the slots no container of this instance has: what a crash during a hand-out left. */
  private async sweepSlots(): Promise<void> {
    // Even when slots are off now: what an earlier start mounted goes (if this process may unmount).
    if (!this.slots.canUnmount) return;
    const inUse = new Set((await this.engine.listOwnContainers()).flatMap((c) => c.mounts.filter((m) => m.target === '/workspace').map((m) => m.source)));
    await this.slots.sweep(inUse).catch((error) => this.log.error('sweeping workspace slots failed', error));
  }

  /** Removes pipe directories no container mounts (a crash's leftovers), now and every minute. */
  private async sweepPipeDirectories(): Promise<void> {
    await this.pipes
      .sweep(async () => new Set((await this.engine.listOwnContainers()).flatMap((c) => pipeDirectoryOf(c.mounts) ?? [])))
      .catch((error) => this.log.error('sweeping pipe directories failed', error));
    if (!this.stopping) this.pipeSweepTimer = this.clock.setTimeout(() => void this.sweepPipeDirectories(), PIPE_SWEEP_INTERVAL_MS);
  }

  /**
   * Sets this storage directory's state for the engine it belongs to aside, to take up the
   * state it has (or a fresh one) for the engine answering now: written down here, carried
   * out once the database is closed, so the next start finds it done. Nothing on either
   * engine is touched. Answers first, then restarts (the next client starts the sidecar).
   */
  async switchEngine(engineId: string): Promise<void> {
    // Once shutting down, a second request could write its intent after the first was carried out.
    if (this.stopping) throw conflict('The sidecar is restarting (a switch of engines, or a new engine setting); ask again once it is back.');
    const { boundTo, current } = this.binding.assertSwitchable(engineId);
    const parked = parkedStates(this.paths);
    await parked.request(boundTo, current);
    this.log.info(`switching engines: from ${describeEngine(boundTo)} to ${describeEngine(current)}`);
    this.switchOnExit = parked;
    setImmediate(() => void this.shutdown('switching Docker engines'));
  }

  /** Stops accepting clients, flushes state and releases the storage directory. */
  shutdown(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info(`shutting down: ${reason}`);
      this.idleTimer?.cancel();
      this.pipeSweepTimer?.cancel();
      this.health.stop();
      this.containerWatch.stop();
      this.diskWatch.stop();
      this.apiLeases.stop();
      this.lifecycle.stop();
      this.dashboard.dispose();
      this.server.stopAccepting();
      this.joinedShares.closeAll();
      this.ports.stop();
      await this.shares.closeAll().catch((error) => this.log.error('ending the shares failed', error));
      await this.apiServer.close().catch((error) => this.log.error('closing the HTTP API failed', error));
      this.fileSystem.dispose();
      this.files.dispose();
      this.shells.closeAll();
      this.processes.closeAll();
      this.terminals.closeAll();
      try {
        await this.pool.drain().catch((error) => this.log.error('draining the pool failed', error));
        await this.containers.removeUnusedNetworks().catch((error) => this.log.error('removing the sandbox network failed', error));
        await this.slots.removeRootIfUnused().catch((error) => this.log.error('removing the workspace slot directory failed', error));
        this.slots.dispose();
        await this.store.checkpoint();
        await this.server.disconnect(); // after the answers went out: the client of a shutdown request sees it
      } finally {
        this.store.close();
        await this.switchOnExit?.complete().catch((error) => this.log.error('switching engines failed; the next start finishes it', error));
        if (process.platform !== 'win32') fs.rmSync(this.paths.socket, { force: true });
        if (this.paths.socketDirectory) fs.rmSync(this.paths.socketDirectory, { recursive: true, force: true });
        this.releaseLock();
        this.options.onExit?.();
      }
    })();
    return this.stopping;
  }
}

/** The storage directory's state per engine: the database and the files its records name. */
function parkedStates(paths: HomePaths): ParkedStates {
  return new ParkedStates(paths.home, paths.database, [paths.archives, paths.snapshots, paths.pipes]);
}
