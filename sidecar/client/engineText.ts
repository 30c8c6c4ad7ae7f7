import type { BoundEngine, DockerStatus } from './protocol';

/**
 * How the CLI and the extension tell people which Docker engine Sandkasten uses and why, from
 * DockerStatus alone. `endpoint` reads "ADDRESS (SOURCE)" (see sidecar/docker/connection.ts):
 * the source says whether a setting, a variable or a Docker context chose the address.
 */
export type EngineSource =
  | { kind: 'setting'; key: 'docker.host' | 'docker.context'; context?: string }
  | { kind: 'variable'; variable: 'DOCKER_HOST' | 'DOCKER_CONTEXT'; context?: string }
  | { kind: 'currentContext'; context: string }
  /** The "default" context, named by a setting, DOCKER_CONTEXT or the Docker config alike. */
  | { kind: 'defaultContext' }
  /** Nothing named an engine: the platform's default socket. */
  | { kind: 'default' }
  | { kind: 'unknown' };

export interface EndpointParts {
  /** The engine's address (absent when the source named nothing usable, e.g. a missing context). */
  address?: string;
  source: EngineSource;
}

export function parseEndpoint(endpoint: string): EndpointParts {
  const match = /^([a-z]+:\/\/\S*)(?: \((.*)\))?$/.exec(endpoint);
  const address = match?.[1];
  const label = match ? match[2] : endpoint;
  return { ...(address ? { address } : {}), source: sourceOf(label, address !== undefined) };
}

function sourceOf(label: string | undefined, hasAddress: boolean): EngineSource {
  if (label === undefined) return hasAddress ? { kind: 'default' } : { kind: 'unknown' };
  if (label === 'setting docker.host') return { kind: 'setting', key: 'docker.host' };
  if (label === 'DOCKER_HOST') return { kind: 'variable', variable: 'DOCKER_HOST' };
  if (label.startsWith('context "default"')) return { kind: 'defaultContext' };
  const named = /^(setting docker\.context|DOCKER_CONTEXT|current Docker context) "(.*)"$/.exec(label);
  if (!named) return { kind: 'unknown' };
  const context = named[2];
  if (named[1] === 'DOCKER_CONTEXT') return { kind: 'variable', variable: 'DOCKER_CONTEXT', context };
  if (named[1] === 'current Docker context') return { kind: 'currentContext', context };
  return { kind: 'setting', key: 'docker.context', context };
}

/** The Docker context the engine came from ("default" for the default socket); undefined when an address was given. */
export function contextInUse(source: EngineSource): string | undefined {
  if (source.kind === 'default' || source.kind === 'defaultContext') return 'default';
  return 'context' in source ? source.context : undefined;
}

/** What chose the engine, for people: "the docker.host setting", "DOCKER_HOST", "the current Docker context \"x\""… */
export function describeSource(source: EngineSource): string {
  switch (source.kind) {
    case 'setting':
      return source.key === 'docker.host' ? 'the docker.host setting' : `the docker.context setting ("${source.context}")`;
    case 'variable':
      return source.variable === 'DOCKER_HOST' ? "DOCKER_HOST in the sidecar's environment" : `DOCKER_CONTEXT="${source.context}" in the sidecar's environment`;
    case 'currentContext':
      return `the current Docker context "${source.context}" (\`docker context use\` changes it)`;
    case 'defaultContext':
      return 'the Docker context "default"';
    case 'default':
      return 'the default socket (no setting, DOCKER_HOST or Docker context names an engine)';
    case 'unknown':
      return 'an unknown source';
  }
}

/** "0.4 ms", "16 ms": a tenth of a millisecond matters only below ten. */
export function formatRoundTrip(ms: number): string {
  const tenths = Math.round(ms * 10) / 10;
  return `${tenths < 10 ? tenths.toFixed(1) : Math.round(ms)} ms`;
}

