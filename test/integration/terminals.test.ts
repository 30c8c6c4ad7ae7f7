import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { before, describe, it } from 'node:test';
import {
  CLI_SCRIPT,
  docker,
  exec,
  expectError,
  onEngine,
  P,
  TEST_IMAGE,
  useSidecar,
  waitFor,
  type SidecarClient,
} from './harness';
import { plainText, SIZE, TerminalWatcher } from './terminalWatcher';

const DEBIAN_IMAGE = 'debian:bookworm-slim';



async function listTerminals(client: SidecarClient, sessionId?: string): Promise<P.TerminalInfo[]> {
  return client.request(P.ListTerminalsRequest.type, sessionId === undefined ? {} : { sessionId });
}

async function terminalInfo(client: SidecarClient, terminalId: string): Promise<P.TerminalInfo | undefined> {
  return (await listTerminals(client)).find((terminal) => terminal.id === terminalId);
}

/** The interactive shells of a terminal still running in the session's container. */
async function interactiveShells(client: SidecarClient, sessionId: string): Promise<string[]> {
  const ps = await exec(client, sessionId, ['ps', '-o', 'pid,args']);
  return ps.stdout.split('\n').filter((line) => /sh -l$|bash --rcfile/.test(line));
}

async function imageExists(image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch {
    return false;
  }
}

