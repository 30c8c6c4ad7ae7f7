/**
 * What the extension says about the Docker engine — the status bar's details, the question
 * asked when the engine answering is not the storage directory's, the engine picker — apart
 * from VS Code so it can be tested without it.
 */
import {
  describeSource,
  engineLabel,
  formatRoundTrip,
  mismatchEngines,
  parseEndpoint,
  pointBackSetting,
  switchPromise,
  type EngineMismatch,
} from '../sidecar/client/engineText';
import { SETTINGS } from '../sidecar/client/configSchema';
import type { DockerStatus } from '../sidecar/client/protocol';

const OUTPUT_PATHS: Record<NonNullable<DockerStatus['outputPath']>, string> = {
  'direct pipes': 'direct pipes (FIFOs on this machine)',
  relayed: "relayed through the engine's API",
};

/** The status bar's details once connected: version, address and what chose it, transport, round trip, output path. */
export function engineDetails(docker: DockerStatus): string {
  const name = docker.engineName ? ` ${engineLabel({ id: docker.engineId ?? '', name: docker.engineName, endpoint: docker.endpoint })}` : '';
  const roundTrip = docker.roundTripMs === undefined ? '' : `, ${formatRoundTrip(docker.roundTripMs)} round trip`;
  return [
    `Docker ${docker.version ?? ''}${name}`.trimEnd(),
    `Engine: ${docker.endpoint}`,
    ...(docker.transport ? [`Transport: ${docker.transport}${roundTrip}`] : []),
    ...(docker.outputPath ? [`Command output: ${OUTPUT_PATHS[docker.outputPath]}`] : []),
  ].join('\n');
}

/** The status bar's details while the engine answering is not the storage directory's. */
export function mismatchDetails(mismatch: EngineMismatch): string {
  const { from, to } = mismatchEngines(mismatch);
  return `The storage directory belongs to Docker engine ${from.described}; Sandkasten now reaches ${to.described}. Nothing that needs Docker runs until you switch or point it back (Sandkasten: Choose Docker Engine…).`;
}

export interface MismatchQuestion {
  message: string;
  detail: string;
  switchButton: string;
  pointBackButton: string;
}

/** The modal question asked once per mismatch in a window. */
export function mismatchQuestion(mismatch: EngineMismatch): MismatchQuestion {
  const { from, to } = mismatchEngines(mismatch);
  return {
    message: `Sandkasten's storage directory belongs to Docker engine ${from.described}. It is now pointed at ${to.described}. Switch to ${to.label}?`,
    detail: `${switchPromise(mismatch)} Sandkasten reaches ${to.label} because of ${describeSource(parseEndpoint(mismatch.current.endpoint).source)}.`,
    switchButton: `Switch to ${to.label}`,
    pointBackButton: `Point Back to ${from.label}`,
  };
}

/** "Point Back" when no Sandkasten setting chose the engine answering: what did, and the setting that would win over it. */
export interface PointBackOffer {
  message: string;
  detail: string;
  /** Absent when nothing Sandkasten can set leads back (the engine's address is unknown). */
  button?: string;
  change?: { key: 'docker.host' | 'docker.context'; value: string };
}

/**
 * "Point Back" when no Sandkasten setting chose the engine answering: which environment
 * variable or Docker context leads there, and the setting that would win over it.
 */
export function pointBackOffer(mismatch: EngineMismatch): PointBackOffer {
  const { from, to } = mismatchEngines(mismatch);
  const message = `Sandkasten reaches ${to.label} because of ${describeSource(parseEndpoint(mismatch.current.endpoint).source)}.`;
  // The sidecar picks its engine when it starts: a change of the environment needs a new one.
  const restart = 'restart the sidecar (`sandkasten daemon stop`; the next window or command starts it again)';
  const change = pointBackSetting(mismatch);
  if (!change || change.value === null) return { message, detail: `No Sandkasten setting chose it. Change that, then ${restart}.` };
  return {
    message,
    detail: `No Sandkasten setting chose it. Change that and ${restart}, or set sandkasten.${change.key} to "${change.value}": a setting wins over it.`,
    button: `Set ${change.key === 'docker.host' ? 'Docker Host' : 'Docker Context'} to ${from.label}`,
    change: { key: change.key, value: change.value },
  };
}

/** What a pick of the engine picker does. */
export type EngineChoice = { kind: 'switch' } | { kind: 'default' } | { kind: 'context'; name: string } | { kind: 'address' };

export interface EnginePick {
  label: string;
  description?: string;
  choice: EngineChoice;
}

/**
 * The entries of Choose Docker Engine…: the switch when the storage directory belongs to
 * another engine, the environment's default, each Docker context, an address; the one the
 * sidecar uses now is marked.
 */
export function enginePicks(docker: DockerStatus | undefined, contexts: string[]): EnginePick[] {
  const endpoint = docker ? parseEndpoint(docker.endpoint) : undefined;
  const source = endpoint?.source;
  const settingContext = source?.kind === 'setting' && source.key === 'docker.context' ? source.context : undefined;
  const inUse = (yes: boolean, description: string) => (yes ? `${description} · in use` : description);
  const switchPick: EnginePick[] = docker?.mismatch
    ? [{ label: `$(arrow-swap) Switch the Storage Directory to ${mismatchEngines(docker.mismatch).to.label}…`, description: 'the engine Sandkasten reaches now', choice: { kind: 'switch' } }]
    : [];
  return [
    ...switchPick,
    {
      label: 'Default (DOCKER_HOST / current context)',
      description: inUse(source !== undefined && source.kind !== 'setting', 'what the docker CLI would use'),
      choice: { kind: 'default' },
    },
    ...contexts.map((name) => ({
      label: name,
      description: inUse(settingContext === name, name === 'default' ? 'Docker context: DOCKER_HOST or the default socket' : 'Docker context'),
      choice: { kind: 'context' as const, name },
    })),
    {
      label: 'Enter an engine address…',
      description: source?.kind === 'setting' && source.key === 'docker.host' ? inUse(true, endpoint?.address ?? '') : 'ssh://, tcp:// or unix://',
      choice: { kind: 'address' },
    },
  ];
}

/** The input box's check of an engine address: the docker.host setting's own, and not empty (Default is a pick of its own). */
export function engineAddressProblem(value: string): string | undefined {
  if (!value.trim()) return 'Enter an address such as ssh://me@build-box, or pick Default instead.';
  const problem = SETTINGS['docker.host'].check(value.trim());
  return problem ? `The address ${problem}.` : undefined;
}

/** The mismatches a window asked about: each pair of engines once, however often a status reports it. */
export class AskedMismatches {
  private readonly asked = new Set<string>();

  /** True the first time this pair (storage directory's engine, engine answering) comes. */
  firstTime({ boundTo, current }: EngineMismatch): boolean {
    const key = `${boundTo.id}\n${current.id}`;
    if (this.asked.has(key)) return false;
    this.asked.add(key);
    return true;
  }

  /** After a person chose an engine: the same pair again is news to them, and asked again. */
  clear(): void {
    this.asked.clear();
  }
}
