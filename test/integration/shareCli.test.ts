/**
 * Sharing from the command line, as a teammate without VS Code (or a script) does it: the
 * host converts a workspace and shares its session with `sandkasten share`, a guest in another
 * storage directory joins with `sandkasten join` — detached, and interactively in a real
 * pseudo-terminal (python's pty), typing into the host's shell — and the host manages guests
 * with `share list|allow|role|remove|revoke|stop`. Two real sidecars, the real engine.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { before, describe, it } from 'node:test';
import { CLI_SCRIPT, createWorkspace, P, processGone, REPO_ROOT, runCli, sleep, TEST_IMAGE, useSidecar, useSidecars, waitFor, waitForExit } from './harness';

describe('sharing from the command line', () => {
  const [host, guest] = useSidecars(2);
  let workspaceId = '';
  let sessionId = '';
  let hostTerminal = '';
  let hostOutput = '';

  before(async () => {
    workspaceId = (await createWorkspace(host.client, 'cli-share', { kind: 'persistent' })).id;
    sessionId = (await host.client.request(P.StartSessionRequest.type, { workspaceId })).id;
    host.client.onNotification(P.TerminalOutputNotification.type, ({ data }) => (hostOutput += data));
    hostTerminal = (await host.client.request(P.OpenTerminalRequest.type, { sessionId, cols: 100, rows: 30 })).terminal.id;
  });

  it('refuses to share a workspace that is not collaborative, saying how to convert it; set-kind converts it', async () => {
    const refused = await runCli(host.home, ['share', sessionId]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /workspace set-kind .* collaborative/);
    const badKind = await runCli(host.home, ['workspace', 'set-kind', workspaceId, 'shared']);
    assert.equal(badKind.code, 2, badKind.stderr);
    const converted = await runCli(host.home, ['workspace', 'set-kind', workspaceId, 'collaborative', '--json']);
    assert.equal(converted.code, 0, converted.stderr);
    assert.equal(JSON.parse(converted.stdout).kind, 'collaborative');
  });

  it('shares: prints the link and the code; a detached join waits for `share allow`, with the role the host picks', async () => {
    const shared = await runCli(host.home, ['share', sessionId, '--json']);
    assert.equal(shared.code, 0, shared.stderr);
    const share = JSON.parse(shared.stdout) as P.ShareInfo;
    assert.match(share.code, /^ws:\/\/127\.0\.0\.1:\d+\/share#[A-Za-z0-9_-]{43}$/);
    const human = await runCli(host.home, ['share', sessionId]);
    assert.match(human.stdout, /^Link: vscode:\/\/sandkasten\.sandkasten\/join\?code=/m);
    assert.match(human.stdout, /^Code: ws:\/\//m);

    const joining = runCli(guest.home, ['join', share.code, '--detach', '--json', '--name', 'cli-guest']);
    const request = await waitFor('the join request', async () => (await host.client.request(P.ListSharesRequest.type, {}))[0]?.pending[0]);
    const listed = await runCli(host.home, ['share', 'list']);
    assert.match(listed.stdout, new RegExp(`${request.id}.*cli-guest`));
    const allowed = await runCli(host.home, ['share', 'allow', request.id, '--role', 'editor']);
    assert.equal(allowed.code, 0, allowed.stderr);
    const joined = await joining;
    assert.equal(joined.code, 0, joined.stderr);
    const info = JSON.parse(joined.stdout) as P.JoinedShareInfo;
    assert.equal(info.role, 'editor');
    assert.match(info.sessionId, /^shared\./);
    const mine = await runCli(guest.home, ['share', 'joined', '--json']);
    assert.equal((JSON.parse(mine.stdout) as P.JoinedShareInfo[])[0].state, 'connected');
    const left = await runCli(guest.home, ['share', 'leave', info.sessionId]);
    assert.equal(left.code, 0, left.stderr);
    await waitFor('the guest gone from the share', async () => ((await host.client.request(P.ListSharesRequest.type, {}))[0].participants.length === 0 ? true : undefined));
  });

  it('joins interactively in a terminal: what the guest types runs in the host\'s shell; leaving the CLI leaves the share', async () => {
    await runCli(host.home, ['share', sessionId, '--anyone', '--role', 'editor']);
    const [share] = await host.client.request(P.ListSharesRequest.type, {});
    // A real pseudo-terminal around the CLI: `join` needs a TTY, as a person's terminal is.
    const child: ChildProcess = spawn('python3', ['-c', 'import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)', process.execPath, CLI_SCRIPT, 'join', share.code, '--name', 'tty-guest'], {
      cwd: REPO_ROOT,
      env: { ...process.env, SANDKASTEN_HOME: guest.home },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => (seen += chunk.toString()));
    try {
      await waitFor('the guest attached', () => (/joined cli-share of .* as editor/.test(seen) ? true : undefined));
      hostOutput = '';
      child.stdin!.write('echo tty-guest-$((40+2))\r');
      await waitFor('the host to see what the guest ran', () => (hostOutput.includes('tty-guest-42') ? true : undefined));
      await waitFor('the guest to see it too', () => (seen.includes('tty-guest-42') ? true : undefined));
      assert.equal((await host.client.request(P.ListSharesRequest.type, {}))[0].participants[0].name, 'tty-guest');
    } finally {
      child.kill('SIGTERM');
    }
    await new Promise((resolve) => child.once('exit', resolve));
    await waitFor('the guest gone from the share', async () => ((await host.client.request(P.ListSharesRequest.type, {}))[0].participants.length === 0 ? true : undefined));
    const terminals = await host.client.request(P.ListTerminalsRequest.type, { sessionId });
    assert.ok(terminals.some((terminal) => terminal.id === hostTerminal && terminal.state === 'live'), "the host's shell lives on");
  });

  it('refuses bad usage with exit code 2 and changes nothing', async () => {
    for (const args of [['share'], ['share', 'role', sessionId, 'g-1', 'owner'], ['join'], ['join', 'not a code', 'extra'], ['share', 'stop']]) {
      const result = await runCli(host.home, args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    }
    const notTty = await runCli(guest.home, ['join', 'ws://127.0.0.1:1/share#' + 'a'.repeat(43)]);
    assert.equal(notTty.code, 2);
    assert.match(notTty.stderr, /needs a TTY; add --detach/);
    const badCode = await runCli(guest.home, ['join', 'https://example.com', '--detach']);
    assert.equal(badCode.code, 1);
    assert.match(badCode.stderr, /not a Sandkasten join code/);
    assert.equal((await host.client.request(P.ListSharesRequest.type, {})).length, 1);
  });

  it('revokes the link (the old code is refused, exit 1) and stops sharing', async () => {
    const [before] = await host.client.request(P.ListSharesRequest.type, {});
    const revoked = await runCli(host.home, ['share', 'revoke', sessionId]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const old = await runCli(guest.home, ['join', before.code, '--detach']);
    assert.equal(old.code, 1);
    assert.match(old.stderr, /link is not valid/);
    const stopped = await runCli(host.home, ['share', 'stop', sessionId]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.deepEqual(await host.client.request(P.ListSharesRequest.type, {}), []);
    const again = await runCli(host.home, ['share', 'stop', sessionId]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /is not shared/);
  });
});

describe('a share outlives its clients', () => {
  const host = useSidecar({ connect: 'after' });

  it('keeps the sidecar up with no client while something is shared, and lets it go idle once sharing stops', async () => {
    const cli = async (...args: string[]) => {
      const result = await runCli(host.home, args);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
      return result.stdout;
    };
    await cli('config', 'set', 'idleShutdownSeconds', '1');
    const pid = (JSON.parse(await cli('status', '--json')) as P.SidecarStatus).pid;
    const workspace = JSON.parse(await cli('workspace', 'create', 'outlives', '--kind', 'collaborative', '--image', TEST_IMAGE, '--json')) as P.WorkspaceInfo;
    const session = JSON.parse(await cli('session', 'start', workspace.id, '--json')) as P.SessionInfo;
    await cli('share', session.id, '--anyone');
    // No client is connected now (each CLI call came and went): only the share keeps it up.
    await sleep(3000);
    assert.equal(processGone(pid), false, 'the sidecar is still up while the session is shared');
    await cli('share', 'stop', session.id);
    await waitForExit(pid);
  });
});
