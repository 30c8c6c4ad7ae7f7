/**
 * One end-to-end suite's VS Code: the real extension (sandkasten.vsix) installed into a real
 * VS Code (code-server, VS Code 1.139 in the browser), a Chromium page on it driven through the
 * Workbench page object, and the extension's real sidecar, which talks to the real Docker
 * engine. Nothing is mocked.
 *
 * Every suite gets its own code-server (temporary user-data-dir, extensions-dir, settings and
 * opened folder) and its own SANDKASTEN_HOME, so its sidecar and Docker objects are isolated
 * from any other test. Teardown stops the browser, code-server and the sidecar, and asserts
 * that no container or volume labelled with that sidecar's instance is left in Docker.
 *
 * Prerequisites are checked up front and fail with the command that fixes them; nothing is
 * skipped.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { SessionInfo, SidecarStatus, WorkspaceInfo } from '../../sidecar/client/protocol';
import { processGone } from '../integration/harness';
import {
  ARTIFACTS,
  checkPrerequisites,
  CHROMIUM,
  CODE_SERVER,
  dockerObjects,
  eventually,
  findFiles,
  freePort,
  healthy,
  INSTANCE_LABEL,
  LIMITS,
  processesMentioning,
  readIfExists,
  removeDockerObjects,
  REPO_ROOT,
  run,
  slug,
  tail,
  TEST_IMAGE,
  VSIX,
  type DockerObjects,
  type RunResult,
} from './support';
import { Workbench } from './workbench';

export interface SuiteOptions {
  /** Extra environment for code-server (and so for the extension and its sidecar). */
  env?: Record<string, string>;
  /** Settings written to User/settings.json on top of the suite defaults. */
  settings?: Record<string, unknown>;
  /**
   * Folders of further extensions (test fixtures, e.g. test/e2e/fixtures/api-consumer) to
   * package and install after Sandkasten, so they can declare it in `extensionDependencies`.
   */
  extensions?: string[];
  /**
   * Open a saved multi-root workspace (a .code-workspace file holding the folder) instead of
   * the folder: adding a folder to it then needs no reload into an untitled workspace, which
   * code-server sometimes reloads before the new folder list is stored.
   */
  multiRootWorkspace?: boolean;
}

/** A step that did not run because an earlier one failed: its failure is that one's. */
class NotRun extends Error {}

