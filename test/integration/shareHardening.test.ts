/**
 * Regression tests of the share's hardening after a hostile review: each case is one problem
 * the review demonstrated (its throwaway scripts showed each), run against the real build —
 * real host and guest sidecars, raw guests that speak the wire protocol themselves, and fake
 * hosts that are not a Sandkasten. Resource bounds are read from /proc (resident memory, open
 * files) of the sidecar's process.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { exec, P, runCli, sleep, useSidecars, waitFor, type SidecarClient } from './harness';
import {
  codeParts,
  FakeHost,
  IdleConnections,
  joinedShare,
  joinedShareState,
  openFileCount,
  participant,
  pendingRequest,
  randomSecret,
  RawGuest,
  RssSampler,
  shareOf,
  TerminalWatcher,
  textFrame,
} from './shareSupport';

const MiB = 1024 * 1024;
const REFUSED = 4003;

/** Any control or format character (escape sequences, BEL, direction overrides, zero-width marks). */
const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
/** The same, but a line break or tab of the CLI's own layout is fine. */
const CONTROL_BUT_LAYOUT = /[\0-\x08\x0b-\x1f\x7f-\x9f\p{Cf}\p{Zl}\p{Zp}]/u;

/** Does the file exist in the session's /workspace? */
async function fileExists(client: SidecarClient, sessionId: string, file: string): Promise<boolean> {
  const result = await exec(client, sessionId, ['sh', '-c', `test -e '/workspace/${file}' && echo yes || echo no`]);
  return result.stdout.trim() === 'yes';
}

/** The host's history of a workspace, newest first. */
function history(client: SidecarClient, workspaceId: string): Promise<P.WorkspaceEvent[]> {
  return client.request(P.WorkspaceHistoryRequest.type, { id: workspaceId, limit: 1000 });
}