/** "ssh, 16 ms round trip, output relayed": how the engine is reached, for the parts the sidecar reported. */
export function engineFacts(docker: DockerStatus): string {
  return [
    docker.transport,
    docker.roundTripMs !== undefined ? `${formatRoundTrip(docker.roundTripMs)} round trip` : undefined,
    docker.outputPath ? `output ${docker.outputPath}` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
}

/** `engine 20.10.24 at ssh://me@box (setting docker.host) — ssh, 16 ms round trip, output relayed`, or why there is none. */
export function engineSummary(docker: DockerStatus): string {
  if (!docker.available) return docker.error ?? `Docker is not reachable at ${docker.endpoint}.`;
  const facts = engineFacts(docker);
  return `engine ${docker.version ?? '(version unknown)'} at ${docker.endpoint}${facts ? ` — ${facts}` : ''}`;
}

/**
 * An engine as people know it, quoted: its host name (else the start of its ID), with the start
 * of its ID too when `other` has the same name (two engines on one host).
 */
export function engineLabel(engine: BoundEngine, other?: BoundEngine): string {
  const name = `"${engine.name || engine.id.slice(0, 14) || 'unknown engine'}"`;
  return engine.name && engine.name === other?.name ? `${name} (ID ${engine.id.slice(0, 9)}…)` : name;
}

/** `"box" at ssh://me@box`: the address without the source that chose it. */
export function describeBoundEngine(engine: BoundEngine, other?: BoundEngine): string {
  const { address } = parseEndpoint(engine.endpoint);
  return `${engineLabel(engine, other)} at ${address ?? (engine.endpoint || 'an unknown address')}`;
}

export type EngineMismatch = NonNullable<DockerStatus['mismatch']>;

/** Both engines of a mismatch as people tell them apart: `label` alone, `described` with the address. */
export function mismatchEngines({ boundTo, current }: EngineMismatch) {
  return {
    from: { label: engineLabel(boundTo, current), described: describeBoundEngine(boundTo, current) },
    to: { label: engineLabel(current, boundTo), described: describeBoundEngine(current, boundTo) },
  };
}

/** One sentence: which engine the storage directory belongs to and which one answers now. */
export function mismatchSentence(mismatch: EngineMismatch): string {
  const { from, to } = mismatchEngines(mismatch);
  return `This storage directory belongs to Docker engine ${from.described}, but Sandkasten now reaches ${to.described}.`;
}

/** What is promised when switching: the same words in the CLI's question and the extension's. */
export function switchPromise(mismatch: EngineMismatch): string {
  return `Workspaces and sessions on ${mismatchEngines(mismatch).from.label} stay there, untouched, and come back when you switch back.`;
}

/** The settings that choose the engine: changing either restarts the sidecar (it picks its engine at start). */
export const ENGINE_SETTING_KEYS = ['docker.host', 'docker.context'] as const;
export type EngineSettingKey = (typeof ENGINE_SETTING_KEYS)[number];

export function isEngineSettingKey(key: string): key is EngineSettingKey {
  return (ENGINE_SETTING_KEYS as readonly string[]).includes(key);
}

/**
 * The setting change that points Sandkasten at the engine it belongs to again: the setting
 * that chose the other engine reset, when the first came from the environment; else a setting
 * naming the first engine (its context, or its address), which wins over the environment.
 */
export function pointBackSetting({ boundTo, current }: EngineMismatch): { key: EngineSettingKey; value: string | null } | undefined {
  const now = parseEndpoint(current.endpoint).source;
  const before = parseEndpoint(boundTo.endpoint);
  if (now.kind === 'setting' && before.source.kind !== 'setting') return { key: now.key, value: null };
  const context = contextInUse(before.source);
  // docker.host wins over docker.context: a context does not point back past it.
  const hostSettingWins = now.kind === 'setting' && now.key === 'docker.host';
  if (context && context !== 'default' && !hostSettingWins) return { key: 'docker.context', value: context };
  return before.address ? { key: 'docker.host', value: before.address } : undefined;
}

/** The same change as a `sandkasten config` command. */
export function pointBackCommand(mismatch: EngineMismatch): string | undefined {
  const change = pointBackSetting(mismatch);
  if (!change) return undefined;
  return change.value === null ? `sandkasten config reset ${change.key}` : `sandkasten config set ${change.key} ${change.value}`;
}

/** The lines `sandkasten status` and `sandkasten engine` print under the engine's on a mismatch. */
export function mismatchAdvice(mismatch: EngineMismatch): string[] {
  const { from, to } = mismatchEngines(mismatch);
  const back = pointBackCommand(mismatch);
  return [
    mismatchSentence(mismatch),
    `Nothing that needs Docker runs until you choose. Sandkasten reaches ${to.label} because of ${describeSource(parseEndpoint(mismatch.current.endpoint).source)}.`,
    `Switch to it with \`sandkasten engine switch\`: ${switchPromise(mismatch).replace(/^W/, 'w')}`,
    back ? `Or point Sandkasten back at ${from.label}: \`${back}\`` : `Or point Sandkasten back at ${from.label} (the settings docker.host and docker.context).`,
  ];
}
