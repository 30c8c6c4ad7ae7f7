import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The Docker CLI's configuration directory, as the docker CLI finds it: DOCKER_CONFIG, else
 * ~/.docker. Here, in the client library, because the extension and the CLI list its contexts
 * too (the sidecar reads them to pick an engine: see sidecar/docker/connection.ts).
 */
export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
}

/** The names of the Docker contexts in the config directory, "default" first (for pickers, completions and errors). */
export function dockerContextNames(env: NodeJS.ProcessEnv = process.env): string[] {
  const metaDirectory = path.join(dockerConfigDir(env), 'contexts', 'meta');
  let entries: string[];
  try {
    entries = fs.readdirSync(metaDirectory);
  } catch {
    return ['default'];
  }
  const names = entries.flatMap((entry) => {
    try {
      const name = JSON.parse(fs.readFileSync(path.join(metaDirectory, entry, 'meta.json'), 'utf8'))?.Name;
      return typeof name === 'string' ? [name] : [];
    } catch {
      return [];
    }
  });
  return ['default', ...names.sort()];
}
