/**
 * A person's first session with Sandkasten in VS Code, step by step, against the real Docker
 * engine: open the Sandkasten views, create a workspace, start a session, run a command, reload
 * the window, delete the workspace. The steps build on each other and run in order.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { CodeServerSuite } from './codeServerSuite';
import { dockerObjects, eventually, LIMITS, runningContainers, SESSION_LABEL, shortId, TEST_IMAGE, WORKSPACE_LABEL } from './support';

const WORKSPACE = 'e2e-demo';
const COMMAND = 'echo hello-from-sandbox';

describe('Sandkasten in a real VS Code (code-server), driven like a person', () => {
  const suite = new CodeServerSuite('workflow');
  let workspaceId = '';
  let sessionId = '';
  let sidecarPid = 0;

  before(() => suite.start(), { timeout: LIMITS.suiteMs });
  after(() => suite.stop(), { timeout: LIMITS.suiteMs });

  suite.step('1. The Sandkasten container appears in the activity bar, and with Docker reachable the Workspaces view shows no error', async (vs) => {
    assert.ok(await vs.activityIcon.isVisible(), 'the activity bar shows the Sandkasten icon');
    // A new folder opens untrusted; the extension declares it works there.
    await vs.restrictedModeIndicator.waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    await vs.openSandkasten();
    const welcome = vs.welcome('Workspaces');
    await welcome.filter({ hasText: 'No workspaces yet' }).waitFor({ state: 'visible', timeout: LIMITS.dockerMs });
    const text = (await welcome.textContent()) ?? '';
    assert.doesNotMatch(text, /not reachable|could not be started|Connecting/, `the Workspaces view shows no error: "${text}"`);
    assert.ok(await welcome.getByRole('button', { name: 'Create Workspace' }).isVisible(), 'the welcome offers "Create Workspace"');
    await vs.welcome('Sessions').filter({ hasText: 'No sessions' }).waitFor({ state: 'visible', timeout: LIMITS.uiMs });

    const status = await suite.sidecarStatus();
    assert.equal(status.docker.available, true, `the sidecar reaches Docker (${status.docker.error ?? ''})`);
    assert.equal(status.home, suite.home, 'the extension uses the SANDKASTEN_HOME code-server was started with');
    sidecarPid = status.pid;
  });

  suite.step('7. Activation is logged as "Activated in X ms" in the Sandkasten output channel (printed, not asserted)', async (vs) => {
    await vs.runCommand('Sandkasten: Show Logs');
    const { match } = await vs.waitForOutputLine('Sandkasten', /Activated in ([\d.]+) ms/);
    const ms = Number(match[1]);
    assert.ok(Number.isFinite(ms), `"${match[0]}" carries a number`);
    console.log(`extension activation: ${ms} ms (from the "Sandkasten" output channel)`);
    // The log also tells that the extension reached its sidecar.
    await vs.waitForOutputLine('Sandkasten', /Connected to the sidecar of /);
  });

  suite.step('2. Creating a workspace through the palette (title, name, kind, image) lists it in the Workspaces tree', async (vs) => {
    await vs.runCommand('Sandkasten: Create Workspace');
    await vs.answerInput('Create Workspace: name (1/4)', WORKSPACE);
    await vs.pick('Create Workspace: kind (2/4)', 'session');
    await vs.pick('Create Workspace: network (3/4)', 'Sandkasten network');
    await vs.waitForQuickInput('Create Workspace: image (4/4)');
    const images = await eventually('the image step to list the default image first', async () => {
      const labels = await vs.quickPickLabels();
      return labels[0] === TEST_IMAGE ? labels : undefined;
    });
    assert.ok(images.includes('$(edit) Enter image name…') || images.some((label) => label.includes('Enter image name')), `the image step offers to enter a name (${JSON.stringify(images)})`);
    await vs.pick('Create Workspace: image (4/4)', TEST_IMAGE);

    const row = await vs.waitForTreeItem('Workspaces', WORKSPACE, /^session · /, LIMITS.dockerMs);
    assert.match(row.description, /^session · new · just now$/, 'the row shows kind, state and last access');
    const workspace = (await suite.listWorkspaces()).find((w) => w.name === WORKSPACE);
    assert.ok(workspace, `the sidecar knows workspace ${WORKSPACE}`);
    workspaceId = workspace.id;
    assert.deepEqual((await dockerObjects(WORKSPACE_LABEL, workspaceId)).volumes, [workspace.volume], 'its volume exists in Docker');
  });

  suite.step("2b. The host's network is an explicit choice: a dialog names the risk, and the tree marks the workspace with a warning", async (vs) => {
    const name = 'host-net';
    await vs.runCommand('Sandkasten: Create Workspace');
    await vs.answerInput('Create Workspace: name (1/4)', name);
    await vs.pick('Create Workspace: kind (2/4)', 'session');
    await vs.pick('Create Workspace: network (3/4)', 'Host network');
    const dialog = await vs.waitForDialog();
    assert.equal(dialog.message, `Give workspace "${name}" the host's network?`);
    assert.match(dialog.detail, /every service on this machine/, 'the dialog names the risk');
    assert.ok(dialog.buttons.includes('Use Host Network'), `the dialog asks for an explicit yes (${JSON.stringify(dialog.buttons)})`);
    await vs.clickDialogButton('Use Host Network');
    await vs.pick('Create Workspace: image (4/4)', TEST_IMAGE);

    const row = await vs.waitForTreeItem('Workspaces', name, /host network/, LIMITS.dockerMs);
    assert.match(row.description, /^⚠ host network · session · /, 'the row carries the warning');
    const workspace = (await suite.listWorkspaces()).find((w) => w.name === name);
    assert.equal(workspace?.hostNetwork, true, 'the sidecar recorded the choice');
    assert.equal((await suite.cli(['workspace', 'rm', workspace!.id, '--force'])).code, 0);
    await vs.waitForNoTreeItem('Workspaces', name, LIMITS.dockerMs);
  });

  suite.step("3. Starting a session from the workspace's inline action lists it under Sessions as running, led by the workspace's name", async (vs) => {
    const item = vs.treeItem('Workspaces', WORKSPACE);
    const workspaceActions = await vs.inlineActions(item);
    assert.ok(workspaceActions.includes('Start Session'), `a workspace row offers "Start Session" inline (${JSON.stringify(workspaceActions)})`);
    await vs.clickInlineAction(item, 'Start Session');
    // Like Dev Containers, a started session opens a terminal; a fresh folder asks for trust first (VS Code's rule).
    const dialog = await vs.waitForDialog();
    assert.match(dialog.message, /trust the authors/i, `VS Code asks for workspace trust: ${JSON.stringify(dialog)}`);
    await vs.clickDialogButton('Trust Folder & Continue');

    const row = await vs.waitForTreeItem('Sessions', WORKSPACE, /^running · [0-9a-f]{8}$/, LIMITS.dockerMs);
    const sessions = await suite.listSessions();
    sessionId = sessions[0]?.id ?? '';
    assert.equal(row.description, `running · ${shortId(sessionId)}`, 'state and short id follow the name');
    assert.deepEqual(
      sessions.map((s) => [s.id, s.workspaceId, s.state]),
      [[sessionId, workspaceId, 'running']],
      'the sidecar has exactly this running session',
    );
    assert.equal((await runningContainers(SESSION_LABEL, sessionId)).length, 1, 'its container runs in Docker');
    // The running session offers its own inline actions (later features add more).
    const sessionActions = await vs.inlineActions(vs.treeItem('Sessions', WORKSPACE));
    for (const action of ['Run Command…', 'Stop Session']) {
      assert.ok(sessionActions.includes(action), `a running session offers "${action}" inline (${JSON.stringify(sessionActions)})`);
    }
  });

  suite.step('4. Running a command through the palette shows its output in the Output panel', async (vs) => {
    await vs.runCommand('Sandkasten: Run Command…');
    // From the palette it always asks, even with one running session (never a guess).
    await vs.pick('Run Command in…', WORKSPACE);
    await vs.answerInput(`Run Command in "${WORKSPACE}" (${shortId(sessionId)})`, COMMAND);

    const { lines } = await vs.waitForOutputLine('Sandkasten: Command Output', /^\[exit code 0, \d+ ms\]$/, LIMITS.dockerMs);
    const echoed = lines.findIndex((line) => line.startsWith(`$ ${COMMAND}`));
    assert.ok(echoed >= 0, `the channel shows the command line; it shows ${JSON.stringify(lines)}`);
    assert.equal(lines[echoed + 1], 'hello-from-sandbox', 'followed by what it printed');
    assert.match(lines[echoed + 2], /^\[exit code 0, \d+ ms\]$/, 'followed by its exit code');
  });

  suite.step('5. After "Developer: Reload Window" the workspace and session are still listed, served by the same sidecar', async (vs) => {
    await vs.reloadWindow();
    await vs.openSandkasten();
    await vs.waitForTreeItem('Workspaces', WORKSPACE, /^session · /, LIMITS.dockerMs);
    await vs.waitForTreeItem('Sessions', WORKSPACE, new RegExp(`^running · ${shortId(sessionId)}$`));
    const status = await suite.sidecarStatus();
    assert.equal(status.pid, sidecarPid, 'the sidecar process is the one from before the reload');
    // The reload really restarted the extension: a second activation reached the same sidecar.
    await eventually('the extension log to show a second activation and connection', () => {
      const log = suite.extensionLogs().map(({ text }) => text).join('\n');
      const activations = log.match(/Activated in /g)?.length ?? 0;
      const connections = log.match(new RegExp(`Connected to the sidecar of ${suite.home}`, 'g'))?.length ?? 0;
      return activations >= 2 && connections >= 2 ? true : undefined;
    });
  });

  suite.step('6. Deleting the workspace from its context menu, confirmed in the dialog, removes it from the tree and from Docker', async (vs) => {
    await vs.chooseFromContextMenu(vs.treeItem('Workspaces', WORKSPACE), 'Delete Workspace…');
    const dialog = await vs.waitForDialog();
    assert.equal(dialog.message, `Delete workspace "${WORKSPACE}" (${workspaceId})?`);
    assert.match(dialog.detail, /1 session container/, 'the dialog says its session goes too');
    assert.ok(dialog.buttons.includes('Delete'), `the dialog offers "Delete" (${JSON.stringify(dialog.buttons)})`);
    await vs.clickDialogButton('Delete');

    await vs.waitForNoTreeItem('Workspaces', WORKSPACE, LIMITS.dockerMs);
    await vs.waitForNoTreeItem('Sessions', WORKSPACE);
    await vs.welcome('Workspaces').filter({ hasText: 'No workspaces yet' }).waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    assert.deepEqual(await suite.listWorkspaces(), [], 'the sidecar has no workspace left');
    assert.deepEqual(await dockerObjects(WORKSPACE_LABEL, workspaceId), { containers: [], volumes: [] }, 'Docker has no container or volume of it');
  });
});
