import * as readline from 'node:readline';
import { dockerContextNames } from '../sidecar/client/dockerContexts';
import {
  contextInUse,
  describeSource,
  engineLabel,
  engineSummary,
  mismatchAdvice,
  parseEndpoint,
  mismatchEngines,
  switchPromise,
  type EngineMismatch,
} from '../sidecar/client/engineText';
import type { LaunchOptions } from '../sidecar/client/launch';
import * as P from '../sidecar/client/protocol';
import { SidecarClient } from '../sidecar/client/sidecarClient';
import { sidecarPid, waitUntilReleased } from '../sidecar/client/sidecarRestart';
import { print, UsageError } from './format';

export const ENGINE_USAGE = `sandkasten engine [--json]
sandkasten engine switch [--yes] [--json]

A storage directory belongs to one Docker engine: its workspaces and sessions live there.
Sandkasten picks the engine when its sidecar starts, first of: the docker.host setting, the
docker.context setting, DOCKER_HOST (with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH),
DOCKER_CONTEXT, the current Docker context, the default socket. Point it elsewhere with
  sandkasten config set docker.host ssh://me@build-box     (or tcp://HOST:2376, unix:///PATH)
  sandkasten config set docker.context NAME                 (a context of \`docker context ls\`)
  sandkasten config reset docker.host                       (the environment decides again)
which restarts the sidecar and prints the engine it reaches then.

  engine          the engine in use: its version, address and what chose it, how it is reached
                  (unix, tcp, tls, ssh), the round trip of one call, the path command output
                  takes (direct pipes on this machine, else relayed), and the Docker contexts
                  (the one in use marked); says so when the engine answering is not the one
                  the storage directory belongs to.
  engine switch   when it is not: moves the storage directory to the engine answering now,
                  after asking (--yes: without asking; needed without a terminal). Nothing on
                  either engine is deleted: the old engine's workspaces and sessions stay
                  there and come back when you switch back.

  --json   engine: the status's "docker" object plus "contexts": [{"name", "inUse"}];
           engine switch: {"switched", "from"?, "to"?, "docker"}

Exit codes: 0 done (or nothing to switch), 1 failed or declined, 2 bad usage (switch without
a terminal and without --yes).`;

export interface EngineOptions {
  json: boolean;
  yes: boolean;
  /** How the CLI reaches the sidecar, to connect again once it restarted. */
  launch: LaunchOptions;
}

export interface ContextEntry {
  name: string;
  inUse: boolean;
}

/** The Docker contexts of the Docker config directory, the one that chose the engine marked. */
export function contextEntries(docker: P.DockerStatus, names: string[]): ContextEntry[] {
  const inUse = contextInUse(parseEndpoint(docker.endpoint).source);
  return names.map((name) => ({ name, inUse: name === inUse }));
}

/** The `docker` line of `sandkasten status`, with what to do on a mismatch indented under it. */
export function dockerStatusLines(docker: P.DockerStatus): string[] {
  return [`docker    ${engineSummary(docker)}`, ...(docker.mismatch ? mismatchAdvice(docker.mismatch).map((line) => `          ${line}`) : [])];
}

/** `sandkasten engine` for people. */
export function formatEngineReport(docker: P.DockerStatus, contexts: ContextEntry[]): string {
  const identity = docker.engineId ? [`engine    ${engineLabel(current(docker))}, ID ${docker.engineId}`] : [];
  return [
    ...dockerStatusLines(docker),
    ...identity,
    `chosen by ${describeSource(parseEndpoint(docker.endpoint).source)}`,
    `contexts  ${contexts.map((context) => (context.inUse ? `${context.name} (in use)` : context.name)).join(', ')}`,
  ].join('\n');
}

/** The engine answering, as a storage directory would remember it. */
function current(docker: P.DockerStatus): P.BoundEngine {
  return { id: docker.engineId ?? '', name: docker.engineName ?? '', endpoint: docker.endpoint };
}

/** The question `engine switch` asks on a terminal. */
export function switchQuestion(mismatch: EngineMismatch): string {
  const { from, to } = mismatchEngines(mismatch);
  return `Switch this storage directory from ${from.described} to ${to.described}? ${switchPromise(mismatch)} [y/N] `;
}

