import { createHash, randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import type WebSocket from 'ws';
import { cryptoRandomHex, type RandomHex } from '../client/ids';
import type { JoinRequestInfo, ParticipantInfo, ShareApproval, ShareInfo, ShareRole, TerminalInfo, WorkspaceEventKind } from '../client/protocol';
import type { ConfigStore } from '../config';
import { conflict, notFound } from '../errors';
import type { FileOps } from '../files/workspaceFileSystem';
import type { Sessions } from '../sessions';
import type { Store } from '../store/store';
import type { Terminals } from '../terminals/terminals';
import type { Changes } from '../util/changes';
import { isoTime, type Clock } from '../util/clock';
import type { Logger } from '../util/log';
import type { Workspaces } from '../workspaces';
import { CLOSE, GuestLink, type Guest, type SharedSession } from './guestLink';
import { Refusals } from './refusals';
import { ShareEndpoint, type EndpointAddress, type ShareAuthentication } from './shareEndpoint';
import { formatCode, formatLink } from './shareLink';
import { cleanName, type HostMessage, type ParticipantSummary } from './wire';

/** A join request the host did not answer within this long is turned away. */
const ANSWER_WITHIN_MS = 2 * 60_000;
/** A guest whose connection dropped keeps its place (and role) this long for its reconnect. */
const COME_BACK_WITHIN_MS = 2 * 60_000;
/** Guests in one share at most (the issue asks for at least 30). */
export const MAX_GUESTS = 64;
/** Join requests waiting at once per share. */
const MAX_PENDING = 16;
/**
 * Joins (asked or let in) one address may make per share and minute, so churn cannot flood
 * the host or push real events out of the history. Generous: behind an SSH tunnel every
 * guest is 127.0.0.1, and a full share (MAX_GUESTS) may join at once and come back once.
 */
const JOINS_PER_ADDRESS_PER_MINUTE = 2 * MAX_GUESTS;
/** Refused attempts are written to the database at most this often, counted together. */
const REFUSAL_EVENT_INTERVAL_MS = 60_000;
/** Where refusals that belong to no share (a wrong secret) are recorded: the endpoint's own history. */
const ENDPOINT_EVENTS = '(share endpoint)';

export interface SharesDependencies {
  store: Store;
  sessions: Sessions;
  workspaces: Workspaces;
  terminals: Terminals;
  /** The files of a workspace (see files/workspaceFileSystem.ts). */
  fileOps(workspaceId: string): FileOps;
  config: ConfigStore;
  /** The host's name as guests see it (share.displayName, else the user name). */
  displayName(): string;
  changes: Changes;
  clock: Clock;
  log: Logger;
  randomHex?: RandomHex;
}

interface PendingJoin {
  id: string;
  name: string;
  address: string;
  role: ShareRole;
  askedAt: number;
  socket: WebSocket;
  timer: { cancel(): void };
  /** Takes off the listeners it put on the socket while waiting (only its own: ws has some too). */
  stopListening(): void;
}

/** One shared session. */
class Share {
  secretHash: string;
  secret: string;
  readonly guests = new Map<string, Guest>();
  readonly pending = new Map<string, PendingJoin>();
  /** The session's use is held while any guest is connected, so it is never frozen under them. */
  releaseUse: (() => void) | undefined;
  /** Joins per address in the current minute (see JOINS_PER_ADDRESS_PER_MINUTE). */
  readonly joinsFrom = new Map<string, { count: number; since: number }>();

  constructor(
    readonly sessionId: string,
    readonly workspaceId: string,
    readonly startedAt: number,
    secret: string,
    public defaultRole: ShareRole,
    public approval: ShareApproval,
  ) {
    this.secret = secret;
    this.secretHash = hash(secret);
  }

  get connectedGuests(): Guest[] {
    return [...this.guests.values()].filter((guest) => guest.link?.isOpen);
  }
}

/**
 * The shares this sidecar hosts: at most one per session, each with its secret (the link),
 * its guests and their roles, and the join requests waiting for the host. The share lives
 * here, not in a window, so it survives windows closing and reloading; it ends with Stop
 * Sharing, the session's end, or the sidecar's. Every join, leave, role change, removal and
 * refused attempt is written to the workspace's history.
 */
export class Shares {
  private readonly bySession = new Map<string, Share>();
  private readonly bySecretHash = new Map<string, Share>();
  private readonly byGuestTokenHash = new Map<string, { share: Share; guest: Guest }>();
  private readonly refusals: Refusals;
  private readonly endpoint: ShareEndpoint;
  private refusalEventTimer: { cancel(): void } | undefined;
  private readonly participantBroadcasts = new Set<Share>();

  constructor(private readonly deps: SharesDependencies) {
    this.refusals = new Refusals(deps.clock);
    this.endpoint = new ShareEndpoint({
      clock: deps.clock,
      log: deps.log,
      refusals: this.refusals,
      authenticate: (authorization) => this.authenticate(authorization),
      accept: (auth, socket, name, address) => this.accept(auth, socket, name, address),
      onRefused: () => this.scheduleRefusalEvent(),
    });
    deps.changes.onSessionEnded((sessionId) => {
      if (this.bySession.has(sessionId)) this.end(sessionId, 'The session ended.', 'the session ended');
    });
    deps.changes.subscribe((areas) => {
      if (areas.includes('terminals')) this.tellTerminals();
    });
  }

  /** True while any share is up: the sidecar then stays up without clients. */
  get active(): boolean {
    return this.bySession.size > 0;
  }

  async start(params: { sessionId: string; defaultRole?: ShareRole; approval?: ShareApproval }): Promise<ShareInfo> {
    const { sessions, workspaces, config } = this.deps;
    const session = sessions.get(params.sessionId);
    const existing = this.bySession.get(session.id);
    if (existing) {
      const defaultRole = params.defaultRole ?? existing.defaultRole;
      const approval = params.approval ?? existing.approval;
      if (defaultRole !== existing.defaultRole || approval !== existing.approval) {
        existing.defaultRole = defaultRole;
        existing.approval = approval;
        this.record(existing.workspaceId, 'shared', `new guests of session ${existing.sessionId}: ${defaultRole}, ${approval === 'ask' ? 'the host lets each in' : 'anyone with the link'}`);
        await this.deps.store.commit();
        this.deps.changes.emit('shares');
      }
      return this.info(existing);
    }
    const workspace = workspaces.get(session.workspaceId);
    if (workspace.kind !== 'collaborative') {
      throw conflict(
        `Only sessions of collaborative workspaces can be shared; "${workspace.name}" is a ${workspace.kind} workspace. Make it collaborative first (sandkasten workspace set-kind ${workspace.id} collaborative).`,
      );
    }
    if (session.state !== 'running' && !session.frozenAt) throw conflict(`Session "${session.id}" is ${session.state}: only a running session can be shared. Start it first.`);
    const settings = config.current;
    // In the table before the endpoint opens: a share ending meanwhile cannot close it under this one.
    const share = new Share(session.id, workspace.id, this.deps.clock.now(), newSecret(), params.defaultRole ?? settings['share.defaultRole'], params.approval ?? settings['share.approval']);
    this.bySession.set(share.sessionId, share);
    this.bySecretHash.set(share.secretHash, share);
    let address: EndpointAddress;
    try {
      address = await this.endpoint.open(endpointSettings(config));
      // A frozen session (idle) is thawed: guests are about to use it. It may also have stopped meanwhile.
      await sessions.thawIfFrozen(session.id);
      sessions.running(session.id);
    } catch (error) {
      if (this.bySession.get(share.sessionId) === share) {
        this.bySession.delete(share.sessionId);
        this.bySecretHash.delete(share.secretHash);
      }
      this.closeEndpointWhenIdle();
      throw error;
    }
    // Stopped (Stop Sharing, the session's end) while the endpoint opened: nothing is shared.
    if (this.bySession.get(share.sessionId) !== share) throw conflict(`Sharing session "${share.sessionId}" was stopped while it started.`);
    this.record(share.workspaceId, 'shared', `session ${share.sessionId} shared on ${address.url} (new guests: ${share.defaultRole}, ${share.approval === 'ask' ? 'the host lets each in' : 'anyone with the link'})`);
    await this.deps.store.commit();
    this.deps.changes.emit('shares');
    return this.info(share);
  }

  async stop(sessionId: string): Promise<{ sessionId: string }> {
    this.require(sessionId);
    this.end(sessionId, 'The host stopped sharing.', 'the host stopped sharing');
    await this.deps.store.commit();
    return { sessionId };
  }

  list(): ShareInfo[] {
    return [...this.bySession.values()].map((share) => this.info(share));
  }

  /** Answered once its history event is on disk, as every change the host asks for. */
  async answer(requestId: string, allow: boolean, role?: ShareRole): Promise<ShareInfo> {
    for (const share of this.bySession.values()) {
      const pending = share.pending.get(requestId);
      if (!pending) continue;
      share.pending.delete(requestId);
      pending.timer.cancel();
      pending.stopListening();
      if (allow) {
        this.admit(share, pending.socket, pending.name, pending.address, role ?? pending.role);
      } else {
        this.refuse(pending.socket, 'The host declined your request to join.');
        this.record(share.workspaceId, 'refused', `the host declined "${pending.name}" (${pending.address})`);
      }
      await this.deps.store.commit();
      this.deps.changes.emit('shares');
      return this.info(share);
    }
    throw notFound(`No join request "${requestId}" is waiting: it was answered already, or the guest gave up.`);
  }

  async setRole(sessionId: string, guestId: string, role: ShareRole): Promise<ShareInfo> {
    const share = this.require(sessionId);
    const guest = this.requireGuest(share, guestId);
    if (guest.role !== role) {
      const before = guest.role;
      guest.role = role;
      guest.link?.post({ t: 'role', role });
      this.record(share.workspaceId, 'role-changed', `"${guest.name}" (${guest.id}) is now ${role} (was ${before})`);
      this.tellParticipants(share);
      await this.deps.store.commit();
    }
    return this.info(share);
  }

  async remove(sessionId: string, guestId: string): Promise<ShareInfo> {
    const share = this.require(sessionId);
    const guest = this.requireGuest(share, guestId);
    this.forgetGuest(share, guest);
    guest.link?.post({ t: 'ended', reason: 'The host removed you from the session.' });
    guest.link?.close(CLOSE.refused, 'removed by the host');
    this.record(share.workspaceId, 'removed', `the host removed "${guest.name}" (${guest.id})`);
    this.tellParticipants(share);
    await this.deps.store.commit();
    return this.info(share);
  }

  /** A new secret: the old link is refused from now on; guests already in stay. */
  async revokeLink(sessionId: string): Promise<ShareInfo> {
    const share = this.require(sessionId);
    this.bySecretHash.delete(share.secretHash);
    share.secret = newSecret();
    share.secretHash = hash(share.secret);
    this.bySecretHash.set(share.secretHash, share);
    this.record(share.workspaceId, 'shared', `the link of session ${sessionId} was replaced; the old one is refused`);
    await this.deps.store.commit();
    this.deps.changes.emit('shares');
    return this.info(share);
  }

  /** The sidecar stops: every share ends (guests are told), the endpoint closes. */
  async closeAll(): Promise<void> {
    for (const sessionId of [...this.bySession.keys()]) this.end(sessionId, 'The host\'s Sandkasten stopped.', 'the sidecar stopped');
    this.refusalEventTimer?.cancel();
    this.writeRefusalEvent();
    await this.endpoint.close();
  }

  // ----- the endpoint's side -----

  private authenticate(authorization: string | undefined): ShareAuthentication | undefined {
    const match = /^(Bearer|Guest) ([A-Za-z0-9_-]{1,128})$/.exec(authorization ?? '');
    if (!match) return undefined;
    const digest = hash(match[2]);
    if (match[1] === 'Bearer') {
      const share = this.bySecretHash.get(digest);
      if (!share) return undefined;
      if (share.pending.size >= MAX_PENDING || share.guests.size >= MAX_GUESTS) return { full: true };
      return { kind: 'join', sessionId: share.sessionId };
    }
    const known = this.byGuestTokenHash.get(digest);
    return known ? { kind: 'resume', sessionId: known.share.sessionId, guestId: known.guest.id } : undefined;
  }

  private accept(auth: Exclude<ShareAuthentication, { full: true }>, socket: WebSocket, rawName: string, address: string): void {
    const share = this.bySession.get(auth.sessionId);
    if (!share) return this.refuse(socket, 'This link is not valid: sharing has stopped.');
    const name = cleanName(rawName);
    if (auth.kind === 'resume') {
      const guest = share.guests.get(auth.guestId);
      if (!guest) return this.refuse(socket, 'This link is not valid: sharing has stopped.');
      this.connect(share, guest, socket, address);
      return;
    }
    if (!this.mayJoin(share, address)) return this.refuse(socket, 'Too many joins from your address in a minute; wait a minute and try again.');
    if (share.approval === 'anyone') {
      this.admit(share, socket, name, address, share.defaultRole);
      this.deps.changes.emit('shares');
      return;
    }
    const id = `jr-${(this.deps.randomHex ?? cryptoRandomHex)(8)}`;
    const timer = this.deps.clock.setTimeout(() => {
      if (!share.pending.delete(id)) return;
      this.refuse(socket, 'The host did not answer in time. Ask them to look for your request, then join again.');
      this.record(share.workspaceId, 'refused', `"${name}" (${address}) was not answered within ${ANSWER_WITHIN_MS / 60_000} minutes`);
      this.deps.changes.emit('shares');
    }, ANSWER_WITHIN_MS);
    // Until the host answers, the socket may only close; a message is a protocol breach.
    const giveUp = () => {
      if (!share.pending.delete(id)) return;
      timer.cancel();
      this.deps.changes.emit('shares');
    };
    const breach = () => {
      socket.terminate();
      giveUp();
    };
    const onError = () => socket.terminate();
    const stopListening = () => {
      socket.off('close', giveUp);
      socket.off('message', breach);
      socket.off('error', onError);
    };
    share.pending.set(id, { id, name, address, role: share.defaultRole, askedAt: this.deps.clock.now(), socket, timer, stopListening });
    socket.once('close', giveUp);
    socket.once('message', breach);
    socket.on('error', onError);
    post(socket, { t: 'waiting' });
    this.deps.changes.emit('shares');
  }

  /** Counts a join from `address` (ip:port); false once the address had its share of the minute. */
  private mayJoin(share: Share, address: string): boolean {
    const ip = address.slice(0, address.lastIndexOf(':'));
    const now = this.deps.clock.now();
    let entry = share.joinsFrom.get(ip);
    if (!entry || now - entry.since >= 60_000) {
      if (share.joinsFrom.size >= 1000) share.joinsFrom.clear(); // many addresses: start the minute over
      entry = { count: 0, since: now };
      share.joinsFrom.set(ip, entry);
    }
    return ++entry.count <= JOINS_PER_ADDRESS_PER_MINUTE;
  }

  private admit(share: Share, socket: WebSocket, name: string, address: string, role: ShareRole): void {
    if (socket.readyState !== socket.OPEN) return; // the guest gave up meanwhile
    const token = newSecret();
    const guest: Guest = { id: `g-${(this.deps.randomHex ?? cryptoRandomHex)(6)}`, name, role, since: this.deps.clock.now(), address, tokenHash: hash(token), link: undefined, goneTimer: undefined };
    share.guests.set(guest.id, guest);
    this.byGuestTokenHash.set(guest.tokenHash, { share, guest });
    this.record(share.workspaceId, 'joined', `"${name}" (${guest.id}, ${address}) joined session ${share.sessionId} as ${role}`);
    this.connect(share, guest, socket, address, token);
  }

  /** Gives the guest its (new) connection; `token` is sent only on the first, the guest keeps it for reconnecting. */
  private connect(share: Share, guest: Guest, socket: WebSocket, address: string, token?: string): void {
    guest.goneTimer?.cancel();
    guest.goneTimer = undefined;
    guest.address = address;
    const previous = guest.link;
    const link = new GuestLink(socket, guest, this.sharedSession(share), (closed) => this.onLinkClosed(share, guest, closed));
    guest.link = link;
    previous?.close(CLOSE.replaced, 'replaced by a newer connection');
    const session = this.deps.sessions.get(share.sessionId);
    share.releaseUse ??= this.deps.sessions.beginUse(share.sessionId, share.workspaceId);
    link.post({
      t: 'welcome',
      guestId: guest.id,
      guestToken: token ?? '',
      role: guest.role,
      hostName: cleanName(this.deps.displayName()),
      session: { id: session.id, workspaceName: session.workspaceName, image: session.image },
      terminals: this.sharedTerminals(share),
      participants: participantsOf(share),
    });
    this.tellParticipants(share);
  }

  private onLinkClosed(share: Share, guest: Guest, link: GuestLink): void {
    if (guest.link !== link) return; // replaced by a newer connection
    guest.link = undefined;
    this.releaseUseWhenAlone(share);
    if (!share.guests.has(guest.id) || this.bySession.get(share.sessionId) !== share) return;
    guest.goneTimer = this.deps.clock.setTimeout(() => {
      if (guest.link || !share.guests.has(guest.id)) return;
      this.forgetGuest(share, guest);
      this.record(share.workspaceId, 'left', `"${guest.name}" (${guest.id}) left: the connection dropped and did not come back`);
      this.tellParticipants(share);
    }, COME_BACK_WITHIN_MS);
    this.tellParticipants(share);
  }

  private onLeave(share: Share, guest: Guest): void {
    if (!share.guests.has(guest.id)) return;
    this.forgetGuest(share, guest);
    guest.link?.close(CLOSE.ended, 'left');
    this.record(share.workspaceId, 'left', `"${guest.name}" (${guest.id}) left`);
    this.tellParticipants(share);
  }

  private forgetGuest(share: Share, guest: Guest): void {
    guest.goneTimer?.cancel();
    share.guests.delete(guest.id);
    this.byGuestTokenHash.delete(guest.tokenHash);
  }

  private releaseUseWhenAlone(share: Share): void {
    if (share.connectedGuests.length > 0 || !share.releaseUse) return;
    share.releaseUse();
    share.releaseUse = undefined;
  }

  private sharedSession(share: Share): SharedSession {
    return {
      sessionId: share.sessionId,
      terminals: this.deps.terminals,
      sharedTerminals: () => this.sharedTerminals(share),
      files: () => this.deps.fileOps(share.workspaceId),
      clock: this.deps.clock,
      log: this.deps.log,
      onLeave: (guest) => this.onLeave(share, guest),
    };
  }

  private sharedTerminals(share: Share): TerminalInfo[] {
    try {
      return this.deps.terminals.list(share.sessionId).filter((terminal) => !terminal.private);
    } catch {
      return []; // the session is going away
    }
  }

  // ----- ending and telling -----

  private end(sessionId: string, toGuests: string, why: string): void {
    const share = this.bySession.get(sessionId);
    if (!share) return;
    this.bySession.delete(sessionId);
    this.bySecretHash.delete(share.secretHash);
    for (const pending of share.pending.values()) {
      pending.timer.cancel();
      this.refuse(pending.socket, `${toGuests} Your request was not answered.`);
    }
    share.pending.clear();
    for (const guest of share.guests.values()) {
      this.forgetGuest(share, guest);
      guest.link?.post({ t: 'ended', reason: toGuests });
      guest.link?.close(CLOSE.ended, 'sharing ended');
    }
    share.releaseUse?.();
    share.releaseUse = undefined;
    this.record(share.workspaceId, 'unshared', `session ${sessionId} is no longer shared: ${why}`);
    this.deps.changes.emit('shares');
    this.closeEndpointWhenIdle();
  }

  /** Participants changed: the host's clients re-read the shares, guests get the new list (once per tick). */
  private tellParticipants(share: Share): void {
    this.deps.changes.emit('shares');
    if (this.participantBroadcasts.has(share)) return;
    this.participantBroadcasts.add(share);
    queueMicrotask(() => {
      this.participantBroadcasts.delete(share);
      const participants = participantsOf(share);
      for (const guest of share.guests.values()) guest.link?.post({ t: 'participants', participants });
    });
  }

  private terminalsTold = false;
  private tellTerminals(): void {
    if (this.terminalsTold) return;
    this.terminalsTold = true;
    queueMicrotask(() => {
      this.terminalsTold = false;
      for (const share of this.bySession.values()) {
        if (share.guests.size === 0) continue;
        const terminals = this.sharedTerminals(share);
        for (const guest of share.guests.values()) guest.link?.post({ t: 'terminals', terminals });
      }
    });
  }

  private record(workspaceId: string, kind: WorkspaceEventKind, reason: string): void {
    this.deps.store.events.append(workspaceId, kind, reason, this.deps.clock.now());
    this.deps.store.commitSoon();
  }

  /** Refused secrets are counted and written once a minute, so a flood cannot flood the database. */
  private scheduleRefusalEvent(): void {
    this.refusalEventTimer ??= this.deps.clock.setTimeout(() => {
      this.refusalEventTimer = undefined;
      this.writeRefusalEvent();
    }, REFUSAL_EVENT_INTERVAL_MS);
  }

  private writeRefusalEvent(): void {
    const count = this.refusals.takeUnrecorded();
    if (count > 0) this.record(ENDPOINT_EVENTS, 'refused', `${count} join attempt${count === 1 ? '' : 's'} with a link that is not valid`);
  }

  /** Tells a connection why it is turned away and closes it (cut off if it does not answer the close). */
  private refuse(socket: WebSocket, reason: string): void {
    post(socket, { t: 'ended', reason });
    socket.close(CLOSE.refused, 'refused');
    const cut = this.deps.clock.setTimeout(() => socket.terminate(), 2000);
    socket.once('close', () => cut.cancel());
  }

  /** Closes the endpoint once nothing is shared (and not under a share that started meanwhile). */
  private closeEndpointWhenIdle(): void {
    if (this.bySession.size === 0) void this.endpoint.close(() => this.bySession.size === 0);
  }

  // ----- answers -----

  private info(share: Share): ShareInfo {
    const session = this.deps.sessions.get(share.sessionId);
    const address = this.endpoint.address as EndpointAddress;
    const code = formatCode({ url: address.url, secret: share.secret, fingerprint: address.fingerprint });
    return {
      sessionId: share.sessionId,
      workspaceId: share.workspaceId,
      workspaceName: session.workspaceName,
      startedAt: isoTime(share.startedAt)!,
      code,
      link: formatLink(code),
      endpoint: address.url,
      defaultRole: share.defaultRole,
      approval: share.approval,
      participants: [...share.guests.values()].map((guest): ParticipantInfo => ({
        id: guest.id,
        name: guest.name,
        role: guest.role,
        since: isoTime(guest.since)!,
        connected: guest.link?.isOpen === true,
        address: guest.address,
      })),
      pending: [...share.pending.values()].map((pending): JoinRequestInfo => ({
        id: pending.id,
        sessionId: share.sessionId,
        name: pending.name,
        address: pending.address,
        role: pending.role,
        askedAt: isoTime(pending.askedAt)!,
      })),
      ...(address.warning ? { warning: address.warning } : {}),
    };
  }

  private require(sessionId: string): Share {
    const share = this.bySession.get(sessionId);
    if (!share) throw notFound(`Session "${sessionId}" is not shared.`);
    return share;
  }

  private requireGuest(share: Share, guestId: string): Guest {
    const guest = share.guests.get(guestId);
    if (!guest) throw notFound(`No guest "${guestId}" in the share of session "${share.sessionId}". They may have left.`);
    return guest;
  }
}

function participantsOf(share: Share): ParticipantSummary[] {
  return [...share.guests.values()].map((guest) => ({ id: guest.id, name: guest.name, role: guest.role, connected: guest.link?.isOpen === true }));
}

export function defaultDisplayName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'host';
  }
}

function endpointSettings(config: ConfigStore) {
  const settings = config.current;
  return {
    bindAddress: settings['share.bindAddress'],
    port: settings['share.port'],
    publicAddress: settings['share.publicAddress'],
    tlsCertFile: settings['share.tlsCertFile'],
    tlsKeyFile: settings['share.tlsKeyFile'],
  };
}

/** 32 random bytes, base64url: 256 bits. */
function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

function hash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function post(socket: WebSocket, message: HostMessage): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message), () => undefined);
}


