/**
 * Sandboxes that can hold untrusted code (issue 12): what a process inside a sandbox can do
 * and what it cannot, looked at from inside, and what it cannot do to the sidecar.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { SANDBOX_CAPABILITIES } from '../../sidecar/docker/engine';
import { execLine, MEMORY_BOUND_MB, rssMb, SAFETY_TIMEOUT_MS } from './execSupport';
import { terminalStateDirectory } from '../../sidecar/terminals/shellScripts';
import { homePaths } from '../../sidecar/client/home';
import { docker, makeHome, P, runCli, TEST_IMAGE, useSidecar, waitFor } from './harness';

/** Linux capability numbers (include/uapi/linux/capability.h) of the names we keep. */
const CAPABILITY_BITS: Record<string, number> = { CHOWN: 0, DAC_OVERRIDE: 1, FOWNER: 3, FSETID: 4, KILL: 5, SETGID: 6, SETUID: 7, NET_BIND_SERVICE: 10 };

describe('hardened sandboxes, against the real Docker engine', () => {
  const sidecar = useSidecar();
  const line = (sessionId: string, text: string) => execLine(sidecar.client, sessionId, text, { timeoutMs: SAFETY_TIMEOUT_MS });
  /** `docker exec` as another user: what an unprivileged process in the sandbox could do. */
  const execAs = (containerId: string, user: string, args: string[]) => {
    try {
      return { code: 0, stdout: execFileSync('docker', ['exec', '-u', user, containerId, ...args], { encoding: 'utf8', stdio: 'pipe' }) };
    } catch (error) {
      const failed = error as { status: number; stdout: string; stderr: string };
      return { code: failed.status, stdout: failed.stdout + failed.stderr };
    }
  };

  it('keeps exactly the documented capabilities, with no_new_privs, an init, and no Docker socket', async () => {
    const session = await sidecar.newSession('caps');
    const status = (await line(session.id, 'grep -E "^(CapEff|CapBnd|CapPrm|NoNewPrivs)" /proc/self/status')).stdout;
    const expected = SANDBOX_CAPABILITIES.reduce((mask, name) => mask | (1n << BigInt(CAPABILITY_BITS[name])), 0n);
    for (const field of ['CapEff', 'CapBnd', 'CapPrm']) {
      const value = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1];
      assert.equal(BigInt(`0x${value}`), expected, `${field} is exactly ${SANDBOX_CAPABILITIES.join(', ')}: ${status}`);
    }
    assert.match(status, /^NoNewPrivs:\s*1$/m);
    assert.equal((await line(session.id, 'cat /proc/1/comm')).stdout, 'docker-init\n', 'an init reaps orphans');
    assert.equal((await line(session.id, 'test -e /var/run/docker.sock || test -e /run/docker.sock')).exitCode, 1, 'no Docker socket inside');

    const inspected = await docker.getContainer(session.containerId!).inspect();
    assert.equal(inspected.HostConfig.Privileged, false);
    assert.equal(inspected.HostConfig.MemorySwap, inspected.HostConfig.Memory, 'no swap beyond the memory limit');
    assert.ok((inspected.HostConfig.PidsLimit ?? 0) > 0);
    assert.deepEqual(
      (inspected.HostConfig.Ulimits ?? []).map((u) => u.Name).sort(),
      ['nofile', 'nproc'],
    );
  });

  it('refuses what the dropped capabilities guard: device nodes, raw sockets, chroot', async () => {
    const session = await sidecar.newSession('nocaps');
    const mknod = await line(session.id, 'mknod /tmp/sda b 8 0');
    assert.notEqual(mknod.exitCode, 0, `mknod must fail: ${mknod.stderr}`);
    const ping = await line(session.id, 'ping -c 1 -W 1 127.0.0.1');
    assert.notEqual(ping.exitCode, 0, 'a raw ICMP socket needs NET_RAW');
    assert.match(ping.stderr, /permitted|permission/i);
    assert.notEqual((await line(session.id, 'chroot / true')).exitCode, 0, 'chroot needs SYS_CHROOT');
    // What ordinary work needs still works: files of another owner, chown.
    const ordinary = await line(session.id, 'touch /tmp/f && chown 1234:1234 /tmp/f && stat -c %u /tmp/f && kill -0 1 && echo ok');
    assert.equal(ordinary.stdout, '1234\nok\n', ordinary.stderr);
  });

  it('gives a setuid binary nothing: an unprivileged user stays unprivileged', async () => {
    const session = await sidecar.newSession('setuid');
    assert.equal((await line(session.id, 'mkdir -p /tmp/suid && cp /bin/busybox /tmp/suid/busybox && chmod 4755 /tmp/suid/busybox && echo ready')).stdout, 'ready\n');
    const asNobody = execAs(session.containerId!, '65534:65534', ['/tmp/suid/busybox', 'id', '-u']);
    assert.equal(asNobody.stdout.trim(), '65534', 'no_new_privs: the setuid bit does not make it root');
  });

  it("reaps a command's orphans instead of leaving zombies", async () => {
    const session = await sidecar.newSession('reap');
    // Each subshell exits at once; its `sleep` becomes an orphan that the init must reap when it ends.
    await line(session.id, 'for i in 1 2 3 4 5; do (sleep 0.2 &) ; done');
    await waitFor('the orphans to be reaped', async () => {
      const states = (await line(session.id, 'cat /proc/[0-9]*/stat 2>/dev/null | grep -c ") Z " || true')).stdout.trim();
      return states === '0' ? true : undefined;
    });
  });

  it('keeps the sidecar bounded whatever a sandbox writes as terminal state: a huge file, a link to /dev/zero, a FIFO', async () => {
    const session = await sidecar.newSession('statefiles');
    const other = await sidecar.newSession('bystander');
    const opened = await sidecar.client.request(P.OpenTerminalRequest.type, { sessionId: session.id, cols: 80, rows: 24 });
    const directory = terminalStateDirectory(opened.terminal.id);
    await waitFor('the terminal to note its state', async () => ((await line(session.id, `test -f ${directory}/cwd`)).exitCode === 0 ? true : undefined));
    const before = rssMb(sidecar.pid!);
    // 300 MB of env, history a link to /dev/zero, cwd a FIFO nobody writes to.
    const sabotage = await line(
      session.id,
      `d=${directory}; head -c 300000000 /dev/zero | tr '\\0' 'x' > $d/env; rm -f $d/history; ln -s /dev/zero $d/history; rm -f $d/cwd; mkfifo $d/cwd; echo done`,
    );
    assert.equal(sabotage.stdout, 'done\n', sabotage.stderr);
    // Closing the terminal and reading its state back (restore) is what reads those files.
    await sidecar.client.request(P.StopSessionRequest.type, { id: session.id });
    await sidecar.startSession(session.workspaceId);
    await sidecar.client.request(P.OpenTerminalRequest.type, { sessionId: session.id, terminalId: opened.terminal.id, cols: 80, rows: 24 });
    // The restored shell starts from fresh files: nothing the sandbox left there is followed or
    // copied (a history linked to /dev/zero, copied, once filled the host's disk), nothing hangs.
    await waitFor('the restored terminal to note its state', async () => ((await line(session.id, `test -f ${directory}/cwd && ! test -p ${directory}/cwd`)).exitCode === 0 ? true : undefined));
    const files = await line(session.id, `cd ${directory} && for f in history ash_history env; do test -L $f && echo "$f is a link"; done; du -sk . | cut -f1`);
    const [kilobytes, ...links] = files.stdout.trim().split('\n').reverse();
    assert.deepEqual(links, [], files.stdout);
    assert.ok(Number(kilobytes) < 1024, `the state directory stays small: ${kilobytes} KiB`);
    const [layer] = (await docker.listContainers({ all: true, size: true, filters: { id: [session.containerId!] } })) as Array<{ SizeRw?: number }>;
    assert.ok((layer?.SizeRw ?? Infinity) < 64 * 1024 * 1024, `the container's writable layer stays small: ${layer?.SizeRw} bytes`);
    assert.equal((await line(other.id, 'echo still-here')).stdout, 'still-here\n', 'every other session stays responsive');
    const after = rssMb(sidecar.pid!);
    assert.ok(after - before < MEMORY_BOUND_MB, `the sidecar's RSS grew by ${after - before} MB (from ${before} MB)`);
  });

  it('contains a fork bomb: the pids limit holds, the host and other sessions stay responsive, a restart clears it', async () => {
    await sidecar.client.request(P.SetConfigRequest.type, { values: { 'limits.pids': 64 } });
    try {
      const session = await sidecar.newSession('forkbomb');
      const other = await sidecar.newSession('calm');
      await line(session.id, "bomb() { bomb | bomb & }; (bomb) >/dev/null 2>&1 & echo lit");
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const pids = Number((await docker.getContainer(session.containerId!).stats({ stream: false })).pids_stats?.current ?? 0);
      assert.ok(pids <= 64, `the pids limit holds (${pids})`);
      assert.equal((await line(other.id, 'echo calm')).stdout, 'calm\n', 'another session answers');
      // The bombed session: a clear answer, not a hang (its shell may still run builtins).
      const bombed = await execLine(sidecar.client, session.id, 'echo inside', { timeoutMs: 15_000 }).catch((error: Error) => error);
      if (bombed instanceof Error) assert.match(bombed.message, /process limit|processes/i);
      await sidecar.client.request(P.StopSessionRequest.type, { id: session.id });
      await sidecar.startSession(session.workspaceId);
      assert.equal((await line(session.id, 'echo recovered')).stdout, 'recovered\n');
    } finally {
      await sidecar.client.request(P.SetConfigRequest.type, { values: { 'limits.pids': 512 } });
    }
  });

  it('tells why a command died of memory: the out-of-memory kill is in the session state', async () => {
    await sidecar.client.request(P.SetConfigRequest.type, { values: { 'limits.memoryMb': 64 } });
    try {
      const session = await sidecar.newSession('oom');
      const hog = await line(session.id, 'head -c 200000000 /dev/zero | tail > /dev/null; echo "status $?"');
      assert.match(hog.stdout, /status 137/, `the hog is killed (${hog.stdout}${hog.stderr})`);
      const info = await waitFor('the session to say why', async () => {
        const found = (await sidecar.client.request(P.ListSessionsRequest.type, {})).find((s) => s.id === session.id);
        return found?.stateReason && /out of memory/.test(found.stateReason) ? found : undefined;
      });
      assert.match(info.stateReason!, /64 MiB/);
    } finally {
      await sidecar.client.request(P.SetConfigRequest.type, { values: { 'limits.memoryMb': 1024 } });
    }
  });

  it("puts sandboxes on the instance's own network, where one cannot reach another", async () => {
    const serving = await sidecar.newSession('serving');
    const probing = await sidecar.newSession('probing');
    const inspected = await docker.getContainer(serving.containerId!).inspect();
    const networks = Object.keys(inspected.NetworkSettings.Networks ?? {});
    assert.deepEqual(networks, [`sandkasten-${sidecar.instanceId}-sandboxes`]);
    const network = await docker.getNetwork(networks[0]).inspect();
    assert.equal(network.Options?.['com.docker.network.bridge.enable_icc'], 'false');
    assert.equal(network.Labels?.['sandkasten.instance'], sidecar.instanceId);
    const address = inspected.NetworkSettings.Networks![networks[0]].IPAddress;
    await line(serving.id, 'mkdir -p /tmp/www && echo served > /tmp/www/index.html && httpd -p 7777 -h /tmp/www');
    // The control: the server answers (from its own sandbox, and from the host).
    const get = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${address} 7777`;
    await waitFor('the server to answer in its own sandbox', async () => ((await line(serving.id, get)).stdout.includes('served') ? true : undefined));
    const fromHost = await fetch(`http://${address}:7777/`).then((response) => response.text());
    assert.equal(fromHost, 'served\n');
    const across = await line(probing.id, get);
    assert.doesNotMatch(across.stdout, /served/, 'another sandbox cannot reach it');
    assert.match(across.stderr, /timed out|refused|unreachable/i);
  });

  it("keeps sandboxes from the host's own services and link-local addresses with host firewall rules (root, local engine)", async () => {
    const status = await sidecar.client.request(P.StatusRequest.type, {});
    assert.deepEqual(status.hostIsolation, { enforced: true }, 'this machine runs the sidecar as root next to its engine');
    const session = await sidecar.newSession('hostreach');
    const inspected = await docker.getContainer(session.containerId!).inspect();
    const network = Object.values(inspected.NetworkSettings.Networks ?? {})[0];
    const gateway = network.Gateway;
    assert.ok(gateway, 'the sandbox has a bridge gateway');
    // A service of the host, listening on the bridge gateway's address.
    const server = net.createServer((socket) => socket.end('host-secret\n'));
    await new Promise<void>((resolve) => server.listen(0, gateway, resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const tried = await line(session.id, `nc -w 3 ${gateway} ${port} </dev/null; echo "status $?"`);
      assert.doesNotMatch(tried.stdout, /host-secret/, 'the sandbox does not reach the host service');
      const rules = execFileSync('iptables', ['-S'], { encoding: 'utf8' });
      const bridge = `sk-${sidecar.instanceId.slice(0, 12)}`;
      const rule = (chain: string, ...parts: string[]) => rules.split('\n').some((line) => line.startsWith(`-A ${chain} `) && parts.every((part) => line.includes(part)));
      assert.ok(rule('INPUT', `-i ${bridge}`, 'NEW', '-j DROP'), `no new connection to the host:\n${rules}`);
      assert.ok(rule('DOCKER-USER', `-i ${bridge}`, '-d 169.254.0.0/16', '-j DROP'), `no link-local address:\n${rules}`);
      assert.match((await runCli(sidecar.home, ['status'])).stdout, /host services and link-local addresses: blocked/);
    } finally {
      server.close();
    }
  });

  it('keeps an ephemeral workspace off every network', async () => {
    const session = await sidecar.newSession('offline', { kind: 'ephemeral' });
    const routes = await line(session.id, 'cat /proc/net/route');
    assert.equal(routes.stdout.trim().split('\n').length, 1, `no route but the header:\n${routes.stdout}`);
  });

  it("gives the host's network only to a workspace that asked for it, never to an ephemeral one", async () => {
    const refused = await sidecar.client
      .request(P.CreateWorkspaceRequest.type, { name: 'ephemeral-host', kind: 'ephemeral', image: TEST_IMAGE, allowHostNetwork: true })
      .catch((error: { code?: number; message: string }) => error);
    assert.equal((refused as { code?: number }).code, P.ErrorCode.InvalidInput);
    const workspace = await sidecar.createWorkspace('hostnet', { allowHostNetwork: true });
    assert.equal(workspace.hostNetwork, true);
    const session = await sidecar.startSession(workspace.id);
    assert.equal(session.fromPool, false, 'never a pooled container: those are on the sandbox network');
    const inspected = await docker.getContainer(session.containerId!).inspect();
    assert.equal(inspected.HostConfig.NetworkMode, 'host');
    const cli = await runCli(sidecar.home, ['workspace', 'list']);
    assert.match(cli.stdout, /session \(host network\)/);
    const created = await runCli(sidecar.home, ['workspace', 'create', 'clihost', '--image', TEST_IMAGE, '--allow-host-network']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stderr, /warning: .*can reach every service/);
  });

  it('watches disk use: shows it, warns at 80 % of the limit, stops the session at the limit with the reason', async () => {
    await sidecar.client.request(P.SetConfigRequest.type, { values: { 'limits.diskMb': 64, 'limits.diskCheckSeconds': 2 } });
    try {
      const session = await sidecar.newSession('diskfull');
      const written = await line(session.id, 'head -c 54000000 /dev/zero > /workspace/big');
      assert.equal(written.exitCode, 0, `the sandbox wrote its 54 MB: ${written.stderr}`);
      // Failures say what the watch measured (the sidecar logs what it could not measure).
      const measured = () => `(sidecar log:\n${sidecar.logTail(15)})`;
      const warned = await waitFor('the warning', async () => {
        const found = (await sidecar.client.request(P.ListSessionsRequest.type, {})).find((s) => s.id === session.id);
        return found?.stateReason?.startsWith('disk ') ? found : undefined;
      }).catch((error: Error) => assert.fail(`${error.message} ${measured()}`));
      assert.equal(warned.state, 'running');
      assert.match(warned.stateReason!, /^disk (8\d|9\d) % full \(.* of 64\.0 MiB\)/);
      const workspace = (await sidecar.client.request(P.ListWorkspacesRequest.type, {})).find((w) => w.id === session.workspaceId);
      assert.ok((workspace?.diskBytes ?? 0) >= 54_000_000, `the workspace shows its size (${workspace?.diskBytes})`);
      assert.match((await runCli(sidecar.home, ['workspace', 'list'])).stdout, /5\d\.\d MiB/);
      await line(session.id, 'head -c 16000000 /dev/zero > /tmp/more'); // the container's own layer counts too
      const stopped = await waitFor('the stop at the limit', async () => {
        const found = (await sidecar.client.request(P.ListSessionsRequest.type, {})).find((s) => s.id === session.id);
        return found?.state === 'stopped' ? found : undefined;
      }).catch((error: Error) => assert.fail(`${error.message} ${measured()}`));
      assert.match(stopped.stateReason!, /^stopped: disk limit reached \(.* of 64\.0 MiB\)$/);
      await sidecar.removeWorkspace(session.workspaceId);
    } finally {
      await sidecar.client.request(P.SetConfigRequest.type, { values: { 'limits.diskMb': 10240, 'limits.diskCheckSeconds': 60 } });
    }
  });

  it('refuses the host network as a global setting, saying what to do instead', async () => {
    const refused = await sidecar.client.request(P.SetConfigRequest.type, { values: { network: 'host' } }).catch((error: Error) => error);
    assert.ok(refused instanceof Error);
    assert.match(refused.message, /allow-host-network/);
    assert.equal((await sidecar.client.request(P.GetConfigRequest.type, { key: 'network' })).network, 'bridge', 'nothing changed');
  });

  it('lists the engine\'s runtimes in status, and refuses a runtime the engine lacks clearly, leaving nothing behind', async () => {
    const status = await sidecar.client.request(P.StatusRequest.type, {});
    assert.ok(status.docker.runtimes?.includes('runc'), `runtimes: ${JSON.stringify(status.docker.runtimes)}`);
    assert.match((await runCli(sidecar.home, ['status'])).stdout, /^runtimes {2}.*runc/m);
    await sidecar.client.request(P.SetConfigRequest.type, { values: { 'sandbox.runtime': { persistent: 'no-such-runtime' } } });
    try {
      const workspace = await sidecar.createWorkspace('runtime', { kind: 'persistent' });
      const refused = await sidecar.startSession(workspace.id).catch((error: { code?: number; message: string }) => error);
      assert.equal((refused as { code?: number }).code, P.ErrorCode.InvalidInput, (refused as Error).message);
      assert.match((refused as Error).message, /runtime/i);
      assert.deepEqual((await sidecar.client.request(P.ListSessionsRequest.type, { workspaceId: workspace.id })).filter((s) => s.state !== 'stopped'), []);
      await sidecar.removeWorkspace(workspace.id);
    } finally {
      await sidecar.client.request(P.SetConfigRequest.type, { values: { 'sandbox.runtime': {} } });
    }
  });

  it('runs a kind with a read-only root and a non-root user when the settings ask for it', async () => {
    // An image whose /workspace belongs to the user, as the setting asks (a new volume takes that owner).
    const image = 'sandkasten-test/busybox-user:latest';
    execFileSync('docker', ['build', '-q', '-t', image, '-'], { input: `FROM ${TEST_IMAGE}\nRUN mkdir -p /workspace && chown 1000:1000 /workspace\n`, stdio: ['pipe', 'ignore', 'inherit'] });
    await sidecar.client.request(P.SetConfigRequest.type, { values: { 'sandbox.readOnlyRoot': { session: true }, 'sandbox.user': { session: '1000:1000' } } });
    try {
      const session = await sidecar.newSession('locked', { kind: 'session', image });
      const result = await line(session.id, 'id -u; touch /etc/x 2>/dev/null && echo wrote-etc; touch /tmp/t && echo tmp-ok; touch /workspace/w && echo workspace-ok');
      assert.equal(result.stdout, '1000\ntmp-ok\nworkspace-ok\n', result.stderr);
      const inspected = await docker.getContainer(session.containerId!).inspect();
      assert.equal(inspected.HostConfig.ReadonlyRootfs, true);
      assert.equal(inspected.Config.User, '1000:1000');
      await sidecar.removeWorkspace(session.workspaceId);
    } finally {
      await sidecar.client.request(P.SetConfigRequest.type, { values: { 'sandbox.readOnlyRoot': {}, 'sandbox.user': {} } });
      execFileSync('docker', ['rmi', '-f', image], { stdio: 'ignore' });
    }
  });
});

