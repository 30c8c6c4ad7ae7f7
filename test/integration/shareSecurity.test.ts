import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { exec, P, processGone, sleep, useSidecar, useSidecars, waitFor, type SidecarClient } from './harness';
import {
  codeAtPort,
  codeParts,
  joinedShare,
  joinThroughHost,
  TcpProxy,
  participant,
  pendingRequest,
  randomSecret,
  rawExchange,
  RawGuest,
  shareOf,
  TerminalWatcher,
  upgradeStatus,
} from './shareSupport';

/** Attackers come from loopback addresses of their own, so the real guest (127.0.0.1) is not limited by their refusals. */
let nextAttacker = 2;
function attackerAddress(): string {
  const address = `127.0.0.${nextAttacker}`;
  nextAttacker++;
  assert.ok(nextAttacker < 255, 'ran out of attacker addresses');
  return address;
}

const BAD_MESSAGE = 4004;
const REFUSED = 4003;

/** The workspace's files, listed (to compare before and after). */
async function workspaceListing(client: SidecarClient, sessionId: string): Promise<string> {
  return (await exec(client, sessionId, ['sh', '-c', 'ls -laR /workspace | sed "s/ [A-Z][a-z][a-z] .* / /"; ls /etc /tmp'])).stdout;
}

/**
 * The share endpoint under attack from raw WebSocket, HTTP and TCP clients: forged and
 * replayed credentials, broken upgrades, slow and huge requests, hostile messages from
 * admitted guests. Nobody gets in who should not, nothing changes, the host stays up and a
 * real guest keeps working throughout.
 */
