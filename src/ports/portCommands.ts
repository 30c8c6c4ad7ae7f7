import * as vscode from 'vscode';
import { ForwardPortRequest, ListPortsRequest, SetPortLabelRequest, StopForwardingRequest, type PortInfo } from '../../sidecar/client/protocol';
import { forwardAddress, parsePortSpec, portLabelProblem, portSpecProblem } from '../../sidecar/client/portSpec';
import { chooseSession } from '../commands/pickers';
import type { Ctx } from '../ctx';
import { PortItem, PortsItem } from './portItems';
import { portLabel, warningMessage } from './portText';

/** How long "Port 8080 … forwarded" stays in the status bar. */
const STATUS_MESSAGE_MS = 5000;

/** Open in Browser on a port row (inline 🌐 or context menu): a port not forwarded yet is forwarded first. */
export async function openPortInBrowser(ctx: Ctx, item?: unknown): Promise<void> {
  if (!(item instanceof PortItem)) return;
  await openInBrowser(ctx, item.info);
}

/** Opens the forward's URL in the browser, forwarding the port first when it is not. */
export async function openInBrowser(ctx: Ctx, info: PortInfo): Promise<void> {
  const forwarded = info.forward ? info : await forwardSessionPort(ctx, info.sessionId, info.port);
  if (forwarded.forward) await vscode.env.openExternal(vscode.Uri.parse(forwarded.forward.url));
}

/** Copy Address on a forwarded port: `127.0.0.1:5173`, as a browser or curl takes it. */
export async function copyPortAddress(_ctx: Ctx, item?: unknown): Promise<void> {
  if (!(item instanceof PortItem) || !item.info.forward) return;
  await copyAddress(item.info);
}

export async function copyAddress(info: PortInfo): Promise<void> {
  if (!info.forward) return;
  const address = forwardAddress(info.forward);
  await vscode.env.clipboard.writeText(address);
  vscode.window.setStatusBarMessage(`$(copy) Copied ${address}`, STATUS_MESSAGE_MS);
}

/** Forward Port on a port that listens but is not forwarded: the same number on this machine when it is free. */
export async function forwardPort(ctx: Ctx, item?: unknown): Promise<void> {
  if (!(item instanceof PortItem)) return;
  await forwardSessionPort(ctx, item.info.sessionId, item.info.port);
}

/**
 * Forward a Port…: on the Ports row (or a port's: its number proposed), or from the palette with a
 * session to choose; asks for PORT or PORT:LOCAL.
 */
export async function forwardNewPort(ctx: Ctx, item?: unknown): Promise<void> {
  const session =
    item instanceof PortsItem || item instanceof PortItem
      ? item.session
      : await chooseSession(ctx, item, { title: 'Forward a Port of…', states: ['running'], emptyMessage: 'No session is running: start one to forward its ports.' });
  if (!session) return;
  const text = await vscode.window.showInputBox({
    title: `Forward a Port of ${session.workspaceName}`,
    prompt: 'The port inside the session, optionally followed by :LOCAL, the port on this machine (else the same number when it is free).',
    placeHolder: '5173 or 5173:8080',
    value: item instanceof PortItem ? String(item.info.port) : undefined,
    validateInput: (value) => portSpecProblem(value),
  });
  if (text === undefined) return;
  const { port, localPort } = parsePortSpec(text);
  await forwardSessionPort(ctx, session.id, port, localPort);
}

/** Stop Forwarding on a forwarded port: its listener on this machine closes, with every connection. */
export async function stopForwardingPort(ctx: Ctx, item?: unknown): Promise<void> {
  if (!(item instanceof PortItem) || !item.info.forward) return;
  await ctx.request(StopForwardingRequest.type, { sessionId: item.info.sessionId, port: item.info.port });
  vscode.window.setStatusBarMessage(`$(close) Port ${item.info.port} of ${item.session.workspaceName} is no longer forwarded`, STATUS_MESSAGE_MS);
}

/** Set Port Label…: a name shown beside the number (`web (5173)`); empty removes it. */
export async function setPortLabel(ctx: Ctx, item?: unknown): Promise<void> {
  if (!(item instanceof PortItem)) return;
  const label = await vscode.window.showInputBox({
    title: `Label for port ${item.info.port} of ${item.session.workspaceName}`,
    prompt: 'A name for the port, e.g. web or api; empty removes the label.',
    value: item.info.label ?? '',
    validateInput: (value) => portLabelProblem(value.trim()),
  });
  if (label === undefined) return;
  await ctx.request(SetPortLabelRequest.type, { sessionId: item.info.sessionId, port: item.info.port, label: label.trim() });
}

/**
 * Refresh on the Ports row: the sidecar looks at the session's sockets now, instead of at its
 * next scheduled look; from the palette, at every running session's.
 */
export async function refreshPorts(ctx: Ctx, item?: unknown): Promise<void> {
  const sessionId = item instanceof PortsItem ? item.session.id : undefined;
  await ctx.request(ListPortsRequest.type, { sessionId, scan: true });
  ctx.viewsChanged(['ports']);
}

/** Forwards a port of a session and says where to in the status bar. */
export async function forwardSessionPort(ctx: Ctx, sessionId: string, port: number, localPort?: number): Promise<PortInfo> {
  const forwarded = await ctx.request(ForwardPortRequest.type, { sessionId, port, localPort });
  // Said once, here: beyond loopback, or another local port than the one asked for.
  if (forwarded.warning) void vscode.window.showWarningMessage(warningMessage(forwarded));
  if (forwarded.forward) vscode.window.setStatusBarMessage(`$(radio-tower) Port ${portLabel(forwarded)} forwarded to ${forwardAddress(forwarded.forward)}`, STATUS_MESSAGE_MS);
  return forwarded;
}
