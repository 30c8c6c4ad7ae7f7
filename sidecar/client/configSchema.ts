/**
 * The sidecar's settings: one table for the sidecar's `config.json`, the CLI's
 * `sandkasten config` and the extension's `sandkasten.*` settings (package.json declares the
 * same keys; a unit test keeps the two in step). Pure: imported by the extension too.
 */

export interface SettingSpec {
  description: string;
  defaultValue: unknown;
  /** Returns the reason a value is invalid, or undefined when it is fine. */
  check(value: unknown): string | undefined;
}

const isInteger = (min: number, max: number) => (value: unknown) =>
  typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
    ? undefined
    : `must be a whole number from ${min} to ${max}`;

const isNumber = (min: number, max: number) => (value: unknown) =>
  typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max
    ? undefined
    : `must be a number from ${min} to ${max}`;

const isNonEmptyString = (value: unknown) =>
  typeof value === 'string' && value.trim() !== '' ? undefined : 'must be a non-empty string';

const isBoolean = (value: unknown) => (typeof value === 'boolean' ? undefined : 'must be true or false');

const isPoolMap = (value: unknown) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'must be an object mapping an image to a number of ready containers, e.g. {"debian:bookworm-slim": 3}';
  }
  for (const [image, count] of Object.entries(value)) {
    if (image.trim() === '') return 'has an empty image name';
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > 50) {
      return `has ${JSON.stringify(count)} for "${image}"; each count must be a whole number from 0 to 50`;
    }
  }
  return undefined;
};

const NETWORK_MODES = ['bridge', 'none', 'host'];

export const SETTINGS = {
  defaultImage: {
    description: 'Image for new workspaces when none is given.',
    defaultValue: 'debian:bookworm-slim',
    check: isNonEmptyString,
  },
  'limits.cpus': {
    description: 'CPUs a session container may use (fractions allowed).',
    defaultValue: 1,
    check: isNumber(0.1, 64),
  },
  'limits.memoryMb': {
    description: 'Memory limit of a session container, in MiB.',
    defaultValue: 1024,
    check: isInteger(16, 262144),
  },
  'limits.pids': {
    description: 'Maximum number of processes in a session container.',
    defaultValue: 512,
    check: isInteger(16, 65536),
  },
  network: {
    description: 'Network mode of session containers (bridge, none or host). Ephemeral workspaces always get none.',
    defaultValue: 'bridge',
    check: (value: unknown) =>
      typeof value === 'string' && NETWORK_MODES.includes(value) ? undefined : `must be one of ${NETWORK_MODES.join(', ')}`,
  },
  'pool.enabled': {
    description: 'Keep pre-warmed containers ready so new sessions start instantly.',
    defaultValue: true,
    check: isBoolean,
  },
  'pool.images': {
    description: 'Ready containers to keep per image, e.g. {"debian:bookworm-slim": 3}.',
    defaultValue: {},
    check: isPoolMap,
  },
  idleShutdownSeconds: {
    description: 'The sidecar exits after this many seconds without any client, draining the pool and flushing state.',
    defaultValue: 600,
    check: isInteger(1, 604800),
  },
  'logs.sessionKb': {
    description: "Output of a session's background jobs kept after their command returned (sandkasten logs), and of each background process, in KiB; the oldest goes first.",
    defaultValue: 1024,
    check: isInteger(16, 65536),
  },
} satisfies Record<string, SettingSpec>;

export type SettingKey = keyof typeof SETTINGS;
export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

export function isSettingKey(key: string): key is SettingKey {
  return Object.prototype.hasOwnProperty.call(SETTINGS, key);
}

export interface SettingsValues {
  defaultImage: string;
  'limits.cpus': number;
  'limits.memoryMb': number;
  'limits.pids': number;
  network: string;
  'pool.enabled': boolean;
  'pool.images': Record<string, number>;
  idleShutdownSeconds: number;
  'logs.sessionKb': number;
}

export function defaultSettings(): SettingsValues {
  return Object.fromEntries(
    SETTING_KEYS.map((key) => [key, structuredClone(SETTINGS[key].defaultValue)]),
  ) as unknown as SettingsValues;
}
