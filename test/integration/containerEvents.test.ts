/**
 * The sidecar follows Docker's events (issue 11): a container stopped, killed, paused or
 * removed behind its back shows in its session at once, exec says so, and start/resume
 * repair that same session; a paused container cannot make a deadline slip.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execLine } from './execSupport';
import { docker, expectError, P, useSidecar, waitFor } from './harness';

describe('sessions follow what Docker does behind the sidecar\'s back', () => {
  const sidecar = useSidecar();

  const sessionNow = async (id: string) => (await sidecar.client.request(P.ListSessionsRequest.type, {})).find((s) => s.id === id)!;
  const waitForState = (id: string, state: P.SessionState) =>
    waitFor(`session ${id} to be ${state}`, async () => {
      const session = await sessionNow(id);
      return session.state === state ? session : undefined;
    });

  for (const [what, act, reason] of [
    ['stopped', (id: string) => docker.getContainer(id).stop({ t: 1 }), /stopped outside Sandkasten/],
    ['killed', (id: string) => docker.getContainer(id).kill(), /stopped outside Sandkasten \(exit code 137\)/],
  ] as const) {
    it(`shows a session whose container was ${what} as stopped, with why; start resumes that same session`, async () => {
      const session = await sidecar.newSession(what);
      await execLine(sidecar.client, session.id, 'echo kept > /workspace/file');
      await act(session.containerId!);

      const stopped = await waitForState(session.id, 'stopped');
      assert.match(stopped.stateReason ?? '', reason);
      const refused = await expectError(execLine(sidecar.client, session.id, 'true'), 'Conflict');
      assert.match(refused.message, /outside Sandkasten/, 'exec says what happened');

      const again = await sidecar.client.request(P.StartSessionRequest.type, { workspaceId: session.workspaceId });
      assert.equal(again.id, session.id, 'the same session, not a second one');
      assert.equal((await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId: session.workspaceId })).length, 1);
      assert.equal((await execLine(sidecar.client, session.id, 'cat /workspace/file')).stdout, 'kept\n');
    });
  }

  it('recreates the container of a session whose container was removed, on the same volume, with session resume', async () => {
    const session = await sidecar.newSession('removed');
    await execLine(sidecar.client, session.id, 'echo kept > /workspace/file');
    await docker.getContainer(session.containerId!).remove({ force: true });

    const stopped = await waitForState(session.id, 'stopped');
    assert.equal(stopped.containerId, null);
    assert.match(stopped.stateReason ?? '', /removed outside Sandkasten/);

    const resumed = await sidecar.client.request(P.ResumeSessionRequest.type, { id: session.id });
    assert.equal(resumed.id, session.id);
    assert.notEqual(resumed.containerId, session.containerId);
    assert.equal((await execLine(sidecar.client, session.id, 'cat /workspace/file')).stdout, 'kept\n');
  });

  it('shows a paused container as a paused session that exec refuses, and resume thaws it', async () => {
    const session = await sidecar.newSession('paused');
    await docker.getContainer(session.containerId!).pause();
    const paused = await waitForState(session.id, 'paused');
    assert.match(paused.stateReason ?? '', /paused outside Sandkasten/);
    const refused = await expectError(execLine(sidecar.client, session.id, 'true'), 'Conflict');
    assert.match(refused.message, /paused/);

    const resumed = await sidecar.client.request(P.ResumeSessionRequest.type, { id: session.id });
    assert.equal(resumed.state, 'running');
    assert.equal((await execLine(sidecar.client, session.id, 'echo thawed')).stdout, 'thawed\n');
  });

  it('keeps a deadline when the container is paused during the command: a clear error, never a late success', async () => {
    const session = await sidecar.newSession('deadline');
    const running = execLine(sidecar.client, session.id, 'sleep 20; echo late', { timeoutMs: 1500 });
    await waitFor('the command to start', async () => ((await execLine(sidecar.client, session.id, 'ps', { cleanShell: true })).stdout.includes('sleep 20') ? true : undefined));
    await docker.getContainer(session.containerId!).pause();
    try {
      const refused = await expectError(running, 'Conflict');
      assert.match(refused.message, /paused/);
    } finally {
      await docker.getContainer(session.containerId!).unpause().catch(() => undefined);
    }
    await waitForState(session.id, 'running');
    assert.equal((await execLine(sidecar.client, session.id, 'echo next')).stdout, 'next\n', 'the session goes on in a new shell');
  });
});
