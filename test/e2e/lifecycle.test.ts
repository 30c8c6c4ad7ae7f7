/**
 * The workspace lifecycle in a real VS Code (code-server), against the real Docker engine, as a
 * person meets it: Pin / Unpin from a workspace's context menu; a workspace in its warning
 * period announced by a notification with Keep, Pin and Show and marked ⚠ with its date in the
 * tree, and Keep ending the warning; Create Snapshot… and Restore Snapshot… (stopping the live
 * session, with Undo); Freeze Session, and a keystroke in the session's terminal thawing it with
 * its processes alive; the tree's frozen, lifecycle-stopped and warned rows with their reasons;
 * Preview Lifecycle Actions and Change Image….
 *
 * The lifecycle's periods are shortened through the sidecar's config (the CLI, as a person
 * would: `sandkasten config set`), never by waiting days. Steps run in order, but each stands
 * alone: it makes its own workspaces and, passed or failed, deletes them and resets the config
 * it changed, so one failure does not hide what the later steps would find.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe } from 'node:test';
import type { LifecycleActionInfo, SessionInfo, SnapshotInfo, WorkspaceEvent, WorkspaceInfo, WorkspaceKind } from '../../sidecar/client/protocol';
import { CodeServerSuite } from './codeServerSuite';
import { escapeRegExp, eventually, LIMITS, run, shortId, TEST_IMAGE, type RunResult } from './support';
import type { Workbench } from './workbench';

const HOUR_MS = 60 * 60_000;
/** The other image Change Image… picks: local already (the lifecycle's helper image). */
const OTHER_IMAGE = 'debian:bookworm-slim';

/** The lifecycle settings a step may change; each step resets them all when it ends. */
const LIFECYCLE_KEYS = [
  'lifecycle.checkSeconds',
  'lifecycle.expireAfterMinutes',
  'lifecycle.warnBeforeHours',
  'lifecycle.stopAfterMinutes',
] as const;

/**
 * A persistent workspace is warned at once (its expiry, 1 minute after its last use, is less
 * than the warning's hour ahead) and deleted no earlier than an hour after that warning.
 */
const WARN_AT_ONCE = {
  'lifecycle.expireAfterMinutes': { persistent: 1 },
  'lifecycle.warnBeforeHours': { persistent: 1 },
};

