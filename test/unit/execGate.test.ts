import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExecGate } from '../../sidecar/docker/execGate';

/** Resolves after the promise chains started so far have run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('ExecGate: a pause never meets an exec that is still starting', () => {
  it('a pause waits until the execs still starting have started', async () => {
    const gate = new ExecGate();
    const started = await gate.beginExec('c1');
    let paused = false;
    const pausing = gate.pause('c1', async () => {
      paused = true;
    });
    await settle();
    assert.equal(paused, false, 'paused while an exec was starting');
    started();
    await pausing;
    assert.equal(paused, true);
    assert.equal(gate.busyContainers, 0, 'nothing is kept once idle');
  });

  it('an exec asked for during a pause waits for its end; other containers do not wait', async () => {
    const gate = new ExecGate();
    let finishPause!: () => void;
    const pausing = gate.pause('c1', () => new Promise<void>((resolve) => (finishPause = resolve)));
    await settle();
    let began = false;
    const waiting = gate.beginExec('c1').then((done) => {
      began = true;
      return done;
    });
    const other = await gate.beginExec('c2'); // another container is not held up
    other();
    await settle();
    assert.equal(began, false, 'an exec started during the pause');
    finishPause();
    await pausing;
    (await waiting)();
    assert.equal(began, true);
    assert.equal(gate.busyContainers, 0);
  });

  it('pauses of one container run one after the other, and a failed pause releases the gate', async () => {
    const gate = new ExecGate();
    const order: string[] = [];
    const first = gate.pause('c1', async () => {
      order.push('first');
      throw new Error('no such container');
    });
    const second = gate.pause('c1', async () => void order.push('second'));
    await assert.rejects(first, /no such container/);
    await second;
    assert.deepEqual(order, ['first', 'second']);
    (await gate.beginExec('c1'))();
    assert.equal(gate.busyContainers, 0);
  });

  it('a pause asks the execs started lately whether their process runs yet, and waits until it does', async () => {
    const gate = new ExecGate();
    let running = false;
    let asked = 0;
    gate.track('c1', async () => {
      asked++;
      return running;
    });
    let paused = false;
    const pausing = gate.pause('c1', async () => void (paused = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(paused, false, 'paused while a started exec had no process yet');
    assert.ok(asked > 1, 'asked again while waiting');
    running = true;
    await pausing;
    assert.equal(paused, true);
    // Asked once: the next pause does not ask again.
    const before = asked;
    await gate.pause('c1', async () => undefined);
    assert.equal(asked, before);
  });

  it('a pause does not wait forever for an exec that never reports its start', async () => {
    const gate = new ExecGate(20);
    await gate.beginExec('c1'); // never released
    let paused = false;
    await gate.pause('c1', async () => {
      paused = true;
    });
    assert.equal(paused, true);
  });

  it('releasing twice counts once', async () => {
    const gate = new ExecGate();
    const a = await gate.beginExec('c1');
    const b = await gate.beginExec('c1');
    a();
    a();
    let paused = false;
    const pausing = gate.pause('c1', async () => void (paused = true));
    await settle();
    assert.equal(paused, false, 'the second exec is still starting');
    b();
    await pausing;
    assert.equal(paused, true);
  });
});
