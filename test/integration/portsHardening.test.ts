/**
 * Forwards of a session the lifecycle froze, against the real Docker engine: findings of a
 * review, each shown to fail before its fix.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { describe, it } from 'node:test';
import { exec, P, sleep, useSidecar, waitFor } from './harness';
import { forwardPort, listPorts } from './portsSupport';

const PAGE = 'hello from the sandbox';
/** A request that gets no answer in this long hangs (a frozen container answers nothing). */
const HANG_LIMIT_MS = 20_000;

function get(url: string, agent: http.Agent | false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.setTimeout(HANG_LIMIT_MS, () => request.destroy(new Error(`no answer within ${HANG_LIMIT_MS / 1000} s`)));
    request.on('error', reject);
  });
}

/** What the echo sends back for `text`, or an error when nothing comes within HANG_LIMIT_MS. */
function echoOf(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => (socket.off('data', onData), reject(new Error(`no echo within ${HANG_LIMIT_MS / 1000} s`))), HANG_LIMIT_MS);
    const onData = (chunk: Buffer) => {
      got += chunk.toString('utf8');
      if (got.length >= text.length) {
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.write(text);
  });
}

async function serve(client: Parameters<typeof exec>[0], sessionId: string): Promise<void> {
  const started = await exec(client, sessionId, ['sh', '-c', `set -e; mkdir -p /tmp/www; echo '${PAGE}' > /tmp/www/index.html; (httpd -p 8080 -h /tmp/www &)`]);
  assert.equal(started.exitCode, 0, started.stderr);
  await waitFor('httpd to be listed', async () => ((await listPorts(client, sessionId)).some((p) => p.port === 8080 && p.listening) ? true : undefined));
}

/**
 * Unfreezes a container behind Docker's back through its cgroup (v1 freezer, or v2's
 * cgroup.freeze): how a test gets a jammed container back so the suite can clean up.
 */
function thawCgroup(containerId: string): void {
  for (const [file, value] of [
    [`/sys/fs/cgroup/freezer/docker/${containerId}/freezer.state`, 'THAWED'],
    [`/sys/fs/cgroup/system.slice/docker-${containerId}.scope/cgroup.freeze`, '0'],
  ]) {
    try {
      fs.writeFileSync(file, value);
    } catch {
      // not this cgroup layout
    }
  }
}

describe('a forward of a frozen session', () => {
  const sidecar = useSidecar();

  it('looks at the ports and relayed connections racing a freeze never jam the container (thaw, exec and inspect keep answering)', async () => {
    const session = await sidecar.newSession('race-freeze', { kind: 'session' });
    await serve(sidecar.client, session.id);
    const { forward } = await forwardPort(sidecar.client, { sessionId: session.id, port: 8080 });
    assert.ok(forward);
    const containerId = session.containerId!;
    try {
      for (let round = 1; round <= 25; round++) {
        // Each look and each relayed connection starts a docker exec; the freeze lands among them.
        const looks = Array.from({ length: 3 }, () => listPorts(sidecar.client, session.id).catch(() => undefined));
        const freeze = sidecar.client.request(P.FreezeSessionRequest.type, { id: session.id }).catch(() => undefined);
        await Promise.all([...looks, freeze]);
        // The next use thaws it: a command must answer (a jammed container never would).
        const thawed = await Promise.race([
          exec(sidecar.client, session.id, ['echo', 'alive']).then((result) => result.stdout.trim()),
          sleep(HANG_LIMIT_MS).then(() => 'jammed'),
        ]);
        assert.equal(thawed, 'alive', `round ${round}: the container did not come back after a freeze that met a look`);
      }
    } finally {
      thawCgroup(containerId); // a jam would otherwise outlive the test and hang the cleanup
    }
  });

  it('the first new connection through the exec relay (network none) after a freeze is answered, not reset', async () => {
    const session = await sidecar.newSession('review-frozen-relay', { kind: 'ephemeral' });
    await serve(sidecar.client, session.id);
    const { forward } = await forwardPort(sidecar.client, { sessionId: session.id, port: 8080 });
    assert.ok(forward);
    assert.equal((await get(forward.url, false)).body.trim(), PAGE, 'answered before the freeze');

    for (let round = 1; round <= 10; round++) {
      const frozen = await sidecar.client.request(P.FreezeSessionRequest.type, { id: session.id });
      assert.equal(frozen.state, 'paused');
      // A person comes back to the browser tab: a new connection, which thaws the session.
      const answer: { status: number; body: string } | Error = await get(forward.url, false).catch((error: Error) => error);
      assert.ok(!(answer instanceof Error), `round ${round}: the first request after the freeze failed: ${answer instanceof Error ? answer.message : ''}`);
      assert.equal(answer.body.trim(), PAGE);
    }
  });

  it('bytes on a connection opened before the freeze thaw the session (a WebSocket, a browser reusing its connection)', async () => {
    const session = await sidecar.newSession('review-frozen-direct', { kind: 'persistent' });
    const started = await exec(sidecar.client, session.id, ['sh', '-c', '(nc -ll -p 9099 -e cat &)']);
    assert.equal(started.exitCode, 0, started.stderr);
    const info = await waitFor('the echo to be forwarded', async () => (await listPorts(sidecar.client, session.id)).find((p) => p.port === 9099 && p.forward));
    const socket = net.connect(info.forward!.localPort, '127.0.0.1');
    try {
      await once(socket, 'connect');
      assert.equal(await echoOf(socket, 'before\n'), 'before\n');
      await sidecar.client.request(P.FreezeSessionRequest.type, { id: session.id }); // as the lifecycle does after 30 min without a new connection
      const answer: string | Error = await echoOf(socket, 'after\n').catch((error: Error) => error);
      assert.ok(!(answer instanceof Error), `bytes over the open connection got no answer: ${answer instanceof Error ? answer.message : ''}`);
      assert.equal(answer, 'after\n');
    } finally {
      socket.destroy();
    }
  });
});
