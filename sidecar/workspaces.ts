import { callerWorkspaceIdProblem, cryptoRandomHex, newWorkspaceId, workspaceNameProblem, type RandomHex } from './client/ids';
import { imageReferenceProblem } from './client/imageReference';
import { WORKSPACE_KINDS, type CreateWorkspaceParams, type Origin, type WorkspaceEvent, type WorkspaceEventKind, type WorkspaceFilter, type WorkspaceInfo, type WorkspaceKind, type WorkspacePage } from './client/protocol';
import type { ConfigStore } from './config';
import type { Containers } from './containers';
import { LABEL } from './docker/engine';
import { policyOf, scheduleOf } from './lifecycle/policy';
import { conflict, invalidInput, invalidName, notFound } from './errors';
import type { Store } from './store/store';
import type { NewWorkspace, WorkspaceAccess, WorkspacePosition } from './store/workspaceStore';
import type { Changes } from './util/changes';
import type { Clock } from './util/clock';
import type { KeyedLock } from './util/keyedLock';

const MAX_DESCRIPTION_LENGTH = 1000;
/** A page when the caller names no limit. */
const DEFAULT_PAGE = 100;
/** Rows read between two turns of the event loop in a whole list. */
const SLICE = 100;
const MAX_TAGS = 32;
const MAX_TAG_LENGTH = 64;

/** A new workspace, checked, with its id: everything but its volume (see Workspaces.plan). */
export type PlannedWorkspace = Omit<NewWorkspace, 'volume' | 'now'>;

export interface WorkspaceDependencies {
  store: Store;
  containers: Containers;
  config: ConfigStore;
  clock: Clock;
  changes: Changes;
  locks: KeyedLock;
  randomHex?: RandomHex;
  /** A workspace is gone: remove what it kept outside Docker (archive, snapshot files). */
  onDeleted?: (workspaceId: string) => Promise<void>;
}

/** Workspaces: named persistent storage, one Docker volume each, mounted at /workspace. */
export class Workspaces {
  constructor(private readonly deps: WorkspaceDependencies) {}

  /** Disk use last measured per workspace (see DiskWatch); in memory: it is measured again after a restart. */
  private readonly diskUse = new Map<string, number>();

  list(): WorkspaceInfo[] {
    return this.deps.store.workspaces.list().map((workspace) => this.presented(workspace));
  }

  /** One page of the workspaces the filter matches, oldest first, after `cursor` (see WorkspacePage). */
  page(filter: WorkspaceFilter, cursor: string | undefined, limit = DEFAULT_PAGE): WorkspacePage {
    const page = this.deps.store.workspaces.page(filter, cursor === undefined ? undefined : positionOf(cursor), limit);
    return {
      workspaces: page.workspaces.map((workspace) => this.presented(workspace)),
      ...(page.next ? { nextCursor: cursorOf(page.next) } : {}),
      total: page.total ?? 0,
    };
  }

