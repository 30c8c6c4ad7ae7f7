/**
 * The sidecar's settings: one table for the sidecar's `config.json`, the CLI's
 * `sandkasten config` and the extension's `sandkasten.*` settings (package.json declares the
 * same keys; a unit test keeps the two in step). Pure: imported by the extension too.
 */

import { isIP } from 'node:net';
import { imageReferenceProblem } from './imageReference';

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

const isImageReference = (value: unknown) => {
  if (typeof value !== 'string' || value.trim() === '') return 'must be an image reference such as "debian:bookworm-slim"';
  const problem = imageReferenceProblem(value);
  return problem ? `is not an image reference: ${problem}` : undefined;
};

const isBoolean = (value: unknown) => (typeof value === 'boolean' ? undefined : 'must be true or false');

const isPoolMap = (value: unknown) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'must be an object mapping an image to a number of ready containers, e.g. {"debian:bookworm-slim": 3}';
  }
  for (const [image, count] of Object.entries(value)) {
    const imageProblem = imageReferenceProblem(image);
    if (imageProblem) return `has "${image}", which is not an image reference (${imageProblem})`;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > 50) {
      return `has ${JSON.stringify(count)} for "${image}"; each count must be a whole number from 0 to 50`;
    }
  }
  return undefined;
};

const NETWORK_MODES = ['bridge', 'none'];

const isOneOf = (choices: string[]) => (value: unknown) =>
  typeof value === 'string' && choices.includes(value) ? undefined : `must be one of ${choices.map((choice) => `"${choice}"`).join(', ')}`;

const isShortText = (max: number) => (value: unknown) =>
  typeof value === 'string' && value.length <= max && !/[\u0000-\u001f]/.test(value) ? undefined : `must be text of at most ${max} characters on one line`;

/** Kinds a per-kind setting may name (ephemeral workspaces are always the most locked down). */
const KINDS = ['ephemeral', 'session', 'persistent', 'collaborative'];

/** An object from workspace kind to a value `check` accepts, e.g. {"ephemeral": true}. */
const isKindMap = (check: (value: unknown) => string | undefined, example: string) => (value: unknown) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `must be an object from workspace kind to a value, e.g. ${example}`;
  for (const [kind, entry] of Object.entries(value)) {
    if (!KINDS.includes(kind)) return `names "${kind}", which is not a workspace kind (${KINDS.join(', ')})`;
    const problem = check(entry);
    if (problem) return `has ${JSON.stringify(entry)} for "${kind}", which ${problem}`;
  }
  return undefined;
};

/** A user as Docker takes it: a name or uid, optionally with a group (`1000:1000`, `node`). */
const isUser = (value: unknown) =>
  typeof value === 'string' && /^[a-z_][a-z0-9_-]{0,31}(:[a-z_][a-z0-9_-]{0,31})?$|^[0-9]{1,10}(:[0-9]{1,10})?$/i.test(value)
    ? undefined
    : 'must be a user name or uid, optionally with ":group" (e.g. "1000:1000")';

/** An IP address to listen on; a name would resolve to who knows what. */
const isBindAddress = (value: unknown) =>
  typeof value === 'string' && isIP(value) !== 0 ? undefined : 'must be an IP address, e.g. "127.0.0.1" (loopback only, the default) or "0.0.0.0" (every interface: reachable from the network)';

/** Names an API client may ask for (Sandkasten v1 uses `base`, `python`, `node`) → the image a workspace gets. */
const isImageAliases = (value: unknown) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be an object from a name to an image reference, e.g. {"python": "python:3.12-slim"}';
  for (const [alias, image] of Object.entries(value)) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/.test(alias)) return `has "${alias}", which is not a short image name (letters, digits, "_", ".", "-")`;
    const problem = isImageReference(image);
    if (problem) return `has ${JSON.stringify(image)} for "${alias}", which ${problem}`;
  }
  return undefined;
};

