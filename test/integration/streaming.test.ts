import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { homePaths } from '../../sidecar/client/home';
import { connectToSidecar } from '../../sidecar/client/launch';
import { after, before, describe, it } from 'node:test';
import { CancellationTokenSource } from '../../sidecar/client/sidecarClient';
import { createWorkspace, docker, exec, expectError, P, ResponseError, SidecarHarness, sleep, waitFor, type SidecarClient } from './harness';

const MiB = 1024 * 1024;
/** How much the sidecar's resident memory may grow while it moves a large output. */
const MEMORY_BOUND_MB = 64;
/** Commands that wait for the test carry this timeout, so a failing test cannot block the shell for good. */
const SAFETY_TIMEOUT_MS = 60_000;

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

/** The sidecar's resident set size in MB, from /proc. */
function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, `no VmRSS for pid ${pid}`);
  return Number(match[1]) / 1024;
}

/** Samples the sidecar's RSS in the background and keeps the highest value seen. */
function rssPeak(pid: number) {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      // the sidecar is gone: the test fails on its own, the sampler just stops contributing
    }
  }, 100);
  timer.unref();
  return { get peak() { return Math.max(peak, rssMb(pid)); }, stop: () => clearInterval(timer) };
}

/** exec/output notifications of one client, dispatched by streamId (a client has one handler per method). */
function outputRouter(client: SidecarClient) {
  const listeners = new Map<string, (params: P.ExecOutputParams) => void>();
  client.onNotification(P.ExecOutputNotification.type, (params) => listeners.get(params.streamId)?.(params));
  return {
    listen: (streamId: string, listener: (params: P.ExecOutputParams) => void) => listeners.set(streamId, listener),
    /** Collects a stream's notifications in arrival order. */
    collect(streamId: string): P.ExecOutputParams[] {
      const received: P.ExecOutputParams[] = [];
      listeners.set(streamId, (params) => received.push(params));
      return received;
    },
  };
}

const joined = (chunks: P.ExecOutputParams[], stream: 'stdout' | 'stderr') => chunks.filter((c) => c.stream === stream).map((c) => c.data).join('');

