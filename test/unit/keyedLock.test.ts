import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedLock } from '../../sidecar/util/keyedLock';

describe('keyed lock', () => {
  it('runs work on one key one at a time, in order, and other keys alongside', async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    let releaseFirst!: () => void;
    const first = lock.run('w', async () => {
      events.push('w1 start');
      await new Promise<void>((resolve) => (releaseFirst = resolve));
      events.push('w1 end');
    });
    const second = lock.run('w', async () => void events.push('w2'));
    const other = lock.run('x', async () => void events.push('x1'));
    await other;
    assert.deepEqual(events, ['w1 start', 'x1']);
    releaseFirst();
    await Promise.all([first, second]);
    assert.deepEqual(events, ['w1 start', 'x1', 'w1 end', 'w2']);
  });

  it('keeps going after a failure and passes the failure to its caller', async () => {
    const lock = new KeyedLock();
    await assert.rejects(lock.run('w', async () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(await lock.run('w', async () => 42), 42);
  });
});
