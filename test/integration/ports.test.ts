/**
 * Forwarded ports against the real Docker engine: servers started in a sandbox are detected,
 * forwarded to 127.0.0.1 and used from this machine (parallel requests, a large body, a
 * WebSocket echo, half-close both ways), on both transports: `direct` to the container's
 * bridge address, and the `exec` relay (forced with SANDKASTEN_PORT_RELAY=exec, and the only
 * way into an ephemeral workspace, whose network is `none`). Then the requests' rules and bad
 * input, stop, session end, kill -9 and restore, idle shutdown, and a hostile container.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { docker, exec, expectError, P, processGone, sleep, useSidecar, waitFor, waitForExit } from './harness';
import {
  BIG_FILE_BYTES,
  connectTo,
  ending,
  ensureNodeImage,
  forwardPort,
  freePort,
  httpDigest,
  httpGet,
  listenAnywhere,
  listPorts,
  NODE_IMAGE,
  PAGE,
  portsSnapshot,
  processesIn,
  readToEnd,
  refuses,
  residentMiB,
  SERVER_PORTS,
  startServers,
  stopForwarding,
} from './portsSupport';

const RELAY_ENV = { ...process.env, SANDKASTEN_PORT_RELAY: 'exec' };

before(() => ensureNodeImage());

interface Transport {
  title: string;
  kind: P.WorkspaceKind;
  env?: NodeJS.ProcessEnv;
  /** Every connection goes through a relay process in the container. */
  relay: boolean;
}

const TRANSPORTS: Transport[] = [
  { title: 'direct to the container address', kind: 'persistent', relay: false },
  { title: 'through the exec relay (SANDKASTEN_PORT_RELAY=exec)', kind: 'session', env: RELAY_ENV, relay: true },
  { title: 'of an ephemeral workspace (network none: only the relay reaches it)', kind: 'ephemeral', relay: true },
];

