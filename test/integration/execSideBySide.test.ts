/**
 * Commands side by side (issue 11): while a long command (a dev server, `tail -f`) runs in the
 * session's shell, another command starts at once in a shell of its own, where the session
 * is; `queue` keeps strict order for callers who want it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CancellationTokenSource } from '../../sidecar/client/sidecarClient';
import { containerProbes, execLine, SAFETY_TIMEOUT_MS } from './execSupport';
import { P, runCli, useSidecar } from './harness';

describe('commands side by side in one session, against the real Docker engine', () => {
  const sidecar = useSidecar();
  const { waitUntilRunning, waitUntilGone } = containerProbes(sidecar);

  const line = (sessionId: string, text: string, extra: Partial<P.ExecParams> = {}) => execLine(sidecar.client, sessionId, text, { timeoutMs: SAFETY_TIMEOUT_MS, ...extra });

  /** Starts a long command in the session's shell and waits until it runs. */
  async function longCommand(sessionId: string, text = 'sleep 40', marker = /sleep 40/) {
    const cancellation = new CancellationTokenSource();
    let settled = false;
    const result = sidecar.client
      .request(P.ExecRequest.type, { sessionId, line: text, timeoutMs: SAFETY_TIMEOUT_MS }, cancellation)
      .finally(() => (settled = true));
    await waitUntilRunning(sessionId, marker);
    return { result, stop: () => cancellation.cancel(), isSettled: () => settled };
  }

  it('runs a command at once while a long one runs, where the session is, and leaves the session shell alone', async () => {
    const session = await sidecar.newSession('beside');
    await line(session.id, 'mkdir -p /tmp/project && cd /tmp/project && export MODE=dev && greet() { echo hi; }');
    const server = await longCommand(session.id);

    for (const [text, stdout, stderr] of [
      ['pwd; echo "$MODE"', '/tmp/project\ndev\n', ''],
      ['echo "$MODE" >&2; pwd', '/tmp/project\n', 'dev\n'],
    ]) {
      const beside = await line(session.id, text);
      assert.equal(beside.sideBySide, true);
      assert.equal(beside.stdout, stdout);
      assert.equal(beside.stderr, stderr);
      assert.equal(server.isSettled(), false, 'the long command still runs');
    }
    const changes = await line(session.id, 'cd / && export MODE=changed && pwd');
    assert.equal(changes.stdout, '/\n');

    server.stop();
    assert.equal((await server.result).sideBySide, false);
    const after = await line(session.id, 'pwd; echo "$MODE"');
    assert.equal(after.stdout, '/tmp/project\ndev\n', "what a side command changed stayed in its own shell");
    await waitUntilGone(session.id, /sleep 40/);
  });

  it('keeps strict order with queue: the command waits for the one running', async () => {
    const session = await sidecar.newSession('queue');
    const server = await longCommand(session.id, 'sleep 3; echo first-done > /tmp/order', /sleep 3/);
    const queued = await line(session.id, 'cat /tmp/order', { queue: true });
    assert.equal(queued.sideBySide, false);
    assert.equal(queued.stdout, 'first-done\n', 'it ran after the first finished');
    assert.equal((await server.result).exitCode, 0);
  });

  it('lets a side-by-side command be cancelled without touching the long command', async () => {
    const session = await sidecar.newSession('cancelside');
    const server = await longCommand(session.id);
    const cancellation = new CancellationTokenSource();
    const side = sidecar.client.request(P.ExecRequest.type, { sessionId: session.id, line: 'echo start; sleep 30; echo done', timeoutMs: SAFETY_TIMEOUT_MS }, cancellation);
    await waitUntilRunning(session.id, /sleep 30/);
    cancellation.cancel();
    const result = await side;
    assert.equal(result.cancelled, true);
    assert.equal(result.stdout, 'start\n');
    assert.equal(server.isSettled(), false, 'the long command was spared');
    server.stop();
    await server.result;
  });

  it('has the CLI run beside a busy shell by default and in order with --queue', async () => {
    const session = await sidecar.newSession('cliqueue');
    const server = await longCommand(session.id, 'sleep 3; echo cli-first > /tmp/cli-order', /sleep 3/);
    const beside = await runCli(sidecar.home, ['exec', session.id, '--', 'sh', '-c', 'cat /tmp/cli-order 2>/dev/null || echo not-yet']);
    assert.equal(beside.stdout, 'not-yet\n');
    const queued = await runCli(sidecar.home, ['exec', '--queue', session.id, '--', 'cat', '/tmp/cli-order']);
    assert.equal(queued.code, 0);
    assert.equal(queued.stdout, 'cli-first\n');
    await server.result;
  });
});