describe('the share endpoint against forged, replayed and malformed attempts', () => {
  const [host, guest] = useSidecars(2);
  let session: P.SessionInfo;
  let share: P.ShareInfo;
  let port: number;
  let terminalId: string;
  let privateTerminalId: string;
  let otherSession: P.SessionInfo;
  let otherTerminalId: string;
  let hostTerminals: TerminalWatcher;
  let guestTerminals: TerminalWatcher;
  let realGuest: P.JoinedShareInfo;
  let realTerminal: string;
  let files: string;
  let terminalsBefore: string[];
  let counts = { unauthorized: 0, limited: 0 };

  /** Lets a raw guest in through the host's approval. */
  async function admit(name: string, role: P.ShareRole): Promise<RawGuest> {
    const raw = await RawGuest.join(port, codeParts(share.code).secret, name);
    assert.equal(raw.messages[0]?.t, 'waiting');
    const pending = await pendingRequest(host.client, session.id, name);
    await host.client.request(P.AnswerJoinRequest.type, { requestId: pending.id, allow: true, role });
    await raw.next((message) => message.t === 'welcome');
    return raw;
  }

  /** The real guest still types into the shell and sees the answer; the host answers requests. */
  async function hostStillServes(): Promise<void> {
    const status = await host.client.request(P.StatusRequest.type, {});
    assert.equal(status.pid, host.pid, 'the host sidecar is the same process');
    const joined = await joinedShare(guest.client, realGuest.id);
    assert.equal(joined?.state, 'connected', 'the real guest is still connected');
    const value = 100 + Math.floor(Math.random() * 800);
    await guestTerminals.run(realTerminal, `echo alive-$((${value}+1))`, new RegExp(`alive-${value + 1}\\n`));
  }

  async function nothingChanged(): Promise<void> {
    assert.equal(await workspaceListing(host.client, session.id), files, 'no file was written, deleted or moved');
    const terminals = (await host.client.request(P.ListTerminalsRequest.type, {})).map((terminal) => terminal.id).sort();
    assert.deepEqual(terminals, terminalsBefore, 'no terminal was opened or closed');
    const view = await shareOf(host.client, session.id);
    assert.deepEqual(view.participants.filter((guest) => guest.name === 'real').map((guest) => guest.role), ['editor'], 'the real guest is still the only editor named so');
  }

  function tally(status: number | 'closed'): void {
    if (status === 401) counts.unauthorized++;
    if (status === 429) counts.limited++;
  }

  before(async () => {
    const workspace = await host.createWorkspace('target', { kind: 'collaborative' });
    session = await host.startSession(workspace.id);
    otherSession = await host.newSession('bystander', { kind: 'collaborative' });
    hostTerminals = new TerminalWatcher(host.client);
    guestTerminals = new TerminalWatcher(guest.client);
    terminalId = (await hostTerminals.open({ sessionId: session.id })).terminal.id;
    privateTerminalId = (await hostTerminals.open({ sessionId: session.id, private: true })).terminal.id;
    otherTerminalId = (await hostTerminals.open({ sessionId: otherSession.id })).terminal.id;
    await hostTerminals.run(otherTerminalId, 'echo bystander-$((1+1))', /bystander-2\n/);
    share = await host.client.request(P.StartShareRequest.type, { sessionId: session.id, approval: 'ask', defaultRole: 'viewer' });
    port = codeParts(share.code).port;

    const joining = guest.client.request(P.JoinShareRequest.type, { code: share.code, name: 'real' });
    const pending = await pendingRequest(host.client, session.id, 'real');
    await host.client.request(P.AnswerJoinRequest.type, { requestId: pending.id, allow: true, role: 'editor' });
    realGuest = await joining;
    realTerminal = `shared.${realGuest.id}.${terminalId}`;
    await guestTerminals.open({ sessionId: realGuest.sessionId, terminalId: realTerminal });
    await guestTerminals.run(realTerminal, 'echo ready-$((1+1))', /ready-2\n/);
    files = await workspaceListing(host.client, session.id);
    terminalsBefore = (await host.client.request(P.ListTerminalsRequest.type, {})).map((terminal) => terminal.id).sort();
    counts = { unauthorized: 0, limited: 0 };
  });

  it('answers 401 to wrong secrets of the right shape, then 429 from the same address (a few hundred attempts)', async () => {
    const secret = codeParts(share.code).secret;
    for (let round = 0; round < 8; round++) {
      const from = attackerAddress();
      const statuses: Array<number | 'closed'> = [];
      for (let attempt = 0; attempt < 25; attempt++) {
        const status = await upgradeStatus(port, { localAddress: from, headers: { authorization: `Bearer ${randomSecret()}`, 'sandkasten-share-version': '1' } });
        tally(status);
        statuses.push(status);
      }
      assert.deepEqual(statuses, [...Array<number>(10).fill(401), ...Array<number>(15).fill(429)], `from ${from}`);
      // Once limited, even the right secret is not looked at.
      assert.equal(await upgradeStatus(port, { localAddress: from, headers: { authorization: `Bearer ${secret}`, 'sandkasten-share-version': '1' } }), 429);
    }
    // Many connections at once from one address: none gets in.
    const from = attackerAddress();
    const burst = await Promise.all(Array.from({ length: 40 }, () => RawGuest.connect(port, { authorization: `Bearer ${randomSecret()}`, localAddress: from })));
    for (const outcome of burst) {
      assert.ok(!(outcome instanceof RawGuest), 'a forged secret never gets a socket');
      assert.ok('status' in outcome && (outcome.status === 401 || outcome.status === 429), JSON.stringify(outcome));
      tally((outcome as { status: number }).status);
    }
    assert.equal(burst.filter((outcome) => 'status' in outcome && outcome.status === 401).length, 10, 'exactly ten are heard out from one address');
    assert.equal((await shareOf(host.client, session.id)).pending.length, 0, 'no forged attempt became a join request');
    await hostStillServes();
  });

  it('answers 401 to missing and garbage Authorization headers', async () => {
    const secret = codeParts(share.code).secret;
    const headers: Array<string | undefined> = [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      `Basic ${Buffer.from('user:pass').toString('base64')}`,
      `bearer ${randomSecret()}`,
      `Bearer ${secret} extra`,
      `Bearer ${secret}=`,
      `Bearer  ${secret}`,
      `Bearer ${'A'.repeat(129)}`,
      'Bearer ../../../../etc/passwd',
      `Guest ${secret}`,
      `Guest ${randomSecret()}`,
      `Bearer ${secret.slice(0, 42)}`,
      `Token ${secret}`,
      `Bearer ${encodeURIComponent('ä').repeat(10)}`,
    ];
    let from = attackerAddress();
    let used = 0;
    for (const authorization of headers) {
      if (used === 9) {
        from = attackerAddress();
        used = 0;
      }
      used++;
      const status = await upgradeStatus(port, { localAddress: from, headers: { ...(authorization === undefined ? {} : { authorization }), 'sandkasten-share-version': '1' } });
      tally(status);
      assert.equal(status, 401, `Authorization ${JSON.stringify(authorization)}`);
    }
    await hostStillServes();
  });

  it('answers 400 to a wrong or missing version header and 404 to other paths, with any secret', async () => {
    const secret = codeParts(share.code).secret;
    const from = attackerAddress();
    for (const version of [undefined, '', '0', '2', '1.0', ' 1x', '01', 'v1']) {
      for (const authorization of [`Bearer ${secret}`, `Bearer ${randomSecret()}`]) {
        const status = await upgradeStatus(port, { localAddress: from, headers: { authorization, ...(version === undefined ? {} : { 'sandkasten-share-version': version }) } });
        assert.equal(status, 400, `version ${JSON.stringify(version)}`);
      }
    }
    for (const path of ['/', '/share/', '/Share', '/sharex', '/share/../etc', '/api', '/share%00']) {
      const status = await upgradeStatus(port, { localAddress: from, path, headers: { authorization: `Bearer ${secret}`, 'sandkasten-share-version': '1' } });
      assert.equal(status, 404, path);
    }
    // Neither counted as refused secrets: this address is not limited.
    assert.equal(await upgradeStatus(port, { localAddress: from, headers: { authorization: `Bearer ${randomSecret()}`, 'sandkasten-share-version': '1' } }), 401);
    counts.unauthorized++;
    // A plain request (no upgrade) is told what this is.
    const plain = await rawExchange(port, 'GET /share HTTP/1.1\r\nHost: x\r\n\r\n', { localAddress: from });
    assert.match(plain.reply, /^HTTP\/1\.1 426/);
    assert.equal((await shareOf(host.client, session.id)).pending.length, 0);
    await hostStillServes();
  });

  it('refuses old secrets after a revoke and after a share stopped, and replayed guest tokens after removal or leaving', async () => {
    const from = attackerAddress();
    const header = (authorization: string) => ({ localAddress: from, headers: { authorization, 'sandkasten-share-version': '1' } });

    // A guest that is removed, one that leaves: their tokens are worth nothing afterwards.
    const removed = await admit('removed', 'editor');
    const removedToken = String(removed.welcome()!.guestToken);
    const left = await admit('left', 'viewer');
    const leftToken = String(left.welcome()!.guestToken);
    const removedId = (await participant(host.client, session.id, 'removed'))!.id;
    await host.client.request(P.RemoveGuestRequest.type, { sessionId: session.id, guestId: removedId });
    assert.match(String((await removed.next((message) => message.t === 'ended')).reason), /removed/);
    assert.equal(await removed.closed, REFUSED);
    left.send({ t: 'leave' });
    await left.closed;
    for (const token of [removedToken, leftToken]) {
      const status = await upgradeStatus(port, header(`Guest ${token}`));
      tally(status);
      assert.equal(status, 401, 'a token of a guest who is gone');
      const asBearer = await upgradeStatus(port, header(`Bearer ${token}`));
      tally(asBearer);
      assert.equal(asBearer, 401, 'a guest token is no link secret');
    }

    // The link is replaced: the old one is refused, the real guest stays.
    const oldSecret = codeParts(share.code).secret;
    share = await host.client.request(P.RevokeShareLinkRequest.type, { sessionId: session.id });
    const afterRevoke = await upgradeStatus(port, header(`Bearer ${oldSecret}`));
    tally(afterRevoke);
    assert.equal(afterRevoke, 401);

    // A share that stopped: its secret is refused (the endpoint stays up for this one).
    const stopped = await host.client.request(P.StartShareRequest.type, { sessionId: otherSession.id, approval: 'anyone' });
    const visitor = await RawGuest.join(port, codeParts(stopped.code).secret, 'visitor');
    const visitorToken = String(visitor.welcome()!.guestToken);
    await host.client.request(P.StopShareRequest.type, { sessionId: otherSession.id });
    await visitor.closed;
    for (const authorization of [`Bearer ${codeParts(stopped.code).secret}`, `Guest ${visitorToken}`]) {
      const status = await upgradeStatus(port, header(authorization));
      tally(status);
      assert.equal(status, 401, authorization.split(' ')[0]);
    }
    assert.deepEqual((await host.client.request(P.ListSharesRequest.type, {})).map((candidate) => candidate.sessionId), [session.id]);
    await hostStillServes();
  });

  it('cuts off a waiting guest that talks, cleans names, and answers 503 when too many wait or too many are in', async () => {
    const secret = codeParts(share.code).secret;
    // Waiting for the host's answer, a guest may only wait: anything it sends ends its request.
    const talker = await RawGuest.join(port, secret, 'talker');
    await pendingRequest(host.client, session.id, 'talker');
    talker.send({ t: 'req', id: 1, op: 'terminals' });
    await talker.closed;
    await waitFor('the talker\'s request to be withdrawn', async () => ((await shareOf(host.client, session.id)).pending.some((pending) => pending.name === 'talker') ? undefined : true));
    assert.equal(talker.messages.some((message) => message.t === 'res' || message.t === 'welcome'), false);

    // A name is shown as text: control characters, escapes and direction overrides are taken out.
    const spoofer = await RawGuest.join(port, secret, '\u202eadmin\x1b[2J\u0007 (host)\u200b');
    const shown = await waitFor('the spoofer to ask', async () => (await shareOf(host.client, session.id)).pending.find((pending) => pending.name.includes('admin')));
    assert.equal(shown.name, 'admin[2J (host)');
    spoofer.close();

    // At most 16 wait at once; the 17th is told the share is full (503), not let in.
    const waiting: RawGuest[] = [];
    for (let index = 0; index < 16; index++) waiting.push(await RawGuest.join(port, secret, `queue-${index}`));
    await waitFor('16 waiting requests', async () => ((await shareOf(host.client, session.id)).pending.length === 16 ? true : undefined));
    assert.equal(await upgradeStatus(port, { localAddress: attackerAddress(), headers: { authorization: `Bearer ${secret}`, 'sandkasten-share-version': '1' } }), 503);
    for (const raw of waiting) raw.close();
    await waitFor('the queue to empty', async () => ((await shareOf(host.client, session.id)).pending.length === 0 ? true : undefined));

    // At most 64 guests in one share; the 65th is told it is full.
    const crowded = await host.client.request(P.StartShareRequest.type, { sessionId: otherSession.id, approval: 'anyone', defaultRole: 'viewer' });
    const crowdSecret = codeParts(crowded.code).secret;
    const crowd = await Promise.all(Array.from({ length: 64 }, (_, index) => RawGuest.join(port, crowdSecret, `crowd-${index}`)));
    assert.ok(crowd.every((raw) => raw.welcome()), 'all 64 were welcomed');
    assert.equal(await upgradeStatus(port, { localAddress: attackerAddress(), headers: { authorization: `Bearer ${crowdSecret}`, 'sandkasten-share-version': '1' } }), 503);
    await host.client.request(P.StopShareRequest.type, { sessionId: otherSession.id });
    await Promise.all(crowd.map((raw) => raw.closed));
    await hostStillServes();
  });

  it('cuts off oversized headers and connections that never finish their request (slowloris)', async () => {
    const from = attackerAddress();
    const secret = codeParts(share.code).secret;
    const huge = await upgradeStatus(port, { localAddress: from, headers: { authorization: `Bearer ${secret}${'A'.repeat(64 * 1024)}`, 'sandkasten-share-version': '1' } });
    assert.ok(huge === 431 || huge === 'closed' || huge === 401, `a 64 KiB header: ${huge}`);
    tally(huge);
    const many: Record<string, string> = { 'sandkasten-share-version': '1', authorization: `Bearer ${randomSecret()}` };
    for (let index = 0; index < 3000; index++) many[`x-filler-${index}`] = 'y'.repeat(8);
    const manyStatus = await upgradeStatus(port, { localAddress: from, headers: many });
    assert.ok(manyStatus === 431 || manyStatus === 'closed', `3000 headers: ${manyStatus}`);
    const longName = await upgradeStatus(port, { localAddress: from, headers: { authorization: `Bearer ${randomSecret()}`, 'sandkasten-share-version': '1', 'sandkasten-guest-name': '%'.repeat(10_000) } });
    tally(longName);
    assert.ok(longName === 401 || longName === 429, `a long broken name: ${longName}`);

    // Slowloris: connections that send nothing, or half a request line, are closed within seconds.
    const started = Date.now();
    const idle = Array.from({ length: 80 }, (_, index) =>
      rawExchange(port, index % 2 === 0 ? '' : 'GET /share HTTP/1.1\r\nHost: x\r\nUpgrade: web', { localAddress: from, limitMs: 20_000 }),
    );
    const outcomes = await Promise.all(idle);
    assert.ok(outcomes.every((outcome) => outcome.closed), 'every idle connection was closed by the host');
    assert.ok(Date.now() - started < 15_000, `closed within ${Date.now() - started} ms`);
    assert.equal((await shareOf(host.client, session.id)).pending.length, 0);
    await hostStillServes();
    // A well-formed upgrade is served again at once.
    assert.equal(await upgradeStatus(port, { localAddress: attackerAddress(), headers: { authorization: `Bearer ${randomSecret()}`, 'sandkasten-share-version': '1' } }), 401);
    counts.unauthorized++;
  });

  it('disconnects an admitted guest that sends malformed JSON, unknown messages, binary frames or oversized input', async () => {
    const hostileMessages: Array<{ what: string; send: (raw: RawGuest) => void; code: number[] }> = [
      { what: 'not JSON', send: (raw) => raw.sendRaw('{"t":"input",'), code: [BAD_MESSAGE] },
      { what: 'a JSON list', send: (raw) => raw.sendRaw('[1,2,3]'), code: [BAD_MESSAGE] },
      { what: 'an unknown type', send: (raw) => raw.send({ t: 'exec', command: 'rm -rf /' }), code: [BAD_MESSAGE] },
      { what: 'a host message', send: (raw) => raw.send({ t: 'role', role: 'editor' }), code: [BAD_MESSAGE] },
      { what: 'a __proto__ type', send: (raw) => raw.sendRaw('{"t":"__proto__","terminalId":"x","data":"y"}'), code: [BAD_MESSAGE] },
      { what: 'an unknown request', send: (raw) => raw.send({ t: 'req', id: 1, op: 'shutdown' }), code: [BAD_MESSAGE] },
      { what: 'a binary frame', send: (raw) => raw.sendRaw(Buffer.from(JSON.stringify({ t: 'input', terminalId, data: 'id\r' })), true), code: [BAD_MESSAGE] },
      { what: 'input over 64 Ki characters', send: (raw) => raw.send({ t: 'input', terminalId, data: `touch /workspace/huge${'x'.repeat(70 * 1024)}\r` }), code: [BAD_MESSAGE] },
      { what: 'a 40 MB message', send: (raw) => raw.sendRaw('x'.repeat(40 * 1024 * 1024)), code: [1009, 1006] },
    ];
    for (const [index, { what, send, code }] of hostileMessages.entries()) {
      const name = `hostile-${index}`;
      const raw = await admit(name, 'editor');
      const attached = await raw.request({ op: 'openTerminal', terminalId, cols: 80, rows: 24 });
      assert.equal(attached.error, undefined);
      send(raw);
      const closed = await Promise.race([raw.closed, sleep(10_000).then(() => -1)]);
      assert.ok(code.includes(closed), `${what}: closed with ${closed}, expected ${code.join(' or ')}`);
      await waitFor(`${name} to show as disconnected`, async () => ((await participant(host.client, session.id, name))?.connected === false ? true : undefined));
      // Its place is kept for a reconnect, but it has been cut off: the host removes it for the record.
      await host.client.request(P.RemoveGuestRequest.type, { sessionId: session.id, guestId: (await participant(host.client, session.id, name))!.id });
    }
    await nothingChanged();
    await hostStillServes();
  });

  it("keeps admitted guests inside the shared session: other sessions' terminals, private terminals, a viewer's writes", async () => {
    const editor = await admit('mallory', 'editor');
    const viewer = await admit('victor', 'viewer');
    const otherBefore = hostTerminals.text(otherTerminalId).length;
    const privateBefore = hostTerminals.text(privateTerminalId).length;

    // The welcome names the shared terminal only.
    const welcomed = editor.welcome()!.terminals as P.TerminalInfo[];
    assert.deepEqual(welcomed.map((terminal) => terminal.id), [terminalId]);
    const listed = await editor.request({ op: 'terminals' });
    assert.deepEqual((listed.result as P.TerminalInfo[]).map((terminal) => terminal.id), [terminalId]);

    for (const target of [otherTerminalId, privateTerminalId, 'term-000000000000', '../' + terminalId, `${terminalId}\u0000`]) {
      const opened = await editor.request({ op: 'openTerminal', terminalId: target, cols: 80, rows: 24 });
      assert.equal(opened.error?.code, 'NotFound', `open ${target}: ${JSON.stringify(opened)}`);
      const closed = await editor.request({ op: 'closeTerminal', terminalId: target });
      assert.equal(closed.error?.code, 'NotFound', `close ${target}: ${JSON.stringify(closed)}`);
      // Keys for a terminal it is not attached to go nowhere; a detach of it does nothing.
      editor.send({ t: 'input', terminalId: target, data: 'echo breach-$((9*9)) > /workspace/breach.txt\r' });
      editor.send({ t: 'detach', terminalId: target });
    }
    // The viewer may look, not touch.
    const viewerAttach = await viewer.request({ op: 'openTerminal', terminalId, cols: 80, rows: 24 });
    assert.equal(viewerAttach.error, undefined);
    viewer.send({ t: 'input', terminalId, data: 'echo breach-$((9*9)) > /workspace/breach.txt\r' });
    const notice = await viewer.next((message) => message.t === 'notice');
    assert.match(String(notice.text), /viewer/);
    for (let index = 0; index < 50; index++) viewer.send({ t: 'input', terminalId, data: `echo breach-${index}\r` });
    const viewerOpen = await viewer.request({ op: 'openTerminal', cols: 80, rows: 24 });
    assert.equal(viewerOpen.error?.code, 'Forbidden');
    const viewerClose = await viewer.request({ op: 'closeTerminal', terminalId });
    assert.equal(viewerClose.error?.code, 'Forbidden');
    for (const call of [
      { call: 'writeFile', path: '/breach.txt', content: Buffer.from('x').toString('base64') },
      { call: 'delete', path: '/', recursive: true },
      { call: 'rename', path: '/', to: '/gone' },
      { call: 'createDirectory', path: '/breach' },
    ]) {
      const answer = await viewer.request({ op: 'file', ...call });
      assert.equal(answer.error?.code, 'Forbidden', `${call.call} by a viewer: ${JSON.stringify(answer)}`);
    }
    assert.ok(viewer.messages.filter((message) => message.t === 'notice').length <= 2, 'refused keystrokes are answered with a notice now and then, not each');
    await sleep(1000);
    assert.doesNotMatch(hostTerminals.plain(otherTerminalId).slice(otherBefore), /breach/, "nothing reached the other session's shell");
    assert.doesNotMatch(hostTerminals.plain(privateTerminalId).slice(privateBefore), /breach/, "nothing reached the host's private shell");
    assert.doesNotMatch(hostTerminals.plain(terminalId), /breach-81/, 'nothing reached the shared shell');
    assert.equal((await exec(host.client, otherSession.id, ['test', '-e', '/workspace/breach.txt'])).exitCode, 1);
    assert.equal(editor.messages.some((message) => message.t === 'output' && message.terminalId !== terminalId), false, "the editor never got another terminal's output");
    for (const raw of [editor, viewer]) {
      raw.send({ t: 'leave' });
      await raw.closed;
    }
    await nothingChanged();
    await hostStillServes();
  });

  it('refuses path traversal in file requests, and writes nothing outside /workspace', async () => {
    const editor = await admit('traverser', 'editor');
    const content = Buffer.from('pwned\n').toString('base64');
    /** The answers a refused path may get; Internal would mean the host did not see it coming. */
    const REFUSALS = new Set(['InvalidInput', 'NotFound', 'Forbidden', 'Conflict', 'Exists']);
    const paths = ['/../etc/passwd', '..', '/..', '../etc/passwd', '/a/../../etc/passwd', '/./etc', '/workspace/../etc/passwd', '/%2e%2e/etc/passwd', 'etc/passwd', '/\u0000/etc', '//etc/passwd/..'];
    for (const path of paths) {
      const read = await editor.request({ op: 'file', call: 'readFile', path });
      const leaked = read.result as { content?: string } | undefined;
      assert.ok(read.error || !Buffer.from(leaked?.content ?? '', 'base64').toString().includes('root:'), `reading ${JSON.stringify(path)} leaked /etc/passwd`);
      if (read.error) assert.ok(REFUSALS.has(read.error.code), `reading ${JSON.stringify(path)}: ${JSON.stringify(read.error)}`);
      const written = await editor.request({ op: 'file', call: 'writeFile', path: `${path}/pwned`, content, create: true, overwrite: true });
      assert.ok(written.error && REFUSALS.has(written.error.code), `writing ${JSON.stringify(path)}/pwned: ${JSON.stringify(written)}`);
      const renamed = await editor.request({ op: 'file', call: 'rename', path: '/', to: path });
      assert.ok(renamed.error && REFUSALS.has(renamed.error.code), `renaming / to ${JSON.stringify(path)}: ${JSON.stringify(renamed)}`);
      const watched = await editor.request({ op: 'watch', watchId: 1, path, recursive: true });
      assert.ok(watched.error || watched.result === null, `watch ${JSON.stringify(path)}`);
    }
    // A symbolic link out of the workspace does not lead a guest out.
    await exec(host.client, session.id, ['ln', '-sfn', '/etc', '/workspace/etc-link']);
    const throughLink = await editor.request({ op: 'file', call: 'writeFile', path: '/etc-link/pwned', content, create: true, overwrite: true });
    assert.equal(throughLink.error?.code, 'Forbidden', JSON.stringify(throughLink));
    const readLink = await editor.request({ op: 'file', call: 'readFile', path: '/etc-link/passwd' });
    assert.equal(readLink.error?.code, 'Forbidden', JSON.stringify(readLink));
    await exec(host.client, session.id, ['rm', '-f', '/workspace/etc-link']);
    const pwned = await exec(host.client, session.id, ['sh', '-c', 'ls / /etc /tmp | grep -c pwned || true']);
    assert.equal(pwned.stdout.trim(), '0', 'nothing was written outside /workspace');
    editor.send({ t: 'leave' });
    await editor.closed;
    await nothingChanged();
    await hostStillServes();
  });

  it('answers too many requests in flight with an error, and keeps serving', async () => {
    const viewer = await admit('flood', 'viewer');
    const from = viewer.messages.length;
    const total = 200;
    for (let id = 1000; id < 1000 + total; id++) viewer.send({ t: 'req', id, op: 'file', call: 'stat', path: '/' });
    await waitFor('every flooded request to be answered', () => (viewer.messages.slice(from).filter((message) => message.t === 'res').length >= total ? true : undefined), 60_000);
    const answers = viewer.messages.slice(from).filter((message) => message.t === 'res') as Array<{ error?: { code: string; message: string } }>;
    const tooMany = answers.filter((answer) => answer.error && /Too many requests/.test(answer.error.message));
    assert.ok(tooMany.length > 0, `some of ${total} requests at once were turned away (${JSON.stringify(answers.slice(0, 3))})`);
    assert.ok(answers.some((answer) => !answer.error), 'the others were answered');
    assert.ok(viewer.isOpen, 'a flood of valid requests is not a reason to disconnect');
    const after = await viewer.request({ op: 'terminals' });
    assert.deepEqual((after.result as P.TerminalInfo[]).map((terminal) => terminal.id), [terminalId]);
    viewer.send({ t: 'leave' });
    await viewer.closed;
    await hostStillServes();
  });

  it('drops a guest that stops reading instead of holding the shell back', async () => {
    const slowTerminal = (await hostTerminals.open({ sessionId: session.id })).terminal.id;
    await hostTerminals.run(slowTerminal, 'echo ready-$((1+1))', /ready-2\n/);
    const slow = await admit('sleeper', 'viewer');
    const attached = await slow.request({ op: 'openTerminal', terminalId: slowTerminal, cols: 80, rows: 24 });
    assert.equal(attached.error, undefined);
    // It stops reading: the TCP window fills, the host's send buffer grows.
    slow.socket.pause();
    const started = Date.now();
    hostTerminals.type(slowTerminal, 'yes 0123456789abcdef0123456789abcdef | head -c 24000000; echo flood-$((2*21))\r');
    await hostTerminals.waitForOutput(slowTerminal, /flood-42/, 0, 120_000);
    const tookMs = Date.now() - started;
    await waitFor('the sleeper to be cut off', async () => ((await participant(host.client, session.id, 'sleeper'))?.connected === false ? true : undefined), 30_000);
    slow.socket.resume();
    await Promise.race([slow.closed, sleep(10_000)]);
    assert.notEqual(slow.closeCode, undefined, 'the sleeper was disconnected');
    await host.client.request(P.RemoveGuestRequest.type, { sessionId: session.id, guestId: (await participant(host.client, session.id, 'sleeper'))!.id });
    await host.client.request(P.CloseTerminalRequest.type, { terminalId: slowTerminal });
    assert.ok(tookMs < 120_000, `the shell printed 24 MB in ${tookMs} ms`);
    await hostStillServes();
  });

  it('turns everyone unknown away once the refusals from many addresses reach the overall limit', async () => {
    const secret = codeParts(share.code).secret;
    let unauthorized = 0;
    let tripped = false;
    for (let round = 0; round < 30 && !tripped; round++) {
      const from = attackerAddress();
      for (let attempt = 0; attempt < 10; attempt++) {
        const status = await upgradeStatus(port, { localAddress: from, headers: { authorization: `Bearer ${randomSecret()}`, 'sandkasten-share-version': '1' } });
        tally(status);
        if (status === 401) unauthorized++;
      }
      // Someone with the link, from an address that never failed (its upgrade, if let through, is dropped at once).
      const fresh = await upgradeStatus(port, { localAddress: `127.0.1.${round + 1}`, headers: { authorization: `Bearer ${secret}`, 'sandkasten-share-version': '1' } });
      if (fresh === 429) tripped = true;
      else assert.equal(fresh, 101, 'the link works from a fresh address until the limit trips');
    }
    assert.ok(tripped, `after ${unauthorized} refusals in this round the overall limit never tripped`);
    assert.ok(unauthorized <= 200, `${unauthorized} refusals before everyone was turned away`);
    // The guest already connected is not disturbed.
    const joined = await joinedShare(guest.client, realGuest.id);
    assert.equal(joined?.state, 'connected');
    await guestTerminals.run(realTerminal, 'echo still-$((6+6))', /still-12\n/);
    assert.ok(counts.unauthorized > 100 && counts.limited > 100, `a few hundred attempts: ${JSON.stringify(counts)}`);
  });

  it('records the refused attempts, counted, in the history of "(share endpoint)"', async () => {
    // Written once a minute, and when the sidecar stops: stop it and read the history from the next one.
    await host.shutdown();
    await host.reconnect();
    const events = await host.client.request(P.WorkspaceHistoryRequest.type, { id: '(share endpoint)' });
    const refused = events.filter((event) => event.kind === 'refused');
    assert.ok(refused.length > 0, JSON.stringify(events));
    const total = refused.reduce((sum, event) => sum + Number(/(\d+) join attempts?/.exec(event.reason)?.[1] ?? 0), 0);
    assert.equal(total, counts.unauthorized, `the history counts every 401 (${refused.map((event) => event.reason).join('; ')})`);
    const ended = await waitFor('the guest to hear that the host stopped', async () => {
      const joined = await joinedShare(guest.client, realGuest.id);
      return joined?.state === 'ended' ? joined : undefined;
    });
    assert.match(ended.endedReason ?? '', /stopped/);
    await guest.client.request(P.LeaveShareRequest.type, { joinedShareId: realGuest.id });
  });
});