for (const transport of TRANSPORTS) {
  describe(`forwarded ports ${transport.title}`, () => {
    const sidecar = useSidecar(transport.env ? { env: transport.env } : {});
    let session: P.SessionInfo;
    let bigFileSha256 = '';
    /** Port in the container → its forward's URL on this machine. */
    const urls = new Map<number, string>();
    const localPort = (port: number) => Number(new URL(urls.get(port)!).port);

    before(async () => {
      session = await sidecar.newSession(`ports-${transport.kind}`, { kind: transport.kind, image: NODE_IMAGE });
      bigFileSha256 = await startServers(sidecar.client, session.id);
    });

    it(`detects the servers with their process names and ${transport.kind === 'ephemeral' ? 'offers to forward them' : 'forwards them at once'}`, async () => {
      const expected = Object.entries(SERVER_PORTS).map(([port, process]) => ({ port: Number(port), process }));
      const ports = await waitFor('every server to be listed', async () => {
        const listed = await listPorts(sidecar.client, session.id);
        return expected.every(({ port }) => listed.some((p) => p.port === port && p.listening && p.process)) ? listed : undefined;
      });
      for (const { port, process } of expected) {
        const info = ports.find((p) => p.port === port)!;
        assert.equal(info.sessionId, session.id);
        assert.equal(info.workspaceId, session.workspaceId);
        assert.equal(info.process, process, `port ${port} is held by ${process}`);
        if (transport.kind === 'ephemeral') {
          assert.equal(info.notice, 'offer', `port ${port} is offered`);
          assert.equal(info.forward, undefined, `port ${port} is not forwarded before anyone asks`);
          const forwarded = await forwardPort(sidecar.client, { sessionId: session.id, port });
          assert.ok(forwarded.forward, `port ${port} is forwarded once asked`);
          assert.equal(forwarded.forward.auto, false);
          urls.set(port, forwarded.forward.url);
        } else {
          assert.equal(info.notice, 'forwarded', `port ${port} was forwarded by itself`);
          assert.ok(info.forward, `port ${port} has a forward`);
          assert.equal(info.forward.auto, true);
          urls.set(port, info.forward.url);
        }
      }
      for (const port of urls.keys()) {
        const forward = (await listPorts(sidecar.client, session.id, false)).find((p) => p.port === port)!.forward!;
        assert.equal(forward.localAddress, '127.0.0.1', 'a forward listens on loopback only');
        assert.equal(forward.url, `http://127.0.0.1:${forward.localPort}/`);
      }
      const { body } = await httpGet(urls.get(8080)!);
      assert.equal(body, PAGE);
    });

    it('serves 100 requests at once, each on its own connection, every body right', async () => {
      const responses = await Promise.all(Array.from({ length: 100 }, (_, i) => httpGet(i % 2 ? urls.get(8080)! : `${urls.get(8080)!}index.html?n=${i}`)));
      assert.deepEqual(
        responses.filter((r) => r.status !== 200 || r.body !== PAGE),
        [],
        'all 100 answered 200 with the page',
      );
      // Keep-alive: many requests over a few connections.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      try {
        const kept = await Promise.all(Array.from({ length: 40 }, () => httpGet(urls.get(8090)!, agent)));
        assert.ok(kept.every((r) => r.status === 200 && r.body === 'websocket server\n'));
      } finally {
        agent.destroy();
      }
    });

    it('relays a server that listens on the container loopback only, many connections at once, and the nc echo', async () => {
      const echoes = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const socket = await connectTo(localPort(8093));
          const answer = readToEnd(socket);
          socket.end(`echo ${i}\n`);
          return answer;
        }),
      );
      assert.deepEqual(
        echoes,
        Array.from({ length: 20 }, (_, i) => `echo ${i}\n`),
      );
      const nc = await connectTo(localPort(9099));
      const answer = readToEnd(nc);
      nc.end('through nc\n');
      assert.equal(await answer, 'through nc\n');
    });

    it("lists only what the sandbox's own processes listen on", async () => {
      // Docker's embedded DNS resolver listens on 127.0.0.11 in every container of a
      // user-defined network; it is Docker's, not the user's, and no port to offer.
      const listed = await listPorts(sidecar.client, session.id);
      assert.deepEqual(
        listed.filter((p) => !(p.port in SERVER_PORTS)).map((p) => ({ port: p.port, process: p.process, forwarded: p.forward !== undefined })),
        [],
        'no other port is listed (or forwarded)',
      );
    });

    it('carries a 64 MiB body intact, holding back while the client does not read', async () => {
      const pid = sidecar.pid;
      let memoryBefore = 0;
      let growth = 0;
      const got = await httpDigest(`${urls.get(8080)!}big.bin`, async () => {
        // Paused after the first chunk: what the server sends meanwhile must wait in the
        // server and the sockets (back-pressure), not pile up in the sidecar.
        memoryBefore = residentMiB(pid);
        await sleep(1500);
        growth = residentMiB(pid) - memoryBefore;
      });
      assert.equal(got.bytes, BIG_FILE_BYTES);
      assert.equal(got.sha256, bigFileSha256, 'the same bytes as sha256sum in the container');
      assert.ok(growth < BIG_FILE_BYTES / 1024 / 1024 / 2, `the sidecar held back instead of buffering (it grew by ${growth.toFixed(1)} MiB while the client paused)`);
    });

    it('relays a WebSocket echo: text, a 1 MiB binary message, and a close from either side', async () => {
      const wsUrl = urls.get(8090)!.replace(/^http/, 'ws');
      const socket = new WebSocket(wsUrl);
      const messages: Array<{ data: Buffer; binary: boolean }> = [];
      socket.on('message', (data: Buffer, binary: boolean) => messages.push({ data, binary }));
      const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
      await new Promise((resolve, reject) => (socket.once('open', resolve), socket.once('error', reject)));
      socket.send('hello through the forward');
      const big = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
      socket.send(big);
      await waitFor('both echoes', () => (messages.length >= 2 ? true : undefined));
      assert.equal(messages[0].binary, false);
      assert.equal(messages[0].data.toString(), 'hello through the forward');
      assert.equal(messages[1].binary, true);
      assert.ok(messages[1].data.equals(big), 'the 1 MiB message came back unchanged');
      socket.close(1000, 'client is done');
      assert.deepEqual(await closed, { code: 1000, reason: 'client is done' }, 'the server answered the close frame');

      const second = new WebSocket(wsUrl);
      const serverClosed = new Promise<{ code: number; reason: string }>((resolve) => second.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
      await new Promise((resolve, reject) => (second.once('open', resolve), second.once('error', reject)));
      second.send('close, please');
      assert.deepEqual(await serverClosed, { code: 4000, reason: 'server says bye' }, "the server's close reached the client");
    });

    it('half-closes: the server reads to the client\'s end and still answers; the server\'s end reaches the client', async () => {
      const counting = await connectTo(localPort(8091));
      const answer = readToEnd(counting);
      counting.write('x'.repeat(1000));
      counting.write('y'.repeat(24));
      counting.end();
      const [, received, from] = /^received (\d+) from (\S+)\n$/.exec(await answer) ?? [];
      assert.equal(received, '1024', 'the server saw the end, then answered and ended');
      // A relay connects from inside the container, a direct connection from the bridge's gateway.
      assert.equal(/^(::ffff:)?127\.0\.0\.1$/.test(from), transport.relay, `the connection came ${transport.relay ? 'through a relay' : 'straight'} (from ${from})`);

      const bye = await connectTo(localPort(8092));
      assert.equal(await readToEnd(bye), 'bye\n', "the client saw the server's end");
      bye.end();
      await waitFor('both connections to be done', async () => ((await listPorts(sidecar.client, session.id, false)).find((p) => p.port === 8091)?.forward?.connections === 0 ? true : undefined));
    });

    it(
      'carries what the client sends after the server ended its side',
      // The relay in this image is node's, which (as busybox nc) ends at the server's end; perl and python3 do not.
      transport.relay ? { todo: "the node and nc relays drop what the client sends after the server half-closed" } : {},
      async () => {
        await exec(sidecar.client, session.id, ['rm', '-f', '/tmp/after-bye.log']);
        const bye = await connectTo(localPort(8092));
        assert.equal(await readToEnd(bye), 'bye\n');
        bye.end('still here\n');
        const late = await waitFor('the server to see the end', async () => {
          const read = await exec(sidecar.client, session.id, ['cat', '/tmp/after-bye.log']);
          return read.exitCode === 0 ? read.stdout : undefined;
        });
        assert.equal(late, 'still here\n');
      },
    );

    it('thaws a frozen session for a connection, and never for a look', async () => {
      // No look may be under way when the container is paused: a `docker exec` that races the
      // pause hangs in runc and holds the container's lock in Docker until someone thaws its
      // cgroup by hand. So scheduled looks stop, and a look asked for waits for one under way.
      await sidecar.client.request(P.SetConfigRequest.type, { values: { 'ports.scanSeconds': 0 } });
      try {
        await listPorts(sidecar.client, session.id);
        await sidecar.client.request(P.FreezeSessionRequest.type, { id: session.id });
        const state = async () => (await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId: session.workspaceId }))[0].state;
        assert.equal(await state(), 'paused');
        await listPorts(sidecar.client, session.id);
        assert.equal(await state(), 'paused', 'a look does not thaw it');
        assert.equal((await httpGet(urls.get(8080)!)).body, PAGE, 'the request got through');
        await waitFor('the session to show as running', async () => ((await state()) === 'running' ? true : undefined));
      } finally {
        await sidecar.client.request(P.SetConfigRequest.type, { values: { 'ports.scanSeconds': null } });
      }
    });

    it('stops forwarding: the listener closes, live connections end, the port stays listed', async () => {
      const live = await connectTo(localPort(8091));
      const ended = ending(live);
      live.write('unfinished');
      await waitFor('the connection to be relayed', async () => ((await listPorts(sidecar.client, session.id, false)).find((p) => p.port === 8091)?.forward?.connections ? true : undefined));
      const relayRuns = async () => (await processesIn(sidecar.client, session.id)).some((line) => /^(nc|perl|python3|node|bash) .*127\.0\.0\.1 8091$/.test(line));
      if (transport.relay) await waitFor('the relay process in the container', async () => ((await relayRuns()) ? true : undefined));
      const stopped = await stopForwarding(sidecar.client, session.id, 8091);
      assert.equal(stopped.port, 8091);
      assert.equal(stopped.forward, undefined);
      assert.match(await ended, /^(end|reset)$/, 'the live connection ended');
      live.destroy();
      assert.equal(await refuses(localPort(8091)), true, 'a new connection is refused');
      const listed = (await listPorts(sidecar.client, session.id)).find((p) => p.port === 8091);
      assert.equal(listed?.listening, true, 'still listening in the sandbox');
      assert.equal(listed?.forward, undefined, 'not forwarded any more');
      await expectError(stopForwarding(sidecar.client, session.id, 8091), 'NotFound');
      if (transport.relay) {
        await waitFor('the relay process in the container to end', async () => ((await relayRuns()) ? undefined : true));
      }
    });

    it('removes every forward when the session stops', async () => {
      const locals = [...urls.keys()].filter((port) => port !== 8091).map(localPort);
      assert.deepEqual(await Promise.all(locals.map(refuses)), locals.map(() => false), 'the other forwards listen');
      await sidecar.client.request(P.StopSessionRequest.type, { id: session.id });
      await waitFor('every listener to close', async () => ((await Promise.all(locals.map(refuses))).every(Boolean) ? true : undefined));
      assert.deepEqual(await listPorts(sidecar.client, session.id, false), [], 'a stopped session has no ports');
    });
  });
}

