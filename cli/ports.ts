/**
 * `sandkasten port list|forward|stop|label`: what listens inside a session and forwarding it
 * to this machine, for people and for agents (`--json`; `forward` prints the URL alone, so
 * `URL=$(sandkasten port forward …)` works). main.ts reads the command line whole before
 * it reaches the sidecar: bad usage starts nothing and changes nothing.
 */
import type { SidecarClient } from '../sidecar/client/sidecarClient';
import * as P from '../sidecar/client/protocol';
import { forwardAddress, parsePortNumber, parsePortSpec, portLabelProblem, showableText } from '../sidecar/client/portSpec';
import { formatTable, print, UsageError } from './format';

export const PORT_USAGE = `sandkasten port — ports of a session, forwarded to this machine

Usage:
  sandkasten port list [SESSION_ID] [--scan] [--json]
        the ports listening in the session (or in every running session) and those forwarded;
        --scan looks at the container's sockets now instead of answering from the last look
  sandkasten port forward SESSION_ID PORT[:LOCAL] [--label TEXT] [--json]
        forwards PORT of the session to LOCAL on this machine (without LOCAL: the same number
        when it is free, another one otherwise) and prints the URL to open, e.g.
        http://127.0.0.1:5173/; the port need not listen yet. PORT comes first, the other way
        round from docker run -p. Kept while the session runs, across sidecar restarts.
  sandkasten port stop SESSION_ID PORT [--json]
        closes the forward's listener and every connection through it
  sandkasten port label SESSION_ID PORT TEXT [--json]
        names the port (shown beside its number); "" removes the label

Forwards listen on 127.0.0.1 unless the setting ports.bindAddress says otherwise (then
sandkasten warns). New ports are forwarded or offered as ports.autoForward says per kind.
Exit codes: 0 done, 1 refused or failed (e.g. the session is not running), 2 bad usage.`;

export type PortCommand =
  | { verb: 'list'; sessionId?: string; scan: boolean }
  | { verb: 'forward'; sessionId: string; port: number; localPort?: number; label?: string }
  | { verb: 'stop'; sessionId: string; port: number }
  | { verb: 'label'; sessionId: string; port: number; label: string };

export interface PortCommandOptions {
  scan?: boolean;
  label?: string;
}

/** The command line of `port VERB ARGS…` as a command, or a UsageError that says what is wrong. */
export function parsePortCommand(given: string | undefined, args: string[], options: PortCommandOptions): PortCommand {
  const verb = given === 'ls' ? 'list' : given;
  const take = (count: number, what: string) => {
    if (args.length !== count) throw new UsageError(`port ${verb} takes ${what}.`);
    return args;
  };
  const only = (option: keyof PortCommandOptions, allowed: string) => {
    if (options[option] !== undefined && verb !== allowed) throw new UsageError(`--${option} goes with port ${allowed} only.`);
  };
  only('scan', 'list');
  only('label', 'forward');
  const port = (text: string) => usage(() => parsePortNumber(text));
  switch (verb) {
    case 'list': {
      if (args.length > 1) throw new UsageError('port list takes at most one SESSION_ID.');
      return { verb: 'list', sessionId: args[0], scan: options.scan ?? false };
    }
    case 'forward': {
      const [sessionId, spec] = take(2, 'a SESSION_ID and PORT or PORT:LOCAL (e.g. 5173 or 5173:8080)');
      const label = options.label?.trim();
      if (label !== undefined) checkLabel(label);
      return { verb: 'forward', sessionId, ...usage(() => parsePortSpec(spec)), ...(label ? { label } : {}) };
    }
    case 'stop': {
      const [sessionId, text] = take(2, 'a SESSION_ID and a PORT');
      return { verb: 'stop', sessionId, port: port(text) };
    }
    case 'label': {
      const [sessionId, text, label] = take(3, 'a SESSION_ID, a PORT and a TEXT (quote it when it has spaces; "" removes the label)');
      checkLabel(label.trim());
      return { verb: 'label', sessionId, port: port(text), label: label.trim() };
    }
    case undefined:
      throw new UsageError('port takes list, forward, stop or label (sandkasten port --help).');
    default:
      throw new UsageError(`"port ${verb}" is not a command: port takes list, forward, stop or label (sandkasten port --help).`);
  }
}

export async function runPortCommand(client: SidecarClient, command: PortCommand, json: boolean): Promise<number> {
  const output = (result: unknown, human: () => string) => print(json ? JSON.stringify(result, null, 2) : human());
  switch (command.verb) {
    case 'list': {
      const ports = await client.request(P.ListPortsRequest.type, { sessionId: command.sessionId, scan: command.scan });
      output(ports, () => (ports.length === 0 ? nothingListed(command) : portTable(ports)));
      return 0;
    }
    case 'forward': {
      const { sessionId, port, localPort, label } = command;
      const info = await client.request(P.ForwardPortRequest.type, { sessionId, port, localPort, label });
      warn(info);
      output(info, () => info.forward?.url ?? `Port ${port} of ${sessionId} is not forwarded.`);
      return info.forward ? 0 : 1;
    }
    case 'stop': {
      const info = await client.request(P.StopForwardingRequest.type, { sessionId: command.sessionId, port: command.port });
      output(info, () => `Port ${command.port} of ${command.sessionId} is no longer forwarded.`);
      return 0;
    }
    case 'label': {
      const info = await client.request(P.SetPortLabelRequest.type, { sessionId: command.sessionId, port: command.port, label: command.label });
      output(info, () => (info.label ? `Port ${command.port} of ${command.sessionId} is labelled "${showableText(info.label)}".` : `Port ${command.port} of ${command.sessionId} has no label now.`));
      return 0;
    }
  }
}

/** SESSION PORT PROCESS FORWARDED-TO LABEL, one row a port; the container's words made plain. */
export function portTable(ports: P.PortInfo[]): string {
  return formatTable(
    ['SESSION', 'PORT', 'PROCESS', 'FORWARDED-TO', 'LABEL'],
    ports.map((info) => [
      info.sessionId,
      String(info.port),
      info.listening ? (info.process ? showableText(info.process) || '?' : '?') : '(not listening)',
      info.forward ? forwardAddress(info.forward) : '-',
      info.label ? showableText(info.label) : '',
    ]),
  );
}

function nothingListed(command: Extract<PortCommand, { verb: 'list' }>): string {
  const where = command.sessionId ? `in ${command.sessionId}` : 'in any running session';
  return `No port listens ${where}, and none is forwarded.${command.scan ? '' : ' (--scan looks again now)'}`;
}

/** The sidecar's warning about a forward (beyond loopback, another local port) on stderr. */
function warn(info: P.PortInfo): void {
  if (info.warning) process.stderr.write(`sandkasten: warning: ${showableText(info.warning, 300)}\n`);
}

function checkLabel(label: string): void {
  const problem = portLabelProblem(label);
  if (problem) throw new UsageError(problem);
}

/** portSpec's errors as usage errors (exit code 2). */
function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
