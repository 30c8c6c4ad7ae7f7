import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CancellationTokenSource } from '../../sidecar/client/sidecarClient';
import { containerProbes, execLine, SAFETY_TIMEOUT_MS } from './execSupport';
import { exec, P, sleep, useSidecar, type ResponseError } from './harness';

describe('cancelling exec, and timeouts of queued commands, against the real Docker engine', () => {
  const sidecar = useSidecar();
  const { processes, waitUntilRunning, waitUntilGone } = containerProbes(sidecar);
  let shared: P.SessionInfo;

  const line = (sessionId: string, text: string, extra: Partial<P.ExecParams> = {}) => execLine(sidecar.client, sessionId, text, extra);

  before(async () => {
    shared = await sidecar.newSession('cancel');
  });

  it('cancels a busy loop of the shell itself, and the shell it ran in takes the next command', async () => {
    const session = await sidecar.newSession('busy');
    const cancellation = new CancellationTokenSource();
    const request = sidecar.client.request(P.ExecRequest.type, { sessionId: session.id, line: 'while :; do :; done', timeoutMs: SAFETY_TIMEOUT_MS }, cancellation);
    await sleep(500);
    cancellation.cancel();
    const result = await request;
    assert.equal(result.cancelled, true);
    assert.equal(result.exitCode, 130);
    assert.equal(result.shellReset, false, 'the loop was abandoned, the shell kept');
    assert.equal((await line(session.id, 'echo after')).stdout, 'after\n');
  });

  it('stops a cancelled command in the container and reports it cancelled', async () => {
    const cancellation = new CancellationTokenSource();
    const request = sidecar.client.request(P.ExecRequest.type, { sessionId: shared.id, command: ['sleep', '300'], timeoutMs: SAFETY_TIMEOUT_MS }, cancellation);
    await waitUntilRunning(shared.id, /sleep 300/);
    cancellation.cancel();
    const result = await request;
    assert.equal(result.cancelled, true);
    assert.equal(result.timedOut, false);
    assert.notEqual(result.exitCode, 0);
    await waitUntilGone(shared.id, /sleep 300/);
    assert.equal((await exec(sidecar.client, shared.id, ['echo', 'after'])).stdout, 'after\n', 'the session takes the next command');
  });

  it("leaves the shell's background jobs running when a command is cancelled", async () => {
    const session = await sidecar.newSession('background');
    await line(session.id, 'sleep 305 &');
    await waitUntilRunning(session.id, /sleep 305/);
    const cancellation = new CancellationTokenSource();
    const request = sidecar.client.request(P.ExecRequest.type, { sessionId: session.id, command: ['sleep', '306'], timeoutMs: SAFETY_TIMEOUT_MS }, cancellation);
    await waitUntilRunning(session.id, /sleep 306/);
    cancellation.cancel();
    assert.equal((await request).cancelled, true);
    await waitUntilGone(session.id, /sleep 306/);
    assert.match(await processes(session.id), /sleep 305/, 'the background job started earlier still runs');
    await line(session.id, 'kill $!');
  });

  /** Runs a command that waits for `flag`, then `queued` behind it; releases the first after `disturb`. */
  async function queuedBehindRunning(flag: string, queued: Partial<P.ExecParams>, disturb: () => unknown, cancellation?: CancellationTokenSource) {
    const waiting = `while [ ! -e ${flag} ]; do sleep 0.1; done; echo first-finished`;
    const first = exec(sidecar.client, shared.id, ['sh', '-c', waiting], { timeoutMs: SAFETY_TIMEOUT_MS });
    try {
      await waitUntilRunning(shared.id, new RegExp(flag));
      const second = sidecar.client.request(P.ExecRequest.type, { sessionId: shared.id, command: ['echo', 'second'], queue: true, ...queued }, cancellation);
      await disturb();
      // Time for a stray interrupt (TERM, then KILL 1.7 s later) to hit the wrong command.
      await sleep(2_500);
      await exec(sidecar.client, shared.id, ['touch', flag], { cleanShell: true });
      return { first: await first, second: await second };
    } finally {
      await exec(sidecar.client, shared.id, ['touch', flag], { cleanShell: true });
      await first.catch(() => undefined);
    }
  }

  /** Cancels once the request has surely reached the sidecar's handler (a separate message). */
  const cancelSoon = (cancellation: CancellationTokenSource) => () => sleep(500).then(() => cancellation.cancel());

  it('does not run a command whose cancellation arrives together with the request', async () => {
    const cancellation = new CancellationTokenSource();
    const request = sidecar.client.request(P.ExecRequest.type, { sessionId: shared.id, command: ['sleep', '307'], timeoutMs: 10_000 }, cancellation);
    cancellation.cancel(); // same tick: the sidecar reads the request and the cancellation at once
    // Either answer is a cancellation: a result that says so, or LSP's RequestCancelled error.
    const outcome = await request.then(
      (result) => ({ cancelled: result.cancelled, timedOut: result.timedOut }),
      (error: ResponseError<unknown>) => ({ cancelled: error.code === P.ErrorCode.RequestCancelled, timedOut: false }),
    );
    assert.deepEqual(outcome, { cancelled: true, timedOut: false }, 'the command was cancelled, not left to run into its timeout');
    await waitUntilGone(shared.id, /sleep 307/);
  });

  it('cancelling a queued command does not disturb the command running before it', async () => {
    const cancellation = new CancellationTokenSource();
    const { first, second } = await queuedBehindRunning('/tmp/release-cancel', {}, cancelSoon(cancellation), cancellation);
    assert.deepEqual([first.exitCode, first.stdout, first.cancelled], [0, 'first-finished\n', false], 'the running command finished normally');
    assert.equal(second.cancelled, true);
    assert.equal(second.stdout, '', 'a command cancelled before it started does not run');
  });

  it('the timeout of a queued command does not disturb the command running before it', async () => {
    const { first } = await queuedBehindRunning('/tmp/release-timeout', { timeoutMs: 300 }, () => undefined);
    assert.deepEqual([first.exitCode, first.stdout, first.timedOut], [0, 'first-finished\n', false], 'the running command finished normally');
  });
});
