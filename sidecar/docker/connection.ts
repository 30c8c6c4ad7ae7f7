import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DockerOptions } from 'dockerode';

export interface DockerEndpoint {
  /** Passed to `new Docker(options)`; empty means docker-modem's own defaults. */
  options: DockerOptions;
  /** Shown to people: where we look for the engine. */
  description: string;
}

/**
 * Finds the engine the docker CLI would use: DOCKER_HOST first (docker-modem reads it
 * itself), then the current Docker context (DOCKER_CONTEXT or ~/.docker/config.json), then
 * the default socket.
 */
export function resolveDockerEndpoint(env: NodeJS.ProcessEnv = process.env): DockerEndpoint {
  if (env.DOCKER_HOST) return { options: {}, description: `DOCKER_HOST=${env.DOCKER_HOST}` };
  const contextName = env.DOCKER_CONTEXT || currentContextName(env);
  if (contextName && contextName !== 'default') {
    const host = contextHost(contextName, env);
    if (host) return { options: optionsForHost(host), description: `Docker context "${contextName}" (${host})` };
  }
  const socket = process.platform === 'win32' ? '//./pipe/docker_engine' : '/var/run/docker.sock';
  return { options: { socketPath: socket }, description: socket };
}

function dockerConfigDir(env: NodeJS.ProcessEnv): string {
  return env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
}

function currentContextName(env: NodeJS.ProcessEnv): string | undefined {
  try {
    const config = JSON.parse(fs.readFileSync(path.join(dockerConfigDir(env), 'config.json'), 'utf8'));
    return typeof config.currentContext === 'string' ? config.currentContext : undefined;
  } catch {
    return undefined;
  }
}

/** Context metadata lives under contexts/meta/<sha256 of the name>/meta.json. */
function contextHost(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const digest = createHash('sha256').update(name).digest('hex');
  try {
    const meta = JSON.parse(fs.readFileSync(path.join(dockerConfigDir(env), 'contexts', 'meta', digest, 'meta.json'), 'utf8'));
    return meta?.Endpoints?.docker?.Host;
  } catch {
    return undefined;
  }
}

export function optionsForHost(host: string): DockerOptions {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('npipe://')) return { socketPath: host.slice('npipe://'.length) };
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  return { host: url.hostname, port: Number(url.port || 2375), protocol: 'http' };
}
