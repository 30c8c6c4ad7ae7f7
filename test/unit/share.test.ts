import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SandkastenError } from '../../sidecar/errors';
import { Refusals } from '../../sidecar/share/refusals';
import { EXTENSION_ID, formatCode, formatLink, parseCode } from '../../sidecar/share/shareLink';
import {
  cleanName,
  MAX_INPUT_CHARS,
  MAX_MESSAGE_BYTES,
  MAX_NAME_CHARS,
  parseGuestMessage,
  parseHostMessage,
  READING_FILE_CALLS,
  SHARE_PATH,
  WIRE_VERSION,
  type GuestMessage,
  type HostMessage,
} from '../../sidecar/share/wire';
import { FakeClock } from './fakes/clock';

/** A well-formed secret: 32 bytes of base64url, 43 characters. */
const SECRET = 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE';
const FINGERPRINT = 'a'.repeat(32) + '0123456789abcdef'.repeat(2);

function invalidInputOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof SandkastenError, `expected a SandkastenError, got ${String(error)}`);
    assert.equal(error.codeName, 'InvalidInput');
    assert.ok(error.message.length > 0);
    return error.message;
  }
  return assert.fail('expected InvalidInput, but it was accepted');
}

describe('share links and codes', () => {
  it('has a secret of 43 base64url characters in the fixtures', () => {
    assert.equal(SECRET.length, 43);
    assert.equal(FINGERPRINT.length, 64);
  });

  it('formats a plain code as ws://host:port/share#secret and reads it back', () => {
    const code = formatCode({ url: 'ws://127.0.0.1:41234/share', secret: SECRET });
    assert.equal(code, `ws://127.0.0.1:41234/share#${SECRET}`);
    assert.deepEqual(parseCode(code), { url: 'ws://127.0.0.1:41234/share', secret: SECRET, fingerprint: undefined });
  });

  it('formats a TLS code with its pinned fingerprint and reads it back', () => {
    const code = formatCode({ url: 'wss://build.example.org:8443/share', secret: SECRET, fingerprint: FINGERPRINT });
    assert.equal(code, `wss://build.example.org:8443/share?fp=${FINGERPRINT}#${SECRET}`);
    assert.deepEqual(parseCode(code), { url: 'wss://build.example.org:8443/share', secret: SECRET, fingerprint: FINGERPRINT });
  });

  it('reads IPv6 hosts and default ports', () => {
    const v6 = parseCode(`ws://[::1]:4000/share#${SECRET}`);
    assert.equal(v6.url, 'ws://[::1]:4000/share');
    const defaultPort = parseCode(`wss://host.example/share?fp=${FINGERPRINT}#${SECRET}`);
    assert.equal(defaultPort.url, 'wss://host.example/share');
  });

  it('wraps a code in a vscode:// link that reads back to the same code', () => {
    const code = formatCode({ url: 'ws://127.0.0.1:41234/share', secret: SECRET });
    const link = formatLink(code);
    assert.ok(link.startsWith(`vscode://${EXTENSION_ID}/join?code=`), link);
    assert.doesNotMatch(link, /#/, 'the secret\'s # is encoded inside the link');
    assert.deepEqual(parseCode(link), parseCode(code));
    const tls = formatCode({ url: 'wss://h.example:9/share', secret: SECRET, fingerprint: FINGERPRINT });
    assert.deepEqual(parseCode(formatLink(tls)), parseCode(tls));
  });

  it('reads links of other editors\' schemes (code-server, Insiders) and ignores surrounding white space', () => {
    const code = `ws://127.0.0.1:5000/share#${SECRET}`;
    for (const scheme of ['code-oss', 'vscode-insiders', 'vscodium']) {
      const link = `${scheme}://${EXTENSION_ID}/join?code=${encodeURIComponent(code)}`;
      assert.equal(parseCode(link).secret, SECRET, scheme);
    }
    assert.equal(parseCode(`  \n${code}\t `).secret, SECRET);
    assert.equal(parseCode(`\n ${formatLink(code)} \n`).secret, SECRET);
  });

  it('refuses inputs that are not a code or a link', () => {
    const bad = [
      '',
      '   ',
      'hello',
      'not a url at all',
      `http://127.0.0.1:1/share#${SECRET}`,
      `https://127.0.0.1:1/share#${SECRET}`,
      `ftp://127.0.0.1:1/share#${SECRET}`,
      `ws://127.0.0.1:1/other#${SECRET}`,
      `ws://127.0.0.1:1/share/#${SECRET}`,
      `ws://127.0.0.1:1/#${SECRET}`,
      `ws://user:pass@127.0.0.1:1/share#${SECRET}`,
      `ws://user@127.0.0.1:1/share#${SECRET}`,
      `vscode://${EXTENSION_ID}/join`,
      `vscode://${EXTENSION_ID}/join?code=`,
      `vscode://${EXTENSION_ID}/join?code=hello`,
      `vscode://${EXTENSION_ID}/join?code=${encodeURIComponent(`http://x/share#${SECRET}`)}`,
      `ws://${'a'.repeat(5000)}/share#${SECRET}`,
      'javascript:alert(1)',
      'file:///etc/passwd',
    ];
    for (const input of bad) invalidInputOf(() => parseCode(input));
  });

  it('says the secret is missing or cut off', () => {
    for (const input of [
      'ws://127.0.0.1:1/share',
      'ws://127.0.0.1:1/share#',
      `ws://127.0.0.1:1/share#${SECRET.slice(0, 42)}`,
      `ws://127.0.0.1:1/share#${SECRET}A`,
      `ws://127.0.0.1:1/share#${SECRET.slice(0, 42)}+`,
      `ws://127.0.0.1:1/share#${SECRET.slice(0, 42)}=`,
      `ws://127.0.0.1:1/share#${SECRET.slice(0, 40)}%20%20`,
      `vscode://${EXTENSION_ID}/join?code=${encodeURIComponent('ws://127.0.0.1:1/share')}`,
    ]) {
      assert.match(invalidInputOf(() => parseCode(input)), /secret/i, input);
    }
  });

  it('refuses wss without a fingerprint, and damaged fingerprints', () => {
    assert.match(invalidInputOf(() => parseCode(`wss://h.example:1/share#${SECRET}`)), /fingerprint/i);
    for (const fp of ['', FINGERPRINT.slice(1), `${FINGERPRINT}0`, `${FINGERPRINT.slice(1)}g`, FINGERPRINT.replace(/a/g, ':'), `${FINGERPRINT.slice(0, 62)}%00`]) {
      assert.match(invalidInputOf(() => parseCode(`wss://h.example:1/share?fp=${fp}#${SECRET}`)), /fingerprint/i, fp);
    }
  });

  it('never puts the secret in the part of the URL a request line carries', () => {
    const parsed = parseCode(`ws://127.0.0.1:1/share#${SECRET}`);
    assert.doesNotMatch(parsed.url, new RegExp(SECRET));
    assert.ok(parsed.url.endsWith(SHARE_PATH));
  });
});

// ---------------------------------------------------------------------------------------

const guest = (value: unknown) => parseGuestMessage(JSON.stringify(value));
const host = (value: unknown) => parseHostMessage(JSON.stringify(value));

function assertPlainObject(message: object | undefined): void {
  assert.ok(message);
  assert.equal(Object.getPrototypeOf(message), Object.prototype, 'the parsed message has the ordinary prototype');
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was not polluted');
}

describe('the wire: what a guest may send', () => {
  it('speaks version 1 on /share', () => {
    assert.equal(WIRE_VERSION, '1');
    assert.equal(SHARE_PATH, '/share');
  });

  it('accepts every well-formed message', () => {
    const valid: GuestMessage[] = [
      { t: 'input', terminalId: 'term-1', data: 'ls\r' },
      { t: 'input', terminalId: 'term-1', data: '' },
      { t: 'detach', terminalId: 'term-1' },
      { t: 'unwatch', watchId: 3 },
      { t: 'leave' },
      { t: 'req', id: 1, op: 'terminals' },
      { t: 'req', id: 2, op: 'openTerminal', cols: 80, rows: 24 },
      { t: 'req', id: 3, op: 'openTerminal', terminalId: 'term-1', cols: 80, rows: 24 },
      { t: 'req', id: 4, op: 'closeTerminal', terminalId: 'term-1' },
      { t: 'req', id: 5, op: 'file', call: 'stat', path: '/' },
      { t: 'req', id: 6, op: 'file', call: 'writeFile', path: '/a.txt', content: 'aGk=', create: true, overwrite: false },
      { t: 'req', id: 7, op: 'file', call: 'rename', path: '/a', to: '/b', overwrite: true },
      { t: 'req', id: 8, op: 'file', call: 'delete', path: '/a', recursive: true },
      { t: 'req', id: 9, op: 'watch', watchId: 1, path: '/', recursive: true },
      { t: 'req', id: Number.MAX_SAFE_INTEGER, op: 'terminals' },
      { t: 'req', id: 0, op: 'terminals' },
    ];
    for (const message of valid) assert.deepEqual(guest(message), message, JSON.stringify(message));
  });

  it('drops fields it does not know', () => {
    assert.deepEqual(guest({ t: 'input', terminalId: 'x', data: 'y', role: 'editor', admin: true }), { t: 'input', terminalId: 'x', data: 'y' });
    assert.deepEqual(guest({ t: 'leave', everyone: true }), { t: 'leave' });
    assert.deepEqual(guest({ t: 'req', id: 1, op: 'terminals', sessionId: 'ses-other' }), { t: 'req', id: 1, op: 'terminals' });
  });

  it('refuses what is not a JSON object', () => {
    for (const text of ['', ' ', 'null', 'true', '1', '"input"', '[]', '[{"t":"leave"}]', '{', '{"t":"leave"', 'undefined', '\u0000', '{"t":"leave"}{"t":"leave"}']) {
      assert.equal(parseGuestMessage(text), undefined, JSON.stringify(text));
    }
  });

  it('survives absurdly nested JSON', () => {
    assert.equal(parseGuestMessage('['.repeat(200_000) + ']'.repeat(200_000)), undefined);
    assert.equal(parseGuestMessage(`{"t":"leave","x":${'['.repeat(200_000)}${']'.repeat(200_000)}}`)?.t ?? 'leave', 'leave');
  });

  it('refuses unknown kinds, and kinds that are keys of every object', () => {
    for (const t of ['hello', 'welcome', 'output', 'res', 'ended', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '', 1, null, ['leave'], { t: 'leave' }]) {
      assert.equal(guest({ t, terminalId: 'x', data: 'y', watchId: 1 }), undefined, JSON.stringify(t));
    }
    assert.equal(guest({ terminalId: 'x', data: 'y' }), undefined, 'no t at all');
  });

  it('refuses requests with unknown operations, operations that are keys of every object, or that are not strings', () => {
    for (const op of ['exec', 'setRole', 'shutdown', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 7, null, true]) {
      assert.equal(guest({ t: 'req', id: 1, op, cols: 80, rows: 24, call: 'stat', path: '/' }), undefined, JSON.stringify(op));
    }
  });

  it('refuses an operation that is a list naming a known operation (it is not a string)', () => {
    // Object.hasOwn turns ['terminals'] into the key "terminals"; the message must still be refused.
    for (const op of [['terminals'], ['file'], ['openTerminal']]) {
      const parsed = guest({ t: 'req', id: 1, op, cols: 80, rows: 24, call: 'stat', path: '/' });
      assert.equal(parsed, undefined, `op ${JSON.stringify(op)} was accepted as ${JSON.stringify(parsed)}`);
    }
  });

  it('refuses bad request ids', () => {
    for (const id of [-1, 1.5, '1', null, Number.MAX_SAFE_INTEGER + 2, 1e300, true, [1]]) {
      assert.equal(guest({ t: 'req', id, op: 'terminals' }), undefined, JSON.stringify(id));
    }
    assert.equal(guest({ t: 'req', op: 'terminals' }), undefined, 'no id');
  });

  it('limits keystrokes to MAX_INPUT_CHARS per message', () => {
    assert.equal(guest({ t: 'input', terminalId: 'x', data: 'a'.repeat(MAX_INPUT_CHARS) })?.t, 'input');
    assert.equal(guest({ t: 'input', terminalId: 'x', data: 'a'.repeat(MAX_INPUT_CHARS + 1) }), undefined);
    assert.equal(guest({ t: 'input', terminalId: 'x', data: 'a'.repeat(4 * 1024 * 1024) }), undefined);
    for (const data of [1, null, ['a'], { a: 1 }]) assert.equal(guest({ t: 'input', terminalId: 'x', data }), undefined, JSON.stringify(data));
  });

  it('limits ids, paths and terminal sizes', () => {
    assert.equal(guest({ t: 'detach', terminalId: 'x'.repeat(128) })?.t, 'detach');
    for (const terminalId of ['', 'x'.repeat(129), 5, null, { id: 'x' }]) assert.equal(guest({ t: 'detach', terminalId }), undefined, JSON.stringify(terminalId));
    assert.equal(guest({ t: 'req', id: 1, op: 'file', call: 'stat', path: `/${'a'.repeat(4095)}` })?.t, 'req');
    assert.equal(guest({ t: 'req', id: 1, op: 'file', call: 'stat', path: `/${'a'.repeat(4096)}` }), undefined);
    assert.equal(guest({ t: 'req', id: 1, op: 'file', call: 'stat', path: '' }), undefined);
    assert.equal(guest({ t: 'req', id: 1, op: 'file', call: 'rename', path: '/a', to: `/${'b'.repeat(4096)}` }), undefined);
    for (const [cols, rows] of [[0, 24], [80, 0], [65536, 24], [80, 65536], [1.5, 24], ['80', 24], [-80, 24], [null, 24]]) {
      assert.equal(guest({ t: 'req', id: 1, op: 'openTerminal', cols, rows }), undefined, `${String(cols)}x${String(rows)}`);
    }
    assert.equal(guest({ t: 'req', id: 1, op: 'openTerminal', cols: 65535, rows: 65535 })?.t, 'req');
  });

  it('refuses unknown file calls and badly typed file flags', () => {
    for (const call of ['chmod', 'exec', '__proto__', '', 1]) assert.equal(guest({ t: 'req', id: 1, op: 'file', call, path: '/' }), undefined, JSON.stringify(call));
    assert.equal(guest({ t: 'req', id: 1, op: 'file', call: 'delete', path: '/', recursive: 'yes' }), undefined);
    assert.equal(guest({ t: 'req', id: 1, op: 'file', call: 'writeFile', path: '/a', content: 5 }), undefined);
    assert.equal(guest({ t: 'req', id: 1, op: 'file', call: 'writeFile', path: '/a', content: 'x'.repeat(MAX_MESSAGE_BYTES + 1) }), undefined);
  });

  it('refuses watches without their fields, or with ids out of range', () => {
    assert.equal(guest({ t: 'req', id: 1, op: 'watch', watchId: 1, path: '/' }), undefined, 'no recursive');
    assert.equal(guest({ t: 'req', id: 1, op: 'watch', watchId: 2 ** 31 + 1, path: '/', recursive: false }), undefined);
    assert.equal(guest({ t: 'req', id: 1, op: 'watch', watchId: -1, path: '/', recursive: false }), undefined);
    assert.equal(guest({ t: 'unwatch', watchId: 0.5 }), undefined);
  });

  it('ignores __proto__ keys: no prototype is polluted, no field comes in through them', () => {
    const text = '{"t":"input","terminalId":"x","data":"y","__proto__":{"polluted":1,"t":"leave","role":"editor"}}';
    const parsed = parseGuestMessage(text);
    assertPlainObject(parsed);
    assert.deepEqual(parsed, { t: 'input', terminalId: 'x', data: 'y' });
    assert.equal((parsed as unknown as Record<string, unknown>).role, undefined);

    const smuggled = parseGuestMessage('{"__proto__":{"t":"leave"}}');
    assert.equal(smuggled, undefined, 'a t only in the prototype is no t');

    const request = parseGuestMessage('{"t":"req","id":1,"op":"file","call":"stat","path":"/","__proto__":{"call":"delete","recursive":true}}');
    assertPlainObject(request);
    assert.deepEqual(request, { t: 'req', id: 1, op: 'file', call: 'stat', path: '/' });

    const constructorKey = parseGuestMessage('{"t":"leave","constructor":{"prototype":{"polluted":1}}}');
    assertPlainObject(constructorKey);
    assert.deepEqual(constructorKey, { t: 'leave' });
  });

  it('lets viewers make only the reading file calls', () => {
    assert.deepEqual([...READING_FILE_CALLS].sort(), ['readDirectory', 'readFile', 'stat']);
  });
});

// ---------------------------------------------------------------------------------------

const TERMINAL = { id: 'term-1', sessionId: 'ses-1', name: 'Terminal 1', state: 'live', cwd: '/workspace', createdAt: '2025-01-01T00:00:00.000Z', attached: 1 };
const WELCOME = {
  t: 'welcome',
  guestId: 'g-abcdef',
  guestToken: SECRET,
  role: 'viewer',
  hostName: 'alice',
  session: { id: 'ses-1', workspaceName: 'api', image: 'busybox:latest' },
  terminals: [TERMINAL],
  participants: [{ id: 'g-abcdef', name: 'bob', role: 'viewer', connected: true }],
};

describe('the wire: what a host may send', () => {
  it('accepts every well-formed message', () => {
    const valid: HostMessage[] = [
      { t: 'waiting' },
      WELCOME as HostMessage,
      { t: 'res', id: 1, result: { anything: ['goes', 1] } },
      { t: 'res', id: 2, error: { code: 'Forbidden', message: 'no' } },
      { t: 'output', terminalId: 'term-1', data: '\x1b[31mred\x1b[0m' },
      { t: 'exit', terminalId: 'term-1', exitCode: 0 },
      { t: 'exit', terminalId: 'term-1', exitCode: null },
      { t: 'terminals', terminals: [TERMINAL] } as HostMessage,
      { t: 'role', role: 'editor' },
      { t: 'participants', participants: [] },
      { t: 'notice', text: 'You are a viewer', terminalId: 'term-1' },
      { t: 'notice', text: 'hello' },
      { t: 'files', watchId: 1, changes: [{ type: 'created', path: '/a' }] },
      { t: 'ended', reason: 'The host stopped sharing.' },
    ];
    // `res` carries result as it came (undefined when absent): compared as JSON.
    for (const message of valid) assert.deepEqual(JSON.parse(JSON.stringify(host(message))), message, JSON.stringify(message));
  });

  it('accepts the welcome of a reconnect, which carries no new token (guestToken "")', () => {
    // shares.ts connect() sends `guestToken: token ?? ''` when a guest resumes with its token.
    const resumed = host({ ...WELCOME, guestToken: '' });
    assert.equal(resumed?.t, 'welcome', 'the welcome a host sends to a returning guest is refused by the guest');
  });

  it('accepts participants whose names cleanName made, whatever their script', () => {
    // The host cleans a guest's name to at most MAX_NAME_CHARS characters (code points); the guest checks the same list.
    for (const raw of ['😀'.repeat(100), '𝔸𝕝𝕚𝕔𝕖'.repeat(20), 'a'.repeat(100), 'Zoë'.repeat(30)]) {
      const name = cleanName(raw);
      const parsed = host({ t: 'participants', participants: [{ id: 'g-1', name, role: 'viewer', connected: true }] });
      assert.equal(parsed?.t, 'participants', `a guest named ${JSON.stringify(name)} (${name.length} UTF-16 units) makes the participant list unreadable`);
      const welcome = host({ ...WELCOME, participants: [{ id: 'g-1', name, role: 'editor', connected: true }] });
      assert.equal(welcome?.t, 'welcome', `a guest named ${JSON.stringify(name)} makes every welcome unreadable`);
    }
  });

  it('refuses roles, states and exit codes it does not know', () => {
    assert.equal(host({ t: 'role', role: 'admin' }), undefined);
    assert.equal(host({ t: 'role', role: 'owner' }), undefined);
    assert.equal(host({ ...WELCOME, role: 'host' }), undefined);
    assert.equal(host({ ...WELCOME, terminals: [{ ...TERMINAL, state: 'running' }] }), undefined);
    for (const exitCode of [256, -1, 1.5, '0', true]) assert.equal(host({ t: 'exit', terminalId: 'x', exitCode }), undefined, JSON.stringify(exitCode));
    assert.equal(host({ t: 'exit', terminalId: 'x' }), undefined, 'an exit without a code (not even null)');
  });

  it('limits lists, names and texts', () => {
    assert.equal(host({ t: 'terminals', terminals: Array.from({ length: 1001 }, () => TERMINAL) }), undefined);
    assert.equal(host({ t: 'terminals', terminals: Array.from({ length: 1000 }, () => TERMINAL) })?.t, 'terminals');
    assert.equal(host({ t: 'participants', participants: [{ id: 'g', name: 'x'.repeat(MAX_NAME_CHARS + 1), role: 'viewer', connected: true }] }), undefined);
    assert.equal(host({ t: 'notice', text: 'x'.repeat(501) }), undefined);
    assert.equal(host({ t: 'ended', reason: 'x'.repeat(501) }), undefined);
    assert.equal(host({ ...WELCOME, hostName: 'x'.repeat(MAX_NAME_CHARS + 1) }), undefined);
    assert.equal(host({ ...WELCOME, guestToken: 'x'.repeat(129) }), undefined);
    assert.equal(host({ t: 'files', watchId: 1, changes: Array.from({ length: 10_001 }, () => ({ type: 'created', path: '/a' })) }), undefined);
    assert.equal(host({ t: 'files', watchId: 1, changes: [{ type: 'renamed', path: '/a' }] }), undefined);
    assert.equal(host({ t: 'res', id: 1, error: { code: 'x'.repeat(65), message: 'm' } }), undefined);
    assert.equal(host({ t: 'res', id: -1 }), undefined);
    assert.equal(host({ t: 'terminals', terminals: 'all' }), undefined);
    assert.equal(host({ t: 'participants', participants: { length: 1 } }), undefined);
  });

  it('refuses unknown kinds, kinds that are keys of every object, and what is not an object', () => {
    for (const t of ['hello', 'input', 'req', 'leave', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 1, null, ['ended']]) {
      assert.equal(host({ t, reason: 'r', role: 'viewer' }), undefined, JSON.stringify(t));
    }
    for (const text of ['', 'null', '[]', '"ended"', '{']) assert.equal(parseHostMessage(text), undefined, text);
  });

  it('ignores __proto__ keys in a host\'s messages', () => {
    const parsed = parseHostMessage('{"t":"role","role":"viewer","__proto__":{"role":"editor","polluted":1}}');
    assertPlainObject(parsed);
    assert.deepEqual(parsed, { t: 'role', role: 'viewer' });
    const smuggled = parseHostMessage('{"__proto__":{"t":"ended","reason":"x"}}');
    assert.equal(smuggled, undefined);
    const welcome = parseHostMessage(JSON.stringify(WELCOME).replace('"guestId"', '"__proto__":{"polluted":1},"guestId"'));
    assertPlainObject(welcome);
  });
});

// ---------------------------------------------------------------------------------------

describe('refused join attempts (Refusals)', () => {
  it('turns an address away after 10 failures within a minute, and lets it try again after the minute', async () => {
    const clock = new FakeClock();
    const refusals = new Refusals(clock);
    for (let i = 0; i < 9; i++) refusals.record('10.0.0.1');
    assert.equal(refusals.isLimited('10.0.0.1'), false, 'nine failures are not yet limited');
    refusals.record('10.0.0.1');
    assert.equal(refusals.isLimited('10.0.0.1'), true, 'the tenth failure limits the address');
    assert.equal(refusals.isLimited('10.0.0.2'), false, 'another address is not limited');
    await clock.advance(59_999);
    assert.equal(refusals.isLimited('10.0.0.1'), true, 'still limited just before the minute is over');
    await clock.advance(1);
    assert.equal(refusals.isLimited('10.0.0.1'), false, 'free again once the minute is over');
    refusals.record('10.0.0.1');
    assert.equal(refusals.isLimited('10.0.0.1'), false, 'a new window starts with one failure');
  });

  it('counts a window from the first failure in it (failures spread over more than a minute do not add up)', async () => {
    const clock = new FakeClock();
    const refusals = new Refusals(clock);
    for (let i = 0; i < 9; i++) {
      refusals.record('10.0.0.1');
      await clock.advance(7_000);
    }
    // 63 s have passed since the first failure: the tenth starts a new window.
    refusals.record('10.0.0.1');
    assert.equal(refusals.isLimited('10.0.0.1'), false);
  });

  it('turns everyone unknown away after 200 failures in a minute from many addresses', async () => {
    const clock = new FakeClock();
    const refusals = new Refusals(clock);
    for (let i = 0; i < 199; i++) refusals.record(`10.1.${Math.floor(i / 250)}.${i % 250}`);
    assert.equal(refusals.isLimited('192.168.1.1'), false, '199 failures overall are not yet a flood');
    refusals.record('10.9.9.9');
    assert.equal(refusals.isLimited('192.168.1.1'), true, 'an address that never failed is turned away during a flood');
    await clock.advance(60_000);
    assert.equal(refusals.isLimited('192.168.1.1'), false, 'after the minute everyone may try again');
    assert.equal(refusals.isLimited('10.1.0.1'), false);
  });

  it('counts refusals for the history once, however often it is asked', () => {
    const refusals = new Refusals(new FakeClock());
    assert.equal(refusals.takeUnrecorded(), 0);
    for (let i = 0; i < 25; i++) refusals.record(`10.0.0.${i % 3}`);
    assert.equal(refusals.takeUnrecorded(), 25);
    assert.equal(refusals.takeUnrecorded(), 0);
    refusals.record('10.0.0.1');
    assert.equal(refusals.takeUnrecorded(), 1);
  });

  it('remembers a bounded number of addresses under a flood from many', async () => {
    const clock = new FakeClock();
    const refusals = new Refusals(clock);
    for (let i = 0; i < 12_000; i++) refusals.record(`fd00::${i.toString(16)}`);
    const remembered = (refusals as unknown as { failures: Map<string, unknown> }).failures.size;
    assert.ok(remembered <= 10_000, `remembers ${remembered} addresses`);
    assert.equal(refusals.isLimited('fd00::ffff:1'), true, 'the flood trips the overall limit');
    await clock.advance(60_000);
    assert.equal(refusals.isLimited('fd00::ffff:1'), false);
  });
});

describe('guest names (cleanName)', () => {
  it('keeps ordinary names, trimmed', () => {
    assert.equal(cleanName('Alice'), 'Alice');
    assert.equal(cleanName('  Bob Builder  '), 'Bob Builder');
    assert.equal(cleanName('Zoë Ørsted-李'), 'Zoë Ørsted-李');
  });

  it('falls back to "guest" for nothing', () => {
    for (const name of [undefined, '', '   ', '\u0000\u0001', '\x1b', '\u200b\u200c', '\u202e', '\t\n\r']) assert.equal(cleanName(name), 'guest', JSON.stringify(name));
  });

  it('takes control characters, escape sequences and bidirectional overrides out', () => {
    assert.equal(cleanName('ev\x1b[31mil\x1b[0m'), 'ev[31mil[0m');
    assert.equal(cleanName('a\u0007b\u007fc\u009bd'), 'abcd');
    assert.equal(cleanName('admin\u202egnp.exe'), 'admingnp.exe');
    assert.equal(cleanName('\u2066x\u2069'), 'x');
    assert.equal(cleanName('Al\u200bice'), 'Alice');
    assert.equal(cleanName('line\nbreak'), 'linebreak');
  });

  it('takes out other invisible characters a name could hide behind', () => {
    // Word joiner, BOM, invisible separators and line/paragraph separators show nothing but make "alice" a different name.
    for (const invisible of ['\u2060', '\ufeff', '\u2028', '\u2029', '\u2063']) {
      assert.equal(cleanName(`ali${invisible}ce`), 'alice', `U+${invisible.codePointAt(0)!.toString(16).toUpperCase()} is kept in a name`);
    }
  });

  it('cuts at MAX_NAME_CHARS characters without splitting one in two', () => {
    assert.equal(cleanName('a'.repeat(100)), 'a'.repeat(MAX_NAME_CHARS));
    const emoji = cleanName('😀'.repeat(100));
    assert.equal([...emoji].length, MAX_NAME_CHARS);
    assert.ok([...emoji].every((character) => character === '😀'), 'no half surrogate pair');
  });
});