describe('share hardening: the host against its guests', () => {
  const [host] = useSidecars(1);
  let session: P.SessionInfo;
  let share: P.ShareInfo;
  let port: number;
  let terminalId: string;
  let hostTerminals: TerminalWatcher;
  /** A second shared session: its share keeps the endpoint up while another one stops. */
  let other: P.SessionInfo;
  let otherTerminalId: string;

  /** Raw guests of a test, closed after it whatever happened. */
  const opened = new Set<RawGuest>();
  afterEach(() => {
    for (const raw of opened) raw.close();
    opened.clear();
  });
  function tracked<T>(raw: T): T {
    if (raw instanceof RawGuest) opened.add(raw);
    return raw;
  }

  /** A raw guest from 127.0.0.1, let in by the host with `role`. */
  async function admit(name: string, role: P.ShareRole): Promise<RawGuest> {
    const raw = tracked(await RawGuest.join(port, codeParts(share.code).secret, name));
    const pending = await pendingRequest(host.client, session.id, name);
    await host.client.request(P.AnswerJoinRequest.type, { requestId: pending.id, allow: true, role });
    await raw.next((message) => message.t === 'welcome');
    return raw;
  }

  async function leave(raw: RawGuest): Promise<void> {
    raw.send({ t: 'leave' });
    await Promise.race([raw.closed, sleep(5000)]);
    raw.close();
  }

  before(async () => {
    session = await host.newSession('hardened', { kind: 'collaborative' });
    other = await host.newSession('second', { kind: 'collaborative' });
    hostTerminals = new TerminalWatcher(host.client);
    terminalId = (await hostTerminals.openReady({ sessionId: session.id })).terminal.id;
    otherTerminalId = (await hostTerminals.openReady({ sessionId: other.id })).terminal.id;
    share = await host.client.request(P.StartShareRequest.type, { sessionId: session.id, approval: 'ask', defaultRole: 'viewer' });
    port = codeParts(share.code).port;
  });

  it('ignores what a removed editor sends while its connection closes (it never reads the close)', async () => {
    const raw = await admit('eve', 'editor');
    assert.equal((await raw.request({ op: 'openTerminal', terminalId, cols: 80, rows: 24 })).error, undefined);
    // Before: the editor's keys and writes do arrive (so what follows is not a dead channel).
    raw.send({ t: 'input', terminalId, data: 'echo before-$((2+3))\r' });
    await hostTerminals.waitForOutput(terminalId, /before-5\n/);
    const wrote = await raw.request({ op: 'file', call: 'writeFile', path: '/before-write.txt', content: Buffer.from('ok').toString('base64') });
    assert.equal(wrote.error, undefined, JSON.stringify(wrote));
    assert.equal(await fileExists(host.client, session.id, 'before-write.txt'), true);

    // It stops reading: it never sees the host's close frame, so for it the socket stays open.
    raw.socket.pause();
    const guestId = (await participant(host.client, session.id, 'eve'))!.id;
    await host.client.request(P.RemoveGuestRequest.type, { sessionId: session.id, guestId });
    const from = hostTerminals.text(terminalId).length;
    assert.equal(raw.isOpen, true, 'the guest still thinks it is connected');
    raw.send({ t: 'input', terminalId, data: 'echo removed-$((6*7)) > /workspace/removed.txt\r' });
    raw.send({ t: 'req', id: 900, op: 'file', call: 'writeFile', path: '/removed-write.txt', content: Buffer.from('hi').toString('base64') });
    raw.send({ t: 'req', id: 901, op: 'file', call: 'createDirectory', path: '/removed-dir' });

    // The host's own command runs after whatever got through; then nothing of the guest's shows.
    await sleep(500);
    await hostTerminals.run(terminalId, 'echo after-$((1+1))', /after-2\n/);
    assert.doesNotMatch(hostTerminals.text(terminalId).slice(from), /removed/, 'nothing the removed guest typed reached the shell');
    for (const file of ['removed.txt', 'removed-write.txt', 'removed-dir']) assert.equal(await fileExists(host.client, session.id, file), false, `${file} was not made`);
    assert.equal(await participant(host.client, session.id, 'eve'), undefined, 'the guest is gone from the share');
    raw.close();
    await exec(host.client, session.id, ['rm', '-f', '/workspace/before-write.txt']);
  });

  it('ignores what every guest sends after Stop Sharing while its connection closes', async () => {
    const otherShare = await host.client.request(P.StartShareRequest.type, { sessionId: other.id, approval: 'anyone', defaultRole: 'editor' });
    const secret = codeParts(otherShare.code).secret;
    const guests = [tracked(await RawGuest.join(port, secret, 'late-1')), tracked(await RawGuest.join(port, secret, 'late-2'))];
    for (const [index, raw] of guests.entries()) {
      assert.equal(raw.welcome()?.role, 'editor');
      assert.equal((await raw.request({ op: 'openTerminal', terminalId: otherTerminalId, cols: 80, rows: 24 })).error, undefined);
      raw.send({ t: 'input', terminalId: otherTerminalId, data: `echo live-${index}-$((2+3))\r` });
      await hostTerminals.waitForOutput(otherTerminalId, new RegExp(`live-${index}-5\\n`));
      raw.socket.pause();
    }
    const from = hostTerminals.text(otherTerminalId).length;
    await host.client.request(P.StopShareRequest.type, { sessionId: other.id });
    // The endpoint stays up (the first session is still shared): the closes take their time.
    assert.equal((await host.client.request(P.ListSharesRequest.type, {})).length, 1);
    for (const [index, raw] of guests.entries()) {
      assert.equal(raw.isOpen, true);
      raw.send({ t: 'input', terminalId: otherTerminalId, data: `echo stopped-${index} > /workspace/stopped-${index}.txt\r` });
      raw.send({ t: 'req', id: 900 + index, op: 'file', call: 'writeFile', path: `/stopped-write-${index}.txt`, content: Buffer.from('hi').toString('base64') });
    }
    await sleep(500);
    await hostTerminals.run(otherTerminalId, 'echo after-$((1+1))', /after-2\n/);
    assert.doesNotMatch(hostTerminals.text(otherTerminalId).slice(from), /stopped-/, 'nothing typed after Stop Sharing reached the shell');
    for (const index of [0, 1]) {
      assert.equal(await fileExists(host.client, other.id, `stopped-${index}.txt`), false);
      assert.equal(await fileExists(host.client, other.id, `stopped-write-${index}.txt`), false);
    }
    for (const raw of guests) raw.close();
  });

  it('answers viewers asking for a 63 MiB file with an error naming 16 MiB, without reading it whole', async (t) => {
    // Just under what one read of the sidecar carries at all (64 MiB): the most a share could read before its own cap.
    await exec(host.client, session.id, ['sh', '-c', `head -c ${63 * MiB} /dev/zero > /workspace/big.bin`]);
    // Eight viewers asking for it twice each: sixteen reads at once, each stopped at 16 MiB.
    const readers: RawGuest[] = [];
    try {
      for (let index = 0; index < 8; index++) readers.push(await admit(`reader-${index}`, 'viewer'));
      const memory = new RssSampler(host.pid);
      const answers = await Promise.all(readers.flatMap((raw) => [0, 1].map(() => raw.request({ op: 'file', call: 'readFile', path: '/big.bin' }, 120_000))));
      const grewMiB = memory.stop();
      t.diagnostic(`host RSS grew by ${grewMiB.toFixed(0)} MiB during 16 concurrent reads of a 63 MiB file`);
      for (const answer of answers) {
        assert.equal(answer.result, undefined, 'no content came back');
        assert.match(answer.error?.message ?? '', /16 MiB/, JSON.stringify(answer.error));
      }
      // Reading each whole first would take 16 × 63 MiB (1 GiB) before the size is even looked at; stopping at 16 MiB, at most 256 MiB.
      assert.ok(grewMiB < 300, `the host's memory grew by ${grewMiB.toFixed(0)} MiB during 16 reads of a 63 MiB file`);
      // A small file still comes whole.
      await exec(host.client, session.id, ['sh', '-c', 'printf small > /workspace/small.txt']);
      const small = await readers[0].request({ op: 'file', call: 'readFile', path: '/small.txt' });
      assert.equal(Buffer.from(String((small.result as { content: string }).content), 'base64').toString(), 'small');
    } finally {
      for (const raw of readers) await leave(raw);
    }

    // One guest asking for it 16 times at once: two travel, the others are turned away at once.
    const greedy = await admit('greedy', 'viewer');
    try {
      const burst = await Promise.all(Array.from({ length: 16 }, () => greedy.request({ op: 'file', call: 'readFile', path: '/big.bin' }, 120_000)));
      assert.ok(burst.every((answer) => answer.error && answer.result === undefined), 'no content came back');
      const messages = JSON.stringify(burst.map((answer) => answer.error?.message));
      assert.equal(burst.filter((answer) => /larger than 16 MiB/.test(answer.error!.message)).length, 2, messages);
      assert.equal(burst.filter((answer) => answer.error!.code === 'Conflict' && /At most 2 files/.test(answer.error!.message)).length, 14, messages);
    } finally {
      await leave(greedy);
    }
    await exec(host.client, session.id, ['rm', '-f', '/workspace/big.bin', '/workspace/small.txt']);
  });

  it('lets a guest watch again with the same watch id at the 64-watch limit', async () => {
    const watcher = await admit('watcher', 'viewer');
    for (let watchId = 1; watchId <= 64; watchId++) {
      const answer = await watcher.request({ op: 'watch', watchId, path: '/', recursive: false });
      assert.equal(answer.error, undefined, `watch ${watchId}: ${JSON.stringify(answer.error)}`);
    }
    const sixtyFifth = await watcher.request({ op: 'watch', watchId: 65, path: '/', recursive: false });
    assert.equal(sixtyFifth.error?.code, 'Forbidden', JSON.stringify(sixtyFifth));
    assert.match(sixtyFifth.error!.message, /at most 64/);
    // The same ids again (a reconnect re-sends its watches): each replaces itself.
    for (const watchId of [64, 1, 64]) {
      const again = await watcher.request({ op: 'watch', watchId, path: '/', recursive: watchId === 1 });
      assert.equal(again.error, undefined, `re-watch ${watchId}: ${JSON.stringify(again.error)}`);
    }
    // Still 64 held: a new id is refused until one is given up.
    assert.equal((await watcher.request({ op: 'watch', watchId: 66, path: '/', recursive: false })).error?.code, 'Forbidden');
    watcher.send({ t: 'unwatch', watchId: 2 });
    assert.equal((await watcher.request({ op: 'watch', watchId: 66, path: '/', recursive: false })).error, undefined);
    // The re-watched one reports changes (it is a live watch, not a dead entry).
    const from = watcher.messages.length;
    await exec(host.client, session.id, ['sh', '-c', 'mkdir -p /workspace/sub && touch /workspace/sub/seen.txt']);
    const files = await watcher.next((message) => message.t === 'files' && message.watchId === 1 && JSON.stringify(message.changes).includes('seen.txt'), 30_000, from);
    assert.ok(files);
    await leave(watcher);
    await exec(host.client, session.id, ['rm', '-rf', '/workspace/sub']);
  });

  it('holds at most 128 idle connections and cuts them within seconds, so a guest is kept out only briefly', async (t) => {
    const idle = new IdleConnections(port, 200, { localAddress: (index) => `127.0.2.${(index % 200) + 1}` });
    try {
      await idle.connected;
      // Loopback is exempt from the per-address cap (tunnels): the overall cap holds (idle ones are cut only after 5 s).
      await sleep(1000);
      assert.equal(idle.open, 128, 'at most 128 unfinished connections are held, the others are turned away at once');
      const during = tracked(await RawGuest.connect(port, { authorization: `Bearer ${codeParts(share.code).secret}`, name: 'patient' }));
      assert.ok(!(during instanceof RawGuest), 'while every slot is held a new connection is turned away');
      const started = Date.now();
      await waitFor('every idle connection to be cut', () => (idle.open === 0 ? true : undefined), 20_000);
      const cutAfterMs = Date.now() - started;
      t.diagnostic(`the idle connections were cut ${cutAfterMs} ms after the check (~1 s after they connected)`);
      const patient = tracked(await RawGuest.join(port, codeParts(share.code).secret, 'patient'));
      assert.equal(patient.messages[0]?.t, 'waiting', 'the guest gets in once the idle ones are cut');
      patient.close();
      assert.ok(cutAfterMs < 15_000, `the idle connections were cut ${cutAfterMs} ms later`);
    } finally {
      idle.destroy();
    }
    await waitFor('the request to be withdrawn', async () => ((await shareOf(host.client, session.id)).pending.length === 0 ? true : undefined));
  });

  describe('join churn from one address (approval: anyone)', () => {
    let churnShare: P.ShareInfo;
    const CHURN_FROM = '127.0.0.77';

    it('refuses the 129th join within a minute ("Too many joins"); other addresses still join', async () => {
      churnShare = await host.client.request(P.StartShareRequest.type, { sessionId: other.id, approval: 'anyone', defaultRole: 'viewer' });
      const secret = codeParts(churnShare.code).secret;
      // A real event before the churn: a guest made editor.
      const keeper = tracked(await RawGuest.join(port, secret, 'keeper'));
      await host.client.request(P.SetGuestRoleRequest.type, { sessionId: other.id, guestId: (await participant(host.client, other.id, 'keeper'))!.id, role: 'editor' });
      await keeper.next((message) => message.t === 'role');

      let refusedAt = 0;
      let reason = '';
      for (let attempt = 1; attempt <= 140 && refusedAt === 0; attempt++) {
        const raw = tracked(await RawGuest.connect(port, { authorization: `Bearer ${secret}`, name: `churn-${attempt}`, localAddress: CHURN_FROM }));
        if (!(raw instanceof RawGuest)) assert.fail(`join ${attempt} got no socket (${JSON.stringify(raw)})`);
        const first = await raw.next((message) => message.t === 'welcome' || message.t === 'ended');
        if (first.t === 'ended') {
          refusedAt = attempt;
          reason = String(first.reason);
          assert.equal(await raw.closed, REFUSED);
          break;
        }
        raw.send({ t: 'leave' });
        await raw.closed;
      }
      assert.equal(refusedAt, 129, 'the 129th join of the minute is refused');
      assert.match(reason, /Too many joins/);
      // Further attempts within the minute are refused as well, and add nothing to the history.
      const newest = (await history(host.client, other.workspaceId))[0];
      for (let attempt = 0; attempt < 20; attempt++) {
        const raw = tracked(await RawGuest.connect(port, { authorization: `Bearer ${secret}`, name: `churn-more-${attempt}`, localAddress: CHURN_FROM }));
        if (!(raw instanceof RawGuest)) assert.fail(`a later join got no socket (${JSON.stringify(raw)})`);
        assert.equal((await raw.next((message) => message.t === 'welcome' || message.t === 'ended')).t, 'ended');
        await raw.closed;
      }
      assert.deepEqual((await history(host.client, other.workspaceId))[0], newest, 'refused joins write no event');
      assert.equal((await shareOf(host.client, other.id)).participants.some((guest) => guest.name.startsWith('churn-')), false, 'nobody of the churn stayed');
      // Someone else (another address) still gets in; the keeper was never disturbed.
      const newcomer = tracked(await RawGuest.join(port, secret, 'newcomer', { localAddress: '127.0.0.78' }));
      assert.equal(newcomer.welcome()?.role, 'viewer');
      await leave(newcomer);
      assert.equal(keeper.isOpen, true);
      await leave(keeper);
    });

    // One join and one leave are two events: 128 cycles a minute write 256, the history keeps 200.
    it('keeps the events from before the churn in the history', async () => {
      const events = await history(host.client, other.workspaceId);
      const churn = events.filter((event) => /churn-/.test(event.reason));
      assert.ok(churn.length > 0, 'the churn is in the history');
      assert.ok(
        events.some((event) => event.kind === 'role-changed' && /keeper/.test(event.reason)),
        `the role change made before the churn is still in the history (${events.length} events kept, ${churn.length} of them the churn's)`,
      );
    });

    after(async () => {
      await host.client.request(P.StopShareRequest.type, { sessionId: other.id }).catch(() => undefined);
    });
  });
});

