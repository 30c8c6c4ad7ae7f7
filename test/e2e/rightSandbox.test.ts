/**
 * Never the wrong sandbox (issue 13), in a real VS Code (code-server) against the real
 * Docker engine: from the palette, Run Command always asks, leading with workspace names and
 * offering a stopped session as "start and run"; ▷ on a workspace that already runs opens a
 * terminal in its session instead of starting a second one. Steps run in order.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { SessionInfo } from '../../sidecar/client/protocol';
import { CodeServerSuite } from './codeServerSuite';
import { eventually, LIMITS, shortId, TEST_IMAGE } from './support';

const MINE = 'e2e-mine';
const THEIRS = 'e2e-theirs';

describe('Never the wrong sandbox, in a real VS Code (code-server)', () => {
  const suite = new CodeServerSuite('right-sandbox');
  let mine: SessionInfo;
  let theirs: SessionInfo;

  before(() => suite.start(), { timeout: LIMITS.suiteMs });
  after(() => suite.stop(), { timeout: LIMITS.suiteMs });

  suite.step("1. With my session stopped and another's running, the palette's Run Command asks, names first, and can start mine", async (vs) => {
    mine = await suite.newSession(MINE, TEST_IMAGE);
    theirs = await suite.newSession(THEIRS, TEST_IMAGE);
    assert.equal((await suite.cli(['session', 'stop', mine.id])).code, 0);
    await vs.openSandkasten();
    await vs.waitForTreeItem('Sessions', MINE, new RegExp(`^stopped · ${shortId(mine.id)}`), LIMITS.dockerMs);

    await vs.runCommand('Sandkasten: Run Command…');
    await vs.waitForQuickInput('Run Command in…');
    const labels = await eventually('the picker to list both workspaces', async () => {
      const shown = await vs.quickPickLabels();
      return shown.length === 2 ? shown : undefined;
    });
    assert.deepEqual(labels, [THEIRS, MINE], 'it leads with workspace names, the running session first, the stopped one offered too');
    await vs.pick('Run Command in…', MINE);
    await vs.answerInput(`Run Command in "${MINE}" (${shortId(mine.id)})`, 'echo ran-in-$(hostname | cut -c1-4)-mine');
    const { lines } = await vs.waitForOutputLine('Sandkasten: Command Output', /^ran-in-.*-mine$/, LIMITS.dockerMs);
    assert.ok(lines.some((line) => line.includes(`(${mine.id}, ${MINE})`)), `the channel names the session it ran in: ${JSON.stringify(lines)}`);
    const sessions = await suite.listSessions();
    assert.equal(sessions.find((s) => s.id === mine.id)?.state, 'running', 'my session was started, and it ran there');
    assert.equal(sessions.filter((s) => s.workspaceName === THEIRS).length, 1, "the other workspace's session was not touched");
  });

  suite.step('2. ▷ on a workspace that already runs opens a terminal in its session, not a second session', async (vs) => {
    const item = vs.treeItem('Workspaces', THEIRS);
    await vs.clickInlineAction(item, 'Start Session');
    // A fresh folder: VS Code asks for trust before any terminal runs (its own rule).
    const dialog = await vs.waitForDialog();
    assert.match(dialog.message, /trust the authors/i, `VS Code asks for workspace trust: ${JSON.stringify(dialog)}`);
    await vs.clickDialogButton('Trust Folder & Continue');
    await vs.page.locator('.part.panel .terminal-wrapper .xterm').first().waitFor({ state: 'visible', timeout: LIMITS.dockerMs });
    const sessions = await suite.listSessions();
    assert.deepEqual(
      sessions.filter((s) => s.workspaceName === THEIRS).map((s) => s.id),
      [theirs.id],
      'still exactly one session on that workspace',
    );
    await vs.chooseFromContextMenu(item, 'Start Another Session');
    await eventually('a second session, asked for explicitly', async () =>
      (await suite.listSessions()).filter((s) => s.workspaceName === THEIRS && s.state === 'running').length === 2 ? true : undefined,
    );
  });
});
