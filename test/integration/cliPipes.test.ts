import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_SCRIPT, exec, REPO_ROOT, runCli, sleep, useSidecar, waitFor, type CliResult, type P } from './harness';

/** A pipeline or signal test that takes longer than this is hanging, not slow. */
const PROMPT_MS = 10_000;
/** The pipe buffer of Linux: output beyond it is what an exit without a flush loses. */
const PIPE_BUFFER_BYTES = 64 * 1024;

interface PipelineResult extends CliResult {
  /** The sandkasten command's own exit code inside the pipeline. */
  cliCode: number | undefined;
  elapsedMs: number;
}

const noStackTrace = (stderr: string) => assert.doesNotMatch(stderr, /\n\s+at |EPIPE|Error:/, `no stack trace or raw error on stderr: ${stderr}`);

describe('the sandkasten command line in pipelines and under signals', () => {
  // Registered before useSidecar's hooks, so it runs while the sidecar still answers.
  after(async () => {
    if (session) await sidecar.removeWorkspace(session.workspaceId);
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });
  const sidecar = useSidecar();
  let session: P.SessionInfo;
  let scratch: string;

  /**
   * Runs a POSIX shell script in which `sk` is the sandkasten command of this storage
   * directory and `SESSION` the suite's session; `sk` records its own exit code, which a
   * pipeline's status hides, in $CODE_FILE: write `{ sk …; echo $? >"$CODE_FILE"; } | …`.
   */
  function pipeline(script: string): Promise<PipelineResult> {
    const codeFile = path.join(scratch, `code-${Math.random().toString(16).slice(2)}`);
    const started = Date.now();
    const child = spawn('sh', ['-c', `sk() { "$NODE" "$CLI" "$@"; }\n${script}`], {
      cwd: REPO_ROOT,
      env: { ...process.env, SANDKASTEN_HOME: sidecar.home, NODE: process.execPath, CLI: CLI_SCRIPT, SESSION: session.id, CODE_FILE: codeFile },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    return new Promise((resolve) =>
      child.on('close', (code) => {
        const cliCode = fs.existsSync(codeFile) ? Number(fs.readFileSync(codeFile, 'utf8').trim()) : undefined;
        resolve({ code: code ?? -1, stdout, stderr, cliCode, elapsedMs: Date.now() - started });
      }),
    );
  }

  /** The session still takes commands, and soon: what was cancelled is not still running. */
  async function sessionAnswersPromptly(): Promise<void> {
    const started = Date.now();
    const result = await runCli(sidecar.home, ['exec', session.id, '--', 'echo', 'ok']);
    assert.deepEqual(result, { code: 0, stdout: 'ok\n', stderr: '' });
    // Depends on the sidecar: it must stop the command the CLI cancelled (or whose client
    // went away) rather than let `echo ok` queue behind it.
    assert.ok(Date.now() - started < PROMPT_MS, `echo ok took ${Date.now() - started} ms`);
  }

  before(async () => {
    scratch = fs.mkdtempSync(path.join(sidecar.home, 'pipes-'));
    session = await sidecar.newSession('pipes');
  });

  for (const [label, script, expected] of [
    ['an endless stream of lines to head -2', 'sk exec "$SESSION" -- yes', 'y\ny\n'],
    ['a million lines to head -1', 'sk exec "$SESSION" -- seq 1000000', '1\n'],
  ] as const) {
    it(`stops promptly, quietly and with 141 when it writes ${label}`, async () => {
      const lines = expected.split('\n').length - 1;
      const result = await pipeline(`{ ${script}; echo $? >"$CODE_FILE"; } | head -${lines}`);
      assert.equal(result.stdout, expected);
      noStackTrace(result.stderr);
      // The CLI says nothing, as a shell says nothing of SIGPIPE (the container's shell may
      // still report the TERM that stopped the command, e.g. busybox's "Terminated").
      assert.doesNotMatch(result.stderr, /sandkasten:/, 'the CLI adds nothing on stderr');
      assert.equal(result.cliCode, 141, 'the exit code of a command ended by SIGPIPE');
      assert.ok(result.elapsedMs < PROMPT_MS, `the pipeline took ${result.elapsedMs} ms`);
      await sessionAnswersPromptly();
    });
  }

  it('stops promptly when head -c 100 closes a binary stream of 10 MiB', async () => {
    const result = await pipeline(`{ sk exec "$SESSION" -- sh -c 'cat /dev/zero | head -c 10485760'; echo $? >"$CODE_FILE"; } | head -c 100 | wc -c`);
    assert.equal(result.stdout.trim(), '100');
    noStackTrace(result.stderr);
    assert.equal(result.cliCode, 141);
    assert.ok(result.elapsedMs < PROMPT_MS, `the pipeline took ${result.elapsedMs} ms`);
    await sessionAnswersPromptly();
  });

  it("passes 10 MiB of the command's stderr through a pipe completely", async () => {
    const result = await pipeline(`{ sk exec "$SESSION" -- sh -c 'head -c 10485760 /dev/zero >&2' 2>&1 >/dev/null; echo $? >"$CODE_FILE"; } | wc -c`);
    assert.equal(result.stdout.trim(), String(10 * 1024 * 1024), `stderr: ${result.stderr}`);
    assert.equal(result.cliCode, 0);
  });

  it("writes out the command's last line of stderr before it exits", async () => {
    const result = await pipeline(`{ sk exec "$SESSION" -- sh -c 'seq 1 200000 >&2; echo END >&2' 2>&1 >/dev/null; echo $? >"$CODE_FILE"; } | tail -1`);
    assert.equal(result.stdout, 'END\n', `stderr: ${result.stderr}`);
    assert.equal(result.cliCode, 0);
  });

  it('writes out a --json listing larger than a pipe buffer completely', async () => {
    // Descriptions of 1000 characters make 80 workspaces ~115 KB of JSON, well over 64 KiB.
    const description = 'd'.repeat(1000);
    const made: P.WorkspaceInfo[] = [];
    try {
      for (let batch = 0; batch < 8; batch++) {
        made.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => sidecar.createWorkspace(`big-${batch}-${i}`, { description })))));
      }
      const result = await pipeline(`{ sk workspace list --json; echo $? >"$CODE_FILE"; } | cat`);
      assert.equal(result.cliCode, 0, `stderr: ${result.stderr}`);
      assert.ok(result.stdout.length > PIPE_BUFFER_BYTES, `${result.stdout.length} bytes: more than the pipe buffer holds`);
      let listed: P.WorkspaceInfo[];
      try {
        listed = JSON.parse(result.stdout) as P.WorkspaceInfo[];
      } catch {
        assert.fail(`stdout is not complete JSON (${result.stdout.length} bytes, ending ${JSON.stringify(result.stdout.slice(-80))})`);
      }
      for (const workspace of made) assert.ok(listed.some((w) => w.id === workspace.id), `${workspace.id} is listed`);
    } finally {
      for (const workspace of made) await sidecar.removeWorkspace(workspace.id);
    }
  });

  for (const [label, job, text] of [
    ['a background job', '(sleep 2; echo from-the-job) &', 'from-the-job'],
    ["a background shell's EXIT trap", "(trap 'echo from-the-trap' EXIT; sleep 2) &", 'from-the-trap'],
  ] as const) {
    it(`prints stdout of ${label} that arrives during an exec on stdout, not stderr`, async () => {
      // Started by a capturing exec, the job writes to the persistent shell's own stdout,
      // which the sidecar relays as exec/output notifications of whatever command runs then.
      await exec(sidecar.client, session.id, ['sh', '-c', job]);
      const result = await runCli(sidecar.home, ['exec', session.id, '--', 'sh', '-c', 'sleep 4; echo done']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`${text}\\n`));
      assert.match(result.stdout, /done\n$/);
      assert.doesNotMatch(result.stderr, new RegExp(text));
    });
  }

  for (const [signal, code] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
    ['SIGHUP', 129],
  ] as const) {
    it(`cancels a running exec on ${signal} and exits ${code} promptly`, async () => {
      const child = spawn(process.execPath, [CLI_SCRIPT, 'exec', session.id, '--', 'sh', '-c', 'echo started; sleep 30'], {
        env: { ...process.env, SANDKASTEN_HOME: sidecar.home },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const exited = new Promise<number | null>((resolve) => child.on('close', (exitCode) => resolve(exitCode)));
      await waitFor('the command to start', () => (stdout.includes('started') ? true : undefined));
      const signalled = Date.now();
      child.kill(signal);
      const exitCode = await Promise.race([exited, sleep(PROMPT_MS).then(() => 'still running' as const)]);
      if (exitCode === 'still running') child.kill('SIGKILL');
      assert.equal(exitCode, code, `stderr: ${stderr}`);
      assert.ok(Date.now() - signalled < PROMPT_MS);
      noStackTrace(stderr);
      await sessionAnswersPromptly();
    });
  }
});
