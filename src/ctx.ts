import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  LanguageClient,
  State,
  WorkDoneProgress,
  type LanguageClientOptions,
  type NotificationType,
  type RequestParam,
  type RequestType,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { SETTING_KEYS, SETTINGS } from '../sidecar/client/configSchema';
import { ENGINE_SETTING_KEYS, isEngineSettingKey } from '../sidecar/client/engineText';
import { resolveHome } from '../sidecar/client/home';
import { connectToSidecar } from '../sidecar/client/launch';
import { sidecarPid, waitUntilReleased } from '../sidecar/client/sidecarRestart';
import {
  ExecOutputNotification,
  GetConfigRequest,
  ListSessionsRequest,
  SetConfigRequest,
  StateChangedNotification,
  StatusRequest,
  type ChangedArea,
  type ConfigValues,
  type SidecarStatus,
} from '../sidecar/client/protocol';
import { Config } from './config';
import { DisposableScope } from './disposableScope';
import { SessionDocuments } from './documents';
import { AskedMismatches, engineDetails, mismatchDetails } from './engineText';
import { describeError } from './errors';
import { ExecStreamRouter } from './execStreams';
import { RunHistory } from './runHistory';
import { SandkastenStatusBar } from './statusBar';
import { SandboxTerminals } from './terminals';
import type { SandkastenViews } from './views/trees';

/** What the views show: starting, ready, Docker missing, or the sidecar failed. */
export type ConnectionState = 'starting' | 'ready' | 'dockerUnavailable' | 'failed';

/** One client connection and everything registered on it; they end together. */
interface Connection {
  readonly client: LanguageClient;
  readonly scope: DisposableScope;
}

/**
 * Owns the client connection to the sidecar, the output channels, the status bar item, the
 * sandbox terminals, the exec-stream router and two disposable scopes: the extension's
 * lifetime and the current connection's. Commands and views receive it instead of reaching
 * for globals.
 */
export class Ctx implements vscode.Disposable {
  readonly config = new Config();
  readonly output: vscode.LogOutputChannel;
  readonly execOutput: vscode.OutputChannel;
  /** The window's sandbox terminals: the profile, their notifications, reopening after a reload. */
  readonly terminals: SandboxTerminals;
  /** The last Run Command outputs of this window; they survive a reload. */
  readonly runHistory: RunHistory;
  /** Read-only editors: a container's inspect JSON, its logs, the last Run Command outputs. */
  readonly documents: SessionDocuments;
  /** The trees, once registered: commands select rows through them. */
  views: SandkastenViews | undefined;
  /** Hands Run Command its `exec/output` notifications, by stream id. */
  readonly execStreams = new ExecStreamRouter(`run-${process.pid}`);
  /** One output channel per background process whose output was shown, with whether it is being followed. */
  private readonly processChannels = new Map<string, vscode.OutputChannel & { following: boolean }>();
  /** Commands, views, the status bar, listeners: they last until the extension deactivates. */
  private readonly extensionScope = new DisposableScope();
  /** The current client; a new client ends the previous one and its handlers first. */
  private connection: Connection | undefined;
  private starting: Promise<LanguageClient> | undefined;
  private readonly statusBar: SandkastenStatusBar;
  private readonly changed = new vscode.EventEmitter<ChangedArea[]>();
  /** Fired with the areas the sidecar reports as changed; views refresh on it. */
  readonly onDidChange = this.changed.event;
  private readonly connected = new vscode.EventEmitter<void>();
  /** Fired each time a client connection is up, the first and every one after a restart. */
  readonly onDidConnect = this.connected.event;
  private readonly statusRead = new vscode.EventEmitter<SidecarStatus>();
  /** Fired with every status the sidecar answers (the engine mismatch question listens). */
  readonly onDidReadStatus = this.statusRead.event;
  /** The engine mismatches this window asked about (see EngineMismatchPrompt). */
  readonly askedMismatches = new AskedMismatches();
  /** While a command changes the engine settings: their change events wait for it (see changeEngineSettings). */
  private engineSettingsChanging = 0;
  /** The engine settings are pushed on this window's first connection, not on every reconnect (see afterConnect). */
  private engineSettingsPushed = false;
  /** Registered again on every new client, so handlers survive a retry or restart. */
  private readonly handlersForEveryConnection: Array<(client: LanguageClient) => vscode.Disposable> = [];
  state: ConnectionState = 'starting';
  status: SidecarStatus | undefined;
  lastError: string | undefined;

