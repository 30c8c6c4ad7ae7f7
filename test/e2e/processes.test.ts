/**
 * Background processes in a real VS Code (code-server), against the real Docker engine: a
 * process an agent starts (here through the CLI) appears under its session in the Sessions
 * view, "Show Output" opens its output, and "Stop" ends it. Steps run in order.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { ProcessInfo } from '../../sidecar/client/protocol';
import { CodeServerSuite } from './codeServerSuite';
import { eventually, LIMITS, shortId, TEST_IMAGE } from './support';

const WORKSPACE = 'e2e-processes';

describe('Sandkasten background processes in a real VS Code (code-server)', () => {
  const suite = new CodeServerSuite('processes');
  let processInfo: ProcessInfo | undefined;

  before(() => suite.start(), { timeout: LIMITS.suiteMs });
  after(() => suite.stop(), { timeout: LIMITS.suiteMs });

  suite.step('1. A background process started by an agent appears under its session', async (vs) => {
    const session = await suite.newSession(WORKSPACE, TEST_IMAGE);

    const background = await suite.cli(['exec', '--background', '--json', session.id, '--', 'sh', '-c', 'i=0; while :; do i=$((i+1)); echo "serving request $i"; sleep 1; done']);
    assert.equal(background.code, 0, `sandkasten exec --background failed: ${background.stderr}`);
    processInfo = JSON.parse(background.stdout) as ProcessInfo;

    await vs.openSandkasten();
    await vs.waitForTreeItem('Sessions', WORKSPACE, new RegExp(`^running · ${shortId(session.id)} · via CLI$`), LIMITS.dockerMs);
    const row = await vs.waitForTreeItem('Sessions', /while :; do/, new RegExp(`^${processInfo.id} · running`), LIMITS.dockerMs);
    assert.match(row.description ?? '', /running since/);
  });

  suite.step('2. "Show Output" on the process row opens its output, which keeps coming', async (vs) => {
    const item = vs.treeItem('Sessions', /while :; do/);
    await vs.clickInlineAction(item, 'Show Output');
    const channel = `Sandkasten: ${processInfo!.command} (${processInfo!.id})`;
    const first = await vs.waitForOutputLine(channel, /^serving request (\d+)$/, LIMITS.dockerMs);
    const seen = Math.max(...first.lines.map((line) => Number(/^serving request (\d+)$/.exec(line)?.[1] ?? 0)));
    await eventually(`the output to go past request ${seen}`, async () => {
      const later = await vs.waitForOutputLine(channel, /^serving request (\d+)$/, LIMITS.dockerMs);
      return later.lines.some((line) => Number(/^serving request (\d+)$/.exec(line)?.[1] ?? 0) > seen + 1) ? true : undefined;
    });
  });

  suite.step('3. "Stop" on the process row ends it: the row goes, the CLI reports it exited by a signal', async (vs) => {
    const item = vs.treeItem('Sessions', /while :; do/);
    await vs.clickInlineAction(item, 'Stop Background Process');
    await vs.waitForNoTreeItem('Sessions', /while :; do/, LIMITS.dockerMs);
    const info = await eventually('the process to be reported exited', async () => {
      const listed = await suite.cli(['ps', '--json']);
      const found = (JSON.parse(listed.stdout) as ProcessInfo[]).find((p) => p.id === processInfo!.id);
      return found?.state === 'exited' ? found : undefined;
    });
    assert.ok([130, 143, 137].includes(info.exitCode!), `stopped by a signal, exit code ${info.exitCode}`);
  });
});
