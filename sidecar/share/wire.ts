/**
 * What a host's and a guest's sidecar say to each other over a share's WebSocket: one JSON
 * object per text message, `t` naming its kind. Each side reads the other's messages as
 * untrusted input — a guest can be anyone holding a link, a host can be anyone who handed
 * one out — so every message is checked here, field by field and size by size, before it is
 * acted on; anything else is dropped (and a guest that sends it is disconnected).
 *
 * Who a guest is, is settled before the WebSocket exists (see shareEndpoint.ts): the upgrade
 * request carries the link's secret or the guest's own resume token, so nobody without one
 * ever gets a socket to send messages on.
 */
import type { DirectoryEntryInfo, FileChangeInfo, FileErrorKind, FileStatInfo, OpenTerminalResult, TerminalInfo } from '../client/protocol';
import { SHARE_ROLES, type ParticipantInfo, type ShareRole } from '../client/shareProtocol';
import * as S from '../client/schema';

/** The version both sides speak; the upgrade request names it (`Sandkasten-Share-Version`). */
export const WIRE_VERSION = '1';
export const SHARE_PATH = '/share';

/** A file a guest reads or writes through a share travels whole in one message, up to this size. */
export const SHARE_FILE_MAX_BYTES = 16 * 1024 * 1024;
/** The largest message either side accepts (a file, base64, plus its envelope). */
export const MAX_MESSAGE_BYTES = Math.ceil((SHARE_FILE_MAX_BYTES * 4) / 3) + 64 * 1024;
/** Keystrokes (or a paste) in one message at most. */
export const MAX_INPUT_CHARS = 64 * 1024;
/** A name a guest gives itself, in characters. */
export const MAX_NAME_CHARS = 64;

export type FileCall = 'stat' | 'readDirectory' | 'readFile' | 'writeFile' | 'delete' | 'rename' | 'createDirectory';
const FILE_CALLS: readonly FileCall[] = ['stat', 'readDirectory', 'readFile', 'writeFile', 'delete', 'rename', 'createDirectory'];
/** Calls a viewer may make; the others change files. */
export const READING_FILE_CALLS: ReadonlySet<FileCall> = new Set(['stat', 'readDirectory', 'readFile']);

export type GuestRequest =
  | { op: 'terminals' }
  | { op: 'openTerminal'; terminalId?: string; cols: number; rows: number }
  | { op: 'closeTerminal'; terminalId: string }
  | { op: 'file'; call: FileCall; path: string; to?: string; content?: string; create?: boolean; overwrite?: boolean; recursive?: boolean }
  | { op: 'watch'; watchId: number; path: string; recursive: boolean };

/** Guest → host. */
export type GuestMessage =
  | ({ t: 'req'; id: number } & GuestRequest)
  | { t: 'input'; terminalId: string; data: string }
  | { t: 'detach'; terminalId: string }
  | { t: 'unwatch'; watchId: number }
  | { t: 'leave' };

export interface SharedSessionSummary {
  id: string;
  workspaceName: string;
  image: string;
}

export type ParticipantSummary = Pick<ParticipantInfo, 'id' | 'name' | 'role' | 'connected'>;

/** Host → guest. */
export type HostMessage =
  | { t: 'waiting' }
  | { t: 'welcome'; guestId: string; guestToken: string; role: ShareRole; hostName: string; session: SharedSessionSummary; terminals: TerminalInfo[]; participants: ParticipantSummary[] }
  | { t: 'res'; id: number; result?: unknown; error?: { code: string; message: string; file?: FileErrorKind } }
  | { t: 'output'; terminalId: string; data: string }
  | { t: 'exit'; terminalId: string; exitCode: number | null }
  | { t: 'terminals'; terminals: TerminalInfo[] }
  | { t: 'role'; role: ShareRole }
  | { t: 'participants'; participants: ParticipantSummary[] }
  | { t: 'notice'; text: string; terminalId?: string }
  | { t: 'files'; watchId: number; changes: FileChangeInfo[] }
  | { t: 'ended'; reason: string };

const FILE_ERROR_KINDS: readonly FileErrorKind[] = ['notADirectory', 'isADirectory'];
const MAX_TERMINAL_DIMENSION = 65535;
const MAX_ID_CHARS = 128;
const MAX_PATH_CHARS = 4096;

function limitedString(max: number, options: { allowEmpty?: boolean } = {}): S.Schema<string> {
  return {
    check: (value, key) => {
      if (typeof value !== 'string' || value.length > max || (!options.allowEmpty && value === '')) {
        throw new S.SchemaError(`"${key}" must be a string of at most ${max} characters.`);
      }
      return value;
    },
  };
}
const id = () => limitedString(MAX_ID_CHARS);
const path = () => limitedString(MAX_PATH_CHARS);
const smallInteger = (max: number): S.Schema<number> => ({
  check: (value, key) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) throw new S.SchemaError(`"${key}" must be a whole number up to ${max}.`);
    return value;
  },
});

