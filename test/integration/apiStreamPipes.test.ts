/**
 * The streaming exec's stdout through a FIFO straight from the container (the sidecar reads
 * it), and the same behaviour where FIFOs are off (SANDKASTEN_DIRECT_PIPES=off, as with a
 * remote engine) and stdout comes through Docker's stream: every byte and character arrives,
 * a background job holding stdout does not hold the stream open, and what it prints later
 * goes to the session log, never into another command's stream.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ApiClient, enableApi, strictSseEvents } from './apiClient';
import { P, useSidecar, waitFor, type SidecarHarness } from './harness';

type Json = Record<string, unknown>;

function streamTests(mode: string, env: NodeJS.ProcessEnv) {
  describe(`streaming exec, stdout ${mode}`, () => {
    let api: ApiClient;
    let sessionId: string;
    // Registered before useSidecar's, so it runs while the sidecar still answers.
    after(async () => {
      if (sessionId) await api.delete(`/v1/sessions/${sessionId}`);
      api?.close();
    });
    const sidecar: SidecarHarness = useSidecar({ env });

    const stream = async (cmd: string) => {
      if (!api) {
        const { url, token } = await enableApi(sidecar.client);
        api = new ApiClient(url, token);
        const created = await api.post('/v1/sessions', {});
        assert.equal(created.status, 201, created.text);
        sessionId = (JSON.parse(created.text) as Json).id as string;
      }
      const response = await api.stream(`/v1/sessions/${sessionId}/exec/stream`, { cmd, timeout_ms: 120_000 });
      assert.equal(response.status, 200);
      const events = strictSseEvents(response.text);
      const text = (stream: string) => events.filter((e) => e.event === 'chunk' && e.data.stream === stream).map((e) => e.data.chunk).join('');
      return { events, stdout: text('stdout'), stderr: text('stderr'), done: events.at(-1)! };
    };

    it('carries 4 MiB of multi-byte text exactly, characters split across reads put back together', async () => {
      const line = 'ä€😀 0123456789 ß\n'; // 2-, 3- and 4-byte characters; 23 bytes
      const lines = 200_000;
      const { stdout, stderr, done } = await stream(`yes 'ä€😀 0123456789 ß' | head -n ${lines}; echo tail >&2`);
      assert.equal(done.event, 'done');
      assert.equal(done.data.exit_code, 0);
      assert.equal(stdout.length, line.length * lines);
      assert.equal(stdout, line.repeat(lines));
      assert.equal(stderr, 'tail\n');
    });

    it('keeps stdout and stderr apart when both are busy, and passes the exit status of a shell that exits', async () => {
      const { stdout, stderr, done } = await stream(`seq 1 50000; seq 50001 60000 >&2; seq 60001 100000; exit 5`);
      const numbers = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${from + i}\n`).join('');
      assert.equal(stdout, numbers(1, 50000) + numbers(60001, 100000));
      assert.equal(stderr, numbers(50001, 60000));
      assert.deepEqual([done.event, done.data.exit_code, done.data.shell_reset], ['done', 5, true]);
    });

    it('ends the stream when the command ends though a background job still holds its stdout; the job\'s later output goes to the session log', async () => {
      const gate = `/tmp/gate-${Date.now()}`;
      // Without the bound on the end, this stream would last until the job's end: never (it waits for the gate).
      const first = await stream(`(while [ ! -e ${gate} ]; do sleep 0.05; done; echo late-from-the-job) & echo now`);
      assert.deepEqual([first.stdout, first.done.event, first.done.data.exit_code], ['now\n', 'done', 0]);

      const second = await stream(`touch ${gate}; sleep 0.5; echo second`);
      assert.equal(second.stdout, 'second\n', 'the job\'s output is not in another command\'s stream');
      const logged = await waitFor('the job\'s output in the session log', async () => {
        const page = await sidecar.client.request(P.SessionLogsRequest.type, { sessionId });
        const text = page.chunks.filter((c) => c.stream === 'stdout').map((c) => c.data).join('');
        return text.includes('late-from-the-job') ? text : undefined;
      });
      assert.ok(!logged.includes('second'), 'a command\'s own output is not in the session log');
    });

    it('stays usable after a command that closes its stdout, and after one that writes nothing', async () => {
      const closed = await stream("sh -c 'exec 1>&-; echo on-stderr >&2'");
      assert.deepEqual([closed.stdout, closed.stderr, closed.done.data.exit_code], ['', 'on-stderr\n', 0]);
      const silent = await stream('true');
      assert.deepEqual([silent.events.length, silent.done.event, silent.done.data.exit_code], [1, 'done', 0]);
      const after = await stream('echo fine');
      assert.equal(after.stdout, 'fine\n');
    });
  });
}

streamTests('through a FIFO from the container', { ...process.env });
streamTests('through Docker\'s stream (FIFOs off)', { ...process.env, SANDKASTEN_DIRECT_PIPES: 'off' });
