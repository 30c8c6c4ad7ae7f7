/**
 * The Pool view and sandbox terminals in a real VS Code (code-server), against the real Docker
 * engine: the Pool view shows ready / target for the configured image, a terminal opened from a
 * running session's inline action runs a command in the sandbox, and after a window reload the
 * terminal comes back attached to the same shell, its scrollback replayed. Steps run in order.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import type { PoolStatus } from '../../sidecar/client/protocol';
import { CodeServerSuite } from './codeServerSuite';
import { eventually, LIMITS, shortId, TEST_IMAGE } from './support';
import type { Workbench } from './workbench';

const WORKSPACE = 'e2e-terminals';
const POOL_TARGET = 2;

/** The terminal panel's xterm instances (the DOM renderer: gpuAcceleration is off). */
function terminals(page: Page): Locator {
  return page.locator('.part.panel .terminal-wrapper .xterm');
}

/** The lines every visible terminal shows, trimmed, in order (the DOM renderer's rows). */
async function terminalLines(page: Page): Promise<string[]> {
  return page
    .locator('.part.panel .terminal-wrapper .xterm-rows')
    .evaluateAll((blocks) =>
      (blocks as unknown as Array<{ children: ArrayLike<{ textContent: string | null }> }>).flatMap((block) =>
        Array.from(block.children).map((row) => (row.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd()),
      ),
    );
}

/** Waits until some terminal line matches `line`; returns all lines then. */
async function waitForTerminalLine(page: Page, line: RegExp, limitMs = LIMITS.dockerMs): Promise<string[]> {
  return eventually(
    `a terminal line matching ${line}`,
    async () => {
      const lines = await terminalLines(page);
      return lines.some((text) => line.test(text.trim())) ? lines : undefined;
    },
    { limitMs, describe: async () => `the terminals show ${JSON.stringify((await terminalLines(page)).filter(Boolean))}` },
  );
}

/** Focuses the (single) visible sandbox terminal like a person: a click into it. */
async function focusTerminal(page: Page): Promise<void> {
  const xterm = terminals(page).filter({ visible: true }).first();
  await xterm.waitFor({ state: 'visible', timeout: LIMITS.uiMs });
  await xterm.click();
  await page.locator('.part.panel .xterm.focus, .part.panel .xterm-helper-textarea:focus').first().waitFor({ state: 'attached', timeout: LIMITS.uiMs });
}

/** Types a command line into the focused terminal and presses Enter. */
async function typeInTerminal(vs: Workbench, command: string): Promise<void> {
  await focusTerminal(vs.page);
  await vs.page.keyboard.type(command);
  await vs.page.keyboard.press('Enter');
}

describe('Sandkasten Pool view and sandbox terminals in a real VS Code (code-server)', () => {
  const suite = new CodeServerSuite('terminalsAndPool', {
    settings: {
      'sandkasten.pool.images': { [TEST_IMAGE]: POOL_TARGET },
      // The DOM renderer keeps the terminal's text in the page, where a test can read it.
      'terminal.integrated.gpuAcceleration': 'off',
      // After a reload the sandbox terminal comes back once the extension reattaches it; VS Code
      // must not fill the empty panel with a default shell meanwhile.
      'terminal.integrated.hideOnStartup': 'whenEmpty',
    },
  });
  let sessionId = '';
  let shellPid = '';

  before(() => suite.start(), { timeout: LIMITS.suiteMs });
  after(() => suite.stop(), { timeout: LIMITS.suiteMs });

  suite.step(`1. The Pool view, expanded, shows ${TEST_IMAGE} with ${POOL_TARGET}/${POOL_TARGET} ready`, async (vs) => {
    await vs.openSandkasten();
    const pool = vs.view('Pool');
    await pool.waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    // Collapsed by default: open it by its header, like a person.
    const header = pool.locator('.pane-header');
    if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
    await eventually('the Pool view to expand', async () => ((await header.getAttribute('aria-expanded')) === 'true' ? true : undefined));

    const row = await vs.waitForTreeItem('Pool', TEST_IMAGE, new RegExp(`^${POOL_TARGET}/${POOL_TARGET} ready$`), LIMITS.dockerMs);
    assert.equal(row.description, `${POOL_TARGET}/${POOL_TARGET} ready`, 'the row shows ready / target and no refilling');

    const status = await suite.cli(['pool', 'status', '--json']);
    assert.equal(status.code, 0, `sandkasten pool status failed: ${status.stderr}`);
    const images = (JSON.parse(status.stdout) as PoolStatus).images;
    const image = images.find((i) => i.image === TEST_IMAGE);
    assert.ok(image, `the sidecar's pool has ${TEST_IMAGE}: ${status.stdout}`);
    assert.deepEqual([image.ready, image.target], [POOL_TARGET, POOL_TARGET], 'the CLI agrees with the view');
  });

  suite.step('2. "Open Terminal" on a running session opens a sandbox terminal that runs what is typed', async (vs) => {
    // The workspace and session come from the CLI (the palette flow is workflow.test.ts's).
    const session = await suite.newSession(WORKSPACE, TEST_IMAGE);
    sessionId = session.id;
    assert.equal(session.state, 'running', 'the session runs');

    await vs.waitForTreeItem('Sessions', WORKSPACE, new RegExp(`^running · ${shortId(sessionId)} · via CLI$`), LIMITS.dockerMs);
    const item = vs.treeItem('Sessions', WORKSPACE);
    const actions = await vs.inlineActions(item);
    assert.ok(actions.includes('Open Terminal'), `a running session offers "Open Terminal" inline (${JSON.stringify(actions)})`);
    await vs.clickInlineAction(item, 'Open Terminal');
    // The folder opened in Restricted Mode, and VS Code asks for trust before any terminal runs
    // (its own rule, for extension terminals too): a person trusts the folder and continues.
    const dialog = await vs.waitForDialog();
    assert.match(dialog.message, /trust the authors/i, `VS Code asks for workspace trust: ${JSON.stringify(dialog)}`);
    await vs.clickDialogButton('Trust Folder & Continue');

    await terminals(vs.page).first().waitFor({ state: 'visible', timeout: LIMITS.dockerMs });
    await typeInTerminal(vs, 'echo term-$((6*7))');
    await waitForTerminalLine(vs.page, /^term-42$/);
    // Which shell answers: its pid, to compare after the reload.
    await typeInTerminal(vs, 'echo before-reload-pid-$$');
    const lines = await waitForTerminalLine(vs.page, /^before-reload-pid-\d+$/);
    shellPid = lines.map((line) => line.trim()).find((line) => /^before-reload-pid-\d+$/.test(line))?.replace('before-reload-pid-', '') ?? '';
    assert.match(shellPid, /^\d+$/, 'the shell told its pid');
  });

  suite.step('3. After "Developer: Reload Window" the sandbox terminal is back on the same shell, its output replayed', async (vs) => {
    await vs.reloadWindow();
    // The earlier output comes back without typing anything: the sidecar replays the scrollback.
    await terminals(vs.page).filter({ visible: true }).first().waitFor({ state: 'visible', timeout: LIMITS.dockerMs });
    await waitForTerminalLine(vs.page, /^term-42$/);
    await typeInTerminal(vs, 'echo again-$((1+1))');
    await waitForTerminalLine(vs.page, /^again-2$/);
    // The same live shell, not a restored one: it has the same pid, and the terminal is the only one.
    // (A fresh marker: the replayed scrollback holds the line printed before the reload.)
    await typeInTerminal(vs, 'echo after-reload-pid-$$');
    const lines = await waitForTerminalLine(vs.page, /^after-reload-pid-\d+$/);
    const after = lines.map((line) => line.trim()).find((line) => /^after-reload-pid-\d+$/.test(line))?.replace('after-reload-pid-', '');
    assert.equal(after, shellPid, 'the shell after the reload is the one from before (same pid)');
    assert.equal(await terminals(vs.page).count(), 1, 'one sandbox terminal, not a second one');
    assert.ok(!lines.some((line) => /restored/i.test(line)), `the terminal was reattached, not restored: ${JSON.stringify(lines.filter(Boolean))}`);
  });
});
