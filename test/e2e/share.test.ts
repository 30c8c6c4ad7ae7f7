/**
 * Live Share-style sharing (issue 17) end to end, in two real VS Codes at once: a host and a
 * guest, each a code-server of its own (own port, user-data and extensions directories, own
 * browser) with its own SANDKASTEN_HOME, so two sidecars and two Docker instance labels, the
 * guest's sidecar reaching the host's share endpoint over loopback like a teammate's would
 * through an SSH tunnel. Nothing is mocked.
 *
 * The host's collaborative workspace and its running session are made with the CLI (set-up,
 * as an agent would); everything about sharing goes through the UI: the host opens a terminal
 * and types, shares the session from its row, copies the join code from the notification;
 * the guest runs "Join Shared Session…" with that code; the host is asked and clicks "Allow as
 * Editor"; the guest lands in the host's terminal and types, and both pages show the output;
 * the host stops sharing and the guest is told. Each step leaves a screenshot of both pages
 * (artifacts/e2e/share--NN-…--host.png and …--guest.png). Steps run in order.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe } from 'node:test';
import type { JoinedShareInfo, SessionInfo, ShareInfo, WorkspaceInfo } from '../../sidecar/client/protocol';
import { CodeServerGroup, CodeServerSuite } from './codeServerSuite';
import { escapeRegExp, eventually, exactly, LIMITS, shortId, TEST_IMAGE } from './support';
import type { Workbench } from './workbench';

const WORKSPACE = 'e2e-share';
/** What each side calls itself (`sandkasten.share.displayName`): the other side shows it. */
const HOST_NAME = 'e2e-host';
const GUEST_NAME = 'e2e-guest';

/** The guest's row of the shared session under "Shared with me": "<workspace> (<host>)". */
const JOINED_LABEL = `${WORKSPACE} (${HOST_NAME})`;
const PARTICIPANTS = 'Participants';

const SHARE_SESSION = 'Share Session';
const JOIN_SHARED_SESSION = 'Sandkasten: Join Shared Session…';
const STOP_SHARING = 'Sandkasten: Stop Sharing';

/** Settings both VS Codes need. */
const TERMINAL_SETTINGS = {
  // The DOM renderer keeps the terminal's text in the page, where a test can read it.
  'terminal.integrated.gpuAcceleration': 'off',
};

/** `sandkasten …` in `suite`'s home, asserted to succeed; its stdout parsed as JSON. */
async function cliJson<T>(suite: CodeServerSuite, args: string[]): Promise<T> {
  const result = await suite.cli([...args, '--json']);
  assert.equal(result.code, 0, `sandkasten ${args.join(' ')} failed (exit ${result.code}) in ${suite.name}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/**
 * Waits until some terminal of the page shows a line matching `line`. VS Code asks for
 * workspace trust before the first terminal of a folder in Restricted Mode runs (its own rule,
 * for extension terminals too): when it asks, a person trusts the folder and continues.
 */
async function waitForTerminalLineTrusting(vs: Workbench, line: RegExp, limitMs = LIMITS.dockerMs): Promise<string> {
  return eventually(
    `a terminal line matching ${line} (trusting the folder if VS Code asks)`,
    async () => {
      if (await vs.dialog.isVisible()) {
        const dialog = await vs.waitForDialog();
        assert.match(dialog.message, /trust the authors/i, `the only dialog expected is VS Code's trust question: ${JSON.stringify(dialog)}`);
        await vs.clickDialogButton('Trust Folder & Continue');
        return undefined;
      }
      const lines = (await vs.terminals()).flatMap((terminal) => terminal.lines).map((text) => text.trim());
      return lines.find((text) => line.test(text));
    },
    { limitMs, describe: () => vs.describeTerminals() },
  );
}

/** Shows a view of the Sandkasten container, expanding it by its header when it is collapsed. */
async function showView(vs: Workbench, name: string): Promise<void> {
  await vs.openSandkasten();
  const view = vs.view(name);
  await view.waitFor({ state: 'visible', timeout: LIMITS.uiMs });
  const header = view.locator('.pane-header');
  if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
  await eventually(`the ${name} view to expand`, async () => ((await header.getAttribute('aria-expanded')) === 'true' ? true : undefined));
}