describe('exec in a persistent shell, streamed, against the real Docker engine', () => {
  let sidecar: SidecarHarness;
  let shared: P.SessionInfo;
  let outputs: ReturnType<typeof outputRouter>;
  let streams = 0;
  const nextStreamId = () => `stream-${++streams}`;

  const line = (sessionId: string, text: string, extra: Partial<P.ExecParams> = {}) =>
    sidecar.client.request(P.ExecRequest.type, { sessionId, line: text, ...extra });

  async function newSession(name: string): Promise<P.SessionInfo> {
    const workspace = await createWorkspace(sidecar.client, name);
    return sidecar.client.request(P.StartSessionRequest.type, { workspaceId: workspace.id });
  }

  /** `ps` in the container, from a clean shell so it runs even while the persistent shell is busy. */
  async function processes(sessionId: string): Promise<string> {
    return (await exec(sidecar.client, sessionId, ['ps', '-o', 'pid,args'], { cleanShell: true })).stdout;
  }
  const waitUntilRunning = (sessionId: string, pattern: RegExp) =>
    waitFor(`${pattern} to run in the container`, async () => (pattern.test(await processes(sessionId)) ? true : undefined));
  const waitUntilGone = (sessionId: string, pattern: RegExp) =>
    waitFor(`${pattern} to be gone from the container`, async () => (pattern.test(await processes(sessionId)) ? undefined : true));

  /**
   * Waits until the process named `comm` stops making progress: its written-bytes counter
   * (/proc/PID/io wchar) stays the same between two looks. A writer nobody reads blocks there.
   * (busybox runs applets forked from sh without exec, so `ps` shows them as `{head} sh`.)
   */
  async function waitUntilHeldBack(sessionId: string, comm: string): Promise<number> {
    const script = `for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = ${comm} ] && echo "$p $(grep wchar $p/io)"; done`;
    let last: string | undefined;
    return waitFor(`${comm} to be held back by back-pressure`, async () => {
      const sample = (await exec(sidecar.client, sessionId, ['sh', '-c', script], { cleanShell: true })).stdout.trim();
      assert.match(sample, /^\/proc\/\d+ wchar: \d+$/, `one ${comm} runs`);
      const same = sample === last;
      last = sample;
      return same ? Number(sample.split(' ').pop()) : undefined;
    });
  }

  before(async () => {
    sidecar = await SidecarHarness.start();
    outputs = outputRouter(sidecar.client);
    shared = await newSession('stream');
  });

  after(async () => {
    await sidecar?.cleanup();
  });

  it('keeps the working directory, variables and background jobs between commands', async () => {
    const session = await newSession('persist');
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

  it("runs a new or resumed container's commands in its main shell, a child of PID 1, with no exec", async () => {
    const session = await newSession('main-shell');
    const parentOfShell = async () => (await line(session.id, 'read -r s </proc/$$/stat; set -- ${s##*) }; echo $2')).stdout;
    assert.equal(await parentOfShell(), '1\n', 'the persistent shell is the one PID 1 started');
    await sidecar.client.request(P.StopSessionRequest.type, { id: session.id });
    await sidecar.client.request(P.StartSessionRequest.type, { workspaceId: session.workspaceId });
    assert.equal(await parentOfShell(), '1\n', 'after a resume too');
    const inspected = await docker.getContainer(session.containerId!).inspect();
    assert.equal(inspected.HostConfig.LogConfig?.Type, 'none', 'command output is not kept in a container log');
  });

  it('goes on in a new shell after `exit` ends the main shell, reporting its status', async () => {
    const session = await newSession('exit');
    await line(session.id, 'cd /tmp');
    const ended = await line(session.id, 'exit 5');
    assert.equal(ended.exitCode, 5);
    assert.equal((await line(session.id, 'pwd; echo next')).stdout, '/workspace\nnext\n', 'a fresh shell, in /workspace');
    // The replacement (an exec'd shell) ends the same way and is replaced again.
    assert.equal((await line(session.id, 'exit 6')).exitCode, 6);
    assert.equal((await line(session.id, 'echo third')).stdout, 'third\n');
  });

  it('notices when the main shell is killed between commands and answers the next one from a new shell', async () => {
    const session = await newSession('killed');
    const pid = (await line(session.id, 'echo $$')).stdout.trim();
    await exec(sidecar.client, session.id, ['kill', '-KILL', pid], { cleanShell: true });
    await waitUntilGone(session.id, new RegExp(`^\\s*${pid}\\s`, 'm'));
    const next = await exec(sidecar.client, session.id, ['echo', 'still here'], { timeoutMs: SAFETY_TIMEOUT_MS });
    assert.deepEqual([next.exitCode, next.stdout, next.timedOut], [0, 'still here\n', false]);
  });

  it('cancels a busy loop of the shell itself by killing the shell; the next command gets a new one', async () => {
    const session = await newSession('busy');
    const cancellation = new CancellationTokenSource();
    const request = sidecar.client.request(P.ExecRequest.type, { sessionId: session.id, line: 'while :; do :; done', timeoutMs: SAFETY_TIMEOUT_MS }, cancellation);
    await sleep(500);
    cancellation.cancel();
    const result = await request;
    assert.equal(result.cancelled, true);
    assert.equal((await line(session.id, 'echo after')).stdout, 'after\n');
  });

  it('runs a cleanShell command without the persistent cwd and environment, and leaves them untouched', async () => {
    const session = await newSession('clean');
    await line(session.id, 'cd /tmp && export A=persistent');
    const clean = await line(session.id, 'pwd; echo "A=${A:-unset}"', { cleanShell: true });
    assert.equal(clean.stdout, '/workspace\nA=unset\n');
    assert.equal((await line(session.id, 'cd /etc && export A=clean', { cleanShell: true })).exitCode, 0);
    assert.equal((await line(session.id, 'pwd; echo "A=$A"')).stdout, '/tmp\nA=persistent\n');
  });

  it('streams output as exec/output notifications while the command still runs', async () => {
    const streamId = nextStreamId();
    const chunks = outputs.collect(streamId);
    let settled = false;
    const waiting = 'echo started; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo finished';
    const request = line(shared.id, waiting, { streamId, timeoutMs: SAFETY_TIMEOUT_MS }).finally(() => (settled = true));
    try {
      await waitFor('the first line to arrive while the command waits', () => (joined(chunks, 'stdout') === 'started\n' ? true : undefined));
      assert.equal(settled, false, 'the first line arrived before the command ended');
    } finally {
      await exec(sidecar.client, shared.id, ['touch', '/tmp/go'], { cleanShell: true });
    }
    const result = await request;
    assert.equal(joined(chunks, 'stdout'), 'started\nfinished\n');
    assert.deepEqual([result.exitCode, result.stdout, result.stderr], [0, '', ''], 'streamed output is not repeated in the result');
  });

  it('keeps a stream in order and stdout apart from stderr, then gives the exit code', async () => {
    const streamId = nextStreamId();
    const chunks = outputs.collect(streamId);
    const script = 'i=1; while [ $i -le 200 ]; do echo $i; echo e$i >&2; [ $((i % 25)) -eq 0 ] && sleep 0.05; i=$((i+1)); done; (exit 4)';
    const result = await line(shared.id, script, { streamId });
    const numbers = Array.from({ length: 200 }, (_, i) => i + 1);
    assert.equal(joined(chunks, 'stdout'), numbers.map((n) => `${n}\n`).join(''));
    assert.equal(joined(chunks, 'stderr'), numbers.map((n) => `e${n}\n`).join(''));
    assert.ok(chunks.length > 2, `output came in pieces as produced (${chunks.length} notifications)`);
    assert.deepEqual([result.exitCode, result.stdout, result.stderr, result.timedOut, result.cancelled], [4, '', '', false, false]);
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
    const session = await newSession('syntax');
    await line(session.id, 'cd /tmp');
    for (const broken of ['if then fi (', 'echo "unterminated']) {
      const result = await line(session.id, broken);
      assert.notEqual(result.exitCode, 0, `${broken} fails`);
      assert.notEqual(result.stderr, '', 'and says why');
    }
    assert.equal((await exec(sidecar.client, session.id, ['pwd'])).stdout, '/tmp\n', 'the same shell answers, still in /tmp');
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
    const session = await newSession('background');
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
      const second = sidecar.client.request(P.ExecRequest.type, { sessionId: shared.id, command: ['echo', 'second'], ...queued }, cancellation);
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

  it('kills a command that runs past timeoutMs and says so', async () => {
    const result = await exec(sidecar.client, shared.id, ['sleep', '302'], { timeoutMs: 500 });
    assert.equal(result.timedOut, true);
    assert.equal(result.cancelled, false);
    assert.notEqual(result.exitCode, 0);
    await waitUntilGone(shared.id, /sleep 302/);
  });

  it('passes binary output through unchanged: base64 captured, base64 streamed, and a raw channel', async () => {
    const made = await line(shared.id, 'head -c 4096 /dev/urandom > /tmp/blob && md5sum /tmp/blob');
    const expected = made.stdout.split(' ')[0];
    assert.match(expected, /^[0-9a-f]{32}$/);

    const captured = await exec(sidecar.client, shared.id, ['cat', '/tmp/blob'], { encoding: 'base64' });
    assert.equal(md5(Buffer.from(captured.stdout, 'base64')), expected, 'captured');

    const streamId = nextStreamId();
    const chunks = outputs.collect(streamId);
    await exec(sidecar.client, shared.id, ['cat', '/tmp/blob'], { encoding: 'base64', streamId });
    const streamed = Buffer.concat(chunks.filter((c) => c.stream === 'stdout').map((c) => Buffer.from(c.data, 'base64')));
    assert.equal(md5(streamed), expected, 'streamed');

    const channelId = nextStreamId();
    const channel = await sidecar.client.openRawChannel(channelId);
    const received: Buffer[] = [];
    channel.on('data', (chunk: Buffer) => received.push(chunk));
    const closed = new Promise((resolve) => channel.once('close', resolve));
    const result = await exec(sidecar.client, shared.id, ['cat', '/tmp/blob'], { rawChannelId: channelId });
    await closed;
    assert.equal(result.stdout, '');
    assert.equal(result.exitCode, 0);
    assert.equal(channel.transport, 'pipe', 'Docker is local: the bytes came through a FIFO');
    assert.equal(md5(Buffer.concat(received)), expected, 'through the raw channel');
  });

  /** A raw channel opened by hand, to see the protocol itself: the header line, then bytes. */
  async function rawSocket(channelId: string) {
    const socket = await connectToSidecar({ home: sidecar.home, sidecarScript: '', startIfMissing: false });
    socket.write(`${P.RAW_CHANNEL_PREAMBLE}${channelId}\n`);
    const header = new Promise<string>((resolve) => {
      let text = '';
      const onData = (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.includes('\n')) {
          socket.off('data', onData);
          resolve(text.slice(0, text.indexOf('\n')));
        }
      };
      socket.on('data', onData);
    });
    return { socket, header };
  }

  it('passes a raw channel\'s stdout through a FIFO on the host when Docker is local; the container cannot write into its pipe directory', async () => {
    const channelId = nextStreamId();
    const { socket, header } = await rawSocket(channelId);
    const request = exec(sidecar.client, shared.id, ['echo', 'through the pipe'], { rawChannelId: channelId });
    const offer = await header;
    assert.ok(offer.startsWith(P.RAW_CHANNEL_HEADER.pipe), `a pipe is offered: ${offer}`);
    const fifo = offer.slice(P.RAW_CHANNEL_HEADER.pipe.length);
    assert.ok(fifo.startsWith(homePaths(sidecar.home).pipes + path.sep), `under the storage directory: ${fifo}`);
    assert.ok(fs.statSync(fifo).isFIFO());
    const reader = new net.Socket({ fd: fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK), readable: true, writable: false });
    const received: Buffer[] = [];
    reader.on('data', (chunk: Buffer) => received.push(chunk));
    const ended = new Promise((resolve) => reader.once('end', resolve));
    socket.write('\n');
    assert.equal((await request).exitCode, 0);
    await ended;
    assert.equal(Buffer.concat(received).toString(), 'through the pipe\n');
    assert.equal(fs.existsSync(fifo), false, 'the FIFO is removed after the command');
    socket.destroy();

    const write = await line(shared.id, 'touch /run/sandkasten/x');
    assert.notEqual(write.exitCode, 0, 'the pipe directory is mounted read-only');
  });

  it('ends a raw channel whose command left a background job holding stdout, with the output so far', async () => {
    const channelId = nextStreamId();
    const channel = await sidecar.client.openRawChannel(channelId);
    const received: Buffer[] = [];
    channel.on('data', (chunk: Buffer) => received.push(chunk));
    const closed = new Promise((resolve) => channel.once('close', resolve));
    const result = await line(shared.id, 'sleep 303 & echo started', { rawChannelId: channelId });
    await closed;
    assert.deepEqual([result.exitCode, Buffer.concat(received).toString()], [0, 'started\n']);
    await line(shared.id, 'kill $!');
  });

  it('lets a command finish when its raw channel reader leaves early', async () => {
    const channelId = nextStreamId();
    const channel = await sidecar.client.openRawChannel(channelId);
    channel.once('data', () => channel.destroy());
    const result = await line(shared.id, `head -c ${64 * MiB} /dev/zero`, { rawChannelId: channelId, timeoutMs: SAFETY_TIMEOUT_MS });
    assert.deepEqual([result.exitCode, result.timedOut], [0, false]);
  });

  it(`keeps sidecar memory within ${MEMORY_BOUND_MB} MB while a raw channel reader stalls on 512 MiB`, async () => {
    const transfer = async (bytes: number, whileStalled?: () => Promise<void>) => {
      const channelId = nextStreamId();
      const channel = await sidecar.client.openRawChannel(channelId);
      channel.pause();
      let received = 0;
      const closed = new Promise((resolve) => channel.once('close', resolve));
      const request = line(shared.id, `head -c ${bytes} /dev/zero`, { rawChannelId: channelId });
      try {
        await whileStalled?.();
      } finally {
        channel.on('data', (chunk: Buffer) => (received += chunk.length));
        channel.resume();
      }
      const result = await request;
      await closed;
      assert.deepEqual([result.exitCode, received], [0, bytes], 'every byte arrived');
    };
    await transfer(32 * MiB); // warm-up: the baseline includes what the path keeps for good
    const baseline = rssMb(sidecar.pid);
    const sampler = rssPeak(sidecar.pid);
    let duringStall = 0;
    try {
      await transfer(512 * MiB, async () => {
        await waitUntilHeldBack(shared.id, 'head');
        await sleep(2_000); // and nobody reads for a while longer
        duringStall = sampler.peak;
      });
    } finally {
      sampler.stop();
    }
    assert.ok(duringStall - baseline <= MEMORY_BOUND_MB, `RSS grew by ${(duringStall - baseline).toFixed(1)} MB while the reader stalled`);
    assert.ok(sampler.peak - baseline <= MEMORY_BOUND_MB, `RSS grew by ${(sampler.peak - baseline).toFixed(1)} MB over the transfer`);
  });

  it(`keeps sidecar memory within ${MEMORY_BOUND_MB} MB while a client does not read its notifications`, async () => {
    const slow = await sidecar.connectAgain();
    const slowOutputs = outputRouter(slow);
    const transfer = async (bytes: number, whileStalled?: () => Promise<void>) => {
      const streamId = nextStreamId();
      let received = 0;
      slowOutputs.listen(streamId, (params) => (received += params.data.length));
      slow.socket.pause();
      const request = slow.request(P.ExecRequest.type, { sessionId: shared.id, line: `head -c ${bytes} /dev/zero | tr '\\0' a`, streamId });
      try {
        await whileStalled?.();
      } finally {
        slow.socket.resume();
      }
      const result = await request;
      assert.deepEqual([result.exitCode, received], [0, bytes], 'every byte arrived');
    };
    await transfer(32 * MiB); // warm-up
    const baseline = rssMb(sidecar.pid);
    const sampler = rssPeak(sidecar.pid);
    let duringStall = 0;
    try {
      await transfer(128 * MiB, async () => {
        await waitUntilHeldBack(shared.id, 'tr');
        await sleep(2_000);
        duringStall = sampler.peak;
      });
    } finally {
      sampler.stop();
    }
    assert.ok(duringStall - baseline <= MEMORY_BOUND_MB, `RSS grew by ${(duringStall - baseline).toFixed(1)} MB while the client stalled`);
    assert.ok(sampler.peak - baseline <= MEMORY_BOUND_MB, `RSS grew by ${(sampler.peak - baseline).toFixed(1)} MB over the transfer`);
  });

  it('refuses exec in a stopped session (Conflict) and malformed requests (InvalidInput)', async () => {
    const stopped = await newSession('stopped');
    await sidecar.client.request(P.StopSessionRequest.type, { id: stopped.id });
    await expectError(exec(sidecar.client, stopped.id, ['echo', 'no']), 'Conflict');
    await expectError(sidecar.client.request(P.ExecRequest.type, { sessionId: shared.id, command: ['true'], line: 'true' }), 'InvalidInput');
    await expectError(sidecar.client.request(P.ExecRequest.type, { sessionId: shared.id }), 'InvalidInput');
  });

  it('answers an unknown rawChannelId with InvalidInput after waiting for it, leaving no shell behind', async () => {
    const shells = async () => (await exec(sidecar.client, shared.id, ['ps', '-o', 'args'])).stdout.split('\n').filter((l) => l.trim() === 'sh').length;
    const before = await shells();
    await Promise.all([
      expectError(exec(sidecar.client, shared.id, ['echo', 'x'], { rawChannelId: 'nobody-opened-this' }), 'InvalidInput'),
      expectError(exec(sidecar.client, shared.id, ['echo', 'x'], { rawChannelId: 'nor-this', cleanShell: true }), 'InvalidInput'),
    ]);
    const ended = await waitFor('the shells to end', async () => ((await shells()) === before ? true : undefined), 10_000).catch(() => false);
    const ps = (await exec(sidecar.client, shared.id, ['ps', '-o', 'pid,args'])).stdout;
    assert.ok(ended, `the shells opened for the failed requests ended (${before} plain sh before); processes now:\n${ps}`);
  });
});

describe('raw channels relayed by the sidecar (SANDKASTEN_DIRECT_PIPES=off, as with a remote engine)', () => {
  let sidecar: SidecarHarness;
  let session: P.SessionInfo;

  before(async () => {
    sidecar = await SidecarHarness.start({ env: { ...process.env, SANDKASTEN_DIRECT_PIPES: 'off' } });
    const workspace = await createWorkspace(sidecar.client, 'relay');
    session = await sidecar.client.request(P.StartSessionRequest.type, { workspaceId: workspace.id });
  });

  after(async () => {
    await sidecar?.cleanup();
  });

  it('carries binary stdout unchanged on the socket', async () => {
    const made = await exec(sidecar.client, session.id, ['sh', '-c', 'head -c 65536 /dev/urandom > /tmp/blob && md5sum /tmp/blob']);
    const channel = await sidecar.client.openRawChannel('relay-binary');
    const received: Buffer[] = [];
    channel.on('data', (chunk: Buffer) => received.push(chunk));
    const closed = new Promise((resolve) => channel.once('close', resolve));
    const result = await exec(sidecar.client, session.id, ['cat', '/tmp/blob'], { rawChannelId: 'relay-binary' });
    await closed;
    assert.equal(result.exitCode, 0);
    assert.equal(channel.transport, 'socket');
    assert.equal(md5(Buffer.concat(received)), made.stdout.split(' ')[0]);
  });

  it(`keeps sidecar memory within ${MEMORY_BOUND_MB} MB while the reader of 512 MiB stalls`, async () => {
    const channel = await sidecar.client.openRawChannel('relay-stalled');
    channel.pause();
    const closed = new Promise((resolve) => channel.once('close', resolve));
    const baseline = rssMb(sidecar.pid);
    const sampler = rssPeak(sidecar.pid);
    let received = 0;
    try {
      const request = sidecar.client.request(P.ExecRequest.type, { sessionId: session.id, line: `head -c ${512 * MiB} /dev/zero`, rawChannelId: 'relay-stalled' });
      await sleep(3_000); // nobody reads: the sidecar must hold the command back, not buffer
      channel.on('data', (chunk: Buffer) => (received += chunk.length));
      channel.resume();
      assert.equal((await request).exitCode, 0);
      await closed;
    } finally {
      sampler.stop();
    }
    assert.equal(received, 512 * MiB, 'every byte arrived');
    assert.ok(sampler.peak - baseline <= MEMORY_BOUND_MB, `RSS grew by ${(sampler.peak - baseline).toFixed(1)} MB`);
  });
});
