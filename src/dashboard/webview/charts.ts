/**
 * The dashboard's charts, drawn by hand as SVG text: pure functions of the figures, so they are
 * tested without a browser. Chosen over a charting library because the whole of it is a few
 * KB minified, needs no inline styles (the webview's content security policy forbids them:
 * colours come from CSS classes mapped to the theme's `--vscode-charts-*` colours), and draws
 * exactly the few kinds of chart the dashboard has. Every text that can come from a user (a
 * workspace name, an image) is escaped before it goes into the markup.
 */
import type { DashboardPoint } from '../../../sidecar/client/dashboardProtocol';
import { formatBytes } from '../../../sidecar/client/units';

/** What a value counts, which decides its axis and how it reads. */
export type ValueUnit = 'percent' | 'bytes' | 'ms' | 'perSecond' | 'bytesPerSecond' | 'count';

/** Distinct theme colours (`series-0` … in the CSS); further lines reuse them, dashed. */
export const COLOR_COUNT = 6;

export interface ChartLine {
  name: string;
  points: readonly DashboardPoint[];
  /** Index of its colour (modulo COLOR_COUNT). */
  color: number;
  dashed?: boolean;
}

export interface LineChartOptions {
  /** Read by screen readers (the chart's accessible name). */
  title: string;
  /** The time window shown, in ms since the epoch. */
  from: number;
  to: number;
  unit: ValueUnit;
  /** The value axis reaches at least this (100 for CPU %), however low the values. */
  atLeast?: number;
  /** Points further apart than this are not joined: the line shows the gap (no data then). */
  gapMs?: number;
  width?: number;
  height?: number;
}

/** Room for the value axis's labels, the time axis's labels, and a margin. */
const AXIS_LEFT = 64;
const AXIS_BOTTOM = 20;
const MARGIN = 8;

/** `&`, `<`, `>`, `"` and `'` as entities: the text is data, never markup. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);
}

/** A value as people read it in `unit`. */
export function formatValue(value: number, unit: ValueUnit): string {
  switch (unit) {
    case 'percent':
      return `${compact(value)} %`;
    case 'bytes':
      return formatBytes(value);
    case 'bytesPerSecond':
      return `${formatBytes(value)}/s`;
    case 'ms':
      return value >= 1000 ? `${compact(value / 1000)} s` : `${compact(value)} ms`;
    case 'perSecond':
      return `${compact(value)}/s`;
    case 'count':
      return String(Math.round(value));
  }
}

/** One decimal below 10 (without a trailing `.0`), whole numbers above: `2.5`, `5`, `42`. */
function compact(value: number): string {
  return String(Math.abs(value) < 10 ? Number(value.toFixed(1)) : Math.round(value));
}

/**
 * Axis ticks from 0 to the first round number at or above `max`: steps of 1, 2 or 5 times a
 * power of ten (of 1024 for bytes, in whole KiB, MiB or GiB), about four of them.
 */
export function niceTicks(max: number, unit: ValueUnit): number[] {
  const binary = unit === 'bytes' || unit === 'bytesPerSecond';
  // Bytes in whole KiB at least: formatBytes shows no smaller unit.
  const top = Math.max(Number.isFinite(max) && max > 0 ? max : 1, binary ? 1024 : 0);
  let scale = 1;
  if (binary) while (top / (scale * 1024) >= 1) scale *= 1024;
  const rough = top / scale / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const nice = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= rough) ?? 10 * power;
  const step = (binary ? Math.max(1, nice) : nice) * scale;
  const count = Math.ceil(top / step - 1e-9);
  // A whole number of steps; counts stay whole (no "0.5 commands").
  const ticks = Array.from({ length: count + 1 }, (_, i) => Number((i * step).toPrecision(12)));
  return unit === 'count' ? [...new Set(ticks.map((tick) => Math.ceil(tick)))] : ticks;
}