describe('Sandkasten workspace lifecycle in a real VS Code (code-server)', () => {
  const suite = new CodeServerSuite('lifecycle', {
    settings: {
      // The DOM renderer keeps the terminal's text in the page, where a test can read it.
      'terminal.integrated.gpuAcceleration': 'off',
    },
  });

  before(() => suite.start(), { timeout: LIMITS.suiteMs });
  after(() => suite.stop(), { timeout: LIMITS.suiteMs });

  // --- the sidecar, through the CLI the VSIX ships ---------------------------------------------

  async function cli(args: string[]): Promise<string> {
    const result = await suite.cli(args);
    assert.equal(result.code, 0, `sandkasten ${args.join(' ')} failed (exit ${result.code}): ${result.stderr}`);
    return result.stdout;
  }

  async function cliJson<T>(args: string[]): Promise<T> {
    return JSON.parse(await cli([...args, '--json'])) as T;
  }

  /** The workspaces the running step made and has not deleted yet (id → name). */
  const made = new Map<string, string>();
  /** Whether the running step changed the sidecar's config. */
  let configChanged = false;

  async function createWorkspace(name: string, kind: WorkspaceKind): Promise<WorkspaceInfo> {
    const workspace = await cliJson<WorkspaceInfo>(['workspace', 'create', name, '--kind', kind, '--image', TEST_IMAGE]);
    made.set(workspace.id, workspace.name);
    return workspace;
  }

  /** A workspace of `kind` with a running session, made with the CLI (as an agent would). */
  async function newSession(name: string, kind: WorkspaceKind): Promise<SessionInfo> {
    const workspace = await createWorkspace(name, kind);
    return cliJson<SessionInfo>(['session', 'start', workspace.id]);
  }

  async function workspaceInfo(id: string): Promise<WorkspaceInfo> {
    const workspace = (await suite.listWorkspaces()).find((w) => w.id === id);
    assert.ok(workspace, `the sidecar knows workspace ${id}`);
    return workspace;
  }

  async function sessionInfo(id: string): Promise<SessionInfo> {
    const session = (await suite.listSessions()).find((s) => s.id === id);
    assert.ok(session, `the sidecar knows session ${id}`);
    return session;
  }

  /** Its events, newest first. */
  async function history(workspaceId: string): Promise<WorkspaceEvent[]> {
    return cliJson<WorkspaceEvent[]>(['workspace', 'history', workspaceId]);
  }

  /** Runs a shell command line in the session (`sandkasten exec`); a frozen session thaws for it. */
  function exec(sessionId: string, script: string): Promise<RunResult> {
    return suite.cli(['exec', sessionId, '--', 'sh', '-c', script]);
  }

  async function setConfig(values: Record<string, unknown>): Promise<void> {
    configChanged = true;
    for (const [key, value] of Object.entries(values)) await cli(['config', 'set', key, typeof value === 'string' ? value : JSON.stringify(value)]);
  }

  async function resetLifecycleConfig(): Promise<void> {
    for (const key of LIFECYCLE_KEYS) await cli(['config', 'reset', key]);
    configChanged = false;
  }

  /** Deletes the workspaces (with their sessions and snapshots) and waits until the tree drops them. */
  async function removeWorkspaces(vs: Workbench, ...workspaces: Array<{ id: string; name: string }>): Promise<void> {
    for (const workspace of workspaces) {
      await cli(['workspace', 'rm', '--force', workspace.id]);
      made.delete(workspace.id);
    }
    for (const workspace of workspaces) await vs.waitForNoTreeItem('Workspaces', workspace.name, LIMITS.dockerMs);
  }

  /** A step of its own: it starts with the Sandkasten views shown (see `afterEach` for what follows it). */
  function lifecycleStep(name: string, body: (vs: Workbench) => Promise<void>): void {
    suite.test(name, async (vs) => {
      await vs.openSandkasten();
      await body(vs);
    });
  }

  // After each step (and after a failing one saved its artifacts): what it left is deleted, the
  // config it changed reset and its terminals closed. A passing step has done so itself.
  afterEach(async () => {
    for (const id of made.keys()) await suite.cli(['workspace', 'rm', '--force', id]);
    made.clear();
    if (configChanged) await resetLifecycleConfig();
    if ((await suite.workbench.terminals()).length > 0) await suite.workbench.runCommand('Terminal: Kill All Terminals');
  }, { timeout: LIMITS.testMs });

  /** The row's description once it matches, with the sidecar's view for a failure. */
  function sessionRow(vs: Workbench, session: SessionInfo, rest: string): Promise<unknown> {
    return vs.waitForTreeItem('Sessions', session.workspaceName, new RegExp(`^${rest.replace('SHORT', shortId(session.id))}$`), LIMITS.dockerMs);
  }

  // --- the steps ----------------------------------------------------------------------------

  lifecycleStep('1. "Pin Workspace" from the context menu pins it (row and sidecar say so), the menu then offers "Unpin Workspace", which undoes it', async (vs) => {
    const NAME = 'e2e-pin';
    const workspace = await createWorkspace(NAME, 'session');
    const row = vs.treeItem('Workspaces', NAME);
    await vs.waitForTreeItem('Workspaces', NAME, /^session · new · /, LIMITS.dockerMs);
    assert.equal(workspace.pinned, false, 'a new workspace is not pinned');

    let entries = await vs.contextMenuEntries(row);
    assert.ok(entries.includes('Pin Workspace') && !entries.includes('Unpin Workspace'), `an unpinned workspace offers Pin, not Unpin: ${JSON.stringify(entries)}`);
    await vs.chooseFromContextMenu(row, 'Pin Workspace');

    const pinned = await vs.waitForTreeItem('Workspaces', NAME, /^pinned · session · new · /);
    assert.match(pinned.description, /^pinned · session · new · just now · via CLI$/);
    const info = await eventually('the sidecar to hold the workspace pinned', async () => ((await workspaceInfo(workspace.id)).pinned ? workspaceInfo(workspace.id) : undefined));
    assert.equal(info.lifecycle, undefined, `a pinned workspace has no lifecycle schedule: ${JSON.stringify(info.lifecycle)}`);
    assert.match(await vs.treeItemAccessibleLabel(row), new RegExp(`^Workspace ${NAME}, session, new, pinned, `));
    assert.equal(await vs.treeItemIcon(row), 'pinned', 'a pinned workspace shows the pinned icon');
    assert.equal((await history(workspace.id))[0]?.kind, 'pinned', 'its history records the pin');

    entries = await vs.contextMenuEntries(row);
    assert.ok(entries.includes('Unpin Workspace') && !entries.includes('Pin Workspace'), `a pinned workspace offers Unpin, not Pin: ${JSON.stringify(entries)}`);
    await vs.chooseFromContextMenu(row, 'Unpin Workspace');

    await vs.waitForTreeItem('Workspaces', NAME, /^session · new · /);
    await eventually('the sidecar to hold the workspace unpinned', async () => ((await workspaceInfo(workspace.id)).pinned ? undefined : true));
    assert.equal((await history(workspace.id))[0]?.kind, 'unpinned', 'its history records the unpin');
    entries = await vs.contextMenuEntries(row);
    assert.ok(entries.includes('Pin Workspace') && !entries.includes('Unpin Workspace'), `unpinned again, it offers Pin: ${JSON.stringify(entries)}`);

    await removeWorkspaces(vs, workspace);
  });

  lifecycleStep('2. A workspace in its warning period gets a notification with Keep, Pin and Show and a ⚠ with its date in the tree; Keep ends the warning', async (vs) => {
    const NAME = 'e2e-warned';
    const workspace = await createWorkspace(NAME, 'persistent');
    const row = vs.treeItem('Workspaces', NAME);
    await vs.waitForTreeItem('Workspaces', NAME, /^persistent · new · /, LIMITS.dockerMs);
    assert.equal(workspace.lifecycle?.warning, undefined, 'not warned with the default policy');
    const message = new RegExp(`^Workspace "${escapeRegExp(NAME)}" will be deleted on `);
    try {
      // The schedule stays out of the way (an hour between rounds): the lifecycle runs when asked.
      await setConfig({ 'lifecycle.checkSeconds': 3600, ...WARN_AT_ONCE });
      const done = await cliJson<LifecycleActionInfo[]>(['lifecycle', 'run']);
      const action = done.find((a) => a.workspaceId === workspace.id);
      assert.deepEqual([action?.action, action?.outcome], ['warn', 'done'], `the lifecycle warned about it: ${JSON.stringify(done)}`);

      const text = await vs.waitForNotification(message, LIMITS.dockerMs);
      assert.deepEqual(await vs.notificationButtons(message), ['Keep', 'Pin', 'Show'], 'the warning offers Keep, Pin and Show');

      const warned = await workspaceInfo(workspace.id);
      const deleteAt = warned.lifecycle?.deleteAt;
      assert.ok(warned.lifecycle?.warning && deleteAt, `the sidecar holds a warning and a deletion date: ${JSON.stringify(warned.lifecycle)}`);
      const warnedEvent = (await history(workspace.id)).find((event) => event.kind === 'warned');
      assert.ok(warnedEvent, 'its history records the warning');
      const afterWarning = Date.parse(deleteAt) - Date.parse(warnedEvent.at);
      assert.ok(Math.abs(afterWarning - HOUR_MS) < 5000, `deletion waits an hour after the warning (deleteAt ${deleteAt}, warned ${warnedEvent.at})`);
      assert.ok(text.includes(new Date(deleteAt).toLocaleString()), `the notification names the deletion time ${new Date(deleteAt).toLocaleString()}: "${text}"`);

      const day = new Date(deleteAt).toLocaleDateString();
      const shown = await vs.waitForTreeItem('Workspaces', NAME, new RegExp(`^⚠ deleted ${escapeRegExp(day)} · persistent · new · `));
      assert.match(shown.description, /· via CLI$/);
      assert.match(await vs.treeItemAccessibleLabel(row), new RegExp(`, will be deleted on ${escapeRegExp(day)}, `));
      assert.equal(await vs.treeItemIcon(row), 'warning', 'a warned workspace shows the warning icon');
      assert.ok((await vs.inlineActions(row)).includes('Keep Workspace'), 'a warned row offers Keep inline');
      assert.ok((await vs.contextMenuEntries(row)).includes('Keep Workspace'), 'a warned row offers Keep in its context menu');

      await vs.clickNotificationButton(message, 'Keep');

      await vs.waitForTreeItem('Workspaces', NAME, /^persistent · new · /);
      const kept = await eventually('the sidecar to drop the warning', async () => {
        const info = await workspaceInfo(workspace.id);
        return info.lifecycle?.warning === undefined ? info : undefined;
      });
      assert.ok(Date.parse(kept.lastAccessedAt) >= Date.parse(warnedEvent.at), 'Keep counts as a use');
      const events = await history(workspace.id);
      assert.equal(events[0]?.kind, 'kept', `its history records the Keep last: ${JSON.stringify(events)}`);
      assert.ok(!(await vs.treeRows('Workspaces')).some((r) => r.description.includes('⚠')), 'no row shows ⚠ any more');
      assert.notEqual(await vs.treeItemIcon(row), 'warning', 'the warning icon is gone');
      assert.ok(!(await vs.contextMenuEntries(row)).includes('Keep Workspace'), 'a row that is not warned offers no Keep');
    } finally {
      await resetLifecycleConfig();
    }
    await removeWorkspaces(vs, workspace);
  });

  lifecycleStep('3. "Create Snapshot…" saves the files; "Restore Snapshot…" stops the live session, brings them back and resumes it; Undo returns the newer files', async (vs) => {
    const NAME = 'e2e-snapshot';
    const SNAPSHOT = 'first version';
    const session = await newSession(NAME, 'session');
    const row = vs.treeItem('Workspaces', NAME);
    await vs.waitForTreeItem('Workspaces', NAME, /^session · running · /, LIMITS.dockerMs);
    const write = await exec(session.id, 'echo before-snapshot > /workspace/note.txt');
    assert.equal(write.code, 0, `writing the file: ${write.stderr}`);

    await vs.chooseFromContextMenu(row, 'Create Snapshot…');
    await vs.answerInput(`Snapshot "${NAME}"`, SNAPSHOT);
    await vs.waitForNotification(new RegExp(`^Snapshot "${escapeRegExp(SNAPSHOT)}" \\(version 1, [^)]+\\) of "${NAME}" is saved\\.$`), LIMITS.dockerMs);
    const snapshots = await cliJson<SnapshotInfo[]>(['snapshot', 'list', session.workspaceId]);
    assert.deepEqual(snapshots.map((s) => [s.name, s.version]), [[SNAPSHOT, 1]], `the sidecar lists the snapshot: ${JSON.stringify(snapshots)}`);
    assert.ok(snapshots[0].bytes > 0, 'the snapshot has a size');
    const during = await sessionInfo(session.id);
    assert.deepEqual([during.state, during.frozenAt], ['running', undefined], 'the session runs again after the snapshot (frozen only while its files were read)');

    const change = await exec(session.id, 'echo after-snapshot > /workspace/note.txt');
    assert.equal(change.code, 0, `changing the file: ${change.stderr}`);

    await vs.chooseFromContextMenu(row, 'Restore Snapshot…');
    await vs.pick(`Restore a snapshot of "${NAME}"`, SNAPSHOT);
    const dialog = await vs.waitForDialog();
    assert.match(dialog.message, new RegExp(`^Restore "${NAME}" to snapshot "${escapeRegExp(SNAPSHOT)}" \\(version 1, `));
    assert.match(dialog.detail, /live session\(s\) are stopped first/);
    assert.ok(dialog.buttons.includes('Stop Sessions and Restore'), `the dialog offers "Stop Sessions and Restore": ${JSON.stringify(dialog.buttons)}`);
    await vs.clickDialogButton('Stop Sessions and Restore');

    const restored = new RegExp(`^"${NAME}" has the files of "${escapeRegExp(SNAPSHOT)}" again\\.$`);
    await vs.waitForNotification(restored, LIMITS.dockerMs);
    assert.deepEqual(await vs.notificationButtons(restored), ['Undo'], 'the restore offers Undo');
    const readNote = async (expected: string) =>
      eventually(
        `the session to run again with /workspace/note.txt holding "${expected}"`,
        async () => {
          const info = await sessionInfo(session.id);
          if (info.state !== 'running') return undefined;
          const read = await exec(session.id, 'cat /workspace/note.txt');
          return read.code === 0 && read.stdout.trim() === expected ? true : undefined;
        },
        { limitMs: LIMITS.dockerMs, describe: async () => `session ${JSON.stringify(await sessionInfo(session.id))}, file: ${JSON.stringify((await exec(session.id, 'cat /workspace/note.txt')).stdout)}` },
      );
    await readNote('before-snapshot');
    const afterRestore = await cliJson<SnapshotInfo[]>(['snapshot', 'list', session.workspaceId]);
    assert.equal(afterRestore.length, 2, `the files before the restore were snapshotted first (the undo): ${JSON.stringify(afterRestore)}`);
    const kinds = (await history(session.workspaceId)).map((e) => e.kind);
    assert.ok(kinds.includes('snapshot-created') && kinds.includes('snapshot-restored'), `its history records the snapshot and the restore: ${JSON.stringify(kinds)}`);

    await vs.clickNotificationButton(restored, 'Undo');
    await readNote('after-snapshot');
    await vs.waitForTreeItem('Sessions', NAME, new RegExp(`^running · ${shortId(session.id)} · via CLI$`), LIMITS.dockerMs);

    await removeWorkspaces(vs, { id: session.workspaceId, name: NAME });
  });

  lifecycleStep('4. "Freeze Session" freezes it (row says frozen, with its reason and a snowflake); a keystroke in its terminal thaws it and its background job lives on', async (vs) => {
    const NAME = 'e2e-freeze';
    const session = await newSession(NAME, 'session');
    const row = vs.treeItem('Sessions', NAME);
    await sessionRow(vs, session, 'running · SHORT · via CLI');
    assert.equal(await vs.treeItemIcon(row), 'vm-running');

    await vs.clickInlineAction(row, 'Open Terminal');
    // The folder opened in Restricted Mode: VS Code asks for trust before any terminal runs.
    const trust = await vs.waitForDialog();
    assert.match(trust.message, /trust the authors/i, `VS Code asks for workspace trust: ${JSON.stringify(trust)}`);
    await vs.clickDialogButton('Trust Folder & Continue');
    // A job that counts seconds into a file, started from the terminal.
    await vs.typeInTerminal('(i=0; while true; do i=$((i+1)); echo $i > /tmp/ticks; sleep 1; done) >/dev/null 2>&1 & echo job-$!');
    const job = (await vs.waitForTerminalLine(/^job-\d+$/)).replace('job-', '');

    const entries = await vs.contextMenuEntries(row);
    assert.ok(entries.includes('Freeze Session'), `a running session offers "Freeze Session": ${JSON.stringify(entries)}`);
    await vs.chooseFromContextMenu(row, 'Freeze Session');

    await sessionRow(vs, session, 'frozen · SHORT · via CLI · frozen: on request');
    assert.equal(await vs.treeItemIcon(row), 'snowflake', 'a frozen session shows a snowflake');
    assert.match(await vs.treeItemAccessibleLabel(row), new RegExp(`^Session ${shortId(session.id)} of workspace ${NAME}, frozen, frozen: on request, `));
    const frozen = await sessionInfo(session.id);
    assert.deepEqual([frozen.state, frozen.stateReason, typeof frozen.frozenAt], ['paused', 'frozen: on request', 'string'], `the sidecar holds it frozen: ${JSON.stringify(frozen)}`);
    const paused = await run('docker', ['inspect', '--format', '{{.State.Paused}}', frozen.containerId ?? '']);
    assert.equal(paused.stdout.trim(), 'true', `its container is paused: ${paused.stdout}${paused.stderr}`);
    assert.ok(!(await vs.contextMenuEntries(row)).includes('Freeze Session'), 'a frozen session offers no "Freeze Session"');

    // Nothing but a keystroke in its terminal uses it now.
    await vs.typeInTerminal('echo thawed-$((6*7))');
    await vs.waitForTerminalLine(/^thawed-42$/);
    await sessionRow(vs, session, 'running · SHORT · via CLI');
    assert.equal(await vs.treeItemIcon(row), 'vm-running', 'a thawed session shows the running icon again');
    const thawed = await sessionInfo(session.id);
    assert.deepEqual([thawed.state, thawed.frozenAt, thawed.stateReason], ['running', undefined, undefined], `the sidecar holds it running: ${JSON.stringify(thawed)}`);
    // Read before any command runs in it (a command would thaw it too).
    const events = await history(session.workspaceId);

    // The job from before the freeze is alive and counting.
    const alive = await exec(session.id, `kill -0 ${job} && cat /tmp/ticks`);
    assert.equal(alive.code, 0, `the background job ${job} is alive: ${alive.stderr}`);
    const ticks = Number(alive.stdout.trim());
    await eventually('the background job to count on', async () => {
      const read = await exec(session.id, 'cat /tmp/ticks');
      return Number(read.stdout.trim()) > ticks ? true : undefined;
    }, { limitMs: LIMITS.dockerMs });

    const frozenEvent = events.find((e) => e.kind === 'frozen');
    assert.equal(frozenEvent?.reason, `session ${session.id}: on request`, `its history records the freeze and why: ${JSON.stringify(events)}`);
    assert.deepEqual(
      events.slice(0, 2).map((e) => e.kind),
      ['thawed', 'frozen'],
      `its history records the thaw after the freeze (README: every transition, thawed included, is an event): ${JSON.stringify(events)}`,
    );

    await exec(session.id, `kill ${job}`);
    await vs.runCommand('Terminal: Kill All Terminals');
    await removeWorkspaces(vs, { id: session.workspaceId, name: NAME });
  });

  lifecycleStep('5. The tree shows a frozen session, one the lifecycle stopped and a warned workspace, each with its reason (description, screen-reader label, icon, tooltip)', async (vs) => {
    const STOPPED = 'e2e-stopped';
    const FROZEN = 'e2e-frozen';
    const WARNED = 'e2e-warned-again';
    // Frozen first: the lifecycle stops a session a minute after it was frozen.
    const toStop = await newSession(STOPPED, 'session');
    await cli(['session', 'freeze', toStop.id]);
    const frozen = await newSession(FROZEN, 'persistent');
    const warned = await createWorkspace(WARNED, 'persistent');
    try {
      // Sessions of kind "session" stop after a minute frozen; persistent workspaces warn at
      // once; the schedule looks every 5 s (the persistent session keeps its 240 min).
      await setConfig({ 'lifecycle.stopAfterMinutes': { session: 1 }, ...WARN_AT_ONCE, 'lifecycle.checkSeconds': 5 });

      const frozenRow = vs.treeItem('Sessions', FROZEN);
      await sessionRow(vs, frozen, 'running · SHORT · via CLI');
      await vs.chooseFromContextMenu(frozenRow, 'Freeze Session');

      // The warned workspace: a notification; Show selects its row.
      const message = new RegExp(`^Workspace "${escapeRegExp(WARNED)}" will be deleted on `);
      await vs.waitForNotification(message, LIMITS.dockerMs);
      await vs.clickNotificationButton(message, 'Show');
      const warnedRow = vs.treeItem('Workspaces', WARNED);
      await eventually('Show to select the warned row', async () => ((await vs.isTreeItemSelected(warnedRow)) ? true : undefined));
      const info = await workspaceInfo(warned.id);
      assert.ok(info.lifecycle?.warning && info.lifecycle.deleteAt, `the sidecar holds the warning: ${JSON.stringify(info.lifecycle)}`);
      const day = new Date(info.lifecycle.deleteAt).toLocaleDateString();
      await vs.waitForTreeItem('Workspaces', WARNED, new RegExp(`^⚠ deleted ${escapeRegExp(day)} · persistent · new · .* · via CLI$`));
      assert.match(await vs.treeItemAccessibleLabel(warnedRow), new RegExp(`^Workspace ${WARNED}, persistent, new, will be deleted on ${escapeRegExp(day)}, last used `));
      assert.equal(await vs.treeItemIcon(warnedRow), 'warning');
      // The sentence counts the time without use, so it is matched, not compared.
      const warning = new RegExp(`Will be deleted on ${info.lifecycle.deleteAt.slice(0, 10)} unless used, kept or pinned\\.`);
      assert.match(info.lifecycle.warning, warning);
      assert.match(await vs.treeItemTooltip(warnedRow, /Will be deleted on/), warning, 'the tooltip says the warning');

      // The frozen session.
      await sessionRow(vs, frozen, 'frozen · SHORT · via CLI · frozen: on request');
      assert.match(await vs.treeItemAccessibleLabel(frozenRow), new RegExp(`^Session ${shortId(frozen.id)} of workspace ${FROZEN}, frozen, frozen: on request, made by the CLI$`));
      assert.equal(await vs.treeItemIcon(frozenRow), 'snowflake');
      const frozenTip = await vs.treeItemTooltip(frozenRow, /State: frozen/);
      assert.match(frozenTip, /State: frozen — frozen: on request/);
      assert.match(frozenTip, /a command, a keystroke or opening a terminal thaws it/);

      // The session the lifecycle stopped, a minute after it was frozen: first that it stopped…
      const stoppedRow = vs.treeItem('Sessions', STOPPED);
      const stoppedShown = await vs.waitForTreeItem('Sessions', STOPPED, new RegExp(`^stopped · ${shortId(toStop.id)} · via CLI`), LIMITS.dockerMs + 60_000);
      // …while the persistent session stays frozen (its kind stops after 240 min)…
      assert.equal((await sessionInfo(frozen.id)).state, 'paused', 'the persistent session is still frozen');
      await sessionRow(vs, frozen, 'frozen · SHORT · via CLI · frozen: on request');
      // …then that it says why: the lifecycle's reason, everywhere.
      const stopped = await sessionInfo(toStop.id);
      const stops = (await history(toStop.workspaceId)).filter((e) => e.kind === 'stopped');
      const seen = `row "${stoppedShown.description}", sidecar ${JSON.stringify(stopped)}, stop events ${JSON.stringify(stops)}`;
      const lifecycleReason = /^frozen for \d+ min \(stopped after 1 min\)$/;
      assert.deepEqual([stopped.state, stopped.frozenAt], ['stopped', undefined], `the sidecar holds it stopped: ${seen}`);
      assert.match(stopped.stateReason ?? '', lifecycleReason, `the sidecar's session gives the lifecycle's reason: ${seen}`);
      const reason = stopped.stateReason ?? '';
      assert.equal(stoppedShown.description, `stopped · ${shortId(toStop.id)} · via CLI · ${reason}`, `the row gives the lifecycle's reason: ${seen}`);
      assert.deepEqual(stops.map((e) => e.reason), [`session ${toStop.id} stopped: ${reason}`], `its history has one stop, with the lifecycle's reason: ${seen}`);
      assert.equal(await vs.treeItemAccessibleLabel(stoppedRow), `Session ${shortId(toStop.id)} of workspace ${STOPPED}, stopped, ${reason}, made by the CLI`);
      assert.equal(await vs.treeItemIcon(stoppedRow), 'vm-outline');
      const stoppedTip = await vs.treeItemTooltip(stoppedRow, /State: stopped/);
      assert.ok(stoppedTip.includes(`State: stopped — ${reason}`), `the tooltip gives the reason: ${stoppedTip}`);
    } finally {
      await resetLifecycleConfig();
    }
    await removeWorkspaces(vs, { id: toStop.workspaceId, name: STOPPED }, { id: frozen.workspaceId, name: FROZEN }, warned);
  });

  lifecycleStep('6. Preview Lifecycle Actions lists what is due in a markdown editor and changes nothing; "Change Image…" switches the image and restarts the session on it', async (vs) => {
    const PREVIEW = 'e2e-preview';
    const IMAGED = 'e2e-image';
    const due = await createWorkspace(PREVIEW, 'persistent');
    const session = await newSession(IMAGED, 'session');
    await vs.waitForTreeItem('Workspaces', PREVIEW, /^persistent · new · /, LIMITS.dockerMs);
    try {
      await setConfig({ 'lifecycle.checkSeconds': 3600, ...WARN_AT_ONCE });
      await vs.chooseFromViewMenu('Workspaces', 'Preview Lifecycle Actions');
      const lines = await vs.waitForEditor(/^untitled:/, [
        /^# Sandkasten: lifecycle actions due now \(a dry run: nothing was changed\)$/,
        // The editor wraps the long line: its start is enough.
        new RegExp(`^- \\*\\*warn\\*\\* ${PREVIEW}: unused for \\d+ (s|min): deleted on `),
      ]);
      assert.ok(!lines.some((line) => line.includes(IMAGED)), `nothing is due for the running workspace: ${JSON.stringify(lines)}`);
      assert.equal(await vs.editorLanguage(), 'Markdown');
      const after = await workspaceInfo(due.id);
      assert.equal(after.lifecycle?.warning, undefined, 'the dry run warned nobody');
      assert.ok(!(await history(due.id)).some((e) => e.kind === 'warned'), 'the dry run left no event');
      await vs.runCommand('View: Revert and Close Editor');
    } finally {
      await resetLifecycleConfig();
    }

    const row = vs.treeItem('Workspaces', IMAGED);
    await vs.waitForTreeItem('Workspaces', IMAGED, /^session · running · /, LIMITS.dockerMs);
    await vs.chooseFromContextMenu(row, 'Change Image…');
    await vs.pick(`Change the image of "${IMAGED}"`, OTHER_IMAGE);
    const changed = new RegExp(`^"${IMAGED}" runs ${escapeRegExp(OTHER_IMAGE)} from its next session on\\. Its running session still runs ${escapeRegExp(TEST_IMAGE)}\\.$`);
    await vs.waitForNotification(changed, LIMITS.dockerMs);
    assert.equal((await workspaceInfo(session.workspaceId)).image, OTHER_IMAGE, "the sidecar's workspace has the new image");
    assert.equal((await sessionInfo(session.id)).image, TEST_IMAGE, 'the running session keeps its image until restarted');
    const event = (await history(session.workspaceId))[0];
    assert.deepEqual([event?.kind, event?.reason], ['image-changed', `image ${TEST_IMAGE} → ${OTHER_IMAGE}`]);

    await vs.clickNotificationButton(changed, 'Restart Session Now');
    await eventually(
      `the session to run ${OTHER_IMAGE}`,
      async () => {
        const info = await sessionInfo(session.id);
        if (info.state !== 'running' || info.image !== OTHER_IMAGE) return undefined;
        const debian = await exec(session.id, 'cat /etc/debian_version');
        return debian.code === 0 && /^\d+/.test(debian.stdout.trim()) ? true : undefined;
      },
      { limitMs: LIMITS.dockerMs, describe: async () => JSON.stringify(await sessionInfo(session.id)) },
    );

    await removeWorkspaces(vs, due, { id: session.workspaceId, name: IMAGED });
  });
});
