/**
 * Sandkasten's extension API used by another extension, in a real VS Code (code-server):
 * test/e2e/fixtures/api-consumer is installed beside the VSIX, declares Sandkasten in its
 * `extensionDependencies`, and its commands — run from the palette like a person would —
 * drive the API and write what they saw as JSON reports. The suite checks those reports
 * against what the sidecar (through the CLI), Docker and the workbench show.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe } from 'node:test';
import type { ExecResult, OutputChunk, ProcessInfo, ProcessOutput, SessionInfo, WorkspaceInfo } from '../../api/sandkasten';
import { CodeServerSuite } from './codeServerSuite';
import { dockerObjects, eventually, LIMITS, readIfExists, runningContainers, SESSION_LABEL, shortId, WORKSPACE_LABEL } from './support';

const CONSUMER = path.join(__dirname, 'fixtures', 'api-consumer');
/** The workspace the consumer makes (its extension.js). */
const WORKSPACE = 'api-consumer';

interface RejectedWith {
  name?: string;
  code?: string;
  message?: string;
  isError?: boolean;
  resolved?: unknown;
}

/** run.json, as test/e2e/fixtures/api-consumer/extension.js writes it. */
interface RunReport {
  failure?: RejectedWith;
  version: number;
  getApiIsTheApi: boolean;
  unknownVersion: RejectedWith;
  workspace: WorkspaceInfo;
  session: SessionInfo;
  exec: ExecResult;
  chunks: OutputChunk[];
  argvExec: ExecResult;
  cleanShellExec: ExecResult;
  timedOutExec: ExecResult;
  cancelledExec: ExecResult;
  errors: Record<'execInUnknownSession' | 'deleteWithRunningSession' | 'invalidName' | 'invalidCommand', RejectedWith>;
  process: { started: ProcessInfo; waited: ProcessInfo; output: ProcessOutput; listed: ProcessInfo[] };
  terminal: { name: string; inWindow: boolean };
  sessions: SessionInfo[];
  workspaces: WorkspaceInfo[];
  changes: string[][];
}

/** clean-up.json. */
interface CleanUpReport {
  failure?: RejectedWith;
  steps: Array<Record<string, string>>;
  terminalInDestroyedSession: RejectedWith;
  workspacesAfter: WorkspaceInfo[];
  sessionsAfter: SessionInfo[];
}

