/**
 * The extension as Dev Containers users expect it (issue 13), in a real VS Code (code-server)
 * against the real Docker engine: the Create Workspace wizard with step numbers, Back and a
 * preselected kind; a failed image that keeps what was entered; a create that ends in a
 * selected row and a "Start Session" offer; a started session that drops the person into a
 * focused terminal, also from the terminal profile; the context menus of session and
 * workspace rows (inspect, rename, copy); Run Command output that outlives a reload; the status
 * bar item and its menu. A second suite walks the whole life of a workspace with the keyboard
 * alone. Steps run in order.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { SessionInfo, WorkspaceInfo } from '../../sidecar/client/protocol';
import { CodeServerSuite } from './codeServerSuite';
import { escapeRegExp, eventually, LIMITS, run, shortId, TEST_IMAGE } from './support';
import type { Workbench } from './workbench';

const NAME = 'Create Workspace: name (1/4)';
const KIND = 'Create Workspace: kind (2/4)';
const NETWORK = 'Create Workspace: network (3/4)';
const IMAGE = 'Create Workspace: image (4/4)';
/** The image step of an ephemeral workspace: it has no network step. */
const EPHEMERAL_IMAGE = 'Create Workspace: image (3/3)';
const ENTER_IMAGE_NAME = 'Enter image name…';
/** A registry nobody listens on: the pull fails at once. */
const UNPULLABLE = 'localhost:1/nope:latest';

/** Settings both suites need to read what terminals show. */
const TERMINAL_SETTINGS = {
  // The DOM renderer keeps the terminal's text in the page, where a test can read it.
  'terminal.integrated.gpuAcceleration': 'off',
};

/** The workspace named `name` as the sidecar knows it (asserted to exist). */
async function workspaceNamed(suite: CodeServerSuite, name: string): Promise<WorkspaceInfo> {
  const workspaces = await suite.listWorkspaces();
  const workspace = workspaces.find((w) => w.name === name);
  assert.ok(workspace, `the sidecar knows workspace "${name}" (it knows ${JSON.stringify(workspaces.map((w) => w.name))})`);
  return workspace;
}

/** The running sessions of the workspace named `name`. */
async function runningSessionsOf(suite: CodeServerSuite, name: string): Promise<SessionInfo[]> {
  return (await suite.listSessions()).filter((s) => s.workspaceName === name && s.state === 'running');
}

/** Waits until the workspace named `name` has exactly one running session; returns it. */
async function theRunningSession(suite: CodeServerSuite, name: string): Promise<SessionInfo> {
  return eventually(`a running session of "${name}"`, async () => {
    const running = await runningSessionsOf(suite, name);
    return running.length === 1 ? running[0] : undefined;
  }, { limitMs: LIMITS.dockerMs, describe: async () => JSON.stringify((await suite.listSessions()).map((s) => [s.workspaceName, s.state])) });
}

/** The image step once its lists loaded: the default image is first and active. */
async function waitForImageList(vs: Workbench, title: string): Promise<void> {
  await vs.waitForActiveQuickPickRow(title, TEST_IMAGE);
}