describe(onEngine('terminals against the real Docker engine'), () => {
  const sidecar = useSidecar();
  let session: P.SessionInfo;
  let watcher: TerminalWatcher;

  before(async () => {
    session = await sidecar.newSession('terminals');
    watcher = new TerminalWatcher(sidecar.client);
  });

  it('opens an interactive shell in /workspace that runs what is typed', async () => {
    const opened = await watcher.openReady({ sessionId: session.id });
    assert.equal(opened.outcome, 'created');
    assert.equal(opened.terminal.sessionId, session.id);
    assert.equal(opened.terminal.state, 'live');
    assert.equal(opened.terminal.attached, 1);
    assert.match(opened.terminal.name, /^Terminal \d+$/);
    await watcher.run(opened.terminal.id, 'echo hi', /^hi\n/);
    await watcher.run(opened.terminal.id, 'pwd', /^\/workspace\n/);
    const listed = await terminalInfo(sidecar.client, opened.terminal.id);
    assert.deepEqual(
      { state: listed?.state, cwd: listed?.cwd, attached: listed?.attached },
      { state: 'live', cwd: '/workspace', attached: 1 },
    );
    await sidecar.client.request(P.CloseTerminalRequest.type, { terminalId: opened.terminal.id });
  });

  it('runs several terminals in one session, each its own shell on the same files', async () => {
    const first = await watcher.openReady({ sessionId: session.id });
    const second = await watcher.openReady({ sessionId: session.id });
    assert.notEqual(first.terminal.id, second.terminal.id);
    assert.notEqual(first.terminal.name, second.terminal.name);
    await watcher.run(first.terminal.id, 'cd /tmp && echo shared > /workspace/shared.txt && echo written', /written\n/);
    await watcher.run(second.terminal.id, 'pwd; cat /workspace/shared.txt', /^\/workspace\nshared\n/);
    assert.doesNotMatch(watcher.text(second.terminal.id), /written/, "one terminal's output does not reach another");
    const listed = (await listTerminals(sidecar.client, session.id)).map((terminal) => terminal.id);
    assert.deepEqual(listed.filter((id) => id === first.terminal.id || id === second.terminal.id), [first.terminal.id, second.terminal.id]);
    for (const opened of [first, second]) await sidecar.client.request(P.CloseTerminalRequest.type, { terminalId: opened.terminal.id });
  });

  it('reattaches to the live shell after its client disconnected, replaying the scrollback', async () => {
    const windowBefore = new TerminalWatcher(await sidecar.connectAgain());
    const bystander = new TerminalWatcher(await sidecar.connectAgain());
    const opened = await windowBefore.openReady({ sessionId: session.id });
    const id = opened.terminal.id;
    await windowBefore.run(id, 'cd /tmp; echo before-$((40+2))', /before-42\n/);
    // Output goes only to attached connections: the sidecar wrote to every attached client in
    // the same step, so after one round trip the bystander would have it if it were attached.
    await listTerminals(bystander.client);
    assert.equal(bystander.text(id), '', 'a connection that is not attached gets no output');

    windowBefore.client.close();
    await waitFor('the closed connection to be detached', async () => ((await terminalInfo(sidecar.client, id))?.attached === 0 ? true : undefined));
    const windowAfter = new TerminalWatcher(await sidecar.connectAgain());
    const reopened = await windowAfter.openReady({ sessionId: session.id, terminalId: id });
    assert.equal(reopened.outcome, 'attached');
    assert.equal(reopened.terminal.state, 'live');
    assert.match(reopened.replay, /before-42/, 'the earlier output is replayed');
    await windowAfter.run(id, 'pwd', /^\/tmp\n/);
    void windowAfter.client.connection.sendNotification(P.DetachTerminalNotification.type, { terminalId: id });
    await waitFor('the detach to count', async () => ((await terminalInfo(sidecar.client, id))?.attached === 0 ? true : undefined));
    assert.equal((await terminalInfo(sidecar.client, id))?.state, 'live', 'a detached terminal keeps its shell');
    await sidecar.client.request(P.CloseTerminalRequest.type, { terminalId: id });
  });

  it('passes a resize on to the shell', async () => {
    const opened = await watcher.openReady({ sessionId: session.id, cols: 91, rows: 27 });
    const id = opened.terminal.id;
    await watcher.run(id, 'stty size', /^27 91\n/);
    void sidecar.client.connection.sendNotification(P.TerminalResizeNotification.type, { terminalId: id, cols: 132, rows: 43 });
    // The resize is a notification that Docker applies in its own time: ask again until it has.
    await waitFor('the new size to reach the shell', async () => ((await watcher.run(id, 'stty size', /^\d+ \d+\n/)).startsWith('43 132\n') ? true : undefined));
    await sidecar.client.request(P.CloseTerminalRequest.type, { terminalId: id });
  });

  it('forgets a terminal whose shell the person exited, with its exit code', async () => {
    const opened = await watcher.openReady({ sessionId: session.id });
    watcher.type(opened.terminal.id, 'exit 3\r');
    assert.equal(await watcher.waitForExit(opened.terminal.id), 3);
    await waitFor('the exited terminal to be forgotten', async () => ((await terminalInfo(sidecar.client, opened.terminal.id)) ? undefined : true));
    await expectError(watcher.openReady({ sessionId: session.id, terminalId: opened.terminal.id }), 'NotFound');
  });

  it('ends the shell on close and forgets the terminal', async () => {
    const opened = await watcher.openReady({ sessionId: session.id });
    await watcher.run(opened.terminal.id, 'echo ready', /ready/);
    const shellsBefore = (await interactiveShells(sidecar.client, session.id)).length;
    await sidecar.client.request(P.CloseTerminalRequest.type, { terminalId: opened.terminal.id });
    assert.equal(await watcher.waitForExit(opened.terminal.id), 0, 'attached clients see a closed terminal end normally');
    assert.equal(await terminalInfo(sidecar.client, opened.terminal.id), undefined);
    await waitFor('the shell to be gone from the container', async () =>
      (await interactiveShells(sidecar.client, session.id)).length === shellsBefore - 1 ? true : undefined,
    );
  });

  it('refuses bad input with a clear error and changes nothing', async () => {
    const opened = await watcher.openReady({ sessionId: session.id });
    const before = await listTerminals(sidecar.client);
    const open = (params: Record<string, unknown>) => sidecar.client.request(P.OpenTerminalRequest.type, params as unknown as P.OpenTerminalParams);
    await expectError(open({ sessionId: 'ses-000000000000', ...SIZE }), 'NotFound');
    await expectError(open({ sessionId: session.id, terminalId: 'term-000000000000', ...SIZE }), 'NotFound');
    await expectError(open({ ...SIZE }), 'InvalidInput');
    for (const size of [{ cols: 0, rows: 24 }, { cols: 80, rows: -1 }, { cols: 80.5, rows: 24 }, { cols: '80', rows: 24 }, { cols: 80 }, { cols: 80, rows: 70000 }]) {
      await expectError(open({ sessionId: session.id, ...size }), 'InvalidInput');
      await expectError(open({ sessionId: session.id, terminalId: opened.terminal.id, ...size }), 'InvalidInput');
    }
    await expectError(sidecar.client.request(P.CloseTerminalRequest.type, { terminalId: 'term-000000000000' }), 'NotFound');
    await expectError(sidecar.client.request(P.CloseTerminalRequest.type, {} as P.TerminalIdParams), 'InvalidInput');
    await expectError(listTerminals(sidecar.client, 'ses-000000000000'), 'NotFound');

    // A terminal belongs to its session: another session cannot open it.
    const other = await sidecar.createWorkspace('terminals-other');
    const otherSession = await sidecar.startSession(other.id);
    await expectError(open({ sessionId: otherSession.id, terminalId: opened.terminal.id, ...SIZE }), 'NotFound');
    await sidecar.client.request(P.StopSessionRequest.type, { id: otherSession.id });
    await expectError(open({ sessionId: otherSession.id, ...SIZE }), 'Conflict');
    await sidecar.removeWorkspace(other.id);

    assert.deepEqual(
      (await listTerminals(sidecar.client)).map((terminal) => terminal.id),
      before.map((terminal) => terminal.id),
    );
    await sidecar.client.request(P.CloseTerminalRequest.type, { terminalId: opened.terminal.id });
  });

  it('gives the CLI an interactive shell on a TTY that exits with the shell', async () => {
    // `script` (util-linux) runs the CLI on a pseudo-terminal, as a person's terminal would.
    assert.ok(fs.existsSync('/usr/bin/script'), 'this test needs `script` from util-linux');
    const command = `stty cols 100 rows 30; exec ${process.execPath} ${CLI_SCRIPT} shell ${session.id}`;
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...process.env, SANDKASTEN_HOME: sidecar.home } });
    let screen = '';
    child.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const typeAndWait = async (line: string, expected: RegExp) => {
      const start = screen.length;
      child.stdin.write(`${line}\r`);
      await waitFor(`the CLI shell to print ${expected}`, () => (expected.test(plainText(screen.slice(start))) ? true : undefined));
    };
    await waitFor('the CLI to open a terminal', () => (/sandkasten: new Terminal \d+ \((term-[0-9a-f]+)\)/.test(screen) ? true : undefined));
    const terminalId = /\((term-[0-9a-f]+)\)/.exec(screen)![1];
    await typeAndWait('echo cli-$((40+2))', /\ncli-42\n/);
    await typeAndWait('stty size', /\n30 100\n/);
    child.stdin.write('exit 7\r');
    assert.equal(await exited, 7, "the CLI exits with the shell's exit code");
    await waitFor('the exited terminal to be forgotten', async () => ((await terminalInfo(sidecar.client, terminalId)) ? undefined : true));
  });

  it("deletes a session's terminals with the session, ending their shells", async () => {
    const workspace = await sidecar.createWorkspace('terminals-destroy');
    const doomed = await sidecar.startSession(workspace.id);
    const opened = await watcher.openReady({ sessionId: doomed.id });
    await watcher.run(opened.terminal.id, 'echo alive', /alive/);
    await sidecar.client.request(P.DestroySessionRequest.type, { id: doomed.id });
    assert.equal(await watcher.waitForExit(opened.terminal.id), null);
    assert.equal(await terminalInfo(sidecar.client, opened.terminal.id), undefined);
    await sidecar.removeWorkspace(workspace.id);
  });
});

