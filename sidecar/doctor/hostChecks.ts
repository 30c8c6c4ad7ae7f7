import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { SettingsValues } from '../client/configSchema';
import { doctorCheck, type DoctorCheck } from '../client/doctorProtocol';
import { cryptoRandomHex } from '../client/ids';
import type { ApiInfo } from '../client/protocol';

/** The checks of this machine's side: FIFOs for command output and what listens on the network. */

const run = promisify(execFile);
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const RESTART = 'restart the sidecar (`sandkasten daemon stop`; the next client starts it)';

/** mkfifo(1) at `file`, as DirectPipes makes its FIFOs (Node has no mkfifo). */
export async function makeFifo(file: string): Promise<void> {
  await run('mkfifo', ['-m', '0600', file]);
}

export interface FifoFacts {
  /** The engine is behind a local Unix socket (see Engine.isLocal). */
  engineIsLocal: boolean;
  /** Where the sidecar looks for the engine (DockerStatus.endpoint). */
  endpoint: string;
  /** `docker info`'s OperatingSystem, when the engine answered. */
  operatingSystem?: string;
  /** SANDKASTEN_DIRECT_PIPES as the sidecar was started with it. */
  directPipesSetting?: string;
  home: string;
  pipes: string;
  makeFifo: (file: string) => Promise<void>;
}

/**
 * The fast path (see DirectPipes): a command's stdout goes through a FIFO on the host straight
 * to the client. Offered when the engine is local; each container is probed before its first
 * use, and output takes the relayed path when the probe fails. Here: whether it is offered,
 * and whether a FIFO can be made and carries bytes in the storage directory (a probe FIFO,
 * removed at once; not in the pipe directories, which the sidecar sweeps).
 */
export async function fifoCheck(facts: FifoFacts): Promise<DoctorCheck> {
  const relayed = 'command output takes the relayed path (it works; bulk output is slower)';
  if (facts.directPipesSetting === 'off') {
    return doctorCheck('fifo', 'warn', `Turned off by SANDKASTEN_DIRECT_PIPES=off: ${relayed}.`, `Unset SANDKASTEN_DIRECT_PIPES and ${RESTART}.`);
  }
  if (!facts.engineIsLocal) {
    return doctorCheck('fifo', 'pass', `Not offered: the engine (${facts.endpoint}) is not on this machine, so ${relayed}.`);
  }
  const problem = (await pipeDirectoryProblem(facts.pipes)) ?? (await fifoProblem(facts.home, facts.makeFifo));
  if (problem) {
    return doctorCheck(
      'fifo',
      'warn',
      `${problem}: ${relayed}.`,
      'Keep the storage directory on a local file system that has FIFOs (not a network or FUSE mount) with mkfifo installed (coreutils), or choose another one (SANDKASTEN_HOME).',
    );
  }
  if (facts.operatingSystem && /docker desktop/i.test(facts.operatingSystem)) {
    return doctorCheck(
      'fifo',
      'warn',
      `FIFOs work here, but Docker Desktop runs the engine in a VM whose file sharing does not carry them: each container's probe fails and ${relayed}.`,
      'Nothing is broken. For the fast path, use a Docker engine that runs on this machine (dockerd).',
    );
  }
  return doctorCheck('fifo', 'pass', `FIFOs work in ${facts.home}: command output goes from the container straight to the client. Each container is probed before its first use.`);
}

async function pipeDirectoryProblem(pipes: string): Promise<string | undefined> {
  try {
    const stat = await fs.promises.stat(pipes);
    if (!stat.isDirectory()) return `${pipes} is not a directory`;
    await fs.promises.access(pipes, fs.constants.W_OK);
    return undefined;
  } catch (error) {
    // Not made yet: the first container makes it.
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : `The pipe directory ${pipes} cannot be written (${(error as Error).message})`;
  }
}

/** Makes a FIFO, sends a word through it and removes it; what went wrong, if anything. */
async function fifoProblem(directory: string, make: (file: string) => Promise<void>): Promise<string | undefined> {
  const file = path.join(directory, `doctor-fifo-${cryptoRandomHex(6)}`);
  try {
    await make(file);
    // O_RDWR: both ends in one descriptor, so neither open waits for the other.
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    try {
      fs.writeSync(fd, 'fifo-ok');
      const buffer = Buffer.alloc(16);
      const read = fs.readSync(fd, buffer);
      return buffer.subarray(0, read).toString() === 'fifo-ok' ? undefined : `A FIFO in ${directory} did not carry bytes`;
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    return `No FIFO could be made in ${directory} (${stderr || (error as Error).message})`;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** The HTTP API: off, on loopback, beyond it (a warning), or on but not listening. Never shows the token. */
export function apiCheck(info: ApiInfo): DoctorCheck {
  if (!info.enabled) return doctorCheck('api', 'pass', 'Off (api.enabled): nothing listens for agents.');
  if (!info.url) {
    return doctorCheck(
      'api',
      'fail',
      `On, but not listening on ${info.bindAddress}${info.error ? `: ${info.error}` : ''}.`,
      'Let it pick a free port: `sandkasten config set api.port 0`; or turn it off: `sandkasten config set api.enabled false`.',
    );
  }
  if (!LOOPBACK.has(info.bindAddress)) {
    return doctorCheck('api', 'warn', `Listens on ${info.url} (api.bindAddress ${info.bindAddress}): ${info.warning ?? 'reachable from the network, without TLS'}`, 'Unless that is meant: `sandkasten config set api.bindAddress 127.0.0.1`.');
  }
  return doctorCheck('api', 'pass', `Listens on ${info.url}: this machine only; every request needs the token (\`sandkasten api info\`).`);
}

/** The share endpoint and forwarded ports stay on loopback unless their setting says otherwise. */
export function listenersCheck(settings: Pick<SettingsValues, 'share.bindAddress' | 'ports.bindAddress'>): DoctorCheck {
  const open = [
    { setting: 'share.bindAddress', what: 'a shared session\'s endpoint (TLS; links carry the certificate\'s fingerprint)' },
    { setting: 'ports.bindAddress', what: 'forwarded ports, without any authentication' },
  ] as const;
  const beyond = open.filter(({ setting }) => !LOOPBACK.has(settings[setting]));
  if (beyond.length === 0) return doctorCheck('listeners', 'pass', 'Shares and forwarded ports listen on loopback only.');
  return doctorCheck(
    'listeners',
    'warn',
    `Reachable from the network: ${beyond.map(({ setting, what }) => `${what} (${setting} ${settings[setting]})`).join('; ')}.`,
    `Unless that is meant: ${beyond.map(({ setting }) => `\`sandkasten config set ${setting} 127.0.0.1\``).join(', ')}.`,
  );
}