describe('forward requests: local ports, labels, settings and bad input', () => {
  const sidecar = useSidecar();
  let session: P.SessionInfo;
  /** A local port something else holds for the whole suite. */
  let taken: net.Server;
  let takenPort = 0;
  /** A port number free here, that a server in the sandbox listens on too. */
  let sameNumber = 0;
  const url = (info: P.PortInfo) => info.forward!.url;

  before(async () => {
    await sidecar.client.request(P.SetConfigRequest.type, { values: { 'ports.autoForward': { persistent: 'off' } } });
    taken = await listenAnywhere();
    takenPort = (taken.address() as net.AddressInfo).port;
    sameNumber = await freePort();
    session = await sidecar.newSession('ports-requests', { kind: 'persistent' });
    const started = await exec(sidecar.client, session.id, [
      'sh',
      '-c',
      `mkdir -p /tmp/www && echo '${PAGE.trim()}' > /tmp/www/index.html && for p in 8080 8082 ${takenPort} ${sameNumber}; do (httpd -p $p -h /tmp/www &); done`,
    ]);
    assert.equal(started.exitCode, 0, started.stderr);
  });
  after(() => new Promise((resolve) => taken.close(resolve)));

  it('lists a new port with neither notice nor forward when ports.autoForward is off for the kind', async () => {
    const ports = await waitFor('the servers to be listed', async () => {
      const listed = await listPorts(sidecar.client, session.id);
      return [8080, 8082, takenPort, sameNumber].every((port) => listed.some((p) => p.port === port && p.process === 'httpd')) ? listed : undefined;
    });
    assert.deepEqual(
      ports.filter((p) => p.notice !== undefined || p.forward !== undefined),
      [],
      'nothing offered, nothing forwarded',
    );
  });

  it('forwards to the same port number when it is free here, to another one with a warning when not', async () => {
    const same = await forwardPort(sidecar.client, { sessionId: session.id, port: sameNumber });
    assert.equal(same.forward?.localPort, sameNumber);
    assert.equal(same.forward?.auto, false);
    assert.equal(same.warning, undefined);
    assert.equal((await httpGet(url(same))).body, PAGE);

    const moved = await forwardPort(sidecar.client, { sessionId: session.id, port: takenPort });
    assert.ok(moved.forward);
    assert.notEqual(moved.forward.localPort, takenPort);
    assert.match(moved.warning ?? '', new RegExp(`${takenPort}.*${moved.forward.localPort}`), 'the warning names the taken port and the one used');
    assert.equal((await httpGet(url(moved))).body, PAGE);
  });

  it('forwards to an explicit local port, moves on request, and refuses a taken one with Exists, changing nothing', async () => {
    const first = await freePort();
    const forwarded = await forwardPort(sidecar.client, { sessionId: session.id, port: 8080, localPort: first });
    assert.equal(forwarded.forward?.localPort, first);
    assert.equal((await httpGet(url(forwarded))).body, PAGE);
    const again = await forwardPort(sidecar.client, { sessionId: session.id, port: 8080, localPort: first });
    assert.equal(again.forward?.localPort, first, 'asking again changes nothing');
    assert.equal(again.forward?.since, forwarded.forward?.since, 'the same forward');

    const second = await freePort();
    const movedTo = await forwardPort(sidecar.client, { sessionId: session.id, port: 8080, localPort: second });
    assert.equal(movedTo.forward?.localPort, second);
    assert.equal(await refuses(first), true, 'the old local port is closed');
    assert.equal((await httpGet(url(movedTo))).body, PAGE);

    const before = portsSnapshot(await listPorts(sidecar.client, session.id));
    const error = await expectError(forwardPort(sidecar.client, { sessionId: session.id, port: 8080, localPort: takenPort }), 'Exists');
    assert.match(error.message, new RegExp(String(takenPort)));
    await expectError(forwardPort(sidecar.client, { sessionId: session.id, port: 8081, localPort: takenPort }), 'Exists');
    assert.deepEqual(portsSnapshot(await listPorts(sidecar.client, session.id)), before, 'nothing changed');
    assert.equal((await httpGet(url(movedTo))).body, PAGE, 'the forward still works where it was');
  });

  it('forwards a port before its server listens: refused connections until it does', async () => {
    const early = await forwardPort(sidecar.client, { sessionId: session.id, port: 8083 });
    assert.equal(early.listening, false);
    const socket = await connectTo(early.forward!.localPort);
    assert.match(await ending(socket), /^(end|reset)$/, 'the connection ends at once: nothing listens inside');
    socket.destroy();
    await exec(sidecar.client, session.id, ['sh', '-c', '(httpd -p 8083 -h /tmp/www &)']);
    assert.equal((await waitFor('the server to answer', async () => httpGet(url(early)))).body, PAGE);
    await stopForwarding(sidecar.client, session.id, 8083);
  });

  it('keeps a label across lists; forwarding with a label sets it; an empty label removes it', async () => {
    const labelled = await sidecar.client.request(P.SetPortLabelRequest.type, { sessionId: session.id, port: 8080, label: '  web ui  ' });
    assert.equal(labelled.label, 'web ui');
    assert.equal((await listPorts(sidecar.client, session.id)).find((p) => p.port === 8080)?.label, 'web ui');
    const renamed = await forwardPort(sidecar.client, { sessionId: session.id, port: 8080, label: 'docs' });
    assert.equal(renamed.label, 'docs');
    assert.equal((await listPorts(sidecar.client, session.id, false)).find((p) => p.port === 8080)?.label, 'docs');
    const cleared = await sidecar.client.request(P.SetPortLabelRequest.type, { sessionId: session.id, port: 8080, label: '' });
    assert.equal(cleared.label, undefined);
    assert.equal((await listPorts(sidecar.client, session.id)).find((p) => p.port === 8080)?.label, undefined);
  });

  it('refuses bad input with a clear error and changes nothing', async () => {
    const before = portsSnapshot(await listPorts(sidecar.client, session.id));
    const sessionId = session.id;
    const raw = (method: string, params: object) => sidecar.client.connection.sendRequest(method, params);
    for (const port of [0, 70000, -1, 80.5]) {
      await expectError(forwardPort(sidecar.client, { sessionId, port }), 'InvalidInput');
      await expectError(stopForwarding(sidecar.client, sessionId, port), 'InvalidInput');
      await expectError(sidecar.client.request(P.SetPortLabelRequest.type, { sessionId, port, label: 'x' }), 'InvalidInput');
    }
    await expectError(raw(P.ForwardPortRequest.method, { sessionId, port: '8080' }), 'InvalidInput');
    await expectError(raw(P.ForwardPortRequest.method, { sessionId }), 'InvalidInput');
    for (const localPort of [70000, -1, 1.5]) await expectError(forwardPort(sidecar.client, { sessionId, port: 8082, localPort }), 'InvalidInput');
    for (const label of ['two\nlines', 'x'.repeat(65), 'red \u001b[31m']) {
      await expectError(forwardPort(sidecar.client, { sessionId, port: 8082, label }), 'InvalidInput');
      await expectError(sidecar.client.request(P.SetPortLabelRequest.type, { sessionId, port: 8080, label }), 'InvalidInput');
    }
    await expectError(stopForwarding(sidecar.client, sessionId, 8082), 'NotFound');
    const unknown = 'ses-000000000000';
    await expectError(listPorts(sidecar.client, unknown), 'NotFound');
    await expectError(forwardPort(sidecar.client, { sessionId: unknown, port: 8080 }), 'NotFound');
    await expectError(stopForwarding(sidecar.client, unknown, 8080), 'NotFound');
    await expectError(sidecar.client.request(P.SetPortLabelRequest.type, { sessionId: unknown, port: 8080, label: 'x' }), 'NotFound');
    assert.deepEqual(portsSnapshot(await listPorts(sidecar.client, session.id)), before, 'nothing changed');
  });

  it('refuses to forward a port of a stopped session with Conflict', async () => {
    const stopped = await sidecar.newSession('ports-stopped', { kind: 'persistent' });
    await sidecar.client.request(P.StopSessionRequest.type, { id: stopped.id });
    const error = await expectError(forwardPort(sidecar.client, { sessionId: stopped.id, port: 8080 }), 'Conflict');
    assert.match(error.message, /stopped|not running/i);
    await expectError(sidecar.client.request(P.SetPortLabelRequest.type, { sessionId: stopped.id, port: 8080, label: 'x' }), 'Conflict');
    assert.deepEqual(await listPorts(sidecar.client, stopped.id), [], 'it has no ports, and a scan does not start it');
    assert.equal((await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId: stopped.workspaceId }))[0].state, 'stopped');
  });

  it('warns when ports.bindAddress reaches beyond loopback', async () => {
    await sidecar.client.request(P.SetConfigRequest.type, { values: { 'ports.bindAddress': '0.0.0.0' } });
    try {
      const open = await forwardPort(sidecar.client, { sessionId: session.id, port: 8082 });
      assert.equal(open.forward?.localAddress, '0.0.0.0');
      assert.match(open.warning ?? '', /network/, 'the warning says the network reaches it');
      assert.match((await listPorts(sidecar.client, session.id, false)).find((p) => p.port === 8082)?.warning ?? '', /network/, 'the list says so too');
      assert.equal(open.forward?.url, `http://127.0.0.1:${open.forward?.localPort}/`, 'the URL to open stays on this machine');
      assert.equal((await httpGet(url(open))).body, PAGE);
      assert.equal((await listPorts(sidecar.client, session.id, false)).find((p) => p.port === 8080)?.forward?.localAddress, '127.0.0.1', 'older forwards stay on loopback');
    } finally {
      await stopForwarding(sidecar.client, session.id, 8082).catch(() => undefined);
      await sidecar.client.request(P.SetConfigRequest.type, { values: { 'ports.bindAddress': null } });
    }
  });

  it('ends the forwards of a session stopped outside Sandkasten (docker stop)', async () => {
    const locals = (await listPorts(sidecar.client, session.id, false)).flatMap((p) => (p.forward ? [p.forward.localPort] : []));
    assert.equal(locals.length, 3, 'three forwards to end');
    await docker.getContainer(session.containerId!).stop({ t: 0 });
    await waitFor('every listener to close', async () => ((await Promise.all(locals.map(refuses))).every(Boolean) ? true : undefined));
    await waitFor('the session to show as stopped', async () => ((await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId: session.workspaceId }))[0].state === 'stopped' ? true : undefined));
    assert.deepEqual(await listPorts(sidecar.client, session.id), []);
  });

  it('ends the forwards of a deleted workspace', async () => {
    const doomed = await sidecar.newSession('ports-doomed', { kind: 'persistent' });
    await exec(sidecar.client, doomed.id, ['sh', '-c', 'mkdir -p /tmp/www && echo doomed > /tmp/www/index.html && (httpd -p 8080 -h /tmp/www &)']);
    await waitFor('the server to listen', async () => ((await listPorts(sidecar.client, doomed.id)).some((p) => p.port === 8080) ? true : undefined));
    const forwarded = await forwardPort(sidecar.client, { sessionId: doomed.id, port: 8080 });
    assert.equal((await httpGet(url(forwarded))).body, 'doomed\n');
    await sidecar.removeWorkspace(doomed.workspaceId);
    await waitFor('the listener to close', async () => ((await refuses(forwarded.forward!.localPort)) ? true : undefined));
    await expectError(listPorts(sidecar.client, doomed.id), 'NotFound');
  });
});

