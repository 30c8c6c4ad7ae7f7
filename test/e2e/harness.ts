/**
 * End-to-end harness: the real extension (sandkasten.vsix) installed into a real VS Code
 * (code-server, VS Code 1.139 in the browser), driven through Chromium by playwright-core the
 * way a person would: the activity bar, F1 and typed command titles, input boxes, quick picks,
 * tree items with their inline actions and context menus, notifications, dialogs, the Output
 * panel. Nothing is mocked: the extension starts its real sidecar, which talks to the real
 * Docker engine.
 *
 * Every suite gets its own code-server (temporary user-data-dir, extensions-dir, settings and
 * opened folder) and its own SANDKASTEN_HOME, so its sidecar and Docker objects are isolated
 * from any other test. Teardown stops the browser, code-server and the sidecar, and asserts
 * that no container or volume labelled with that sidecar's instance is left in Docker.
 *
 * Prerequisites are checked up front and fail with the command that fixes them; nothing is
 * skipped. No assertion is about time: waits are bounded only so a broken build fails instead
 * of hanging.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { it } from 'node:test';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { processGone } from '../integration/harness';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** The packaged extension (`npm run package`); SANDKASTEN_VSIX tests another build. */
export const VSIX = path.resolve(REPO_ROOT, process.env.SANDKASTEN_VSIX ?? 'sandkasten.vsix');
export const CODE_SERVER = path.join(REPO_ROOT, '.cache', 'bin', 'code-server');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = path.join(REPO_ROOT, 'artifacts', 'e2e');
export const TEST_IMAGE = 'sandkasten-test/busybox:latest';
/** The label every Docker object of one sidecar (one storage directory) carries. */
export const INSTANCE_LABEL = 'sandkasten.instance';
export const WORKSPACE_LABEL = 'sandkasten.workspace';
export const SESSION_LABEL = 'sandkasten.session';

/** Bounds, not expectations: the machine has 2 shared cores and everything here is real. */
export const LIMITS = {
  /** code-server answering /healthz. */
  serverMs: 60_000,
  /** The workbench and then the extension's activity bar icon (~5 s and ~10 s when idle). */
  workbenchMs: 90_000,
  /** A UI reaction: a palette row, an input box, a menu, a tree refresh. */
  uiMs: 30_000,
  /** Work that reaches Docker: creating a workspace, starting a session, running a command. */
  dockerMs: 90_000,
  /** One test, end to end. */
  testMs: 240_000,
  /** Starting or stopping a whole suite (code-server, browser, sidecar, Docker clean-up). */
  suiteMs: 240_000,
};

const POLL_MS = 250;

// ---------------------------------------------------------------------------------------------
// Small utilities

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Matches the whole (whitespace-trimmed) text, nothing more. */
export function exactly(text: string): RegExp {
  return new RegExp(`^\\s*${escapeRegExp(text)}\\s*$`);
}

/**
 * Polls `probe` until it returns something other than undefined. On giving up, the error names
 * what was awaited and what was last seen (`describe`), which is what a failure needs.
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  options: { limitMs?: number; describe?: () => Promise<string> | string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.limitMs ?? LIMITS.uiMs);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      let seen = '';
      try {
        seen = options.describe ? `; last seen: ${await options.describe()}` : '';
      } catch {
        /* the description is best effort */
      }
      throw new Error(`Gave up waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}${seen}`);
    }
    await sleep(POLL_MS);
  }
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 70);
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { env: options.env ?? process.env, cwd: REPO_ROOT, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) || (error && typeof error.code !== 'number' ? error.message : '') });
      },
    );
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** code-server's /healthz needs no auth and answers {"status": …} once it serves. */
function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 1000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(response.statusCode === 200 && body.includes('"status"')));
    });
    request.once('error', () => resolve(false));
    request.once('timeout', () => {
      request.destroy();
      resolve(false);
    });
  });
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function tail(text: string | undefined, lines = 30): string {
  return (text ?? '(empty)').trimEnd().split('\n').slice(-lines).join('\n');
}

function findFiles(dir: string, match: (name: string) => boolean): string[] {
  const found: string[] = [];
  const walk = (current: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (match(entry.name)) found.push(full);
    }
  };
  walk(dir);
  return found.sort();
}