/** Restores: the shell is gone, its cwd, exported variables and history come back. */
describe(onEngine('terminal restore against the real Docker engine'), () => {
  const sidecar = useSidecar();

  /** Leaves a terminal in /tmp with SK_COLOR exported and a remembered command. */
  async function prepareTerminal(watcher: TerminalWatcher, sessionId: string): Promise<string> {
    const opened = await watcher.openReady({ sessionId });
    const id = opened.terminal.id;
    await watcher.run(id, 'export SK_COLOR="light blue" && echo exported', /^exported\n/);
    await watcher.run(id, 'echo remembered-$((6*7))', /^remembered-42\n/);
    // Last, so that once the database knows this cwd it knows everything before it too.
    await watcher.run(id, 'cd /tmp && echo moved', /^moved\n/);
    return id;
  }

  async function expectRestored(watcher: TerminalWatcher, sessionId: string, id: string): Promise<void> {
    const reopened = await watcher.openReady({ sessionId, terminalId: id });
    assert.equal(reopened.outcome, 'restored');
    assert.equal(reopened.terminal.state, 'live');
    assert.match(reopened.replay, /\[sandkasten\] restored: new shell in \/tmp/, 'the terminal says in one line that it was restored');
    await watcher.run(id, 'pwd', /^\/tmp\n/);
    await watcher.run(id, 'echo "color=$SK_COLOR"', /^color=light blue\n/);
    await watcher.run(id, 'cat "$HISTFILE"', /echo remembered-\$\(\(6\*7\)\)/);
  }

  const images = [TEST_IMAGE, DEBIAN_IMAGE];
  for (const image of images) {
    it(`restores cwd, environment and history after the container restarted (${image})`, async () => {
      assert.ok(await imageExists(image), `${image} is not built here: run scripts/build-test-image.sh --debian (npm test does)`);
      const workspace = await sidecar.createWorkspace('restore-restart', { image });
      const session = await sidecar.startSession(workspace.id);
      const watcher = new TerminalWatcher(sidecar.client);
      const id = await prepareTerminal(watcher, session.id);

      await sidecar.client.request(P.StopSessionRequest.type, { id: session.id });
      assert.equal(await watcher.waitForExit(id), null, 'attached clients learn that the shell ended');
      assert.equal((await terminalInfo(sidecar.client, id))?.state, 'dormant');
      await expectError(watcher.openReady({ sessionId: session.id, terminalId: id }), 'Conflict');

      const resumed = await sidecar.startSession(workspace.id);
      assert.equal(resumed.id, session.id);
      await expectRestored(watcher, session.id, id);
      await sidecar.removeWorkspace(workspace.id);
    });
  }

  it('restores after the sidecar was killed, ending the orphaned shell', async () => {
    const workspace = await sidecar.createWorkspace('restore-kill');
    const session = await sidecar.startSession(workspace.id);
    const id = await prepareTerminal(new TerminalWatcher(sidecar.client), session.id);

    await sidecar.kill9();
    await sidecar.reconnect();
    const watcher = new TerminalWatcher(sidecar.client);
    await waitFor('the session to be running again after reconciliation', async () =>
      (await sidecar.client.request(P.ListSessionsRequest.type, {})).find((s) => s.id === session.id)?.state === 'running' ? true : undefined,
    );
    assert.equal((await terminalInfo(sidecar.client, id))?.state, 'dormant', 'after a sidecar restart every terminal is dormant');
    await expectRestored(watcher, session.id, id);
    assert.equal((await interactiveShells(sidecar.client, session.id)).length, 1, 'the shell the killed sidecar left behind was ended');
    await sidecar.removeWorkspace(workspace.id);
  });

  it('restores from the database when the container was recreated', async () => {
    const workspace = await sidecar.createWorkspace('restore-recreate');
    const session = await sidecar.startSession(workspace.id);
    const watcher = new TerminalWatcher(sidecar.client);
    const id = await prepareTerminal(watcher, session.id);
    // The sidecar copies what the shell reports into its database after each command.
    await waitFor('the database to know the cwd', async () => ((await terminalInfo(sidecar.client, id))?.cwd === '/tmp' ? true : undefined));

    await docker.getContainer(session.containerId!).remove({ force: true });
    await sidecar.client.request(P.StopSessionRequest.type, { id: session.id });
    const resumed = await sidecar.startSession(workspace.id);
    assert.notEqual(resumed.containerId, session.containerId, 'a new container');
    await expectRestored(watcher, session.id, id);
    await sidecar.removeWorkspace(workspace.id);
  });
});
