import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CommandShell } from '../../sidecar/exec/commandShell';
import { splitStdout, type OutputSink } from '../../sidecar/exec/outputSink';
import { CapturedOutput } from '../../sidecar/exec/sinks';

/** A captured sink whose attach answers like a raw channel: relayed, or redirected into a FIFO. */
function rawLike(stdoutFile: string | undefined): CapturedOutput & OutputSink {
  const sink = new CapturedOutput('utf8') as CapturedOutput & OutputSink;
  sink.attach = async () => (stdoutFile ? { stdoutFile } : {});
  return sink;
}

const target = { containerId: 'c1', shell: {} as CommandShell };

describe('split output sinks', () => {
  it('send stdout to the raw channel and stderr to the other sink while the channel relays', async () => {
    const raw = rawLike(undefined);
    const rest = new CapturedOutput('utf8');
    const sink = splitStdout(raw, rest);
    assert.deepEqual(await sink.attach!(target), {});
    sink.write('stdout', Buffer.from('bulk'));
    sink.write('stderr', Buffer.from('warning'));
    assert.equal(raw.text('stdout'), 'bulk');
    assert.equal(rest.text('stderr'), 'warning');
    assert.equal(rest.text('stdout'), '');
  });

  it('keep stray stdout (an earlier background job) apart from a FIFO the command writes into', async () => {
    const raw = rawLike('/run/sandkasten/out-1');
    const rest = new CapturedOutput('utf8');
    const sink = splitStdout(raw, rest);
    assert.deepEqual(await sink.attach!(target), { stdoutFile: '/run/sandkasten/out-1' });
    sink.write('stdout', Buffer.from('stray'));
    assert.equal(raw.text('stdout'), '', 'nothing is written to a channel whose reader reads the FIFO');
    assert.equal(rest.text('stdout'), 'stray');
  });
});