// ---------------------------------------------------------------------------------------------
// Docker, seen from the test (never through the extension)

export interface DockerObjects {
  containers: string[];
  volumes: string[];
}

/** Names of the containers (any state) and volumes carrying `label=value`. */
export async function dockerObjects(label: string, value: string): Promise<DockerObjects> {
  const filter = `label=${label}=${value}`;
  const [containers, volumes] = await Promise.all([
    run('docker', ['ps', '-a', '--filter', filter, '--format', '{{.Names}}']),
    run('docker', ['volume', 'ls', '--filter', filter, '--format', '{{.Name}}']),
  ]);
  if (containers.code !== 0 || volumes.code !== 0) {
    throw new Error(`docker could not list objects labelled ${label}=${value}: ${containers.stderr}${volumes.stderr}`);
  }
  const lines = (text: string) => text.split('\n').map((line) => line.trim()).filter(Boolean).sort();
  return { containers: lines(containers.stdout), volumes: lines(volumes.stdout) };
}

/** Names of the running containers carrying `label=value`. */
export async function runningContainers(label: string, value: string): Promise<string[]> {
  const result = await run('docker', ['ps', '--filter', `label=${label}=${value}`, '--format', '{{.Names}}']);
  if (result.code !== 0) throw new Error(`docker ps failed: ${result.stderr}`);
  return result.stdout.split('\n').map((line) => line.trim()).filter(Boolean);
}

async function removeDockerObjects(objects: DockerObjects): Promise<void> {
  if (objects.containers.length > 0) await run('docker', ['rm', '-f', '-v', ...objects.containers]);
  if (objects.volumes.length > 0) await run('docker', ['volume', 'rm', '-f', ...objects.volumes]);
}

// ---------------------------------------------------------------------------------------------
// Prerequisites: each failure names the command that fixes it

let prerequisitesChecked: Promise<void> | undefined;

/** Fails (never skips) with the command to run when something the suite needs is missing. */
export function checkPrerequisites(): Promise<void> {
  prerequisitesChecked ??= (async () => {
    assert.ok(
      fs.existsSync(VSIX),
      `${VSIX} is missing. The end-to-end tests install the packaged extension: run \`npm run package\` first (and again after changing src/ or sidecar/).`,
    );
    assert.ok(
      fs.existsSync(CODE_SERVER),
      `code-server is not installed (${CODE_SERVER} is missing): run \`bash scripts/code-server-setup.sh\` (installs code-server 4.139.1 and Node 24 under .cache/, once).`,
    );
    assert.ok(fs.existsSync(CHROMIUM), `Chromium is missing (${CHROMIUM}): run \`apt-get install -y chromium\` (or set CHROMIUM_PATH).`);
    const info = await run('docker', ['info', '--format', '{{.ServerVersion}}']);
    assert.equal(info.code, 0, `The Docker engine does not answer (docker info: ${info.stderr.trim()}): run \`bash scripts/docker-up.sh\`.`);
    const image = await run('docker', ['image', 'inspect', TEST_IMAGE, '--format', '{{.Id}}']);
    assert.equal(image.code, 0, `The test image ${TEST_IMAGE} is missing: run \`bash scripts/build-test-image.sh\`.`);
  })();
  return prerequisitesChecked;
}

// ---------------------------------------------------------------------------------------------
// The workbench, driven like a person

/** What a tree row shows: its label and its description. */
export interface TreeRow {
  label: string;
  description: string;
}

/**
 * The VS Code workbench in the page. Every action goes through what is visible: the keyboard
 * (F1, typing, Enter), clicks on rows, buttons and menu entries, hovering for inline actions.
 */
export class Workbench {
  constructor(readonly page: Page) {}

  // --- readiness and the activity bar -------------------------------------------------------

  /** The Sandkasten icon in the activity bar (contributed by the extension). */
  get activityIcon(): Locator {
    return this.page.locator('.activitybar a.action-label[aria-label^="Sandkasten"]');
  }

