import assert from 'node:assert/strict';
import * as net from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MAX_LISTED_PORTS } from '../../sidecar/client/portProtocol';
import { type Ports } from '../../sidecar/ports/ports';
import { isRelayTool, relayCommand, RELAY_TOOLS } from '../../sidecar/ports/portRelay';
import { cleanProcessName, parseListeningSockets, parseSocketOwners } from '../../sidecar/ports/socketTable';
import { hasCode } from '../../sidecar/errors';
import { acceptsConnections, freePort } from '../support/localPorts';
import { makeDomain, type Domain } from './fakes/domain';
import { portsOf, stageListening, TCP_TABLE_HEADER, tcpLine } from './fakes/ports';

describe('socket tables', () => {
  it('finds listening IPv4 and IPv6 sockets with their addresses, lowest port first', () => {
    const text = [
      TCP_TABLE_HEADER,
      tcpLine(0, '0100007F:1F90', '0A', '111'), // 127.0.0.1:8080
      tcpLine(1, '00000000:1435', '0A', '222'), // 0.0.0.0:5173
      tcpLine(2, '0100007F:1F90', '01', '333'), // an established connection: not a listener
      TCP_TABLE_HEADER,
      tcpLine(0, '00000000000000000000000000000000:0BB8', '0A', '444'), // [::]:3000
      tcpLine(1, '00000000000000000000000001000000:0BB9', '0A', '555'), // [::1]:3001
      tcpLine(2, '0000000000000000FFFF00000100007F:0BBA', '0A', '666'), // ::ffff:127.0.0.1:3002
    ].join('\n');
    assert.deepEqual(parseListeningSockets(text), [
      { port: 3000, address: '::', inode: '444' },
      { port: 3001, address: '::1', inode: '555' },
      { port: 3002, address: '127.0.0.1', inode: '666' },
      { port: 5173, address: '0.0.0.0', inode: '222' },
      { port: 8080, address: '127.0.0.1', inode: '111' },
    ]);
  });

  it('keeps one entry per port, a wildcard address over a specific one', () => {
    const text = [tcpLine(0, '0100007F:1F90', '0A', '1'), tcpLine(1, '00000000000000000000000000000000:1F90', '0A', '2')].join('\n');
    assert.deepEqual(parseListeningSockets(text), [{ port: 8080, address: '::', inode: '2' }]);
  });

  it('takes nothing from garbage a container prints instead of its tables', () => {
    const garbage = [
      'hello world',
      tcpLine(0, 'ZZZZZZZZ:1F90', '0A', '1'),
      tcpLine(1, '0100007F:1F90', '0A', 'not-an-inode'),
      tcpLine(2, '0100007F:0000', '0A', '3'), // port 0
      tcpLine(3, '0100007F:1F9', '0A', '4'), // a short port
      '\u001b[31m   4: 0100007F:1F90 00000000:0000 0A',
      'x'.repeat(100_000),
    ].join('\n');
    assert.deepEqual(parseListeningSockets(garbage), []);
  });

  it(`lists at most ${MAX_LISTED_PORTS} ports`, () => {
    const lines = Array.from({ length: 1000 }, (_, i) => tcpLine(i, `00000000:${(i + 1).toString(16).toUpperCase().padStart(4, '0')}`, '0A', String(i)));
    const sockets = parseListeningSockets(lines.join('\n'));
    assert.equal(sockets.length, MAX_LISTED_PORTS);
    assert.equal(sockets[0].port, 1);
  });

  it('names the owner of a socket, cleaned, and only of the sockets asked about', () => {
    const text = ['12 111', '12 comm node', '13 222', '13 comm evil\u001b[31mname\u0007 with a very long name that goes on and on', '14 999', '14 comm other', 'garbage line', '15 comm orphan'].join('\n');
    const owners = parseSocketOwners(text, new Set(['111', '222']));
    assert.deepEqual([...owners], [
      ['111', 'node'],
      ['222', 'evil[31mname with a very long na'],
    ]);
    assert.equal(cleanProcessName('  \u0000\u009b x '), 'x');
  });
});

