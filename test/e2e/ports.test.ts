/**
 * Ports in a real VS Code (code-server), against the real Docker engine: a web server started
 * in a sandbox terminal is announced ("Port 8080 is listening in … and is forwarded to …"),
 * listed under the session's Ports row, and Open in Browser opens a page that shows what the
 * server serves. Where ports are only offered, the notification's Forward forwards; Stop
 * Forwarding, Forward Port and Set Port Label… act on the row; stopping the session takes its
 * forwards away. Leaves a screenshot of the Sessions view with the Ports row (media/ports.png).
 * Steps run in order.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe } from 'node:test';
import type { Page } from 'playwright-core';
import type { PortInfo } from '../../sidecar/client/protocol';
import { CodeServerSuite } from './codeServerSuite';
import { acceptsConnections } from '../support/localPorts';
import { ARTIFACTS, eventually, LIMITS, REPO_ROOT, shortId, TEST_IMAGE } from './support';
import type { Workbench } from './workbench';

const WORKSPACE = 'e2e-ports';
const PAGE = 'served-from-the-sandbox';
const FIRST = 8080;
const SECOND = 8081;

describe('Sandkasten ports in a real VS Code (code-server)', () => {
  const suite = new CodeServerSuite('ports', {
    // The DOM renderer keeps the terminal's text in the page, where a test can read it.
    settings: { 'terminal.integrated.gpuAcceleration': 'off' },
  });
  let sessionId = '';
  let firstUrl = '';

  before(() => suite.start(), { timeout: LIMITS.suiteMs });
  after(() => suite.stop(), { timeout: LIMITS.suiteMs });

  /** The session's ports as the CLI lists them. */
  async function ports(): Promise<PortInfo[]> {
    const listed = await suite.cli(['port', 'list', sessionId, '--json']);
    assert.equal(listed.code, 0, `sandkasten port list failed: ${listed.stderr}`);
    return JSON.parse(listed.stdout) as PortInfo[];
  }

  /** Clicks a button that opens a browser tab and returns that tab once it shows `text`. */
  async function openedPage(vs: Workbench, click: () => Promise<void>, text: string): Promise<Page> {
    const opened = vs.page.context().waitForEvent('page', { timeout: LIMITS.uiMs });
    await click();
    // VS Code may ask before it opens a site it does not trust yet: a person says Open.
    const page = await Promise.race([
      opened,
      vs.dialog.waitFor({ state: 'visible', timeout: LIMITS.uiMs }).then(async () => {
        await vs.clickDialogButton('Open');
        return opened;
      }),
    ]);
    await eventually(`the opened page (${page.url()}) to show "${text}"`, async () => ((await page.content().catch(() => '')).includes(text) ? true : undefined), {
      limitMs: LIMITS.dockerMs,
      describe: async () => `${page.url()}: ${(await page.content().catch(() => '')).slice(0, 300)}`,
    });
    return page;
  }

  suite.step(`1. A server started in a sandbox terminal is announced as forwarded; Open in Browser shows its page`, async (vs) => {
    const session = await suite.newSession(WORKSPACE, TEST_IMAGE);
    sessionId = session.id;
    await vs.openSandkasten();
    await vs.waitForTreeItem('Sessions', WORKSPACE, new RegExp(`^running · ${shortId(sessionId)} · via CLI$`), LIMITS.dockerMs);
    await vs.waitForTreeItem('Sessions', 'Ports', /^none detected$/);
    await vs.clickInlineAction(vs.treeItem('Sessions', WORKSPACE), 'Open Terminal');
    // The folder opened in Restricted Mode: VS Code asks for trust before any terminal runs.
    const dialog = await vs.waitForDialog();
    assert.match(dialog.message, /trust the authors/i, `VS Code asks for workspace trust: ${JSON.stringify(dialog)}`);
    await vs.clickDialogButton('Trust Folder & Continue');

    // busybox httpd goes to the background by itself; the terminal stays free.
    await vs.typeInTerminal(`mkdir -p /tmp/www && echo ${PAGE} > /tmp/www/index.html && httpd -p ${FIRST} -h /tmp/www && echo server-$((40+2))`);
    await vs.waitForTerminalLine(/^server-42$/);

    const notice = new RegExp(`^Port ${FIRST} is listening in ${WORKSPACE} \\(httpd\\) and is forwarded to 127\\.0\\.0\\.1:(\\d+)\\.$`);
    const message = await vs.waitForNotification(notice, LIMITS.dockerMs);
    assert.deepEqual(await vs.notificationButtons(notice), ['Open in Browser', 'Copy Address']);
    const localPort = Number(notice.exec(message)![1]);
    const forwarded = (await ports()).find((info) => info.port === FIRST);
    assert.equal(forwarded?.forward?.localPort, localPort, 'the CLI lists the forward the notification names');
    assert.equal(forwarded?.forward?.auto, true, 'forwarded by ports.autoForward (session: forward)');
    firstUrl = forwarded!.forward!.url;

    const page = await openedPage(vs, () => vs.clickNotificationButton(notice, 'Open in Browser'), PAGE);
    await page.close();
    // And from this machine directly, as an agent would.
    assert.equal((await (await fetch(firstUrl)).text()).trim(), PAGE);
  });

  suite.step('2. The Ports row lists the port: process, local address, inline Open in Browser, Copy Address, Stop Forwarding (screenshot)', async (vs) => {
    const address = new URL(firstUrl).host;
    await vs.waitForTreeItem('Sessions', 'Ports', /^1 forwarded$/);
    const row = await vs.waitForTreeItem('Sessions', String(FIRST), new RegExp(`^httpd → ${address.replace(/\./g, '\\.')}$`));
    assert.equal(row.description, `httpd → ${address}`);
    const item = vs.treeItem('Sessions', String(FIRST));
    assert.deepEqual(await vs.inlineActions(item), ['Open in Browser', 'Copy Address', 'Stop Forwarding']);
    assert.equal(await vs.treeItemIcon(item), 'radio-tower');
    assert.equal(await vs.treeItemAccessibleLabel(item), `Port ${FIRST} of httpd, forwarded to ${address}`);
    assert.deepEqual(await vs.inlineActions(vs.treeItem('Sessions', 'Ports')), ['Refresh Ports', 'Forward a Port…']);

    await vs.clickInlineAction(item, 'Copy Address');
    await eventually('the address on the clipboard', async () => ((await vs.readClipboard()) === address ? true : undefined));
    const page = await openedPage(vs, () => vs.clickInlineAction(item, 'Open in Browser'), PAGE);
    await page.close();

    // The picture for the README: a wider side bar (its sash dragged, as a person would), the
    // port row hovered so its inline actions show, the Sessions view down to its last row.
    const sideBar = (await vs.page.locator('.part.sidebar').boundingBox())!;
    await vs.page.mouse.move(sideBar.x + sideBar.width + 1, sideBar.y + sideBar.height / 2);
    await vs.page.mouse.down();
    await vs.page.mouse.move(sideBar.x + sideBar.width + 240, sideBar.y + sideBar.height / 2, { steps: 8 });
    await vs.page.mouse.up();
    await item.hover();
    const pane = (await vs.view('Sessions').boundingBox())!;
    const lastRow = (await vs.view('Sessions').locator('[role=treeitem]').last().boundingBox())!;
    const shot = path.join(ARTIFACTS, 'ports--sessions-view-with-ports.png');
    await vs.page.screenshot({ path: shot, clip: { x: pane.x, y: pane.y, width: pane.width, height: lastRow.y + lastRow.height + 12 - pane.y } });
    fs.copyFileSync(shot, path.join(REPO_ROOT, 'media', 'ports.png'));
  });

  suite.step('3. Where ports are only offered, the notification\'s Forward forwards; Stop Forwarding and Forward Port act on the row', async (vs) => {
    const set = await suite.cli(['config', 'set', 'ports.autoForward', '{"session": "notify"}']);
    assert.equal(set.code, 0, set.stderr);
    await vs.typeInTerminal(`httpd -p ${SECOND} -h /tmp/www && echo second-$((40+3))`);
    await vs.waitForTerminalLine(/^second-43$/);
    const offer = new RegExp(`^Port ${SECOND} is listening in ${WORKSPACE} \\(httpd\\)\\.$`);
    assert.deepEqual(await vs.notificationButtons(offer), ['Forward', 'Open in Browser']);
    await vs.waitForTreeItem('Sessions', String(SECOND), /^httpd · not forwarded$/);
    assert.equal(await vs.treeItemIcon(vs.treeItem('Sessions', String(SECOND))), 'circle-outline');
    await vs.clickNotificationButton(offer, 'Forward');
    const forwardedRow = await vs.waitForTreeItem('Sessions', String(SECOND), /^httpd → 127\.0\.0\.1:\d+$/);
    const localPort = Number(forwardedRow.description.split(':').pop());
    assert.equal(await acceptsConnections(localPort), true);

    const item = vs.treeItem('Sessions', String(SECOND));
    await vs.clickInlineAction(item, 'Stop Forwarding');
    await vs.waitForTreeItem('Sessions', String(SECOND), /^httpd · not forwarded$/);
    await eventually('the local listener to close', async () => ((await acceptsConnections(localPort)) ? undefined : true));
    assert.deepEqual(await vs.inlineActions(item), ['Forward Port']);
    await vs.clickInlineAction(item, 'Forward Port');
    await vs.waitForTreeItem('Sessions', String(SECOND), /^httpd → 127\.0\.0\.1:\d+$/);
    await vs.waitForTreeItem('Sessions', 'Ports', /^2 forwarded$/);
  });

  suite.step('4. Set Port Label… names the port; Forward a Port… refuses a port that is no port', async (vs) => {
    await vs.chooseFromContextMenu(vs.treeItem('Sessions', String(FIRST)), 'Set Port Label…');
    await vs.answerInput(new RegExp(`Label for port ${FIRST}`), 'web');
    await vs.waitForTreeItem('Sessions', `web (${FIRST})`, /^httpd → /);
    assert.equal((await ports()).find((info) => info.port === FIRST)?.label, 'web');

    await vs.clickInlineAction(vs.treeItem('Sessions', 'Ports'), 'Forward a Port…');
    await vs.waitForQuickInput(/Forward a Port of/);
    for (const [text, problem] of [
      ['70000', /70000 is not a port/],
      ['1:2:3', /too many parts/],
      ['abc', /"abc" is not a port/],
    ] as const) {
      const input = vs.page.locator('.quick-input-widget input.input');
      await input.fill(text);
      await eventually(`the input box to refuse "${text}"`, async () => {
        const shown = await vs.page.locator('.quick-input-widget .quick-input-message').textContent();
        return shown && problem.test(shown) ? true : undefined;
      });
    }
    await vs.page.keyboard.press('Escape');
    assert.deepEqual(
      (await ports()).map((info) => info.port),
      [FIRST, SECOND],
      'nothing else was forwarded',
    );
  });

  suite.step('5. Stopping the session takes its forwards away: the Ports row goes, nothing listens any more', async (vs) => {
    const localPort = Number(new URL(firstUrl).port);
    const stopped = await suite.cli(['session', 'stop', sessionId]);
    assert.equal(stopped.code, 0, stopped.stderr);
    await vs.waitForNoTreeItem('Sessions', 'Ports', LIMITS.dockerMs);
    await eventually('the forward to close', async () => ((await acceptsConnections(localPort)) ? undefined : true));
  });
});