  constructor(readonly extension: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel('Sandkasten', { log: true });
    this.execOutput = vscode.window.createOutputChannel('Sandkasten: Command Output');
    this.statusBar = new SandkastenStatusBar();
    this.runHistory = new RunHistory(extension.workspaceState);
    this.documents = new SessionDocuments(this);
    this.extensionScope.push(
      this.output,
      this.execOutput,
      this.statusBar,
      this.documents,
      this.changed,
      this.connected,
      this.statusRead,
      this.onDidChange((areas) => {
        if (areas.includes('sessions')) void this.countRunningSessions();
      }),
      vscode.workspace.onDidChangeConfiguration((event) => {
        const keys = this.config.changedSidecarKeys(event).filter((key) => this.engineSettingsChanging === 0 || !isEngineSettingKey(key));
        if (keys.length > 0) void this.pushSettings(keys, true);
      }),
    );
    this.onNotification(ExecOutputNotification.type, (output) => this.execStreams.deliver(output));
    // Last: it registers its handlers and listeners on this context.
    this.terminals = this.extensionScope.add(new SandboxTerminals(this));
    this.setState('starting');
  }

  /** The output channel of a background process (made on first use, kept until the window closes). */
  processOutputChannel(processId: string, name: string): vscode.OutputChannel & { following: boolean } {
    let channel = this.processChannels.get(processId);
    if (!channel) {
      channel = Object.assign(this.extensionScope.add(vscode.window.createOutputChannel(name)), { following: false });
      this.processChannels.set(processId, channel);
    }
    return channel;
  }

  get home(): string {
    return resolveHome(this.config.storageDirectory);
  }

  private firstStart: Promise<void> | undefined;

  /**
   * Connects once, when something needs the sidecar: a visible view, a command, a terminal.
   * A window that never shows Sandkasten never starts a sidecar.
   */
  startOnce(): Promise<void> {
    this.firstStart ??= this.start();
    return this.firstStart;
  }

  /** Starts (or joins) the sidecar and the client; never throws, shows state instead. */
  async start(): Promise<void> {
    try {
      await this.ensureClient();
      await this.refreshStatus();
    } catch (error) {
      this.lastError = describeError(error).message;
      this.output.error(`Could not connect to the sidecar: ${this.lastError}`);
      this.setState('failed');
    }
  }

  private ensureClient(): Promise<LanguageClient> {
    const client = this.connection?.client;
    if (client?.state === State.Running) return Promise.resolve(client);
    // A client restarting by itself after a lost connection is joined, not replaced: a
    // starting client cannot be stopped, so a replacement would run beside it.
    if (client?.state === State.Starting) return client.start().then(() => client);
    this.starting ??= this.replaceClient().finally(() => (this.starting = undefined));
    return this.starting;
  }

  /** Ends the previous connection (client and handlers), then starts a new client. */
  private async replaceClient(): Promise<LanguageClient> {
    await this.endConnection();
    const home = this.home;
    const sidecarScript = this.extension.asAbsolutePath(path.join('dist', 'sidecar.js'));
    // The client starts again by itself when the connection closed: the sidecar that closed it
    // is shutting down (a new engine, a switch, idleness). Connecting before it let go of the
    // storage directory would reach it, or start a sidecar that cannot take the directory.
    let previousPid: number | undefined;
    const serverOptions: ServerOptions = async () => {
      if (previousPid !== undefined) await waitUntilReleased(home, previousPid).catch(() => undefined);
      const socket = await connectToSidecar({ home, sidecarScript });
      previousPid = sidecarPid(home);
      this.output.info(`Connected to the sidecar of ${home}`);
      return { reader: socket, writer: socket };
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [],
      outputChannel: this.output,
      initializationFailedHandler: (error) => {
        this.output.error(`The sidecar refused the connection: ${describeError(error).message}`);
        return false;
      },
    };
    const client = new LanguageClient('sandkasten', 'Sandkasten', serverOptions, clientOptions);
    const scope = new DisposableScope();
    this.connection = { client, scope };
    for (const register of this.handlersForEveryConnection) scope.add(register(client));
    scope.push(
      client.onNotification(StateChangedNotification.type, ({ areas }) => {
        if (areas.includes('docker')) void this.refreshStatus();
        this.changed.fire(areas);
      }),
      client.onDidChangeState(({ newState }) => {
        // After the sidecar restarted (window reload elsewhere, crash), re-read everything.
        if (newState === State.Running) void this.afterConnect();
        if (newState === State.Stopped && this.state === 'ready') this.setState('starting');
      }),
    );
    await client.start();
    return client;
  }

