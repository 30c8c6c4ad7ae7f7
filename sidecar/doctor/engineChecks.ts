import type { SettingsValues } from '../client/configSchema';
import { doctorCheck, type DoctorCheck } from '../client/doctorProtocol';
import type { DockerStatus } from '../client/protocol';
import { formatBytes } from '../client/units';
import type { EngineInfo } from '../docker/engine';

/**
 * The checks of the engine itself, from what `docker info` and `docker version` say: pure
 * functions of it and the settings, so every verdict is tested without an engine.
 */

/** Docker releases older than this lack what sandboxes rely on (cgroup v2, `Init`, current seccomp). */
const OLDEST_GOOD_RELEASE = { major: 20, minor: 10 };
/** Storage drivers Docker deprecated: they still run, but slowly or not for long. */
const DEPRECATED_DRIVERS = new Set(['aufs', 'devicemapper', 'overlay']);
const DAEMON_JSON = '/etc/docker/daemon.json';

export function dockerCheck(docker: DockerStatus, info: EngineInfo | undefined, infoError: string | undefined): DoctorCheck {
  if (!docker.available) return doctorCheck('docker', 'fail', docker.error ?? `Docker is not reachable at ${docker.endpoint}.`, unreachableFix(docker));
  if (!info) {
    return doctorCheck('docker', 'warn', `Docker ${docker.version ?? ''} answers at ${docker.endpoint}, but \`docker info\` failed: ${infoError ?? 'no answer'}.`, "Look at the engine's own log; `docker info` shows the same.");
  }
  if (docker.mismatch) {
    const { boundTo, current } = docker.mismatch;
    return doctorCheck(
      'docker',
      'fail',
      `This storage directory belongs to Docker engine "${boundTo.name || boundTo.id}" (${boundTo.endpoint}), but Sandkasten now reaches "${current.name || current.id}" at ${docker.endpoint}: nothing that needs Docker runs until you choose.`,
      '`sandkasten engine switch` moves it to the new engine (nothing on either engine is deleted; switching back finds everything as it was), or point Sandkasten back (the docker.host / docker.context settings, DOCKER_HOST, `docker context use`).',
    );
  }
  const over = docker.transport ? ` over ${TRANSPORT_NAMES[docker.transport]}${docker.roundTripMs !== undefined ? `, ${docker.roundTripMs} ms round trip` : ''}` : '';
  const facts = `Docker ${info.version}${info.apiVersion ? ` (API ${info.apiVersion})` : ''} at ${docker.endpoint}${over}; ${info.operatingSystem || 'unknown OS'}, kernel ${info.kernelVersion || 'unknown'}.`;
  if (docker.transport === 'tcp') {
    return doctorCheck(
      'docker',
      'warn',
      `${facts} Plain TCP has neither encryption nor authentication: whoever reaches that port controls the engine and every sandbox on it.`,
      'Use ssh:// (your ssh keys) or TLS with client certificates (DOCKER_TLS_VERIFY=1, DOCKER_CERT_PATH), as Docker recommends for a remote engine.',
    );
  }
  const release = /^(\d+)\.(\d+)/.exec(info.version);
  if (release && Number(release[1]) * 100 + Number(release[2]) < OLDEST_GOOD_RELEASE.major * 100 + OLDEST_GOOD_RELEASE.minor) {
    return doctorCheck('docker', 'warn', `${facts} Releases before ${OLDEST_GOOD_RELEASE.major}.${OLDEST_GOOD_RELEASE.minor} miss what sandboxes rely on (cgroup v2, current seccomp profiles).`, 'Upgrade Docker to a current release.');
  }
  if (info.warnings.length > 0) {
    return doctorCheck('docker', 'warn', `${facts} The engine warns: ${info.warnings.join(' ')}`, '`docker info` lists the same warnings; each names the setting or kernel feature it misses.');
  }
  return doctorCheck('docker', 'pass', facts);
}

