import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import Docker, { type DockerOptions } from 'dockerode';
import { dockerConfigDir } from '../client/dockerContexts';
import type { EngineTransport } from '../client/protocol';
import { parseSshHost, SshAgent } from './sshTransport';

export type { EngineTransport };

export interface DockerEndpoint {
  /** Passed to `new Docker(options)`. */
  options: DockerOptions;
  /** Shown to people: the address and where it came from, e.g. `ssh://me@box (DOCKER_HOST)`. */
  description: string;
  transport: EngineTransport;
  /** Why no engine can be reached this way (a context that does not exist, a missing certificate…). */
  problem?: string;
}

/** The `docker.host` and `docker.context` settings: chosen in Sandkasten, they come first. */
export interface EngineChoice {
  host?: string;
  context?: string;
}

/**
 * Finds the engine as the docker CLI would, with Sandkasten's own settings first: the
 * `docker.host` setting, the `docker.context` setting, DOCKER_HOST (with DOCKER_TLS_VERIFY and
 * DOCKER_CERT_PATH), DOCKER_CONTEXT, the current context in the Docker config directory
 * (DOCKER_CONFIG or ~/.docker), then the default socket.
 */
export function resolveDockerEndpoint(choice: EngineChoice = {}, env: NodeJS.ProcessEnv = process.env): DockerEndpoint {
  if (choice.host) return endpointForHost(choice.host, 'setting docker.host', tlsFromEnvironment(env));
  if (choice.context) return endpointForContext(choice.context, 'setting docker.context', env);
  if (env.DOCKER_HOST) return endpointForHost(env.DOCKER_HOST, 'DOCKER_HOST', tlsFromEnvironment(env));
  if (env.DOCKER_CONTEXT) return endpointForContext(env.DOCKER_CONTEXT, 'DOCKER_CONTEXT', env);
  const current = currentContextName(env);
  if (current && current !== 'default') return endpointForContext(current, 'current Docker context', env);
  return endpointForHost(defaultHost(), 'default', undefined);
}

function defaultHost(): string {
  return process.platform === 'win32' ? 'npipe:////./pipe/docker_engine' : 'unix:///var/run/docker.sock';
}

/** Client certificates for a tcp:// engine: a directory with ca.pem, cert.pem and key.pem. */
interface TlsMaterial {
  directory: string;
  /** Check the engine's certificate against ca.pem (DOCKER_TLS_VERIFY; a context's SkipTLSVerify turns it off). */
  verify: boolean;
}

/** DOCKER_TLS_VERIFY (any value but empty or "0") asks for TLS with the certificates in DOCKER_CERT_PATH. */
function tlsFromEnvironment(env: NodeJS.ProcessEnv): TlsMaterial | undefined {
  if (!env.DOCKER_TLS_VERIFY || env.DOCKER_TLS_VERIFY === '0') return undefined;
  return { directory: env.DOCKER_CERT_PATH || dockerConfigDir(env), verify: true };
}

function endpointForContext(name: string, source: string, env: NodeJS.ProcessEnv): DockerEndpoint {
  if (name === 'default') {
    // The "default" context is the environment's engine (DOCKER_HOST) or the default socket.
    return env.DOCKER_HOST ? endpointForHost(env.DOCKER_HOST, `context "default" (DOCKER_HOST)`, tlsFromEnvironment(env)) : endpointForHost(defaultHost(), 'context "default"', undefined);
  }
  const label = `${source} "${name}"`;
  const context = readContext(name, env);
  if (typeof context === 'string') return unreachable(label, context);
  return endpointForHost(context.host, label, context.tls);
}

