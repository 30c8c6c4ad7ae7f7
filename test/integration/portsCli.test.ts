/**
 * `sandkasten port` against a real sidecar and the real engine, as a script or an agent uses
 * it: a web server started in a session (busybox httpd) is listed, forwarded (the printed URL
 * is fetched from this machine), labelled and stopped; a port that is no port exits 2 and
 * changes nothing; a process with a hostile name (terminal escapes) is listed as plain text.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { before, describe, it } from 'node:test';
import { makeHome, P, runCli, waitFor, useSidecar } from './harness';
import { acceptsConnections } from '../support/localPorts';

const PAGE = 'hello through a forward';
const SERVER_PORT = 8080;

/** A port nothing on this machine listens on now (the kernel's choice, released at once). */
function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('ports from the command line', () => {
  const sidecar = useSidecar();
  let sessionId = '';

  const cli = (...args: string[]) => runCli(sidecar.home, args);
  const listed = async (): Promise<P.PortInfo[]> => {
    const result = await cli('port', 'list', sessionId, '--scan', '--json');
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as P.PortInfo[];
  };

  before(async () => {
    // Ports are forwarded only when asked here: what the CLI does is what is tested.
    await sidecar.client.request(P.SetConfigRequest.type, { values: { 'ports.autoForward': { session: 'off' } } });
    sessionId = (await sidecar.newSession('ports-cli')).id;
    const made = await sidecar.client.request(P.ExecRequest.type, { sessionId, line: `mkdir -p /tmp/www && printf '${PAGE}' > /tmp/www/index.html` });
    assert.equal(made.exitCode, 0, made.stderr);
    await sidecar.client.request(P.StartProcessRequest.type, { sessionId, command: ['httpd', '-f', '-p', String(SERVER_PORT), '-h', '/tmp/www'] });
  });

  it('lists the server once it listens: port, process, not forwarded yet', async () => {
    const port = await waitFor('httpd listed', async () => (await listed()).find((info) => info.port === SERVER_PORT));
    assert.equal(port.listening, true);
    assert.equal(port.forward, undefined, 'ports.autoForward is off for this kind');
    assert.match(port.process ?? '', /httpd/);
    const table = await cli('port', 'list', sessionId);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^SESSION\s+PORT\s+PROCESS\s+FORWARDED-TO\s+LABEL$/m);
    assert.match(table.stdout, new RegExp(`^${sessionId}\\s+${SERVER_PORT}\\s+httpd\\s+-$`, 'm'));
    const everywhere = await cli('port', 'ls', '--json');
    assert.ok((JSON.parse(everywhere.stdout) as P.PortInfo[]).some((info) => info.sessionId === sessionId && info.port === SERVER_PORT), 'listed without a session too');
  });

  it('forwards it: prints the URL alone, which this machine fetches; forwarding again is the same forward', async () => {
    const forwarded = await cli('port', 'forward', sessionId, String(SERVER_PORT));
    assert.equal(forwarded.code, 0, forwarded.stderr);
    const url = forwarded.stdout.trim();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), PAGE);
    const again = await cli('port', 'forward', sessionId, String(SERVER_PORT), '--json');
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as P.PortInfo).forward?.url, url);
    const table = await cli('port', 'list', sessionId);
    assert.match(table.stdout, new RegExp(`^${sessionId}\\s+${SERVER_PORT}\\s+httpd\\s+127\\.0\\.0\\.1:${new URL(url).port}$`, 'm'));
  });

  it('labels it, and an empty label removes the label', async () => {
    const labelled = await cli('port', 'label', sessionId, String(SERVER_PORT), 'web');
    assert.equal(labelled.code, 0, labelled.stderr);
    assert.match(labelled.stdout, /is labelled "web"/);
    assert.equal((await listed()).find((info) => info.port === SERVER_PORT)?.label, 'web');
    assert.match((await cli('port', 'list', sessionId)).stdout, new RegExp(`\\s${SERVER_PORT}\\s.*\\sweb$`, 'm'));
    const removed = await cli('port', 'label', sessionId, String(SERVER_PORT), '');
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await listed()).find((info) => info.port === SERVER_PORT)?.label, undefined);
  });

  it('forwards a port that does not listen yet to the local port asked for, with a label', async () => {
    const local = await freeLocalPort();
    const forwarded = await cli('port', 'forward', sessionId, `9090:${local}`, '--label', 'later', '--json');
    assert.equal(forwarded.code, 0, forwarded.stderr);
    const info = JSON.parse(forwarded.stdout) as P.PortInfo;
    assert.equal(info.forward?.localPort, local);
    assert.equal(info.forward?.url, `http://127.0.0.1:${local}/`);
    assert.equal(info.label, 'later');
    const row = (await listed()).find((port) => port.port === 9090);
    assert.equal(row?.listening, false);
    assert.match((await cli('port', 'list', sessionId)).stdout, new RegExp(`\\s9090\\s+\\(not listening\\)\\s+127\\.0\\.0\\.1:${local}\\s+later$`, 'm'));
    const stopped = await cli('port', 'stop', sessionId, '9090');
    assert.equal(stopped.code, 0, stopped.stderr);
  });

  it('stops forwarding: the listener closes; stopping again is refused with exit code 1', async () => {
    const url = (JSON.parse((await cli('port', 'forward', sessionId, String(SERVER_PORT), '--json')).stdout) as P.PortInfo).forward!.url;
    const localPort = Number(new URL(url).port);
    assert.equal(await acceptsConnections(localPort), true);
    const stopped = await cli('port', 'stop', sessionId, String(SERVER_PORT));
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, new RegExp(`Port ${SERVER_PORT} of ${sessionId} is no longer forwarded`));
    assert.equal(await acceptsConnections(localPort), false, 'nothing listens on the local port any more');
    assert.equal((await listed()).find((info) => info.port === SERVER_PORT)?.forward, undefined);
    const again = await cli('port', 'stop', sessionId, String(SERVER_PORT));
    assert.equal(again.code, 1);
    assert.match(again.stderr, /\[NotFound\]/);
  });

  it('refuses a port that is no port with exit code 2 and a sentence, and forwards nothing', async () => {
    const before = await listed();
    const cases: Array<[string[], RegExp]> = [
      [['port', 'forward', sessionId, '0'], /0 is not a port: ports go from 1 to 65535/],
      [['port', 'forward', sessionId, '70000'], /70000 is not a port/],
      [['port', 'forward', sessionId, 'abc'], /"abc" is not a port/],
      [['port', 'forward', sessionId, '1:2:3'], /"1:2:3" has too many parts/],
      [['port', 'forward', sessionId, `${SERVER_PORT}:0`], /0 is not a local port/],
      [['port', 'forward', sessionId], /takes a SESSION_ID and PORT or PORT:LOCAL/],
      [['port', 'stop', sessionId, 'abc'], /"abc" is not a port/],
      [['port', 'label', sessionId, String(SERVER_PORT)], /takes a SESSION_ID, a PORT and a TEXT/],
      [['port', 'list', '--label', 'x'], /--label goes with port forward only/],
      [['port', 'open', sessionId], /"port open" is not a command/],
      [['port'], /port takes list, forward, stop or label/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(...args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(' '));
      assert.match(result.stderr, /Run `sandkasten --help` for usage/);
      assert.equal(result.stdout, '');
    }
    assert.deepEqual(
      (await listed()).map((info) => [info.port, info.forward?.localPort]),
      before.map((info) => [info.port, info.forward?.localPort]),
      'nothing was forwarded',
    );
  });

  it('reads the command line before it reaches a sidecar: bad usage starts none', async () => {
    const empty = makeHome();
    try {
      const refused = await runCli(empty, ['port', 'forward', sessionId, '70000']);
      assert.equal(refused.code, 2, refused.stderr);
      assert.deepEqual(fs.readdirSync(empty), [], 'no sidecar was started in the storage directory');
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('refuses a session that is not there with exit code 1, and prints the help of `port`', async () => {
    const missing = await cli('port', 'forward', 'ses-000000000000', '80');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /\[NotFound\]/);
    const help = await cli('port', '--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /sandkasten port forward SESSION_ID PORT\[:LOCAL\]/);
    assert.match(help.stdout, /Exit codes: 0 done, 1 refused or failed/);
    const overall = await cli('--help');
    assert.match(overall.stdout, /sandkasten port list \[SESSION_ID\] \[--scan\] \[--json\]/);
  });

  it("shows a process's hostile name as plain text: no terminal escape reaches the terminal", async () => {
    const hostile = (await sidecar.newSession('ports-hostile', { image: 'debian:bookworm-slim' })).id;
    // perl renames itself (argv and the kernel's comm) to terminal escapes, then listens.
    const script = 'use IO::Socket::INET; $0 = "\\e[2J\\e[31mevil\\e]0;title\\a"; my $s = IO::Socket::INET->new(LocalPort => 7070, Listen => 5, ReuseAddr => 1) or die; while (my $c = $s->accept) { close $c }';
    await sidecar.client.request(P.StartProcessRequest.type, { sessionId: hostile, command: ['perl', '-e', script] });
    const table = await waitFor('the hostile listener listed', async () => {
      const result = await cli('port', 'list', hostile, '--scan');
      return / 7070 /.test(result.stdout) ? result.stdout : undefined;
    });
    assert.doesNotMatch(table, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, 'only line breaks between rows');
    const row = table.split('\n').find((line) => / 7070 /.test(line)) ?? '';
    assert.match(row, /^ses-\w+\s+7070\s+\S*evil\S*\s+-$/, `its row shows the name's printable rest:\n${table}`);
    await sidecar.removeWorkspace((await sidecar.client.request(P.ListSessionsRequest.type, {})).find((session) => session.id === hostile)!.workspaceId);
  });
});
