/**
 * The second Docker engine of the tests (scripts/remote-engine.sh): one dockerd on this
 * machine that the tests reach as a remote engine, over loopback TCP with TLS client
 * certificates or over ssh:// through an sshd on loopback. One per machine, shared by every
 * run; `bash scripts/remote-engine.sh up` starts it (npm test does).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';

export type RemoteTransport = 'tls' | 'ssh';
/** Deliberately broken settings for negative tests (see remote-engine.sh). */
export type RemoteVariant = 'wrong-client' | 'wrong-ca' | 'unknown-host' | 'refused-key';

const STATE_DIR = '/var/lib/sandkasten-test-engine';
/** The engine's own unix socket: for assertions, never what the sidecar under test uses. */
export const REMOTE_ENGINE_SOCKET = '/run/sk2/docker.sock';
const SCRIPT = path.resolve(__dirname, '..', '..', 'scripts', 'remote-engine.sh');
const NOT_UP = 'The second Docker engine is not set up: run `bash scripts/remote-engine.sh up` (npm test does).';

/** The variable that tells suites which engine they run against (unset: the local one). */
export const TEST_ENGINE_VARIABLE = 'SANDKASTEN_TEST_ENGINE';

const VARIANTS: Record<RemoteTransport, readonly RemoteVariant[]> = {
  tls: ['wrong-client', 'wrong-ca'],
  ssh: ['unknown-host', 'refused-key'],
};

/**
 * The environment additions that point a client (the sidecar, the docker CLI) at the second
 * engine: DOCKER_HOST and the TLS settings, or DOCKER_HOST and PATH with the ssh wrapper first.
 * Docker settings of the other transport are cleared (undefined: a spawned child does not get them).
 */
export function remoteEngineEnv(transport: RemoteTransport, variant?: RemoteVariant, basePath = process.env.PATH ?? ''): NodeJS.ProcessEnv {
  if (variant && !VARIANTS[transport].includes(variant)) throw new Error(`There is no ${variant} variant of the ${transport} transport.`);
  const file = path.join(STATE_DIR, 'env', `${transport}${variant ? `-${variant}` : ''}.env`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new Error(`${NOT_UP} (${file} is missing)`);
  }
  const values = Object.fromEntries(
    text
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  const env: NodeJS.ProcessEnv = { DOCKER_HOST: values.DOCKER_HOST, DOCKER_CONTEXT: undefined, DOCKER_TLS_VERIFY: undefined, DOCKER_CERT_PATH: undefined };
  if (transport === 'tls') {
    env.DOCKER_TLS_VERIFY = values.DOCKER_TLS_VERIFY;
    env.DOCKER_CERT_PATH = values.DOCKER_CERT_PATH;
  } else {
    env.PATH = `${values.PATH_PREPEND}${path.delimiter}${basePath}`;
  }
  return env;
}

/**
 * Points this process (and so every sidecar, CLI and docker client it starts) at the second
 * engine, and marks it in SANDKASTEN_TEST_ENGINE so suites can tell local from remote.
 * Called by the entry files in test/remote before they import a suite.
 */
export function selectRemoteEngine(transport: RemoteTransport): void {
  for (const [key, value] of Object.entries(remoteEngineEnv(transport))) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  process.env[TEST_ENGINE_VARIABLE] = transport;
}

/** 'tls' or 'ssh' when this test process runs against the second engine, else undefined. */
export function testEngine(): RemoteTransport | undefined {
  const value = process.env[TEST_ENGINE_VARIABLE];
  if (value === undefined || value === '') return undefined;
  if (value !== 'tls' && value !== 'ssh') throw new Error(`${TEST_ENGINE_VARIABLE}=${value} is neither tls nor ssh.`);
  return value;
}

/**
 * A dockerode client of the second engine for assertions, through its unix socket (docker-modem's
 * own ssh would ignore our ssh configuration).
 */
export function remoteDocker(): Docker {
  if (!fs.existsSync(REMOTE_ENGINE_SOCKET)) throw new Error(`${NOT_UP} (${REMOTE_ENGINE_SOCKET} is missing)`);
  return dockerAt(REMOTE_ENGINE_SOCKET);
}

/**
 * A dockerode client of the engine behind a unix socket, whatever DOCKER_* says: docker-modem
 * lays given options over the ones it reads from DOCKER_HOST, DOCKER_TLS_VERIFY and
 * DOCKER_CERT_PATH, and a host from there would win over a given socketPath.
 */
export function dockerAt(socketPath: string): Docker {
  return new Docker({ socketPath, host: undefined, port: undefined, protocol: 'http', ca: undefined, cert: undefined, key: undefined });
}

const run = promisify(execFile);

async function engineScript(command: 'start' | 'stop'): Promise<void> {
  try {
    await run('bash', [SCRIPT, command], { timeout: 180_000 });
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`remote-engine.sh ${command} failed: ${stderr.split('\n').slice(-3).join(' ') || (error as Error).message}`);
  }
}

/** Stops the second engine's dockerd (its data stays); its containers stop with it. */
export async function stopRemoteEngine(): Promise<void> {
  await engineScript('stop');
}

/** Starts the second engine again and returns once it answers `docker info`. */
export async function startRemoteEngine(): Promise<void> {
  await engineScript('start');
  await remoteDocker().info();
}