/** A line chart over time: axes with labels, a grid, one polyline per line (broken at gaps), a dot at each line's newest point. */
export function lineChartSvg(lines: readonly ChartLine[], options: LineChartOptions): string {
  const width = options.width ?? 480;
  const height = options.height ?? 180;
  const plot = { left: AXIS_LEFT, top: MARGIN, right: width - MARGIN, bottom: height - AXIS_BOTTOM };
  const span = Math.max(1, options.to - options.from);
  const shown = lines.map((line) => ({ ...line, points: line.points.filter(([time]) => time >= options.from && time <= options.to) }));
  const highest = Math.max(options.atLeast ?? 0, ...shown.flatMap((line) => line.points.map(([, value]) => value)));
  const ticks = niceTicks(highest, options.unit);
  const top = ticks[ticks.length - 1];
  const x = (time: number) => round(plot.left + ((time - options.from) / span) * (plot.right - plot.left));
  const y = (value: number) => round(plot.bottom - (Math.max(0, value) / top) * (plot.bottom - plot.top));

  const parts: string[] = [`<title>${escapeXml(options.title)}</title>`];
  for (const tick of ticks) {
    parts.push(`<line class="grid" x1="${plot.left}" x2="${plot.right}" y1="${y(tick)}" y2="${y(tick)}"/>`);
    parts.push(`<text class="axis-label" x="${plot.left - 6}" y="${y(tick) + 4}" text-anchor="end">${escapeXml(formatValue(tick, options.unit))}</text>`);
  }
  for (const ago of timeTicks(span)) {
    const time = options.to - ago;
    const anchor = ago === 0 ? 'end' : time - options.from < span * 0.05 ? 'start' : 'middle';
    parts.push(`<text class="axis-label" x="${x(time)}" y="${height - 4}" text-anchor="${anchor}">${escapeXml(timeLabel(ago))}</text>`);
  }
  parts.push(`<line class="axis" x1="${plot.left}" x2="${plot.right}" y1="${plot.bottom}" y2="${plot.bottom}"/>`);
  for (const line of shown) {
    const classes = `series series-${line.color % COLOR_COUNT}${line.dashed || line.color >= COLOR_COUNT ? ' dashed' : ''}`;
    const segments = splitAtGaps(line.points, options.gapMs ?? Number.POSITIVE_INFINITY);
    const drawn = segments.map((segment) =>
      segment.length === 1
        ? `<circle class="${classes} dot" cx="${x(segment[0][0])}" cy="${y(segment[0][1])}" r="2"/>`
        : `<polyline class="${classes}" points="${segment.map(([time, value]) => `${x(time)},${y(value)}`).join(' ')}"/>`,
    );
    const newest = line.points[line.points.length - 1];
    if (newest && segments[segments.length - 1].length > 1) drawn.push(`<circle class="${classes} dot" cx="${x(newest[0])}" cy="${y(newest[1])}" r="2.5"/>`);
    if (drawn.length > 0) parts.push(`<g><title>${escapeXml(line.name)}</title>${drawn.join('')}</g>`);
  }
  return `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(options.title)}">${parts.join('')}</svg>`;
}

export interface LegendEntry {
  name: string;
  /** CSS classes of its swatch (the line's colour, dashed or not). */
  swatchClass: string;
  /** Its newest value, formatted; `—` when it has none in the window. */
  current: string;
}

/** Each line's name and newest value, for the legend under a chart (rendered as text, never markup). */
export function legendEntries(lines: readonly ChartLine[], unit: ValueUnit): LegendEntry[] {
  return lines.map((line) => {
    const newest = line.points[line.points.length - 1];
    return {
      name: line.name,
      swatchClass: `swatch series-${line.color % COLOR_COUNT}${line.dashed || line.color >= COLOR_COUNT ? ' dashed' : ''}`,
      current: newest ? formatValue(newest[1], unit) : '—',
    };
  });
}

export interface ChartBar {
  name: string;
  value: number;
}

/** Names longer than this are cut (with …) so the bars keep their room; the full name is in the bar's tooltip. */
const BAR_LABEL_CHARACTERS = 22;
const BAR_ROW = 24;
const BAR_LABEL_WIDTH = 150;
const BAR_VALUE_WIDTH = 130;

/**
 * Horizontal bars, one row each: the name, the bar, the value. `limit` (when given) is the
 * scale's end, marked with a line, and named after each value ("… of 10.0 GiB").
 */
