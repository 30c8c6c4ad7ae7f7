/**
 * Faults of a remote engine (issue 19), on the second engine of the tests: the engine stopped
 * and started while sessions run (sessions marked meanwhile, exec refused with a clear error,
 * nothing deleted; afterwards the same sessions run again in the same containers, with their
 * files), and the ssh connection killed during a command (that command fails clearly, the next
 * one runs). Stopping the engine stops it for every client of it: this suite must not run
 * beside another suite that uses the second engine, so `npm test` runs test/faults alone, last.
 */
import '../remote/tls';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { execLine } from '../integration/execSupport';
import { expectError, instanceObjectNames, P, SidecarHarness, useSidecar, useSidecars, waitFor } from '../integration/harness';
import { remoteDocker, remoteEngineEnv, startRemoteEngine, stopRemoteEngine } from '../support/remoteEngine';

const TLS_PORT = 23760;
const TLS_ENDPOINT = `tcp://127.0.0.1:${TLS_PORT}`;

const sessionsOf = (sidecar: SidecarHarness) => sidecar.client.request(P.ListSessionsRequest.type, {});

/** The instance's containers and volumes on the engine, the pool's left out (it replaces its own). */
async function sessionObjects(instanceId: string): Promise<{ containers: string[]; volumes: string[] }> {
  const { containers, volumes } = await instanceObjectNames(instanceId);
  const notPool = (name: string) => !name.includes('-pool-');
  return { containers: containers.filter(notPool), volumes: volumes.filter(notPool) };
}

describe('a remote engine that stops and starts again while sessions run (TLS)', () => {
  const sidecar = useSidecar();

  it('marks the sessions, refuses exec clearly and deletes nothing; then they run again in the same containers', async () => {
    try {
      await stoppedAndStarted(sidecar);
    } finally {
      await startRemoteEngine(); // whatever happened, the engine runs again (before the clean-up, and for whoever comes next)
    }
  });
});

/** Two sessions with files; the engine stops; what the sidecar shows meanwhile; the engine starts; what it shows then. */
async function stoppedAndStarted(sidecar: SidecarHarness): Promise<void> {
  const first = await sidecar.newSession('fault-a');
  const second = await sidecar.newSession('fault-b');
  await execLine(sidecar.client, first.id, 'echo kept-a > /workspace/file');
  await execLine(sidecar.client, second.id, 'echo kept-b > /workspace/file');
  const terminal = await sidecar.client.request(P.OpenTerminalRequest.type, { sessionId: first.id, cols: 80, rows: 24 });
  const workspacesBefore = (await sidecar.client.request(P.ListWorkspacesRequest.type, {})).map((w) => w.id).sort();
  const objectsBefore = await sessionObjects(sidecar.instanceId);

  await stopRemoteEngine();
  const marked = await waitFor('the sessions to be marked', async () => {
    const sessions = await sessionsOf(sidecar);
    return sessions.every((s) => s.engineUnreachable) ? sessions : undefined;
  });
  assert.deepEqual(
    marked.map((s) => [s.id, s.state, s.containerId]).sort(),
    [first, second].map((s) => [s.id, 'running', s.containerId]).sort(),
    'their state and containers are what they were',
  );
  const status = await sidecar.client.request(P.StatusRequest.type, {});
  assert.equal(status.docker.available, false);
  assert.match(status.docker.error ?? '', new RegExp(TLS_ENDPOINT.replace(/\./g, '\\.')), 'status names the engine');
  const refused = await expectError(execLine(sidecar.client, first.id, 'true'), 'DockerUnavailable');
  assert.match(refused.message, new RegExp(`The Docker engine at ${TLS_ENDPOINT.replace(/\./g, '\\.')}\\b.* has not answered for \\d+ s`));
  assert.deepEqual((await sidecar.client.request(P.ListWorkspacesRequest.type, {})).map((w) => w.id).sort(), workspacesBefore, 'no workspace record is lost');

  await startRemoteEngine();
  const resumed = await waitFor('the sessions to run again', async () => {
    const sessions = await sessionsOf(sidecar);
    return sessions.every((s) => s.state === 'running' && !s.engineUnreachable) ? sessions : undefined;
  }, 60_000);
  assert.deepEqual(resumed.map((s) => [s.id, s.containerId]).sort(), [first, second].map((s) => [s.id, s.containerId]).sort(), 'the same sessions in the same containers');
  assert.equal((await execLine(sidecar.client, first.id, 'cat /workspace/file')).stdout, 'kept-a\n');
  assert.equal((await execLine(sidecar.client, second.id, 'cat /workspace/file')).stdout, 'kept-b\n');
  const reopened = await sidecar.client.request(P.OpenTerminalRequest.type, { sessionId: first.id, terminalId: terminal.terminal.id, cols: 80, rows: 24 });
  assert.equal(reopened.outcome, 'restored', 'the terminal opens again, in a new shell');
  assert.deepEqual(await sessionObjects(sidecar.instanceId), objectsBefore, 'every container and volume of the workspaces is still there');
  assert.deepEqual((await sidecar.client.request(P.ListWorkspacesRequest.type, {})).map((w) => w.id).sort(), workspacesBefore);
  const history = await sidecar.client.request(P.WorkspaceHistoryRequest.type, { id: first.workspaceId });
  assert.ok(history.some((event) => /started again: its container stopped while the Docker engine was unreachable/.test(event.reason)), 'the history says what happened');
}