/** A Docker engine address as DOCKER_HOST takes it, or empty (the environment decides). */
const isDockerHost = (value: unknown) => {
  if (typeof value !== 'string' || value.length > 500 || /[\u0000-\u001f\s]/.test(value)) return 'must be an engine address on one line';
  if (value === '') return undefined;
  return /^(unix|npipe):\/\/.+$|^tcp:\/\/[^/]+(\/)?$|^ssh:\/\/[^/-][^/]*(\/)?$/.test(value)
    ? undefined
    : 'must be an engine address such as "ssh://me@build-box", "tcp://build-box:2376" or "unix:///var/run/docker.sock" (or empty: DOCKER_HOST or the Docker context decides)';
};

/** A Docker context's name, as `docker context create` allows it, or empty. */
const isDockerContext = (value: unknown) =>
  typeof value === 'string' && (value === '' || /^[a-zA-Z0-9][a-zA-Z0-9_.+-]{0,99}$/.test(value))
    ? undefined
    : 'must be the name of a Docker context (`docker context ls`), or empty';

const isRuntime = (value: unknown) =>
  typeof value === 'string' && /^[a-z0-9][a-z0-9._-]{0,63}$/i.test(value) ? undefined : 'must be the name of a runtime the Docker engine has (e.g. "runsc")';

export type LifecycleKindSetting =
  | 'lifecycle.expireAfterMinutes'
  | 'lifecycle.warnBeforeHours'
  | 'lifecycle.archiveAfterDays'
  | 'lifecycle.freezeAfterMinutes'
  | 'lifecycle.stopAfterMinutes';

/** PRODUCT.md's policies per workspace kind (0 = never); a kind a setting does not name keeps these. */
export const LIFECYCLE_DEFAULTS: Record<LifecycleKindSetting, Record<string, number>> = {
  'lifecycle.expireAfterMinutes': { ephemeral: 5, session: 24 * 60, persistent: 30 * 24 * 60, collaborative: 30 * 24 * 60 },
  'lifecycle.warnBeforeHours': { ephemeral: 0, session: 0, persistent: 72, collaborative: 72 },
  'lifecycle.archiveAfterDays': { ephemeral: 0, session: 0, persistent: 14, collaborative: 14 },
  'lifecycle.freezeAfterMinutes': { ephemeral: 10, session: 30, persistent: 30, collaborative: 30 },
  'lifecycle.stopAfterMinutes': { ephemeral: 60, session: 240, persistent: 240, collaborative: 240 },
};

/** What a newly listening port gets, per kind (see `ports.autoForward`). */
export type PortAutoForward = 'forward' | 'notify' | 'off';
export const PORT_AUTO_FORWARD_DEFAULTS: Record<string, PortAutoForward> = { ephemeral: 'notify', session: 'forward', persistent: 'forward', collaborative: 'forward' };

const isKindMinutes = (max: number, example: string) => isKindMap(isInteger(0, max), example);