export async function runEngineCommand(client: SidecarClient, verb: string | undefined, rest: string[], options: EngineOptions): Promise<number> {
  if (rest.length > 0) throw new UsageError(`${['engine', verb].filter(Boolean).join(' ')} takes no arguments.`);
  if (verb === undefined) {
    const { docker } = await client.request(P.StatusRequest.type, {});
    const contexts = contextEntries(docker, dockerContextNames());
    print(options.json ? JSON.stringify({ ...docker, contexts }, null, 2) : formatEngineReport(docker, contexts));
    return 0;
  }
  if (verb === 'switch') return switchEngine(client, options);
  throw new UsageError(`Unknown command "engine ${verb}"; engine takes no command or "switch".`);
}

async function switchEngine(client: SidecarClient, options: EngineOptions): Promise<number> {
  const status = await client.request(P.StatusRequest.type, {});
  const { mismatch } = status.docker;
  if (!status.docker.available) throw new Error(`There is no engine to switch to: ${engineSummary(status.docker)}`);
  if (!mismatch) {
    print(
      options.json
        ? JSON.stringify({ switched: false, docker: status.docker }, null, 2)
        : `Nothing to switch: this storage directory belongs to the engine Sandkasten reaches, ${engineLabel(current(status.docker))} at ${status.docker.endpoint}.`,
    );
    return 0;
  }
  if (!options.yes) {
    if (!process.stdin.isTTY || !process.stderr.isTTY) {
      const { from, to } = mismatchEngines(mismatch);
      throw new UsageError(`engine switch asks first, and there is no terminal to ask on: add --yes to switch from ${from.label} to ${to.label}.`);
    }
    if (!(await confirm(switchQuestion(mismatch)))) {
      process.stderr.write('sandkasten: nothing switched\n');
      return 1;
    }
  }
  await client.request(P.SwitchEngineRequest.type, { engineId: mismatch.current.id });
  const after = await statusAfterRestart(options.launch, status.pid);
  print(
    options.json
      ? JSON.stringify({ switched: true, from: mismatch.boundTo, to: mismatch.current, docker: after.docker }, null, 2)
      : [`Switched this storage directory to ${mismatchEngines(mismatch).to.described}. ${switchPromise(mismatch)}`, ...dockerStatusLines(after.docker)].join('\n'),
  );
  return after.docker.available && !after.docker.mismatch ? 0 : 1;
}

/**
 * `config set`/`config reset` of docker.host or docker.context: when the value changed, the
 * sidecar restarts on the engine it names; this waits for that and says which engine answers.
 */
export async function setEngineSetting(client: SidecarClient, key: string, value: unknown, options: EngineOptions): Promise<number> {
  const before = await client.request(P.GetConfigRequest.type, { key });
  const pid = sidecarPid(options.launch.home);
  const config = await client.request(P.SetConfigRequest.type, { values: { [key]: value } });
  const changed = JSON.stringify(before[key]) !== JSON.stringify(config[key]);
  const setting = `${key} = ${JSON.stringify(config[key])}${value === null ? ' (default)' : ''}`;
  if (!changed || pid === undefined) {
    print(options.json ? JSON.stringify(config, null, 2) : setting);
    return 0;
  }
  const { docker } = await statusAfterRestart(options.launch, pid);
  print(options.json ? JSON.stringify(config, null, 2) : [setting, ...dockerStatusLines(docker)].join('\n'));
  return 0;
}

/** Waits for the sidecar `pid` to let go of the storage directory, then starts its successor and asks it for its status. */
async function statusAfterRestart(launch: LaunchOptions, pid: number): Promise<P.SidecarStatus> {
  await waitUntilReleased(launch.home, pid);
  const client = await SidecarClient.connect({ ...launch, startIfMissing: true });
  try {
    return await client.request(P.StatusRequest.type, {});
  } finally {
    client.close();
  }
}

/** Asks a yes/no question on the terminal; only "y" or "yes" is a yes. Ctrl-C interrupts as anywhere else. */
function confirm(question: string): Promise<boolean> {
  const prompt = readline.createInterface({ input: process.stdin, output: process.stderr });
  return new Promise((resolve) => {
    let answered = false;
    // Raw mode turns Ctrl-C into an event: make it the signal again, which ends the CLI with 130.
    prompt.on('SIGINT', () => {
      answered = true;
      prompt.close();
      process.kill(process.pid, 'SIGINT');
    });
    prompt.on('close', () => {
      if (!answered) resolve(false);
    });
    prompt.question(question, (answer) => {
      answered = true;
      prompt.close();
      resolve(/^y(es)?$/i.test(answer.trim()));
    });
  });
}