  /**
   * Every workspace the filter matches, read a page at a time with a turn of the event loop
   * between pages, so a list of ten thousand never keeps other clients waiting.
   */
  async listInSlices(filter: WorkspaceFilter): Promise<WorkspaceInfo[]> {
    const all: WorkspaceInfo[] = [];
    let after: WorkspacePosition | undefined;
    for (;;) {
      const page = this.deps.store.workspaces.page(filter, after, SLICE, { count: false });
      for (const workspace of page.workspaces) all.push(this.presented(workspace));
      if (!page.next) return all;
      after = page.next;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Returns whether the figure changed (clients need to hear only then). */
  recordDiskUse(id: string, bytes: number): boolean {
    if (this.diskUse.get(id) === bytes) return false;
    this.diskUse.set(id, bytes);
    return true;
  }

  /**
   * As clients see it: with its disk use as last measured, and what its lifecycle will do and
   * when. Kept per row object (the store replaces a row's object when it changes) until the
   * policy, the warning or the disk use changes: a list of ten thousand reuses them.
   */
  private presented(workspace: WorkspaceInfo): WorkspaceInfo {
    const { config, store } = this.deps;
    const enabled = config.current['lifecycle.enabled'];
    const policy = enabled ? policyOf(config.current, workspace.kind) : undefined;
    const warnedAt = enabled ? store.workspaces.warnedAt(workspace.id) : undefined;
    const diskBytes = this.diskUse.get(workspace.id);
    const key = `${policy ? Object.values(policy).join(',') : 'off'}|${warnedAt ?? ''}|${diskBytes ?? ''}`;
    const cached = this.shown.get(workspace);
    if (cached?.key === key) return cached.value;
    // `active`: a session runs (or is frozen): nothing is due while it is in use.
    const facts = { pinned: workspace.pinned, state: workspace.state, liveSessions: workspace.state === 'active' ? 1 : 0, lastAccessedAt: Date.parse(workspace.lastAccessedAt), warnedAt };
    const schedule = policy && scheduleOf(facts, policy);
    const value = schedule || diskBytes !== undefined ? { ...workspace, ...(diskBytes !== undefined ? { diskBytes } : {}), ...(schedule ? { lifecycle: schedule } : {}) } : workspace;
    this.shown.set(workspace, { key, value });
    return value;
  }

  private readonly shown = new WeakMap<WorkspaceInfo, { key: string; value: WorkspaceInfo }>();

  /** The workspace, or NotFound (a workspace being deleted counts as gone). */
  get(id: string): WorkspaceInfo {
    const workspace = this.deps.store.workspaces.get(id);
    if (!workspace || workspace.state === 'deleting') {
      throw notFound(`No workspace "${id}". List workspaces with \`sandkasten workspace list\`.`);
    }
    return this.presented(workspace);
  }

  /**
   * Makes a workspace. `options.id`: the caller names it (the HTTP API's `workspace_id`, by
   * that API's rule), else the id is the name plus 8 hex digits; `options.origin`: who made it.
   */
  async create(params: CreateWorkspaceParams, options: { origin?: Origin; id?: string } = {}): Promise<WorkspaceInfo> {
    const { store, containers, changes } = this.deps;
    const planned = this.plan(params, options);
    const engine = containers.engine;
    await engine.requireAvailable();
    await engine.ensureImage(planned.image);
    const volume = containers.workspaceVolumeName(planned.id);
    // The volume first: a crash before the commit leaves a labelled volume that the next
    // start's reconciliation removes, never a workspace row without storage.
    await engine.createVolume(volume, { role: 'workspace', workspaceId: planned.id });
    this.insertPlanned(planned, volume);
    await store.commit();
    changes.emit('workspaces');
    return this.get(planned.id);
  }

  /** Checks a new workspace's parameters and picks its id: what to insert, with no Docker call and nothing written. */
  plan(params: CreateWorkspaceParams, options: { origin?: Origin; id?: string } = {}): PlannedWorkspace {
    const { store, containers, config } = this.deps;
    if (options.id !== undefined) {
      const problem = callerWorkspaceIdProblem(options.id);
      if (problem) throw invalidInput(`"${options.id}" is not a workspace id: ${problem}`);
      if (store.workspaces.get(options.id)) throw conflict(`A workspace "${options.id}" exists already.`);
    } else {
      checkName(params.name);
    }
    const kind = params.kind ?? 'session';
    if (!WORKSPACE_KINDS.includes(kind)) throw invalidInput(`Unknown kind "${kind}". Choose one of ${WORKSPACE_KINDS.join(', ')}.`);
    const description = params.description ?? '';
    if (description.length > MAX_DESCRIPTION_LENGTH) throw invalidInput(`The description has more than ${MAX_DESCRIPTION_LENGTH} characters.`);
    const tags = params.tags ?? [];
    if (tags.length > MAX_TAGS || tags.some((tag) => tag.trim() === '' || tag.length > MAX_TAG_LENGTH)) {
      throw invalidInput(`Tags must be at most ${MAX_TAGS} non-empty words of up to ${MAX_TAG_LENGTH} characters.`);
    }
    const image = params.image?.trim() || config.current.defaultImage;
    const hostNetwork = params.allowHostNetwork === true;
    if (hostNetwork && kind === 'ephemeral') throw invalidInput('An ephemeral workspace never gets a network, the host\'s least of all: choose another kind for --allow-host-network.');
    if (hostNetwork && containers.networkFor(kind) === 'none') {
      throw invalidInput(`The settings give ${kind} workspaces no network (network, sandbox.network): the host's network is not granted past them. Change the setting first if this is meant.`);
    }
    const imageProblem = imageReferenceProblem(image);
    if (imageProblem) throw invalidInput(`"${image}" is not an image reference: ${imageProblem}. Example: "debian:bookworm-slim".`);
    const id = options.id ?? newWorkspaceId(params.name, this.deps.randomHex ?? cryptoRandomHex);
    return { id, name: params.name, kind, image, description, tags, hostNetwork, origin: options.origin };
  }

  /** Records a planned workspace on `volume` (made already, or a pooled one); the caller commits. */
  insertPlanned(planned: PlannedWorkspace, volume: string, born?: { reason: string; withFiles: true }): void {
    const now = this.deps.clock.now();
    const reason = born?.reason ?? `made as ${planned.kind}${planned.origin ? ` via ${planned.origin}` : ''} with ${planned.image}`;
    this.deps.store.workspaces.insert({ ...planned, volume, now, ...(born?.withFiles ? { state: 'suspended' as const } : {}) });
    this.deps.store.events.append(planned.id, 'created', reason, now);
  }

  /**
   * Gives the workspace another name, by the rules of create; its id (made from the old name)
   * stays. Names need not be unique, as at create. Nothing changes unless the new name is
   * durable: a failed write undoes the change in memory too (see Database).
   */
  async rename(id: string, name: string): Promise<WorkspaceInfo> {
    const { store, changes, locks } = this.deps;
    checkName(name);
    // Under the workspace's lock, so a delete under way is finished (or not begun) first.
    return locks.run(id, async () => {
      this.get(id);
      store.workspaces.rename(id, name);
      await store.commit();
      // Session rows show their workspace's name.
      changes.emit('workspaces', 'sessions');
      return this.get(id);
    });
  }

  /**
   * Marks the workspace `deleting` (durably) before touching Docker, so a crash half-way is
   * finished by the next start instead of leaving a half-deleted workspace.
   */
  async delete(id: string, force: boolean, options: { onlyIf?: () => boolean } = {}): Promise<boolean> {
    const { store, containers, changes, locks } = this.deps;
    return locks.run(id, async () => {
      this.get(id);
      // The lifecycle's check, under the lock: a Keep or Pin that came meanwhile wins.
      if (options.onlyIf && !options.onlyIf()) return false;
      const running = store.sessions.countActive(id);
      if (running > 0 && !force) {
        throw conflict(`Workspace "${id}" has ${running} running session(s). Stop them first, or delete with force (--force).`);
      }
      await containers.engine.requireAvailable();
      store.workspaces.markDeleting(id);
      await store.commit();
      changes.emit('workspaces', 'sessions');
      await this.finishDeletion(id);
      return true;
    });
  }

  /** Removes the workspace's containers and volume, then its rows. Idempotent. */
  async finishDeletion(id: string): Promise<void> {
    const { store, containers, changes } = this.deps;
    const workspace = store.workspaces.get(id);
    // By label, and by the session rows: a container that came from the pool has no workspace label.
    const sessionContainers = new Set(store.sessions.containerIdsOf(id));
    const owned = (await containers.engine.listOwnContainers()).filter((c) => c.labels[LABEL.workspace] === id || sessionContainers.has(c.id));
    await Promise.all(owned.map((c) => containers.remove(c.id)));
    if (workspace) await containers.engine.removeVolume(workspace.volume);
    for (const sessionId of store.sessions.idsOf(id)) changes.sessionEnded(sessionId);
    store.workspaces.deleteWithSessions(id);
    await store.commit();
    await this.deps.onDeleted?.(id);
    this.diskUse.delete(id);
    changes.emit('workspaces', 'sessions');
  }

  /** Runs `work` while no other change to the workspace runs (an archive, a restore, a session start). */
  withLock<T>(id: string, work: () => Promise<T>): Promise<T> {
    return this.deps.locks.run(id, work);
  }

  /**
   * Its volume may hold files from now on (a file written before its first session): it is
   * no longer `created`, whose empty volume a pooled container's may replace.
   */
  async markHasFiles(id: string): Promise<void> {
    if (this.get(id).state !== 'created') return;
    this.deps.store.workspaces.setState(id, 'suspended');
    await this.deps.store.commit();
    this.deps.changes.emit('workspaces');
  }

  /** Pins (never warned about, archived or deleted by the lifecycle) or unpins it. */
  async setPinned(id: string, pinned: boolean): Promise<WorkspaceInfo> {
    return this.change(id, pinned ? 'pinned' : 'unpinned', pinned ? 'pinned: kept until unpinned' : 'unpinned: the lifecycle applies again', (store) => store.workspaces.setPinned(id, pinned));
  }

  /** The notification's Keep: counts as a use, so its expiry starts again and a warning ends. */
  async keep(id: string): Promise<WorkspaceInfo> {
    return this.change(id, 'kept', 'kept: its expiry starts again', (store, now) => store.workspaces.recordAccess(id, now, {}));
  }

  /** Its lifecycle follows the new kind at once; ephemeral workspaces do not convert (they are made to vanish). */
  async setKind(id: string, kind: WorkspaceKind): Promise<WorkspaceInfo> {
    const before = this.get(id).kind;
    if (before === kind) return this.get(id);
    if (before === 'ephemeral' || kind === 'ephemeral') {
      throw conflict(`Workspace "${id}" is ${before}: ephemeral workspaces are made to vanish with their session and do not change kind. Clone it to keep its files.`);
    }
    return this.change(id, 'kind-changed', `kind ${before} → ${kind}`, (store) => store.workspaces.setKind(id, kind));
  }

  /** Its next session runs `image` with the same volume (running sessions keep theirs until restarted). */
  async setImage(id: string, image: string): Promise<WorkspaceInfo> {
    const problem = imageReferenceProblem(image);
    if (problem) throw invalidInput(`"${image}" is not an image reference: ${problem}`);
    const before = this.get(id).image;
    if (before === image) return this.get(id);
    return this.change(id, 'image-changed', `image ${before} → ${image}`, (store) => store.workspaces.setImage(id, image));
  }

  /** Its events, newest first; also a deleted workspace's. */
  history(id: string, limit?: number): WorkspaceEvent[] {
    const events = this.deps.store.events.list(id, limit);
    if (events.length === 0) this.get(id); // NotFound for an id that never was
    return events;
  }

  /** One change of a workspace with its event, made durable, then announced. */
  private async change(id: string, kind: WorkspaceEventKind, reason: string, apply: (store: Store, now: number) => void): Promise<WorkspaceInfo> {
    const { store, locks, clock, changes } = this.deps;
    return locks.run(id, async () => {
      this.get(id);
      const now = clock.now();
      apply(store, now);
      store.events.append(id, kind, reason, now);
      await store.commit();
      changes.emit('workspaces', 'sessions');
      return this.get(id);
    });
  }

  /** Records use of the workspace (not awaited by callers: statistics, not acknowledged state). */
  recordAccess(id: string, access: WorkspaceAccess = {}): void {
    this.deps.store.workspaces.recordAccess(id, this.deps.clock.now(), access);
  }
}

/** InvalidName, saying why and with an example, unless `name` follows the id rules (create and rename alike). */
function checkName(name: string): void {
  const problem = workspaceNameProblem(name);
  if (problem) throw invalidName(`${problem} Example: "my-api".`);
}

/** A page's end as an opaque cursor: base64url of [created_at ms, id]. */
function cursorOf(position: WorkspacePosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id])).toString('base64url');
}

function positionOf(cursor: string): WorkspacePosition {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  if (!Array.isArray(decoded) || decoded.length !== 2 || !Number.isSafeInteger(decoded[0]) || typeof decoded[1] !== 'string') {
    throw invalidInput('The cursor is not one this sidecar gave out; start again without a cursor.');
  }
  return { createdAt: decoded[0] as number, id: decoded[1] as string };
}