const TRANSPORT_NAMES: Record<NonNullable<DockerStatus['transport']>, string> = {
  unix: 'a Unix socket',
  npipe: 'a named pipe',
  tcp: 'plain TCP',
  tls: 'TLS',
  ssh: 'ssh',
};

/** What to do when the engine does not answer, from where the sidecar looked and why it failed. */
function unreachableFix(docker: DockerStatus): string {
  if (/EACCES|permission denied/i.test(docker.error ?? '')) {
    return 'Your user may not use the engine\'s socket: `sudo usermod -aG docker "$USER"`, then log in again (or use rootless Docker). Then run `sandkasten doctor` again.';
  }
  if (docker.transport === 'ssh' && /ssh /.test(docker.error ?? '')) {
    return 'Check that `ssh` reaches that host by itself (keys in your agent or ~/.ssh/config, its host key in known_hosts) and that the docker CLI is installed there; then run `sandkasten doctor` again.';
  }
  if (docker.transport === 'tls' && /certificate|TLS/i.test(docker.error ?? '')) {
    return 'Check the certificates: DOCKER_CERT_PATH (or the Docker context) must hold the ca.pem that signed the engine\'s certificate, and a cert.pem/key.pem the engine trusts; then run `sandkasten doctor` again.';
  }
  const chosen = /^(.*) \(((?:DOCKER_HOST|DOCKER_CONTEXT|setting docker\.host|setting docker\.context|current Docker context)[^)]*)\)$/.exec(docker.endpoint);
  if (chosen) {
    return `Start the engine at ${chosen[1]} (chosen by ${chosen[2]}), or choose another one (the docker.host / docker.context settings, DOCKER_HOST, \`docker context use\`). Then run \`sandkasten doctor\` again.`;
  }
  return 'Start Docker: Docker Desktop, or `sudo systemctl start docker` (`sudo dockerd &` without systemd). For another engine, set DOCKER_HOST or `docker context use NAME`. Then run `sandkasten doctor` again.';
}

/**
 * Disk: Docker's local volumes have no size limit on any storage driver (a hard limit on a
 * container's own layer needs overlay2 on xfs with pquota, and a workspace's files are in a
 * volume anyway), so the sidecar measures and stops a session at `limits.diskMb` (DiskWatch).
 */
export function storageDriverCheck(info: EngineInfo, settings: Pick<SettingsValues, 'limits.diskMb' | 'limits.diskCheckSeconds'>): DoctorCheck {
  const driver = info.storageDriver || 'unknown';
  const backing = info.driverStatus['Backing Filesystem'];
  const where = `${driver}${backing ? ` on ${backing}` : ''}`;
  const limit = formatBytes(settings['limits.diskMb'] * 1024 * 1024);
  const enforcement =
    `limits.diskMb (${limit} a workspace) is enforced by measuring each running workspace's volume and container layer every ` +
    `${settings['limits.diskCheckSeconds']} s and stopping its session at the limit: Docker's local volumes have no hard size limit on any driver.`;
  const toOverlay2 = `Configure overlay2: \`"storage-driver": "overlay2"\` in ${DAEMON_JSON}, then restart Docker (its images must be pulled again).`;
  if (driver === 'overlay2' && info.driverStatus['Supports d_type'] === 'false') {
    return doctorCheck('storage-driver', 'fail', `${where} without d_type support: files in containers can show up wrong.`, "Put Docker's root directory on a file system with d_type (ext4, or xfs made with ftype=1).");
  }
  if (driver === 'vfs') {
    return doctorCheck('storage-driver', 'warn', `${where}: every container is a full copy of its image, so sessions start slowly and use much disk. ${enforcement}`, toOverlay2);
  }
  if (DEPRECATED_DRIVERS.has(driver)) {
    return doctorCheck('storage-driver', 'warn', `${where}: Docker deprecated this driver. ${enforcement}`, toOverlay2);
  }
  return doctorCheck('storage-driver', 'pass', `${where}. ${enforcement}`);
}

