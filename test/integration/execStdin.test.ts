/**
 * stdin for exec (issue 11): without -i a command reads /dev/null; with a stdin channel
 * (`sandkasten exec -i`) it reads what the client sends, bytes unchanged, with back-pressure,
 * and the end of the client's input is the command's end-of-file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { execLine, SAFETY_TIMEOUT_MS } from './execSupport';
import { CLI_SCRIPT, P, useSidecar } from './harness';

describe('stdin for exec, against the real Docker engine', () => {
  const sidecar = useSidecar();
  let session: P.SessionInfo;

  before(async () => {
    session = await sidecar.newSession('stdin');
  });

  /** Runs the CLI with `input` on its stdin; resolves with its exit code and output. */
  function cliWithInput(args: string[], input: Buffer): Promise<{ code: number; stdout: Buffer; stderr: string }> {
    const child = spawn(process.execPath, [CLI_SCRIPT, ...args], { env: { ...process.env, SANDKASTEN_HOME: sidecar.home } });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdin.on('error', () => undefined); // a command that reads nothing: the rest is not wanted
    child.stdin.end(input);
    return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(stdout), stderr })));
  }

  it('gives a command /dev/null without -i, so it never waits for input', async () => {
    const result = await cliWithInput(['exec', session.id, '--', 'sh', '-c', 'cat; echo end'], Buffer.from('ignored\n'));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'end\n');
  });

  it('passes stdin through with -i: text, and 8 MiB of binary unchanged', async () => {
    const text = await cliWithInput(['exec', '-i', session.id, '--', 'sh', '-c', 'wc -l; echo end'], Buffer.from('one\ntwo\nthree\n'));
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout.toString(), /^\s*3\nend\n$/);

    const data = randomBytes(8 * 1024 * 1024);
    const binary = await cliWithInput(['exec', '-i', session.id, '--', 'md5sum'], data);
    assert.equal(binary.code, 0, binary.stderr);
    assert.equal(binary.stdout.toString().split(' ')[0], createHash('md5').update(data).digest('hex'));
  });

  it('ends promptly for a command that reads no stdin, however much is offered', async () => {
    const result = await cliWithInput(['exec', '-i', session.id, '--', 'sh', '-c', 'echo done'], randomBytes(4 * 1024 * 1024));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'done\n');
  });

  it('takes stdin from a channel a JSON-RPC client opened, in the session shell with its state', async () => {
    await execLine(sidecar.client, session.id, 'cd /tmp && export GREETING=hi');
    const channel = await sidecar.client.openStdinChannel('stdin-test-1');
    const result = sidecar.client.request(P.ExecRequest.type, { sessionId: session.id, line: 'while read -r l; do echo "$GREETING $l from $(pwd)"; done', stdinChannelId: 'stdin-test-1', timeoutMs: SAFETY_TIMEOUT_MS });
    channel.end('alice\nbob\n');
    const answer = await result;
    assert.equal(answer.stdout, 'hi alice from /tmp\nhi bob from /tmp\n');
    assert.equal((await execLine(sidecar.client, session.id, 'ls /dev/shm | grep -c sandkasten-stdin || true')).stdout, '0\n', 'the FIFO is gone');
  });
});
