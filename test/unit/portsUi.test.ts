/**
 * The Ports front ends without VS Code or a sidecar: how PORT[:LOCAL] is read (the input box
 * and the CLI), what a port's row and the CLI's table show — a container's hostile process
 * names included —, which readings of the port list make a notification (new ports only,
 * once), and which menus a port row offers.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parsePortCommand, portTable } from '../../cli/ports';
import { UsageError } from '../../cli/format';
import type { PortInfo } from '../../sidecar/client/protocol';
import { forwardAddress, parsePortNumber, parsePortSpec, portLabelProblem, portSpecProblem, showableText } from '../../sidecar/client/portSpec';
import { PortNotices } from '../../src/ports/portNotices';
import { noticeButtons, noticeMessage, portDescription, portLabel, portRow, portsSummary, warningMessage } from '../../src/ports/portText';

const T0 = '2025-01-01T10:00:00.000Z';
const T1 = '2025-01-01T10:05:00.000Z';

function forwardOf(localPort: number, overrides: Partial<NonNullable<PortInfo['forward']>> = {}): NonNullable<PortInfo['forward']> {
  return { localAddress: '127.0.0.1', localPort, url: `http://127.0.0.1:${localPort}/`, auto: true, connections: 0, since: T0, ...overrides };
}

function port(number: number, overrides: Partial<PortInfo> = {}): PortInfo {
  return { sessionId: 'ses-1', workspaceId: 'api-1', port: number, listening: true, process: 'vite', detectedAt: T0, ...overrides };
}

/** What a terminal or a tree row must never receive from a container. */
const UNSHOWABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const HOSTILE_NAMES = [
  '\u001b[2J\u001b[31mrm -rf /\u001b[0m',
  'line\nbreak\rreturn',
  '[click me](https://evil.example) **bold** <img src=x onerror=alert(1)>',
  '\u202egnp.exe',
  'x'.repeat(5000),
  '\u0007\u0008\u009b',
];

describe('PORT[:LOCAL] as people type it', () => {
  it('reads a port alone, or a port and a local port, spaces around allowed', () => {
    assert.deepEqual(parsePortSpec('5173'), { port: 5173 });
    assert.deepEqual(parsePortSpec(' 8080 '), { port: 8080 });
    assert.deepEqual(parsePortSpec('5173:8080'), { port: 5173, localPort: 8080 });
    assert.deepEqual(parsePortSpec('1:65535'), { port: 1, localPort: 65535 });
    assert.equal(parsePortNumber('65535'), 65535);
    assert.equal(portSpecProblem('3000:3001'), undefined);
  });

  it('refuses what is no port, saying why and how to write it', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /Give a port: write PORT or PORT:LOCAL/],
      ['   ', /Give a port/],
      ['0', /0 is not a port: ports go from 1 to 65535/],
      ['70000', /70000 is not a port: ports go from 1 to 65535/],
      ['65536', /65536 is not a port/],
      ['abc', /"abc" is not a port: ports are whole numbers/],
      ['1:2:3', /"1:2:3" has too many parts/],
      ['-1', /"-1" is not a port/],
      ['1.5', /"1\.5" is not a port/],
      ['0x50', /"0x50" is not a port/],
      ['1e3', /"1e3" is not a port/],
      ['5173:', /The local port is missing/],
      [':80', /The port is missing/],
      ['5173:0', /0 is not a local port/],
      ['5173:abc', /"abc" is not a local port/],
      ['٣٠٠٠', /is not a port/],
    ];
    for (const [text, message] of cases) {
      assert.match(portSpecProblem(text) ?? '', message, JSON.stringify(text));
      assert.throws(() => parsePortSpec(text), message, JSON.stringify(text));
    }
    assert.throws(() => parsePortNumber('5173:8080'), /is not a port/);
  });

  it("accepts a label of one short line, and empty (which removes it); refuses control characters and long ones", () => {
    assert.equal(portLabelProblem('web'), undefined);
    assert.equal(portLabelProblem(''), undefined);
    assert.match(portLabelProblem('a\nb') ?? '', /one line/);
    assert.match(portLabelProblem('\u001b[31mred') ?? '', /control characters/);
    assert.match(portLabelProblem('x'.repeat(65)) ?? '', /at most 64/);
  });
});

