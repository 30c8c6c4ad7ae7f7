/**
 * The extension's share UI without VS Code: what the join box accepts, what a change of the
 * share lists tells the person, and the words of the rows.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JoinedShareInfo, JoinRequestInfo, ParticipantInfo, ShareInfo, TerminalInfo } from '../../sidecar/client/protocol';
import { codeFromLinkQuery, readJoinInput } from '../../src/share/joinCode';
import { shareEvents, type ShareSnapshot } from '../../src/share/shareEvents';
import {
  markdownText,
  ALLOW,
  answerFor,
  DENY,
  joinedSessionDescription,
  joinedSessionLabel,
  joinRequestQuestion,
  otherRoleButton,
  participantDescription,
  shareDescription,
  terminalToOpen,
} from '../../src/share/shareText';

const SECRET = 'a'.repeat(43);
const CODE = `ws://127.0.0.1:41234/share#${SECRET}`;
const FINGERPRINT = 'f'.repeat(64);
const TLS_CODE = `wss://host.example:8443/share?fp=${FINGERPRINT}#${SECRET}`;
const link = (code: string) => `vscode://sandkasten.sandkasten/join?code=${encodeURIComponent(code)}`;

function share(overrides: Partial<ShareInfo> = {}): ShareInfo {
  return {
    sessionId: 'ses-1',
    workspaceId: 'api-1',
    workspaceName: 'api',
    startedAt: '2025-01-01T10:00:00.000Z',
    code: CODE,
    link: link(CODE),
    endpoint: 'ws://127.0.0.1:41234',
    defaultRole: 'viewer',
    approval: 'ask',
    participants: [],
    pending: [],
    ...overrides,
  };
}

function guest(id: string, overrides: Partial<ParticipantInfo> = {}): ParticipantInfo {
  return { id, name: id, role: 'viewer', since: '2025-01-01T10:05:00.000Z', connected: true, address: '127.0.0.1:5555', ...overrides };
}

function request(id: string, overrides: Partial<JoinRequestInfo> = {}): JoinRequestInfo {
  return { id, sessionId: 'ses-1', name: 'alice', address: '127.0.0.1:5555', role: 'viewer', askedAt: '2025-01-01T10:04:00.000Z', ...overrides };
}

function terminal(id: string, state: TerminalInfo['state'] = 'live'): TerminalInfo {
  return { id, sessionId: 'shared.j1', name: id, cwd: '/workspace', state, createdAt: '2025-01-01T10:00:00.000Z', attached: 0 };
}

function joined(overrides: Partial<JoinedShareInfo> = {}): JoinedShareInfo {
  return {
    id: 'j1',
    sessionId: 'shared.j1',
    hostSessionId: 'ses-9',
    hostName: 'bob',
    workspaceName: 'web',
    image: 'debian',
    role: 'viewer',
    state: 'connected',
    joinedAt: '2025-01-01T10:00:00.000Z',
    participants: [],
    terminals: [],
    ...overrides,
  };
}

const snapshot = (shares: ShareInfo[] = [], joinedShares: JoinedShareInfo[] = []): ShareSnapshot => ({ shares, joined: joinedShares });

describe('the join input', () => {
  it('takes a code, a TLS code with its fingerprint, or the link around either', () => {
    assert.deepEqual(readJoinInput(CODE), { code: CODE, address: '127.0.0.1:41234' });
    assert.deepEqual(readJoinInput(`  ${TLS_CODE}\n`), { code: TLS_CODE, address: 'host.example:8443' });
    assert.deepEqual(readJoinInput(link(CODE)), { code: CODE, address: '127.0.0.1:41234' });
    assert.deepEqual(readJoinInput(link(TLS_CODE)), { code: TLS_CODE, address: 'host.example:8443' });
    // code-server and Insiders open the same link under their own scheme.
    assert.deepEqual(readJoinInput(`vscode-insiders://sandkasten.sandkasten/join?code=${encodeURIComponent(CODE)}`), { code: CODE, address: '127.0.0.1:41234' });
  });

  it('says what is wrong before anything is sent', () => {
    const problem = (input: string) => {
      const read = readJoinInput(input);
      assert.ok('problem' in read, `${input} is refused`);
      return read.problem;
    };
    assert.match(problem(''), /vscode:\/\/.*ws:\/\//);
    assert.match(problem('hello'), /not a Sandkasten join link/);
    assert.match(problem('https://example.com/share'), /no join code/);
    assert.match(problem('ws://127.0.0.1:41234/share'), /incomplete/);
    assert.match(problem('ws://127.0.0.1:41234/share#'), /incomplete/);
    assert.match(problem('ws://127.0.0.1:41234/other#abc'), /no share endpoint/);
    assert.match(problem(`wss://host:1/share#${SECRET}`), /fingerprint/);
    assert.match(problem(link('http://host/share#abc')), /ws:\/\/ or wss:\/\//);
    assert.match(problem(`ws://h/share#${'a'.repeat(5000)}`), /too long/);
  });

  it('reads the code of a link as VS Code hands its query over, decoded once', () => {
    assert.equal(codeFromLinkQuery(`code=${CODE}`), CODE);
    assert.equal(codeFromLinkQuery(`code=${TLS_CODE}`), TLS_CODE);
    assert.equal(codeFromLinkQuery(`code=${encodeURIComponent(CODE)}`), CODE);
    assert.equal(codeFromLinkQuery('other=1'), undefined);
  });
});

describe('share events', () => {
  it('asks about the requests waiting at the first reading, and about nothing else then', () => {
    const first = snapshot([share({ pending: [request('jr-1')], participants: [guest('g-1')] })], [joined({ state: 'ended' })]);
    assert.deepEqual(
      shareEvents(undefined, first).map((event) => event.kind),
      ['joinRequest'],
    );
  });

  it('asks once per request: a request still waiting is not news', () => {
    const before = snapshot([share({ pending: [request('jr-1')] })]);
    const after = snapshot([share({ pending: [request('jr-1'), request('jr-2', { name: 'carol' })] })]);
    const events = shareEvents(before, after);
    assert.equal(events.length, 1);
    assert.ok(events[0].kind === 'joinRequest' && events[0].request.id === 'jr-2');
  });

  it('tells who came in and who went, but not every guest of a share that stopped', () => {
    const before = snapshot([share({ participants: [guest('g-1'), guest('g-2')] }), share({ sessionId: 'ses-2', participants: [guest('g-3')] })]);
    const after = snapshot([share({ participants: [guest('g-2'), guest('g-4')] })]);
    const events = shareEvents(before, after).map((event) => (event.kind === 'guestJoined' || event.kind === 'guestLeft' ? `${event.kind} ${event.participant.id}` : event.kind));
    assert.deepEqual(events, ['guestJoined g-4', 'guestLeft g-1']);
  });

  it('tells the guests of a share started meanwhile as newcomers', () => {
    const events = shareEvents(snapshot(), snapshot([share({ participants: [guest('g-1')] })]));
    assert.deepEqual(
      events.map((event) => event.kind),
      ['guestJoined'],
    );
  });

  it('tells a guest that their role changed, or that the session ended (once)', () => {
    const before = snapshot([], [joined({ id: 'j1' }), joined({ id: 'j2' }), joined({ id: 'j3', state: 'ended' })]);
    const after = snapshot([], [joined({ id: 'j1', role: 'editor' }), joined({ id: 'j2', state: 'ended', endedReason: 'The host stopped sharing.' }), joined({ id: 'j3', state: 'ended' })]);
    assert.deepEqual(
      shareEvents(before, after).map((event) => ('joined' in event ? `${event.kind} ${event.joined.id}` : event.kind)),
      ['roleChanged j1', 'joinedEnded j2'],
    );
  });

  it('says nothing about a session we left: it is gone from the list, not ended', () => {
    assert.deepEqual(shareEvents(snapshot([], [joined()]), snapshot()), []);
  });
});

describe('share words', () => {
  it('describes a share by its guests and the people waiting', () => {
    assert.equal(shareDescription(share()), 'shared · no guests yet');
    assert.equal(shareDescription(share({ participants: [guest('g-1')] })), 'shared · 1 guest');
    assert.equal(shareDescription(share({ participants: [guest('g-1'), guest('g-2')], pending: [request('jr-1')] })), 'shared · 2 guests · 1 asking to join');
  });

  it('describes a guest by role and since when, and says when their connection is down', () => {
    const time = () => '14:02';
    assert.equal(participantDescription(guest('g-1'), time), 'viewer · since 14:02');
    assert.equal(participantDescription(guest('g-1', { role: 'editor', connected: false }), time), 'editor · since 14:02 (reconnecting)');
  });

  it('names a joined session by workspace and host, with our role and its state', () => {
    assert.equal(joinedSessionLabel(joined()), 'web (bob)');
    assert.equal(joinedSessionDescription(joined()), 'viewer · connected');
    assert.equal(joinedSessionDescription(joined({ role: 'editor', state: 'reconnecting' })), 'editor · reconnecting…');
    assert.equal(joinedSessionDescription(joined({ state: 'ended', endedReason: 'The host stopped sharing.' })), 'ended: The host stopped sharing.');
  });

  it('asks about a join request with the guest\'s name and address, and maps each button to an answer', () => {
    assert.equal(joinRequestQuestion(request('jr-1'), 'api'), '"alice" (127.0.0.1:5555) asks to join api as viewer.');
    const viewer = request('jr-1');
    assert.equal(otherRoleButton('viewer'), 'Allow as Editor');
    assert.deepEqual(answerFor(ALLOW, viewer), { allow: true });
    assert.deepEqual(answerFor('Allow as Editor', viewer), { allow: true, role: 'editor' });
    assert.deepEqual(answerFor('Allow as Viewer', request('jr-2', { role: 'editor' })), { allow: true, role: 'viewer' });
    assert.deepEqual(answerFor(DENY, viewer), { allow: false });
    assert.equal(answerFor(undefined, viewer), undefined, 'a closed notification leaves the request waiting');
  });

  it('lands a guest in the first live terminal, a new one for an editor, or none for a viewer', () => {
    assert.deepEqual(terminalToOpen(joined({ terminals: [terminal('t1', 'dormant'), terminal('t2')] })), { terminal: terminal('t2') });
    assert.equal(terminalToOpen(joined({ role: 'editor' })), 'new');
    assert.equal(terminalToOpen(joined({ role: 'editor', terminals: [terminal('t1', 'dormant')] })), 'new');
    assert.equal(terminalToOpen(joined()), 'none');
  });
});

describe('markdownText: other people\'s words in tooltips', () => {
  it('shows a name as typed: no image, link or emphasis of theirs', () => {
    const shown = markdownText('![x](http://evil.example/p.png) **boss** <b>a.b</b>');
    assert.doesNotMatch(shown, /(^|[^\\])[!*[\]()<>]/, shown);
    assert.equal(shown.replace(/\\(.)/g, '$1'), '![x](http://evil.example/p.png) **boss** <b>a.b</b>');
  });
});