export const SETTINGS = {
  defaultImage: {
    description: 'Image for new workspaces when none is given.',
    defaultValue: 'debian:bookworm-slim',
    check: isImageReference,
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
  'limits.diskMb': {
    description:
      "Disk a workspace may use (its /workspace volume and its container's changes), in MiB. Docker's local volumes have no size limit, so the sidecar measures: at 80 % the session says so, at the limit it is stopped with that reason.",
    defaultValue: 10240,
    check: isInteger(64, 16777216),
  },
  'limits.diskCheckSeconds': {
    description: 'How often the disk use of running sessions is measured (Docker walks the volumes to do it).',
    defaultValue: 60,
    check: isInteger(2, 86400),
  },
  network: {
    description:
      "Outbound network of session containers: bridge (Sandkasten's own network, sandboxes cannot reach one another) or none. Ephemeral workspaces always get none. The host's network is never a global setting: it is a per-workspace choice.",
    defaultValue: 'bridge',
    check: (value: unknown) =>
      value === 'host'
        ? 'would let every sandbox reach the services of this machine, so it is not accepted as a global setting. Set "bridge" or "none" (`sandkasten config set network bridge`), and create a workspace that needs the host network with `--allow-host-network`'
        : typeof value === 'string' && NETWORK_MODES.includes(value)
          ? undefined
          : `must be one of ${NETWORK_MODES.join(', ')}`,
  },
  'sandbox.network': {
    description: 'Per workspace kind, its outbound network when it differs from the network setting: "bridge" or "none", e.g. {"persistent": "none"}. Ephemeral workspaces always get none.',
    defaultValue: {},
    check: isKindMap((value: unknown) => (value === 'bridge' || value === 'none' ? undefined : 'must be "bridge" or "none"'), '{"persistent": "none"}'),
  },
  'sandbox.readOnlyRoot': {
    description: 'Per workspace kind, a read-only root filesystem (with tmpfs /tmp and /run; /workspace stays writable), e.g. {"ephemeral": true}.',
    defaultValue: {},
    check: isKindMap(isBoolean, '{"ephemeral": true}'),
  },
  'sandbox.user': {
    description: 'Per workspace kind, the user commands run as instead of root (a name the image knows, or uid[:gid]), e.g. {"ephemeral": "1000:1000"}. The image should own /workspace by that user: a new volume takes the owner of the image\'s /workspace.',
    defaultValue: {},
    check: isKindMap(isUser, '{"ephemeral": "1000:1000"}'),
  },
  'sandbox.runtime': {
    description: 'Per workspace kind, the container runtime Docker runs the sandbox with (e.g. "runsc" for gVisor), when the engine has it; `sandkasten status` lists the runtimes it has.',
    defaultValue: {},
    check: isKindMap(isRuntime, '{"ephemeral": "runsc"}'),
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
  'docker.host': {
    description:
      'The Docker engine to use, as DOCKER_HOST takes it: "ssh://me@build-box" (through your ssh, its agent, config and known hosts), "tcp://build-box:2376" (TLS with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH) or "unix:///path/docker.sock". Empty: docker.context, then DOCKER_HOST, DOCKER_CONTEXT and the current Docker context decide. Changing it restarts the sidecar; a storage directory belongs to one engine, and moving it to another asks first.',
    defaultValue: '',
    check: isDockerHost,
  },
  'docker.context': {
    description:
      'The Docker context to use (`docker context ls`), when docker.host is empty; empty: DOCKER_HOST, DOCKER_CONTEXT and the current Docker context decide. Changing it restarts the sidecar; moving a storage directory to another engine asks first.',
    defaultValue: '',
    check: isDockerContext,
  },
  'api.enabled': {
    description:
      'Serve the HTTP API (compatible with Sandkasten v1 and its SDKs) for agents, with a bearer token (`sandkasten api info`). While it is on, the sidecar stays up without clients.',
    defaultValue: false,
    check: isBoolean,
  },
  'api.port': {
    description: 'Port of the HTTP API; 0 picks a free one, kept across restarts while it stays free.',
    defaultValue: 0,
    check: isInteger(0, 65535),
  },
  'api.bindAddress': {
    description: 'Address the HTTP API listens on. Only loopback (127.0.0.1, ::1) by default; anything else is reachable from the network without TLS, and the sidecar warns about it.',
    defaultValue: '127.0.0.1',
    check: isBindAddress,
  },
  'api.maxOutputKb': {
    description: "Output a blocking HTTP exec returns at most, in KiB (stdout and stderr together); beyond it the result says truncated. Streamed exec is not capped.",
    defaultValue: 1024,
    check: isInteger(1, 1048576),
  },
  'api.images': {
    description:
      'Short names an API client may use for images, e.g. {"python": "python:3.12-slim", "node": "node:22-slim"}; "base" is always the default image. Other names are used as image references.',
    defaultValue: {},
    check: isImageAliases,
  },
  'lifecycle.enabled': {
    description: 'Apply the workspace lifecycle: freeze idle sessions, stop long-frozen ones, warn before and then delete unused workspaces, archive old ones. Pinned workspaces are never removed.',
    defaultValue: true,
    check: isBoolean,
  },
  'lifecycle.expireAfterMinutes': {
    description:
      'Per workspace kind, minutes without use after which a workspace is deleted (ephemeral: after its session ended); 0 keeps it. Kinds not named keep their default: ephemeral 5, session 1440 (24 h), persistent and collaborative 43200 (30 days).',
    defaultValue: LIFECYCLE_DEFAULTS['lifecycle.expireAfterMinutes'],
    check: isKindMinutes(10 * 365 * 24 * 60, '{"session": 720}'),
  },
  'lifecycle.warnBeforeHours': {
    description:
      'Per workspace kind, hours ahead of deletion that a warning comes (repeated daily; deletion waits until the first warning is this old); 0 for none. Defaults: persistent and collaborative 72.',
    defaultValue: LIFECYCLE_DEFAULTS['lifecycle.warnBeforeHours'],
    check: isKindMinutes(365 * 24, '{"persistent": 72}'),
  },
  'lifecycle.archiveAfterDays': {
    description:
      "Per workspace kind, days without use after which a workspace is archived: its volume saved as a compressed file in the storage directory and removed; opening it restores it. 0 never. Defaults: persistent and collaborative 14.",
    defaultValue: LIFECYCLE_DEFAULTS['lifecycle.archiveAfterDays'],
    check: isKindMinutes(10 * 365, '{"persistent": 7}'),
  },
  'lifecycle.freezeAfterMinutes': {
    description:
      'Per workspace kind, minutes without a command, keystroke, terminal open, file access or API call after which a session is frozen (its container paused: processes and memory kept); the next use thaws it in milliseconds. 0 never. Defaults: ephemeral 10, others 30.',
    defaultValue: LIFECYCLE_DEFAULTS['lifecycle.freezeAfterMinutes'],
    check: isKindMinutes(365 * 24 * 60, '{"session": 15}'),
  },
  'lifecycle.stopAfterMinutes': {
    description: 'Per workspace kind, minutes a frozen session stays frozen before it is stopped (processes end, files kept; the next open starts it again). 0 never. Defaults: ephemeral 60, others 240.',
    defaultValue: LIFECYCLE_DEFAULTS['lifecycle.stopAfterMinutes'],
    check: isKindMinutes(365 * 24 * 60, '{"session": 120}'),
  },
  'lifecycle.checkSeconds': {
    description: 'How often the lifecycle looks for work to do.',
    defaultValue: 60,
    check: isInteger(5, 3600),
  },
  'lifecycle.archiveImage': {
    description: 'Image of the helper container that archives, snapshots, exports and restores volumes (it needs GNU tar and gzip).',
    defaultValue: 'debian:bookworm-slim',
    check: isImageReference,
  },
  'share.defaultRole': {
    description: 'The role a new guest of a shared session gets: viewer (sees terminals, reads files) or editor (also types in terminals and writes files). The host can change it per guest at any time.',
    defaultValue: 'viewer',
    check: isOneOf(['viewer', 'editor']),
  },
  'share.approval': {
    description: 'ask: the host allows or denies each join request; anyone: everyone with the link comes in without asking.',
    defaultValue: 'ask',
    check: isOneOf(['ask', 'anyone']),
  },
  'share.bindAddress': {
    description: 'Address the share endpoint listens on. Loopback (127.0.0.1) by default: guests on other machines come through an SSH tunnel. Any other address is reachable from the network and needs share.tlsCertFile and share.tlsKeyFile; the links then pin the certificate. Read when the first share starts.',
    defaultValue: '127.0.0.1',
    check: isBindAddress,
  },
  'share.port': {
    description: 'Port of the share endpoint; 0 picks a free one.',
    defaultValue: 0,
    check: isInteger(0, 65535),
  },
  'share.publicAddress': {
    description: 'The host name or address that links name when the share endpoint listens beyond loopback; empty: the bind address, or this machine\'s host name for 0.0.0.0.',
    defaultValue: '',
    check: isShortText(253),
  },
  'share.tlsCertFile': {
    description: 'PEM certificate of the share endpoint (required beyond loopback; a self-signed one works).',
    defaultValue: '',
    check: isShortText(4096),
  },
  'share.tlsKeyFile': {
    description: 'PEM private key of share.tlsCertFile.',
    defaultValue: '',
    check: isShortText(4096),
  },
  'share.displayName': {
    description: 'Your name as others see it when you share or join; empty: your user name on this machine.',
    defaultValue: '',
    check: isShortText(64),
  },
  'ports.autoForward': {
    description:
      'Per workspace kind, what happens when a port starts listening in a session: "forward" forwards it to this machine and says so, "notify" offers to forward it, "off" only lists it under the session\'s Ports. Kinds not named keep their default: ephemeral notify, the others forward.',
    defaultValue: PORT_AUTO_FORWARD_DEFAULTS,
    check: isKindMap(isOneOf(['forward', 'notify', 'off']), '{"ephemeral": "off"}'),
  },
  'ports.scanSeconds': {
    description: 'How often a session in use (a command, terminal or file access in the last 10 minutes) is looked at for new listening ports; 0 only looks when asked (the Ports node, `sandkasten port list`).',
    defaultValue: 2,
    check: isInteger(0, 3600),
  },
  'ports.bindAddress': {
    description:
      'Address forwarded ports listen on. Loopback (127.0.0.1) by default: only this machine reaches them. Any other address makes what runs in a sandbox reachable from the network (the sidecar warns). Applies to forwards made after the change.',
    defaultValue: '127.0.0.1',
    check: isBindAddress,
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
  'limits.diskMb': number;
  'limits.diskCheckSeconds': number;
  network: string;
  'sandbox.network': Partial<Record<string, string>>;
  'sandbox.readOnlyRoot': Partial<Record<string, boolean>>;
  'sandbox.user': Partial<Record<string, string>>;
  'sandbox.runtime': Partial<Record<string, string>>;
  'pool.enabled': boolean;
  'pool.images': Record<string, number>;
  idleShutdownSeconds: number;
  'logs.sessionKb': number;
  'docker.host': string;
  'docker.context': string;
  'api.enabled': boolean;
  'api.port': number;
  'api.bindAddress': string;
  'api.maxOutputKb': number;
  'api.images': Record<string, string>;
  'lifecycle.enabled': boolean;
  'lifecycle.expireAfterMinutes': Partial<Record<string, number>>;
  'lifecycle.warnBeforeHours': Partial<Record<string, number>>;
  'lifecycle.archiveAfterDays': Partial<Record<string, number>>;
  'lifecycle.freezeAfterMinutes': Partial<Record<string, number>>;
  'lifecycle.stopAfterMinutes': Partial<Record<string, number>>;
  'lifecycle.checkSeconds': number;
  'lifecycle.archiveImage': string;
  'share.defaultRole': 'viewer' | 'editor';
  'share.approval': 'ask' | 'anyone';
  'share.bindAddress': string;
  'share.port': number;
  'share.publicAddress': string;
  'share.tlsCertFile': string;
  'share.tlsKeyFile': string;
  'share.displayName': string;
  'ports.autoForward': Partial<Record<string, PortAutoForward>>;
  'ports.scanSeconds': number;
  'ports.bindAddress': string;
}

export function defaultSettings(): SettingsValues {
  return Object.fromEntries(
    SETTING_KEYS.map((key) => [key, structuredClone(SETTINGS[key].defaultValue)]),
  ) as unknown as SettingsValues;
}