/** A viewer may not bring a dormant terminal back (that starts a shell); the terminal turns dormant when the host's sidecar restarts. */
describe('share hardening: a dormant shared terminal', () => {
  const [host] = useSidecars(1);

  it('refuses a viewer that opens a dormant terminal (Forbidden) and lets an editor restore it', async () => {
    const session = await host.newSession('dormant', { kind: 'collaborative' });
    const terminalId = (await new TerminalWatcher(host.client).openReady({ sessionId: session.id })).terminal.id;
    await host.kill9();
    await host.reconnect();
    await waitFor('the session to be running again', async () =>
      (await host.client.request(P.ListSessionsRequest.type, {})).find((candidate) => candidate.id === session.id)?.state === 'running' ? true : undefined,
    );
    const stateOf = async () => (await host.client.request(P.ListTerminalsRequest.type, { sessionId: session.id })).find((terminal) => terminal.id === terminalId)?.state;
    assert.equal(await stateOf(), 'dormant');

    const share = await host.client.request(P.StartShareRequest.type, { sessionId: session.id, approval: 'anyone', defaultRole: 'viewer' });
    const { port, secret } = codeParts(share.code);
    const viewer = await RawGuest.join(port, secret, 'viewer');
    assert.deepEqual((viewer.welcome()!.terminals as P.TerminalInfo[]).map((terminal) => [terminal.id, terminal.state]), [[terminalId, 'dormant']]);
    const refused = await viewer.request({ op: 'openTerminal', terminalId, cols: 80, rows: 24 });
    assert.equal(refused.error?.code, 'Forbidden', JSON.stringify(refused));
    assert.match(refused.error!.message, /viewer/);
    assert.equal(await stateOf(), 'dormant', 'no shell was started for the viewer');

    const editor = await RawGuest.join(port, secret, 'editor');
    await host.client.request(P.SetGuestRoleRequest.type, { sessionId: session.id, guestId: (await participant(host.client, session.id, 'editor'))!.id, role: 'editor' });
    await editor.next((message) => message.t === 'role' && message.role === 'editor');
    const restored = await editor.request({ op: 'openTerminal', terminalId, cols: 80, rows: 24 });
    assert.equal(restored.error, undefined, JSON.stringify(restored));
    assert.equal((restored.result as P.OpenTerminalResult).outcome, 'restored');
    assert.equal(await stateOf(), 'live');
    // Now live, the viewer may watch it.
    const watched = await viewer.request({ op: 'openTerminal', terminalId, cols: 80, rows: 24 });
    assert.equal((watched.result as P.OpenTerminalResult | undefined)?.outcome, 'attached', JSON.stringify(watched));
    viewer.close();
    editor.close();
    await host.client.request(P.StopShareRequest.type, { sessionId: session.id });
  });
});

