/**
 * The dashboard webview's pure parts (issue 18): the hand-drawn SVG charts (names are user
 * text and must stay text) and the view that snapshots and updates build.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DashboardSnapshot, DashboardUpdate } from '../../sidecar/client/dashboardProtocol';
import { barChartSvg, describeWhen, escapeXml, formatValue, legendEntries, lineChartSvg, niceTicks, timeTicks, type LineChartOptions } from '../../src/dashboard/webview/charts';
import { applyUpdate, chartWindow, SHORTEST_WINDOW_MS, viewOf } from '../../src/dashboard/webview/state';

const MIB = 1024 * 1024;
const HOSTILE = `<script>alert("x")</script> & 'friends'`;
const window = { from: 0, to: 600_000 };
const options: LineChartOptions = { ...window, title: 'CPU per session', unit: 'percent', atLeast: 100, width: 464, height: 180 };

/** Every tag of the markup, in order: what a browser would build elements of. */
const tagsOf = (svg: string) => [...svg.matchAll(/<\/?([a-zA-Z]+)/g)].map((match) => match[1]);

describe('escaping', () => {
  it('turns every markup character into an entity', () => {
    assert.equal(escapeXml(HOSTILE), '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;friends&#39;');
    assert.equal(escapeXml('plain-name'), 'plain-name');
  });
});

describe('the line chart', () => {
  it('keeps a hostile name as text: no element is made of it', () => {
    const svg = lineChartSvg([{ name: HOSTILE, points: [[0, 10], [300_000, 20]], color: 0 }], { ...options, title: HOSTILE });
    assert.ok(!svg.includes('<script'), 'no script element');
    assert.ok(svg.includes(escapeXml(HOSTILE)));
    assert.deepEqual([...new Set(tagsOf(svg))].sort(), ['circle', 'g', 'line', 'polyline', 'svg', 'text', 'title']);
  });

  it('maps time to x and value to y inside the axes', () => {
    const svg = lineChartSvg([{ name: 'api', points: [[0, 0], [600_000, 100]], color: 2 }], options);
    // The plot spans x 64..456 (a 64 px value axis, 8 px margin) and y 8..160 (20 px time axis).
    assert.match(svg, /<polyline class="series series-2" points="64,160 456,8"\/>/);
    assert.match(svg, /viewBox="0 0 464 180"/);
    assert.match(svg, /role="img" aria-label="CPU per session"/);
  });

  it('labels the value axis with round numbers in the unit, and the time axis relative to now', () => {
    const svg = lineChartSvg([{ name: 'api', points: [[0, 42]], color: 0 }], options);
    const labels = [...svg.matchAll(/<text class="axis-label"[^>]*>([^<]*)<\/text>/g)].map((match) => match[1]);
    assert.deepEqual(labels, ['0 %', '50 %', '100 %', 'now', '5 min ago', '10 min ago']);
  });

  it('labels the time axis in whole minutes, or in seconds between them', () => {
    const svg = lineChartSvg([], { ...options, from: 0, to: 120_000 });
    const labels = [...svg.matchAll(/<text class="axis-label"[^>]*>([^<]*)<\/text>/g)].map((match) => match[1]).slice(3);
    assert.deepEqual(labels, ['now', '30 s ago', '1 min ago', '90 s ago', '2 min ago']);
  });

  it('steps the time axis by whole seconds or minutes, at most four steps', () => {
    assert.deepEqual(timeTicks(600_000), [0, 300_000, 600_000]);
    assert.deepEqual(timeTicks(150_000), [0, 60_000, 120_000], 'the left edge between two minutes is not labelled');
    assert.deepEqual(timeTicks(40_000), [0, 10_000, 20_000, 30_000, 40_000]);
    assert.deepEqual(timeTicks(0), [0]);
  });

  it('breaks a line where points are missing, draws a lone point as a dot, and leaves out points outside the window', () => {
    const points: Array<[number, number]> = [
      [-10_000, 99],
      [0, 1],
      [2000, 2],
      [60_000, 3],
      [700_000, 99],
    ];
    const svg = lineChartSvg([{ name: 'api', points, color: 7 }], { ...options, gapMs: 6000 });
    assert.equal(tagsOf(svg).filter((tag) => tag === 'polyline').length, 1, 'the first two points are one run');
    assert.equal(tagsOf(svg).filter((tag) => tag === 'circle').length, 1, 'the lone point after the gap is a dot');
    assert.match(svg, /series series-1 dashed/, 'colours beyond the palette come back dashed');
    assert.ok(!svg.includes('99'), 'points outside the window are not drawn');
  });

  it('draws axes and nothing else for no data', () => {
    const svg = lineChartSvg([{ name: 'api', points: [], color: 0 }], options);
    assert.ok(!svg.includes('<polyline') && !svg.includes('<circle'));
    assert.match(svg, /100 %/, 'the axis still reaches its least top');
  });
});