/**
 * A TCP relay on loopback to the second engine's TLS port (TLS passes through it untouched):
 * `drop()` breaks every connection and refuses new ones, as a network that went away does,
 * while the engine and its containers run on; `restore()` listens again on the same port.
 */
class DroppableRelay {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  async listen(): Promise<void> {
    const server = net.createServer((client) => {
      const engine = net.connect(TLS_PORT, '127.0.0.1');
      for (const socket of [client, engine]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => this.sockets.delete(socket));
      }
      client.pipe(engine).pipe(client);
      client.on('close', () => engine.destroy());
      engine.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async drop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.resetAndDestroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  /** Listens again on the same port (nothing when it listens). */
  async restore(): Promise<void> {
    if (!this.server) await this.listen();
  }
}

describe('the connection to a remote engine dropped and restored while sessions run (TLS)', () => {
  const relay = new DroppableRelay();
  let sidecar!: SidecarHarness;
  before(async () => {
    await relay.listen();
    sidecar = await SidecarHarness.start({ env: { ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${relay.port}` }, docker: remoteDocker() });
  });
  after(async () => {
    await relay.restore(); // the clean-up goes through it
    await sidecar?.cleanup();
    await relay.drop();
  });

  it('marks the sessions and refuses exec meanwhile; then the same sessions take commands, nothing restarted or deleted', async () => {
    const session = await sidecar.newSession('dropped');
    await execLine(sidecar.client, session.id, 'cd /tmp && echo kept > /workspace/file');
    const endpoint = `tcp://127.0.0.1:${relay.port}`;

    await relay.drop();
    await waitFor('the session to be marked', async () => ((await sessionsOf(sidecar)).find((s) => s.id === session.id)?.engineUnreachable ? true : undefined));
    const refused = await expectError(execLine(sidecar.client, session.id, 'true'), 'DockerUnavailable');
    assert.match(refused.message, new RegExp(`The Docker engine at ${endpoint.replace(/\./g, '\\.')}\\b.* has not answered for \\d+ s`));
    assert.equal((await remoteDocker().getContainer(session.containerId!).inspect()).State.Running, true, 'the container runs on');

    await relay.restore();
    const back = await waitFor('the session to be unmarked', async () => {
      const now = (await sessionsOf(sidecar)).find((s) => s.id === session.id);
      return now && !now.engineUnreachable ? now : undefined;
    });
    assert.equal(back.state, 'running');
    assert.equal(back.containerId, session.containerId);
    assert.equal(back.stateReason, undefined);
    const again = await execLine(sidecar.client, session.id, 'cat /workspace/file; pwd');
    assert.equal(again.stdout, 'kept\n/workspace\n', 'the files are there; a new shell starts where a session starts');
    const history = await sidecar.client.request(P.WorkspaceHistoryRequest.type, { id: session.workspaceId });
    assert.ok(!history.some((event) => /started again|stopped/.test(event.reason)), 'its container was never stopped or started again');
  });
});

/** The sidecar's child processes running `ssh` (one per connection to the engine). */
function sshChildren(pid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return Number(fields[1]) === pid && stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === 'ssh';
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

describe('an ssh connection to the engine killed during a command', () => {
  const env = { ...process.env, ...remoteEngineEnv('ssh') };
  const [sidecar] = useSidecars(1, { env, docker: remoteDocker() });

  it('fails that command with a clear error, and the next command in the session runs', async () => {
    const session = await sidecar.newSession('ssh-cut');
    assert.equal(sidecar.status.docker.transport, 'ssh');
    await execLine(sidecar.client, session.id, 'echo kept > /workspace/file');
    const running = execLine(sidecar.client, session.id, 'sleep 30; echo late', { timeoutMs: 60_000 });
    await waitFor('the command to run', async () => ((await execLine(sidecar.client, session.id, 'ps', { cleanShell: true })).stdout.includes('sleep 30') ? true : undefined));
    const children = await waitFor('the sidecar to have ssh connections', () => {
      const found = sshChildren(sidecar.pid);
      return found.length > 0 ? found : undefined;
    });
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (error) {
        // A connection that ended between the listing and the kill (the `ps` above had its own).
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }

    const cut = await expectError(running, 'DockerUnavailable');
    assert.match(cut.message, /connection to the Docker engine was (cut|lost) while the command ran/);
    assert.match(cut.message, /whether the command finished is unknown/);

    const next = await waitFor('the session to take commands again', async () => (await execLine(sidecar.client, session.id, 'cat /workspace/file')).stdout);
    assert.equal(next, 'kept\n');
    const now = (await sessionsOf(sidecar)).find((s) => s.id === session.id)!;
    assert.equal(now.state, 'running');
    assert.equal(now.containerId, session.containerId, 'the same container');
  });
});