  /** Waits for the workbench and for the extension's icon in the activity bar. */
  async waitUntilLoaded(): Promise<void> {
    await this.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: LIMITS.workbenchMs });
    await this.activityIcon.waitFor({ state: 'visible', timeout: LIMITS.workbenchMs });
  }

  /** Shows the Sandkasten views; clicking the icon of the open container would close it. */
  async openSandkasten(): Promise<void> {
    const tab = this.page.locator('.activitybar li.action-item', { has: this.page.locator('a.action-label[aria-label^="Sandkasten"]') });
    const sideBar = this.page.locator('.part.sidebar');
    // Like a person: look, click the icon only when the side bar does not show Sandkasten, and
    // give the workbench a moment to react. While a window restores, the container can be
    // selected before its views render; clicking then would hide the side bar again, so a
    // selected container in a visible side bar is waited for, not clicked.
    let lastClick = 0;
    await eventually(
      'the side bar to show the Sandkasten views',
      async () => {
        if (await this.view('Workspaces').isVisible()) return true;
        const selected = (await tab.getAttribute('aria-selected')) === 'true';
        if ((!selected || !(await sideBar.isVisible())) && Date.now() - lastClick > 2000) {
          await this.activityIcon.click();
          lastClick = Date.now();
        }
        return undefined;
      },
      { describe: async () => `container selected: ${await tab.getAttribute('aria-selected')}, side bar visible: ${await sideBar.isVisible()}` },
    );
    await this.view('Sessions').waitFor({ state: 'visible', timeout: LIMITS.uiMs });
  }

  /** The status bar item showing Restricted Mode (an untrusted folder). */
  get restrictedModeIndicator(): Locator {
    return this.page.locator('.statusbar-item', { hasText: 'Restricted Mode' });
  }

  // --- the command palette, input boxes and quick picks ---------------------------------------

  get quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }

  /** A row of the open quick pick (or palette) whose label is exactly `label`. */
  quickPickRow(label: string): Locator {
    return this.quickInput
      .locator('.monaco-list-row')
      .filter({ has: this.page.locator('.label-name', { hasText: exactly(label) }) })
      .first();
  }

  private async closeQuickInputIfOpen(): Promise<void> {
    if (await this.quickInput.isVisible()) {
      await this.page.keyboard.press('Escape');
      await this.quickInput.waitFor({ state: 'hidden', timeout: LIMITS.uiMs });
    }
  }

  /**
   * F1, type the command's exact title, and choose the row with exactly that label (Enter on
   * a fuzzy list would run whatever ranks first).
   */
  async runCommand(title: string): Promise<void> {
    await this.closeQuickInputIfOpen();
    await this.page.keyboard.press('F1');
    const input = this.quickInput.locator('input.input');
    await input.waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    await this.page.keyboard.type(title);
    const row = this.quickPickRow(title);
    await eventually(`the command palette to offer "${title}"`, async () => ((await row.isVisible()) ? true : undefined), {
      describe: () => this.quickPickLabels().then((labels) => JSON.stringify(labels)),
    });
    await row.click();
  }

  /** The labels the open quick pick lists. */
  async quickPickLabels(): Promise<string[]> {
    return this.quickInput.locator('.monaco-list-row .label-name').allTextContents();
  }

  /** Waits for an input box or quick pick whose title contains `title`. */
  async waitForQuickInput(title: string | RegExp): Promise<void> {
    await this.quickInput
      .locator('.quick-input-title', { hasText: title })
      .waitFor({ state: 'visible', timeout: LIMITS.uiMs })
      .catch(async (error: Error) => {
        const shown = (await this.quickInput.isVisible()) ? await this.quickInput.locator('.quick-input-title').textContent() : '(no input is open)';
        throw new Error(`no input titled ${String(title)} appeared (shown: ${shown}): ${error.message.split('\n')[0]}`);
      });
  }

  /** The value currently in the open input box. */
  async inputValue(): Promise<string> {
    return this.quickInput.locator('input.input').inputValue();
  }

  /** Types `text` into the input box titled `title` (replacing what is there) and presses Enter. */
  async answerInput(title: string | RegExp, text: string): Promise<void> {
    await this.waitForQuickInput(title);
    const input = this.quickInput.locator('input.input');
    await input.focus();
    await this.page.keyboard.press('ControlOrMeta+A');
    await this.page.keyboard.type(text);
    await eventually(`the input box to hold "${text}"`, async () => ((await this.inputValue()) === text ? true : undefined));
    await this.page.keyboard.press('Enter');
  }

  /** Accepts the value the input box titled `title` proposes (Enter), returning that value. */
  async acceptInput(title: string | RegExp): Promise<string> {
    await this.waitForQuickInput(title);
    const value = await this.inputValue();
    await this.page.keyboard.press('Enter');
    return value;
  }

  /** Clicks the item labelled exactly `label` in the quick pick titled `title`. */
  async pick(title: string | RegExp, label: string): Promise<void> {
    await this.waitForQuickInput(title);
    const row = this.quickPickRow(label);
    await eventually(`the quick pick to offer "${label}"`, async () => ((await row.isVisible()) ? true : undefined), {
      describe: () => this.quickPickLabels().then((labels) => JSON.stringify(labels)),
    });
    await row.click();
  }

  // --- views and tree items -------------------------------------------------------------------

  /** A view (pane) of the side bar by its name, e.g. "Workspaces". */
  view(name: string): Locator {
    return this.page.locator('.pane').filter({ has: this.page.locator('.pane-header h3.title', { hasText: exactly(name) }) });
  }

  /** The welcome content a view shows when its tree is empty. */
  welcome(viewName: string): Locator {
    return this.view(viewName).locator('.welcome-view-content');
  }

  /** Label and description of every row the view's tree shows, top to bottom. */
  async treeRows(viewName: string): Promise<TreeRow[]> {
    return this.view(viewName)
      .locator('[role=treeitem]')
      .evaluateAll((rows) =>
        rows
          .map((row) => ({
            top: Number.parseFloat((row as unknown as { style: { top: string } }).style.top) || 0,
            label: row.querySelector('.label-name')?.textContent?.trim() ?? '',
            description: row.querySelector('.label-description')?.textContent?.trim() ?? '',
          }))
          .sort((a, b) => a.top - b.top)
          .map(({ label, description }) => ({ label, description })),
      );
  }

  /** The rows of a view, for failure messages: `label — description` each. */
  async describeView(viewName: string): Promise<string> {
    const rows = await this.treeRows(viewName);
    if (rows.length > 0) return `${viewName}: ${JSON.stringify(rows.map((r) => `${r.label} — ${r.description}`))}`;
    const welcome = (await this.welcome(viewName).allTextContents()).join(' ').trim();
    return `${viewName}: no rows${welcome ? `; welcome: "${welcome}"` : ''}`;
  }

  /** The tree row of a view whose label is exactly `label` (optionally: whose description matches). */
  treeItem(viewName: string, label: string | RegExp, description?: RegExp): Locator {
    let rows = this.view(viewName)
      .locator('[role=treeitem]')
      .filter({ has: this.page.locator('.label-name', { hasText: typeof label === 'string' ? exactly(label) : label }) });
    if (description) rows = rows.filter({ has: this.page.locator('.label-description', { hasText: description }) });
    return rows.first();
  }

  /** Waits until the view lists a row like that; returns what the row shows. */
  async waitForTreeItem(viewName: string, label: string | RegExp, description?: RegExp, limitMs = LIMITS.uiMs): Promise<TreeRow> {
    const item = this.treeItem(viewName, label, description);
    return eventually(
      `the ${viewName} view to list ${String(label)}${description ? ` with a description matching ${description}` : ''}`,
      async () => {
        if (!(await item.isVisible())) return undefined;
        return {
          label: (await item.locator('.label-name').textContent())?.trim() ?? '',
          description: (await item.locator('.label-description').textContent())?.trim() ?? '',
        };
      },
      { limitMs, describe: () => this.describeView(viewName) },
    );
  }

  /** Waits until the view no longer lists a row labelled `label`. */
  async waitForNoTreeItem(viewName: string, label: string | RegExp, limitMs = LIMITS.uiMs): Promise<void> {
    const item = this.treeItem(viewName, label);
    await eventually(`the ${viewName} view to stop listing ${String(label)}`, async () => ((await item.count()) === 0 ? true : undefined), {
      limitMs,
      describe: () => this.describeView(viewName),
    });
  }

  /** Hovers the row and clicks its inline action titled `title` (as its tooltip says). */
  async clickInlineAction(item: Locator, title: string): Promise<void> {
    const action = item.locator(`.actions a.action-label[aria-label="${title}"]`);
    // Inline actions show on hover; a tree refresh re-renders the row, so hover again then.
    await eventually(
      `the inline action "${title}"`,
      async () => {
        await item.hover({ timeout: 5000 });
        await action.click({ timeout: 3000 });
        return true;
      },
      { describe: async () => `the row offers ${JSON.stringify(await this.inlineActions(item).catch(() => []))}` },
    );
  }

  /** The labels of the inline actions a row offers (shown on hover). */
  async inlineActions(item: Locator): Promise<string[]> {
    await item.hover();
    return item.locator('.actions a.action-label').evaluateAll((links) => links.map((link) => link.getAttribute('aria-label') ?? ''));
  }

  /** Right-clicks the row and chooses `entry` from its context menu. */
  async chooseFromContextMenu(item: Locator, entry: string): Promise<void> {
    const menu = this.page.locator('.context-view .monaco-menu');
    const menuItem = menu.locator('a.action-menu-item').filter({ has: this.page.locator(`.action-label[aria-label="${entry}"]`) });
    // VS Code's menus ignore mouse-ups during the first 100 ms after they render (so releasing
    // the right button cannot pick an entry); a click that fast (no person is) leaves the menu
    // open and runs nothing. So: click, and when the menu is still open, click again. A tree
    // refresh can also close the menu before the click: then right-click again.
    let clicked = false;
    await eventually(
      `the context menu to offer "${entry}" and take the click`,
      async () => {
        if (!(await menu.isVisible())) {
          if (clicked) return true; // the click was taken and closed the menu
          await item.click({ button: 'right' });
          await menu.waitFor({ state: 'visible', timeout: 5000 });
        }
        await menuItem.waitFor({ state: 'visible', timeout: 2000 });
        await menuItem.hover({ timeout: 5000 });
        await menuItem.click({ timeout: 5000 });
        clicked = true;
        await menu.waitFor({ state: 'hidden', timeout: 2000 });
        return true;
      },
      { describe: async () => `menu entries ${JSON.stringify(await menu.locator('a.action-menu-item .action-label').allTextContents())}` },
    );
  }

  // --- notifications and dialogs --------------------------------------------------------------

  /** The messages of the notification toasts on screen. */
  async notifications(): Promise<string[]> {
    return (await this.page.locator('.notification-toast .notification-list-item-message').allTextContents()).map((text) => text.trim());
  }

  /** Waits for a notification toast whose message matches. */
  async waitForNotification(message: RegExp, limitMs = LIMITS.uiMs): Promise<string> {
    return eventually(
      `a notification matching ${message}`,
      async () => (await this.notifications()).find((text) => message.test(text)),
      { limitMs, describe: () => this.notifications().then((texts) => JSON.stringify(texts)) },
    );
  }

  get dialog(): Locator {
    return this.page.locator('.monaco-dialog-box');
  }

  /** Waits for a modal dialog; returns its message and detail. */
  async waitForDialog(): Promise<{ message: string; detail: string; buttons: string[] }> {
    await this.dialog.waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    return {
      message: ((await this.dialog.locator('.dialog-message-text').textContent()) ?? '').trim(),
      detail: ((await this.dialog.locator('.dialog-message-detail').textContent().catch(() => '')) ?? '').trim(),
      buttons: (await this.dialog.locator('.dialog-buttons a.monaco-button').allTextContents()).map((text) => text.trim()),
    };
  }

  /** Clicks the dialog's button labelled `label`. */
  async clickDialogButton(label: string): Promise<void> {
    await this.dialog.locator('.dialog-buttons a.monaco-button', { hasText: exactly(label) }).click();
    await this.dialog.waitFor({ state: 'hidden', timeout: LIMITS.uiMs });
  }

  // --- the Output panel ---------------------------------------------------------------------

  /** The Output view in the panel. */
  get outputView(): Locator {
    return this.page.locator('.part.panel .output-view, .part.panel [id="workbench.panel.output"]').first();
  }

  /** The name of the channel the Output panel shows (its channel picker). */
  async shownOutputChannel(): Promise<string> {
    const select = this.page.locator('.part.panel select.monaco-select-box').first();
    return select.evaluate((element) => {
      const picker = element as unknown as { selectedIndex: number; options: ArrayLike<{ text: string }> };
      return picker.options[picker.selectedIndex]?.text ?? '';
    });
  }

  /** The lines the Output panel's editor shows, top to bottom (only what is rendered). */
  async outputLines(): Promise<string[]> {
    const lines = this.page.locator('.part.panel .monaco-editor .view-lines .view-line');
    return lines.evaluateAll((elements) =>
      elements
        .map((element) => ({
          top: Number.parseFloat((element as unknown as { style: { top: string } }).style.top) || 0,
          text: (element.textContent ?? '').replace(/\u00a0/g, ' '),
        }))
        .sort((a, b) => a.top - b.top)
        .map(({ text }) => text),
    );
  }

  /** Waits until the Output panel shows `channel` and one of its lines matches `line`. */
  async waitForOutputLine(channel: string, line: RegExp, limitMs = LIMITS.uiMs): Promise<{ match: RegExpMatchArray; lines: string[] }> {
    return eventually(
      `the Output panel to show channel "${channel}" with a line matching ${line}`,
      async () => {
        if ((await this.shownOutputChannel()) !== channel) return undefined;
        const lines = await this.outputLines();
        for (const text of lines) {
          const match = text.match(line);
          if (match) return { match, lines };
        }
        return undefined;
      },
      {
        limitMs,
        describe: async () => `channel "${await this.shownOutputChannel().catch(() => '?')}", lines ${JSON.stringify(await this.outputLines())}`,
      },
    );
  }

  // --- the window ---------------------------------------------------------------------------

  /** "Developer: Reload Window" from the palette; returns once the workbench is back. */
  async reloadWindow(): Promise<void> {
    const reloaded = this.page.waitForEvent('load', { timeout: LIMITS.workbenchMs });
    await this.runCommand('Developer: Reload Window');
    await reloaded;
    await this.waitUntilLoaded();
  }
}