/** Everything still running when the test process exits is stopped (Ctrl-C, a crash). */
const liveServers = new Set<number>();
process.once('exit', () => {
  for (const pid of liveServers) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/**
 * One suite's VS Code: a fresh code-server with the VSIX installed, a Chromium page on it, an
 * isolated SANDKASTEN_HOME. Use `start()` in `before`, `stop()` in `after`, and `test()` (or
 * `step()`) instead of `it` so each test leaves a screenshot, and a failing one its page and logs.
 */
export class CodeServerSuite {
  /** Temporary root holding user-data-dir, extensions-dir, config and the opened folder. */
  readonly root: string;
  readonly userDataDir: string;
  readonly extensionsDir: string;
  readonly folder: string;

  /** What the window opens: the folder, or the .code-workspace file holding it (multiRootWorkspace). */
  private get opened(): string {
    return this.options.multiRootWorkspace ? this.workspaceFile : this.folder;
  }

  private get workspaceFile(): string {
    return path.join(this.root, 'suite.code-workspace');
  }
  /** SANDKASTEN_HOME of this suite: short, since it hosts the sidecar's Unix socket. */
  readonly home: string;
  readonly serverLog: string;
  port = 0;
  server: ChildProcess | undefined;
  browser: Browser | undefined;
  page!: Page;
  workbench!: Workbench;
  /** The sidecar as first seen through `status` (its instance labels the Docker objects). */
  sidecar: SidecarStatus | undefined;
  private readonly consoleMessages: string[] = [];
  private failedStep: string | undefined;
  private testIndex = 0;
  private serverExit: string | undefined;

  constructor(
    readonly name: string,
    readonly options: SuiteOptions = {},
  ) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), `sandkasten-e2e-${slug(name)}-`));
    this.userDataDir = path.join(this.root, 'user-data');
    this.extensionsDir = path.join(this.root, 'extensions');
    this.folder = path.join(this.root, 'folder');
    this.serverLog = path.join(this.root, 'code-server.log');
    this.home = fs.mkdtempSync(path.join('/tmp', 'ske-'));
  }

  /** code-server's environment: ours plus the suite's, with an isolated SANDKASTEN_HOME. */
  get env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, SANDKASTEN_HOME: this.home, ...this.options.env };
    // Settings of an enclosing VS Code or code-server must not leak into this one.
    for (const key of Object.keys(env)) if (key.startsWith('VSCODE_') || key === 'ELECTRON_RUN_AS_NODE') delete env[key];
    delete env.PASSWORD;
    delete env.HASHED_PASSWORD;
    return env;
  }

  private get stateFlags(): string[] {
    return ['--user-data-dir', this.userDataDir, '--extensions-dir', this.extensionsDir, '--config', path.join(this.root, 'config.yaml')];
  }

  async start(): Promise<void> {
    await checkPrerequisites();
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    for (const old of fs.readdirSync(ARTIFACTS)) if (old.startsWith(`${slug(this.name)}--`)) fs.rmSync(path.join(ARTIFACTS, old), { force: true });
    fs.mkdirSync(this.folder, { recursive: true });
    if (this.options.multiRootWorkspace) fs.writeFileSync(this.workspaceFile, JSON.stringify({ folders: [{ path: this.folder }] }));
    this.writeSettings();
    await this.installExtension();
    await this.startServer();
    await this.openBrowser();
  }

  private writeSettings(): void {
    // Workspace trust stays on: the folder opens in Restricted Mode, which the extension
    // declares it supports. The rest removes what a first start shows besides our views.
    const settings = {
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'workbench.welcomePage.walkthroughs.openOnInstall': false,
      'workbench.secondarySideBar.defaultVisibility': 'hidden',
      // A running session's row has children (its Ports row) and can stick to the tree's top, where its
      // sticky copy takes the clicks meant for the row itself: tests click rows, not sticky copies.
      'workbench.tree.enableStickyScroll': false,
      'chat.disableAIFeatures': true,
      'chat.commandCenter.enabled': false,
      'extensions.ignoreRecommendations': true,
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'git.openRepositoryInParentFolders': 'never',
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'sandkasten.defaultImage': TEST_IMAGE,
      ...this.options.settings,
    };
    const file = path.join(this.userDataDir, 'User', 'settings.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(settings, null, 2)}\n`);
  }

  private async installExtension(): Promise<void> {
    await this.installVsix(VSIX);
    for (const folder of this.options.extensions ?? []) await this.installVsix(await this.packageExtensionFolder(folder));
  }

  private async installVsix(vsix: string): Promise<void> {
    const result = await run(CODE_SERVER, [...this.stateFlags, '--install-extension', vsix, '--force'], { env: this.env, timeoutMs: LIMITS.serverMs });
    assert.ok(
      result.code === 0 && /successfully installed/i.test(result.stdout + result.stderr),
      `code-server could not install ${vsix} (exit ${result.code}):\n${result.stdout}${result.stderr}`,
    );
  }

  /**
   * Packages an extension folder into a VSIX in this suite's temporary root with the project's
   * own vsce (offline; vsce packages the folder it runs in, so it runs in a copy of it).
   */
  private async packageExtensionFolder(folder: string): Promise<string> {
    const name = path.basename(folder);
    const copy = path.join(this.root, 'packaged', name);
    fs.cpSync(folder, copy, { recursive: true });
    const vsix = path.join(this.root, 'packaged', `${name}.vsix`);
    const vsce = path.join(REPO_ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
    const args = [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '--out', vsix];
    const failure = await new Promise<string | undefined>((resolve) =>
      execFile(process.execPath, args, { cwd: copy, timeout: LIMITS.serverMs }, (error, stdout, stderr) => resolve(error ? `${error.message}\n${stdout}${stderr}` : undefined)),
    );
    assert.ok(failure === undefined, `vsce could not package ${folder}: ${failure}`);
    return vsix;
  }

  /** The extension's folder as installed: its bundled CLI is the one matching its sidecar. */
  get installedExtension(): string {
    const folder = fs.readdirSync(this.extensionsDir).find((name) => name.startsWith('sandkasten.sandkasten-'));
    assert.ok(folder, `the extension is not installed in ${this.extensionsDir}`);
    return path.join(this.extensionsDir, folder);
  }

  private async startServer(): Promise<void> {
    this.port = await freePort();
    const log = fs.openSync(this.serverLog, 'w');
    // detached: its own process group, so parent and child stop together with one kill.
    const server = spawn(
      CODE_SERVER,
      [
        '--auth', 'none',
        '--bind-addr', `127.0.0.1:${this.port}`,
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-getting-started-override',
        ...this.stateFlags,
        this.opened,
      ],
      { cwd: this.root, env: this.env, detached: true, stdio: ['ignore', log, log] },
    );
    fs.closeSync(log);
    this.server = server;
    if (server.pid) liveServers.add(server.pid);
    server.once('exit', (code, signal) => (this.serverExit = signal ?? `code ${code}`));
    await eventually(`code-server to answer on port ${this.port}`, async () => {
      if (this.serverExit) throw new Error(`code-server exited (${this.serverExit}):\n${tail(readIfExists(this.serverLog))}`);
      return (await healthy(this.port)) ? true : undefined;
    }, { limitMs: LIMITS.serverMs, describe: () => tail(readIfExists(this.serverLog), 10) });
  }

  private async openBrowser(): Promise<void> {
    this.browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const context = await this.browser.newContext({ viewport: { width: 1400, height: 900 } });
    // The last pointer and key events with their targets, for the artifacts of a failing test:
    // they tell whether a click reached the workbench and what it landed on.
    await context.addInitScript(() => {
      const w = globalThis as unknown as { __sandkastenEvents: string[]; document: { addEventListener: (t: string, f: (e: never) => void, c: boolean) => void }; performance: { now(): number } };
      w.__sandkastenEvents = [];
      for (const type of ['mousedown', 'mouseup', 'click', 'contextmenu', 'keydown']) {
        w.document.addEventListener(
          type,
          (event: { target?: { className?: unknown; getAttribute?: (name: string) => string | null }; button?: number; key?: string }) => {
            const target = event.target;
            const name = typeof target?.className === 'string' ? target.className : '';
            const label = target?.getAttribute?.('aria-label') ?? '';
            w.__sandkastenEvents.push(`${Math.round(w.performance.now())} ${type} ${event.key ?? `button ${event.button}`} on .${name.split(' ').join('.')}${label ? ` [${label}]` : ''}`);
            if (w.__sandkastenEvents.length > 300) w.__sandkastenEvents.shift();
          },
          true,
        );
      }
    });
    this.page = await context.newPage();
    this.page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') this.consoleMessages.push(`[${message.type()}] ${message.text()}`);
    });
    this.page.on('pageerror', (error) => this.consoleMessages.push(`[pageerror] ${error.message}`));
    this.workbench = new Workbench(this.page);
    const query = this.options.multiRootWorkspace ? 'workspace' : 'folder';
    await this.page.goto(`http://127.0.0.1:${this.port}/?${query}=${encodeURIComponent(this.opened)}`);
    await this.workbench.waitUntilLoaded();
  }

  // --- the sidecar, through the CLI the VSIX ships ----------------------------------------------

  /** Runs the installed extension's `sandkasten` CLI against this suite's SANDKASTEN_HOME. */
  async cli(args: string[]): Promise<RunResult> {
    return run(process.execPath, [path.join(this.installedExtension, 'bin', 'sandkasten'), ...args], { env: this.env });
  }

  /** A workspace of `image` and a running session on it, made with the CLI (as an agent would). */
  async newSession(workspaceName: string, image: string): Promise<SessionInfo> {
    const created = await this.cli(['workspace', 'create', workspaceName, '--image', image, '--json']);
    assert.equal(created.code, 0, `sandkasten workspace create failed: ${created.stderr}`);
    const workspaceId = (JSON.parse(created.stdout) as WorkspaceInfo).id;
    const started = await this.cli(['session', 'start', workspaceId, '--json']);
    assert.equal(started.code, 0, `sandkasten session start failed: ${started.stderr}`);
    return JSON.parse(started.stdout) as SessionInfo;
  }

  /** `sandkasten status --json`: pid, instance and Docker as the sidecar sees them. */
  async sidecarStatus(): Promise<SidecarStatus> {
    const result = await this.cli(['status', '--json']);
    assert.equal(result.code, 0, `sandkasten status failed: ${result.stderr}`);
    const status = JSON.parse(result.stdout) as SidecarStatus;
    this.sidecar ??= status;
    return status;
  }

  /** `sandkasten workspace ls --json`. */
  async listWorkspaces(): Promise<WorkspaceInfo[]> {
    const result = await this.cli(['workspace', 'ls', '--json']);
    assert.equal(result.code, 0, `sandkasten workspace ls failed: ${result.stderr}`);
    return JSON.parse(result.stdout);
  }

  /** `sandkasten session ls --json`. */
  async listSessions(): Promise<SessionInfo[]> {
    const result = await this.cli(['session', 'ls', '--json']);
    assert.equal(result.code, 0, `sandkasten session ls failed: ${result.stderr}`);
    return JSON.parse(result.stdout);
  }

  // --- tests with artifacts -----------------------------------------------------------------

  /**
   * A test: runs `body`, then saves a screenshot into artifacts/e2e/; when it fails, also the
   * page's HTML, the extension's output channels, the sidecar's and code-server's logs and
   * the browser console.
   */
  test(name: string, body: (workbench: Workbench) => Promise<void>): void {
    const index = ++this.testIndex;
    it(name, { timeout: LIMITS.testMs }, async () => {
      const base = path.join(ARTIFACTS, `${slug(this.name)}--${String(index).padStart(2, '0')}-${slug(name)}`);
      try {
        await body(this.workbench);
      } catch (error) {
        if (error instanceof NotRun) throw error;
        const saved = await this.saveFailureArtifacts(base);
        if (error instanceof Error) error.message += `\n    artifacts: ${saved.map((file) => path.relative(REPO_ROOT, file)).join(', ')}`;
        throw error;
      } finally {
        await this.page?.screenshot({ path: `${base}.png` }).catch(() => undefined);
      }
    });
  }

  /**
   * A test that builds on the previous steps of this suite: when one of those failed, it fails
   * at once naming that step, instead of failing later in a confusing way.
   */
  step(name: string, body: (workbench: Workbench) => Promise<void>): void {
    this.test(name, async (workbench) => {
      if (this.failedStep) throw new NotRun(`Not run: it builds on the earlier step "${this.failedStep}", which failed.`);
      try {
        await body(workbench);
      } catch (error) {
        this.failedStep = name;
        throw error;
      }
    });
  }

  /** The extension's output channel logs as code-server wrote them (all window reloads). */
  extensionLogs(): Array<{ file: string; text: string }> {
    return findFiles(path.join(this.userDataDir, 'logs'), (name) => name.includes('Sandkasten')).map((file) => ({
      file,
      text: readIfExists(file) ?? '',
    }));
  }

  /**
   * Saves what a failing test needs next to `base` (a path in artifacts/e2e/ without suffix):
   * the page's HTML, the extension's output channels, the sidecar's and code-server's logs, the
   * browser console and the last pointer and key events. Returns the files (the screenshot
   * `${base}.png` among them, which the caller takes).
   */
  async saveFailureArtifacts(base: string): Promise<string[]> {
    const saved: string[] = [];
    const save = (suffix: string, text: string | undefined) => {
      if (text === undefined) return;
      fs.writeFileSync(`${base}${suffix}`, text);
      saved.push(`${base}${suffix}`);
    };
    saved.push(`${base}.png`);
    save('.html', await this.page?.content().catch((error: Error) => `(could not read the page: ${error.message})`));
    const logs = this.extensionLogs();
    save(
      '.extension.log',
      logs.length > 0
        ? logs.map(({ file, text }) => `===== ${path.relative(this.userDataDir, file)}\n${text}`).join('\n')
        : `(no output channel log of the extension under ${path.join(this.userDataDir, 'logs')})`,
    );
    save('.sidecar.log', readIfExists(path.join(this.home, 'sidecar.log')) ?? '(no sidecar.log: the sidecar never started)');
    save('.code-server.log', readIfExists(this.serverLog));
    save('.console.log', this.consoleMessages.join('\n'));
    save('.events.log', await this.page?.evaluate(() => (globalThis as unknown as { __sandkastenEvents?: string[] }).__sandkastenEvents?.join('\n') ?? '').catch(() => undefined));
    return saved;
  }

  // --- teardown -----------------------------------------------------------------------------

  /**
   * Closes the browser, stops code-server's process group, deletes whatever workspace a failed
   * test left, shuts the sidecar down and asserts that Docker holds nothing of its instance.
   */
  async stop(): Promise<void> {
    const problems: string[] = [];
    await this.browser?.close().catch((error: Error) => problems.push(`closing the browser: ${error.message}`));
    await this.stopServer().catch((error: Error) => problems.push(`stopping code-server: ${error.message}`));

    const socketExists = fs.existsSync(path.join(this.home, 'sidecar.sock'));
    let instanceId = this.sidecar?.instanceId;
    let pid = this.sidecar?.pid;
    if (socketExists) {
      try {
        const status = await this.sidecarStatus();
        instanceId = status.instanceId;
        pid = status.pid;
        for (const workspace of await this.listWorkspaces()) {
          // Only a failed test leaves one behind: clean it so Docker does not fill up.
          const removed = await this.cli(['workspace', 'rm', '--force', workspace.id]);
          if (removed.code !== 0) problems.push(`deleting leftover workspace ${workspace.id}: ${removed.stderr}`);
        }
        const stopped = await this.cli(['daemon', 'stop']);
        if (stopped.code !== 0) problems.push(`sandkasten daemon stop: ${stopped.stderr}`);
      } catch (error) {
        problems.push(`talking to the sidecar: ${(error as Error).message}`);
      }
    }
    if (pid) {
      const sidecarPid = pid;
      await eventually(`the sidecar (pid ${sidecarPid}) to exit`, () => (processGone(sidecarPid) ? true : undefined), { limitMs: LIMITS.uiMs }).catch(
        (error: Error) => {
          problems.push(error.message);
          try {
            process.kill(sidecarPid, 'SIGKILL');
          } catch {
            /* gone */
          }
        },
      );
    }

    let left: DockerObjects = { containers: [], volumes: [] };
    if (instanceId) {
      left = await dockerObjects(INSTANCE_LABEL, instanceId);
      await removeDockerObjects(left);
    }
    const sidecarLog = readIfExists(path.join(this.home, 'sidecar.log'));
    if (problems.length > 0 || left.containers.length > 0 || left.volumes.length > 0) {
      // Keep the logs of a teardown that went wrong next to the other artifacts.
      fs.writeFileSync(path.join(ARTIFACTS, `${slug(this.name)}--teardown.sidecar.log`), sidecarLog ?? '(none)');
    }
    fs.rmSync(this.root, { recursive: true, force: true });
    fs.rmSync(this.home, { recursive: true, force: true });

    assert.deepEqual(problems, [], `the suite "${this.name}" stopped cleanly; the sidecar's log ends with:\n${tail(sidecarLog)}`);
    assert.deepEqual(left, { containers: [], volumes: [] }, `no container or volume labelled ${INSTANCE_LABEL}=${instanceId} remains after the sidecar stopped`);
  }

  private async stopServer(): Promise<void> {
    const server = this.server;
    if (!server?.pid || this.serverExit) return;
    const pid = server.pid;
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-pid, signal);
      } catch {
        /* already gone */
      }
    };
    killGroup('SIGTERM');
    await eventually('code-server to exit', () => (this.serverExit ? true : undefined), { limitMs: 10_000 }).catch(() => killGroup('SIGKILL'));
    // Its children (the extension host among them) share the group: make sure none survives.
    killGroup('SIGKILL');
    liveServers.delete(pid);
  }
}

