/**
 * What the Ports rows and notifications say, apart from VS Code so it can be tested without
 * it. Process names come from the container and labels from people: both are made plain
 * (showableText) before they reach a row, and escaped before they reach Markdown.
 */
import type { PortInfo } from '../../sidecar/client/protocol';
import { forwardAddress, showableText } from '../../sidecar/client/portSpec';
import { markdownText } from '../share/shareText';

/**
 * `forwarded`: relayed to this machine and something listens; `idle`: forwarded, but nothing
 * listens inside any more; `detected`: listening, not forwarded.
 */
export type PortState = 'forwarded' | 'idle' | 'detected';

export function portState(info: Pick<PortInfo, 'forward' | 'listening'>): PortState {
  if (!info.forward) return 'detected';
  return info.listening ? 'forwarded' : 'idle';
}

/** What a tree row needs, without VS Code's classes. */
export interface PortRow {
  label: string;
  description: string;
  /** A codicon name, with a theme colour for the idle state. */
  icon: { id: string; color?: string };
  /** `port.forwarded`, `port.forwarded.idle` or `port.detected`: the menus key off it. */
  contextValue: string;
  /** Markdown: every piece from the container or a person escaped. */
  tooltip: string;
  accessibilityLabel: string;
}

const ICONS: Record<PortState, PortRow['icon']> = {
  forwarded: { id: 'radio-tower' },
  idle: { id: 'radio-tower', color: 'editorWarning.foreground' },
  detected: { id: 'circle-outline' },
};

/** `5173`, or `web (5173)` when labelled. */
export function portLabel(info: Pick<PortInfo, 'port' | 'label'>): string {
  const label = info.label ? showableText(info.label) : '';
  return label ? `${label} (${info.port})` : String(info.port);
}

/** The process's name as it may be shown, or undefined when the container did not say. */
export function processName(info: Pick<PortInfo, 'process'>): string | undefined {
  return info.process ? showableText(info.process) || undefined : undefined;
}

/** `vite → 127.0.0.1:5173`, `vite · not forwarded`, `not listening → 127.0.0.1:5173`. */
export function portDescription(info: Pick<PortInfo, 'forward' | 'listening' | 'process'>): string {
  const name = processName(info);
  if (!info.forward) return `${name ? `${name} · ` : ''}not forwarded`;
  const where = `→ ${forwardAddress(info.forward)}`;
  if (!info.listening) return `not listening ${where}`;
  return name ? `${name} ${where}` : where;
}

export function portRow(info: PortInfo): PortRow {
  const state = portState(info);
  const name = processName(info);
  const label = info.label ? showableText(info.label) : '';
  const forward = info.forward;
  const tooltip = [
    `**Port ${info.port}**${label ? ` — ${markdownText(label)}` : ''}`,
    '',
    info.listening ? `Listening in the session${name ? `: ${markdownText(name)}` : ''}  ` : 'Nothing listens on it in the session now  ',
    ...(forward
      ? [
          `Forwarded to ${markdownText(forwardAddress(forward))}${forward.auto ? ' (automatically: sandkasten.ports.autoForward)' : ''}  `,
          `Open: ${markdownText(forward.url)}  `,
          `Connections: ${forward.connections}  `,
          `Since: ${new Date(forward.since).toLocaleString()}  `,
        ]
      : ['Not forwarded: Forward Port makes it reachable from this machine  ']),
    ...(info.detectedAt ? [`Seen listening: ${new Date(info.detectedAt).toLocaleString()}  `] : []),
    ...(info.warning ? ['', `⚠ ${markdownText(showableText(info.warning, 300))}`] : []),
  ].join('\n');
  const stateWords: Record<PortState, string> = {
    forwarded: `forwarded to ${forward ? forwardAddress(forward) : ''}`,
    idle: `forwarded to ${forward ? forwardAddress(forward) : ''}, nothing listening`,
    detected: 'listening, not forwarded',
  };
  return {
    label: portLabel(info),
    description: portDescription(info),
    icon: ICONS[state],
    contextValue: state === 'detected' ? 'port.detected' : state === 'idle' ? 'port.forwarded.idle' : 'port.forwarded',
    tooltip,
    accessibilityLabel: `Port ${info.port}${label ? ` (${label})` : ''}${name ? ` of ${name}` : ''}, ${stateWords[state]}`,
  };
}

/** The Ports node's description: `2 forwarded · 1 not forwarded`, or that there are none. */
export function portsSummary(ports: Array<Pick<PortInfo, 'forward'>>): string {
  if (ports.length === 0) return 'none detected';
  const forwarded = ports.filter((info) => info.forward).length;
  const other = ports.length - forwarded;
  return [forwarded > 0 ? `${forwarded} forwarded` : '', other > 0 ? `${other} not forwarded` : ''].filter(Boolean).join(' · ');
}

/**
 * The notification for a port that started listening: "Port 5173 is listening in my-api (vite)
 * and is forwarded to 127.0.0.1:5173." or, offered, "Port 5173 is listening in my-api (vite)."
 */
export function noticeMessage(info: PortInfo, workspaceName: string): string {
  const name = processName(info);
  const listening = `Port ${info.port} is listening in ${showableText(workspaceName)}${name ? ` (${name})` : ''}`;
  return info.notice === 'forwarded' && info.forward ? `${listening} and is forwarded to ${forwardAddress(info.forward)}.` : `${listening}.`;
}

/** The buttons of that notification. */
export const OPEN_IN_BROWSER = 'Open in Browser';
export const COPY_ADDRESS = 'Copy Address';
export const FORWARD = 'Forward';
export function noticeButtons(info: Pick<PortInfo, 'notice'>): string[] {
  return info.notice === 'forwarded' ? [OPEN_IN_BROWSER, COPY_ADDRESS] : [FORWARD, OPEN_IN_BROWSER];
}

/** The sidecar's warning about a forward (beyond loopback, another local port), led by its port. */
export function warningMessage(info: Pick<PortInfo, 'port' | 'warning'>): string {
  const warning = showableText(info.warning ?? '', 300);
  return new RegExp(`^port ${info.port}\\b`, 'i').test(warning) ? warning : `Port ${info.port}: ${warning}`;
}