export function barChartSvg(bars: readonly ChartBar[], options: { title: string; unit: ValueUnit; limit?: number; width?: number }): string {
  const width = options.width ?? 480;
  const height = Math.max(1, bars.length) * BAR_ROW + MARGIN;
  const left = BAR_LABEL_WIDTH;
  const right = width - BAR_VALUE_WIDTH;
  const scale = Math.max(options.limit ?? 0, ...bars.map((bar) => bar.value), 1);
  const x = (value: number) => round(left + (Math.max(0, value) / scale) * (right - left));
  const parts: string[] = [`<title>${escapeXml(options.title)}</title>`];
  bars.forEach((bar, index) => {
    const top = MARGIN / 2 + index * BAR_ROW;
    const name = bar.name.length > BAR_LABEL_CHARACTERS ? `${bar.name.slice(0, BAR_LABEL_CHARACTERS - 1)}…` : bar.name;
    const full = options.limit ? `${formatValue(bar.value, options.unit)} of ${formatValue(options.limit, options.unit)}` : formatValue(bar.value, options.unit);
    const over = options.limit !== undefined && bar.value >= options.limit * 0.8;
    parts.push(
      `<g><title>${escapeXml(`${bar.name}: ${full}`)}</title>` +
        `<text class="bar-label" x="${left - 8}" y="${top + 16}" text-anchor="end">${escapeXml(name)}</text>` +
        `<rect class="bar-track" x="${left}" y="${top + 4}" width="${round(right - left)}" height="${BAR_ROW - 8}" rx="2"/>` +
        `<rect class="bar${over ? ' bar-high' : ''}" x="${left}" y="${top + 4}" width="${round(x(bar.value) - left)}" height="${BAR_ROW - 8}" rx="2"/>` +
        `<text class="bar-value" x="${right + 8}" y="${top + 16}">${escapeXml(full)}</text></g>`,
    );
  });
  if (options.limit) parts.push(`<line class="limit" x1="${x(options.limit)}" x2="${x(options.limit)}" y1="0" y2="${height}"/>`);
  return `<svg class="chart bars" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(options.title)}">${parts.join('')}</svg>`;
}

/** Consecutive points no further apart than `gapMs`, as runs. */
function splitAtGaps(points: readonly DashboardPoint[], gapMs: number): DashboardPoint[][] {
  const runs: DashboardPoint[][] = [];
  for (const point of points) {
    const run = runs[runs.length - 1];
    if (run && point[0] - run[run.length - 1][0] <= gapMs) run.push(point);
    else runs.push([point]);
  }
  return runs;
}

/** Steps of the time axis, the first that labels a window at most four times over. */
const TIME_STEPS_MS = [10_000, 15_000, 30_000, 60_000, 2 * 60_000, 5 * 60_000, 10 * 60_000, 30 * 60_000, 60 * 60_000];

/** How long ago each label of the time axis is: now, and whole steps back within `spanMs`. */
export function timeTicks(spanMs: number): number[] {
  const step = TIME_STEPS_MS.find((candidate) => spanMs / candidate <= 4) ?? TIME_STEPS_MS[TIME_STEPS_MS.length - 1];
  return Array.from({ length: Math.floor(spanMs / step + 1e-9) + 1 }, (_, i) => i * step);
}

/** "now", "5 min ago", "30 s ago": the time axis reads relative to now, in any locale and time zone. */
function timeLabel(agoMs: number): string {
  if (agoMs < 1000) return 'now';
  if (agoMs < 60_000 || agoMs % 60_000 !== 0) return `${Math.round(agoMs / 1000)} s ago`;
  return `${agoMs / 60_000} min ago`;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/** When a lifecycle action comes, from now: "due now", "in 40 min", "in 5 h", "in 3 days". */
export function describeWhen(at: string, now: number): string {
  const ms = Date.parse(at) - now;
  if (!Number.isFinite(ms)) return at;
  if (ms < 60_000) return 'due now';
  if (ms < 3_600_000) return `in ${Math.round(ms / 60_000)} min`;
  if (ms < 2 * 86_400_000) return `in ${Math.round(ms / 3_600_000)} h`;
  return `in ${Math.round(ms / 86_400_000)} days`;
}
