/**
 * The dashboard webview's script (bundled by esbuild into dist/webview/dashboard.js, run in
 * the webview's browser): it asks for a snapshot when it loads, applies the updates the
 * extension forwards, and draws. It never polls: with no message nothing happens. Names
 * come from users and sandboxes, so they reach the page as text (textContent) or escaped.
 */
import './dashboard.css';
import type { DashboardSessionSeries } from '../../../sidecar/client/dashboardProtocol';
import { barChartSvg, describeWhen, legendEntries, lineChartSvg, type ChartLine, type LineChartOptions } from './charts';
import type { FromWebview, ToWebview } from './messages';
import { applyUpdate, chartWindow, viewOf, type DashboardView } from './state';

declare function acquireVsCodeApi(): { postMessage(message: FromWebview): void };

const vscode = acquireVsCodeApi();

/** A card of the page: its heading, the chart (or table), the legend, and what it says when empty. */
interface Card {
  body: HTMLElement;
  legend: HTMLUListElement;
  empty: HTMLElement;
}

const root = document.getElementById('dashboard')!;
const status = element('p', 'status', 'Waiting for the sidecar…');
status.setAttribute('role', 'status');
const grid = element('div', 'grid');
root.append(element('h1', undefined, 'Sandkasten Dashboard'), status, grid);

const cards = {
  cpu: card('CPU per session', 'Percent of one CPU core, as Docker measures the container.'),
  memory: card('Memory per session', 'In use, without page cache the kernel can drop.'),
  pool: card('Warm pool: ready / target', 'Containers ready to hand out, per image (dashed: its target).'),
  latency: card('Command latency', 'Median and 95th percentile of the commands of the last minute.'),
  commands: card('Commands per second', 'Commands finished (Run Command, CLI, HTTP API).'),
  output: card('Output per second', "Command output that passes through the sidecar (a local CLI's stdout bypasses it)."),
  disk: card('Disk used per workspace', 'Volume and container layer, as last measured (limits.diskMb).'),
  lifecycle: card('Upcoming lifecycle actions', 'What is due now, then what is scheduled; using a workspace postpones it.', true),
};

let view: DashboardView | undefined;
/** Why there are no live figures, while there is a reason. */
let problem: string | undefined;

window.addEventListener('message', (event: MessageEvent<ToWebview>) => {
  const message = event.data;
  if (message.type === 'snapshot') {
    view = viewOf(message.snapshot);
    problem = undefined;
  } else if (message.type === 'update' && view) {
    view = applyUpdate(view, message.update);
  } else if (message.type === 'problem') {
    problem = message.text;
  }
  showStatus();
  if (view) render(view);
});
vscode.postMessage({ type: 'ready' });

function showStatus(): void {
  const beyond = view && view.notFollowed > 0 ? ` ${view.notFollowed} more running sessions are not shown.` : '';
  status.textContent = problem ?? (view ? `Live: updated every ${Math.round(view.intervalMs / 1000)} s while this tab is visible.${beyond}` : 'Waiting for the sidecar…');
  status.classList.toggle('problem', problem !== undefined);
}

