import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DisposableScope } from '../../src/disposableScope';
import { ExecStreamRouter } from '../../src/execStreams';

const recorder = (log: string[], name: string, fail = false) => ({
  dispose: () => {
    log.push(name);
    if (fail) throw new Error(`${name} failed`);
  },
});

describe('the extension\'s disposable scopes', () => {
  it('disposes newest first', () => {
    const log: string[] = [];
    const scope = new DisposableScope();
    scope.push(recorder(log, 'client'), recorder(log, 'handler'));
    scope.add(recorder(log, 'late handler'));
    scope.dispose();
    assert.deepEqual(log, ['late handler', 'handler', 'client']);
  });

  it('keeps disposing past one that throws, then reports it', () => {
    const log: string[] = [];
    const scope = new DisposableScope();
    scope.push(recorder(log, 'a'), recorder(log, 'b', true), recorder(log, 'c'));
    assert.throws(() => scope.dispose(), AggregateError);
    assert.deepEqual(log, ['c', 'b', 'a']);
  });

  it('disposes at once what is added after it ended, so a late registration cannot outlive its connection', () => {
    const log: string[] = [];
    const scope = new DisposableScope();
    scope.dispose();
    scope.add(recorder(log, 'after'));
    assert.deepEqual(log, ['after']);
    scope.dispose();
    assert.deepEqual(log, ['after'], 'nothing is disposed twice');
  });
});

describe('the exec stream router', () => {
  it('gives each stream its own id and delivers output only to its listener', () => {
    const router = new ExecStreamRouter('run-7');
    const first: string[] = [];
    const second: string[] = [];
    const a = router.open((output) => first.push(output.data));
    const b = router.open((output) => second.push(output.data));
    assert.deepEqual([a.streamId, b.streamId], ['run-7-1', 'run-7-2']);
    router.deliver({ streamId: b.streamId, stream: 'stdout', data: 'for b' });
    router.deliver({ streamId: a.streamId, stream: 'stderr', data: 'for a' });
    assert.deepEqual(first, ['for a']);
    assert.deepEqual(second, ['for b']);
  });

  it('drops output of a closed or unknown stream', () => {
    const router = new ExecStreamRouter('run-1');
    const seen: string[] = [];
    const stream = router.open((output) => seen.push(output.data));
    stream.dispose();
    router.deliver({ streamId: stream.streamId, stream: 'stdout', data: 'late' });
    router.deliver({ streamId: 'run-9-9', stream: 'stdout', data: 'stranger' });
    assert.deepEqual(seen, []);
  });
});