describe("Sandkasten's extension API, used by a second extension in a real VS Code (code-server)", () => {
  const reports = fs.mkdtempSync(path.join(os.tmpdir(), 'sandkasten-api-consumer-'));
  const suite = new CodeServerSuite('extension-api', {
    env: { SANDKASTEN_API_CONSUMER_REPORTS: reports },
    settings: { 'terminal.integrated.gpuAcceleration': 'off' },
    extensions: [CONSUMER],
  });
  let report: RunReport;

  before(() => suite.start(), { timeout: LIMITS.suiteMs });
  after(async () => {
    try {
      await suite.stop();
    } finally {
      fs.rmSync(reports, { recursive: true, force: true });
    }
  }, { timeout: LIMITS.suiteMs });

  /** Waits for a report of the consumer; a failed API call in it fails here with its error. */
  async function readReport<T extends { failure?: RejectedWith }>(name: string): Promise<T> {
    const file = path.join(reports, name);
    const text = await eventually(`the API consumer to write ${name}`, () => readIfExists(file), { limitMs: LIMITS.dockerMs });
    const parsed = JSON.parse(text) as T;
    assert.equal(parsed.failure, undefined, `the consumer's calls all succeeded; one failed with ${JSON.stringify(parsed.failure)}`);
    return parsed;
  }

  suite.step('1. "API Consumer: Run" gets version 1 of the API from activate() and makes a workspace and a running session with it', async (vs) => {
    await vs.openSandkasten();
    await vs.runCommand('API Consumer: Run');
    // Its openTerminal is the folder's first terminal: VS Code asks to trust the (new) folder first.
    const dialog = await vs.waitForDialog();
    assert.match(dialog.message, /trust the authors/i, `VS Code asks for workspace trust: ${JSON.stringify(dialog)}`);
    await vs.clickDialogButton('Trust Folder & Continue');
    report = await readReport<RunReport>('run.json');

    assert.equal(report.version, 1);
    assert.equal(report.getApiIsTheApi, true, 'getApi(1) is the object activate() returned');
    assert.deepEqual(report.unknownVersion, {
      name: 'SandkastenError',
      code: 'InvalidInput',
      message: 'This Sandkasten offers API version 1; version 2 is unknown to it.',
      isError: true,
    });
    assert.equal(report.workspace.name, WORKSPACE);
    assert.equal(report.workspace.description, 'made through the extension API');
    assert.deepEqual(report.workspace.tags, ['e2e']);
    assert.equal(report.session.workspaceId, report.workspace.id);
    assert.equal(report.session.state, 'running');
    assert.deepEqual(
      report.sessions.map((session) => [session.id, session.state]),
      [[report.session.id, 'running']],
      'listSessions(workspaceId) lists it',
    );
    assert.ok(report.workspaces.some((workspace) => workspace.id === report.workspace.id), 'listWorkspaces lists the workspace');

    const sessions = await suite.listSessions();
    assert.ok(sessions.some((session) => session.id === report.session.id && session.state === 'running'), `the sidecar lists the session as running: ${JSON.stringify(sessions)}`);
    assert.equal((await runningContainers(SESSION_LABEL, report.session.id)).length, 1, 'its container runs in Docker');
  });

  suite.step('2. exec streams stdout and stderr to onOutput as chunks and resolves with exit code and the cwd the command left', async () => {
    const { exec, chunks } = report;
    assert.equal(exec.exitCode, 0);
    assert.equal(exec.cwd, '/tmp', 'the result carries the cwd after `cd /tmp`');
    assert.deepEqual([exec.stdout, exec.stderr], ['', ''], 'streamed output is not repeated in the result');
    assert.ok(chunks.length >= 2, `at least one chunk per stream: ${JSON.stringify(chunks)}`);
    const joined = (stream: string) => chunks.filter((chunk) => chunk.stream === stream).map((chunk) => chunk.data).join('');
    assert.equal(joined('stdout'), 'hello\n');
    assert.equal(joined('stderr'), 'err\n');

    assert.deepEqual([report.argvExec.exitCode, report.argvExec.stdout, report.argvExec.cwd], [0, '/tmp\n', '/tmp'], 'an argv runs in the persistent shell, still in /tmp, its output in the result');
    assert.equal(report.cleanShellExec.stdout, '/workspace\n', 'cleanShell starts a fresh shell in /workspace');
    assert.equal(report.timedOutExec.timedOut, true, `timeoutMs stops the command: ${JSON.stringify(report.timedOutExec)}`);
    assert.equal(report.cancelledExec.cancelled, true, `the token cancels the command: ${JSON.stringify(report.cancelledExec)}`);
    assert.notEqual(report.cancelledExec.exitCode, 0, 'a cancelled command did not succeed');
  });

  suite.step("3. Failed calls reject with a SandkastenError carrying the sidecar's code and sentence", async () => {
    const { errors } = report;
    assert.deepEqual(errors.execInUnknownSession, {
      name: 'SandkastenError',
      code: 'NotFound',
      message: 'No session "ses-000000000000". List sessions with `sandkasten session list`.',
      isError: true,
    });
    assert.equal(errors.deleteWithRunningSession.code, 'Conflict', JSON.stringify(errors.deleteWithRunningSession));
    assert.match(errors.deleteWithRunningSession.message ?? '', /has 1 running session/);
    assert.equal(errors.invalidName.code, 'InvalidName', JSON.stringify(errors.invalidName));
    assert.equal(errors.invalidCommand.code, 'InvalidInput', JSON.stringify(errors.invalidCommand));
    for (const [call, error] of Object.entries(errors)) assert.equal(error.name, 'SandkastenError', `${call}: ${JSON.stringify(error)}`);
  });

  suite.step('4. A background process started through the API runs, exits, and its output can be read', async () => {
    const { started, waited, output, listed } = report.process;
    assert.equal(started.sessionId, report.session.id);
    assert.equal(started.state, 'running', 'startProcess answers at once with its handle');
    assert.deepEqual([waited.id, waited.state, waited.exitCode], [started.id, 'exited', 0], 'waitProcess resolves once it exited');
    const text = (stream: string) => output.chunks.filter((chunk) => chunk.stream === stream).map((chunk) => chunk.data).join('');
    assert.equal(text('stdout'), 'tick 1\ntick 2\ntick 3\n');
    assert.equal(text('stderr'), 'tock\n');
    assert.equal(output.process.state, 'exited');
    assert.ok(listed.some((process) => process.id === started.id), 'listProcesses(sessionId) lists it');
  });

  suite.step('5. onDidChange reported the workspaces, sessions and processes that changed', async () => {
    const areas = new Set(report.changes.flat());
    for (const area of ['workspaces', 'sessions', 'processes']) assert.ok(areas.has(area), `"${area}" among the change events ${JSON.stringify(report.changes)}`);
  });

  suite.step('6. What the API made shows in the Sandkasten views, and its terminal runs in the session', async (vs) => {
    await vs.waitForTreeItem('Workspaces', WORKSPACE, /^session · /, LIMITS.dockerMs);
    await vs.waitForTreeItem('Sessions', WORKSPACE, new RegExp(`^running · ${shortId(report.session.id)}$`));

    assert.deepEqual(report.terminal, { name: WORKSPACE, inWindow: true }, 'openTerminal resolved with a terminal of this window, named after the workspace');
    await eventually('the terminal the API opened, with the focus', async () => ((await vs.terminals()).some((terminal) => terminal.focused) ? true : undefined), {
      limitMs: LIMITS.dockerMs,
      describe: () => vs.describeTerminals(),
    });
    // A container's hostname is the start of its id: the shell runs in the session's container.
    await vs.page.keyboard.type('echo api-terminal-$((40+2)) $(hostname)');
    await vs.page.keyboard.press('Enter');
    const session = (await suite.listSessions()).find((candidate) => candidate.id === report.session.id);
    assert.ok(session?.containerId, 'the session has a container');
    await vs.waitForFocusedTerminalLine(new RegExp(`^api-terminal-42 ${session.containerId.slice(0, 12)}$`));
  });

  suite.step('7. "API Consumer: Clean Up" stops and destroys the session and deletes the workspace through the API: gone from the views and from Docker', async (vs) => {
    const workspaceId = report.workspace.id;
    await vs.runCommand('API Consumer: Clean Up');
    const cleanUp = await readReport<CleanUpReport>('clean-up.json');
    assert.deepEqual(cleanUp.steps, [{ stopped: report.session.id, state: 'stopped' }, { destroyed: report.session.id }, { deleted: workspaceId }]);
    assert.equal(cleanUp.terminalInDestroyedSession.code, 'NotFound', `openTerminal on a destroyed session: ${JSON.stringify(cleanUp.terminalInDestroyedSession)}`);
    assert.deepEqual([cleanUp.workspacesAfter, cleanUp.sessionsAfter], [[], []]);

    await vs.waitForNoTreeItem('Workspaces', WORKSPACE, LIMITS.dockerMs);
    await vs.waitForNoTreeItem('Sessions', WORKSPACE);
    assert.deepEqual(await suite.listWorkspaces(), []);
    assert.deepEqual(await dockerObjects(WORKSPACE_LABEL, workspaceId), { containers: [], volumes: [] }, 'Docker has no container or volume of it');
  });
});
