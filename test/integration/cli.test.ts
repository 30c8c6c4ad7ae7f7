import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { CLI_SCRIPT, cliJson, docker, P, runCli, SidecarHarness, TEST_IMAGE, useSidecar, waitFor, waitForExit } from './harness';

/** Parses the stdout of a `--json` command, with the whole result in the failure message. */
const json = cliJson;

describe('the sandkasten command line', () => {
  // The CLI starts the sidecar; the harness connects only at the end, to clean up.
  const { home } = useSidecar({ connect: 'after' });
  const cli = (...args: string[]) => runCli(home, args);
  let workspace: P.WorkspaceInfo;
  let session: P.SessionInfo;

  before(async () => {
    const status = json<P.SidecarStatus>(await cli('status', '--json'));
    assert.ok(status.docker.available, `Docker is not reachable: ${status.docker.error}. Run \`bash scripts/docker-up.sh\`.`);
  });

  it('prints its usage and exits 0 with --help', async () => {
    const result = await cli('--help');
    assert.equal(result.code, 0);
    assert.match(result.stdout, /workspace create/);
    assert.match(result.stdout, /exec SESSION_ID/);
  });

  it('creates a workspace and prints it as an object with an id with --json', async () => {
    workspace = json<P.WorkspaceInfo>(await cli('workspace', 'create', 'cli-ws', '--image', TEST_IMAGE, '--json'));
    assert.match(workspace.id, /^cli-ws-[0-9a-f]{8}$/);
    assert.equal(workspace.image, TEST_IMAGE);
  });

  it('lists workspaces as JSON with --json, and as a table without', async () => {
    const list = json<P.WorkspaceInfo[]>(await cli('workspace', 'list', '--json'));
    assert.ok(list.some((w) => w.id === workspace.id));
    const table = await cli('workspace', 'list');
    assert.equal(table.code, 0);
    assert.match(table.stdout, new RegExp(workspace.id));
  });

  it('starts a session and prints it as an object with an id with --json', async () => {
    session = json<P.SessionInfo>(await cli('session', 'start', workspace.id, '--json'));
    assert.match(session.id, /^ses-/);
    assert.equal(session.state, 'running');
    assert.equal(session.workspaceId, workspace.id);
    const list = json<P.SessionInfo[]>(await cli('session', 'list', '--json'));
    assert.ok(list.some((s) => s.id === session.id));
  });

  it("prints a command's stdout and stderr on its own streams and exits with its exit code", async () => {
    const result = await cli('exec', session.id, '--', 'sh', '-c', 'echo out; echo err >&2; exit 7');
    assert.equal(result.code, 7);
    assert.equal(result.stdout, 'out\n');
    assert.equal(result.stderr, 'err\n');
  });

  it('exits 0 after a command that succeeds', async () => {
    const result = await cli('exec', session.id, '--', 'echo', 'hello');
    assert.deepEqual(result, { code: 0, stdout: 'hello\n', stderr: '' });
  });

  it('talks to the same sidecar as the JSON-RPC clients of that storage directory', async () => {
    const status = json<P.SidecarStatus>(await cli('status', '--json'));
    const client = await SidecarHarness.start({ home });
    try {
      assert.equal(client.pid, status.pid);
      assert.ok((await client.client.request(P.ListSessionsRequest.type, {})).some((s) => s.id === session.id));
    } finally {
      client.closeClients();
    }
  });

  for (const [label, args, pattern] of [
    ['an unknown session id', ['session', 'stop', 'ses-000000000000'], /ses-000000000000|NotFound/],
    ['an unknown workspace id', ['workspace', 'rm', 'ghost-00000000'], /ghost-00000000|NotFound/],
    ['an invalid workspace name', ['workspace', 'create', 'Bad', '--image', TEST_IMAGE], /InvalidName|lowercase/],
    ['an image that does not exist', ['workspace', 'create', 'noimg', '--image', 'sandkasten-test/does-not-exist:nope'], /ImageMissing|does-not-exist/],
    ['an invalid setting', ['config', 'set', 'limits.memoryMb', 'abc'], /limits\.memoryMb/],
  ] as const) {
    it(`reports ${label} on stderr and exits 1`, async () => {
      const result = await cli(...args);
      assert.equal(result.code, 1, `stderr: ${result.stderr}`);
      assert.match(result.stderr, pattern);
      assert.equal(result.stdout, '', 'nothing on stdout');
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  it('reports an unknown command on stderr and exits 2', async () => {
    const result = await cli('workspace', 'frobnicate');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /frobnicate/);
  });

  it('sets a setting with config set and reads it back with config get', async () => {
    const set = await cli('config', 'set', 'limits.pids', '256');
    assert.equal(set.code, 0, set.stderr);
    const get = await cli('config', 'get', 'limits.pids');
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout.trim(), '256');
    const stored = JSON.parse(fs.readFileSync(path.join(home, 'config.json'), 'utf8'));
    assert.equal(stored['limits.pids'], 256, 'config.json holds the new value');
  });

  it('stops and removes a session, and removes a workspace', async () => {
    assert.equal((await cli('session', 'stop', session.id)).code, 0);
    assert.equal(json<P.SessionInfo[]>(await cli('session', 'list', '--json')).find((s) => s.id === session.id)?.state, 'stopped');
    assert.equal((await cli('session', 'rm', session.id)).code, 0);
    assert.ok(!json<P.SessionInfo[]>(await cli('session', 'list', '--json')).some((s) => s.id === session.id));
    const doomed = json<P.WorkspaceInfo>(await cli('workspace', 'create', 'cli-doomed', '--image', TEST_IMAGE, '--json'));
    assert.equal((await cli('workspace', 'rm', doomed.id)).code, 0);
    assert.ok(!json<P.WorkspaceInfo[]>(await cli('workspace', 'list', '--json')).some((w) => w.id === doomed.id));
  });

  it('fails, rather than exiting 0 with no output, when the sidecar dies during an exec', async () => {
    const running = json<P.SessionInfo>(await cli('session', 'start', workspace.id, '--json'));
    const { pid } = json<P.SidecarStatus>(await cli('status', '--json'));
    const child = spawn(process.execPath, [CLI_SCRIPT, 'exec', running.id, '--', 'sleep', '30'], {
      env: { ...process.env, SANDKASTEN_HOME: home },
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('the sleep to run in the container', async () => {
      const top = await docker.getContainer(running.containerId!).top();
      return (top.Processes as string[][] | undefined)?.some((row) => row.some((cell) => /sleep 30/.test(cell))) ? true : undefined;
    });
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid);
    const code = await exited;
    assert.notEqual(code, 0, `the CLI exited ${code}; stderr: ${JSON.stringify(stderr)}`);
    assert.match(stderr, /sidecar|connection/i, 'stderr says what happened');
  });

  it('stops the sidecar with daemon stop, and a later command starts a new one that still knows the workspace', async () => {
    const before = json<P.SidecarStatus>(await cli('status', '--json'));
    const stop = await cli('daemon', 'stop');
    assert.equal(stop.code, 0, stop.stderr);
    await waitForExit(before.pid);
    const list = json<P.WorkspaceInfo[]>(await cli('workspace', 'list', '--json'));
    assert.ok(list.some((w) => w.id === workspace.id));
    const after = json<P.SidecarStatus>(await cli('status', '--json'));
    assert.notEqual(after.pid, before.pid);
  });
});

describe('the sandkasten command line: rename, inspect, images', () => {
  const { home } = useSidecar({ connect: 'after' });
  const cli = (...args: string[]) => runCli(home, args);
  let workspace: P.WorkspaceInfo;
  let session: P.SessionInfo;

  before(async () => {
    workspace = json<P.WorkspaceInfo>(await cli('workspace', 'create', 'cli-named', '--image', TEST_IMAGE, '--json'));
    session = json<P.SessionInfo>(await cli('session', 'start', workspace.id, '--json'));
  });

  it('renames a workspace and says so; with --json it prints the renamed workspace', async () => {
    const result = await cli('workspace', 'rename', workspace.id, 'cli-renamed');
    assert.deepEqual(result, { code: 0, stdout: `Renamed workspace ${workspace.id} to cli-renamed\n`, stderr: '' });
    const renamed = json<P.WorkspaceInfo>(await cli('workspace', 'rename', workspace.id, 'cli-again', '--json'));
    assert.equal(renamed.id, workspace.id);
    assert.equal(renamed.name, 'cli-again');
    assert.equal(json<P.SessionInfo[]>(await cli('session', 'list', '--json')).find((s) => s.id === session.id)?.workspaceName, 'cli-again');
  });

  it("prints a session's container as Docker's inspect JSON, with or without --json", async () => {
    for (const args of [[], ['--json']]) {
      const container = json<{ Id: string; Config: { Labels: Record<string, string> } }>(await cli('session', 'inspect', session.id, ...args));
      assert.equal(container.Id, session.containerId);
      assert.equal(container.Config.Labels['sandkasten.session'], session.id);
    }
    const pretty = await cli('session', 'inspect', session.id);
    assert.match(pretty.stdout, /^\{\n {2}"Id": /, 'indented JSON');
  });

  it('lists local images as a table (12-digit ids, sizes people read), and as JSON with --json', async () => {
    const images = json<P.ImageInfo[]>(await cli('image', 'list', '--json'));
    const test = images.find((image) => image.reference === TEST_IMAGE);
    assert.ok(test, `${TEST_IMAGE} is listed`);
    for (const verb of ['list', 'ls']) {
      const table = await cli('image', verb);
      assert.equal(table.code, 0, table.stderr);
      const [header, ...rows] = table.stdout.trimEnd().split('\n');
      assert.match(header, /^REFERENCE\s+ID\s+SIZE\s+CREATED$/);
      const row = rows.find((line) => line.startsWith(`${TEST_IMAGE} `));
      assert.ok(row, `a row for ${TEST_IMAGE}: ${table.stdout}`);
      assert.match(row, new RegExp(`\\s${test.id.replace(/^sha256:/, '').slice(0, 12)}\\s+[\\d.]+ (KiB|MiB|GiB)\\s+${test.createdAt}$`));
    }
  });

  it("prints the engine's own words on a detail line after the sentence, and exits 1", async () => {
    const result = await cli('workspace', 'create', 'cli-unpullable', '--image', 'localhost:1/nope:latest');
    assert.equal(result.code, 1);
    const [sentence, detail, ...more] = result.stderr.trimEnd().split('\n');
    assert.match(sentence, /^sandkasten: Image "localhost:1\/nope:latest" is not available locally and could not be pulled\. .* \[ImageMissing\]$/);
    assert.doesNotMatch(sentence, /dial tcp|connection refused/);
    assert.match(detail, /^sandkasten: detail: \S.*(localhost:1|connection refused|dial tcp)/);
    assert.deepEqual(more, []);
    assert.equal(result.stdout, '');
  });

  for (const [label, args, pattern] of [
    ['a bad workspace name', ['workspace', 'rename', 'WORKSPACE', 'Not-OK'], /InvalidName/],
    ['an unknown workspace to rename', ['workspace', 'rename', 'ghost-00000000', 'fine'], /ghost-00000000.*NotFound/],
    ['an unknown session to inspect', ['session', 'inspect', 'ses-000000000000'], /ses-000000000000.*NotFound/],
  ] as const) {
    it(`reports ${label} on stderr and exits 1`, async () => {
      const result = await cli(...args.map((arg) => (arg === 'WORKSPACE' ? workspace.id : arg)));
      assert.equal(result.code, 1, `stderr: ${result.stderr}`);
      assert.match(result.stderr, pattern);
      assert.equal(result.stdout, '');
    });
  }

  for (const args of [
    ['workspace', 'rename', 'only-an-id'],
    ['workspace', 'rename', 'an-id', 'a-name', 'more'],
    ['session', 'inspect'],
    ['session', 'inspect', 'ses-1', 'ses-2'],
    ['image', 'list', 'extra'],
    ['image'],
  ]) {
    it(`exits 2 for bad usage: ${args.join(' ')}`, async () => {
      const result = await cli(...args);
      assert.equal(result.code, 2, `stderr: ${result.stderr}`);
      assert.match(result.stderr, /sandkasten --help/);
      assert.equal(result.stdout, '');
    });
  }

  it('names the new commands in its usage', async () => {
    const help = await cli('--help');
    for (const line of [/workspace rename ID NAME/, /session inspect SESSION_ID/, /image list/]) assert.match(help.stdout, line);
  });
});

describe('the sandkasten command line without Docker', () => {
  const env = { ...process.env, DOCKER_HOST: 'unix:///tmp/nothing.sock' };
  const { home } = useSidecar({ env, connect: 'after' });

  it('reports that Docker is unavailable on stderr and exits 1', async () => {
    const result = await runCli(home, ['workspace', 'create', 'nodocker', '--image', TEST_IMAGE], env);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /DockerUnavailable|Docker/);
    assert.equal(result.stdout, '');
  });
});

describe('a sidecar started by the command line', () => {
  const { home } = useSidecar({ connect: 'after' });

  it('exits by itself once no client has been connected for idleShutdownSeconds', async () => {
    assert.equal((await runCli(home, ['config', 'set', 'idleShutdownSeconds', '1'])).code, 0);
    const { pid } = json<P.SidecarStatus>(await runCli(home, ['status', '--json']));
    await waitForExit(pid);
    assert.equal(fs.existsSync(path.join(home, 'sidecar.sock')), false, 'it removed its socket');
  });
});