function render(view: DashboardView): void {
  const span = { ...chartWindow(view), gapMs: view.intervalMs * 3 };
  const sessions = [...view.sessions.values()].sort(
    (a, b) => Number(view.running.has(b.sessionId)) - Number(view.running.has(a.sessionId)) || a.workspaceName.localeCompare(b.workspaceName),
  );
  const name = (session: DashboardSessionSeries) => `${session.workspaceName}${view.running.has(session.sessionId) ? '' : ' (stopped)'}`;
  const noSession = view.running.size === 0 && sessions.length === 0 ? 'No session is running.' : undefined;

  drawLines(
    cards.cpu,
    sessions.map((session, index) => ({ name: name(session), points: session.cpu, color: index })),
    { ...span, title: 'CPU per session', unit: 'percent', atLeast: 100 },
    noSession,
  );
  drawLines(
    cards.memory,
    sessions.map((session, index) => ({ name: name(session), points: session.memory, color: index })),
    { ...span, title: 'Memory per session', unit: 'bytes' },
    noSession,
  );

  const pools = [...view.pools.values()];
  drawLines(
    cards.pool,
    pools.flatMap((pool, index) => [
      { name: `${shortImage(pool.image)} ready`, points: pool.ready, color: index },
      { name: `${shortImage(pool.image)} target`, points: pool.target, color: index, dashed: true },
    ]),
    { ...span, title: 'Warm pool: ready and target per image', unit: 'count', atLeast: 1 },
    pools.length === 0 ? 'The pool keeps nothing warm (pool.images sets what it keeps).' : undefined,
  );

  const { exec } = view;
  drawLines(
    cards.latency,
    [
      { name: 'p50', points: exec.p50Ms, color: 0 },
      { name: 'p95', points: exec.p95Ms, color: 1 },
    ],
    { ...span, title: 'Command latency, p50 and p95', unit: 'ms', atLeast: 10 },
    exec.p50Ms.length === 0 ? 'No command finished in the last minutes.' : undefined,
  );
  drawLines(cards.commands, [{ name: 'commands', points: exec.execsPerSecond, color: 2 }], { ...span, title: 'Commands per second', unit: 'perSecond', atLeast: 1 });
  drawLines(cards.output, [{ name: 'output', points: exec.outputBytesPerSecond, color: 3 }], { ...span, title: 'Output per second', unit: 'bytesPerSecond' });

  const disk = view.disk;
  cards.disk.body.innerHTML = disk.length > 0 ? barChartSvg(disk.map((use) => ({ name: use.workspaceName, value: use.bytes })), { title: 'Disk used per workspace', unit: 'bytes', limit: disk[0].limitBytes }) : '';
  showEmpty(cards.disk, disk.length === 0 ? 'No disk use measured yet: it is measured while sessions run.' : undefined);

  drawLifecycle(view);
}

function drawLines(target: Card, lines: ChartLine[], options: LineChartOptions, emptyText?: string): void {
  target.body.innerHTML = emptyText ? '' : lineChartSvg(lines, options);
  target.legend.replaceChildren(
    ...(emptyText
      ? []
      : legendEntries(lines, options.unit).map((entry) => {
          const item = element('li');
          item.title = entry.name; // the whole name where the legend cuts it
          item.append(element('span', entry.swatchClass), element('span', 'legend-name', entry.name), element('span', 'legend-value', entry.current));
          return item;
        })),
  );
  showEmpty(target, emptyText);
}

function drawLifecycle(view: DashboardView): void {
  const table = element('table', 'grid-table');
  const head = element('tr');
  for (const title of ['When', 'Action', 'Workspace', 'Why']) head.append(element('th', undefined, title));
  table.append(element('thead'), element('tbody'));
  table.tHead!.append(head);
  for (const action of view.lifecycle) {
    const row = element('tr', action.due ? 'due' : undefined);
    row.append(
      element('td', undefined, action.due ? 'due now' : describeWhen(action.at, view.now)),
      element('td', undefined, action.action),
      element('td', undefined, action.workspaceName),
      element('td', undefined, action.reason),
    );
    table.tBodies[0].append(row);
  }
  cards.lifecycle.body.replaceChildren(...(view.lifecycle.length > 0 ? [table] : []));
  showEmpty(cards.lifecycle, view.lifecycle.length === 0 ? 'Nothing is scheduled: no workspace is due for freezing, archiving or deletion.' : undefined);
}

/** `ghcr.io/acme/tools:1.2` → `tools:1.2`: the legend has little room; the tooltip has it all. */
function shortImage(image: string): string {
  return image.slice(image.lastIndexOf('/') + 1);
}

function showEmpty(target: Card, text: string | undefined): void {
  target.empty.textContent = text ?? '';
  target.empty.hidden = text === undefined;
}

function card(title: string, description: string, wide = false): Card {
  const section = element('section', wide ? 'card wide' : 'card');
  const heading = element('h2', undefined, title);
  const about = element('p', 'description', description);
  const body = element('div', 'card-body');
  const legend = element('ul', 'legend');
  const empty = element('p', 'empty');
  empty.hidden = true;
  section.append(heading, about, body, empty, legend);
  grid.append(section);
  return { body, legend, empty };
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