/**
 * Several VS Codes at once in one test file, e.g. the host and the guest of a shared session.
 * Each is a CodeServerSuite of its own: code-server on its own port with its own user-data and
 * extensions directories, its own browser, and its own SANDKASTEN_HOME, so its own sidecar and
 * its own Docker instance label. They start together and stop one after the other (in the
 * order given), each teardown asserting that its instance left nothing in Docker.
 *
 * A step of the group leaves a screenshot of every page (`<group>--NN-<step>--<role>.png`) and,
 * when it fails, every suite's failure artifacts; like CodeServerSuite.step, a step after a
 * failed one fails at once naming it.
 */
export class CodeServerGroup<Role extends string> {
  private failedStep: string | undefined;
  private stepIndex = 0;

  constructor(
    readonly name: string,
    readonly suites: Readonly<Record<Role, CodeServerSuite>>,
  ) {}

  private get entries(): Array<[Role, CodeServerSuite]> {
    return Object.entries(this.suites) as Array<[Role, CodeServerSuite]>;
  }

  /** Starts every suite at once (code-server, browser, workbench). */
  async start(): Promise<void> {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    for (const old of fs.readdirSync(ARTIFACTS)) if (old.startsWith(`${slug(this.name)}--`)) fs.rmSync(path.join(ARTIFACTS, old), { force: true });
    const started = await Promise.allSettled(this.entries.map(([, suite]) => suite.start()));
    const failures = started.flatMap((result, index) => (result.status === 'rejected' ? [`${this.entries[index][0]}: ${(result.reason as Error).message}`] : []));
    assert.deepEqual(failures, [], `every VS Code of "${this.name}" started`);
  }