describe('the CLI: sandkasten port', () => {
  const parse = (verb: string | undefined, args: string[], options = {}) => parsePortCommand(verb, args, options);

  it('reads list, forward, stop and label', () => {
    assert.deepEqual(parse('list', []), { verb: 'list', sessionId: undefined, scan: false });
    assert.deepEqual(parse('ls', ['ses-1'], { scan: true }), { verb: 'list', sessionId: 'ses-1', scan: true });
    assert.deepEqual(parse('forward', ['ses-1', '5173']), { verb: 'forward', sessionId: 'ses-1', port: 5173 });
    assert.deepEqual(parse('forward', ['ses-1', '5173:8080'], { label: ' web ' }), { verb: 'forward', sessionId: 'ses-1', port: 5173, localPort: 8080, label: 'web' });
    assert.deepEqual(parse('stop', ['ses-1', '8080']), { verb: 'stop', sessionId: 'ses-1', port: 8080 });
    assert.deepEqual(parse('label', ['ses-1', '8080', 'my api']), { verb: 'label', sessionId: 'ses-1', port: 8080, label: 'my api' });
    assert.deepEqual(parse('label', ['ses-1', '8080', '']), { verb: 'label', sessionId: 'ses-1', port: 8080, label: '' });
  });

  it('turns bad usage into a UsageError (exit code 2) that says what is wrong', () => {
    const cases: Array<[string | undefined, string[], object, RegExp]> = [
      ['forward', ['ses-1', '0'], {}, /0 is not a port/],
      ['forward', ['ses-1', '70000'], {}, /70000 is not a port/],
      ['forward', ['ses-1', 'abc'], {}, /"abc" is not a port/],
      ['forward', ['ses-1', '1:2:3'], {}, /too many parts/],
      ['forward', ['ses-1'], {}, /takes a SESSION_ID and PORT or PORT:LOCAL/],
      ['forward', ['ses-1', '80', '81'], {}, /takes a SESSION_ID and PORT/],
      ['forward', ['ses-1', '80'], { label: 'a\u001bb' }, /control characters/],
      ['stop', ['ses-1', '5173:8080'], {}, /is not a port/],
      ['stop', ['ses-1'], {}, /takes a SESSION_ID and a PORT/],
      ['label', ['ses-1', '80'], {}, /takes a SESSION_ID, a PORT and a TEXT/],
      ['label', ['ses-1', '80', 'x'.repeat(100)], {}, /at most 64/],
      ['list', ['a', 'b'], {}, /at most one SESSION_ID/],
      ['list', [], { label: 'x' }, /--label goes with port forward only/],
      ['forward', ['ses-1', '80'], { scan: true }, /--scan goes with port list only/],
      ['open', [], {}, /"port open" is not a command/],
      [undefined, [], {}, /port takes list, forward, stop or label/],
    ];
    for (const [verb, args, options, message] of cases) {
      assert.throws(() => parse(verb, args, options), (error: unknown) => error instanceof UsageError && message.test(error.message), `${verb} ${args.join(' ')}`);
    }
  });

  it('prints a table of SESSION PORT PROCESS FORWARDED-TO LABEL, the container\'s words made plain', () => {
    const table = portTable([
      port(5173, { forward: forwardOf(5173), label: 'web' }),
      port(8080, { process: HOSTILE_NAMES[0] }),
      port(9000, { listening: false, process: undefined, forward: forwardOf(9001) }),
      port(9100, { process: HOSTILE_NAMES[4], label: HOSTILE_NAMES[1] }),
    ]);
    const lines = table.split('\n');
    assert.match(lines[0], /^SESSION\s+PORT\s+PROCESS\s+FORWARDED-TO\s+LABEL$/);
    assert.match(lines[1], /^ses-1\s+5173\s+vite\s+127\.0\.0\.1:5173\s+web$/);
    assert.match(lines[2], /^ses-1\s+8080\s+\[2J \[31mrm -rf \/ \[0m\s+-$/);
    assert.match(lines[3], /^ses-1\s+9000\s+\(not listening\)\s+127\.0\.0\.1:9001$/);
    assert.equal(lines.length, 5, 'one line per port: no line break of the container gets through');
    for (const line of lines) assert.doesNotMatch(line, UNSHOWABLE);
    assert.ok(lines[4].length < 200, 'a long process name is cut');
  });
});

describe('a port row in the Sessions view', () => {
  it('shows a forwarded, listening port: its number, the process and where it is forwarded to', () => {
    const row = portRow(port(5173, { forward: forwardOf(5173) }));
    assert.equal(row.label, '5173');
    assert.equal(row.description, 'vite → 127.0.0.1:5173');
    assert.deepEqual(row.icon, { id: 'radio-tower' });
    assert.equal(row.contextValue, 'port.forwarded');
    assert.match(row.tooltip, /Forwarded to 127\\\.0\\\.0\\\.1\\:5173 \(automatically/);
    assert.match(row.accessibilityLabel, /^Port 5173 of vite, forwarded to 127\.0\.0\.1:5173$/);
  });

  it('leads with the label when there is one: "web (5173)"', () => {
    assert.equal(portLabel({ port: 5173, label: 'web' }), 'web (5173)');
    assert.equal(portRow(port(5173, { label: 'web', forward: forwardOf(5174) })).description, 'vite → 127.0.0.1:5174');
  });

  it('tells a port not forwarded (an outlined circle, Forward Port) from a forward with nothing listening (a warning colour)', () => {
    const detected = portRow(port(3000));
    assert.equal(detected.description, 'vite · not forwarded');
    assert.deepEqual(detected.icon, { id: 'circle-outline' });
    assert.equal(detected.contextValue, 'port.detected');
    const idle = portRow(port(3000, { listening: false, process: undefined, forward: forwardOf(3000) }));
    assert.equal(idle.description, 'not listening → 127.0.0.1:3000');
    assert.deepEqual(idle.icon, { id: 'radio-tower', color: 'editorWarning.foreground' });
    assert.equal(idle.contextValue, 'port.forwarded.idle');
    assert.equal(portDescription({ listening: true, forward: undefined }), 'not forwarded', 'no process name: nothing made up');
  });

  it('writes an IPv6 forward as a browser takes it', () => {
    assert.equal(forwardAddress(forwardOf(8080, { localAddress: '::1', url: 'http://[::1]:8080/' })), '[::1]:8080');
    assert.equal(forwardAddress(forwardOf(8080, { localAddress: '::1', url: 'not a url' })), '[::1]:8080');
  });

  it("keeps a container's hostile process names and labels plain: no control characters, no Markdown of theirs", () => {
    for (const name of HOSTILE_NAMES) {
      const row = portRow(port(4000, { process: name, label: name, forward: forwardOf(4000), warning: name }));
      for (const text of [row.label, row.description, row.accessibilityLabel, row.tooltip.replace(/\n/g, ' ')]) {
        assert.doesNotMatch(text, UNSHOWABLE, JSON.stringify(text.slice(0, 80)));
      }
      assert.ok(row.label.length < 80 && row.description.length < 120, 'long names are cut');
    }
    const markdown = portRow(port(4000, { process: HOSTILE_NAMES[2] })).tooltip;
    assert.ok(!markdown.includes('](https'), 'no link of theirs');
    assert.ok(!markdown.includes('**bold**'), 'no emphasis of theirs');
    assert.doesNotMatch(markdown, /(^|[^\\])<img/, 'no HTML of theirs');
    assert.equal(showableText('  a \t b  '), 'a b');
    assert.equal(portRow(port(4000, { process: '\u0007\u0008' })).description, 'not forwarded', 'a name that is only control characters is no name');
  });

  it('sums a session up on its Ports row', () => {
    assert.equal(portsSummary([]), 'none detected');
    assert.equal(portsSummary([{ forward: forwardOf(1) }, { forward: undefined }, { forward: forwardOf(2) }]), '2 forwarded · 1 not forwarded');
    assert.equal(portsSummary([{ forward: undefined }]), '1 not forwarded');
  });
});

describe('notifications about new ports', () => {
  it('says nothing about what listened when the window connected', () => {
    const notices = new PortNotices();
    assert.deepEqual(notices.read([port(5173, { notice: 'forwarded', forward: forwardOf(5173), warning: 'listens on 0.0.0.0' })]), { notices: [], warnings: [] });
    assert.deepEqual(notices.read([port(5173, { notice: 'forwarded', forward: forwardOf(5173), warning: 'listens on 0.0.0.0' })]), { notices: [], warnings: [] });
  });

  it('tells a new port once, however often the list is read', () => {
    const notices = new PortNotices();
    notices.read([]);
    const offered = port(3000, { notice: 'offer' });
    assert.deepEqual(notices.read([offered]).notices, [offered]);
    assert.deepEqual(notices.read([offered]).notices, []);
    assert.deepEqual(notices.read([port(3000, { notice: 'offer' }), port(3001)]).notices, [], 'a port without a notice is nothing to tell');
  });

  it('tells a port again when it stops and starts listening again later (a new first sighting)', () => {
    const notices = new PortNotices();
    notices.read([]);
    assert.equal(notices.read([port(3000, { notice: 'offer' })]).notices.length, 1);
    assert.equal(notices.read([]).notices.length, 0);
    assert.equal(notices.read([port(3000, { notice: 'offer', detectedAt: T1 })]).notices.length, 1);
    assert.equal(notices.read([port(3000, { notice: 'offer', sessionId: 'ses-2' })]).notices.length, 1, 'the same number in another session is another port');
  });

  it('waits with "forwarded" until the forward is there to open', () => {
    const notices = new PortNotices();
    notices.read([]);
    assert.deepEqual(notices.read([port(5173, { notice: 'forwarded' })]).notices, []);
    const forwarded = port(5173, { notice: 'forwarded', forward: forwardOf(5173) });
    assert.deepEqual(notices.read([forwarded]).notices, [forwarded]);
    assert.deepEqual(notices.read([forwarded]).notices, []);
  });

  it('drops an offer someone took up before it was shown (the tree, the CLI)', () => {
    const notices = new PortNotices();
    notices.read([]);
    assert.deepEqual(notices.read([port(3000, { notice: 'offer', forward: forwardOf(3000) })]).notices, []);
    assert.deepEqual(notices.read([port(3000, { notice: 'offer' })]).notices, [], 'and never tells it later');
  });

  it("tells each warning about a forward once, and a changed warning again", () => {
    const notices = new PortNotices();
    notices.read([]);
    const wide = port(5173, { forward: forwardOf(5173, { localAddress: '0.0.0.0' }), warning: 'listens on 0.0.0.0: reachable from the network' });
    assert.deepEqual(notices.read([wide]).warnings, [wide]);
    assert.deepEqual(notices.read([wide]).warnings, []);
    const moved = { ...wide, warning: 'port 5173 was taken: forwarded to 5174' };
    assert.deepEqual(notices.read([moved]).warnings, [moved]);
    assert.equal(warningMessage(moved), 'port 5173 was taken: forwarded to 5174', 'it leads with the port already');
    assert.equal(warningMessage({ port: 5173, warning: 'Reachable from the network on 0.0.0.0:5173.' }), 'Port 5173: Reachable from the network on 0.0.0.0:5173.');
    assert.equal(warningMessage({ port: 80, warning: 'Reachable from the network on 0.0.0.0:8080.' }), 'Port 80: Reachable from the network on 0.0.0.0:8080.');
  });

  it('leaves the warning of a forward someone asked for to the answer they got', () => {
    const notices = new PortNotices();
    notices.read([]);
    const asked = port(5173, { forward: forwardOf(5173, { auto: false, localAddress: '0.0.0.0' }), warning: 'Reachable from the network on 0.0.0.0:5173.' });
    assert.deepEqual(notices.read([asked]).warnings, []);
  });

  it('starts over after a reconnection: what the sidecar lists then is no news', () => {
    const notices = new PortNotices();
    notices.read([]);
    notices.startOver();
    assert.deepEqual(notices.read([port(3000, { notice: 'offer', detectedAt: T1 })]).notices, []);
    assert.equal(notices.read([port(3001, { notice: 'offer' })]).notices.length, 1);
  });

  it('words the notification as Dev Containers does, with the buttons that fit', () => {
    const forwarded = port(5173, { notice: 'forwarded', forward: forwardOf(5173) });
    assert.equal(noticeMessage(forwarded, 'my-api'), 'Port 5173 is listening in my-api (vite) and is forwarded to 127.0.0.1:5173.');
    assert.deepEqual(noticeButtons(forwarded), ['Open in Browser', 'Copy Address']);
    const offered = port(5173, { notice: 'offer' });
    assert.equal(noticeMessage(offered, 'my-api'), 'Port 5173 is listening in my-api (vite).');
    assert.deepEqual(noticeButtons(offered), ['Forward', 'Open in Browser']);
    assert.equal(noticeMessage(port(80, { notice: 'offer', process: HOSTILE_NAMES[1] }), 'w'), 'Port 80 is listening in w (line break return).');
  });
});

describe('the Ports menus', () => {
  interface MenuEntry {
    command: string;
    when: string;
    group: string;
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
  const itemMenus: MenuEntry[] = manifest.contributes.menus['view/item/context'];
  const holds = (when: string, viewItem: string) =>
    when.split('&&').every((clause) => {
      const equal = clause.match(/^\s*([\w.]+)\s*==\s*([\w.]+)\s*$/);
      const value = equal?.[1] === 'view' ? 'sandkasten.sessions' : viewItem;
      if (equal) return value === equal[2];
      const regex = clause.match(/^\s*viewItem\s*=~\s*\/(.*)\/\s*$/);
      if (regex) return new RegExp(regex[1]).test(viewItem);
      throw new Error(`unexpected when clause: ${clause}`);
    });
  const offered = (viewItem: string, inline: boolean) =>
    itemMenus
      .filter((entry) => entry.group.startsWith('inline') === inline && holds(entry.when, viewItem))
      .map((entry) => entry.command.replace('sandkasten.', ''))
      .sort();

  it('offers a forwarded port Open in Browser, Copy Address and Stop Forwarding inline', () => {
    for (const viewItem of ['port.forwarded', 'port.forwarded.idle']) {
      assert.deepEqual(offered(viewItem, true), ['port.copyAddress', 'port.openInBrowser', 'port.stopForwarding'], viewItem);
      assert.deepEqual(offered(viewItem, false), ['port.add', 'port.copyAddress', 'port.openInBrowser', 'port.setLabel', 'port.stopForwarding'], viewItem);
    }
  });

  it('offers a port not forwarded Forward Port inline; Open in Browser (which forwards first) in its menu', () => {
    assert.deepEqual(offered('port.detected', true), ['port.forward']);
    assert.deepEqual(offered('port.detected', false), ['port.add', 'port.forward', 'port.openInBrowser', 'port.setLabel']);
  });

  it('offers the Ports row Refresh and Forward a Port…', () => {
    assert.deepEqual(offered('ports', true), ['port.add', 'port.refresh']);
    assert.deepEqual(offered('ports', false), ['port.add', 'port.refresh']);
  });

  it('keeps what needs a port row out of the palette; Forward a Port… and Refresh Ports stay', () => {
    const hidden = new Set(manifest.contributes.menus.commandPalette.filter((entry: MenuEntry) => entry.when === 'false').map((entry: MenuEntry) => entry.command));
    for (const command of ['openInBrowser', 'copyAddress', 'stopForwarding', 'forward', 'setLabel']) assert.ok(hidden.has(`sandkasten.port.${command}`), command);
    for (const command of ['add', 'refresh']) assert.ok(!hidden.has(`sandkasten.port.${command}`), command);
    const declared = manifest.contributes.commands.filter((entry: { command: string }) => entry.command.startsWith('sandkasten.port.'));
    assert.equal(declared.length, 7);
    for (const entry of declared) assert.equal(entry.category, 'Sandkasten');
  });
});
