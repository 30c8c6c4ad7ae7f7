/**
 * Ports: what listens inside a session, and forwarding it to this machine. Part of the wire
 * protocol, re-exported by protocol.ts. The sidecar looks at the container's socket tables
 * (on a schedule while a session is in use, and when asked), and a forward is a listener on
 * `ports.bindAddress` (loopback by default) that relays each connection into the container.
 */
import { RequestType } from 'vscode-languageserver-protocol';
import * as S from './schema';

/** Ports a session may have listed at once: a container listening on more gets the lowest ones. */
export const MAX_LISTED_PORTS = 256;

/** A port forwarded to this machine. */
export interface PortForwardInfo {
  /** The address it listens on (`127.0.0.1` unless `ports.bindAddress` says otherwise). */
  localAddress: string;
  localPort: number;
  /** `http://127.0.0.1:LOCAL/`: what a browser or an agent opens. */
  url: string;
  /** Forwarded by `ports.autoForward` rather than by someone asking. */
  auto: boolean;
  /** Connections relayed right now. */
  connections: number;
  since: string;
}

/** A port of a session: listening inside it, forwarded, or both. */
export interface PortInfo {
  sessionId: string;
  workspaceId: string;
  /** The port inside the container. */
  port: number;
  /** Listening inside the container as of the last look (a forward can outlive its server). */
  listening: boolean;
  /** The listening process's name, as the container reports it (its own words: untrusted). */
  process?: string;
  /** A label the user gave the port. */
  label?: string;
  /** When the sidecar first saw it listening (this run). */
  detectedAt?: string;
  /**
   * What `ports.autoForward` made of the port when it was first seen: `forwarded` (forwarded
   * at once; say so, offer Open in Browser), `offer` (offer to forward it); absent: nothing
   * to say (already known, asked for, or `off`).
   */
  notice?: 'forwarded' | 'offer';
  forward?: PortForwardInfo;
  /** Said when the forward listens beyond loopback, or could not get the local port asked for. */
  warning?: string;
}

const port = () => S.positiveInteger(65535);

export namespace ListPortsRequest {
  export const params = S.params({ sessionId: S.optional(S.string()), scan: S.optional(S.boolean()) });
  export const method = 'ports/list';
  /**
   * The ports of one session (or of every running session), lowest first. `scan` looks at the
   * container's sockets first instead of answering from the last look; it never thaws a
   * frozen session or starts a stopped one.
   */
  export const type = new RequestType<{ sessionId?: string; scan?: boolean }, PortInfo[], void>(method);
}

export interface ForwardPortParams {
  sessionId: string;
  port: number;
  /** The local port; absent or 0: the same number when it is free, another one otherwise. */
  localPort?: number;
  label?: string;
}
export namespace ForwardPortRequest {
  export const params = S.params({ sessionId: S.string(), port: port(), localPort: S.optional(S.wholeNumber()), label: S.optional(S.text()) });
  export const method = 'ports/forward';
  /**
   * Forwards a port of a running session (listening yet or not): idempotent for a port already
   * forwarded to the same local port. Conflict when the session is not running, Exists when an
   * explicit local port is taken. Kept across sidecar restarts while the session runs.
   */
  export const type = new RequestType<ForwardPortParams, PortInfo, void>(method);
}

export namespace StopForwardingRequest {
  export const params = S.params({ sessionId: S.string(), port: port() });
  export const method = 'ports/stop';
  /** Closes the listener and every connection it relays; NotFound when the port is not forwarded. */
  export const type = new RequestType<{ sessionId: string; port: number }, PortInfo, void>(method);
}

export namespace SetPortLabelRequest {
  export const params = S.params({ sessionId: S.string(), port: port(), label: S.text() });
  export const method = 'ports/setLabel';
  /** Names a port (an empty label removes it); kept with the session. */
  export const type = new RequestType<{ sessionId: string; port: number; label: string }, PortInfo, void>(method);
}
