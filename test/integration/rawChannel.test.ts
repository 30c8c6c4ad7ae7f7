import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { homePaths } from '../../sidecar/client/home';
import { connectToSidecar } from '../../sidecar/client/launch';
import { containerProbes, execLine, md5, MEMORY_BOUND_MB, MiB, rssMb, rssPeak, SAFETY_TIMEOUT_MS } from './execSupport';
import { exec, expectError, P, sleep, useSidecar, waitFor } from './harness';

describe('raw channels passed straight through a FIFO on the host (Docker is local)', () => {
  const sidecar = useSidecar();
  const { waitUntilHeldBack } = containerProbes(sidecar);
  let shared: P.SessionInfo;
  let channels = 0;
  const nextChannelId = () => `channel-${++channels}`;

  const line = (sessionId: string, text: string, extra: Partial<P.ExecParams> = {}) => execLine(sidecar.client, sessionId, text, extra);

  before(async () => {
    shared = await sidecar.newSession('raw');
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
    const channelId = nextChannelId();
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
    const channelId = nextChannelId();
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
    const channelId = nextChannelId();
    const channel = await sidecar.client.openRawChannel(channelId);
    channel.once('data', () => channel.destroy());
    const result = await line(shared.id, `head -c ${64 * MiB} /dev/zero`, { rawChannelId: channelId, timeoutMs: SAFETY_TIMEOUT_MS });
    assert.deepEqual([result.exitCode, result.timedOut], [0, false]);
  });

  it(`keeps sidecar memory within ${MEMORY_BOUND_MB} MB while a raw channel reader stalls on 512 MiB`, async () => {
    const transfer = async (bytes: number, whileStalled?: () => Promise<void>) => {
      const channelId = nextChannelId();
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
  const sidecar = useSidecar({ env: { ...process.env, SANDKASTEN_DIRECT_PIPES: 'off' } });
  let session: P.SessionInfo;

  before(async () => {
    session = await sidecar.newSession('relay');
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