describe('the legend', () => {
  it("gives each line's newest value in its unit, or a dash", () => {
    const entries = legendEntries(
      [
        { name: HOSTILE, points: [[1, 3 * MIB], [2, 5 * MIB]], color: 0 },
        { name: 'idle', points: [], color: 1, dashed: true },
      ],
      'bytes',
    );
    assert.deepEqual(entries, [
      { name: HOSTILE, swatchClass: 'swatch series-0', current: '5.0 MiB' },
      { name: 'idle', swatchClass: 'swatch series-1 dashed', current: '—' },
    ]);
  });
});

describe('the bar chart', () => {
  it('escapes names, cuts long ones, and marks the limit and bars near it', () => {
    const svg = barChartSvg(
      [
        { name: HOSTILE, value: 90 * MIB },
        { name: 'small', value: 1 * MIB },
      ],
      { title: 'Disk used per workspace', unit: 'bytes', limit: 100 * MIB },
    );
    assert.ok(!svg.includes('<script'));
    assert.ok(svg.includes(`${escapeXml(HOSTILE)}: 90.0 MiB of 100.0 MiB`), 'the full name in the tooltip');
    assert.ok(svg.includes(`${escapeXml(HOSTILE.slice(0, 21))}…`), 'the label is cut');
    assert.equal((svg.match(/class="bar bar-high"/g) ?? []).length, 1, 'at 80 % of the limit a bar stands out');
    assert.match(svg, /<line class="limit"/);
    assert.deepEqual([...new Set(tagsOf(svg))].sort(), ['g', 'line', 'rect', 'svg', 'text', 'title']);
  });

  it('scales to the largest bar when there is no limit', () => {
    const svg = barChartSvg([{ name: 'a', value: 10 }], { title: 'x', unit: 'count', width: 480 });
    // The bar runs from the labels (150) to the values (480 - 130).
    assert.match(svg, /<rect class="bar" x="150" y="8" width="200"/);
    assert.ok(!svg.includes('class="limit"'));
  });
});

describe('axis ticks and values', () => {
  it('steps by 1, 2 or 5 times a power of ten, bytes in whole binary units', () => {
    assert.deepEqual(niceTicks(100, 'percent'), [0, 50, 100]);
    assert.deepEqual(niceTicks(70, 'ms'), [0, 20, 40, 60, 80]);
    assert.deepEqual(niceTicks(1.5 * MIB, 'bytes'), [0, MIB, 2 * MIB]);
    assert.deepEqual(niceTicks(0, 'bytes'), [0, 1024], 'nothing yet: one KiB');
    assert.deepEqual(niceTicks(3, 'count'), [0, 1, 2, 3]);
    assert.deepEqual(niceTicks(1, 'count'), [0, 1], 'counts stay whole');
    assert.deepEqual(niceTicks(Number.NaN, 'perSecond'), [0, 0.5, 1]);
  });

  it('reads as people read them', () => {
    assert.equal(formatValue(75, 'percent'), '75 %');
    assert.equal(formatValue(2.25, 'percent'), '2.3 %');
    assert.equal(formatValue(3 * MIB, 'bytesPerSecond'), '3.0 MiB/s');
    assert.equal(formatValue(4.5, 'ms'), '4.5 ms');
    assert.equal(formatValue(1500, 'ms'), '1.5 s');
    assert.equal(formatValue(0.5, 'perSecond'), '0.5/s');
    assert.equal(formatValue(5, 'ms'), '5 ms', 'no trailing .0 on an axis');
    assert.equal(formatValue(12_345, 'ms'), '12 s');
    assert.equal(formatValue(2.4, 'count'), '2');
  });

  it('says when a lifecycle action comes', () => {
    const now = Date.UTC(2025, 0, 1);
    assert.equal(describeWhen(new Date(now - 5000).toISOString(), now), 'due now');
    assert.equal(describeWhen(new Date(now + 40 * 60_000).toISOString(), now), 'in 40 min');
    assert.equal(describeWhen(new Date(now + 5 * 3_600_000).toISOString(), now), 'in 5 h');
    assert.equal(describeWhen(new Date(now + 3 * 86_400_000).toISOString(), now), 'in 3 days');
    assert.equal(describeWhen('not a time', now), 'not a time');
  });
});

