/**
 * Diagnostics (issue 18, `sandkasten doctor`): every check's pass, warn and fail from staged
 * facts (a fake engine, temporary directories, settings), the report's shape, and the lines a
 * person reads in the CLI and in VS Code.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { formatDoctorReport } from '../../cli/doctor';
import { defaultSettings, type SettingsValues } from '../../sidecar/client/configSchema';
import { DOCTOR_CHECK_TITLES, doctorCheck, doctorReport, type DoctorCheck, type DoctorReport } from '../../sidecar/client/doctorProtocol';
import { homePaths } from '../../sidecar/client/home';
import { shellQuote, storageDirectoryCheck, unreachableSidecarReport } from '../../sidecar/client/localDiagnosis';
import type { ApiInfo, DockerStatus, PoolStatus } from '../../sidecar/client/protocol';
import { engineInfoOf } from '../../sidecar/docker/dockerEngine';
import { LABEL, SANDBOX_CAPABILITIES, type EngineInfo } from '../../sidecar/docker/engine';
import { CHECK_DEADLINE_MS, Doctor, type DoctorDependencies } from '../../sidecar/doctor/doctor';
import { cgroupsCheck, dockerCheck, runtimeCheck, storageDriverCheck } from '../../sidecar/doctor/engineChecks';
import { apiCheck, fifoCheck, listenersCheck, makeFifo, type FifoFacts } from '../../sidecar/doctor/hostChecks';
import { hardeningCheck, hardeningGaps, imagesCheck, networkCheck, poolCheck } from '../../sidecar/doctor/sandboxChecks';
import { diagnosticsMarkdown } from '../../src/commands/diagnosticsMarkdown';
import { FakeClock } from './fakes/clock';
import { FAKE_ENGINE_INFO, FakeEngine } from './fakes/engine';

const UID = typeof process.getuid === 'function' ? process.getuid() : 0;
const settings = (changes: Partial<SettingsValues> = {}): SettingsValues => ({ ...defaultSettings(), ...changes });

function engineInfo(changes: Partial<EngineInfo> = {}): EngineInfo {
  return { ...structuredClone(FAKE_ENGINE_INFO), version: '27.3.1', apiVersion: '1.47', operatingSystem: 'Debian GNU/Linux 12 (bookworm)', ...changes };
}

const AVAILABLE: DockerStatus = { available: true, version: '27.3.1', endpoint: '/var/run/docker.sock' };

/** Temporary directories, removed after each test (modes restored first so rm can enter). */
const made: string[] = [];
function tempDirectory(mode = 0o700): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-doctor-'));
  fs.chmodSync(directory, mode);
  made.push(directory);
  return directory;
}
afterEach(() => {
  for (const directory of made.splice(0)) {
    fs.chmodSync(directory, 0o700);
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

describe('the report', () => {
  it('names every check by a stable id with its title, and counts each status', () => {
    const report = doctorReport([doctorCheck('docker', 'fail', 'down', 'start it'), doctorCheck('pool', 'skip', 'skipped'), doctorCheck('api', 'pass', 'off')]);
    assert.deepEqual(report.summary, { pass: 1, warn: 0, fail: 1, skip: 1 });
    assert.deepEqual(report.checks[0], { id: 'docker', title: 'Docker engine', status: 'fail', detail: 'down', fix: 'start it' });
    assert.equal('fix' in report.checks[2], false, 'a line without a fix has no fix field');
  });

  it('prints one line per check for people, the fix indented under it, and what to do last', () => {
    const text = formatDoctorReport(doctorReport([doctorCheck('docker', 'pass', 'Docker 27'), doctorCheck('storage-directory', 'fail', '/x has mode 0777.', 'chmod 700 /x'), doctorCheck('pool', 'skip', 'Skipped.')]));
    assert.deepEqual(text.split('\n'), [
      'PASS  Docker engine: Docker 27',
      'FAIL  Storage directory: /x has mode 0777.',
      '      fix: chmod 700 /x',
      'SKIP  Pool: Skipped.',
      '',
      '1 passed, 0 warnings, 1 failed, 1 skipped: fix what failed, then run sandkasten doctor again.',
    ]);
    assert.equal(formatDoctorReport(doctorReport([doctorCheck('api', 'warn', 'open', 'close it')])).split('\n').at(-1), '0 passed, 1 warning, 0 failed.');
  });

  it('shows failures first in the Markdown report, keeps commands as code and escapes everything else', () => {
    const report = doctorReport([
      doctorCheck('api', 'pass', 'Off.'),
      doctorCheck('images', 'warn', 'Not on the engine: [evil](command:workbench.action.quit) <img src=x>.', 'Pull now: `docker pull busybox`.'),
      doctorCheck('storage-directory', 'fail', '/tmp/x has mode 0777.', 'chmod 700 /tmp/x'),
    ]);
    const markdown = diagnosticsMarkdown(report, '/tmp/x');
    const headings = markdown.split('\n').filter((line) => line.startsWith('## '));
    assert.deepEqual(headings, ['## ✗ Failed: Storage directory', '## ⚠ Warning: Images', '## ✓ Passed: HTTP API binding']);
    assert.match(markdown, /\*\*What to do:\*\* Pull now\\: `docker pull busybox`/);
    assert.match(markdown, /\*\*What to do:\*\* `chmod 700 \/tmp\/x`/, 'a fix that is a bare command is code');
    assert.doesNotMatch(markdown, /\[evil\]\(command:/, 'a link from the engine stays text');
    assert.doesNotMatch(markdown, /(?<!\\)<img/, 'HTML from the engine stays text (escaped)');
    assert.match(markdown, /1 passed, 1 warning, 1 failed/);
  });
});

describe('the Docker engine check', () => {
  it('passes with the version, the API version and where the engine is', () => {
    const check = dockerCheck(AVAILABLE, engineInfo(), undefined);
    assert.equal(check.status, 'pass');
    assert.match(check.detail, /Docker 27\.3\.1 \(API 1\.47\) at \/var\/run\/docker\.sock/);
  });

  it('fails when Docker is not reachable, saying how to start it', () => {
    const check = dockerCheck({ available: false, endpoint: '/var/run/docker.sock', error: 'Docker is not reachable at /var/run/docker.sock (connect ECONNREFUSED).' }, undefined, undefined);
    assert.equal(check.status, 'fail');
    assert.match(check.detail, /ECONNREFUSED/);
    assert.match(check.fix ?? '', /systemctl start docker/);
    assert.match(check.fix ?? '', /DOCKER_HOST/);
  });

  it('points at what chose the engine (DOCKER_HOST, a setting, a context), and at the docker group when the socket is refused', () => {
    const viaHost = dockerCheck({ available: false, endpoint: 'unix:///tmp/nothing.sock (DOCKER_HOST)', error: 'connect ENOENT /tmp/nothing.sock' }, undefined, undefined);
    assert.match(viaHost.fix ?? '', /chosen by DOCKER_HOST/);
    const viaSetting = dockerCheck({ available: false, endpoint: 'tcp://box:2375 (setting docker.host)', transport: 'tcp', error: 'connect ECONNREFUSED' }, undefined, undefined);
    assert.match(viaSetting.fix ?? '', /chosen by setting docker\.host/);
    const viaContext = dockerCheck({ available: false, endpoint: 'tcp://box:2376 (current Docker context "box")', transport: 'tls', error: 'connect ECONNREFUSED' }, undefined, undefined);
    assert.match(viaContext.fix ?? '', /current Docker context/);
    const denied = dockerCheck({ available: false, endpoint: '/var/run/docker.sock', error: 'connect EACCES /var/run/docker.sock' }, undefined, undefined);
    assert.match(denied.fix ?? '', /usermod -aG docker/);
  });

  it('says how to fix ssh and TLS failures, warns about plain TCP and fails on an engine the storage directory does not belong to', () => {
    const ssh = dockerCheck({ available: false, endpoint: 'ssh://me@box (DOCKER_HOST)', transport: 'ssh', error: 'Docker is not reachable at ssh://me@box: ssh to me@box was refused.' }, undefined, undefined);
    assert.match(ssh.fix ?? '', /known_hosts/);
    const tls = dockerCheck({ available: false, endpoint: 'tcp://box:2376 (DOCKER_HOST)', transport: 'tls', error: "the engine's TLS certificate is not signed by the CA in ca.pem" }, undefined, undefined);
    assert.match(tls.fix ?? '', /DOCKER_CERT_PATH/);
    const plain = dockerCheck({ ...AVAILABLE, transport: 'tcp', roundTripMs: 3 }, engineInfo({}), undefined);
    assert.equal(plain.status, 'warn');
    assert.match(plain.detail, /plain TCP, 3 ms round trip.*controls the engine/);
    const overSsh = dockerCheck({ ...AVAILABLE, transport: 'ssh', roundTripMs: 12.5 }, engineInfo({}), undefined);
    assert.equal(overSsh.status, 'pass');
    assert.match(overSsh.detail, /over ssh, 12\.5 ms round trip/);
    const mismatch = dockerCheck(
      { ...AVAILABLE, mismatch: { boundTo: { id: 'A', name: 'laptop', endpoint: 'unix:///var/run/docker.sock' }, current: { id: 'B', name: 'build-box', endpoint: 'ssh://me@box' } } },
      engineInfo({}),
      undefined,
    );
    assert.equal(mismatch.status, 'fail');
    assert.match(mismatch.detail, /"laptop".*"build-box"/);
    assert.match(mismatch.fix ?? '', /sandkasten engine switch/);
  });

  it('warns about an old engine, about its own warnings, and when `docker info` fails', () => {
    assert.equal(dockerCheck(AVAILABLE, engineInfo({ version: '19.03.15' }), undefined).status, 'warn');
    assert.equal(dockerCheck(AVAILABLE, engineInfo({ version: '20.10.24+dfsg1' }), undefined).status, 'pass');
    assert.equal(dockerCheck(AVAILABLE, engineInfo({ version: 'master-dockerproject-2025' }), undefined).status, 'pass', 'an unparsable version is not judged');
    const warned = dockerCheck(AVAILABLE, engineInfo({ warnings: ['WARNING: bridge-nf-call-iptables is disabled'] }), undefined);
    assert.equal(warned.status, 'warn');
    assert.match(warned.detail, /bridge-nf-call-iptables/);
    const noInfo = dockerCheck(AVAILABLE, undefined, 'socket hang up');
    assert.equal(noInfo.status, 'warn');
    assert.match(noInfo.detail, /socket hang up/);
  });
});

describe("what the engine's info is read as", () => {
  it('reads `docker info` and `docker version` as Docker sends them', () => {
    const info = engineInfoOf(
      {
        Driver: 'overlay2',
        DriverStatus: [['Backing Filesystem', 'xfs'], ['Supports d_type', 'true']],
        CgroupVersion: '2',
        CgroupDriver: 'systemd',
        SecurityOptions: ['name=seccomp,profile=builtin', 'name=rootless'],
        Runtimes: { runsc: { path: 'runsc' }, runc: { path: 'runc' }, crun: {} },
        DefaultRuntime: 'runc',
        MemoryLimit: true,
        SwapLimit: false,
        PidsLimit: true,
        CpuCfsQuota: true,
        OperatingSystem: 'Ubuntu 24.04 LTS',
        KernelVersion: '6.8.0',
        Warnings: ['WARNING: No swap limit support'],
      },
      { Version: '27.3.1', ApiVersion: '1.47' },
    );
    assert.equal(info.version, '27.3.1');
    assert.equal(info.apiVersion, '1.47');
    assert.deepEqual(info.runtimes, ['runc', 'crun', 'runsc'], 'the default first, then by name');
    assert.deepEqual(info.driverStatus, { 'Backing Filesystem': 'xfs', 'Supports d_type': 'true' });
    assert.deepEqual(info.limits, { memory: true, swap: false, pids: true, cpuQuota: true });
    assert.deepEqual(info.warnings, ['WARNING: No swap limit support']);
  });

  it('turns whatever else comes into short plain text, and missing limits into supported ones', () => {
    const info = engineInfoOf({ Driver: 42, OperatingSystem: `evil\u001b[31m\nname${'x'.repeat(1000)}`, DriverStatus: [['only one'], 'nope'], SecurityOptions: 'nope', Warnings: Array(100).fill('w'), Runtimes: null }, null);
    assert.equal(info.storageDriver, '');
    assert.doesNotMatch(info.operatingSystem, /[\u0000-\u001f]/, 'no control characters');
    assert.ok(info.operatingSystem.length <= 300);
    assert.deepEqual(info.driverStatus, {});
    assert.deepEqual(info.securityOptions, []);
    assert.equal(info.warnings.length, 20);
    assert.deepEqual(info.runtimes, []);
    assert.deepEqual(info.limits, { memory: true, swap: true, pids: true, cpuQuota: true });
    assert.equal(info.version, '');
  });
});

describe('the storage driver and disk limits check', () => {
  const limits = settings({ 'limits.diskMb': 2048, 'limits.diskCheckSeconds': 30 });

  it('passes overlay2 and says truthfully how limits.diskMb is enforced', () => {
    const check = storageDriverCheck(engineInfo(), limits);
    assert.equal(check.status, 'pass');
    assert.match(check.detail, /^overlay2 on extfs\./);
    assert.match(check.detail, /2\.0 GiB a workspace.*measuring.*every 30 s.*stopping its session/);
    assert.match(check.detail, /no hard size limit/);
  });

  it('fails overlay2 without d_type, and warns about vfs and deprecated drivers with how to switch', () => {
    assert.equal(storageDriverCheck(engineInfo({ driverStatus: { 'Backing Filesystem': 'xfs', 'Supports d_type': 'false' } }), limits).status, 'fail');
    for (const driver of ['vfs', 'devicemapper', 'aufs']) {
      const check = storageDriverCheck(engineInfo({ storageDriver: driver, driverStatus: {} }), limits);
      assert.equal(check.status, 'warn', driver);
      assert.match(check.fix ?? '', /"storage-driver": "overlay2"/);
    }
    assert.equal(storageDriverCheck(engineInfo({ storageDriver: 'btrfs', driverStatus: {} }), limits).status, 'pass');
  });
});

describe('the cgroups check', () => {
  it('passes when every limit applies, naming the version and driver', () => {
    const check = cgroupsCheck(engineInfo());
    assert.equal(check.status, 'pass');
    assert.match(check.detail, /cgroup v2 \(driver systemd\)/);
    assert.equal(cgroupsCheck(engineInfo({ cgroupVersion: '1', cgroupDriver: 'cgroupfs' })).status, 'pass', 'cgroup v1 applies the limits too');
  });

  it('fails without memory or process limits, and warns without swap or CPU limits', () => {
    const noMemory = cgroupsCheck(engineInfo({ limits: { memory: false, swap: false, pids: true, cpuQuota: true } }));
    assert.equal(noMemory.status, 'fail');
    assert.match(noMemory.detail, /memory/);
    assert.match(noMemory.fix ?? '', /cgroup_enable=memory/);
    const rootless = cgroupsCheck(engineInfo({ cgroupVersion: '1', securityOptions: ['name=rootless'], limits: { memory: false, swap: false, pids: false, cpuQuota: false } }));
    assert.match(rootless.fix ?? '', /Rootless Docker applies limits only on cgroup v2/);
    const noSwap = cgroupsCheck(engineInfo({ limits: { memory: true, swap: false, pids: true, cpuQuota: true } }));
    assert.equal(noSwap.status, 'warn');
    assert.match(noSwap.fix ?? '', /swapaccount=1/);
    assert.equal(cgroupsCheck(engineInfo({ limits: { memory: true, swap: true, pids: true, cpuQuota: false } })).status, 'warn');
  });
});

describe('the container runtime check', () => {
  it("passes with the engine's default, and hints at gVisor when the engine has it", () => {
    assert.equal(runtimeCheck(engineInfo(), {}).status, 'pass');
    assert.match(runtimeCheck(engineInfo({ runtimes: ['runc', 'runsc'] }), {}).detail, /also has runsc/);
    const chosen = runtimeCheck(engineInfo({ runtimes: ['runc', 'runsc'] }), { ephemeral: 'runsc' });
    assert.equal(chosen.status, 'pass');
    assert.match(chosen.detail, /ephemeral: runsc; other kinds: runc/);
  });

  it('fails when sandbox.runtime names a runtime the engine lacks, naming the kinds', () => {
    const check = runtimeCheck(engineInfo({ runtimes: ['runc'] }), { ephemeral: 'runsc', session: 'kata' });
    assert.equal(check.status, 'fail');
    assert.match(check.detail, /runsc \(ephemeral\), kata \(session\)/);
    assert.match(check.fix ?? '', /config reset sandbox.runtime/);
  });
});

describe('the images check', () => {
  it('passes when the default image is on the engine, naming one image once', async () => {
    const engine = new FakeEngine({ images: ['debian:bookworm-slim'] });
    const check = await imagesCheck(engine, settings());
    assert.equal(check.status, 'pass');
    assert.equal(check.detail, 'debian:bookworm-slim on the engine.');
    assert.equal(engine.callsTo('hasImage').length, 1, 'the image both settings name is looked up once');
    assert.equal(engine.callsTo('ensureImage').length, 0, 'nothing is pulled');
  });

  it('warns about a missing image the registry has with the exact commands: pull it, or name another', async () => {
    const engine = new FakeEngine({ images: ['debian:bookworm-slim'] });
    engine.pullable.add('example.com/missing:1');
    const check = await imagesCheck(engine, settings({ defaultImage: 'example.com/missing:1' }));
    assert.equal(check.status, 'warn');
    assert.match(check.detail, /example\.com\/missing:1, for new workspaces \(defaultImage\)/);
    assert.match(check.fix ?? '', /`docker pull example\.com\/missing:1`/);
    assert.match(check.fix ?? '', /`sandkasten config set defaultImage IMAGE`/);
    assert.doesNotMatch(check.fix ?? '', /lifecycle\.archiveImage/, 'the archive image is there');
  });

  it('fails for a missing image no registry has, with the registry\'s reason and what to do instead', async () => {
    const engine = new FakeEngine({ images: ['debian:bookworm-slim'] });
    const check = await imagesCheck(engine, settings({ defaultImage: 'example.com/missing:1' }));
    assert.equal(check.status, 'fail');
    assert.match(check.detail, /Neither on the engine nor pullable: example\.com\/missing:1, for new workspaces \(defaultImage\) \(the registry: .*no such host\)/);
    assert.match(check.fix ?? '', /`docker load -i FILE`/);
    assert.match(check.fix ?? '', /`sandkasten config set defaultImage IMAGE`/);
    assert.equal(engine.callsTo('whyNotPullable').length, 1, 'only the missing image is asked about');
  });
});

describe('the pool check', () => {
  const pool = (changes: Partial<PoolStatus> = {}): PoolStatus => ({ enabled: true, images: [], ...changes });

  it('passes when off, empty or filling, with the fill level', () => {
    assert.match(poolCheck(pool({ enabled: false })).detail, /Turned off/);
    assert.match(poolCheck(pool()).detail, /pool\.images/);
    const filling = poolCheck(pool({ images: [{ image: 'busybox', ready: 1, target: 3, refilling: 2 }] }));
    assert.equal(filling.status, 'pass');
    assert.match(filling.detail, /busybox 1\/3 ready \(2 being made\)/);
  });

  it('warns when an image cannot fill, with its reason', () => {
    const check = poolCheck(pool({ images: [{ image: 'nope:1', ready: 0, target: 2, refilling: 0, error: 'pull access denied' }] }));
    assert.equal(check.status, 'warn');
    assert.match(check.detail, /nope:1: pull access denied/);
    assert.match(check.fix ?? '', /pool\.images/);
  });
});

describe('the sandbox hardening check', () => {
  const sandboxHostConfig = { Privileged: false, CapDrop: ['ALL'], CapAdd: [...SANDBOX_CAPABILITIES], SecurityOpt: ['no-new-privileges:true'] };

  function engineWith(hostConfig: unknown): FakeEngine {
    const engine = new FakeEngine();
    const id = engine.addContainer({ name: 'sandkasten-x-ses-1', role: 'session', labels: { [LABEL.session]: 'ses-1' } });
    engine.inspectContainerRaw = async (containerId: string) => (containerId === id ? { HostConfig: hostConfig } : undefined);
    return engine;
  }

  it('passes and says it verified a running container that has every measure', async () => {
    const check = await hardeningCheck(engineWith(sandboxHostConfig), engineInfo());
    assert.equal(check.status, 'pass');
    assert.match(check.detail, /drop every capability but CHOWN/);
    assert.match(check.detail, /seccomp \(profile builtin\)/);
    assert.match(check.detail, /Verified on the running container sandkasten-x-ses-1/);
  });

  it('fails when a running sandbox lacks a measure, and says how to get a new container', async () => {
    const check = await hardeningCheck(engineWith({ ...sandboxHostConfig, Privileged: true, CapAdd: ['CAP_SYS_ADMIN', 'CHOWN'], SecurityOpt: [] }), engineInfo());
    assert.equal(check.status, 'fail');
    assert.match(check.detail, /privileged; it keeps SYS_ADMIN; no-new-privileges is off/);
    assert.match(check.fix ?? '', /sandkasten session stop ses-1/);
  });

  it('names each gap of a container, and none of one made as sandboxes are', () => {
    assert.deepEqual(hardeningGaps(sandboxHostConfig), []);
    assert.deepEqual(hardeningGaps({ ...sandboxHostConfig, CapAdd: ['cap_chown'] }), [], 'capability names in any spelling');
    assert.deepEqual(hardeningGaps({ CapDrop: null, CapAdd: null, SecurityOpt: null }), ['not every capability is dropped', 'no-new-privileges is off']);
    assert.deepEqual(hardeningGaps(undefined), ['no host configuration']);
  });

  it('warns when the engine applies no seccomp profile, and passes without a running sandbox to verify', async () => {
    const noSeccomp = await hardeningCheck(new FakeEngine(), engineInfo({ securityOptions: [] }));
    assert.equal(noSeccomp.status, 'warn');
    assert.match(noSeccomp.fix ?? '', /seccomp/);
    assert.equal((await hardeningCheck(new FakeEngine(), engineInfo({ securityOptions: ['name=seccomp,profile=unconfined'] }))).status, 'warn');
    const idle = await hardeningCheck(new FakeEngine(), engineInfo({ securityOptions: ['name=seccomp,profile=default', 'name=rootless'] }));
    assert.equal(idle.status, 'pass');
    assert.match(idle.detail, /rootless engine/);
    assert.doesNotMatch(idle.detail, /Verified/);
  });
});

describe('the network isolation check', () => {
  it('passes when host firewall rules guard the bridge, listing each kind', () => {
    const check = networkCheck(settings(), { enforced: true });
    assert.equal(check.status, 'pass');
    assert.match(check.detail, /^ephemeral: no network; session, persistent, collaborative: Sandkasten's own bridge/);
  });

  it('warns when bridged sandboxes can reach the host, with why and what to do', () => {
    const check = networkCheck(settings(), { enforced: false, reason: 'the sidecar does not run as root, so it cannot add firewall rules' });
    assert.equal(check.status, 'warn');
    assert.match(check.detail, /169\.254\.169\.254.*not run as root/);
    assert.match(check.fix ?? '', /sandbox\.network/);
  });

  it('passes without firewall rules when no kind has a network', () => {
    const check = networkCheck(settings({ network: 'none' }), { enforced: false, reason: 'not root' });
    assert.equal(check.status, 'pass');
    assert.match(check.detail, /ephemeral, session, persistent, collaborative: no network/);
    assert.equal(networkCheck(settings({ 'sandbox.network': { session: 'none' } }), { enforced: true }).detail.startsWith('ephemeral, session: no network'), true);
  });
});

describe('the FIFO fast path check', () => {
  function facts(changes: Partial<FifoFacts> = {}): FifoFacts {
    const home = tempDirectory();
    return { engineIsLocal: true, endpoint: '/var/run/docker.sock', home, pipes: path.join(home, 'pipes'), makeFifo, ...changes };
  }

  it('passes on a local engine when a FIFO made in the storage directory carries bytes, and leaves nothing behind', async () => {
    const staged = facts();
    const check = await fifoCheck(staged);
    assert.equal(check.status, 'pass', check.detail);
    assert.deepEqual(fs.readdirSync(staged.home), [], 'the probe FIFO is gone');
  });

  it('warns when no FIFO can be made, or the pipe directory cannot be used', async () => {
    const failing = await fifoCheck(facts({ makeFifo: () => Promise.reject(Object.assign(new Error('spawn mkfifo ENOENT'), { code: 'ENOENT' })) }));
    assert.equal(failing.status, 'warn');
    assert.match(failing.detail, /No FIFO could be made.*mkfifo ENOENT/);
    assert.match(failing.fix ?? '', /local file system/);
    const staged = facts();
    fs.writeFileSync(staged.pipes, 'not a directory');
    assert.match((await fifoCheck(staged)).detail, /is not a directory/);
  });

  it('warns when turned off', async () => {
    const off = await fifoCheck(facts({ directPipesSetting: 'off' }));
    assert.equal(off.status, 'warn');
    assert.match(off.fix ?? '', /Unset SANDKASTEN_DIRECT_PIPES/);
  });

  it('passes a remote engine (nothing to fix) and warns about Docker Desktop', async () => {
    const remote = await fifoCheck(facts({ engineIsLocal: false, endpoint: 'tcp://10.0.0.5:2375 (DOCKER_HOST)' }));
    assert.equal(remote.status, 'pass');
    assert.match(remote.detail, /not on this machine/);
    assert.equal((await fifoCheck(facts({ operatingSystem: 'Docker Desktop' }))).status, 'warn');
  });
});

describe('the storage directory check', () => {
  it('passes an owner-only directory of this user', () => {
    const home = tempDirectory();
    const check = storageDirectoryCheck(homePaths(home), UID);
    assert.equal(check.status, 'pass');
  });

  it('fails a directory others can write or enter, with `chmod 700 DIR`', () => {
    for (const mode of [0o777, 0o755, 0o750]) {
      const home = tempDirectory(mode);
      const check = storageDirectoryCheck(homePaths(home), UID);
      assert.equal(check.status, 'fail', mode.toString(8));
      assert.equal(check.fix, `chmod 700 ${home}`);
      assert.match(check.detail, new RegExp(`mode 0${mode.toString(8)}`));
    }
  });

  it("fails one of another user, and files others may read with `chmod 600`", () => {
    const home = tempDirectory();
    const other = storageDirectoryCheck(homePaths(home), UID + 1);
    assert.equal(other.status, 'fail');
    assert.match(other.detail, /belongs to another user/);
    fs.writeFileSync(path.join(home, 'api-token'), 'secret\n', { mode: 0o644 });
    fs.writeFileSync(path.join(home, 'state.sqlite'), '', { mode: 0o600 });
    const open = storageDirectoryCheck(homePaths(home), UID);
    assert.equal(open.status, 'fail');
    assert.equal(open.fix, `chmod 600 ${path.join(home, 'api-token')}`);
    assert.doesNotMatch(open.detail, /secret/, 'what is in the file is never shown');
  });

  it('passes a directory not made yet, fails a file in its place, and checks a long path’s socket directory', () => {
    const base = tempDirectory();
    assert.equal(storageDirectoryCheck(homePaths(path.join(base, 'later')), UID).status, 'pass');
    fs.writeFileSync(path.join(base, 'file'), '');
    assert.equal(storageDirectoryCheck(homePaths(path.join(base, 'file')), UID).status, 'fail');
    const socketDirectory = tempDirectory(0o777);
    const check = storageDirectoryCheck({ home: base, socketDirectory }, UID);
    assert.equal(check.fix, `chmod 700 ${socketDirectory}`);
  });

  it('quotes a path that needs it in the command to copy', () => {
    assert.equal(shellQuote('/tmp/plain-dir_1'), '/tmp/plain-dir_1');
    assert.equal(shellQuote("/tmp/it's here"), `'/tmp/it'\\''s here'`);
  });
});

describe('the HTTP API and listener checks', () => {
  const api = (changes: Partial<ApiInfo> = {}): ApiInfo => ({ enabled: true, bindAddress: '127.0.0.1', token: 'TOKEN-SECRET', url: 'http://127.0.0.1:4321', port: 4321, ...changes });

  it('passes when off or on loopback, and never shows the token', () => {
    assert.equal(apiCheck(api({ enabled: false, url: undefined })).status, 'pass');
    const on = apiCheck(api());
    assert.equal(on.status, 'pass');
    assert.match(on.detail, /http:\/\/127\.0\.0\.1:4321/);
    for (const check of [on, apiCheck(api({ bindAddress: '0.0.0.0', url: 'http://127.0.0.1:4321', warning: 'reachable' })), apiCheck(api({ url: undefined, error: 'EADDRINUSE' }))]) {
      assert.doesNotMatch(JSON.stringify(check), /TOKEN-SECRET/);
    }
  });

  it('warns beyond loopback and fails when on but not listening', () => {
    const open = apiCheck(api({ bindAddress: '0.0.0.0', warning: 'the HTTP API listens on 0.0.0.0, reachable from the network, without TLS' }));
    assert.equal(open.status, 'warn');
    assert.match(open.fix ?? '', /config set api\.bindAddress 127\.0\.0\.1/);
    const broken = apiCheck(api({ url: undefined, port: undefined, error: 'listen EADDRINUSE: address already in use 127.0.0.1:4321' }));
    assert.equal(broken.status, 'fail');
    assert.match(broken.detail, /EADDRINUSE/);
  });

  it('warns when shares or forwarded ports listen beyond loopback', () => {
    assert.equal(listenersCheck(settings()).status, 'pass');
    const open = listenersCheck(settings({ 'ports.bindAddress': '0.0.0.0' }));
    assert.equal(open.status, 'warn');
    assert.match(open.detail, /forwarded ports.*0\.0\.0\.0/);
    assert.equal(open.fix, 'Unless that is meant: `sandkasten config set ports.bindAddress 127.0.0.1`.');
  });
});

describe('the doctor', () => {
  function doctorWith(changes: Partial<DoctorDependencies> & { engine?: FakeEngine } = {}) {
    const home = tempDirectory();
    const engine = changes.engine ?? new FakeEngine({ images: ['debian:bookworm-slim'] });
    const clock = new FakeClock();
    const errors: string[] = [];
    const doctor = new Doctor({
      engine,
      config: { current: settings() },
      pool: { status: () => ({ enabled: true, images: [] }) },
      api: { info: async () => ({ enabled: false, bindAddress: '127.0.0.1', token: 't' }) },
      hostIsolation: () => ({ enforced: true }),
      sidecar: () => ({ version: '0.1.0', pid: 42, instanceId: 'fakeinstance', clients: 1, startedAt: '2025-01-01T00:00:00.000Z' }),
      paths: homePaths(home),
      clock,
      log: { info: () => undefined, error: (message) => errors.push(message) },
      env: {},
      uid: UID,
      ...changes,
    });
    return { doctor, engine, clock, errors, home };
  }

  const byId = (report: DoctorReport) => Object.fromEntries(report.checks.map((check) => [check.id, check])) as Record<string, DoctorCheck>;

  it('reports every check once, in order, and nothing fails on a healthy machine', async () => {
    const report = await doctorWith().doctor.run();
    assert.deepEqual(report.checks.map((check) => check.id), Object.keys(DOCTOR_CHECK_TITLES));
    assert.deepEqual(
      report.checks.filter((check) => check.status !== 'pass').map((check) => `${check.id}: ${check.detail}`),
      [],
    );
    assert.equal(report.summary.pass, report.checks.length);
  });

  it('fails the Docker line and skips what needs the engine when Docker is not reachable', async () => {
    const { doctor, engine } = doctorWith();
    engine.available = false;
    const report = await doctor.run();
    const checks = byId(report);
    assert.equal(checks.docker.status, 'fail');
    assert.ok(checks.docker.fix);
    for (const id of ['storage-driver', 'cgroups', 'images', 'pool', 'hardening', 'network', 'runtime']) {
      assert.equal(checks[id].status, 'skip', id);
      assert.match(checks[id].detail, /Docker is not reachable/);
    }
    for (const id of ['sidecar', 'storage-directory', 'api', 'listeners', 'fifo']) assert.equal(checks[id].status, 'pass', id);
    assert.deepEqual(report.summary, { pass: 5, warn: 0, fail: 1, skip: 7 });
  });

  it('warns on the Docker line and skips what needs `docker info` when only that fails', async () => {
    const { doctor, engine } = doctorWith();
    engine.failNext('engineInfo', new Error('socket hang up'));
    const checks = byId(await doctor.run());
    assert.equal(checks.docker.status, 'warn');
    assert.match(checks.docker.detail, /socket hang up/);
    assert.equal(checks.cgroups.status, 'skip');
    assert.match(checks.cgroups.detail, /docker info/);
    assert.equal(checks.images.status, 'pass', 'what needs only the engine still runs');
  });

  it('gives a check that hangs a deadline, and one that throws a line saying so', async () => {
    const { doctor, engine, clock, errors } = doctorWith({ api: { info: () => Promise.reject(new Error('boom\n    at stack frame')) } });
    const held = engine.hold('hasImage');
    const running = doctor.run();
    await clock.advance(CHECK_DEADLINE_MS);
    const checks = byId(await running);
    held.release();
    assert.equal(checks.images.status, 'warn');
    assert.match(checks.images.detail, /no answer within 10 s/);
    assert.equal(checks.api.status, 'warn');
    assert.equal(checks.api.detail, 'Could not be checked: boom', 'one line, no stack');
    assert.ok(errors.some((message) => /api check failed/.test(message)), 'the log has it');
  });

  it('fails the storage directory once it is loosened, naming the command', async () => {
    const { doctor, home } = doctorWith();
    fs.chmodSync(home, 0o777);
    const checks = byId(await doctor.run());
    assert.equal(checks['storage-directory'].status, 'fail');
    assert.equal(checks['storage-directory'].fix, `chmod 700 ${home}`);
  });
});

describe('the report of a client that cannot reach the sidecar', () => {
  it('fails the sidecar line with the reason and the log, and checks the storage directory itself', () => {
    const home = tempDirectory(0o777);
    const report = unreachableSidecarReport(homePaths(home), 'The storage directory can be written by other users.');
    assert.deepEqual(report.checks.map((check) => [check.id, check.status]), [
      ['sidecar', 'fail'],
      ['storage-directory', 'fail'],
    ]);
    assert.match(report.checks[0].detail, /could not be asked: The storage directory can be written/);
    assert.match(report.checks[0].fix ?? '', /sidecar\.log/);
    assert.equal(report.checks[1].fix, `chmod 700 ${home}`);
    assert.equal(report.summary.fail, 2);
  });
});
