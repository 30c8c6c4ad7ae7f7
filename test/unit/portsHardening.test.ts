/**
 * Ports against a hostile reading: one test per finding of a review (restores that leaked,
 * traffic that did not count as use, sandboxes claiming service ports, notice floods), each
 * shown to fail before its fix. Fake engine, fake clock, in-memory store; the forwards'
 * listeners are real loopback sockets.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Engine, ExecProcess } from '../../sidecar/docker/engine';
import { PortForward } from '../../sidecar/ports/portForward';
import { type Ports } from '../../sidecar/ports/ports';
import { systemClock } from '../../sidecar/util/clock';
import { makeDomain, type Domain } from './fakes/domain';
import { portsOf, stageListening } from './fakes/ports';
import { acceptsConnections, freePort } from '../support/localPorts';

const quiet = { info: () => undefined, error: () => undefined };

describe('ports, hardened', () => {
  let domain: Domain;
  /** What the fake containers listen on, and how many looks at their socket tables (one docker exec each) were made. */
  let staged: { listening: number[]; looks: number };
  const made: Ports[] = [];
  const blockers: net.Server[] = [];

  beforeEach(async () => {
    domain = await makeDomain({ 'ports.scanSeconds': 2 });
    staged = stageListening(domain);
  });

  afterEach(() => {
    for (const ports of made.splice(0)) ports.stop();
    for (const blocker of blockers.splice(0)) blocker.close();
    domain.dispose();
  });

  function newPorts(): Ports {
    const ports = portsOf(domain, quiet);
    made.push(ports);
    return ports;
  }

  async function runningSession(name: string, kind: 'ephemeral' | 'persistent' = 'ephemeral') {
    const workspace = await domain.workspaces.create({ name, kind });
    return domain.sessions.start(workspace.id);
  }

  it('a forward asked for right after a sidecar restart (before the restore ran) is not overwritten and leaked by the restore', async () => {
    const session = await runningSession('w1');
    const port = await freePort();
    const before = newPorts();
    await before.start();
    await before.forward({ sessionId: session.id, port, localPort: port });
    before.stop(); // kill -9: the record stays

    // The new sidecar answers requests before reconciliation reaches ports.start() (the pool
    // starts first): an agent or the Forward button asks for the port again.
    const after = newPorts();
    await after.forward({ sessionId: session.id, port });
    await after.start();
    await after.stopForwarding(session.id, port);
    assert.equal(await acceptsConnections(port), false, 'Stop Forwarding left a listener behind on the original local port');
  });

  it('a restore that runs a second time (reconciliation retried after a failed commit) leaks no listener', async () => {
    const session = await runningSession('w1');
    const port = await freePort();
    const before = newPorts();
    await before.start();
    await before.forward({ sessionId: session.id, port, localPort: port });
    before.stop();
    // Its local port was taken meanwhile, so the restore moves it and must record that.
    const blocker = net.createServer();
    blockers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));

    const after = newPorts();
    const commit = domain.store.commit.bind(domain.store);
    domain.store.commit = () => Promise.reject(new Error('disk full'));
    await assert.rejects(after.start(), /disk full/);
    domain.store.commit = commit;
    const firstLocal = (await after.list(session.id))[0].forward!.localPort;
    await after.start(); // ensureReconciled() runs everything again after a failure
    await after.stopForwarding(session.id, port);
    after.stop();
    assert.equal(await acceptsConnections(firstLocal), false, `the first attempt's listener on ${firstLocal} was never closed`);
  });

  it('a session that stops while the restore runs keeps no forward (and so does not keep the sidecar up)', async () => {
    const one = await runningSession('w1');
    const two = await runningSession('w2');
    const [first, second] = [one, two].sort((a, b) => a.id.localeCompare(b.id)); // the restore's order
    const [portA, portB] = [await freePort(), await freePort()];
    const before = newPorts();
    await before.start();
    await before.forward({ sessionId: first.id, port: portA, localPort: portA });
    await before.forward({ sessionId: second.id, port: portB, localPort: portB });
    before.stop();

    const after = newPorts();
    const starting = after.start();
    // While the first forward is being opened, the second session's container dies (the
    // container watch marks it stopped).
    domain.sessions.markStopped(second.id, true, 'its container died');
    await domain.store.commit();
    await starting;

    assert.equal(domain.store.sessions.get(second.id)?.state, 'stopped');
    assert.deepEqual(
      (await after.list(second.id)).filter((p) => p.forward),
      [],
      'a stopped session has a forward',
    );
    assert.equal(await acceptsConnections(portB), false, 'the stopped session still has a listener');
  });

  it('data through a forwarded connection counts as use: a browser on a keep-alive connection keeps its session from freezing', async () => {
    const session = await runningSession('w1', 'ephemeral');
    // The "container": an echo server this machine reaches directly (as the bridge address).
    const echo = net.createServer((socket) => socket.pipe(socket));
    blockers.push(echo);
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const port = (echo.address() as net.AddressInfo).port;
    Object.defineProperty(domain.engine, 'isLocal', { value: true });
    const inspect = domain.engine.inspectContainer.bind(domain.engine);
    domain.engine.inspectContainer = async (id) => {
      const state = await inspect(id);
      return state && { ...state, addresses: ['127.0.0.1'] };
    };
    const ports = newPorts();
    await ports.start();
    const forwarded = await ports.forward({ sessionId: session.id, port });
    const client = net.connect(forwarded.forward!.localPort, '127.0.0.1');
    await once(client, 'connect');
    try {
      client.write('a');
      await once(client, 'data');
      // 40 minutes of clicking around in the app, one request a minute over the same connection.
      for (let minute = 0; minute < 40; minute++) {
        await domain.clock.advance(60_000);
        client.write('b');
        await once(client, 'data');
      }
      const idleMs = domain.clock.now() - domain.activity.lastUseOf(session.id, 0);
      assert.ok(idleMs < 5 * 60_000, `the session looks idle for ${idleMs / 60_000} min while its forward carried a request every minute (the lifecycle freezes it after 10-30)`);
    } finally {
      client.destroy();
    }
  });

  it('a sandbox that opens hundreds of ports does not get a notification for each (per look, nor by opening new ones every look)', async () => {
    const session = await runningSession('w1', 'ephemeral');
    const ports = newPorts();
    await ports.start();
    staged.listening = Array.from({ length: 200 }, (_, i) => 20_000 + i);
    const first = (await ports.list(session.id, true)).filter((p) => p.notice);
    staged.listening = Array.from({ length: 200 }, (_, i) => 30_000 + i);
    const second = (await ports.list(session.id, true)).filter((p) => p.notice);
    // Each notice is a VS Code notification with buttons ("Port N is listening in …").
    assert.ok(first.length + second.length <= 32, `two looks at one sandbox made ${first.length + second.length} notifications`);
  });

  it('forwarding a port of a session the lifecycle froze thaws it, as every other use does (no "Resume it first")', async () => {
    const session = await runningSession('w1');
    const ports = newPorts();
    await ports.start();
    assert.ok(await domain.sessions.freeze(session.id, 'idle for 10 min'));
    // The Forward button of a notice, the Ports node, `sandkasten port forward`, POST /v1/sessions/ID/ports.
    const forwarded = await ports.forward({ sessionId: session.id, port: await freePort() }).catch((error: Error) => error);
    assert.ok(!(forwarded instanceof Error), `forwarding failed: ${forwarded instanceof Error ? forwarded.message : ''}`);
    assert.equal(domain.store.sessions.get(session.id)?.state, 'running');
  });

  it('a session whose forward nobody uses is not looked at (a docker exec) every 2 s for as long as it runs', async () => {
    const session = await runningSession('w1', 'persistent');
    const ports = newPorts();
    await ports.start();
    await ports.forward({ sessionId: session.id, port: await freePort() });
    // No command, terminal, file access or connection for two hours (freezing is a setting; 0 never freezes).
    await domain.clock.advance(2 * 60 * 60_000);
    const before = staged.looks;
    await domain.clock.advance(60_000);
    assert.equal(staged.looks - before, 0, `a session unused for two hours was looked at ${staged.looks - before} times in one minute`);
  });

  it('an auto-forward does not let a sandbox claim a well-known port of this machine (a later host service cannot bind it; its clients talk to the sandbox)', async () => {
    // The sandbox listens where this machine's PostgreSQL would; nobody asked for a forward.
    const wellKnown = 5432;
    if (!(await isFree(wellKnown))) return void assert.ok(true, 'port 5432 is in use here: nothing to show');
    const session = await runningSession('w1', 'persistent');
    const ports = newPorts();
    await ports.start();
    staged.listening = [wellKnown];
    const [info] = await ports.list(session.id, true);
    assert.equal(info.notice, 'forwarded');
    assert.notEqual(info.forward?.localPort, wellKnown, 'a sandbox took 127.0.0.1:5432 on this machine without anyone asking');
  });
});