const requestSchemas: Record<GuestRequest['op'], S.Schema<unknown>> = {
  terminals: S.params({}),
  openTerminal: S.params({ terminalId: S.optional(id()), cols: S.positiveInteger(MAX_TERMINAL_DIMENSION), rows: S.positiveInteger(MAX_TERMINAL_DIMENSION) }),
  closeTerminal: S.params({ terminalId: id() }),
  file: S.params({
    call: S.oneOf(FILE_CALLS),
    path: path(),
    to: S.optional(path()),
    content: S.optional(limitedString(MAX_MESSAGE_BYTES, { allowEmpty: true })),
    create: S.optional(S.boolean()),
    overwrite: S.optional(S.boolean()),
    recursive: S.optional(S.boolean()),
  }),
  watch: S.params({ watchId: smallInteger(2 ** 31), path: path(), recursive: S.boolean() }),
};

const guestSchemas: Record<Exclude<GuestMessage['t'], 'req'>, S.Schema<unknown>> = {
  input: S.params({ terminalId: id(), data: limitedString(MAX_INPUT_CHARS, { allowEmpty: true }) }),
  detach: S.params({ terminalId: id() }),
  unwatch: S.params({ watchId: smallInteger(2 ** 31) }),
  leave: S.params({}),
};

/** The message, checked, or undefined when it is not one a guest may send. */
export function parseGuestMessage(text: string): GuestMessage | undefined {
  const raw = parseObject(text);
  if (!raw) return undefined;
  try {
    if (raw.t === 'req') {
      const op = raw.op as GuestRequest['op'];
      const schema = typeof op === 'string' && Object.hasOwn(requestSchemas, op) ? requestSchemas[op] : undefined;
      if (!schema) return undefined;
      const fields = schema.check(raw, op) as object;
      return { t: 'req', id: smallInteger(Number.MAX_SAFE_INTEGER).check(raw.id, 'id'), op, ...fields } as GuestMessage;
    }
    const kind = raw.t as Exclude<GuestMessage['t'], 'req'>;
    const schema = typeof kind === 'string' && Object.hasOwn(guestSchemas, kind) ? guestSchemas[kind] : undefined;
    if (!schema) return undefined;
    return { t: kind, ...(schema.check(raw, kind) as object) } as GuestMessage;
  } catch {
    return undefined;
  }
}

const role = () => S.oneOf(SHARE_ROLES);
const text = (max: number) => limitedString(max, { allowEmpty: true });

/**
 * A name as cleanName makes them: at most MAX_NAME_CHARS code points (an emoji is one, though
 * two UTF-16 units), and cleaned again here — a host's text reaches our terminal titles, trees
 * and the CLI's output, so no escape sequence of its own does.
 */
const name = (): S.Schema<string> => ({
  check: (value, key) => {
    if (typeof value !== 'string' || value.length > 2 * MAX_NAME_CHARS || [...value].length > MAX_NAME_CHARS) {
      throw new S.SchemaError(`"${key}" must be a name of at most ${MAX_NAME_CHARS} characters.`);
    }
    return cleanName(value);
  },
});
/** Text a host sends to be shown (names of things, reasons): limited, control and format characters made spaces. */
const shownText = (max: number): S.Schema<string> => ({
  check: (value, key) => cleanText(limitedString(max, { allowEmpty: true }).check(value, key)),
});
const participantSchema = S.params({ id: id(), name: name(), role: role(), connected: S.boolean() });
const terminalSchema = S.params({
  id: id(),
  sessionId: id(),
  name: shownText(200),
  state: S.oneOf(['live', 'dormant'] as const),
  cwd: shownText(MAX_PATH_CHARS),
  createdAt: text(64),
  attached: smallInteger(1_000_000),
});

function listOf<T>(item: S.Schema<T>, max: number): S.Schema<T[]> {
  return {
    check: (value, key) => {
      if (!Array.isArray(value) || value.length > max) throw new S.SchemaError(`"${key}" must be a list of at most ${max}.`);
      return value.map((entry, index) => item.check(entry, `${key}[${index}]`));
    },
  };
}

