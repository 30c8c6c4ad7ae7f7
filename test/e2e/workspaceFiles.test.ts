/**
 * A workspace's files as a folder of a real VS Code (code-server), against the real Docker
 * engine: "Open Workspace Files" adds `sandkasten://<id>/` to the window, the Explorer lists
 * what is in /workspace, an editor opens and saves a file into the container, and what the
 * sandbox makes or removes shows up in the Explorer by itself. Steps run in order.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { SessionInfo } from '../../sidecar/client/protocol';
import { CodeServerSuite } from './codeServerSuite';
import { eventually, LIMITS, TEST_IMAGE } from './support';
import type { Workbench } from './workbench';

const WORKSPACE = 'e2e-files';

/** A row of the Explorer's tree by its exact label. */
function explorerRow(vs: Workbench, label: string) {
  return vs.page
    .locator('.explorer-folders-view [role=treeitem]')
    .filter({ has: vs.page.locator('.label-name', { hasText: new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }) })
    .first();
}

async function explorerLabels(vs: Workbench): Promise<string> {
  return JSON.stringify(await vs.page.locator('.explorer-folders-view [role=treeitem] .label-name').allTextContents());
}

async function waitForExplorerRow(vs: Workbench, label: string, present = true): Promise<void> {
  await eventually(`the Explorer ${present ? 'to list' : 'to stop listing'} ${label}`, async () => (((await explorerRow(vs, label).count()) > 0) === present ? true : undefined), {
    limitMs: LIMITS.dockerMs,
    describe: () => explorerLabels(vs),
  });
}

describe('Sandkasten workspace files in a real VS Code (code-server)', () => {
  // A saved multi-root workspace: adding the folder then reloads nothing (see SuiteOptions).
  const suite = new CodeServerSuite('workspace-files', { multiRootWorkspace: true });
  let session: SessionInfo | undefined;
  const sh = async (line: string) => {
    const result = await suite.cli(['exec', session!.id, '--', 'sh', '-c', line]);
    assert.equal(result.code, 0, `${line}: ${result.stderr}`);
    return result.stdout;
  };

  before(() => suite.start(), { timeout: LIMITS.suiteMs });
  after(() => suite.stop(), { timeout: LIMITS.suiteMs });

  suite.step('1. "Open Workspace Files" adds the workspace as a folder; the Explorer lists /workspace', async (vs) => {
    session = await suite.newSession(WORKSPACE, TEST_IMAGE);
    await sh('mkdir -p /workspace/src && echo hello > /workspace/src/hello.txt');
    await vs.runCommand('Sandkasten: Open Workspace Files');
    await vs.pick('Choose a workspace', WORKSPACE);
    await waitForExplorerRow(vs, `${WORKSPACE} (Sandkasten)`);
    const root = explorerRow(vs, `${WORKSPACE} (Sandkasten)`);
    await vs.expandTreeItem(root);
    await waitForExplorerRow(vs, 'src');
    await vs.expandTreeItem(explorerRow(vs, 'src'));
    await waitForExplorerRow(vs, 'hello.txt');
  });

  suite.step('2. A file opens in an editor and saves into the container', async (vs) => {
    await explorerRow(vs, 'hello.txt').click();
    await vs.waitForEditor(/^sandkasten:\/\/.*\/src\/hello\.txt$/, [/^hello$/]);
    await vs.activeEditor.click();
    await vs.page.keyboard.press('Control+End');
    await vs.page.keyboard.type('saved from VS Code');
    await vs.page.keyboard.press('Control+S');
    await eventually('the container to have the saved text', async () => ((await sh('cat /workspace/src/hello.txt')).includes('saved from VS Code') ? true : undefined), {
      limitMs: LIMITS.dockerMs,
    });
  });

  suite.step('3. What the sandbox makes or removes shows up in the Explorer by itself', async (vs) => {
    await sh('echo new > /workspace/src/made-in-container.txt');
    await waitForExplorerRow(vs, 'made-in-container.txt');
    await sh('rm /workspace/src/made-in-container.txt');
    await waitForExplorerRow(vs, 'made-in-container.txt', false);
  });
});