describe('the host side: storage directory, socket, image names', () => {
  const longHome = path.join(makeHome(), 'a-storage-directory-with-a-path-far-too-long-for-a-unix-socket', 'x'.repeat(40));
  fs.mkdirSync(longHome, { recursive: true, mode: 0o700 });
  const sidecar = useSidecar({ home: longHome });

  it('puts the socket of a long storage path in a private directory of its own, and removes it on shutdown', async () => {
    const { socket, socketDirectory } = homePaths(longHome);
    assert.ok(socketDirectory && socket.startsWith(socketDirectory + path.sep), socket);
    const stat = fs.lstatSync(socketDirectory);
    assert.ok(stat.isDirectory() && !stat.isSymbolicLink());
    assert.equal(stat.mode & 0o777, 0o700);
    assert.equal(stat.uid, process.getuid!());
    assert.equal((await runCli(longHome, ['status'])).code, 0, 'the CLI finds it there');
  });

  it('refuses a socket directory another user could have made, before sending it anything', async () => {
    const home = path.join(makeHome(), 'y'.repeat(110));
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    const { socketDirectory } = homePaths(home);
    fs.mkdirSync(socketDirectory!, { mode: 0o777 });
    fs.chmodSync(socketDirectory!, 0o777); // as a listener of another user would leave it
    try {
      const cli = await runCli(home, ['status']);
      assert.notEqual(cli.code, 0);
      assert.match(cli.stderr, /socket directory .* can be written by other users/);
      assert.doesNotMatch(cli.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(fs.existsSync(path.join(home, 'sidecar.pid')), false, 'no sidecar was started');
    } finally {
      fs.rmSync(socketDirectory!, { recursive: true, force: true });
      fs.rmSync(path.dirname(home), { recursive: true, force: true });
    }
  });

  it('refuses a storage directory others can write into, and changes nothing in it', async () => {
    const home = makeHome();
    fs.chmodSync(home, 0o777);
    try {
      const cli = await runCli(home, ['workspace', 'list']);
      assert.notEqual(cli.code, 0);
      assert.match(cli.stderr, /storage directory .* \(mode 0777\).*chmod 700/s);
      assert.deepEqual(fs.readdirSync(home), [], 'nothing was created in it');
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('refuses image references outside Docker\'s grammar with InvalidInput, creating nothing', async () => {
    for (const image of ['../../etc', 'ubuntu/../../containers/json', 'UPPER', 'x:y:z', 'debian@sha256:nothex']) {
      const refused = await sidecar.client.request(P.CreateWorkspaceRequest.type, { name: 'badimage', image }).catch((error: { code?: number; message: string }) => error);
      assert.ok(refused && 'code' in refused, `${image} is refused`);
      assert.equal(refused.code, P.ErrorCode.InvalidInput, `${image}: ${refused.message}`);
      assert.match(refused.message, /not an image reference/);
    }
    assert.deepEqual(await sidecar.client.request(P.ListWorkspacesRequest.type, {}), []);
    const missing = await sidecar.client.request(P.CreateWorkspaceRequest.type, { name: 'noimage', image: 'sandkasten-test/does-not-exist:1' }).catch((error: { code?: number }) => error);
    assert.equal((missing as { code?: number }).code, P.ErrorCode.ImageMissing, 'a well-formed name Docker does not have is ImageMissing, not Internal');
  });
});