describe('the share endpoint against a request target that is not a URL', () => {
  const host = useSidecar();
  let workspaceId: string;

  before(async () => {
    workspaceId = (await host.createWorkspace('crash', { kind: 'collaborative' })).id;
  });

  /** The share's port; a host that went down (a failed case before) is started and shares again, so each case stands alone. */
  async function sharedPort(): Promise<number> {
    if (processGone(host.pid)) await host.reconnect();
    const shares = await host.client.request(P.ListSharesRequest.type, {});
    if (shares[0]) return codeParts(shares[0].code).port;
    const session = await host.startSession(workspaceId);
    return codeParts((await host.client.request(P.StartShareRequest.type, { sessionId: session.id })).code).port;
  }

  for (const target of ['http://[', '//[', 'http://x:99999/share', 'http://a:b@[::1']) {
    it(`stays up after an upgrade request for ${JSON.stringify(target)}`, async () => {
      const port = await sharedPort();
      const request = `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.alloc(16).toString('base64')}\r\nSandkasten-Share-Version: 1\r\n\r\n`;
      const answer = await rawExchange(port, request, { localAddress: '127.0.0.250', limitMs: 5000 });
      assert.ok(answer.closed, 'the connection was closed');
      await sleep(500);
      assert.equal(processGone(host.pid), false, `the host sidecar survived; its log ends with:\n${host.logTail(15)}`);
      const status = await host.client.request(P.StatusRequest.type, {});
      assert.equal(status.pid, host.pid);
      assert.equal((await host.client.request(P.ListSharesRequest.type, {})).length, 1, 'the share is still up');
    });
  }
});