  /**
   * Ends the current connection: its handlers first, so the stopping client's state changes
   * reach nobody, then the client. That closes only this window's connection; the sidecar
   * lives on for other windows and exits by itself once idle.
   */
  private async endConnection(): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    this.connection = undefined;
    try {
      connection.scope.dispose();
    } finally {
      // Disposed, not just stopped, so it never restarts itself. A client that never ran
      // refuses to stop; there is nothing to close then.
      await connection.client.dispose().catch(() => undefined);
    }
  }

  private async afterConnect(): Promise<void> {
    this.connected.fire();
    // The engine settings only on the first connection: a reconnect follows the engine someone
    // chose since (the CLI, another window), instead of restarting the sidecar back and forth.
    const keys = this.engineSettingsPushed ? SETTING_KEYS.filter((key) => !isEngineSettingKey(key)) : undefined;
    this.engineSettingsPushed = true;
    await this.pushSettings(keys);
    await this.refreshStatus();
  }

  private pushing: Promise<void> = Promise.resolve();

  /**
   * Sends explicitly set VS Code settings to the sidecar: they win over config.json. One push
   * at a time, each reading the settings when its turn comes: an engine setting restarts the
   * sidecar, and the next push goes to its successor (finding nothing left to change).
   */
  private pushSettings(keys?: string[], resetUnset = false): Promise<void> {
    this.pushing = this.pushing.then(() => this.pushSettingsNow(keys, resetUnset));
    return this.pushing;
  }

  private async pushSettingsNow(keys: string[] | undefined, resetUnset: boolean): Promise<void> {
    try {
      const values = this.config.explicitSidecarSettings(keys, { resetUnset });
      const client = this.connection?.client;
      if (Object.keys(values).length === 0) return;
      if (client?.state !== State.Running) {
        // Not sent now: the next connection sends the engine settings too.
        if (Object.keys(values).some(isEngineSettingKey)) this.engineSettingsPushed = false;
        return;
      }
      const apply = async () => {
        await client.sendRequest(SetConfigRequest.type, { values });
        this.output.info(`Settings sent to the sidecar: ${Object.keys(values).join(', ')}`);
      };
      // The sidecar picks its engine at start: a new engine setting restarts it.
      if (await this.changesEngine(client, values)) await this.restartSidecar('Sandkasten: restarting on the new Docker engine…', apply);
      else await apply();
    } catch (error) {
      void this.showError(error, 'Sandkasten settings were not applied');
    }
  }

  /** Whether sending `values` changes the sidecar's engine settings. */
  private async changesEngine(client: LanguageClient, values: ConfigValues): Promise<boolean> {
    const keys = ENGINE_SETTING_KEYS.filter((key) => key in values);
    if (keys.length === 0) return false;
    const current = await client.sendRequest(GetConfigRequest.type, {});
    return keys.some((key) => (values[key] ?? SETTINGS[key].defaultValue) !== current[key]);
  }

  /**
   * Changes the engine settings in VS Code (`change`) as one step, then sends them: the
   * sidecar restarts once, on the engine they name together. Unset ones reset the sidecar's.
   */
  async changeEngineSettings(change: () => Promise<void>): Promise<void> {
    this.engineSettingsChanging++;
    try {
      await change();
    } finally {
      this.engineSettingsChanging--;
    }
    await this.pushSettings([...ENGINE_SETTING_KEYS], true);
  }

  /**
   * Does `action`, after which the sidecar restarts (a new engine setting, a switch of
   * engines), under a progress notification: waits for it to let go of the storage directory,
   * then connects to its successor (starting it) and reads its status.
   */
  async restartSidecar(title: string, action: () => Promise<unknown>): Promise<void> {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title }, async () => {
      const pid = sidecarPid(this.home);
      await action();
      // Ended first, so that it does not start again by itself while the old sidecar stops.
      await this.endConnection();
      this.setState('starting');
      try {
        if (pid !== undefined) await waitUntilReleased(this.home, pid);
      } finally {
        await this.start(); // shows where things stand, even after waiting in vain
      }
    });
  }

  /** Asks the sidecar how it and Docker are; updates the views' state. */
  async refreshStatus(): Promise<SidecarStatus | undefined> {
    try {
      const client = await this.ensureClient();
      const status = await client.sendRequest(StatusRequest.type, {});
      const { docker } = status;
      this.status = status;
      // Another engine answers than the storage directory's: as unusable as no engine, until someone chooses.
      this.lastError = docker.mismatch ? mismatchDetails(docker.mismatch) : docker.error;
      this.setState(docker.available && !docker.mismatch ? 'ready' : 'dockerUnavailable');
      this.statusRead.fire(status);
    } catch (error) {
      this.lastError = describeError(error).message;
      this.setState('failed');
    }
    this.changed.fire(['workspaces', 'sessions', 'pool']);
    return this.status;
  }

  private progressTokens = 0;

  /**
   * A long request (an archive, a snapshot, a restore) under a progress notification titled
   * `title` that shows what the sidecar reports on the request's work-done token.
   */
  async requestWithProgress<P extends { workDoneToken?: string | number }, R>(title: string, type: RequestType<P, R, void>, params: P): Promise<R> {
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title }, async (progress) => {
      const client = await this.ensureClient();
      const token = `vscode-${process.pid}-${++this.progressTokens}`;
      const listener = client.onProgress(WorkDoneProgress.type, token, (value) => {
        if (value.kind === 'report' && value.message) progress.report({ message: value.message });
      });
      try {
        return await client.sendRequest(type, { ...params, workDoneToken: token } as RequestParam<P>);
      } finally {
        listener.dispose();
      }
    });
  }

  /** Sends a request once the client runs; errors come back as ResponseError. */
  async request<P, R>(type: RequestType<P, R, void>, params: RequestParam<P>, token?: vscode.CancellationToken): Promise<R> {
    void this.startOnce();
    const client = await this.ensureClient();
    return client.sendRequest(type, params, token);
  }

  /**
   * Handles a sidecar notification on the current client and on every later one, for the
   * extension's lifetime; each registration ends with its connection.
   */
  onNotification<P>(type: NotificationType<P>, handler: (params: P) => void): void {
    const register = (client: LanguageClient) => client.onNotification(type, handler);
    this.handlersForEveryConnection.push(register);
    this.connection?.scope.add(register(this.connection.client));
  }

  /** Sends a notification once the client runs; notifications sent in order arrive in order. */
  async sendNotification<P>(type: NotificationType<P>, params: RequestParam<P>): Promise<void> {
    const client = await this.ensureClient();
    await client.sendNotification(type, params);
  }

  /**
   * A message with one sentence and a "Show Logs" action, never a stack trace; the engine's
   * raw detail, when the sidecar sent one, goes to the log only. `actions` are offered before
   * "Show Logs"; resolves with the one chosen.
   */
  async showError(error: unknown, prefix?: string, ...actions: string[]): Promise<string | undefined> {
    const { message, code, detail } = describeError(error);
    if (code === 'RequestCancelled') return undefined;
    this.output.error(`${prefix ? `${prefix}: ` : ''}${message}${code ? ` [${code}]` : ''}${detail ? `\n  detail: ${detail}` : ''}`);
    if (code === 'DockerUnavailable') void this.refreshStatus();
    const choice = await vscode.window.showErrorMessage(prefix ? `${prefix}: ${message}` : message, ...actions, 'Show Logs');
    if (choice === 'Show Logs') this.output.show();
    return choice === 'Show Logs' ? undefined : choice;
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    void vscode.commands.executeCommand('setContext', 'sandkasten.state', state);
    const details: Record<ConnectionState, string> = {
      starting: 'Starting the sidecar…',
      ready: this.status ? engineDetails(this.status.docker) : 'Docker',
      dockerUnavailable: this.lastError ?? 'Docker is not reachable.',
      failed: `The sidecar is not running. ${this.lastError ?? ''}`,
    };
    this.statusBar.show(state, details[state]);
  }

  /** Tells the views about a change made on this side (e.g. a kept Run Command output). */
  viewsChanged(areas: ChangedArea[]): void {
    this.changed.fire(areas);
  }

  /** Updates the status bar's "N running". */
  private async countRunningSessions(): Promise<void> {
    if (this.state !== 'ready') return;
    try {
      const sessions = await this.request(ListSessionsRequest.type, {});
      this.statusBar.setRunning(sessions.filter((session) => session.state === 'running' || session.state === 'paused').length);
    } catch {
      this.statusBar.setRunning(undefined);
    }
  }

  /** For commands, views and other registrations that last as long as the extension. */
  pushExtensionCleanup(...disposables: vscode.Disposable[]): void {
    this.extensionScope.push(...disposables);
  }

  async dispose(): Promise<void> {
    await this.endConnection();
    this.extensionScope.dispose();
  }
}
