import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import { exec, expectError, P, sleep, useSidecars, waitFor } from './harness';
import {
  codeAtPort,
  codeParts,
  expectForbidden,
  FakeHost,
  randomSecret,
  textFrame,
  historyKinds,
  joinedShare,
  joinedShareState,
  joinThroughHost,
  listShares,
  participant,
  pendingRequest,
  RawGuest,
  shareOf,
  TcpProxy,
  TerminalWatcher,
} from './shareSupport';

/** Lines typed into terminals print a computed value, so an echo of the line itself never matches. */
const GUESTS_AT_ONCE = 30;

/** The promise, or a clear failure after `ms` (a request that would hang for minutes). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  promise.catch(() => undefined);
  return Promise.race([promise, sleep(ms).then(() => assert.fail(`${what} did not answer within ${ms / 1000} s`))]);
}

async function fileExists(client: Parameters<typeof exec>[0], sessionId: string, path: string): Promise<boolean> {
  return (await exec(client, sessionId, ['test', '-e', path])).exitCode === 0;
}

/**
 * Two (and a third) sidecars with their own storage directories against the real engine:
 * one hosts a collaborative workspace's session, the others join it from its code the way
 * VS Code does (share/join), through their own clients' terminal and file requests.
 */
describe('sharing a session with guests on other sidecars', () => {
  const [host, alice, bob] = useSidecars(3);
  let workspace: P.WorkspaceInfo;
  let session: P.SessionInfo;
  let share: P.ShareInfo;
  /** A terminal of the host that guests see. */
  let terminalId: string;
  let hostTerminals: TerminalWatcher;
  let aliceTerminals: TerminalWatcher;
  let bobTerminals: TerminalWatcher;
  /** Alice's joined share of the main session. */
  let aliceShare: P.JoinedShareInfo;
  const proxies: TcpProxy[] = [];
  const rawGuests: RawGuest[] = [];
  /** Leaves of joined shares a failed test left behind (run before the next test that counts guests). */
  const leaveLater: Array<() => Promise<unknown>> = [];
  async function leaveLeftovers(): Promise<void> {
    for (const leave of leaveLater.splice(0)) await leave().catch(() => undefined);
  }

  before(async () => {
    workspace = await host.createWorkspace('collab', { kind: 'collaborative' });
    session = await host.startSession(workspace.id);
    hostTerminals = new TerminalWatcher(host.client);
    aliceTerminals = new TerminalWatcher(alice.client);
    bobTerminals = new TerminalWatcher(bob.client);
    const opened = await hostTerminals.open({ sessionId: session.id });
    terminalId = opened.terminal.id;
    await hostTerminals.run(terminalId, 'echo ready-$((1+1))', /ready-2\n/);
  });

  after(async () => {
    for (const guest of rawGuests) guest.close();
    for (const proxy of proxies) await proxy.close();
  });

  it('refuses to share a session of a workspace that is not collaborative, and shares it once converted', async () => {
    const plain = await host.createWorkspace('plain', { kind: 'persistent' });
    try {
      const plainSession = await host.startSession(plain.id);
      const refused = await expectError(host.client.request(P.StartShareRequest.type, { sessionId: plainSession.id }), 'Conflict');
      assert.match(refused.message, /collaborative/);
      assert.deepEqual(await listShares(host.client), [], 'nothing was shared');
      await expectError(host.client.request(P.StartShareRequest.type, { sessionId: 'ses-000000000000' }), 'NotFound');

      await host.client.request(P.SetWorkspaceKindRequest.type, { id: plain.id, kind: 'collaborative' });
      const converted = await host.client.request(P.StartShareRequest.type, { sessionId: plainSession.id });
      assert.equal(converted.sessionId, plainSession.id);
      assert.match(converted.code, /^ws:\/\/127\.0\.0\.1:\d+\/share#[A-Za-z0-9_-]{43}$/);
      assert.equal(converted.link, `vscode://sandkasten.sandkasten/join?code=${encodeURIComponent(converted.code)}`);
      assert.equal(converted.warning, undefined, 'a loopback endpoint warns of nothing');
      const again = await host.client.request(P.StartShareRequest.type, { sessionId: plainSession.id });
      assert.equal(again.code, converted.code, 'sharing a shared session answers the share as it is');
      await host.client.request(P.StopShareRequest.type, { sessionId: plainSession.id });
      await expectError(host.client.request(P.StopShareRequest.type, { sessionId: plainSession.id }), 'NotFound');
      assert.deepEqual(await listShares(host.client), []);
      // Only a running session is shared.
      await host.client.request(P.StopSessionRequest.type, { id: plainSession.id });
      await expectError(host.client.request(P.StartShareRequest.type, { sessionId: plainSession.id }), 'Conflict');
      assert.deepEqual(await listShares(host.client), []);
    } finally {
      await host.removeWorkspace(plain.id);
    }
  });

  it('shares a session the lifecycle froze (it is running, only paused while idle)', async () => {
    const idle = await host.createWorkspace('idle', { kind: 'collaborative' });
    try {
      const idleSession = await host.startSession(idle.id);
      const frozen = await host.client.request(P.FreezeSessionRequest.type, { id: idleSession.id });
      assert.ok(frozen.frozenAt, 'the session is frozen');
      const shared = await host.client.request(P.StartShareRequest.type, { sessionId: idleSession.id });
      assert.equal(shared.sessionId, idleSession.id);
      await host.client.request(P.StopShareRequest.type, { sessionId: idleSession.id });
    } finally {
      await host.removeWorkspace(idle.id);
    }
  });

  it('refuses codes that are not codes (InvalidInput), and unknown joined shares (NotFound)', async () => {
    for (const code of ['', 'hello', 'http://127.0.0.1:1/share#x', 'ws://127.0.0.1:1/share', `wss://127.0.0.1:1/share#${randomSecret()}`, `ws://127.0.0.1:1/share?fp=zz#${randomSecret()}`]) {
      await expectError(alice.client.request(P.JoinShareRequest.type, { code, name: 'alice' }), 'InvalidInput');
    }
    await expectError(alice.client.request(P.LeaveShareRequest.type, { joinedShareId: 'jnothing' }), 'NotFound');
    await expectError(alice.client.request(P.ListTerminalsRequest.type, { sessionId: 'shared.jnothing' }), 'NotFound');
    await expectError(alice.client.request(P.OpenTerminalRequest.type, { sessionId: 'shared.jnothing', cols: 80, rows: 24 }), 'NotFound');
    assert.deepEqual(await alice.client.request(P.ListJoinedSharesRequest.type, {}), []);
  });

  it('shares the collaborative session: a code, a link, no guests yet', async () => {
    share = await host.client.request(P.StartShareRequest.type, { sessionId: session.id, defaultRole: 'viewer', approval: 'ask' });
    assert.equal(share.workspaceId, workspace.id);
    assert.equal(share.defaultRole, 'viewer');
    assert.equal(share.approval, 'ask');
    assert.deepEqual({ participants: share.participants, pending: share.pending }, { participants: [], pending: [] });
    assert.ok(share.code.startsWith(share.endpoint), `${share.code} is at ${share.endpoint}`);
    assert.ok((await historyKinds(host.client, workspace.id)).includes('shared'));
  });

  it('keeps a guest waiting until the host answers: declined is Forbidden, allowed joins as the chosen role', async () => {
    // Bob asks first and is turned away.
    const bobJoin = bob.client.request(P.JoinShareRequest.type, { code: share.code, name: 'bob' });
    bobJoin.catch(() => undefined);
    const bobAsks = await pendingRequest(host.client, session.id, 'bob');
    assert.equal(bobAsks.role, 'viewer');
    assert.equal(bobAsks.sessionId, session.id);
    await host.client.request(P.AnswerJoinRequest.type, { requestId: bobAsks.id, allow: false });
    const declined = await expectForbidden(bobJoin);
    assert.match((declined as Error).message, /declined/);
    await expectError(host.client.request(P.AnswerJoinRequest.type, { requestId: bobAsks.id, allow: true }), 'NotFound');

    // Alice waits: her request is not answered until the host says so.
    let answered = false;
    const aliceJoin = alice.client.request(P.JoinShareRequest.type, { code: share.link, name: 'alice' });
    void aliceJoin.then(() => (answered = true), () => (answered = true));
    const aliceAsks = await pendingRequest(host.client, session.id, 'alice');
    await sleep(1000);
    assert.equal(answered, false, 'share/join waits for the host');
    await host.client.request(P.AnswerJoinRequest.type, { requestId: aliceAsks.id, allow: true, role: 'viewer' });
    aliceShare = await aliceJoin;
    assert.equal(aliceShare.state, 'connected');
    assert.equal(aliceShare.role, 'viewer');
    assert.equal(aliceShare.sessionId, `shared.${aliceShare.id}`);
    assert.equal(aliceShare.hostSessionId, session.id);
    assert.equal(aliceShare.workspaceName, workspace.name);
    assert.ok(aliceShare.terminals.some((terminal) => terminal.id === `shared.${aliceShare.id}.${terminalId}`), JSON.stringify(aliceShare.terminals));
    assert.ok(aliceShare.terminals.every((terminal) => terminal.sessionId === aliceShare.sessionId));

    const hostView = await shareOf(host.client, session.id);
    assert.deepEqual(hostView.pending, []);
    assert.deepEqual(
      hostView.participants.map(({ name, role, connected }) => ({ name, role, connected })),
      [{ name: 'alice', role: 'viewer', connected: true }],
    );
    assert.match(hostView.participants[0].id, /^g-/);
    assert.ok((await alice.client.request(P.ListJoinedSharesRequest.type, {})).some((joined) => joined.id === aliceShare.id));
  });

  it('lists the shared terminals to the guest and shows it what the host types', async () => {
    const listed = await alice.client.request(P.ListTerminalsRequest.type, { sessionId: aliceShare.sessionId });
    const guestTerminal = `shared.${aliceShare.id}.${terminalId}`;
    assert.ok(listed.some((terminal) => terminal.id === guestTerminal));
    const opened = await aliceTerminals.open({ sessionId: aliceShare.sessionId, terminalId: guestTerminal });
    assert.equal(opened.terminal.id, guestTerminal);
    assert.equal(opened.outcome, 'attached');
    assert.match(opened.replay, /ready-2/, 'the guest gets the recent scrollback');
    const from = aliceTerminals.text(guestTerminal).length;
    await hostTerminals.run(terminalId, 'echo host-typed-$((40+2))', /host-typed-42\n/);
    await aliceTerminals.waitForOutput(guestTerminal, /host-typed-42/, from);
  });

  it("refuses a viewer's keystrokes: the viewer sees a notice, nothing reaches the shell", async () => {
    const guestTerminal = `shared.${aliceShare.id}.${terminalId}`;
    const hostFrom = hostTerminals.text(terminalId).length;
    const from = aliceTerminals.text(guestTerminal).length;
    aliceTerminals.type(guestTerminal, 'echo viewer-$((3+4)) > /workspace/viewer.txt\r');
    await aliceTerminals.waitForOutput(guestTerminal, /You are a viewer/, from);
    await sleep(1000);
    assert.equal(await fileExists(host.client, session.id, '/workspace/viewer.txt'), false, 'the command did not run');
    assert.doesNotMatch(hostTerminals.plain(terminalId).slice(hostFrom), /viewer-/, 'the host saw no keystroke');
    assert.doesNotMatch(aliceTerminals.plain(guestTerminal).slice(from), /viewer-\$/, 'the guest saw no echo');
    await expectForbidden(alice.client.request(P.OpenTerminalRequest.type, { sessionId: aliceShare.sessionId, cols: 80, rows: 24 }));
    await expectForbidden(alice.client.request(P.CloseTerminalRequest.type, { terminalId: guestTerminal }));
  });

  it('changes roles at once: viewer to editor, the next keystroke goes through; editor to viewer, refused', async () => {
    const guestTerminal = `shared.${aliceShare.id}.${terminalId}`;
    const aliceId = (await participant(host.client, session.id, 'alice'))!.id;
    const changed = await host.client.request(P.SetGuestRoleRequest.type, { sessionId: session.id, guestId: aliceId, role: 'editor' });
    assert.equal(changed.participants.find((guest) => guest.id === aliceId)?.role, 'editor');
    await waitFor('alice to be told she is an editor', async () => ((await joinedShare(alice.client, aliceShare.id))?.role === 'editor' ? true : undefined));

    const hostFrom = hostTerminals.text(terminalId).length;
    await aliceTerminals.run(guestTerminal, 'echo editor-$((2+3)) | tee /workspace/editor.txt', /editor-5\n/);
    await hostTerminals.waitForOutput(terminalId, /editor-5/, hostFrom);
    assert.equal((await exec(host.client, session.id, ['cat', '/workspace/editor.txt'])).stdout, 'editor-5\n');

    // An editor opens a terminal of its own in the shared session; the host sees it.
    const own = await aliceTerminals.open({ sessionId: aliceShare.sessionId });
    assert.ok(own.terminal.id.startsWith(`shared.${aliceShare.id}.`));
    const hostId = own.terminal.id.slice(`shared.${aliceShare.id}.`.length);
    assert.ok((await host.client.request(P.ListTerminalsRequest.type, { sessionId: session.id })).some((terminal) => terminal.id === hostId));
    await alice.client.request(P.CloseTerminalRequest.type, { terminalId: own.terminal.id });
    await waitFor('the guest-made terminal to close on the host', async () =>
      (await host.client.request(P.ListTerminalsRequest.type, { sessionId: session.id })).some((terminal) => terminal.id === hostId) ? undefined : true,
    );

    await host.client.request(P.SetGuestRoleRequest.type, { sessionId: session.id, guestId: aliceId, role: 'viewer' });
    aliceTerminals.type(guestTerminal, 'echo late-$((1+1)) > /workspace/late.txt\r');
    await sleep(1500);
    assert.equal(await fileExists(host.client, session.id, '/workspace/late.txt'), false, 'the keystroke after the change to viewer was refused');
    await waitFor('alice to be told she is a viewer again', async () => ((await joinedShare(alice.client, aliceShare.id))?.role === 'viewer' ? true : undefined));
    await expectError(host.client.request(P.SetGuestRoleRequest.type, { sessionId: session.id, guestId: 'g-nobody', role: 'editor' }), 'NotFound');
  });

  it('neither lists nor opens a private terminal of the host for guests', async () => {
    const secret = await hostTerminals.open({ sessionId: session.id, private: true });
    assert.equal(secret.terminal.private, true);
    // A public terminal opened after it: once the guest sees this one, it has had the chance to see the private one.
    const open = await hostTerminals.open({ sessionId: session.id });
    const guestOpenId = `shared.${aliceShare.id}.${open.terminal.id}`;
    await waitFor('the guest to see the new public terminal', async () =>
      (await alice.client.request(P.ListTerminalsRequest.type, { sessionId: aliceShare.sessionId })).some((terminal) => terminal.id === guestOpenId) ? true : undefined,
    );
    const listed = await alice.client.request(P.ListTerminalsRequest.type, { sessionId: aliceShare.sessionId });
    assert.ok(!listed.some((terminal) => terminal.id.endsWith(secret.terminal.id)), 'the private terminal is not listed');
    assert.ok(!(await joinedShare(alice.client, aliceShare.id))!.terminals.some((terminal) => terminal.id.endsWith(secret.terminal.id)));
    await expectError(
      alice.client.request(P.OpenTerminalRequest.type, { sessionId: aliceShare.sessionId, terminalId: `shared.${aliceShare.id}.${secret.terminal.id}`, cols: 80, rows: 24 }),
      'NotFound',
    );
    // Even as an editor the guest cannot close it.
    const aliceId = (await participant(host.client, session.id, 'alice'))!.id;
    await host.client.request(P.SetGuestRoleRequest.type, { sessionId: session.id, guestId: aliceId, role: 'editor' });
    await expectError(alice.client.request(P.CloseTerminalRequest.type, { terminalId: `shared.${aliceShare.id}.${secret.terminal.id}` }), 'NotFound');
    await host.client.request(P.SetGuestRoleRequest.type, { sessionId: session.id, guestId: aliceId, role: 'viewer' });
    assert.ok((await host.client.request(P.ListTerminalsRequest.type, { sessionId: session.id })).some((terminal) => terminal.id === secret.terminal.id), 'it is still there');
    for (const id of [secret.terminal.id, open.terminal.id]) await host.client.request(P.CloseTerminalRequest.type, { terminalId: id });
  });

  it("lets an editor's file write be seen by the host and by a second guest; a viewer only reads", async () => {
    const aliceId = (await participant(host.client, session.id, 'alice'))!.id;
    await host.client.request(P.SetGuestRoleRequest.type, { sessionId: session.id, guestId: aliceId, role: 'editor' });
    const bobShare = await joinThroughHost(host.client, bob.client, session.id, share.code, 'bob-reader', 'viewer');
    try {
      assert.equal(bobShare.role, 'viewer');
      const content = Buffer.from('written by an editor guest\n');
      await alice.client.request(P.WriteFileRequest.type, {
        target: { joinedShareId: aliceShare.id },
        path: '/from-guest.txt',
        content: content.toString('base64'),
        create: true,
        overwrite: true,
      });
      assert.equal((await exec(host.client, session.id, ['cat', '/workspace/from-guest.txt'])).stdout, content.toString(), 'the host sees the file');
      const read = await bob.client.request(P.ReadFileRequest.type, { target: { joinedShareId: bobShare.id }, path: '/from-guest.txt' });
      assert.equal(Buffer.from(read.content, 'base64').toString(), content.toString(), 'the second guest reads it');
      const stat = await bob.client.request(P.FileStatRequest.type, { target: { joinedShareId: bobShare.id }, path: '/from-guest.txt' });
      assert.deepEqual({ type: stat.type, size: stat.size }, { type: 'file', size: content.length });
      const entries = await bob.client.request(P.ReadDirectoryRequest.type, { target: { joinedShareId: bobShare.id }, path: '/' });
      assert.ok(entries.some((entry) => entry.name === 'from-guest.txt'));
      // A guest watching sees what the host and the other guest change.
      const changes: P.FileChangeInfo[] = [];
      bob.client.onNotification(P.FileChangedNotification.type, ({ watchId, changes: changed }) => {
        if (watchId === 'share-watch') changes.push(...changed);
      });
      await bob.client.request(P.WatchFilesRequest.type, { target: { joinedShareId: bobShare.id }, path: '/', watchId: 'share-watch', recursive: true });
      await alice.client.request(P.WriteFileRequest.type, { target: { joinedShareId: aliceShare.id }, path: '/watched-guest.txt', content: 'eA==', create: true, overwrite: true });
      await waitFor('bob to hear of alice\'s new file', () => (changes.some((change) => change.path === '/watched-guest.txt') ? true : undefined));
      // What the host writes, the guests read (and a watching guest hears of it).
      await exec(host.client, session.id, ['sh', '-c', 'echo from-host > /workspace/from-host.txt']);
      await waitFor('bob to hear of the host\'s new file', () => (changes.some((change) => change.path === '/from-host.txt') ? true : undefined));
      await bob.client.request(P.UnwatchFilesRequest.type, { watchId: 'share-watch' });
      const fromHost = await alice.client.request(P.ReadFileRequest.type, { target: { joinedShareId: aliceShare.id }, path: '/from-host.txt' });
      assert.equal(Buffer.from(fromHost.content, 'base64').toString(), 'from-host\n');

      // The viewer may not change anything.
      await expectForbidden(
        bob.client.request(P.WriteFileRequest.type, { target: { joinedShareId: bobShare.id }, path: '/from-viewer.txt', content: 'eA==', create: true, overwrite: true }),
      );
      await expectForbidden(bob.client.request(P.DeleteFileRequest.type, { target: { joinedShareId: bobShare.id }, path: '/from-guest.txt', recursive: false }));
      await expectForbidden(bob.client.request(P.RenameFileRequest.type, { target: { joinedShareId: bobShare.id }, path: '/from-guest.txt', newPath: '/moved.txt', overwrite: false }));
      await expectForbidden(bob.client.request(P.CreateDirectoryRequest.type, { target: { joinedShareId: bobShare.id }, path: '/viewer-dir' }));
      assert.equal(await fileExists(host.client, session.id, '/workspace/from-viewer.txt'), false);
      assert.equal(await fileExists(host.client, session.id, '/workspace/viewer-dir'), false);
      assert.equal(await fileExists(host.client, session.id, '/workspace/from-guest.txt'), true);
      // The workspace's own path rules hold for guests too.
      await expectError(bob.client.request(P.ReadFileRequest.type, { target: { joinedShareId: bobShare.id }, path: '/../etc/passwd' }), 'InvalidInput');
    } finally {
      await host.client.request(P.SetGuestRoleRequest.type, { sessionId: session.id, guestId: aliceId, role: 'viewer' });
      await bob.client.request(P.LeaveShareRequest.type, { joinedShareId: bobShare.id });
    }
  });

  it('removes a guest: its joined share ends with a reason, its terminal exits, and it is no longer a participant', async () => {
    const bobShare = await joinThroughHost(host.client, bob.client, session.id, share.code, 'bob-removed', 'viewer');
    const bobTerminal = `shared.${bobShare.id}.${terminalId}`;
    await bobTerminals.open({ sessionId: bobShare.sessionId, terminalId: bobTerminal });
    const bobId = (await participant(host.client, session.id, 'bob-removed'))!.id;
    const after = await host.client.request(P.RemoveGuestRequest.type, { sessionId: session.id, guestId: bobId });
    assert.ok(!after.participants.some((guest) => guest.id === bobId));
    const ended = await joinedShareState(bob.client, bobShare.id, 'ended');
    assert.match(ended.endedReason ?? '', /removed/);
    await bobTerminals.waitForExit(bobTerminal);
    await expectError(bob.client.request(P.OpenTerminalRequest.type, { sessionId: bobShare.sessionId, terminalId: bobTerminal, cols: 80, rows: 24 }), 'NotFound');
    await expectError(host.client.request(P.RemoveGuestRequest.type, { sessionId: session.id, guestId: bobId }), 'NotFound');
    await bob.client.request(P.LeaveShareRequest.type, { joinedShareId: bobShare.id });
    assert.equal(await joinedShare(bob.client, bobShare.id), undefined, 'a left share is no longer listed');
  });

  it('reconnects a guest whose connection dropped: reconnecting, then connected, with the scrollback replayed', async () => {
    const proxy = new TcpProxy(codeParts(share.code).port);
    proxies.push(proxy);
    await proxy.listen();
    const bobShare = await joinThroughHost(host.client, bob.client, session.id, codeAtPort(share.code, proxy.port), 'bob-proxied', 'editor');
    leaveLater.push(() => bob.client.request(P.LeaveShareRequest.type, { joinedShareId: bobShare.id }));
    const bobTerminal = `shared.${bobShare.id}.${terminalId}`;
    await bobTerminals.open({ sessionId: bobShare.sessionId, terminalId: bobTerminal });
    await bobTerminals.run(bobTerminal, 'echo before-drop-$((3*3))', /before-drop-9\n/);
    const bobId = (await participant(host.client, session.id, 'bob-proxied'))!.id;

    // The network goes away, and stays away for a moment.
    proxy.refuse = true;
    proxy.drop();
    await joinedShareState(bob.client, bobShare.id, 'reconnecting');
    await waitFor('the host to see bob disconnected', async () => ((await participant(host.client, session.id, 'bob-proxied'))?.connected === false ? true : undefined));
    const replayFrom = bobTerminals.text(bobTerminal).length;

    proxy.refuse = false;
    await joinedShareState(bob.client, bobShare.id, 'connected');
    const back = await waitFor('bob to be connected on the host again', async () => {
      const guest = await participant(host.client, session.id, 'bob-proxied');
      return guest?.connected ? guest : undefined;
    });
    assert.equal(back.id, bobId, 'the guest keeps its id across a reconnect');
    assert.equal(back.role, 'editor', 'and its role');
    const replayed = await waitFor('the terminal to be reset and its scrollback replayed', () => {
      const text = bobTerminals.text(bobTerminal).slice(replayFrom);
      const reset = text.indexOf('\x1bc');
      return reset >= 0 && /before-drop-9/.test(text.slice(reset)) ? text.slice(reset) : undefined;
    });
    assert.ok(replayed.startsWith('\x1bc'));
    await bobTerminals.run(bobTerminal, 'echo after-drop-$((5*5))', /after-drop-25\n/);
    assert.ok(proxy.connections >= 2, 'the guest came back through the proxy by itself');
    await leaveLater.pop()!();
    await waitFor('bob to leave the host', async () => ((await participant(host.client, session.id, 'bob-proxied')) ? undefined : true));
  });

  it('refuses the old link once it is revoked (Forbidden); the guests already in stay', async () => {
    await leaveLeftovers();
    const oldCode = share.code;
    const renewed = await host.client.request(P.RevokeShareLinkRequest.type, { sessionId: session.id });
    assert.notEqual(renewed.code, oldCode);
    assert.equal(codeParts(renewed.code).port, codeParts(oldCode).port, 'same endpoint, new secret');
    const refused = await expectForbidden(bob.client.request(P.JoinShareRequest.type, { code: oldCode, name: 'bob' }));
    assert.match((refused as Error).message, /not valid/);
    assert.equal((await shareOf(host.client, session.id)).pending.length, 0, 'the old link did not even ask');
    assert.equal((await joinedShare(alice.client, aliceShare.id))?.state, 'connected', 'alice is still in');
    assert.equal((await participant(host.client, session.id, 'alice'))?.connected, true);
    share = renewed;
    // The new link asks as before.
    await expectForbidden(joinThroughHost(host.client, bob.client, session.id, share.code, 'bob', 'deny'));
  });

  describe('a second share that lets anyone in', () => {
    let second: P.WorkspaceInfo;
    let secondSession: P.SessionInfo;
    let secondShare: P.ShareInfo;
    let secondTerminal: string;
    let aliceSecond: P.JoinedShareInfo;

    after(async () => {
      if (second) await host.removeWorkspace(second.id).catch(() => undefined);
    });

    before(async () => {
      second = await host.createWorkspace('open', { kind: 'collaborative' });
      secondSession = await host.startSession(second.id);
      secondShare = await host.client.request(P.StartShareRequest.type, { sessionId: secondSession.id, approval: 'anyone', defaultRole: 'editor' });
      secondTerminal = (await hostTerminals.open({ sessionId: secondSession.id })).terminal.id;
      await hostTerminals.run(secondTerminal, 'echo ready-$((1+1))', /ready-2\n/);
    });

    it("admits without asking when approval is 'anyone', with the share's default role", async () => {
      assert.equal(codeParts(secondShare.code).port, codeParts(share.code).port, 'one endpoint serves every share');
      aliceSecond = await within(alice.client.request(P.JoinShareRequest.type, { code: secondShare.code, name: 'alice' }), 20_000, "share/join of a share that lets anyone in");
      assert.equal(aliceSecond.state, 'connected');
      assert.equal(aliceSecond.role, 'editor');
      assert.equal(aliceSecond.hostSessionId, secondSession.id);
      assert.notEqual(aliceSecond.id, aliceShare.id);
      const hostView = await shareOf(host.client, secondSession.id);
      assert.deepEqual(hostView.pending, []);
      assert.deepEqual(hostView.participants.map((guest) => guest.name), ['alice']);
      const guestTerminal = `shared.${aliceSecond.id}.${secondTerminal}`;
      await aliceTerminals.open({ sessionId: aliceSecond.sessionId, terminalId: guestTerminal });
      await aliceTerminals.run(guestTerminal, 'echo second-$((8*8))', /second-64\n/);
    });

    it('admits a guest that comes through a tunnel (a TCP proxy, as an SSH tunnel is) without asking', async () => {
      // Through a proxy the host's 101 and its welcome arrive in one piece: the guest must not lose the welcome.
      const proxy = new TcpProxy(codeParts(secondShare.code).port);
      proxies.push(proxy);
      await proxy.listen();
      const tunnelled = await within(
        bob.client.request(P.JoinShareRequest.type, { code: codeAtPort(secondShare.code, proxy.port), name: 'bob-tunnel' }),
        20_000,
        'share/join through a tunnel of a share that lets anyone in',
      );
      assert.equal(tunnelled.state, 'connected');
      assert.equal(tunnelled.role, 'editor');
      await bob.client.request(P.LeaveShareRequest.type, { joinedShareId: tunnelled.id });
    });

    it(`takes ${GUESTS_AT_ONCE} guests at once, each sees the host's output`, async () => {
      const { port, secret } = codeParts(secondShare.code);
      const guests = await Promise.all(Array.from({ length: GUESTS_AT_ONCE }, (_, index) => RawGuest.join(port, secret, `crowd-${index}`)));
      rawGuests.push(...guests);
      for (const guest of guests) {
        const welcome = guest.welcome();
        assert.ok(welcome, 'each was welcomed without the host answering');
        assert.equal(welcome.role, 'editor');
        assert.match(String(welcome.guestToken), /^[A-Za-z0-9_-]{43}$/, 'each got its own resume token');
      }
      assert.equal(new Set(guests.map((guest) => guest.welcome()!.guestToken)).size, GUESTS_AT_ONCE, 'tokens are distinct');
      const hostView = await waitFor(`the host to list ${GUESTS_AT_ONCE + 1} connected guests`, async () => {
        const view = await shareOf(host.client, secondSession.id);
        return view.participants.filter((guest) => guest.connected && guest.name.startsWith('crowd-')).length === GUESTS_AT_ONCE ? view : undefined;
      });
      assert.equal(new Set(hostView.participants.map((guest) => guest.id)).size, hostView.participants.length, 'every guest has an id of its own');
      await Promise.all(
        guests.map(async (guest) => {
          const answer = await guest.request({ op: 'openTerminal', terminalId: secondTerminal, cols: 80, rows: 24 });
          assert.equal(answer.error, undefined, JSON.stringify(answer.error));
        }),
      );
      await hostTerminals.run(secondTerminal, 'echo fanout-$((6*7))', /fanout-42\n/);
      await Promise.all(guests.map((guest) => waitFor('every guest to see the output', () => (/fanout-42/.test(guest.output(secondTerminal)) ? true : undefined))));
      await waitFor('every guest to hear of all the others', () =>
        guests.every((guest) => {
          const lists = guest.messages.filter((message) => message.t === 'participants');
          const last = lists.at(-1)?.participants as unknown[] | undefined;
          return (last?.length ?? 0) >= GUESTS_AT_ONCE;
        })
          ? true
          : undefined,
      );
      // A raw guest leaves the way a sidecar does.
      guests[0].send({ t: 'leave' });
      await guests[0].closed;
      await waitFor('the host to forget the guest that left', async () =>
        (await shareOf(host.client, secondSession.id)).participants.some((guest) => guest.name === 'crowd-0') ? undefined : true,
      );
      assert.equal(await fileExists(host.client, secondSession.id, '/workspace/crowd.txt'), false);
    });

    it("stops sharing: every guest's share ends with a reason, its terminals exit, and the old code is refused (Forbidden)", async () => {
      const crowd = rawGuests.filter((guest) => guest.isOpen);
      await host.client.request(P.StopShareRequest.type, { sessionId: secondSession.id });
      for (const guest of crowd) {
        const said = await guest.next((message) => message.t === 'ended');
        assert.match(String(said.reason), /stopped sharing/);
        assert.equal(await guest.closed, 4000);
      }
      assert.ok(!(await listShares(host.client)).some((candidate) => candidate.sessionId === secondSession.id));
      // The main share keeps the endpoint up: the stopped share's code is refused, as a wrong one.
      await expectForbidden(bob.client.request(P.JoinShareRequest.type, { code: secondShare.code, name: 'late' }));
      // Alice's sidecar (when her join went through, see the test before).
      if (aliceSecond) {
        const guestTerminal = `shared.${aliceSecond.id}.${secondTerminal}`;
        const ended = await joinedShareState(alice.client, aliceSecond.id, 'ended');
        assert.match(ended.endedReason ?? '', /stopped sharing/);
        await aliceTerminals.waitForExit(guestTerminal);
        await expectError(alice.client.request(P.OpenTerminalRequest.type, { sessionId: aliceSecond.sessionId, terminalId: guestTerminal, cols: 80, rows: 24 }), 'NotFound');
        await alice.client.request(P.LeaveShareRequest.type, { joinedShareId: aliceSecond.id });
      }
      assert.ok(aliceSecond, 'alice joined the share that lets anyone in');
    });
  });

  it('records joins, role changes, removals, leaves and refusals in the workspace history', async () => {
    const events = await host.client.request(P.WorkspaceHistoryRequest.type, { id: workspace.id, limit: 1000 });
    const kinds = new Set(events.map((event) => event.kind));
    for (const kind of ['shared', 'joined', 'role-changed', 'removed', 'left', 'refused'] as const) assert.ok(kinds.has(kind), `the history has a ${kind} event: ${[...kinds].join(', ')}`);
    const joined = events.filter((event) => event.kind === 'joined').map((event) => event.reason);
    assert.ok(joined.some((reason) => reason.includes('"alice"') && reason.includes('viewer')), JSON.stringify(joined));
    const said = JSON.stringify(events.map((event) => `${event.kind}: ${event.reason}`), null, 1);
    assert.ok(events.some((event) => event.kind === 'refused' && /declined "bob"/.test(event.reason)), said);
    assert.ok(events.some((event) => event.kind === 'role-changed' && /"alice".*editor/.test(event.reason)), said);
    assert.ok(events.some((event) => event.kind === 'removed' && /"bob-removed"/.test(event.reason)), said);
    assert.ok(events.some((event) => event.kind === 'left' && /"bob-reader"/.test(event.reason)), said);
  });

  it("ends the share when the session stops: the guest's share ends, its terminal exits", async () => {
    const guestTerminal = `shared.${aliceShare.id}.${terminalId}`;
    assert.ok(aliceTerminals.exits.has(guestTerminal) === false);
    await host.client.request(P.StopSessionRequest.type, { id: session.id });
    const ended = await joinedShareState(alice.client, aliceShare.id, 'ended');
    assert.match(ended.endedReason ?? '', /session ended/i);
    await aliceTerminals.waitForExit(guestTerminal);
    assert.ok(!(await listShares(host.client)).some((candidate) => candidate.sessionId === session.id), 'the share is gone');
    assert.ok((await historyKinds(host.client, workspace.id)).includes('unshared'));
    await alice.client.request(P.LeaveShareRequest.type, { joinedShareId: aliceShare.id });
    assert.deepEqual(await alice.client.request(P.ListJoinedSharesRequest.type, {}), []);
    // Nothing is shared any more: the endpoint is closed, the old code leads nowhere.
    if ((await listShares(host.client)).length === 0) {
      await assert.rejects(alice.client.request(P.JoinShareRequest.type, { code: share.code, name: 'alice' }), (error: Error) => /not valid|Could not reach/.test(error.message));
    }
  });

  describe('guests whose names are written in any script', () => {
    let named: P.WorkspaceInfo;
    let namedSession: P.SessionInfo;
    let namedShare: P.ShareInfo;

    before(async () => {
      named = await host.createWorkspace('names', { kind: 'collaborative' });
      namedSession = await host.startSession(named.id);
      namedShare = await host.client.request(P.StartShareRequest.type, { sessionId: namedSession.id, approval: 'ask' });
    });

    after(async () => {
      if (named) await host.removeWorkspace(named.id).catch(() => undefined);
    });

    it('lets a guest named with emoji in, and the next guest after it', async () => {
      // cleanName keeps 64 characters; 40 emoji are 80 UTF-16 units.
      const emoji = '😀'.repeat(40);
      const first = await within(joinThroughHost(host.client, bob.client, namedSession.id, namedShare.code, emoji, 'viewer'), 20_000, 'share/join of a guest named with emoji');
      assert.equal(first.state, 'connected');
      assert.equal((await participant(host.client, namedSession.id, emoji))?.connected, true);
      const next = await within(joinThroughHost(host.client, alice.client, namedSession.id, namedShare.code, 'carol', 'viewer'), 20_000, 'share/join of the guest after it');
      assert.equal(next.state, 'connected');
      assert.ok(next.participants.some((guest) => guest.name === emoji), 'the next guest hears of the first');
    });

    it('tells a guest still waiting for an answer that the host stopped sharing (Forbidden)', async () => {
      const waiting = bob.client.request(P.JoinShareRequest.type, { code: namedShare.code, name: 'too-late' });
      waiting.catch(() => undefined);
      await pendingRequest(host.client, namedSession.id, 'too-late');
      await host.client.request(P.StopShareRequest.type, { sessionId: namedSession.id });
      const refused = await expectForbidden(within(waiting, 10_000, 'share/join of a guest whose host stopped sharing'));
      assert.match((refused as Error).message, /stopped sharing/);
    });
  });
});

/**
 * A host's 101 and its first message may reach the guest in one TCP segment (through a proxy,
 * an SSH tunnel, or just by timing). A fake host makes that certain, so the guest's handling
 * of a welcome that arrives with the upgrade is tested every time, not now and then.
 */
describe('a host whose welcome arrives together with its upgrade answer', () => {
  const [guest] = useSidecars(1);
  const hosts: FakeHost[] = [];
  const welcome = (token: string) =>
    textFrame(
      JSON.stringify({
        t: 'welcome',
        guestId: 'g-fake00000000',
        guestToken: token,
        role: 'viewer',
        hostName: 'fake',
        session: { id: 'ses-fake00000000', workspaceName: 'fake', image: 'busybox:latest' },
        terminals: [],
        participants: [{ id: 'g-fake00000000', name: 'guest', role: 'viewer', connected: true }],
      }),
    );

  after(async () => {
    for (const fake of hosts) await fake.close();
  });

  it('joins a share that lets anyone in: the welcome in the same segment as the 101 is not lost', async () => {
    const fake = new FakeHost(() => welcome(randomSecret()));
    hosts.push(fake);
    const port = await fake.listen();
    const secret = randomSecret();
    const joined = await within(guest.client.request(P.JoinShareRequest.type, { code: `ws://127.0.0.1:${port}/share#${secret}`, name: 'guest' }), 20_000, 'share/join');
    assert.equal(joined.state, 'connected');
    assert.equal(fake.upgrades[0].authorization, `Bearer ${secret}`);
    await guest.client.request(P.LeaveShareRequest.type, { joinedShareId: joined.id });
  });

  it('comes back after a dropped connection when the welcome of the resume arrives with the 101', async () => {
    const token = randomSecret();
    const fake = new FakeHost((upgrade, index) => {
      if (index > 0) return welcome('');
      // The first welcome comes a moment later, then the connection drops.
      setTimeout(() => upgrade.socket.write(welcome(token)), 200);
      setTimeout(() => upgrade.socket.destroy(), 1000);
      return undefined;
    });
    hosts.push(fake);
    const port = await fake.listen();
    const joined = await guest.client.request(P.JoinShareRequest.type, { code: `ws://127.0.0.1:${port}/share#${randomSecret()}`, name: 'guest' });
    await joinedShareState(guest.client, joined.id, 'reconnecting');
    await joinedShareState(guest.client, joined.id, 'connected', 15_000);
    assert.equal(fake.upgrades[1]?.authorization, `Guest ${token}`, 'it came back with its token');
    await guest.client.request(P.LeaveShareRequest.type, { joinedShareId: joined.id });
  });
});

/**
 * A host is whoever handed out the link: what it answers is checked before the guest's
 * clients see it (the wire's FileResults say so), as its messages are.
 */
describe("a hostile host's answers to file requests", () => {
  const [guest] = useSidecars(1);
  let server: WebSocketServer;
  let joined: P.JoinedShareInfo;

  before(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    server.on('connection', (socket) => {
      setTimeout(() => {
        socket.send(
          JSON.stringify({
            t: 'welcome',
            guestId: 'g-hostile0000',
            guestToken: randomSecret(),
            role: 'editor',
            hostName: 'hostile',
            session: { id: 'ses-hostile00000', workspaceName: 'hostile', image: 'busybox:latest' },
            terminals: [],
            participants: [],
          }),
        );
      }, 100);
      socket.on('message', (data) => {
        const message = JSON.parse(data.toString()) as { t: string; id: number; op: string; call?: string };
        if (message.t !== 'req' || message.op !== 'file') return;
        const results: Record<string, unknown> = {
          stat: { type: 'socket', symlink: 'yes', size: -5, mtimeMs: 'yesterday', ctimeMs: null, extra: 'x'.repeat(1000) },
          readDirectory: [{ name: '../../../etc', type: 'file', symlink: false }, { name: 'a/b', type: 'directory', symlink: false }, null, 5, { name: 'ok.txt', type: 'file', symlink: false }, { name: '', type: 'file', symlink: false }],
          readFile: { content: 42 },
        };
        socket.send(JSON.stringify({ t: 'res', id: message.id, result: results[message.call ?? ''] ?? null }));
      });
    });
    const port = (server.address() as { port: number }).port;
    joined = await guest.client.request(P.JoinShareRequest.type, { code: `ws://127.0.0.1:${port}/share#${randomSecret()}`, name: 'guest' });
  });

  // (The guest's sidecar is shut down by useSidecars' own hook, which runs first: its joined share goes with it.)
  after(async () => {
    for (const client of server.clients) client.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('does not pass a malformed stat on to the guest\'s clients', async () => {
    let stat: P.FileStatInfo | undefined;
    try {
      stat = await guest.client.request(P.FileStatRequest.type, { target: { joinedShareId: joined.id }, path: '/x' });
    } catch {
      return; // refused as not the protocol: fine
    }
    assert.ok(stat.type === 'file' || stat.type === 'directory', `type ${JSON.stringify(stat.type)}`);
    assert.equal(typeof stat.symlink, 'boolean', `symlink ${JSON.stringify(stat.symlink)}`);
    for (const key of ['size', 'mtimeMs', 'ctimeMs'] as const) assert.ok(Number.isFinite(stat[key]) && stat[key] >= 0, `${key} ${JSON.stringify(stat[key])}`);
    assert.ok(!('extra' in stat), 'fields the protocol does not have are dropped');
  });

  it('does not pass malformed directory entries, or names that are paths, on to the guest\'s clients', async () => {
    let entries: P.DirectoryEntryInfo[];
    try {
      entries = await guest.client.request(P.ReadDirectoryRequest.type, { target: { joinedShareId: joined.id }, path: '/' });
    } catch {
      return;
    }
    for (const entry of entries) {
      assert.ok(entry !== null && typeof entry === 'object', `entry ${JSON.stringify(entry)}`);
      assert.ok(typeof entry.name === 'string' && entry.name !== '' && !entry.name.includes('/') && entry.name !== '..' && entry.name !== '.', `name ${JSON.stringify(entry.name)}`);
      assert.ok(entry.type === 'file' || entry.type === 'directory', `type ${JSON.stringify(entry.type)}`);
    }
  });
});

describe('sharing over TLS, with the certificate pinned in the link', () => {
  const [host, guest] = useSidecars(2);
  let directory: string;
  let fingerprint: string;
  let session: P.SessionInfo;
  let share: P.ShareInfo;

  before(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=sandkasten-test', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: directory, stdio: 'ignore' });
    fingerprint = new X509Certificate(fs.readFileSync(path.join(directory, 'cert.pem'))).fingerprint256.replaceAll(':', '').toLowerCase();
    session = await host.newSession('tls', { kind: 'collaborative' });
  });

  after(() => {
    if (directory) fs.rmSync(directory, { recursive: true, force: true });
  });

  it('will not listen beyond loopback without a certificate (InvalidConfig), and listens nowhere meanwhile', async () => {
    await host.client.request(P.SetConfigRequest.type, { values: { 'share.bindAddress': '0.0.0.0' } });
    const refused = await expectError(host.client.request(P.StartShareRequest.type, { sessionId: session.id }), 'InvalidConfig');
    assert.match(refused.message, /tlsCertFile/);
    assert.deepEqual(await listShares(host.client), []);
    await host.client.request(P.SetConfigRequest.type, { values: { 'share.bindAddress': null } });
  });

  it('shares over wss: the code pins the certificate, a guest joins through it', async () => {
    await host.client.request(P.SetConfigRequest.type, { values: { 'share.tlsCertFile': path.join(directory, 'cert.pem'), 'share.tlsKeyFile': path.join(directory, 'key.pem') } });
    share = await host.client.request(P.StartShareRequest.type, { sessionId: session.id, approval: 'ask' });
    assert.match(share.code, /^wss:\/\/127\.0\.0\.1:\d+\/share\?fp=[0-9a-f]{64}#[A-Za-z0-9_-]{43}$/);
    assert.equal(new URL(share.code).searchParams.get('fp'), fingerprint);
    const joined = await joinThroughHost(host.client, guest.client, session.id, share.code, 'tls-guest', 'editor');
    assert.equal(joined.state, 'connected');
    const hostTerminals = new TerminalWatcher(host.client);
    const guestTerminals = new TerminalWatcher(guest.client);
    const terminal = (await hostTerminals.open({ sessionId: session.id })).terminal.id;
    const guestTerminal = `shared.${joined.id}.${terminal}`;
    await guestTerminals.open({ sessionId: joined.sessionId, terminalId: guestTerminal });
    await guestTerminals.run(guestTerminal, 'echo over-tls-$((7*6))', /over-tls-42\n/);

    // Connections over TLS last: a guest is not cut off after the first seconds.
    await sleep(8000);
    assert.doesNotMatch(guestTerminals.plain(guestTerminal), /connection to the host was lost/, 'the guest\'s connection dropped and had to be restored');
    assert.equal((await joinedShare(guest.client, joined.id))?.state, 'connected');
    await guestTerminals.run(guestTerminal, 'echo still-$((7*7))', /still-49\n/);
    await guest.client.request(P.LeaveShareRequest.type, { joinedShareId: joined.id });
  });

  it('keeps a raw guest over TLS connected past the first seconds', async () => {
    const anyone = await host.client.request(P.StartShareRequest.type, { sessionId: session.id, approval: 'anyone' });
    const raw = await RawGuest.join(codeParts(anyone.code).port, codeParts(anyone.code).secret, 'raw-tls', { tls: true });
    assert.ok(raw.welcome());
    await sleep(8000);
    assert.equal(raw.closeCode, undefined, `the connection was closed (${raw.closeCode}) though nothing was wrong`);
    const answer = await raw.request({ op: 'terminals' });
    assert.equal(answer.error, undefined);
    raw.send({ t: 'leave' });
    await raw.closed;
    await host.client.request(P.StartShareRequest.type, { sessionId: session.id, approval: 'ask' });
  });

  it('refuses a code whose fingerprint is not the certificate\'s, before anything is sent (Forbidden)', async () => {
    const wrong = share.code.replace(/fp=[0-9a-f]{64}/, `fp=${'0'.repeat(64)}`);
    const refused = await expectForbidden(guest.client.request(P.JoinShareRequest.type, { code: wrong, name: 'mitm' }));
    assert.match((refused as Error).message, /certificate/);
    assert.equal((await shareOf(host.client, session.id)).pending.length, 0, 'the host never heard of it');
    await expectError(guest.client.request(P.JoinShareRequest.type, { code: share.code.replace(/\?fp=[0-9a-f]{64}/, ''), name: 'nofp' }), 'InvalidInput');
    await host.client.request(P.StopShareRequest.type, { sessionId: session.id });
  });
});