const hostSchemas: Record<HostMessage['t'], S.Schema<unknown>> = {
  waiting: S.params({}),
  welcome: S.params({
    guestId: id(),
    // Empty on a reconnect: the guest keeps the token it got first.
    guestToken: limitedString(MAX_ID_CHARS, { allowEmpty: true }),
    role: role(),
    hostName: name(),
    session: S.params({ id: id(), workspaceName: shownText(200), image: shownText(512) }),
    terminals: listOf(terminalSchema, 1000),
    participants: listOf(participantSchema, 1000),
  }),
  res: {
    check: (value) => {
      const raw = value as Record<string, unknown>;
      const error = S.optional(S.params({ code: text(64), message: shownText(2000), file: S.optional(S.oneOf(FILE_ERROR_KINDS)) }));
      const checked = S.params({ id: smallInteger(Number.MAX_SAFE_INTEGER), error }).check(raw, 'res');
      return { ...checked, result: raw.result };
    },
  },
  output: S.params({ terminalId: id(), data: text(MAX_MESSAGE_BYTES) }),
  exit: {
    check: (value) => {
      const raw = value as Record<string, unknown>;
      const exitCode = raw.exitCode === null ? null : smallInteger(255).check(raw.exitCode, 'exitCode');
      return { terminalId: id().check(raw.terminalId, 'terminalId'), exitCode };
    },
  },
  terminals: S.params({ terminals: listOf(terminalSchema, 1000) }),
  role: S.params({ role: role() }),
  participants: S.params({ participants: listOf(participantSchema, 1000) }),
  notice: S.params({ text: shownText(500), terminalId: S.optional(id()) }),
  files: S.params({
    watchId: smallInteger(2 ** 31),
    changes: listOf(S.params({ type: S.oneOf(['created', 'changed', 'deleted'] as const), path: path() }), 10_000),
  }),
  ended: S.params({ reason: shownText(500) }),
};

const timeMs = (): S.Schema<number> => ({
  check: (value, key) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new S.SchemaError(`"${key}" must be a time.`);
    return value;
  },
});
const fileType = () => S.oneOf(['file', 'directory'] as const);
const statSchema = S.params({ type: fileType(), symlink: S.boolean(), size: smallInteger(Number.MAX_SAFE_INTEGER), mtimeMs: timeMs(), ctimeMs: timeMs() });
const entrySchema = S.params({ name: limitedString(1024), type: fileType(), symlink: S.boolean() });
const openedSchema = S.params({ terminal: terminalSchema, replay: text(MAX_MESSAGE_BYTES), outcome: S.oneOf(['attached', 'restored', 'created'] as const) });

/**
 * What a host answered to a guest's request, checked as its messages are: a stat, a
 * directory's entries (names that are not one plain name — `..`, `a/b`, empty — are left
 * out), a file's content, an opened terminal. Undefined when the answer is not one.
 */
export const hostResults = {
  stat: (value: unknown): FileStatInfo | undefined => attempt(() => statSchema.check(value, 'stat')),
  entries: (value: unknown): DirectoryEntryInfo[] | undefined =>
    Array.isArray(value) && value.length <= 100_000
      ? value.flatMap((entry) => attempt(() => entrySchema.check(entry, 'entry')) ?? []).filter((entry) => isPlainName(entry.name))
      : undefined,
  content: (value: unknown): Buffer | undefined => {
    const content = (value as { content?: unknown } | null)?.content;
    return typeof content === 'string' && content.length <= MAX_MESSAGE_BYTES && /^[A-Za-z0-9+/]*={0,2}$/.test(content) ? Buffer.from(content, 'base64') : undefined;
  },
  opened: (value: unknown): OpenTerminalResult | undefined => attempt(() => openedSchema.check(value, 'opened')),
};

function attempt<T>(check: () => T): T | undefined {
  try {
    return check();
  } catch {
    return undefined;
  }
}

function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

/** The message, checked, or undefined when it is not one a host sends. */
export function parseHostMessage(text: string): HostMessage | undefined {
  const raw = parseObject(text);
  if (!raw) return undefined;
  const kind = raw.t as HostMessage['t'];
  const schema = typeof kind === 'string' && Object.hasOwn(hostSchemas, kind) ? hostSchemas[kind] : undefined;
  if (!schema) return undefined;
  try {
    return { t: kind, ...(schema.check(raw, kind) as object) } as HostMessage;
  } catch {
    return undefined;
  }
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Control and format characters (escape sequences, direction marks) as spaces. */
export function cleanText(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, ' ');
}

/**
 * A name as shown to others: control and format characters out (escape sequences, zero-width
 * and direction marks a name could hide behind), line and paragraph separators too, trimmed,
 * at most MAX_NAME_CHARS code points; "guest" when nothing is left.
 */
export function cleanName(name: string | undefined): string {
  const cleaned = (name ?? '').replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '').trim();
  return [...cleaned].slice(0, MAX_NAME_CHARS).join('') || 'guest';
}
