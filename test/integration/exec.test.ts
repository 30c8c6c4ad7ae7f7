import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { exec, expectError, onEngine, P, useSidecar, waitFor } from './harness';

describe(onEngine('exec in a session against the real Docker engine'), () => {
  const sidecar = useSidecar();
  let session: P.SessionInfo;

  before(async () => {
    session = await sidecar.newSession('exec');
  });

  it('returns what a command prints on stdout, with exit code 0', async () => {
    const result = await exec(sidecar.client, session.id, ['echo', 'hello']);
    assert.equal(result.stdout, 'hello\n');
    assert.equal(result.stderr, '');
    assert.equal(result.exitCode, 0);
    assert.equal(result.timedOut, false);
    assert.ok(result.durationMs >= 0);
  });

  it('keeps stderr apart from stdout', async () => {
    const result = await exec(sidecar.client, session.id, ['sh', '-c', 'echo out; echo err >&2; echo out2']);
    assert.equal(result.stdout, 'out\nout2\n');
    assert.equal(result.stderr, 'err\n');
    assert.equal(result.exitCode, 0);
  });

  it("reports the command's exit code", async () => {
    const result = await exec(sidecar.client, session.id, ['sh', '-c', 'exit 3']);
    assert.equal(result.exitCode, 3);
    assert.equal(result.timedOut, false);
  });

  it('passes arguments through unchanged, spaces and quotes included', async () => {
    const args = ['two words', "it's", '$HOME', '*', 'a"b'];
    const result = await exec(sidecar.client, session.id, ['printf', '%s\\n', ...args]);
    assert.equal(result.stdout, args.map((a) => `${a}\n`).join(''));
  });

  it('runs commands in /workspace', async () => {
    const result = await exec(sidecar.client, session.id, ['pwd']);
    assert.equal(result.stdout, '/workspace\n');
  });

  it('reports a command that does not exist as exit code 127 with a message on stderr', async () => {
    const result = await exec(sidecar.client, session.id, ['no-such-command-here']);
    assert.equal(result.exitCode, 127);
    assert.match(result.stderr, /no-such-command-here/);
  });

  it('returns large output whole', async () => {
    const result = await exec(sidecar.client, session.id, ['sh', '-c', 'seq 1 20000']);
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 20000);
    assert.equal(lines[0], '1');
    assert.equal(lines[19999], '20000');
  });

  it('kills a command that runs past timeoutMs and reports timedOut', async () => {
    const result = await exec(sidecar.client, session.id, ['sleep', '30'], { timeoutMs: 500 });
    assert.equal(result.timedOut, true);
    assert.equal(result.cancelled, false, 'a timeout is not a cancellation');
    assert.notEqual(result.exitCode, 0, 'a killed command does not report success');
    // Killed means gone from the container, not merely no longer waited for.
    await waitFor('the timed-out sleep to be gone from the container', async () => {
      const ps = await exec(sidecar.client, session.id, ['ps', '-o', 'pid,args']);
      return /sleep 30/.test(ps.stdout) ? undefined : true;
    });
  });

  it('leaves a command that finishes within timeoutMs alone', async () => {
    const result = await exec(sidecar.client, session.id, ['sh', '-c', 'echo quick'], { timeoutMs: 20_000 });
    assert.equal(result.timedOut, false);
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout, 'quick\n');
  });

  it('runs concurrent commands of one session independently', async () => {
    const results = await Promise.all(
      [1, 2, 3, 4].map((n) => exec(sidecar.client, session.id, ['sh', '-c', `echo ${n}; echo e${n} >&2; exit ${n}`])),
    );
    results.forEach((result, i) => {
      assert.equal(result.stdout, `${i + 1}\n`);
      assert.equal(result.stderr, `e${i + 1}\n`);
      assert.equal(result.exitCode, i + 1);
    });
  });

  it('counts commands in the workspace statistics', async () => {
    const before = (await sidecar.client.request(P.ListWorkspacesRequest.type, {})).find((w) => w.id === session.workspaceId)!;
    await exec(sidecar.client, session.id, ['true']);
    const after = (await sidecar.client.request(P.ListWorkspacesRequest.type, {})).find((w) => w.id === session.workspaceId)!;
    assert.equal(after.stats.commands, before.stats.commands + 1);
  });

  it('refuses to exec in a stopped session with Conflict', async () => {
    const workspace = await sidecar.createWorkspace('exec-stopped');
    const other = await sidecar.startSession(workspace.id);
    await sidecar.client.request(P.StopSessionRequest.type, { id: other.id });
    await expectError(exec(sidecar.client, other.id, ['echo', 'no']), 'Conflict');
    assert.equal((await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId: workspace.id }))[0].state, 'stopped');
  });
});
