import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Scrollback } from '../../sidecar/terminals/scrollback';
import { exportLines, STATE_DUMP_HEADER } from '../../sidecar/terminals/shellScripts';
import { boundedHistory, MAX_HISTORY_LINES, parseEnviron, parseStateDump } from '../../sidecar/terminals/state';

describe('terminal state', () => {
  it('reads exported variables from NUL-separated environ, leaving out what the shell sets itself', () => {
    const env = parseEnviron('PATH=/bin\0PWD=/tmp\0FOO=a=b\0SHLVL=2\0MULTI=one\ntwo\0_=/bin/cat\0\0');
    assert.deepEqual(env, { PATH: '/bin', FOO: 'a=b', MULTI: 'one\ntwo' });
  });

  it('turns variables into export lines that survive quotes, and drops names a shell cannot export', () => {
    assert.equal(exportLines({ A: "it's", B: '$HOME `x`', 'BAD-NAME': 'x' }), `export A='it'\\''s'\nexport B='$HOME \`x\`'\n`);
  });

  it('keeps the most recent history lines, without blank ones', () => {
    const many = Array.from({ length: MAX_HISTORY_LINES + 5 }, (_, index) => `echo ${index}`).join('\n');
    const kept = boundedHistory(`${many}\n\n`).trimEnd().split('\n');
    assert.equal(kept.length, MAX_HISTORY_LINES);
    assert.equal(kept.at(-1), `echo ${MAX_HISTORY_LINES + 4}`);
    assert.equal(kept[0], 'echo 5');
  });

  it('parses a state dump: cwd, environment, and saved plus this shell’s history', () => {
    const dump = `${STATE_DUMP_HEADER}/tmp\n\x1eFOO=bar\0PWD=/tmp\0\x1eold\n\x1enew\n\x1e`;
    assert.deepEqual(parseStateDump(dump), { cwd: '/tmp', env: { FOO: 'bar' }, history: 'old\nnew\n' });
  });

  it('reports no state when the container has none, and only the parts it has', () => {
    assert.equal(parseStateDump(''), undefined);
    assert.deepEqual(parseStateDump(`${STATE_DUMP_HEADER}\x1e\x1ehistory only\n\x1e\x1e`), { history: 'history only\n' });
  });
});

describe('scrollback', () => {
  it('replays everything while under its limit', () => {
    const scrollback = new Scrollback(100);
    scrollback.append('one\r\n');
    scrollback.append('two\r\n');
    assert.equal(scrollback.replay(), 'one\r\ntwo\r\n');
  });

  it('keeps only the most recent output, starting at a line boundary', () => {
    const scrollback = new Scrollback(20);
    for (let line = 0; line < 10; line++) scrollback.append(`line ${line}\r\n`);
    const replay = scrollback.replay();
    assert.ok(replay.length <= 20);
    assert.ok(replay.startsWith('line '), replay);
    assert.ok(replay.endsWith('line 9\r\n'));
  });

  it('leaves out terminal queries, whose answers would land on the command line', () => {
    const scrollback = new Scrollback(100);
    scrollback.append('/ # \x1b[6nls\r\n\x1b[c\x1b[>0c\x1b[31mred\x1b[0m');
    assert.equal(scrollback.replay(), '/ # ls\r\n\x1b[31mred\x1b[0m');
  });
});