/** One idle-connection round against the TLS endpoint (connections that never start the TLS handshake). */
describe('share hardening: the TLS endpoint against connections that never finish', () => {
  const certificates = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-tls-'));
  let sessionId = '';
  after(async () => {
    await host.client.request(P.StopShareRequest.type, { sessionId }).catch(() => undefined);
    fs.rmSync(certificates, { recursive: true, force: true });
  });
  const [host] = useSidecars(1);
  let port = 0;
  let secret = '';

  /** An address of this machine beyond loopback (the endpoint listens on 0.0.0.0), if it has one. */
  function outsideAddress(): string | undefined {
    for (const addresses of Object.values(os.networkInterfaces())) {
      const found = addresses?.find((address) => address.family === 'IPv4' && !address.internal);
      if (found) return found.address;
    }
    return undefined;
  }

  before(async () => {
    const cert = path.join(certificates, 'host.pem');
    const key = path.join(certificates, 'host.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=host', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    await host.client.request(P.SetConfigRequest.type, {
      values: { 'share.bindAddress': '0.0.0.0', 'share.publicAddress': '127.0.0.1', 'share.tlsCertFile': cert, 'share.tlsKeyFile': key, 'share.approval': 'anyone' },
    });
    sessionId = (await host.newSession('tls', { kind: 'collaborative' })).id;
    const share = await host.client.request(P.StartShareRequest.type, { sessionId });
    ({ port, secret } = codeParts(share.code));
  });

  it('holds at most 128 connections that never start TLS, cuts them within seconds, and its open files return to normal', async (t) => {
    const filesBefore = openFileCount(host.pid);
    const idle = new IdleConnections(port, 200);
    try {
      await idle.connected;
      // A second to settle (the idle ones are cut only after 5 s): the most files the host holds meanwhile.
      let filesDuring = 0;
      for (let sample = 0; sample < 20; sample++) {
        filesDuring = Math.max(filesDuring, openFileCount(host.pid));
        await sleep(50);
      }
      t.diagnostic(`open files: ${filesBefore} before, at most ${filesDuring} with 200 idle connections (${idle.open} of them still open)`);
      assert.equal(idle.open, 128, 'at most 128 connections that have not finished TLS are held, the others are turned away at once');
      assert.ok(filesDuring <= filesBefore + 128 + 8, `the host held ${filesDuring - filesBefore} more open files with 200 idle connections`);
      const started = Date.now();
      await waitFor('every idle connection to be cut', () => (idle.open === 0 ? true : undefined), 20_000);
      const cutAfterMs = Date.now() - started;
      await waitFor('the host to close their files', () => (openFileCount(host.pid) <= filesBefore + 8 ? true : undefined), 10_000);
      const guest = await RawGuest.join(port, secret, 'after-idle', { tls: true });
      assert.ok(guest.welcome(), 'a guest joins over TLS once they are cut');
      await leave(guest);
      assert.ok(cutAfterMs < 15_000, `the idle connections were cut ${cutAfterMs} ms later`);
    } finally {
      idle.destroy();
    }
  });

  it('gives one address beyond loopback at most 32 unfinished connections; a guest from elsewhere gets in at once', async (t) => {
    const stranger = outsideAddress();
    if (!stranger) {
      t.skip('this machine has no address beyond loopback');
      return;
    }
    const idle = new IdleConnections(port, 40, { host: stranger, localAddress: () => stranger });
    try {
      await idle.connected;
      await sleep(1000); // the idle ones are cut only after 5 s
      assert.equal(idle.open, 32, `the stranger at ${stranger} holds 32 slots, the others are turned away at once`);
      const guest = await RawGuest.join(port, secret, 'elsewhere', { tls: true });
      assert.ok(guest.welcome(), 'a guest from loopback is not kept out by the stranger');
      await leave(guest);
    } finally {
      idle.destroy();
    }
  });

  async function leave(raw: RawGuest): Promise<void> {
    raw.send({ t: 'leave' });
    await Promise.race([raw.closed, sleep(5000)]);
    raw.close();
  }
});

// ----- the guest's side, against hosts that are not a Sandkasten -----

type Welcome = { t: 'welcome' } & Record<string, unknown>;

function welcome(fields: Record<string, unknown> = {}): Welcome {
  return {
    t: 'welcome',
    guestId: 'g-fake00000000',
    guestToken: randomSecret(),
    role: 'editor',
    hostName: 'fake-host',
    session: { id: 'ses-fake00000000', workspaceName: 'fake', image: 'busybox:latest' },
    terminals: [],
    participants: [],
    ...fields,
  };
}

const frame = (message: unknown) => textFrame(JSON.stringify(message));

function fakeCode(port: number): string {
  return `ws://127.0.0.1:${port}/share#${randomSecret()}`;
}

describe('share hardening: the guest against a hostile host', () => {
  const [guest] = useSidecars(1);

  it('holds back a host that sends faster than a window reads: the guest sidecar stays small', async (t) => {
    const terminal = { id: 'term-x', sessionId: 'ses-fake00000000', name: 't', state: 'live', cwd: '/workspace', createdAt: new Date().toISOString(), attached: 1 };
    const output = JSON.stringify({ t: 'output', terminalId: 'term-x', data: 'y'.repeat(MiB) });
    const total = 200;
    let sent = 0;
    let streaming: Promise<void> = Promise.resolve();
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * MiB });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    server.on('connection', (socket) => {
      socket.send(JSON.stringify(welcome({ terminals: [terminal] })));
      socket.on('message', (data) => {
        const message = JSON.parse(data.toString()) as { t: string; id: number; op: string };
        if (message.t !== 'req' || message.op !== 'openTerminal') return;
        socket.send(JSON.stringify({ t: 'res', id: message.id, result: { terminal, replay: '', outcome: 'attached' } }));
        streaming = stream(socket);
      });
    });
    /** 200 MiB of output, as fast as the guest takes it; stops once held back for 5 s (this process stays small too). */
    async function stream(socket: WebSocket): Promise<void> {
      let stalledSince = 0;
      while (sent < total && socket.readyState === WebSocket.OPEN) {
        if (socket.bufferedAmount > 16 * MiB) {
          stalledSince ||= Date.now();
          if (Date.now() - stalledSince > 5000) return;
          await sleep(20);
          continue;
        }
        stalledSince = 0;
        socket.send(output);
        sent++;
        if (sent % 8 === 0) await sleep(1);
      }
    }

    const windowClient = await guest.rawClient();
    try {
      const joined = await guest.client.request(P.JoinShareRequest.type, { code: fakeCode((server.address() as { port: number }).port), name: 'g' });
      const memory = new RssSampler(guest.pid);
      await windowClient.request(P.OpenTerminalRequest.type, { sessionId: joined.sessionId, terminalId: `shared.${joined.id}.term-x`, cols: 80, rows: 24 });
      windowClient.socket.pause(); // a window that is busy: it reads nothing more
      await waitFor('the fake host to have started streaming', () => (sent > 0 ? true : undefined));
      await streaming;
      const grewMiB = memory.stop();
      t.diagnostic(`guest RSS grew by ${grewMiB.toFixed(0)} MiB; the host got ${sent} of ${total} MiB out before it was held back`);
      assert.ok(grewMiB < 150, `the guest sidecar grew by ${grewMiB.toFixed(0)} MiB while the host sent ${sent} MiB to a window that reads nothing`);
      assert.ok(sent < total, `the host was held back (it sent ${sent} of ${total} MiB)`);
      assert.equal((await joinedShare(guest.client, joined.id))?.state, 'connected', 'holding back is not a disconnect');
      await guest.client.request(P.LeaveShareRequest.type, { joinedShareId: joined.id });
    } finally {
      windowClient.close();
      for (const client of server.clients) client.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('leaves no connection to the host when it leaves while a reconnect waits for the welcome', async (t) => {
    const token = randomSecret();
    const closedAt = new Map<number, number>();
    const fake = new FakeHost((upgrade, index) => {
      upgrade.socket.once('close', () => closedAt.set(index, Date.now()));
      if (index === 0) {
        // Welcomed, then dropped: the guest reconnects with its token.
        setTimeout(() => upgrade.socket.destroy(), 500);
        return frame(welcome({ guestToken: token }));
      }
      // The resume: upgraded at once, welcomed 3 s later.
      setTimeout(() => {
        if (!upgrade.socket.destroyed) upgrade.socket.write(frame(welcome({ guestToken: '' })));
      }, 3000);
      return undefined;
    });
    const port = await fake.listen();
    try {
      const joined = await guest.client.request(P.JoinShareRequest.type, { code: fakeCode(port), name: 'g' });
      await joinedShareState(guest.client, joined.id, 'reconnecting');
      await waitFor('the resume to be upgraded', () => (fake.upgrades.length >= 2 ? true : undefined));
      assert.equal(fake.upgrades[1].authorization, `Guest ${token}`);
      await sleep(300); // its handshake is under way
      const leftAt = Date.now();
      await guest.client.request(P.LeaveShareRequest.type, { joinedShareId: joined.id });
      assert.deepEqual(await guest.client.request(P.ListJoinedSharesRequest.type, {}), []);
      await waitFor('the guest to close the resumed connection', () => (closedAt.has(1) ? true : undefined), 15_000);
      const closedAfterMs = closedAt.get(1)! - leftAt;
      t.diagnostic(`the resumed connection closed ${closedAfterMs} ms after leaving (the host welcomes it 3 s after its upgrade)`);
      await sleep(2000);
      assert.equal(fake.upgrades.length, 2, 'no further reconnect after leaving');
      assert.ok(fake.upgrades.every((upgrade) => upgrade.socket.destroyed), 'no connection to the host is left');
      assert.ok(closedAfterMs < 8000, `the resumed connection closed ${closedAfterMs} ms after leaving`);
    } finally {
      await fake.close();
    }
  });

  it('shows a hostile host\'s names and texts without control characters, in share/joined and in `sandkasten share joined`', async () => {
    const ESC = '\x1b]0;PWNED\x07\x1b[2J\x1b[31m\u202e\u200b\x9b1m\r\n';
    const hostile = (text: string) => `${text}${ESC}`;
    const terminalOf = (id: string, name: string) => ({ id, sessionId: 'ses-fake00000000', name: hostile(name), state: 'live', cwd: hostile('/workspace'), createdAt: new Date().toISOString(), attached: 1 });
    let socket: Socket | undefined;
    const fake = new FakeHost((upgrade, index) => {
      if (index > 0) return frame({ t: 'ended', reason: 'gone' });
      socket = upgrade.socket;
      return frame(
        welcome({
          hostName: hostile('host'),
          session: { id: 'ses-fake00000000', workspaceName: hostile('ws'), image: hostile('busybox') },
          terminals: [terminalOf('term-a', 'shell')],
          participants: [{ id: 'g-other0000', name: hostile('mallory'), role: 'editor', connected: true }],
        }),
      );
    });
    const port = await fake.listen();
    const shown = (info: P.JoinedShareInfo) => [
      info.hostName,
      info.workspaceName,
      info.image,
      info.endedReason ?? '',
      ...info.participants.map((one) => one.name),
      ...info.terminals.flatMap((terminal) => [terminal.name, terminal.cwd]),
    ];
    const clean = (info: P.JoinedShareInfo, when: string) => {
      for (const text of shown(info)) assert.doesNotMatch(text, CONTROL, `${when}: ${JSON.stringify(text)}`);
    };
    async function cliIsClean(when: string): Promise<string> {
      const table = await runCli(guest.home, ['share', 'joined']);
      assert.equal(table.code, 0, table.stderr);
      assert.doesNotMatch(table.stdout, CONTROL_BUT_LAYOUT, `${when}: ${JSON.stringify(table.stdout)}`);
      assert.doesNotMatch(table.stdout, /\x1b|PWNED\x07/);
      const json = await runCli(guest.home, ['share', 'joined', '--json']);
      assert.equal(json.code, 0, json.stderr);
      for (const info of JSON.parse(json.stdout) as P.JoinedShareInfo[]) clean(info, `${when} (--json)`);
      return table.stdout;
    }
    try {
      const joined = await guest.client.request(P.JoinShareRequest.type, { code: fakeCode(port), name: 'g' });
      clean(joined, 'share/join');
      assert.match(joined.hostName, /^host/);
      assert.match(joined.workspaceName, /^ws/);
      assert.equal(joined.terminals.length, 1);
      assert.equal(joined.participants.length, 1);
      assert.match(await cliIsClean('connected'), /host/);

      // Later messages: new participants and terminals, then the end with a hostile reason.
      socket!.write(frame({ t: 'participants', participants: [{ id: 'g-other0000', name: hostile('mallory2'), role: 'viewer', connected: true }] }));
      socket!.write(frame({ t: 'terminals', terminals: [terminalOf('term-a', 'shell'), terminalOf('term-b', 'second')] }));
      const updated = await waitFor('the new participants and terminals', async () => {
        const info = await joinedShare(guest.client, joined.id);
        return info && info.terminals.length === 2 && info.participants[0]?.name.startsWith('mallory2') ? info : undefined;
      });
      clean(updated, 'after participants and terminals');
      await cliIsClean('updated');

      socket!.write(frame({ t: 'ended', reason: hostile('bye') }));
      const ended = await joinedShareState(guest.client, joined.id, 'ended');
      assert.match(ended.endedReason ?? '', /^bye/);
      clean(ended, 'ended');
      assert.match(await cliIsClean('ended'), /ended: bye/);
      await guest.client.request(P.LeaveShareRequest.type, { joinedShareId: joined.id });
    } finally {
      await fake.close();
    }
  });

  it('drops a host after 20 messages that are not the protocol, and logs it once per connection', async () => {
    const logFile = path.join(guest.home, 'sidecar.log');
    const dropped = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter((line) => line.includes('not the protocol')).length : 0);
    const logBefore = dropped();
    const closedAt = new Map<number, number>();
    const fake = new FakeHost((upgrade, index) => {
      upgrade.socket.once('close', () => closedAt.set(index, Date.now()));
      if (index === 0) {
        // 19 bad messages, then a good one: still connected.
        return Buffer.concat([frame(welcome()), ...Array.from({ length: 19 }, () => textFrame('x')), frame({ t: 'participants', participants: [{ id: 'g-1', name: 'p19', role: 'viewer', connected: true }] })]);
      }
      if (index === 1) {
        // Its reconnect: a flood of 5000 bad messages.
        return Buffer.concat([frame(welcome({ guestToken: '' })), ...Array.from({ length: 5000 }, (_, n) => textFrame(n % 2 === 0 ? 'x' : '{"t":"output"}'))]);
      }
      return frame({ t: 'ended', reason: 'enough' });
    });
    const port = await fake.listen();
    try {
      const joined = await guest.client.request(P.JoinShareRequest.type, { code: fakeCode(port), name: 'g' });
      await waitFor('the good message after 19 bad ones', async () => ((await joinedShare(guest.client, joined.id))?.participants[0]?.name === 'p19' ? true : undefined));
      await sleep(500);
      assert.equal(closedAt.has(0), false, '19 bad messages are tolerated');
      assert.equal((await joinedShare(guest.client, joined.id))?.state, 'connected');

      fake.upgrades[0].socket.write(textFrame('the twentieth'));
      await waitFor('the guest to drop the host after the 20th bad message', () => (closedAt.has(0) ? true : undefined), 10_000);
      await waitFor('the flooding reconnect to be dropped too', () => (closedAt.has(1) ? true : undefined), 20_000);
      const ended = await joinedShareState(guest.client, joined.id, 'ended', 30_000);
      assert.equal(ended.endedReason, 'enough');
      await sleep(500); // the log is written as it goes
      const lines = dropped() - logBefore;
      assert.ok(lines >= 1, 'the dropped messages are in the log');
      assert.ok(lines <= 2, `${lines} log lines for 5020 bad messages on 2 connections`);
      await guest.client.request(P.LeaveShareRequest.type, { joinedShareId: joined.id });
    } finally {
      await fake.close();
    }
  });
});
