import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { containerProbes, execLine, SAFETY_TIMEOUT_MS } from './execSupport';
import { docker, exec, expectError, onEngine, P, useSidecar } from './harness';

describe(onEngine('exec in a persistent shell against the real Docker engine'), () => {
  const sidecar = useSidecar();
  const { waitUntilRunning, waitUntilGone } = containerProbes(sidecar);
  let shared: P.SessionInfo;

  const line = (sessionId: string, text: string, extra: Partial<P.ExecParams> = {}) => execLine(sidecar.client, sessionId, text, extra);

  before(async () => {
    shared = await sidecar.newSession('shell');
  });

  it('keeps the working directory, variables and background jobs between commands', async () => {
    const session = await sidecar.newSession('persist');
    assert.equal((await line(session.id, 'cd /tmp')).exitCode, 0);
    assert.equal((await exec(sidecar.client, session.id, ['pwd'])).stdout, '/tmp\n');
    await line(session.id, 'export A=1; B=unexported');
    assert.equal((await exec(sidecar.client, session.id, ['sh', '-c', 'echo $A'])).stdout, '1\n', 'a child shell sees exported variables');
    assert.equal((await line(session.id, 'echo "$A $B"')).stdout, '1 unexported\n');

    await line(session.id, 'sleep 310 &');
    await waitUntilRunning(session.id, /sleep 310/);
    assert.equal((await line(session.id, 'kill $!')).exitCode, 0, 'the shell still knows its background job');
    await waitUntilGone(session.id, /sleep 310/);
  });

  it('reports the shell\'s cwd after each command: spaces, UTF-8 and a control byte in names; none past 1024 characters, none beside', async () => {
    const session = await sidecar.newSession('cwd');
    assert.equal((await line(session.id, 'true')).cwd, '/workspace');
    assert.equal((await line(session.id, 'mkdir -p "/tmp/a b/ü" && cd "/tmp/a b/ü"')).cwd, '/tmp/a b/ü');
    assert.equal((await line(session.id, 'echo still')).cwd, '/tmp/a b/ü', 'where the next command starts');
    // A name holding the marker's end byte only cuts the report short; the command still ends.
    const odd = await line(session.id, "d=$(printf '/tmp/x\\037y'); mkdir -p \"$d\" && cd \"$d\" && echo in");
    assert.equal(odd.exitCode, 0);
    assert.equal(odd.stdout, 'in\n');
    assert.equal(odd.cwd, '/tmp/x');
    // A very deep directory is not reported (the marker stays bounded), and the command still ends.
    const deep = await line(session.id, 'd=/tmp; for i in $(seq 1 120); do d=$d/abcdefghij; done; mkdir -p $d && cd $d && echo deep');
    assert.equal(deep.stdout, 'deep\n');
    assert.equal(deep.cwd, undefined);
    assert.equal((await line(session.id, 'cd / && echo back')).cwd, '/');
    // A side command's cd ends with it: no cwd to report.
    const long = line(session.id, 'sleep 2');
    const side = await line(session.id, 'cd /etc && pwd');
    assert.equal(side.sideBySide, true);
    assert.equal(side.stdout, '/etc\n');
    assert.equal(side.cwd, undefined);
    assert.equal((await long).cwd, '/');
  });

  it("runs a new or resumed container's commands in its main shell, a child of the container's main process, with no exec", async () => {
    const session = await sidecar.newSession('main-shell');
    // PID 1 is Docker's init (it reaps orphans); the container's main process (the script that reads the secret) is its child.
    const parentOfShell = async () =>
      (await line(session.id, 'read -r s </proc/$$/stat; set -- ${s##*) }; p=$2; read -r s </proc/$p/stat; set -- ${s##*) }; tr "\\0" " " </proc/$p/cmdline | grep -q "read -r k" && echo "main process, child of $2"')).stdout;
    assert.equal(await parentOfShell(), 'main process, child of 1\n', 'the persistent shell is the one the main process started, under the init');
    await sidecar.client.request(P.StopSessionRequest.type, { id: session.id });
    await sidecar.startSession(session.workspaceId);
    assert.equal(await parentOfShell(), 'main process, child of 1\n', 'after a resume too');
    const inspected = await docker.getContainer(session.containerId!).inspect();
    assert.equal(inspected.HostConfig.LogConfig?.Type, 'none', 'command output is not kept in a container log');
  });

  it('goes on in a new shell after `exit` ends the main shell, reporting its status', async () => {
    const session = await sidecar.newSession('exit');
    await line(session.id, 'cd /tmp');
    const ended = await line(session.id, 'exit 5');
    assert.equal(ended.exitCode, 5);
    assert.equal((await line(session.id, 'pwd; echo next')).stdout, '/workspace\nnext\n', 'a fresh shell, in /workspace');
    // The replacement (an exec'd shell) ends the same way and is replaced again.
    assert.equal((await line(session.id, 'exit 6')).exitCode, 6);
    assert.equal((await line(session.id, 'echo third')).stdout, 'third\n');
  });

  it('notices when the main shell is killed between commands and answers the next one from a new shell', async () => {
    const session = await sidecar.newSession('killed');
    const pid = (await line(session.id, 'echo $$')).stdout.trim();
    await exec(sidecar.client, session.id, ['kill', '-KILL', pid], { cleanShell: true });
    await waitUntilGone(session.id, new RegExp(`^\\s*${pid}\\s`, 'm'));
    const next = await exec(sidecar.client, session.id, ['echo', 'still here'], { timeoutMs: SAFETY_TIMEOUT_MS });
    assert.deepEqual([next.exitCode, next.stdout, next.timedOut], [0, 'still here\n', false]);
  });

  it('runs a cleanShell command without the persistent cwd and environment, and leaves them untouched', async () => {
    const session = await sidecar.newSession('clean');
    await line(session.id, 'cd /tmp && export A=persistent');
    const clean = await line(session.id, 'pwd; echo "A=${A:-unset}"', { cleanShell: true });
    assert.equal(clean.stdout, '/workspace\nA=unset\n');
    assert.equal((await line(session.id, 'cd /etc && export A=clean', { cleanShell: true })).exitCode, 0);
    assert.equal((await line(session.id, 'pwd; echo "A=$A"')).stdout, '/tmp\nA=persistent\n');
  });

  it('reports exit codes: 0, 3, and 127 for a missing command', async () => {
    assert.equal((await exec(sidecar.client, shared.id, ['true'])).exitCode, 0);
    assert.equal((await exec(sidecar.client, shared.id, ['sh', '-c', 'exit 3'])).exitCode, 3);
    assert.equal((await line(shared.id, '(exit 3)')).exitCode, 3);
    const missing = await exec(sidecar.client, shared.id, ['no-such-command-here']);
    assert.equal(missing.exitCode, 127);
    assert.match(missing.stderr, /no-such-command-here/);
    assert.equal((await line(shared.id, 'no-such-command-here --flag')).exitCode, 127);
  });

  it('survives a syntax error in a command line, with its state intact', async () => {
    const session = await sidecar.newSession('syntax');
    await line(session.id, 'cd /tmp');
    for (const broken of ['if then fi (', 'echo "unterminated']) {
      const result = await line(session.id, broken);
      assert.notEqual(result.exitCode, 0, `${broken} fails`);
      assert.notEqual(result.stderr, '', 'and says why');
    }
    assert.equal((await exec(sidecar.client, session.id, ['pwd'])).stdout, '/tmp\n', 'the same shell answers, still in /tmp');
  });

  it('refuses exec in a stopped session (Conflict) and malformed requests (InvalidInput)', async () => {
    const stopped = await sidecar.newSession('stopped');
    await sidecar.client.request(P.StopSessionRequest.type, { id: stopped.id });
    await expectError(exec(sidecar.client, stopped.id, ['echo', 'no']), 'Conflict');
    await expectError(sidecar.client.request(P.ExecRequest.type, { sessionId: shared.id, command: ['true'], line: 'true' }), 'InvalidInput');
    await expectError(sidecar.client.request(P.ExecRequest.type, { sessionId: shared.id }), 'InvalidInput');
  });
});
