/**
 * The dashboard (issue 18) in a real VS Code (code-server) against the real Docker engine: a
 * busy session shows in its CPU and memory charts, a command in the latency chart, and closing
 * the panel stops the sidecar's sampling for it. Steps run in order; the first step's
 * screenshot is the README's.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe } from 'node:test';
import type { FrameLocator, Locator } from 'playwright-core';
import { DashboardSubscribeRequest, DashboardUnsubscribeRequest } from '../../sidecar/client/protocol';
import { SidecarClient } from '../../sidecar/client/sidecarClient';
import { CodeServerSuite } from './codeServerSuite';
import { ARTIFACTS, eventually, LIMITS, TEST_IMAGE } from './support';

const WORKSPACE = 'e2e-dashboard';
/** A second, idle session: the charts draw one line per session. */
const IDLE_WORKSPACE = 'e2e-idle';
/** A workspace without a session: its expiry is scheduled (a workspace in use has none). */
const RESTING_WORKSPACE = 'e2e-resting';
/** The busy loop ends by itself, so a failed run leaves nothing spinning. */
const BUSY_SECONDS = 180;

describe('the Sandkasten dashboard in a real VS Code (code-server)', () => {
  // One warm container, so the pool chart has something to show; disk use measured soon.
  const suite = new CodeServerSuite('dashboard', { settings: { 'sandkasten.pool.images': { [TEST_IMAGE]: 1 }, 'sandkasten.limits.diskCheckSeconds': 5 } });

  before(() => suite.start(), { timeout: LIMITS.suiteMs });
  after(() => suite.stop(), { timeout: LIMITS.suiteMs });

  /** The dashboard's page: the webview's frame inside VS Code's webview host frame. */
  const page = (): FrameLocator => suite.page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
  const card = (title: string): Locator => page().locator('section.card', { has: suite.page.locator('h2', { hasText: title }) });

  /** A client of the suite's sidecar (never starting one) that tells what was sampling before it subscribed. */
  async function samplingBefore(): Promise<{ subscribers: number; statsStreams: number }> {
    const client = await SidecarClient.connect({ home: suite.home, sidecarScript: path.join(suite.installedExtension, 'dist', 'sidecar.js'), startIfMissing: false });
    try {
      const snapshot = await client.request(DashboardSubscribeRequest.type, {});
      await client.request(DashboardUnsubscribeRequest.type, {});
      return snapshot.before;
    } finally {
      client.close();
    }
  }

  suite.step('1. Open Dashboard charts the running session: CPU, memory and a command', async (vs) => {
    const session = await suite.newSession(WORKSPACE, TEST_IMAGE);
    await suite.newSession(IDLE_WORKSPACE, TEST_IMAGE);
    const resting = await suite.cli(['workspace', 'create', RESTING_WORKSPACE, '--image', TEST_IMAGE]);
    assert.equal(resting.code, 0, `sandkasten workspace create failed: ${resting.stderr}`);
    const busy = await suite.cli(['exec', session.id, '--', 'sh', '-c', `timeout ${BUSY_SECONDS} sh -c 'while :; do :; done' >/dev/null 2>&1 &`]);
    assert.equal(busy.code, 0, `starting the busy loop failed: ${busy.stderr}`);
    const measured = await suite.cli(['exec', session.id, '--', 'echo', 'measured']);
    assert.equal(measured.code, 0, `the measured command failed: ${measured.stderr}`);

    await vs.runCommand('Sandkasten: Open Dashboard');
    await eventually('the dashboard tab', async () => ((await vs.activeEditorTitle()) === 'Sandkasten Dashboard' ? true : undefined));

    const cpu = card('CPU per session');
    const cpuEntry = cpu.locator('.legend li', { hasText: WORKSPACE });
    const cpuShare = await eventually(
      `the CPU chart to show ${WORKSPACE} busy`,
      async () => {
        const value = (await cpuEntry.locator('.legend-value').textContent().catch(() => null)) ?? '';
        const percent = Number(/^([\d.]+) %$/.exec(value)?.[1]);
        return percent > 50 ? percent : undefined;
      },
      { limitMs: LIMITS.dockerMs, describe: async () => (await page().locator('main').textContent().catch(() => null)) ?? '(no page)' },
    );
    assert.ok(cpuShare <= 110, `one busy loop uses about one CPU (limits.cpus 1), not ${cpuShare} %`);
    assert.ok((await cpu.locator('svg .series').count()) >= 1, 'the CPU chart draws its point');
    assert.equal(await cpu.locator('.legend li', { hasText: IDLE_WORKSPACE }).count(), 1, 'one line per running session');

    const memoryValue = await card('Memory per session').locator('.legend li', { hasText: WORKSPACE }).locator('.legend-value').textContent();
    assert.match(memoryValue ?? '', /^[\d.]+ (KiB|MiB)$/, 'its memory in use');
    await eventually('the command in the latency chart', async () => ((await card('Command latency').locator('svg polyline, svg circle').count()) > 0 ? true : undefined));
    const expiry = card('Upcoming lifecycle actions').locator('tr', { hasText: RESTING_WORKSPACE });
    const [when, action, name, why] = await expiry.locator('td').allTextContents();
    assert.deepEqual([when, action, name], ['in 24 h', 'delete', RESTING_WORKSPACE], 'a session workspace unused for 24 h is deleted');
    assert.match(why, /^not used since \d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    assert.equal(await card('Upcoming lifecycle actions').locator('tr', { hasText: WORKSPACE }).count(), 0, 'nothing is due for a workspace in use');
    await eventually("the running workspaces' disk use", async () => ((await card('Disk used per workspace').locator('svg rect.bar').count()) === 2 ? true : undefined), {
      limitMs: LIMITS.dockerMs,
    });
    assert.match((await card('Disk used per workspace').locator('svg').textContent()) ?? '', new RegExp(`${WORKSPACE}.*of 10\\.0 GiB`), 'named, against limits.diskMb');

    // A few commands while it watches, for the throughput charts.
    for (let i = 0; i < 5; i++) assert.equal((await suite.cli(['exec', session.id, '--', 'sh', '-c', 'seq 1 2000'])).code, 0);
    await eventually('the warm container in the pool chart', async () => ((await card('Warm pool').locator('.legend li').count()) === 2 ? true : undefined), { limitMs: LIMITS.dockerMs });

    // The README's screenshot: the dashboard alone, its charts filled in.
    await vs.runCommand('View: Close Primary Side Bar');
    await vs.runCommand('Notifications: Clear All Notifications');
    await suite.page.mouse.move(1300, 850); // off the palette's place: no tooltip in the picture
    await eventually('a few points on the CPU chart', async () => ((await cpu.locator('svg polyline.series').first().getAttribute('points'))?.split(' ').length ?? 0) >= 6 ? true : undefined, {
      limitMs: LIMITS.dockerMs,
    });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    // Tall enough for every card; the suite's usual size again afterwards.
    const size = suite.page.viewportSize();
    await suite.page.setViewportSize({ width: 1400, height: 1000 });
    await eventually('the lifecycle table in view', async () => ((await card('Upcoming lifecycle actions').isVisible()) ? true : undefined));
    await suite.page.screenshot({ path: path.join(ARTIFACTS, 'dashboard--charts.png') });
    if (size) await suite.page.setViewportSize(size);
  });

  suite.step('2. The open dashboard keeps a stats stream per session; closing it stops the sampling', async (vs) => {
    assert.deepEqual(await samplingBefore(), { subscribers: 1, statsStreams: 2 }, "the window's dashboard follows the two running sessions, one stream each");
    await vs.runCommand('View: Close Editor'); // the active editor: the dashboard
    await eventually('the dashboard to unsubscribe', async () => {
      const before = await samplingBefore();
      return before.subscribers === 0 && before.statsStreams === 0 ? true : undefined;
    });
  });

  suite.step('3. Opened again from the status bar menu, it shows the history of before at once', async (vs) => {
    await vs.statusBarItem(/Sandkasten/).click();
    await vs.pick('Sandkasten', 'Open Dashboard');
    await eventually('the CPU line of before', async () => ((await card('CPU per session').locator('svg polyline.series').count()) > 0 ? true : undefined));
  });
});