/**
 * Behind an SSH tunnel (the way the docs reach a loopback endpoint) every guest comes from
 * 127.0.0.1: someone's wrong attempts limit that address. A guest already in holds a resume
 * token; its reconnect must not be lost to someone else's noise.
 */
describe('a guest that shares its address with someone guessing secrets', () => {
  const [host, guest] = useSidecars(2);
  let proxy: TcpProxy | undefined;

  it('comes back after a dropped connection although its address is being turned away (429)', async () => {
    const session = await host.newSession('tunnel', { kind: 'collaborative' });
    const share = await host.client.request(P.StartShareRequest.type, { sessionId: session.id, approval: 'ask' });
    const port = codeParts(share.code).port;
    proxy = new TcpProxy(port);
    await proxy.listen();
    const joined = await joinThroughHost(host.client, guest.client, session.id, codeAtPort(share.code, proxy.port), 'tunnelled', 'editor');
    try {
      // Someone on the same machine (the tunnel's address) tries ten wrong links.
      for (let attempt = 0; attempt < 10; attempt++) {
        assert.equal(await upgradeStatus(port, { headers: { authorization: `Bearer ${randomSecret()}`, 'sandkasten-share-version': '1' } }), 401);
      }
      assert.equal(await upgradeStatus(port, { headers: { authorization: `Bearer ${randomSecret()}`, 'sandkasten-share-version': '1' } }), 429);

      proxy.drop();
      const deadline = Date.now() + 75_000;
      let state: P.JoinedShareInfo | undefined;
      for (;;) {
        state = await joinedShare(guest.client, joined.id);
        if (state?.state === 'ended') assert.fail(`the guest gave up for good: ${state.endedReason ?? ''}`);
        if (state?.state === 'connected' && proxy.connections >= 2) break;
        assert.ok(Date.now() < deadline, `still ${state?.state} after 75 s`);
        await sleep(200);
      }
      assert.equal((await participant(host.client, session.id, 'tunnelled'))?.connected, true);
    } finally {
      await guest.client.request(P.LeaveShareRequest.type, { joinedShareId: joined.id }).catch(() => undefined);
      await proxy.close();
    }
  });
});