describe('forwards across a kill -9 of the sidecar', () => {
  const sidecar = useSidecar();

  it('leaves no listener, and the next sidecar brings back the forwards of running sessions only', async () => {
    const kept = await sidecar.newSession('ports-kept', { kind: 'persistent' });
    const moved = await sidecar.newSession('ports-moved', { kind: 'persistent' });
    const gone = await sidecar.newSession('ports-gone', { kind: 'persistent' });
    const forwardOf = async (session: P.SessionInfo, page: string) => {
      await exec(sidecar.client, session.id, ['sh', '-c', `mkdir -p /tmp/www && echo ${page} > /tmp/www/index.html && (httpd -p 8080 -h /tmp/www &)`]);
      return waitFor(`the auto-forward of ${page}`, async () => (await listPorts(sidecar.client, session.id)).find((p) => p.port === 8080)?.forward);
    };
    const keptForward = await forwardOf(kept, 'kept');
    const movedForward = await forwardOf(moved, 'moved');
    const goneForward = await forwardOf(gone, 'gone');
    await sidecar.client.request(P.SetPortLabelRequest.type, { sessionId: kept.id, port: 8080, label: 'survives' });
    assert.equal((await httpGet(keptForward.url)).body, 'kept\n');

    await sidecar.kill9();
    for (const forward of [keptForward, movedForward, goneForward]) assert.equal(await refuses(forward.localPort), true, 'no listener outlives the sidecar');
    await docker.getContainer(gone.containerId!).stop({ t: 0 }); // while no sidecar watches
    // Something else takes a forward's local port meanwhile.
    const squatter = http.createServer((_request, response) => response.end('squatter\n'));
    await new Promise<void>((resolve) => squatter.listen(movedForward.localPort, '127.0.0.1', resolve));
    try {
      await sidecar.reconnect();

      const restored = (await listPorts(sidecar.client, kept.id, false)).find((p) => p.port === 8080);
      assert.equal(restored?.forward?.localPort, keptForward.localPort, 'the same local port again');
      assert.equal(restored?.forward?.auto, true);
      assert.equal(restored?.label, 'survives');
      assert.equal((await httpGet(keptForward.url)).body, 'kept\n', 'the forward works again');

      const elsewhere = (await listPorts(sidecar.client, moved.id, false)).find((p) => p.port === 8080)?.forward;
      assert.ok(elsewhere, 'a forward whose local port was taken comes back too');
      assert.notEqual(elsewhere.localPort, movedForward.localPort, 'on another local port');
      assert.equal((await httpGet(elsewhere.url)).body, 'moved\n');
      assert.equal((await httpGet(movedForward.url)).body, 'squatter\n', 'the squatter keeps its port');

      assert.deepEqual(await listPorts(sidecar.client, gone.id), [], 'the stopped session has no forward');
      assert.equal(await refuses(goneForward.localPort), true);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});

describe('a forward outlives its clients', () => {
  const sidecar = useSidecar();

  it('keeps the sidecar up with no client while a port someone forwarded is forwarded, and lets it go idle once the forward stops', async () => {
    // An auto-forward nobody used lets the sidecar go after a while; one asked for keeps it up.
    await sidecar.client.request(P.SetConfigRequest.type, { values: { idleShutdownSeconds: 1, 'ports.autoForward': { persistent: 'off' } } });
    const session = await sidecar.newSession('ports-idle', { kind: 'persistent' });
    await exec(sidecar.client, session.id, ['sh', '-c', `mkdir -p /tmp/www && echo '${PAGE.trim()}' > /tmp/www/index.html && (httpd -p 8080 -h /tmp/www &)`]);
    await waitFor('the server to listen', async () => ((await listPorts(sidecar.client, session.id)).some((p) => p.port === 8080) ? true : undefined));
    const { forward } = await forwardPort(sidecar.client, { sessionId: session.id, port: 8080 });
    const pid = sidecar.pid;
    sidecar.closeClients();
    // Three idle periods with no client: only the forward keeps it up (a browser may use it).
    await sleep(3000);
    assert.equal(processGone(pid), false, 'the sidecar is still up while a port is forwarded');
    assert.equal((await httpGet(forward!.url)).body, PAGE, 'and the forward works');
    const client = await sidecar.rawClient();
    await stopForwarding(client, session.id, 8080);
    client.close();
    await waitForExit(pid);
  });
});

/**
 * What the look at a container's sockets runs (`sh -c 'cat /proc/net/tcp …'`, then `ls -l
 * /proc/PID/fd`) goes through the image's PATH, which a sandbox controls: Debian's puts
 * /usr/local/bin first, so a `cat` and an `ls` there lie as /tmp/hostile-mode says.
 */
const HOSTILE_TOOL = `#!/bin/sh
mode=
case "$*" in *proc*) mode=$(/bin/cat /tmp/hostile-mode 2>/dev/null) ;; esac
case "$mode" in
  garbage)
    head -c 100000 /dev/urandom
    printf '  sl  local_address rem_address   st\\n   0: ZZZZZZZZ:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 123 1\\n'
    printf '   1: 0100007F:115C 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 not-an-inode 1\\n'
    printf '   2: 0100007F:0000 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 124 1\\n'
    exit 0 ;;
  flood) exec yes 'garbage that never ends, a megabyte after another' ;;
  hang) exec sleep 3600 ;;
esac
exec "/bin/$(basename "$0")" "$@"
`;

describe('a hostile container', () => {
  const sidecar = useSidecar();
  let session: P.SessionInfo;
  const setMode = async (mode: string) => {
    const result = await exec(sidecar.client, session.id, ['sh', '-c', mode ? `echo ${mode} > /tmp/hostile-mode` : 'rm -f /tmp/hostile-mode']);
    assert.equal(result.exitCode, 0, result.stderr);
  };
  /** Listed ports other than the two real servers. */
  const strangers = (ports: P.PortInfo[]) => ports.filter((p) => p.port !== 7000 && p.port !== 7001).map((p) => p.port);

  before(async () => {
    session = await sidecar.newSession('ports-hostile', { kind: 'persistent', image: 'debian:bookworm-slim' });
    const script = Buffer.from(HOSTILE_TOOL).toString('base64');
    // 7000: perl; 7001: perl copied to a name with terminal escapes.
    const server = (port: number) => `-MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalPort => ${port}, Listen => 5, ReuseAddr => 1) or die; sleep 1 while 1'`;
    const setUp = await exec(sidecar.client, session.id, [
      'bash',
      '-c',
      [
        `echo ${script} | base64 -d > /usr/local/bin/hostile && chmod +x /usr/local/bin/hostile`,
        'ln -s hostile /usr/local/bin/cat && ln -s hostile /usr/local/bin/ls',
        `evil=$'/tmp/ev\\e[2Jil\\e[31m' && cp /usr/bin/perl "$evil"`,
        `(perl ${server(7000)} > /dev/null 2>&1 &)`,
        `("$evil" ${server(7001)} > /dev/null 2>&1 &)`,
        '[ "$(command -v cat)" = /usr/local/bin/cat ]',
      ].join(' && '),
    ]);
    assert.equal(setUp.exitCode, 0, setUp.stderr);
  });

  it('shows a process name with terminal escapes cleaned', async () => {
    const ports = await waitFor('both servers to be listed with their names', async () => {
      const listed = await listPorts(sidecar.client, session.id);
      return listed.filter((p) => (p.port === 7000 || p.port === 7001) && p.process).length === 2 ? listed : undefined;
    });
    assert.equal(ports.find((p) => p.port === 7000)?.process, 'perl');
    const evil = ports.find((p) => p.port === 7001)?.process ?? '';
    assert.doesNotMatch(evil, /[\u0000-\u001f\u007f-\u009f]/, `no control character in ${JSON.stringify(evil)}`);
    assert.match(evil, /^ev/);
  });

  for (const mode of ['garbage', 'flood']) {
    it(`lists none of the ${mode} a lying cat prints instead of the socket tables`, async () => {
      await setMode(mode);
      try {
        const ports = await listPorts(sidecar.client, session.id);
        assert.deepEqual(strangers(ports), [], 'no made-up port');
        assert.equal((await sidecar.client.request(P.StatusRequest.type, {})).pid, sidecar.pid, 'the sidecar is fine');
      } finally {
        await setMode('');
      }
      assert.deepEqual(
        (await listPorts(sidecar.client, session.id)).map((p) => p.port),
        [7000, 7001],
        'the next honest look sees the servers',
      );
    });
  }

  it('answers other requests while a look hangs, and the look ends', async () => {
    await setMode('hang');
    try {
      let scanDone = false;
      const scan = listPorts(sidecar.client, session.id).finally(() => (scanDone = true));
      await sleep(200); // the look has started
      const status = await sidecar.client.request(P.StatusRequest.type, {});
      assert.equal(status.pid, sidecar.pid);
      assert.ok((await sidecar.client.request(P.ListWorkspacesRequest.type, {})).length > 0);
      assert.equal(scanDone, false, 'the other requests were answered while the look hung');
      assert.deepEqual(strangers(await scan), [], 'the look ended, with nothing made up');
    } finally {
      await setMode('');
    }
  });

  it('leaves no process of a look that timed out behind in the container', async () => {
    // The hung `cat`s (the asked look's and the scheduled ones') must not pile up: a sandbox
    // has a process limit, and a look runs every few seconds while the session is in use.
    let hung: string[] = [];
    const probe = async () => {
      hung = (await processesIn(sidecar.client, session.id)).filter((line) => line.startsWith('sleep 3600'));
      return hung.length === 0 ? true : undefined;
    };
    await waitFor('the hung looks to be gone', probe, 15_000).catch(() => undefined);
    assert.deepEqual(hung, [], `${hung.length} processes of looks that timed out still run in the container`);
  });
});
