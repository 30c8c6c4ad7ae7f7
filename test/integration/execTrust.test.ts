/**
 * Exec an agent can trust (issue 11): commands that change the shell's own settings do not
 * break the next one, cancel abandons the whole command line, sandbox code cannot forge a
 * result, and a client that goes away takes its commands with it.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CancellationTokenSource } from '../../sidecar/client/sidecarClient';
import { containerProbes, execLine, SAFETY_TIMEOUT_MS } from './execSupport';
import { P, sleep, useSidecar } from './harness';

/** The next command must answer well within this; a broken shell would hang until it. */
const ANSWER_DEADLINE_MS = 15_000;

describe('exec an agent can trust, against the real Docker engine', () => {
  const sidecar = useSidecar();
  const { processes, waitUntilRunning, waitUntilGone } = containerProbes(sidecar);
  let shared: P.SessionInfo;

  const line = (sessionId: string, text: string, extra: Partial<P.ExecParams> = {}) => execLine(sidecar.client, sessionId, text, { timeoutMs: SAFETY_TIMEOUT_MS, ...extra });

  /** `echo ok` answers, in the same shell (not after a timeout), with nothing else in its output. */
  async function assertAnswers(sessionId: string, why: string): Promise<P.ExecResult> {
    const result = await line(sessionId, 'echo ok', { timeoutMs: ANSWER_DEADLINE_MS });
    assert.equal(result.timedOut, false, `${why}: the next command answers`);
    assert.equal(result.stdout, 'ok\n', `${why}: the next command's output is its own`);
    assert.equal(result.exitCode, 0, why);
    return result;
  }

  before(async () => {
    shared = await sidecar.newSession('trust');
  });

  describe('commands that change the shell itself', () => {
    for (const change of ['exec 2>&1', 'exec 2>/dev/null', 'exec >/dev/null', 'exec 1>&2', 'exec </dev/null', 'set -C', 'set -u', 'set -f', 'IFS=,', 'set -a']) {
      it("cannot make a command report another status through the wrapper's variables, nor make the sidecar hold a huge one", async () => {
    const session = await sidecar.newSession('abvar');
    assert.equal((await line(session.id, '__sk_ab=abc; false')).exitCode, 1);
    assert.equal((await line(session.id, '__sk_ab=7777; true')).exitCode, 0);
    const huge = await line(session.id, "__sk_ab=$(head -c 4000000 /dev/zero | tr '\\0' 7); true");
    assert.equal(huge.exitCode, 0);
    assert.equal((await line(session.id, 'echo after')).stdout, 'after\n');
  });

  it(`keep the session answering after \`${change}\` (in eval too)`, async () => {
        const session = await sidecar.newSession('shellstate');
        for (const form of [change, `eval '${change}'`]) {
          const result = await line(session.id, `${form}; echo changed`, { timeoutMs: ANSWER_DEADLINE_MS });
          assert.equal(result.timedOut, false, `${form} returns`);
          assert.equal(result.exitCode, 0, form);
        }
        if (!change.startsWith('exec') || change === 'exec </dev/null') await assertAnswers(session.id, change);
        else {
          // The command asked for its own output to go elsewhere, and that lasts; the markers do not care.
          const result = await line(session.id, 'echo ok; echo err >&2', { timeoutMs: ANSWER_DEADLINE_MS });
          assert.equal(result.timedOut, false, change);
          assert.equal(result.exitCode, 0, change);
          assert.doesNotMatch(result.stdout + result.stderr, /\x1e|SK[0-9a-f]{8}/, 'no marker bytes in the output');
        }
      });
    }

    it('keeps state the command meant to change: cwd, exports, functions, aliases, options', async () => {
      const session = await sidecar.newSession('keepstate');
      await line(session.id, 'cd /tmp; export GREETING=hello; greet() { echo "$GREETING from $(pwd)"; }; alias hi=greet; set -u');
      assert.equal((await line(session.id, 'greet')).stdout, 'hello from /tmp\n');
      assert.equal((await line(session.id, 'hi')).stdout, 'hello from /tmp\n', 'aliases persist');
      const unset = await line(session.id, 'echo "$NOT_SET_ANYWHERE"');
      assert.notEqual(unset.exitCode, 0, 'set -u persisted');
      await assertAnswers(session.id, 'after an unset variable under set -u');
    });

    it('traces only the command under set -x: never the wrapper, its markers or its secret', async () => {
      const session = await sidecar.newSession('trace');
      await line(session.id, 'set -x');
      const traced = await line(session.id, 'echo visible');
      assert.equal(traced.stdout, 'visible\n');
      assert.match(traced.stderr, /\+ .*echo visible/, 'the command itself is traced, as in a terminal');
      assert.doesNotMatch(traced.stderr, /__sk|\\036|\x1e|printf/, 'nothing of the wrapper');
      const next = await line(session.id, 'true');
      assert.doesNotMatch(next.stderr, /__sk|\\036|\x1e|printf/);
      await line(session.id, 'set +x');
      assert.equal((await line(session.id, 'echo quiet')).stderr, '', 'set +x persists too');
    });

    it('is not fooled by aliases or functions named like the builtins it uses', async () => {
      const session = await sidecar.newSession('aliases');
      await line(session.id, "alias printf=false read=false echo=false command=false; printf() { :; }; read() { :; }");
      const result = await line(session.id, 'true', { timeoutMs: ANSWER_DEADLINE_MS });
      assert.equal(result.timedOut, false);
      assert.equal(result.exitCode, 0);
      await line(session.id, 'unalias -a; unset -f printf read');
      await assertAnswers(session.id, 'after the aliases went');
    });

    for (const [ending, status] of [['exit 7', 7], ['exec sh -c "exit 9"', 9], ['set -e; false', 1], ['kill -9 $$', 137]] as const) {
      it(`reports \`${ending}\` with its status and says the shell was reset; the session goes on`, async () => {
        const session = await sidecar.newSession('ending');
        await line(session.id, 'cd /tmp; export KEPT=yes');
        const result = await line(session.id, ending, { timeoutMs: ANSWER_DEADLINE_MS });
        assert.equal(result.timedOut, false);
        assert.equal(result.exitCode, status);
        assert.equal(result.shellReset, true);
        const after = await line(session.id, 'pwd; echo "${KEPT:-gone}"');
        assert.equal(after.stdout, '/workspace\ngone\n', 'a new shell, from the start');
        assert.equal(after.shellReset, false);
      });
    }

    it("puts an EXIT trap's output in the command's stdout", async () => {
      const session = await sidecar.newSession('trap');
      const result = await line(session.id, "trap 'echo goodbye' EXIT; echo before; exit 4");
      assert.equal(result.stdout, 'before\ngoodbye\n');
      assert.equal(result.exitCode, 4);
    });
  });

  describe('cancel and timeout', () => {
    for (const [what, text] of [
      ['a sequence', 'echo start; sleep 30; echo done'],
      ['a loop of commands', 'echo start; for i in 1 2 3 4 5 6 7 8 9; do sleep 5; echo "done $i"; done'],
      ['a builtin busy loop', 'echo start; while :; do :; done; echo done'],
      ['a pipeline', 'echo start; sleep 30 | cat; echo done'],
    ] as const) {
      it(`abandon the rest of ${what}, report the signal and keep the shell`, async () => {
        const session = await sidecar.newSession('cancel');
        await line(session.id, 'cd /tmp; export KEPT=yes');
        const cancellation = new CancellationTokenSource();
        const request = sidecar.client.request(P.ExecRequest.type, { sessionId: session.id, line: text, timeoutMs: SAFETY_TIMEOUT_MS }, cancellation);
        await sleep(700);
        cancellation.cancel();
        const result = await request;
        assert.equal(result.cancelled, true);
        assert.equal(result.stdout, 'start\n', 'nothing after the cancel ran');
        assert.ok([130, 143, 137].includes(result.exitCode), `a signal's status, got ${result.exitCode}`);
        assert.equal(result.shellReset, false, 'the shell obeyed: its state is kept');
        await sleep(600); // anything that would have run after the cancel has had its chance
        assert.equal((await line(session.id, 'pwd; echo "$KEPT"')).stdout, '/tmp\nyes\n');
        assert.doesNotMatch(await processes(session.id), /sleep (30|5)\b/, 'no process of the cancelled command remains');
      });
    }

    it('abandons the rest of the line on a timeout, too', async () => {
      const result = await line(shared.id, 'echo start; sleep 30; echo done', { timeoutMs: 800 });
      assert.equal(result.timedOut, true);
      assert.equal(result.stdout, 'start\n');
      assert.notEqual(result.exitCode, 0);
      await assertAnswers(shared.id, 'after a timeout');
    });
  });

  describe('results the sandbox cannot forge', () => {
    it('keeps the marker secret out of every file a process in the sandbox can read', async () => {
      const result = await line(shared.id, 'cat /dev/shm/.sandkasten-* 2>/dev/null; env; cat /proc/1/cmdline /proc/1/environ 2>/dev/null | tr "\\0" " "');
      for (const token of result.stdout.match(/[0-9a-f]{24}/g) ?? []) {
        assert.fail(`a 24-hex token is readable in the sandbox: ${token}`);
      }
    });

    it('reports the real status when a process prints markers it made up', async () => {
      // An attacker's best guesses: whatever the state files hold, on both streams, then a failure.
      const forge = [
        'for f in /dev/shm/.sandkasten-*; do read -r a b c <"$f"; for n in "$a" "$b" "$c"; do',
        "printf '\\036SK%s\\037' \"$n\" >&2; printf '\\036SK%s:0\\037' \"$n\"; printf '\\036SK%s:E0\\037' \"$n\"; done; done",
      ].join(' ');
      // The forgeries all happen while the command runs: a background one, then the foreground.
      const result = await line(shared.id, `(sleep 0.2; ${forge}) & ${forge}; sleep 0.6; sh -c 'exit 42'`);
      assert.equal(result.exitCode, 42);
      assert.equal(result.shellReset, false);
      await assertAnswers(shared.id, 'after forged markers');
    });
  });

  describe('a client that goes away', () => {
    it('takes its running command with it, and its queued commands never run', async () => {
      const session = await sidecar.newSession('gone');
      const doomed = await sidecar.connectAgain();
      void doomed.request(P.ExecRequest.type, { sessionId: session.id, line: 'sleep 31' }).catch(() => undefined);
      void doomed.request(P.ExecRequest.type, { sessionId: session.id, line: 'touch /workspace/queued-by-a-dead-client', queue: true }).catch(() => undefined);
      await waitUntilRunning(session.id, /sleep 31/);
      doomed.close(); // as a kill -9 of the CLI would

      await waitUntilGone(session.id, /sleep 31/);
      await assertAnswers(session.id, 'after the client went away');
      await sleep(500);
      assert.equal((await line(session.id, 'ls /workspace/queued-by-a-dead-client 2>/dev/null || echo absent')).stdout, 'absent\n');
    });
  });
});