describe('the webview state', () => {
  const history = 600_000;
  const snapshot = (): DashboardSnapshot => ({
    now: 1_000_000,
    intervalMs: 2000,
    historyMs: history,
    running: ['ses-1'],
    sessions: [{ sessionId: 'ses-1', workspaceId: 'api-1', workspaceName: 'api', cpu: [[500_000, 10]], memory: [[500_000, MIB]], memoryLimit: 0 }],
    pools: [{ image: 'busybox', ready: [[1_000_000, 1]], target: [[1_000_000, 2]] }],
    exec: { p50Ms: [], p95Ms: [], execsPerSecond: [[1_000_000, 0]], outputBytesPerSecond: [] },
    disk: [{ workspaceId: 'api-1', workspaceName: 'api', bytes: MIB, limitBytes: 10 * MIB }],
    lifecycle: [],
    notFollowed: 0,
    before: { subscribers: 0, statsStreams: 0 },
  });
  const update = (now: number, extra: Partial<DashboardUpdate> = {}): DashboardUpdate => ({
    now,
    running: ['ses-1'],
    sessions: [{ sessionId: 'ses-1', workspaceId: 'api-1', workspaceName: 'api', cpu: [[now, 20]], memory: [[now, 2 * MIB]], memoryLimit: 512 * MIB }],
    pools: [],
    exec: { p50Ms: [[now, 5]], p95Ms: [[now, 9]], execsPerSecond: [[now, 1]], outputBytesPerSecond: [[now, 100]] },
    ...extra,
  });

  it('appends the points of each update, and keeps disk and lifecycle until an update brings new ones', () => {
    const original = snapshot();
    const view = applyUpdate(viewOf(original), update(1_002_000));
    const session = view.sessions.get('ses-1')!;
    assert.deepEqual(session.cpu, [
      [500_000, 10],
      [1_002_000, 20],
    ]);
    assert.equal(session.memoryLimit, 512 * MIB);
    assert.deepEqual(view.exec.p95Ms, [[1_002_000, 9]]);
    assert.equal(view.disk, original.disk);
    assert.deepEqual(original.sessions[0].cpu, [[500_000, 10]], 'the snapshot message itself is left alone');

    applyUpdate(view, update(1_004_000, { disk: [], lifecycle: [{ action: 'archive', workspaceId: 'api-1', workspaceName: 'api', at: 'x', due: false, reason: 'r' }] }));
    assert.deepEqual(view.disk, []);
    assert.equal(view.lifecycle.length, 1);
  });

  it('forgets points older than the history, and a stopped session once it has none left', () => {
    const view = viewOf(snapshot());
    // The session's points are from 500_000: within the history until 500_000 + history.
    applyUpdate(view, update(500_000 + history, { running: [], sessions: [] }));
    assert.deepEqual(view.sessions.get('ses-1')!.cpu, [[500_000, 10]], 'stopped, but still within the history');
    applyUpdate(view, update(1_000_001 + history, { running: [], sessions: [] }));
    assert.equal(view.sessions.size, 0, 'stopped and out of the window: gone');
    assert.equal(view.pools.size, 0, 'an image no longer in the pool goes too');
    assert.deepEqual(view.exec.execsPerSecond, [
      [500_000 + history, 1],
      [1_000_001 + history, 1],
    ]);
  });

  it('charts from the oldest point on: at least a short window, at most the history', () => {
    const view = viewOf(snapshot());
    assert.deepEqual(chartWindow(view), { from: 500_000, to: 1_000_000 }, 'the oldest point is the CPU one at 500_000');
    view.sessions.clear();
    assert.deepEqual(chartWindow(view), { from: 1_000_000 - SHORTEST_WINDOW_MS, to: 1_000_000 }, 'young figures still get a readable window');
    view.exec.execsPerSecond.unshift([-5_000_000, 1]);
    assert.deepEqual(chartWindow(view), { from: 1_000_000 - history, to: 1_000_000 });
  });

  it('adds sessions and pool images it did not know', () => {
    const view = viewOf(snapshot());
    applyUpdate(
      view,
      update(1_002_000, {
        running: ['ses-1', 'ses-2'],
        sessions: [{ sessionId: 'ses-2', workspaceId: 'web-2', workspaceName: 'web', cpu: [], memory: [[1_002_000, MIB]], memoryLimit: 0 }],
        pools: [{ image: 'debian', ready: [[1_002_000, 0]], target: [[1_002_000, 1]] }],
      }),
    );
    assert.deepEqual([...view.sessions.keys()], ['ses-1', 'ses-2']);
    assert.deepEqual([...view.pools.keys()], ['busybox', 'debian']);
    assert.deepEqual(view.running, new Set(['ses-1', 'ses-2']));
  });
});
