/**
 * Ports as people type them and read them, the same in the CLI and the extension: `5173` or
 * `5173:8080` (the port inside the session first, then the one on this machine: the other way
 * round from `docker run -p`, which names the host's side first), and what a container says
 * about its ports made safe to show.
 */
import type { PortInfo } from './portProtocol';

export const HIGHEST_PORT = 65535;
/** Longest label a person gives a port: it shares a tree row with the port and the address. */
export const MAX_PORT_LABEL = 64;
/** Longest process name shown; a container may report anything. */
const MAX_PROCESS_NAME = 64;

export interface PortSpec {
  /** The port inside the session. */
  port: number;
  /** The port on this machine; absent: the same number when it is free, another one otherwise. */
  localPort?: number;
}

const EXAMPLE = 'write PORT or PORT:LOCAL, e.g. 5173 or 5173:8080';

/** Why `text` is no PORT[:LOCAL], or undefined when it is one. */
export function portSpecProblem(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return `Give a port: ${EXAMPLE}.`;
  const parts = trimmed.split(':');
  if (parts.length > 2) return `"${trimmed}" has too many parts: ${EXAMPLE}.`;
  const [port, local] = parts;
  return portNumberProblem(port, 'port') ?? (local === undefined ? undefined : portNumberProblem(local, 'local port'));
}

/** Why `text` is no port number (1 to 65535), or undefined when it is one. */
export function portNumberProblem(text: string, what = 'port'): string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return `The ${what} is missing: ${EXAMPLE}.`;
  if (!/^\d+$/.test(trimmed)) return `"${trimmed}" is not a ${what}: ports are whole numbers from 1 to ${HIGHEST_PORT}.`;
  const value = Number(trimmed);
  if (value < 1 || value > HIGHEST_PORT) return `${trimmed} is not a ${what}: ports go from 1 to ${HIGHEST_PORT}.`;
  return undefined;
}

/** PORT or PORT:LOCAL as numbers; throws an Error that says what is wrong (see portSpecProblem). */
export function parsePortSpec(text: string): PortSpec {
  const problem = portSpecProblem(text);
  if (problem) throw new Error(problem);
  const [port, local] = text.trim().split(':');
  return local === undefined ? { port: Number(port) } : { port: Number(port), localPort: Number(local) };
}

/** A port number alone (1 to 65535); throws an Error that says what is wrong. */
export function parsePortNumber(text: string, what = 'port'): number {
  const problem = portNumberProblem(text, what);
  if (problem) throw new Error(problem);
  return Number(text.trim());
}

/** Why a label cannot be a port's label, or undefined (empty is fine: it removes the label). */
export function portLabelProblem(label: string): string | undefined {
  if (label.length > MAX_PORT_LABEL) return `A port's label has at most ${MAX_PORT_LABEL} characters.`;
  if (UNSHOWABLE.test(label)) return "A port's label is one line of text, without control characters.";
  return undefined;
}

/**
 * Control characters (terminal escapes, line breaks) and the marks that reorder text (which
 * could make a row read as something else); a container names its processes as it likes.
 */
const UNSHOWABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** Text from a container (a process name) or a person (a label) as one short, plain line. */
export function showableText(text: string, max = MAX_PROCESS_NAME): string {
  const plain = text.replace(new RegExp(UNSHOWABLE.source, 'g'), ' ').replace(/\s+/g, ' ').trim();
  return plain.length > max ? `${plain.slice(0, max - 1)}…` : plain;
}

/** Where a forward is reached: `127.0.0.1:5173` (`[::1]:5173` for IPv6), as a browser or curl takes it. */
export function forwardAddress(forward: NonNullable<PortInfo['forward']>): string {
  try {
    return new URL(forward.url).host;
  } catch {
    return forward.localAddress.includes(':') ? `[${forward.localAddress}]:${forward.localPort}` : `${forward.localAddress}:${forward.localPort}`;
  }
}