describe('relay commands', () => {
  it('pass the host and port as arguments, never as code', () => {
    for (const tool of RELAY_TOOLS) {
      const argv = relayCommand(tool, '127.0.0.1', 5173);
      assert.deepEqual(argv.slice(-2), ['127.0.0.1', '5173'], tool);
      assert.ok(!argv.slice(0, -2).some((arg) => arg.includes('5173')), `${tool} splices the port into its code`);
    }
    assert.ok(isRelayTool('perl'));
    assert.ok(!isRelayTool('none'));
    assert.ok(!isRelayTool('rm -rf /'));
  });
});

describe('Ports (fake engine, real loopback listeners)', () => {
  let domain: Domain;
  let ports: Ports;
  let staged: { listening: number[]; looks: number };
  const logged: string[] = [];

  beforeEach(async () => {
    domain = await makeDomain({ 'ports.scanSeconds': 2 });
    staged = stageListening(domain);
    ports = portsOf(domain, { info: (message) => logged.push(message), error: (message) => logged.push(message) });
    await ports.start();
  });

  afterEach(() => {
    ports.stop();
    domain.dispose();
  });

  async function runningSession(kind: 'ephemeral' | 'persistent' = 'persistent') {
    const workspace = await domain.workspaces.create({ name: `w-${kind}`, kind });
    return domain.sessions.start(workspace.id);
  }

  it('a new listening port of a persistent session is forwarded at once and said so; a server restart is no news', async () => {
    const session = await runningSession('persistent');
    const port = await freePort();
    staged.listening = [port];
    const [info] = await ports.list(session.id, true);
    assert.equal(info.port, port);
    assert.equal(info.listening, true);
    assert.equal(info.notice, 'forwarded');
    assert.equal(info.forward?.localPort, port);
    assert.equal(info.forward?.auto, true);
    assert.ok(ports.active);
    assert.equal(domain.store.ports.get(session.id, port)?.local_port, port, 'recorded');

    staged.listening = [];
    assert.equal((await ports.list(session.id, true))[0].listening, false, 'the forward stays while the server is away');
    staged.listening = [port];
    assert.equal((await ports.list(session.id, true))[0].notice, undefined, 'a port seen before brings no second notice');
  });

  it('an ephemeral session only offers; "off" only lists', async () => {
    const session = await runningSession('ephemeral');
    staged.listening = [5173];
    const [offer] = await ports.list(session.id, true);
    assert.equal(offer.notice, 'offer');
    assert.equal(offer.forward, undefined);
    assert.ok(!ports.active);

    await domain.config.set({ 'ports.autoForward': { persistent: 'off' } });
    const other = await runningSession('persistent');
    staged.listening = [5174];
    const [quiet] = await ports.list(other.id, true);
    assert.equal(quiet.notice, undefined);
    assert.equal(quiet.forward, undefined);
  });

  it('looks at sessions in use on schedule, not at idle ones, and never at frozen ones', async () => {
    const session = await runningSession('ephemeral');
    staged.listening = [7000];
    await domain.clock.advance(2000);
    await waitUntil(async () => (await ports.list(session.id)).length === 1);
    // Unused for longer than the in-use window: no more looks.
    await domain.clock.advance(11 * 60_000);
    staged.listening = [7000, 7001];
    await domain.clock.advance(2000);
    assert.deepEqual((await ports.list(session.id)).map((p) => p.port), [7000]);
    // A use brings the looks back.
    domain.activity.touch(session.id, session.workspaceId);
    await domain.clock.advance(2000);
    await waitUntil(async () => (await ports.list(session.id)).length === 2);
  });

  it('an explicit local port that is taken is an error and changes nothing; otherwise another port is given with a warning', async () => {
    const session = await runningSession('ephemeral');
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      await assert.rejects(ports.forward({ sessionId: session.id, port: 80, localPort: taken }), (error) => hasCode(error, 'Exists') && /in use/.test((error as Error).message));
      assert.deepEqual(await ports.list(session.id), []);
      assert.equal(domain.store.ports.list(session.id).length, 0);

      const moved = await ports.forward({ sessionId: session.id, port: taken });
      assert.notEqual(moved.forward?.localPort, taken);
      assert.match(moved.warning ?? '', /taken on this machine/);
    } finally {
      blocker.close();
    }
  });

  it('refuses bad input and changes nothing', async () => {
    const session = await runningSession('ephemeral');
    await assert.rejects(ports.forward({ sessionId: session.id, port: 80, localPort: 70_000 }), (error) => hasCode(error, 'InvalidInput'));
    await assert.rejects(ports.forward({ sessionId: session.id, port: 80, label: 'two\nlines' }), (error) => hasCode(error, 'InvalidInput'));
    await assert.rejects(ports.setLabel(session.id, 80, 'x'.repeat(65)), (error) => hasCode(error, 'InvalidInput'));
    await assert.rejects(ports.forward({ sessionId: 'ses-nope', port: 80 }), (error) => hasCode(error, 'NotFound'));
    await assert.rejects(ports.stopForwarding(session.id, 80), (error) => hasCode(error, 'NotFound'));
    assert.deepEqual(await ports.list(session.id), []);
    await domain.sessions.stop(session.id);
    await assert.rejects(ports.forward({ sessionId: session.id, port: 80 }), (error) => hasCode(error, 'Conflict'));
  });

  it('a failed write leaves no forward behind', async () => {
    const session = await runningSession('ephemeral');
    const commit = domain.store.commit.bind(domain.store);
    domain.store.commit = () => Promise.reject(new Error('disk full'));
    const port = await freePort();
    try {
      await assert.rejects(ports.forward({ sessionId: session.id, port, localPort: port }), /disk full/);
    } finally {
      domain.store.commit = commit;
    }
    assert.ok(!ports.active);
    assert.equal(await acceptsConnections(port), false, 'nothing listens');
  });

  it('labels stay; a stopped session loses its forwards and labels', async () => {
    const session = await runningSession('ephemeral');
    const port = await freePort();
    await ports.forward({ sessionId: session.id, port, localPort: port, label: ' web ' });
    assert.equal((await ports.list(session.id))[0].label, 'web');
    await ports.setLabel(session.id, port, 'api');
    assert.equal((await ports.list(session.id))[0].label, 'api');
    assert.ok(await acceptsConnections(port));

    await domain.sessions.stop(session.id);
    await waitUntil(() => !ports.active);
    assert.equal(await acceptsConnections(port), false);
    assert.equal(domain.store.ports.list(session.id).length, 0);
  });

  it('a restart brings back the forwards of running sessions and drops those of stopped ones', async () => {
    const running = await runningSession('ephemeral');
    const stopping = await runningSession('persistent');
    const [a, b] = [await freePort(), await freePort()];
    await ports.forward({ sessionId: running.id, port: a, localPort: a });
    await ports.forward({ sessionId: stopping.id, port: b, localPort: b });
    ports.stop();
    assert.equal(await acceptsConnections(a), false);
    // The session stopped while no sidecar was there to see it.
    domain.store.sessions.markStopped(stopping.id, domain.clock.now(), false);

    ports = portsOf(domain);
    await ports.start();
    assert.ok(await acceptsConnections(a));
    assert.equal((await ports.list(running.id))[0].forward?.localPort, a);
    assert.equal(await acceptsConnections(b), false);
    assert.equal(domain.store.ports.list(stopping.id).length, 0);
  });
});

async function waitUntil(probe: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await probe()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.fail('the condition never held');
}