  /**
   * Stops every suite, one after the other, and checks that no process of it is left (its
   * code-server names its root, its sidecar its home; one left behind is killed and reported).
   * Fails with every teardown's problem together.
   */
  async stop(): Promise<void> {
    const problems: string[] = [];
    for (const [role, suite] of this.entries) {
      await suite.stop().catch((error: Error) => problems.push(`${role}: ${error.message}`));
      const left = () => [...processesMentioning(suite.root), ...processesMentioning(suite.home)];
      await eventually(`no process of the ${role}'s VS Code or sidecar to be left`, () => (left().length === 0 ? true : undefined), { limitMs: 10_000 }).catch(() => {
        for (const { pid, args } of left()) {
          problems.push(`${role}: process ${pid} was left running: ${args}`);
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone meanwhile */
          }
        }
      });
    }
    assert.deepEqual(problems, [], `every VS Code of "${this.name}" stopped cleanly`);
  }

  /** A step over all the pages; see the class comment for its screenshots and artifacts. */
  step(name: string, body: (suites: Readonly<Record<Role, CodeServerSuite>>) => Promise<void>): void {
    const index = ++this.stepIndex;
    it(name, { timeout: LIMITS.testMs }, async () => {
      if (this.failedStep) throw new NotRun(`Not run: it builds on the earlier step "${this.failedStep}", which failed.`);
      const base = path.join(ARTIFACTS, `${slug(this.name)}--${String(index).padStart(2, '0')}-${slug(name)}`);
      try {
        await body(this.suites);
      } catch (error) {
        this.failedStep = name;
        const saved: string[] = [];
        for (const [role, suite] of this.entries) saved.push(...(await suite.saveFailureArtifacts(`${base}--${role}`).catch(() => [])));
        if (error instanceof Error) error.message += `\n    artifacts: ${saved.map((file) => path.relative(REPO_ROOT, file)).join(', ')}`;
        throw error;
      } finally {
        for (const [role, suite] of this.entries) await suite.page?.screenshot({ path: `${base}--${role}.png` }).catch(() => undefined);
      }
    });
  }

  /** Saves a screenshot of `role`'s page now, as `<group>--<label>--<role>.png`; returns its path. */
  async screenshot(role: Role, label: string): Promise<string> {
    const file = path.join(ARTIFACTS, `${slug(this.name)}--${slug(label)}--${role}.png`);
    await this.suites[role].page.screenshot({ path: file });
    return file;
  }
}