describe('Sandkasten as Dev Containers users expect it, in a real VS Code (code-server)', () => {
  const suite = new CodeServerSuite('flows', { settings: TERMINAL_SETTINGS });
  /** Created by pressing Enter through the wizard. */
  const ENTERED = 'e2e-enter';
  /** Named first, changed after going Back. */
  const FIRST_NAME = 'e2e-first-name';
  const BACKED = 'e2e-back';
  /** Its first image cannot be pulled. */
  const RETRIED = 'e2e-retry';
  /** Created, then started from the "ready" notification. */
  const FLOW = 'e2e-flow';
  /** ENTERED after "Rename Workspace…". */
  const RENAMED = 'e2e-renamed';
  const RUN = 'echo kept-$((20+3))';
  let flowSession: SessionInfo;

  before(() => suite.start(), { timeout: LIMITS.suiteMs });
  after(() => suite.stop(), { timeout: LIMITS.suiteMs });

  suite.step('1. Pressing Enter through the wizard (name typed, session preselected, Sandkasten network, default image first) creates a session workspace', async (vs) => {
    await vs.openSandkasten();
    await vs.welcome('Workspaces').filter({ hasText: 'No workspaces yet' }).waitFor({ state: 'visible', timeout: LIMITS.dockerMs });
    await vs.runCommand('Sandkasten: Create Workspace');
    await vs.answerInput(NAME, ENTERED);

    await vs.waitForActiveQuickPickRow(KIND, 'session');
    assert.ok(await vs.backButton.isVisible(), 'the kind step offers Back');
    await vs.page.keyboard.press('Enter');
    await vs.waitForActiveQuickPickRow(NETWORK, 'Sandkasten network');
    await vs.page.keyboard.press('Enter');

    await waitForImageList(vs, IMAGE);
    const rows = await vs.quickPickRows();
    assert.deepEqual(rows[0], { label: TEST_IMAGE, description: 'default (sandkasten.defaultImage)' }, `the default image leads: ${JSON.stringify(rows)}`);
    // Every other image the engine has is offered as a local one, with its size.
    const local = await run('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.equal(local.code, 0, `docker image ls: ${local.stderr}`);
    for (const image of local.stdout.split('\n').filter((line) => line !== '' && !line.includes('<none>') && line !== TEST_IMAGE)) {
      assert.ok(rows.some((row) => row.label === image && /^local · \d/.test(row.description)), `the local image ${image} is offered with its size: ${JSON.stringify(rows)}`);
    }
    assert.ok(rows.at(-1)?.label.endsWith(ENTER_IMAGE_NAME), `"${ENTER_IMAGE_NAME}" comes last: ${JSON.stringify(rows)}`);
    assert.equal(rows.filter((row) => row.label === TEST_IMAGE).length, 1, 'the default image is listed once, not again as a local image');
    await vs.page.keyboard.press('Enter');

    await vs.waitForTreeItem('Workspaces', ENTERED, /^session · new · /, LIMITS.dockerMs);
    const workspace = await workspaceNamed(suite, ENTERED);
    assert.deepEqual([workspace.kind, workspace.image, workspace.hostNetwork ?? false], ['session', TEST_IMAGE, false]);
  });

  suite.step('1b. Back goes to the previous step with its answer kept: ephemeral skips the network step, and a name changed after going back is the one created', async (vs) => {
    await vs.runCommand('Sandkasten: Create Workspace');
    await vs.answerInput(NAME, FIRST_NAME);
    await vs.waitForActiveQuickPickRow(KIND, 'session');
    // Ephemeral workspaces have no network: the image is step 3 of 3.
    await vs.pick(KIND, 'ephemeral');
    await vs.waitForQuickInput(EPHEMERAL_IMAGE);
    await vs.clickBack(EPHEMERAL_IMAGE);
    // Back on the kind step, ephemeral still chosen: its wizard counts 3 steps.
    await vs.waitForActiveQuickPickRow('Create Workspace: kind (2/3)', 'ephemeral');
    await vs.pick('Create Workspace: kind (2/3)', 'persistent');
    await vs.waitForQuickInput(NETWORK);
    await vs.clickBack(NETWORK);
    await vs.waitForActiveQuickPickRow(KIND, 'persistent');
    await vs.clickBack(KIND);
    await vs.waitForQuickInput(NAME);
    await eventually('the name step to show the name typed before', async () => ((await vs.inputValue()) === FIRST_NAME ? true : undefined), {
      describe: () => vs.inputValue(),
    });
    assert.equal(await vs.backButton.count(), 0, 'the first step has no Back');
    await vs.answerInput(NAME, BACKED);
    await vs.waitForActiveQuickPickRow(KIND, 'persistent');
    await vs.page.keyboard.press('Enter');
    await vs.waitForActiveQuickPickRow(NETWORK, 'Sandkasten network');
    await vs.page.keyboard.press('Enter');
    await waitForImageList(vs, IMAGE);
    await vs.page.keyboard.press('Enter');

    await vs.waitForTreeItem('Workspaces', BACKED, /^persistent · /, LIMITS.dockerMs);
    const workspace = await workspaceNamed(suite, BACKED);
    assert.equal(workspace.kind, 'persistent');
    assert.deepEqual((await suite.listWorkspaces()).map((w) => w.name).sort(), [BACKED, ENTERED].sort(), `no workspace is named "${FIRST_NAME}"`);
  });

  suite.step('2. An image that cannot be pulled ends in an error offering "Choose Another Image", which reopens the wizard at the image step with name and kind kept', async (vs) => {
    await vs.runCommand('Sandkasten: Create Workspace');
    await vs.answerInput(NAME, RETRIED);
    // The kind chosen last time is preselected.
    await vs.waitForActiveQuickPickRow(KIND, 'persistent');
    await vs.pick(KIND, 'collaborative');
    await vs.waitForActiveQuickPickRow(NETWORK, 'Sandkasten network');
    await vs.page.keyboard.press('Enter');
    await waitForImageList(vs, IMAGE);
    const enterName = (await vs.quickPickLabels()).find((label) => label.endsWith(ENTER_IMAGE_NAME));
    assert.ok(enterName, 'the image step offers to enter a name');
    await vs.pick(IMAGE, enterName);
    // An input box now, still step 4 of 4, with Back.
    await vs.quickInput.locator('.quick-input-message', { hasText: 'An image reference' }).waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    assert.match(await vs.quickInputTitle(), new RegExp(escapeRegExp(IMAGE)));
    assert.ok(await vs.backButton.isVisible(), 'the image name box offers Back');
    await vs.answerInput(IMAGE, UNPULLABLE);

    const error = new RegExp(`^Could not create workspace "${RETRIED}": Image "${escapeRegExp(UNPULLABLE)}" is not available locally and could not be pulled`);
    const message = await vs.waitForNotification(error, LIMITS.dockerMs);
    assert.doesNotMatch(message, /dial tcp|connection refused/, `the toast keeps the engine's words for the log: "${message}"`);
    assert.deepEqual(await vs.notificationButtons(error), ['Choose Another Image', 'Show Logs']);
    assert.ok(!(await suite.listWorkspaces()).some((w) => w.name === RETRIED), 'the failed attempt recorded no workspace');

    await vs.clickNotificationButton(error, 'Choose Another Image');
    await vs.waitForQuickInput(IMAGE);
    await vs.clickBack(IMAGE);
    await vs.waitForActiveQuickPickRow(NETWORK, 'Sandkasten network');
    await vs.clickBack(NETWORK);
    await vs.waitForActiveQuickPickRow(KIND, 'collaborative');
    await vs.clickBack(KIND);
    await vs.waitForQuickInput(NAME);
    assert.equal(await vs.inputValue(), RETRIED, 'the name entered first is kept');
    await vs.acceptInput(NAME);
    await vs.waitForActiveQuickPickRow(KIND, 'collaborative');
    await vs.page.keyboard.press('Enter');
    await vs.waitForActiveQuickPickRow(NETWORK, 'Sandkasten network');
    await vs.page.keyboard.press('Enter');
    await vs.waitForQuickInput(IMAGE);
    await vs.pick(IMAGE, TEST_IMAGE);

    await vs.waitForTreeItem('Workspaces', RETRIED, /^collaborative · /, LIMITS.dockerMs);
    const workspace = await workspaceNamed(suite, RETRIED);
    assert.deepEqual([workspace.kind, workspace.image], ['collaborative', TEST_IMAGE]);
    assert.equal((await suite.listWorkspaces()).filter((w) => w.name === RETRIED).length, 1, 'one workspace of that name');
  });

  suite.step('3. After a create the new row is selected and "Start Session" on the ready notification starts a session with a terminal', async (vs) => {
    await vs.runCommand('Sandkasten: Create Workspace');
    await vs.answerInput(NAME, FLOW);
    await vs.pick(KIND, 'session');
    await vs.pick(NETWORK, 'Sandkasten network');
    await vs.pick(IMAGE, TEST_IMAGE);

    const ready = new RegExp(`^Workspace "${FLOW}" is ready \\(session, ${escapeRegExp(TEST_IMAGE)}\\)`);
    assert.deepEqual(await vs.notificationButtons(ready), ['Start Session']);
    const row = vs.treeItem('Workspaces', FLOW);
    await eventually(`the row "${FLOW}" to be selected`, async () => ((await row.getAttribute('aria-selected')) === 'true' ? true : undefined), {
      describe: async () => `${await vs.describeView('Workspaces')}; selected: ${JSON.stringify(await vs.view('Workspaces').locator('[role=treeitem][aria-selected=true] .label-name').allTextContents())}`,
    });
    assert.match((await row.getAttribute('class')) ?? '', /\bselected\b/);

    await vs.clickNotificationButton(ready, 'Start Session');
    // The first terminal of a fresh folder: VS Code asks for trust first (its own rule).
    const dialog = await vs.waitForDialog();
    assert.match(dialog.message, /trust the authors/i, `VS Code asks for workspace trust: ${JSON.stringify(dialog)}`);
    await vs.clickDialogButton('Trust Folder & Continue');

    flowSession = await theRunningSession(suite, FLOW);
    const shown = await vs.waitForTreeItem('Sessions', FLOW, new RegExp(`^running · ${shortId(flowSession.id)}$`), LIMITS.dockerMs);
    assert.equal(shown.description, `running · ${shortId(flowSession.id)}`);
    await eventually('a terminal in the panel', async () => ((await vs.terminals()).some((t) => t.visible) ? true : undefined), {
      limitMs: LIMITS.dockerMs,
      describe: () => vs.describeTerminals(),
    });
  });

  suite.step('4. ▷ on a new workspace starts a session and opens a terminal that has the focus: what is typed runs there', async (vs) => {
    const before = (await vs.terminals()).length;
    await vs.clickInlineAction(vs.treeItem('Workspaces', ENTERED), 'Start Session');
    const session = await theRunningSession(suite, ENTERED);
    await vs.waitForTreeItem('Sessions', ENTERED, new RegExp(`^running · ${shortId(session.id)}$`), LIMITS.dockerMs);
    await eventually('a new terminal with the focus', async () => {
      const shown = await vs.terminals();
      return shown.length === before + 1 && shown[before].focused ? true : undefined;
    }, { limitMs: LIMITS.dockerMs, describe: () => vs.describeTerminals() });
    // No click into it: the keyboard is already there.
    await vs.page.keyboard.type('echo typed-$((6*7))');
    await vs.page.keyboard.press('Enter');
    const index = await vs.waitForFocusedTerminalLine(/^typed-42$/);
    assert.equal(index, before, 'it ran in the new terminal');
    const tabs = await vs.terminalTabs();
    assert.match(tabs.find((tab) => tab.selected)?.label ?? '', new RegExp(`^${ENTERED}\\b`), `the selected terminal tab is the new one: ${JSON.stringify(tabs)}`);
  });

  suite.step('5. A terminal opened from the "Sandkasten Sandbox" profile, in the session picked by name, gets the focus: what is typed runs there, not in the old one', async (vs) => {
    const before = await vs.terminals();
    const old = before.findIndex((t) => t.focused);
    assert.ok(old >= 0, `a sandbox terminal has the focus: ${await vs.describeTerminals()}`);

    await vs.launchTerminalProfile('Sandkasten Sandbox');
    await vs.waitForQuickInput('Open Terminal in…');
    const labels = await eventually('the picker to list the running sessions', async () => {
      const shown = (await vs.quickPickRows()).map((row) => row.label);
      return shown.length === 2 ? shown : undefined;
    });
    assert.deepEqual([...labels].sort(), [ENTERED, FLOW].sort(), 'the picker leads with the workspace names of the running sessions');
    await vs.pick('Open Terminal in…', FLOW);

    await eventually('the new terminal to have the focus', async () => {
      const shown = await vs.terminals();
      return shown.length === before.length + 1 && shown[before.length].focused ? true : undefined;
    }, { limitMs: LIMITS.dockerMs, describe: () => vs.describeTerminals() });
    await vs.page.keyboard.type('echo in-new-terminal');
    await vs.page.keyboard.press('Enter');
    const index = await vs.waitForFocusedTerminalLine(/^in-new-terminal$/);
    assert.equal(index, before.length, 'it ran in the new terminal');
    const after = await vs.terminals();
    assert.ok(
      after.every((t, i) => i === index || !t.lines.some((line) => line.includes('in-new-terminal'))),
      `no other terminal got it: ${await vs.describeTerminals()}`,
    );
    const tabs = await vs.terminalTabs();
    assert.equal(tabs.length, after.length, `a tab per terminal: ${JSON.stringify(tabs)}`);
    assert.deepEqual(tabs.map((tab) => tab.selected), tabs.map((_, i) => i === index), `the new terminal's tab is the selected one: ${JSON.stringify(tabs)}`);
    assert.match(tabs[index].label, new RegExp(`^${FLOW}\\b`));
  });

  suite.step("6. A session row's context menu offers logs, inspect, restart, copy and destroy; Inspect Container opens the container's JSON read-only", async (vs) => {
    const row = vs.treeItem('Sessions', FLOW, new RegExp(`^running · ${shortId(flowSession.id)}$`));
    const entries = await vs.contextMenuEntries(row);
    for (const entry of ['Open Terminal', 'Run Command…', 'Stop Session', 'Restart Session', 'Show Container Logs', 'Inspect Container', 'Copy Container Id', 'Destroy Session…']) {
      assert.ok(entries.includes(entry), `the menu offers "${entry}": ${JSON.stringify(entries)}`);
    }
    for (const entry of ['Start Session', 'Show Last Output']) {
      assert.ok(!entries.includes(entry), `a running session without Run Command output offers no "${entry}": ${JSON.stringify(entries)}`);
    }

    const containerId = (await suite.listSessions()).find((s) => s.id === flowSession.id)?.containerId ?? '';
    assert.match(containerId, /^[0-9a-f]{64}$/, 'the sidecar knows its container');
    await vs.allowClipboard();
    await vs.chooseFromContextMenu(row, 'Copy Container Id');
    await eventually('the clipboard to hold the container id', async () => ((await vs.readClipboard()) === containerId ? true : undefined), {
      describe: () => vs.readClipboard(),
    });

    await vs.chooseFromContextMenu(row, 'Inspect Container');
    const lines = await vs.waitForEditor(new RegExp(`^sandkasten-doc:/inspect/${flowSession.id}/`), [new RegExp(`^\\s*"Id": "${containerId}",$`)]);
    assert.equal(lines[0].trim(), '{', `the editor shows a JSON object: ${JSON.stringify(lines.slice(0, 5))}`);
    assert.equal(await vs.editorLanguage(), 'JSON');
    // The whole text, as a person would take it: select all, copy.
    await vs.activeEditor.locator('.view-lines').click();
    await vs.page.keyboard.press('ControlOrMeta+A');
    await vs.page.keyboard.press('ControlOrMeta+C');
    const inspected = await eventually('the copied inspect JSON to parse', async () => {
      const text = await vs.readClipboard();
      try {
        const parsed = JSON.parse(text) as unknown;
        return typeof parsed === 'object' && parsed !== null ? (parsed as { Id?: string; State?: { Running?: boolean } }) : undefined;
      } catch {
        return undefined;
      }
    }, { describe: async () => (await vs.readClipboard()).slice(0, 200) });
    assert.equal(inspected.Id, containerId, "its Id is the session's container");
    assert.equal(inspected.State?.Running, true);
    // Read-only: typing changes nothing, and VS Code says why.
    await vs.page.keyboard.press('ControlOrMeta+Home');
    await vs.page.keyboard.type('x');
    await vs.editorMessage.filter({ hasText: /Cannot edit in read-only editor/ }).waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    assert.deepEqual(await vs.editorLines(), lines, 'the text is unchanged');
  });

  suite.step('6b. A workspace row\'s context menu renames it (its session rows follow), starts another session and copies its id', async (vs) => {
    const workspace = await workspaceNamed(suite, ENTERED);
    const row = vs.treeItem('Workspaces', ENTERED);
    const entries = await vs.contextMenuEntries(row);
    for (const entry of ['Start Session', 'Start Another Session', 'Rename Workspace…', 'Copy Id', 'Delete Workspace…']) {
      assert.ok(entries.includes(entry), `the menu offers "${entry}": ${JSON.stringify(entries)}`);
    }

    await vs.chooseFromContextMenu(row, 'Rename Workspace…');
    await vs.waitForQuickInput(`Rename Workspace "${ENTERED}"`);
    assert.equal(await vs.inputValue(), ENTERED, 'the box holds the current name');
    await vs.answerInput(`Rename Workspace "${ENTERED}"`, RENAMED);
    await vs.waitForTreeItem('Workspaces', RENAMED, /^session · /, LIMITS.dockerMs);
    await vs.waitForNoTreeItem('Workspaces', ENTERED);
    const [session] = await runningSessionsOf(suite, RENAMED);
    assert.ok(session, 'its session now carries the new name');
    await vs.waitForTreeItem('Sessions', RENAMED, new RegExp(`^running · ${shortId(session.id)}$`));
    await vs.waitForNoTreeItem('Sessions', ENTERED);
    assert.equal((await workspaceNamed(suite, RENAMED)).id, workspace.id, 'the id stays');

    await vs.chooseFromContextMenu(vs.treeItem('Workspaces', RENAMED), 'Start Another Session');
    await eventually('a second running session', async () => ((await runningSessionsOf(suite, RENAMED)).length === 2 ? true : undefined), {
      limitMs: LIMITS.dockerMs,
    });

    await vs.allowClipboard();
    await vs.chooseFromContextMenu(vs.treeItem('Workspaces', RENAMED), 'Copy Id');
    await eventually('the clipboard to hold the workspace id', async () => ((await vs.readClipboard()) === workspace.id ? true : undefined), {
      describe: () => vs.readClipboard(),
    });
  });

  suite.step('7. Run Command output is in the Command Output channel, and after a reload the session row offers "Show Last Output" with it', async (vs) => {
    await vs.runCommand('Sandkasten: Run Command…');
    await vs.pick('Run Command in…', FLOW);
    await vs.answerInput(`Run Command in "${FLOW}" (${shortId(flowSession.id)})`, RUN);
    const { lines } = await vs.waitForOutputLine('Sandkasten: Command Output', /^\[exit code 0, \d+ ms\]$/, LIMITS.dockerMs);
    const echoed = lines.findIndex((line) => line.startsWith(`$ ${RUN}`));
    assert.ok(echoed >= 0, `the channel shows the command line: ${JSON.stringify(lines)}`);
    assert.equal(lines[echoed + 1], 'kept-23');

    await vs.reloadWindow();
    await vs.openSandkasten();
    const row = vs.treeItem('Sessions', FLOW, new RegExp(`^running · ${shortId(flowSession.id)}$`));
    await vs.waitForTreeItem('Sessions', FLOW, new RegExp(`^running · ${shortId(flowSession.id)}$`), LIMITS.dockerMs);
    const entries = await vs.contextMenuEntries(row);
    assert.ok(entries.includes('Show Last Output'), `after a Run Command the menu offers "Show Last Output": ${JSON.stringify(entries)}`);
    await vs.chooseFromContextMenu(row, 'Show Last Output');
    await vs.waitForEditor(new RegExp(`^sandkasten-doc:/output/${flowSession.id}/`), [new RegExp(`^\\$ ${escapeRegExp(RUN)}`), /^kept-23$/, /^\[exit code 0, \d+ ms\]$/]);
    await vs.activeEditor.locator('.view-lines').click();
    await vs.page.keyboard.type('x');
    await vs.editorMessage.filter({ hasText: /Cannot edit in read-only editor/ }).waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    // The channel was refilled too.
    await vs.runCommand('Output: Show Output Channels...');
    await vs.quickPickRow('Sandkasten: Command Output').click({ timeout: LIMITS.uiMs });
    await vs.waitForOutputLine('Sandkasten: Command Output', /^kept-23$/);
  });

  suite.step('8. The status bar says how many sessions run, and its click opens the Sandkasten menu', async (vs) => {
    const running = (await suite.listSessions()).filter((s) => s.state === 'running').length;
    assert.equal(running, 3, 'the e2e-flow session and two of e2e-renamed');
    const item = vs.statusBarItem(/Sandkasten/);
    await eventually(`the status bar to say "Sandkasten: ${running} running"`, async () => (((await item.textContent()) ?? '').trim() === `Sandkasten: ${running} running` ? true : undefined), {
      describe: async () => `it says "${await item.textContent()}"`,
    });
    await item.click();
    await vs.waitForQuickInput('Sandkasten');
    const labels = await vs.quickPickLabels();
    for (const entry of ['Create Workspace…', 'Open Terminal…', 'Run Command…', 'Show Logs']) {
      assert.ok(labels.some((label) => label.trim() === entry), `the menu offers "${entry}": ${JSON.stringify(labels)}`);
    }
    await vs.page.keyboard.press('Escape');
    await vs.quickInput.waitFor({ state: 'hidden', timeout: LIMITS.uiMs });
  });

  suite.step('9. Stopping a session (its ■ inline) lowers the status bar count, and its menu then offers Start Session instead of Stop Session', async (vs) => {
    const row = vs.treeItem('Sessions', FLOW, new RegExp(`^running · ${shortId(flowSession.id)}$`));
    await vs.clickInlineAction(row, 'Stop Session');
    await vs.waitForTreeItem('Sessions', FLOW, new RegExp(`^stopped · ${shortId(flowSession.id)}`), LIMITS.dockerMs);
    assert.equal((await suite.listSessions()).find((s) => s.id === flowSession.id)?.state, 'stopped');
    const item = vs.statusBarItem(/Sandkasten/);
    await eventually('the status bar to say "Sandkasten: 2 running"', async () => (((await item.textContent()) ?? '').trim() === 'Sandkasten: 2 running' ? true : undefined), {
      describe: async () => `it says "${await item.textContent()}"`,
    });
    const entries = await vs.contextMenuEntries(vs.treeItem('Sessions', FLOW, new RegExp(`^stopped · ${shortId(flowSession.id)}`)));
    for (const entry of ['Start Session', 'Restart Session', 'Show Container Logs', 'Inspect Container', 'Show Last Output', 'Destroy Session…']) {
      assert.ok(entries.includes(entry), `a stopped session's menu offers "${entry}": ${JSON.stringify(entries)}`);
    }
    for (const entry of ['Stop Session', 'Open Terminal', 'Run Command…']) {
      assert.ok(!entries.includes(entry), `a stopped session's menu offers no "${entry}": ${JSON.stringify(entries)}`);
    }
  });

  suite.step('10. The read-only editors\' tabs read like the Sessions view: "<workspace> <short id>.json" and "<workspace> output.log"', async (vs) => {
    const row = vs.treeItem('Sessions', FLOW, new RegExp(`^stopped · ${shortId(flowSession.id)}`));
    await vs.chooseFromContextMenu(row, 'Inspect Container');
    await vs.waitForEditor(new RegExp(`^sandkasten-doc:/inspect/${flowSession.id}/`), [/^\s*"Id": "[0-9a-f]{64}",$/]);
    const inspectTitle = await vs.activeEditorTitle();
    await vs.chooseFromContextMenu(row, 'Show Last Output');
    await vs.waitForEditor(new RegExp(`^sandkasten-doc:/output/${flowSession.id}/`), [/^kept-23$/]);
    const outputTitle = await vs.activeEditorTitle();
    assert.deepEqual([inspectTitle, outputTitle], [`${FLOW} ${shortId(flowSession.id)}.json`, `${FLOW} output.log`], 'the tabs show the names as written, not URL-encoded');
  });
});

describe('The life of a workspace with the keyboard alone, in a real VS Code (code-server)', () => {
  const suite = new CodeServerSuite('keyboard', { settings: TERMINAL_SETTINGS });
  const WORKSPACE = 'e2e-keys';
  let session: SessionInfo;

  before(() => suite.start(), { timeout: LIMITS.suiteMs });
  after(() => suite.stop(), { timeout: LIMITS.suiteMs });

  suite.step('1. F1 "Sandkasten: Create Workspace" and the wizard answered by keyboard create the workspace', async (vs) => {
    await vs.runCommandWithKeyboard('View: Show Sandkasten');
    await vs.view('Workspaces').waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    await vs.runCommandWithKeyboard('Sandkasten: Create Workspace');
    await vs.waitForQuickInput(NAME);
    await vs.page.keyboard.type(WORKSPACE);
    await vs.page.keyboard.press('Enter');
    await vs.waitForActiveQuickPickRow(KIND, 'session');
    await vs.page.keyboard.press('Enter');
    await vs.waitForActiveQuickPickRow(NETWORK, 'Sandkasten network');
    await vs.page.keyboard.press('Enter');
    await waitForImageList(vs, IMAGE);
    await vs.page.keyboard.press('Enter');
    await vs.waitForNotification(new RegExp(`^Workspace "${WORKSPACE}" is ready`), LIMITS.dockerMs);
    await vs.waitForTreeItem('Workspaces', WORKSPACE, /^session · new · /);
    const workspace = await workspaceNamed(suite, WORKSPACE);
    assert.deepEqual([workspace.kind, workspace.image], ['session', TEST_IMAGE]);
  });

  suite.step('2. F1 "Sandkasten: Start Session", the workspace picked by keyboard, starts a session whose terminal takes what is typed', async (vs) => {
    await vs.runCommandWithKeyboard('Sandkasten: Start Session');
    await vs.pickWithKeyboard('Choose a workspace', WORKSPACE);
    // The first terminal of a fresh folder: VS Code asks for trust (its own rule).
    const dialog = await vs.waitForDialog();
    assert.match(dialog.message, /trust the authors/i, `VS Code asks for workspace trust: ${JSON.stringify(dialog)}`);
    await vs.pressDialogButtonWithKeyboard('Trust Folder & Continue');
    session = await theRunningSession(suite, WORKSPACE);
    await vs.waitForTreeItem('Sessions', WORKSPACE, new RegExp(`^running · ${shortId(session.id)}$`));
    await eventually('the terminal to have the focus', async () => ((await vs.terminals()).some((t) => t.focused) ? true : undefined), {
      limitMs: LIMITS.dockerMs,
      describe: () => vs.describeTerminals(),
    });
    await vs.page.keyboard.type('echo keys-$((40+2))');
    await vs.page.keyboard.press('Enter');
    await vs.waitForFocusedTerminalLine(/^keys-42$/);
  });

  suite.step('3. F1 "Sandkasten: Run Command…", the session picked by keyboard, shows the output', async (vs) => {
    await vs.runCommandWithKeyboard('Sandkasten: Run Command…');
    await vs.pickWithKeyboard('Run Command in…', WORKSPACE);
    await vs.waitForQuickInput(`Run Command in "${WORKSPACE}" (${shortId(session.id)})`);
    await vs.page.keyboard.type('echo ran-$((1+1))');
    await vs.page.keyboard.press('Enter');
    const { lines } = await vs.waitForOutputLine('Sandkasten: Command Output', /^\[exit code 0, \d+ ms\]$/, LIMITS.dockerMs);
    assert.ok(lines.includes('ran-2'), `the channel shows the output: ${JSON.stringify(lines)}`);
  });

  suite.step('4. F1 "Sandkasten: Stop Session", the session picked by typing its workspace name, stops it', async (vs) => {
    await vs.runCommandWithKeyboard('Sandkasten: Stop Session');
    await vs.pickWithKeyboard('Stop Session…', WORKSPACE);
    await eventually('the session to stop', async () => ((await suite.listSessions()).find((s) => s.id === session.id)?.state === 'stopped' ? true : undefined), {
      limitMs: LIMITS.dockerMs,
      describe: async () => JSON.stringify(await suite.listSessions()),
    });
    await vs.waitForTreeItem('Sessions', WORKSPACE, new RegExp(`^stopped · ${shortId(session.id)}`));
  });

  suite.step('5. F1 "Sandkasten: Delete Workspace…", picked and confirmed by keyboard, deletes it', async (vs) => {
    await vs.runCommandWithKeyboard('Sandkasten: Delete Workspace…');
    await vs.pickWithKeyboard('Choose a workspace', WORKSPACE);
    const dialog = await vs.waitForDialog();
    assert.match(dialog.message, new RegExp(`^Delete workspace "${WORKSPACE}"`));
    await vs.pressDialogButtonWithKeyboard('Delete');
    await eventually('the workspace to be gone', async () => ((await suite.listWorkspaces()).length === 0 ? true : undefined), { limitMs: LIMITS.dockerMs });
    await vs.waitForNoTreeItem('Workspaces', WORKSPACE);
    assert.deepEqual(await suite.listSessions(), [], 'its session went with it');
    assert.deepEqual(await vs.pointerEvents(), [], 'no mouse button was pressed in the whole walk');
  });
});