describe('Sharing a session between two real VS Codes (code-server): host and guest', () => {
  const host = new CodeServerSuite('share-host', { settings: { ...TERMINAL_SETTINGS, 'sandkasten.share.displayName': HOST_NAME } });
  const guest = new CodeServerSuite('share-guest', { settings: { ...TERMINAL_SETTINGS, 'sandkasten.share.displayName': GUEST_NAME } });
  const group = new CodeServerGroup('share', { host, guest });

  let session: SessionInfo;
  let share: ShareInfo;
  /** The number the guest's command computes: its output is a line the command line is not. */
  const marker = randomInt(100_000, 999_999);

  before(() => group.start(), { timeout: LIMITS.suiteMs });
  after(() => group.stop(), { timeout: 2 * LIMITS.suiteMs });

  group.step('1. Host: the collaborative session made with the CLI is listed; "Open Terminal" on it runs `echo from-host`', async () => {
    const workspace = await cliJson<WorkspaceInfo>(host, ['workspace', 'create', WORKSPACE, '--kind', 'collaborative', '--image', TEST_IMAGE]);
    assert.equal(workspace.kind, 'collaborative');
    session = await cliJson<SessionInfo>(host, ['session', 'start', workspace.id]);
    assert.equal(session.state, 'running');

    await Promise.all([host.workbench.openSandkasten(), guest.workbench.openSandkasten()]);
    const vs = host.workbench;
    await vs.waitForTreeItem('Sessions', WORKSPACE, new RegExp(`^running · ${shortId(session.id)}`), LIMITS.dockerMs);
    await vs.clickInlineAction(vs.treeItem('Sessions', WORKSPACE), 'Open Terminal');
    // The folder opened in Restricted Mode (a fresh browser), and VS Code asks for trust before
    // any terminal runs (its own rule, for extension terminals too): a person trusts it.
    const dialog = await vs.waitForDialog();
    assert.match(dialog.message, /trust the authors/i, `VS Code asks for workspace trust: ${JSON.stringify(dialog)}`);
    await vs.clickDialogButton('Trust Folder & Continue');
    await vs.typeInTerminal('echo from-host');
    await vs.waitForTerminalLine(/^from-host$/);
  });

  group.step('2. Host: "Share Session" on the session row copies the join link and offers Copy Link, Copy Code and Stop Sharing; Copy Code copies the code', async () => {
    const vs = host.workbench;
    await vs.allowClipboard();
    await vs.chooseFromContextMenu(vs.treeItem('Sessions', WORKSPACE), SHARE_SESSION);
    const message = await vs.waitForNotification(new RegExp(`^Sharing "${escapeRegExp(WORKSPACE)}": its join link is on the clipboard\\.`), LIMITS.dockerMs);
    assert.match(message, /they come in as viewers\. You allow each guest when they ask to join\.$/, 'the message says who may join and how');

    const shares = await cliJson<ShareInfo[]>(host, ['share', 'list']);
    assert.equal(shares.length, 1, `the host's sidecar shares one session: ${JSON.stringify(shares)}`);
    share = shares[0];
    assert.equal(share.sessionId, session.id, 'the session of the row is the one shared');
    assert.deepEqual([share.defaultRole, share.approval], ['viewer', 'ask'], 'new guests are viewers and ask first (the defaults)');

    const toast = new RegExp(escapeRegExp(message));
    const buttons = await vs.notificationButtons(toast);
    for (const button of ['Copy Link', 'Copy Code', 'Stop Sharing']) assert.ok(buttons.includes(button), `the notification offers "${button}": ${JSON.stringify(buttons)}`);
    assert.equal(await vs.readClipboard(), share.link, 'sharing copied the join link');

    await vs.clickNotificationButton(toast, 'Copy Code');
    await eventually('the clipboard to hold the join code', async () => ((await vs.readClipboard()) === share.code ? true : undefined), {
      describe: () => vs.readClipboard(),
    });
    // The row says it is shared, and with nobody yet.
    await vs.waitForTreeItem('Sessions', WORKSPACE, new RegExp(`^running · shared · no guests yet · ${shortId(session.id)}`));
  });

  group.step(`3. Guest: "Join Shared Session…" with the code; the host is asked '"${GUEST_NAME}" (address) asks to join ${WORKSPACE} as viewer.' and clicks "Allow as Editor"`, async () => {
    // The code travels from the host's clipboard (Copy Code, step 2) to the guest's, as a chat
    // message would carry it; the input box offers what the clipboard holds, and Enter joins.
    const code = await host.workbench.readClipboard();
    assert.equal(code, share.code);
    await guest.workbench.writeClipboard(code);
    await guest.workbench.runCommand(JOIN_SHARED_SESSION);
    await guest.workbench.waitForQuickInput(exactly('Join Shared Session'));
    assert.equal(await guest.workbench.inputValue(), code, 'the input box offers the code on the clipboard');
    await guest.workbench.page.keyboard.press('Enter');

    const question = new RegExp(`^"${escapeRegExp(GUEST_NAME)}" \\(127\\.0\\.0\\.1:\\d+\\) asks to join ${escapeRegExp(WORKSPACE)} as viewer\\.$`);
    await host.workbench.waitForNotification(question, LIMITS.dockerMs);
    assert.deepEqual(await host.workbench.notificationButtons(question), ['Allow', 'Allow as Editor', 'Deny'], 'the host may let the guest in as viewer or editor, or turn them away');
    await group.screenshot('host', '03-the-host-is-asked');
    await host.workbench.clickNotificationButton(question, 'Allow as Editor');

    const participants = await eventually('the host\'s share to have the guest in as editor', async () => {
      const [current] = await cliJson<ShareInfo[]>(host, ['share', 'list']);
      return current?.participants.some((p) => p.name === GUEST_NAME && p.role === 'editor' && p.connected) ? current.participants : undefined;
    });
    assert.equal(participants.length, 1, `one guest: ${JSON.stringify(participants)}`);
    const [joined] = await cliJson<JoinedShareInfo[]>(guest, ['share', 'joined']);
    assert.deepEqual([joined?.hostName, joined?.workspaceName, joined?.role, joined?.state], [HOST_NAME, WORKSPACE, 'editor', 'connected'], 'the guest\'s sidecar joined as editor');

    // The guest lands in the host's terminal: what the host typed before is replayed there.
    await waitForTerminalLineTrusting(guest.workbench, /^from-host$/);

    // Both sides show who is in: the host's session row and Participants view, the guest's
    // "Shared with me" group in its Sessions view.
    await host.workbench.waitForTreeItem('Sessions', WORKSPACE, new RegExp(`^running · shared · 1 guest · ${shortId(session.id)}`));
    await showView(host.workbench, PARTICIPANTS);
    await host.workbench.waitForTreeItem(PARTICIPANTS, WORKSPACE, /^shared · 1 guest$/);
    // The share's row appeared without guests (a leaf) and VS Code keeps it collapsed once it has one: open it.
    await host.workbench.expandTreeItem(host.workbench.treeItem(PARTICIPANTS, WORKSPACE));
    await host.workbench.waitForTreeItem(PARTICIPANTS, GUEST_NAME, /^editor · since /);
    await guest.workbench.waitForTreeItem('Sessions', 'Shared with me', /^1$/);
    await guest.workbench.waitForTreeItem('Sessions', JOINED_LABEL, /^editor · connected$/);
  });

  group.step('4. Guest types in the shared terminal: the output shows on the host\'s page and on the guest\'s (screenshots of both)', async () => {
    await guest.workbench.typeInTerminal(`echo guest-typed-$((${marker}+1))`);
    const output = new RegExp(`^guest-typed-${marker + 1}$`);
    await Promise.all([host.workbench.waitForTerminalLine(output), guest.workbench.waitForTerminalLine(output)]);
  });

  group.step('5. Host: "Stop Sharing" (confirmed) ends the share: the guest is told and leaves, the host\'s terminal goes on', async () => {
    await host.workbench.runCommand(STOP_SHARING);
    const dialog = await host.workbench.waitForDialog();
    assert.equal(dialog.message, `Stop sharing "${WORKSPACE}"?`);
    assert.match(dialog.detail, new RegExp(`^1 guest is disconnected \\("${escapeRegExp(GUEST_NAME)}"\\)`), 'the dialog names who is disconnected');
    await host.workbench.clickDialogButton('Stop Sharing');
    await eventually('the host\'s sidecar to share nothing', async () => ((await cliJson<ShareInfo[]>(host, ['share', 'list'])).length === 0 ? true : undefined));
    await host.workbench.waitForTreeItem('Sessions', WORKSPACE, new RegExp(`^running · ${shortId(session.id)}`));

    const ended = new RegExp(`^The shared session "${escapeRegExp(WORKSPACE)}" of ${escapeRegExp(HOST_NAME)} ended: The host stopped sharing\\.$`);
    await guest.workbench.waitForNotification(ended, LIMITS.dockerMs);
    const [joined] = await cliJson<JoinedShareInfo[]>(guest, ['share', 'joined']);
    assert.equal(joined?.state, 'ended', `the guest's joined share ended: ${JSON.stringify(joined)}`);
    await guest.workbench.waitForTreeItem('Sessions', JOINED_LABEL, /^ended: The host stopped sharing\.$/);
    await guest.workbench.waitForTerminalLine(/This shared terminal is gone from here/);
    await group.screenshot('guest', '05-the-share-ended');
    // "Leave" clears it: the terminal tab closes, the group goes.
    await guest.workbench.clickNotificationButton(ended, 'Leave');
    await guest.workbench.waitForNoTreeItem('Sessions', 'Shared with me');
    assert.deepEqual(await cliJson<JoinedShareInfo[]>(guest, ['share', 'joined']), [], 'the guest\'s sidecar holds no joined share');
    assert.equal((await guest.workbench.terminals()).length, 0, 'the guest\'s shared terminal tab closed');

    await host.workbench.typeInTerminal('echo still-$((1+1))');
    await host.workbench.waitForTerminalLine(/^still-2$/);
  });

  group.step('6. Host: the workspace is deleted; neither instance keeps a container or volume (checked again by the teardown)', async () => {
    const removed = await host.cli(['workspace', 'rm', '--force', session.workspaceId]);
    assert.equal(removed.code, 0, `sandkasten workspace rm failed: ${removed.stderr}`);
    await host.workbench.waitForNoTreeItem('Sessions', WORKSPACE, LIMITS.dockerMs);
  });
});
