/**
 * Diagnostics on the real engine (issue 18): `sandkasten/doctor` through a real client and
 * `sandkasten doctor` through the real CLI, on a healthy machine, with Docker out of reach, a
 * missing default image, a loosened storage directory and an HTTP API that cannot listen.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { after, describe, it } from 'node:test';
import { P, runCli, useSidecar, type CliResult } from './harness';

const byId = (report: P.DoctorReport) => Object.fromEntries(report.checks.map((check) => [check.id, check])) as Record<P.DoctorCheckId, P.DoctorCheck>;
const problems = (report: P.DoctorReport, statuses: P.DoctorStatus[]) =>
  report.checks.filter((check) => statuses.includes(check.status)).map((check) => `${check.id} ${check.status}: ${check.detail} (fix: ${check.fix ?? '-'})`);

/** The CLI's `doctor --json` output, parsed, with the whole result in the failure message. */
function parsed(result: CliResult): P.DoctorReport {
  try {
    return JSON.parse(result.stdout) as P.DoctorReport;
  } catch {
    assert.fail(`stdout is not JSON (exit ${result.code}): ${result.stdout}\nstderr: ${result.stderr}`);
  }
}

describe('diagnostics on a healthy machine', () => {
  const sidecar = useSidecar();
  const doctor = () => sidecar.client.request(P.DoctorRequest.type, {});

  it('reports every check once, in order, and none fails', async () => {
    const report = await doctor();
    assert.deepEqual(report.checks.map((check) => check.id), Object.keys(P.DOCTOR_CHECK_TITLES));
    assert.deepEqual(problems(report, ['fail', 'skip']), []);
    const checks = byId(report);
    assert.match(checks.docker.detail, /^Docker \d+\.\d+.* \(API 1\.\d+\) at /, 'the version and API version');
    assert.match(checks['storage-driver'].detail, /limits\.diskMb/);
    assert.match(checks.cgroups.detail, /cgroup v[12]/);
    assert.equal(checks.fifo.status, 'pass', checks.fifo.detail);
    assert.equal(checks['storage-directory'].status, 'pass');
    assert.deepEqual(fs.readdirSync(sidecar.home).filter((name) => name.startsWith('doctor-fifo-')), [], 'the probe FIFO is gone');
  });

  it('verifies the hardening on a running sandbox container', async () => {
    const session = await sidecar.newSession('doctor-hardening');
    try {
      const { hardening } = byId(await doctor());
      assert.notEqual(hardening.status, 'fail', hardening.detail);
      assert.match(hardening.detail, new RegExp(`Verified on the running container sandkasten-${sidecar.instanceId}-${session.id}`));
    } finally {
      await sidecar.removeWorkspace(session.workspaceId);
    }
  });

  it('says exactly what to do about a default image neither the engine nor a registry has, and pulls nothing', async () => {
    const missing = 'sandkasten-test/not-there:never';
    await sidecar.client.request(P.SetConfigRequest.type, { values: { defaultImage: missing } });
    try {
      const { images } = byId(await doctor());
      // No registry has it (here no registry is even reachable): the first session would fail.
      assert.equal(images.status, 'fail', images.detail);
      assert.match(images.detail, new RegExp(`Neither on the engine nor pullable: ${missing}, for new workspaces \\(defaultImage\\) \\(the registry: .+\\)`));
      assert.match(images.fix ?? '', /`docker load -i FILE`/);
      assert.match(images.fix ?? '', /`sandkasten config set defaultImage IMAGE`/);
      const local = await sidecar.client.request(P.ListImagesRequest.type, {});
      assert.equal(local.some((image) => image.reference === missing), false, 'doctor pulled nothing');
    } finally {
      await sidecar.client.request(P.SetConfigRequest.type, { values: { defaultImage: null } });
    }
  });

  it('warns about an HTTP API beyond loopback and fails one that cannot listen', async () => {
    await sidecar.client.request(P.SetConfigRequest.type, { values: { 'api.enabled': true, 'api.bindAddress': '0.0.0.0' } });
    const taken = net.createServer();
    try {
      const open = byId(await doctor()).api;
      assert.equal(open.status, 'warn');
      assert.match(open.fix ?? '', /api\.bindAddress 127\.0\.0\.1/);
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const port = (taken.address() as net.AddressInfo).port;
      await sidecar.client.request(P.SetConfigRequest.type, { values: { 'api.bindAddress': '127.0.0.1', 'api.port': port } });
      const blocked = byId(await doctor()).api;
      assert.equal(blocked.status, 'fail');
      assert.match(blocked.detail, /not listening.*EADDRINUSE/);
      assert.doesNotMatch(JSON.stringify(blocked), new RegExp((await sidecar.client.request(P.ApiInfoRequest.type, {})).token), 'the token is never shown');
    } finally {
      taken.close();
      await sidecar.client.request(P.SetConfigRequest.type, { values: { 'api.enabled': null, 'api.bindAddress': null, 'api.port': null } });
    }
  });

  it('`sandkasten doctor` prints a line per check and exits 0; --json parses', async () => {
    const human = await runCli(sidecar.home, ['doctor']);
    assert.equal(human.code, 0, human.stdout + human.stderr);
    assert.match(human.stdout, /^PASS {2}Docker engine: Docker /m);
    assert.match(human.stdout, /\d+ passed, \d+ warnings?, 0 failed\.$/m);
    const json = await runCli(sidecar.home, ['doctor', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const report = parsed(json);
    assert.equal(report.summary.fail, 0);
    assert.equal(report.checks.length, Object.keys(P.DOCTOR_CHECK_TITLES).length);
  });

  it('`sandkasten doctor --help` explains the exit codes; arguments are bad usage', async () => {
    const help = await runCli(sidecar.home, ['doctor', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /1 at least one check failed/);
    const bad = await runCli(sidecar.home, ['doctor', 'now']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /doctor takes no arguments/);
  });

  // Last: while it is loose, no client of the directory may connect.
  describe('with a storage directory others can write', () => {
    after(() => fs.chmodSync(sidecar.home, 0o700));

    it('fails the storage directory line with `chmod 700 DIR`, from the sidecar and from the CLI', async () => {
      fs.chmodSync(sidecar.home, 0o777);
      const { 'storage-directory': directory } = byId(await doctor());
      assert.equal(directory.status, 'fail');
      assert.equal(directory.fix, `chmod 700 ${sidecar.home}`);
      assert.match(directory.detail, /mode 0777/);

      // The CLI refuses to connect through a directory others control, and says why.
      const result = await runCli(sidecar.home, ['doctor', '--json']);
      assert.equal(result.code, 1, result.stderr);
      const report = parsed(result);
      assert.deepEqual(report.checks.map((check) => [check.id, check.status]), [
        ['sidecar', 'fail'],
        ['storage-directory', 'fail'],
      ]);
      assert.match(report.checks[0].detail, /can be written by other users/);
      assert.equal(report.checks[1].fix, `chmod 700 ${sidecar.home}`);
    });
  });
});

describe('diagnostics with Docker out of reach', () => {
  const env = { ...process.env, DOCKER_HOST: 'unix:///tmp/sandkasten-doctor-no-docker.sock' };
  const { home } = useSidecar({ env, connect: 'after' });

  it('`sandkasten doctor` fails the Docker line with what to do, skips what needs the engine, and exits 1', async () => {
    const result = await runCli(home, ['doctor', '--json'], env);
    assert.equal(result.code, 1, result.stderr);
    const report = parsed(result);
    const checks = byId(report);
    assert.equal(checks.docker.status, 'fail');
    assert.match(checks.docker.detail, /not reachable at unix:\/\/\/tmp\/sandkasten-doctor-no-docker\.sock \(DOCKER_HOST\)/);
    assert.match(checks.docker.fix ?? '', /chosen by DOCKER_HOST/);
    for (const id of ['storage-driver', 'cgroups', 'images', 'pool', 'hardening', 'network', 'runtime'] as const) {
      assert.equal(checks[id].status, 'skip', `${id}: ${checks[id].detail}`);
    }
    assert.equal(checks.sidecar.status, 'pass');
    assert.equal(checks['storage-directory'].status, 'pass');

    const human = await runCli(home, ['doctor'], env);
    assert.equal(human.code, 1);
    assert.match(human.stdout, /^FAIL {2}Docker engine: .*\n {6}fix: Start the engine at unix:\/\/\/tmp\/sandkasten-doctor-no-docker\.sock \(chosen by DOCKER_HOST\)/m);
    assert.match(human.stdout, /^SKIP {2}Images: Skipped: Docker is not reachable/m);
  });
});
