/**
 * Background work (issue 11): jobs a command leaves running live on, and what they print
 * later is kept in the session's log; background processes have a handle to list, read,
 * signal and wait for.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execLine, SAFETY_TIMEOUT_MS } from './execSupport';
import { P, runCli, useSidecar, waitFor } from './harness';

describe('background jobs and processes, against the real Docker engine', () => {
  const sidecar = useSidecar();

  const line = (sessionId: string, text: string, extra: Partial<P.ExecParams> = {}) => execLine(sidecar.client, sessionId, text, { timeoutMs: SAFETY_TIMEOUT_MS, ...extra });
  const logText = async (sessionId: string, stream: 'stdout' | 'stderr') =>
    (await sidecar.client.request(P.SessionLogsRequest.type, { sessionId })).chunks.filter((c) => c.stream === stream).map((c) => c.data).join('');

  it("keeps what a background job prints after its command returned in the session's log, stdout and stderr apart", async () => {
    const session = await sidecar.newSession('bglog');
    const result = await line(session.id, '(sleep 1; echo later-out; echo later-err >&2) & echo now');
    assert.equal(result.stdout, 'now\n');
    await waitFor('the background output to reach the log', async () => ((await logText(session.id, 'stdout')).includes('later-out') ? true : undefined));
    assert.match(await logText(session.id, 'stderr'), /later-err/);
    assert.equal((await line(session.id, 'echo next')).stdout, 'next\n', 'the next command has only its own output');
  });

  // A job holds the fds the shell prints on; what it prints while a later command runs is
  // the job's, not that command's. Vary the streams, the shell (main, exec'd after `exit`,
  // side by side) and how the job was started.
  for (const variant of [
    { name: 'stdout of a subshell job', job: '(sleep 1; echo JOBBYTES) &', stream: 'stdout' as const },
    { name: 'stderr of a loop job', job: 'for i in 1 2 3 4 5 6; do sleep 0.3; echo JOBBYTES >&2; done &', stream: 'stderr' as const },
    { name: 'both streams of a child shell, after the shell was replaced', before: 'exit 4', job: `sh -c 'trap "" HUP; sleep 1; echo JOBBYTES; echo JOBBYTES >&2' &`, stream: 'stdout' as const },
  ]) {
    it(`never counts a background job's later output as a later command's: ${variant.name}`, async () => {
      const session = await sidecar.newSession('bgmix');
      if (variant.before) await line(session.id, variant.before);
      const started = await line(session.id, `${variant.job} echo started`);
      assert.equal(started.stdout, 'started\n');
      // This command runs while the job prints.
      const later = await line(session.id, 'sleep 2.5; echo mine; echo mine-err >&2; pwd');
      assert.equal(later.stdout, 'mine\n/workspace\n');
      assert.equal(later.stderr, 'mine-err\n');
      await waitFor('the job output in the log', async () => ((await logText(session.id, variant.stream)).includes('JOBBYTES') ? true : undefined));
      // The session's shell state lives on after its output moved.
      await line(session.id, 'cd /tmp; export KEPT=yes');
      const after = await line(session.id, 'echo "$KEPT $(pwd)"; exit 9');
      assert.deepEqual([after.stdout, after.exitCode], ['yes /tmp\n', 9]);
    });
  }

  it('keeps what a command set up on purpose when the output moves away from a job: a merged stderr, a silenced one', async () => {
    const session = await sidecar.newSession('bgfds');
    await line(session.id, "exec 7>&2; eval 'exec 2>&1'");
    await line(session.id, '(sleep 1; echo JOB) &');
    const merged = await line(session.id, 'echo out; echo err >&2');
    assert.deepEqual([merged.stdout, merged.stderr], ['out\nerr\n', '']);
    await line(session.id, "eval 'exec 2>/dev/null'; (sleep 1; echo JOB) &");
    const silenced = await line(session.id, 'echo out; echo err >&2');
    assert.deepEqual([silenced.stdout, silenced.stderr], ['out\n', '']);
    const restored = await line(session.id, 'exec 2>&7 7>&-; echo out; echo err >&2');
    assert.deepEqual([restored.stdout, restored.stderr], ['out\n', 'err\n'], 'a stderr saved on fd 7 before the move comes back to the new stream');
  });

  it('keeps the job output of a command run side by side out of later side commands', async () => {
    const session = await sidecar.newSession('bgside');
    const busy = line(session.id, 'sleep 6');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const side = await line(session.id, '(sleep 1; echo SIDEJOB; echo SIDEJOB >&2) & echo side-started');
    assert.deepEqual([side.stdout, side.sideBySide], ['side-started\n', true]);
    const next = await line(session.id, 'sleep 2; echo side-two');
    assert.deepEqual([next.stdout, next.stderr, next.sideBySide], ['side-two\n', '', true]);
    await waitFor('the side job output in the log', async () => ((await logText(session.id, 'stderr')).includes('SIDEJOB') ? true : undefined));
    assert.equal((await busy).exitCode, 0);
  });

  it('lets a job started through the CLI (stdout in a FIFO) live on and print, instead of dying of SIGPIPE', async () => {
    const session = await sidecar.newSession('bgfifo');
    const cli = await runCli(sidecar.home, ['exec', session.id, '--', 'sh', '-c', '(sleep 1; echo from-the-job; touch /tmp/job-survived) & echo started']);
    assert.equal(cli.code, 0);
    assert.equal(cli.stdout, 'started\n');
    await waitFor('the job to finish', async () => ((await line(session.id, 'ls /tmp/job-survived 2>/dev/null')).exitCode === 0 ? true : undefined));
    await waitFor('its output in the log', async () => ((await logText(session.id, 'stdout')).includes('from-the-job') ? true : undefined));
    const logs = await runCli(sidecar.home, ['logs', session.id]);
    assert.match(logs.stdout, /from-the-job/);
  });

  it('starts a process with a handle at once, where the session is, and reports its output and exit code', async () => {
    const session = await sidecar.newSession('proc');
    await line(session.id, 'cd /tmp && export WHO=agent');
    const started = await sidecar.client.request(P.StartProcessRequest.type, { sessionId: session.id, line: 'echo "$WHO in $(pwd)"; echo oops >&2; sleep 1; exit 3' });
    assert.equal(started.state, 'running');
    assert.match(started.id, /^proc-[0-9a-f]+$/);
    assert.deepEqual((await sidecar.client.request(P.ListProcessesRequest.type, { sessionId: session.id })).map((p) => p.id), [started.id]);

    const done = await sidecar.client.request(P.WaitProcessRequest.type, { processId: started.id, timeoutMs: 20_000 });
    assert.equal(done.state, 'exited');
    assert.equal(done.exitCode, 3);
    const output = await sidecar.client.request(P.ProcessOutputRequest.type, { processId: started.id });
    assert.equal(output.chunks.filter((c) => c.stream === 'stdout').map((c) => c.data).join(''), 'agent in /tmp\n');
    assert.equal(output.chunks.filter((c) => c.stream === 'stderr').map((c) => c.data).join(''), 'oops\n');
    assert.equal((await line(session.id, 'echo free')).sideBySide, false, "the session's shell was never busy with it");
  });

  it('follows a running process, and stops it like Ctrl-C', async () => {
    const session = await sidecar.newSession('procstop');
    const started = await sidecar.client.request(P.StartProcessRequest.type, { sessionId: session.id, line: 'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.2; done' });
    const first = await sidecar.client.request(P.ProcessOutputRequest.type, { processId: started.id, waitMs: 10_000 });
    assert.match(first.chunks.map((c) => c.data).join(''), /tick 1/);
    const later = await sidecar.client.request(P.ProcessOutputRequest.type, { processId: started.id, offset: first.nextOffset, waitMs: 10_000 });
    assert.ok(later.nextOffset > first.nextOffset, 'following gives what came after');

    await sidecar.client.request(P.SignalProcessRequest.type, { processId: started.id });
    const stopped = await sidecar.client.request(P.WaitProcessRequest.type, { processId: started.id, timeoutMs: 20_000 });
    assert.equal(stopped.state, 'exited');
    assert.ok([130, 143, 137].includes(stopped.exitCode!), `a signal's status, got ${stopped.exitCode}`);
  });

  it('gives the CLI the same: exec --background, ps, process output, process wait', async () => {
    const session = await sidecar.newSession('proccli');
    const started = await runCli(sidecar.home, ['exec', '--background', '--json', session.id, '--', 'sh', '-c', 'echo hello-from-bg; exit 5']);
    assert.equal(started.code, 0);
    const info = JSON.parse(started.stdout) as P.ProcessInfo;
    const waited = await runCli(sidecar.home, ['process', 'wait', info.id, '--timeout', '20']);
    assert.equal(waited.code, 5, 'process wait exits with the process\'s code');
    assert.equal((await runCli(sidecar.home, ['process', 'output', info.id])).stdout, 'hello-from-bg\n');
    const ps = await runCli(sidecar.home, ['ps', session.id, '--json']);
    assert.equal((JSON.parse(ps.stdout) as P.ProcessInfo[])[0].exitCode, 5);
  });

  it('refuses unknown processes and bad signals clearly', async () => {
    const session = await sidecar.newSession('procbad');
    await assert.rejects(sidecar.client.request(P.WaitProcessRequest.type, { processId: 'proc-nope' }), /No background process/);
    const kill = await runCli(sidecar.home, ['process', 'kill', 'proc-nope', '--signal', 'HUP']);
    assert.equal(kill.code, 2);
    await assert.rejects(sidecar.client.request(P.StartProcessRequest.type, { sessionId: session.id }), /either "command"/);
  });
});
