import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { RAW_CHANNEL_HEADER, RAW_CHANNEL_PREAMBLE } from '../../sidecar/client/protocol';
import type { CommandShell } from '../../sidecar/exec/commandShell';
import { DirectPipes } from '../../sidecar/rawChannel/directPipes';
import { RawChannelOutput } from '../../sidecar/rawChannel/rawChannelOutput';
import { RawChannels } from '../../sidecar/rawChannel/rawChannels';
import { systemClock } from '../../sidecar/util/clock';

/**
 * The relayed half of a raw channel (no FIFO: the engine is not local), over a real Unix
 * socket: what the sidecar writes as the command's stdout, the client reads unchanged.
 */
describe('a raw channel relayed by the sidecar', () => {
  let directory: string;
  let server: net.Server;
  let channels: RawChannels;
  const clients: net.Socket[] = [];

  beforeEach(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-raw-'));
    channels = new RawChannels(systemClock);
    server = net.createServer((socket) => void channels.classify(socket));
    await new Promise<void>((resolve) => server.listen(path.join(directory, 'sidecar.sock'), resolve));
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(directory, { recursive: true, force: true });
  });

  /** A client's channel and the sink the exec would write stdout into, attached (the header line sent). */
  async function openChannel(id: string) {
    const client = net.connect(path.join(directory, 'sidecar.sock'));
    clients.push(client);
    client.write(`${RAW_CHANNEL_PREAMBLE}${id}\n`);
    const pipes = new DirectPipes(path.join(directory, 'pipes'), false, async () => undefined);
    const output = new RawChannelOutput({ channels, pipes, clock: systemClock }, id);
    await output.prepare();
    assert.deepEqual(await output.attach({ containerId: 'c1', shell: {} as CommandShell }), {});
    const everything = new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      client.on('data', (chunk: Buffer) => chunks.push(chunk));
      client.once('end', () => resolve(Buffer.concat(chunks)));
      client.once('error', reject);
    });
    return { client, output, everything };
  }

  const header = Buffer.from(`${RAW_CHANNEL_HEADER.socket}\n`);

  it('passes every byte on in order, those written in one turn of the event loop and in later ones, then ends', async () => {
    const { output, everything } = await openChannel('order');
    const sent: Buffer[] = [];
    const write = (data: Buffer) => (sent.push(data), output.write('stdout', data));
    // One read from Docker: many slices of one buffer, written in the same turn.
    const read = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));
    for (let at = 0; at < read.length; at += 100) write(read.subarray(at, at + 100));
    await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 50; i++) {
      write(Buffer.alloc(1000 + i, i));
      if (i % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    write(Buffer.from('last, in the turn the command ends\n'));
    await output.finish();
    assert.deepEqual(await everything, Buffer.concat([header, ...sent]));
  });

  it('says it is congested while the reader stalls, and drained once it reads again', async () => {
    const { client, output, everything } = await openChannel('stalled');
    client.pause();
    const block = Buffer.alloc(256 * 1024, 7);
    let written = 0;
    // What the shell does: write, and stop once the sink says it is congested.
    while (!output.congested) {
      output.write('stdout', block);
      written += block.length;
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(written <= 64 * 1024 * 1024, 'the sink never says it is congested');
    }
    let drained = false;
    const waiting = output.drained().then(() => (drained = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(drained, false, 'not drained while nobody reads');
    client.resume();
    await waiting;
    assert.equal(output.congested, false);
    await output.finish();
    assert.equal((await everything).length, header.length + written);
  });
});