export function endpointForHost(host: string, source: string, tls: TlsMaterial | undefined): DockerEndpoint {
  const description = `${host}${source === 'default' ? '' : ` (${source})`}`;
  const scheme = /^([a-z]+):\/\//.exec(host)?.[1];
  switch (scheme) {
    case 'unix':
    case 'npipe': {
      const socketPath = host.slice(`${scheme}://`.length);
      if (!socketPath) return unreachable(description, `"${host}" names no socket`);
      return { options: { socketPath }, description, transport: scheme };
    }
    case 'tcp': {
      let url: URL;
      try {
        url = new URL(host.replace(/^tcp:/, 'http:'));
      } catch {
        return unreachable(description, `"${host}" is not a tcp://host[:port] address`);
      }
      if (!url.hostname) return unreachable(description, `"${host}" names no host`);
      const port = Number(url.port || (tls ? 2376 : 2375));
      if (!tls) return { options: { host: url.hostname, port, protocol: 'http' }, description, transport: 'tcp' };
      const files = readTlsFiles(tls.directory);
      if (typeof files === 'string') return unreachable(description, files);
      // docker-modem hands only ca, cert and key to https, never rejectUnauthorized: an agent's
      // own options reach every connection it makes (DockerEngine's ping agent reads the flag).
      const unverified = tls.verify ? {} : { rejectUnauthorized: false, agent: new https.Agent({ keepAlive: true, rejectUnauthorized: false }) };
      const options = { host: url.hostname, port, protocol: 'https', ...files, ...unverified } as DockerOptions;
      return { options, description, transport: 'tls' };
    }
    case 'ssh': {
      const target = parseSshHost(host);
      if (typeof target === 'string') return unreachable(description, target);
      // docker-modem's own ssh client would ignore ~/.ssh/config and known_hosts: the agent
      // runs the system's ssh instead. The host name is only what HTTP puts in its header.
      const agent = new SshAgent(target, process.env.SANDKASTEN_SSH_COMMAND || 'ssh');
      return { options: { protocol: 'http', host: 'docker', port: 80, agent } as DockerOptions, description, transport: 'ssh' };
    }
    default:
      return unreachable(description, `"${host}" is not a Docker engine address (unix://, tcp://, ssh:// or npipe://)`);
  }
}

/** The docker-modem settings read from the environment: resolveDockerEndpoint has read them already. */
const MODEM_ENVIRONMENT = ['DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_CLIENT_TIMEOUT', 'DOCKER_PATH_PREFIX'];

/**
 * A dockerode client for exactly this endpoint. docker-modem merges DOCKER_HOST (and the TLS
 * variables) under any options it is given — a `docker.host` setting naming a socket would
 * still go to DOCKER_HOST's address, and a DOCKER_CERT_PATH without certificates would throw —
 * so the client is made with those variables out of its sight (synchronously: nothing else
 * runs meanwhile).
 */
export function dockerClient(options: DockerOptions): Docker {
  const saved = MODEM_ENVIRONMENT.map((name) => [name, process.env[name]] as const);
  for (const [name] of saved) delete process.env[name];
  try {
    return new Docker(options);
  } finally {
    for (const [name, value] of saved) if (value !== undefined) process.env[name] = value;
  }
}

/** An endpoint that fails every call with `problem`; the sidecar still starts and says why. */
function unreachable(description: string, problem: string): DockerEndpoint {
  return { options: { socketPath: '/nonexistent/sandkasten-unreachable-engine.sock' }, description, transport: 'unix', problem };
}

function readTlsFiles(directory: string): { ca: Buffer; cert: Buffer; key: Buffer } | string {
  const read = (name: string) => fs.readFileSync(path.join(directory, name));
  try {
    return { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') };
  } catch (error) {
    return `the TLS certificates are missing: ${directory} must hold ca.pem, cert.pem and key.pem (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
}

function currentContextName(env: NodeJS.ProcessEnv): string | undefined {
  try {
    const config = JSON.parse(fs.readFileSync(path.join(dockerConfigDir(env), 'config.json'), 'utf8'));
    return typeof config.currentContext === 'string' && config.currentContext ? config.currentContext : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A Docker context as the CLI stores it: contexts/meta/<sha256 of the name>/meta.json for the
 * address, contexts/tls/<same>/docker/{ca,cert,key}.pem for its client certificates.
 */
function readContext(name: string, env: NodeJS.ProcessEnv): { host: string; tls?: TlsMaterial } | string {
  const digest = createHash('sha256').update(name).digest('hex');
  const contexts = path.join(dockerConfigDir(env), 'contexts');
  let meta: { Endpoints?: { docker?: { Host?: unknown; SkipTLSVerify?: unknown } } };
  try {
    meta = JSON.parse(fs.readFileSync(path.join(contexts, 'meta', digest, 'meta.json'), 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return `there is no Docker context "${name}" (\`docker context ls\` lists them)`;
    return `the Docker context "${name}" cannot be read (${(error as Error).message})`;
  }
  const endpoint = meta?.Endpoints?.docker;
  if (typeof endpoint?.Host !== 'string' || !endpoint.Host) return `the Docker context "${name}" names no Docker endpoint`;
  const tlsDirectory = path.join(contexts, 'tls', digest, 'docker');
  const hasTls = fs.existsSync(path.join(tlsDirectory, 'ca.pem')) || fs.existsSync(path.join(tlsDirectory, 'cert.pem'));
  return { host: endpoint.Host, ...(hasTls ? { tls: { directory: tlsDirectory, verify: endpoint.SkipTLSVerify !== true } } : {}) };
}
