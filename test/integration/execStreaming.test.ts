import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { containerProbes, execLine, joined, md5, MEMORY_BOUND_MB, MiB, outputRouter, rssMb, rssPeak, SAFETY_TIMEOUT_MS } from './execSupport';
import { exec, P, sleep, useSidecar, waitFor } from './harness';

describe('exec output streamed as exec/output notifications, against the real Docker engine', () => {
  const sidecar = useSidecar();
  const { waitUntilHeldBack } = containerProbes(sidecar);
  let shared: P.SessionInfo;
  let outputs: ReturnType<typeof outputRouter>;
  let streams = 0;
  const nextStreamId = () => `stream-${++streams}`;

  const line = (sessionId: string, text: string, extra: Partial<P.ExecParams> = {}) => execLine(sidecar.client, sessionId, text, extra);

  before(async () => {
    outputs = outputRouter(sidecar.client);
    shared = await sidecar.newSession('stream');
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
});
