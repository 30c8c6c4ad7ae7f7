import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SocketBatches, type CorkableSocket } from '../../sidecar/rawChannel/socketBatches';
import { FakeClock } from './fakes/clock';

/** A socket that records what each uncork sends, as Node's cork does: writes while corked go together. */
class RecordingSocket implements CorkableSocket {
  readonly batches: string[] = [];
  private corked = 0;
  private pending = '';

  cork(): void {
    this.corked++;
  }

  uncork(): void {
    if (this.corked === 0 || --this.corked > 0) return;
    if (this.pending) this.batches.push(this.pending);
    this.pending = '';
  }

  write(data: Buffer): boolean {
    if (this.corked > 0) this.pending += data.toString();
    else this.batches.push(data.toString());
    return true;
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('relayed output in batches', () => {
  it('sends what one turn of the event loop brought in one write, at the end of that turn', async () => {
    const socket = new RecordingSocket();
    const batches = new SocketBatches(socket, new FakeClock());
    for (const part of ['a', 'b', 'c']) batches.write(Buffer.from(part));
    assert.deepEqual(socket.batches, []);
    await turn();
    assert.deepEqual(socket.batches, ['abc']);
  });

  it('holds small batches for a moment while output streams, and sends a full one at once', async () => {
    const clock = new FakeClock();
    const socket = new RecordingSocket();
    const batches = new SocketBatches(socket, clock);
    batches.write(Buffer.from('first'));
    await turn();
    // Right after a batch: streaming, so this waits for more, up to a millisecond.
    batches.write(Buffer.from('second'));
    await turn();
    batches.write(Buffer.from('third'));
    await turn();
    assert.deepEqual(socket.batches, ['first']);
    await clock.advance(1);
    assert.deepEqual(socket.batches, ['first', 'secondthird']);

    const full = 'x'.repeat(64 * 1024);
    batches.write(Buffer.from(full));
    await turn();
    assert.deepEqual(socket.batches, ['first', 'secondthird', full], 'a full batch does not wait');
    assert.equal(clock.pendingTimers, 0);
  });

  it('does not hold output that comes now and then', async () => {
    const clock = new FakeClock();
    const socket = new RecordingSocket();
    const batches = new SocketBatches(socket, clock);
    batches.write(Buffer.from('prompt> '));
    await turn();
    await clock.advance(500);
    batches.write(Buffer.from('later'));
    await turn();
    assert.deepEqual(socket.batches, ['prompt> ', 'later']);
  });

  it('sends what it holds when flushed (the channel ends)', async () => {
    const clock = new FakeClock();
    const socket = new RecordingSocket();
    const batches = new SocketBatches(socket, clock);
    batches.write(Buffer.from('one'));
    await turn();
    batches.write(Buffer.from('two'));
    await turn();
    batches.flush();
    assert.deepEqual(socket.batches, ['one', 'two']);
    assert.equal(clock.pendingTimers, 0);
  });
});
