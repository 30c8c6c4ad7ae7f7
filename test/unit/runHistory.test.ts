import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type * as vscode from 'vscode';
import { MAX_OUTPUT_CHARS, MAX_RUNS, RunHistory, type RunRecord } from '../../src/runHistory';
import { sessionStateWord, terminalStateWord, workspaceStateWord } from '../../sidecar/client/vocabulary';

/** A window's workspace state, in memory (what a reload keeps). */
function memento(): vscode.Memento {
  const values = new Map<string, unknown>();
  return {
    keys: () => [...values.keys()],
    get: <T>(key: string, fallback?: T) => (values.has(key) ? (values.get(key) as T) : fallback),
    update: async (key: string, value: unknown) => void values.set(key, value),
  } as vscode.Memento;
}

const record = (sessionId: string, output: string, line = 'echo hi'): RunRecord => ({ sessionId, workspaceName: 'demo', line, output, outcome: '[exit code 0, 3 ms]', at: '2026-11-30T17:00:00.000Z' });

describe('Run Command history (what survives a reload)', () => {
  it('keeps outputs per session, newest last, and formats them as the channel showed them', async () => {
    const state = memento();
    const history = new RunHistory(state);
    await history.add(record('ses-a', 'one\n'));
    await history.add(record('ses-b', 'two'));
    await history.add(record('ses-a', ''));
    // A new RunHistory on the same state: what the window has after a reload.
    const reloaded = new RunHistory(state);
    assert.equal(reloaded.countFor('ses-a'), 2);
    assert.equal(reloaded.countFor('ses-c'), 0);
    assert.deepEqual(reloaded.of('ses-b').map((r) => r.output), ['two']);
    assert.equal(RunHistory.format(reloaded.of('ses-b')[0]), '$ echo hi    (ses-b, demo)\ntwo\n[exit code 0, 3 ms]\n\n');
    assert.equal(RunHistory.format(reloaded.of('ses-a')[1]), '$ echo hi    (ses-a, demo)\n[exit code 0, 3 ms]\n\n');
  });

  it('keeps at most the last runs, and the end of a long output', async () => {
    const history = new RunHistory(memento());
    for (let i = 0; i < MAX_RUNS + 5; i++) await history.add(record('ses-a', `run ${i}\n`, `echo ${i}`));
    const kept = history.all();
    assert.equal(kept.length, MAX_RUNS);
    assert.equal(kept[0].line, 'echo 5');
    assert.equal(kept.at(-1)?.line, `echo ${MAX_RUNS + 4}`);

    await history.add(record('ses-a', `${'x'.repeat(MAX_OUTPUT_CHARS)}END\n`));
    const long = history.all().at(-1)!.output;
    assert.ok(long.startsWith('[… 4 characters cut]\n'), long.slice(0, 40));
    assert.ok(long.endsWith('END\n'), 'the end, where errors are, is kept');
    assert.ok(long.length < MAX_OUTPUT_CHARS + 100);
  });
});

describe('one state vocabulary for people', () => {
  it('says running and stopped for workspaces, sessions and terminals alike', () => {
    assert.equal(workspaceStateWord('active'), 'running');
    assert.equal(workspaceStateWord('suspended'), 'stopped');
    assert.equal(workspaceStateWord('created'), 'new');
    assert.equal(sessionStateWord({ state: 'running' }), 'running');
    assert.equal(sessionStateWord({ state: 'stopped' }), 'stopped');
    assert.equal(sessionStateWord({ state: 'paused' }), 'paused', 'paused by someone else');
    assert.equal(sessionStateWord({ state: 'paused', frozenAt: '2026-11-30T10:00:00.000Z' }), 'frozen', 'frozen by the lifecycle');
    assert.equal(terminalStateWord('live'), 'running');
    assert.equal(terminalStateWord('dormant'), 'stopped');
  });
});