// ---------------------------------------------------------------------------------------------
// One code-server with the extension, one browser, one sidecar

export interface SidecarStatus {
  pid: number;
  instanceId: string;
  home: string;
  clients: number;
  docker: { available: boolean; endpoint?: string; error?: string };
}

export interface SuiteOptions {
  /** Extra environment for code-server (and so for the extension and its sidecar). */
  env?: Record<string, string>;
  /** Settings written to User/settings.json on top of the suite defaults. */
  settings?: Record<string, unknown>;
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
    const result = await run(CODE_SERVER, [...this.stateFlags, '--install-extension', VSIX, '--force'], { env: this.env, timeoutMs: LIMITS.serverMs });
    assert.ok(
      result.code === 0 && /successfully installed/i.test(result.stdout + result.stderr),
      `code-server could not install ${VSIX} (exit ${result.code}):\n${result.stdout}${result.stderr}`,
    );
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
        this.folder,
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
    await this.page.goto(`http://127.0.0.1:${this.port}/?folder=${encodeURIComponent(this.folder)}`);
    await this.workbench.waitUntilLoaded();
  }

  // --- the sidecar, through the CLI the VSIX ships ----------------------------------------------

  /** Runs the installed extension's `sandkasten` CLI against this suite's SANDKASTEN_HOME. */
  async cli(args: string[]): Promise<RunResult> {
    return run(process.execPath, [path.join(this.installedExtension, 'bin', 'sandkasten'), ...args], { env: this.env });
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
  async listWorkspaces(): Promise<Array<{ id: string; name: string; volume: string; state: string }>> {
    const result = await this.cli(['workspace', 'ls', '--json']);
    assert.equal(result.code, 0, `sandkasten workspace ls failed: ${result.stderr}`);
    return JSON.parse(result.stdout);
  }

  /** `sandkasten session ls --json`. */
  async listSessions(): Promise<Array<{ id: string; workspaceId: string; state: string; containerId?: string }>> {
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

  private async saveFailureArtifacts(base: string): Promise<string[]> {
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