describe('a forward, hardened', () => {
  it('a forward closed while a relay exec is being started ends that exec (no relay process or Docker stream left behind)', async () => {
    let execAsked!: () => void;
    const asked = new Promise<void>((resolve) => (execAsked = resolve));
    let answer!: (process: ExecProcess) => void;
    const relay = new Duplex({ read() {}, write(_chunk, _encoding, callback) { callback(); } });
    const engine = {
      exec: () => {
        execAsked();
        return new Promise<ExecProcess>((resolve) => (answer = resolve));
      },
    } as unknown as Engine;
    const forward = new PortForward({
      sessionId: 'ses-1',
      port: 8080,
      auto: false,
      since: 0,
      engine,
      log: quiet,
      // Network none: only the relay reaches the port.
      target: async () => ({ containerId: 'c1', addresses: [], relayTool: async () => 'nc' as const }),
      onConnection: async () => undefined,
      onTraffic: () => undefined,
      clock: systemClock,
    });
    await forward.listen('127.0.0.1', 0);
    const client = net.connect(forward.localPort, '127.0.0.1');
    client.on('error', () => undefined);
    await asked;
    forward.close(); // Stop Forwarding, or the session stopped
    await once(client, 'close');
    answer({ stream: relay, resize: async () => undefined, exitCode: async () => undefined });
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(relay.destroyed, 'the relay exec started for a connection that is gone stays open');
  });
});

async function isFree(port: number): Promise<boolean> {
  const server = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    server.close();
  }
}