/** The limits every sandbox is created with need the kernel's cgroup controllers. */
export function cgroupsCheck(info: EngineInfo): DoctorCheck {
  const version = info.cgroupVersion ? `cgroup v${info.cgroupVersion}` : 'cgroup version not reported';
  const where = `${version}${info.cgroupDriver ? ` (driver ${info.cgroupDriver})` : ''}`;
  const rootlessOnV1 = info.cgroupVersion === '1' && info.securityOptions.some((option) => option === 'name=rootless');
  const missingHard = [...(info.limits.memory ? [] : ['memory']), ...(info.limits.pids ? [] : ['process count'])];
  if (missingHard.length > 0) {
    return doctorCheck(
      'cgroups',
      'fail',
      `${where}: the engine cannot apply ${missingHard.join(' or ')} limits, so one sandbox can take all of this machine's ${missingHard.includes('memory') ? 'memory' : 'processes'}.`,
      rootlessOnV1
        ? 'Rootless Docker applies limits only on cgroup v2 (with systemd delegation): boot with cgroup v2, or use a rootful engine.'
        : 'Enable the memory and pids cgroup controllers (a current systemd on cgroup v2 has them; on cgroup v1 add `cgroup_enable=memory` to the kernel command line), then restart Docker.',
    );
  }
  const missingSoft = [...(info.limits.swap ? [] : ['swap']), ...(info.limits.cpuQuota ? [] : ['CPU quota'])];
  if (missingSoft.length > 0) {
    const swapOnly = missingSoft.length === 1 && missingSoft[0] === 'swap';
    return doctorCheck(
      'cgroups',
      'warn',
      `${where}: memory and process limits apply, ${missingSoft.join(' and ')} limits do not${swapOnly ? ' (a sandbox may swap beyond its memory limit)' : ' (limits.cpus is not enforced)'}.`,
      swapOnly ? 'On cgroup v1 add `swapaccount=1` to the kernel command line and reboot (cgroup v2 has it).' : 'Use a kernel with CFS bandwidth control (CONFIG_CFS_BANDWIDTH) and the cpu controller enabled, or boot with cgroup v2.',
    );
  }
  return doctorCheck('cgroups', 'pass', `${where}: memory, swap, CPU and process limits apply to every sandbox.`);
}

/** `sandbox.runtime` may only name runtimes the engine has; a session of that kind cannot start otherwise. */
export function runtimeCheck(info: EngineInfo, runtimeByKind: SettingsValues['sandbox.runtime']): DoctorCheck {
  const engineDefault = info.runtimes[0] ?? 'runc';
  const chosen = Object.entries(runtimeByKind).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[1] !== '');
  const missing = chosen.filter(([, runtime]) => !info.runtimes.includes(runtime));
  if (missing.length > 0) {
    return doctorCheck(
      'runtime',
      'fail',
      `sandbox.runtime asks for ${missing.map(([kind, runtime]) => `${runtime} (${kind})`).join(', ')}, but the engine has only ${info.runtimes.join(', ') || 'its default'}: sessions of ${missing.length === 1 ? 'that kind' : 'those kinds'} cannot start.`,
      `Install the runtime and register it with Docker (\`runtimes\` in ${DAEMON_JSON}; for gVisor \`sudo runsc install\`), then restart Docker; or \`sandkasten config reset sandbox.runtime\`.`,
    );
  }
  const others = `${chosen.length > 0 ? 'other kinds' : 'every kind'}: ${engineDefault} (the engine's default)`;
  const hint = chosen.length === 0 && info.runtimes.includes('runsc') ? ` The engine also has runsc (gVisor), which isolates further: \`sandkasten config set sandbox.runtime '{"ephemeral": "runsc"}'\`.` : '';
  return doctorCheck('runtime', 'pass', `${[...chosen.map(([kind, runtime]) => `${kind}: ${runtime}`), others].join('; ')}.${hint}`);
}
