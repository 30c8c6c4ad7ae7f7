import { randomBytes } from 'node:crypto';
import type { FileChangeInfo } from '../client/protocol';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { WRITE_TEMPORARY_PREFIX, type TypedEntry } from './fileScripts';
import { isWithin, Listings, type WorkspaceListings } from './listings';
import type { PollOutput } from './watchScripts';

/** Between two polls of a workspace at least this long… */
export const POLL_INTERVAL_MS = 1000;
/** …and at least this many times what the last poll took (a huge tree is polled less often), at most MAX_POLL_INTERVAL_MS. */
const POLL_DUTY_FACTOR = 5;
const MAX_POLL_INTERVAL_MS = 30_000;
/** The output of one poll of one watched path (some thousand paths); beyond it the whole tree counts as changed. */
const MAX_POLL_OUTPUT_BYTES = 256 * 1024;
/** Directories whose entries are listed (to tell what was created or deleted) per poll, and their output in all. */
const MAX_DIRECTORIES_PER_POLL = 64;
const MAX_LISTING_OUTPUT_BYTES = 4 * 1024 * 1024;
/** Entries of one directory kept to compare with; a larger directory is reported `changed` only. */
const MAX_COMPARED_ENTRIES = 10_000;

/** What polls use in a container: FilePlace's, injected so the watching itself needs no container to test. */
export interface WatchPlace {
  poll(components: string[], options: { recursive: boolean; since?: number; maxBytes: number; stamp?: string }): Promise<PollOutput>;
  listDirectories(directories: string[][], options: { limit: number; maxBytes: number }): Promise<Map<number, TypedEntry[] | 'incomplete'>>;
}

export interface FileWatchDependencies {
  /** The container of the workspace's running, unfrozen session; undefined when it has none, `gone` when the workspace is. */
  runningContainer(workspaceId: string): string | undefined | 'gone';
  /** Runs polls in that container without counting a use (see Files.inRunningContainer). */
  inContainer<T>(containerId: string, work: (place: WatchPlace) => Promise<T>): Promise<T>;
  clock: Clock;
  log: Logger;
}

/** A change this sidecar made itself (through FileOps): reported at once, known before the next poll. */
export interface MadeChange {
  type: FileChangeInfo['type'];
  components: string[];
  isDirectory?: boolean;
}

/** The path of components as clients name it: `/`, `/src/a.ts`. */
export const pathOf = (components: string[]) => `/${components.join('/')}`;
const componentsOf = (path: string) => (path === '/' ? [] : path.slice(1).split('/'));
const childOf = (directory: string, name: string) => (directory === '/' ? `/${name}` : `${directory}/${name}`);
const parentOf = (path: string) => (path.lastIndexOf('/') <= 0 ? '/' : path.slice(0, path.lastIndexOf('/')));
/** A write's temporary file (see writeScript) comes and goes within a write: never reported. */
const isTemporary = (path: string) => path.slice(path.lastIndexOf('/') + 1).startsWith(WRITE_TEMPORARY_PREFIX);

/**
 * Watches of workspaces' files, for every client (windows, share guests). Changes inside a
 * container are found by polling it (see watchScripts.ts), and only while the workspace has a
 * running session that is not frozen: watching never starts a container, thaws a session or
 * counts as a use of one. Watches of one workspace share its polls: one poller per watched
 * path (and recursion), none for a path a recursive watch above it covers, one round at a
 * time, at least POLL_INTERVAL_MS apart. Changes made through FileOps are reported at once.
 */
export class FileWatches {
  private readonly byWorkspace = new Map<string, WorkspaceWatch>();
  /** Kept whether or not a workspace is watched: a listing often comes before the watch (the Explorer reads, then watches). */
  private readonly listings = new Listings();

  constructor(private readonly deps: FileWatchDependencies) {}

  watch(workspaceId: string, components: string[], recursive: boolean, onChanges: (changes: FileChangeInfo[]) => void): { dispose(): void } {
    let watch = this.byWorkspace.get(workspaceId);
    if (!watch) {
      watch = new WorkspaceWatch(workspaceId, this.listings.of(workspaceId), this.deps, () => this.byWorkspace.delete(workspaceId));
      this.byWorkspace.set(workspaceId, watch);
    }
    return watch.subscribe({ path: pathOf(components), recursive, onChanges });
  }

  isWatched(workspaceId: string): boolean {
    return this.byWorkspace.has(workspaceId);
  }

  /** A directory's entries as a client just read them: what the next change to it is compared with. */
  noteListing(workspaceId: string, components: string[], entries: Array<{ name: string }>): void {
    const listings = this.listings.of(workspaceId);
    if (entries.length > MAX_COMPARED_ENTRIES) return listings.forget(pathOf(components));
    listings.set(pathOf(components), new Set(entries.map((entry) => entry.name).filter((name) => !isTemporary(name))));
  }

  report(workspaceId: string, changes: MadeChange[]): void {
    const batch = applyMadeChanges(this.listings.of(workspaceId), changes);
    this.byWorkspace.get(workspaceId)?.deliver(batch);
  }

  dispose(): void {
    for (const watch of [...this.byWorkspace.values()]) watch.stop();
    this.byWorkspace.clear();
  }
}

interface Subscription {
  path: string;
  recursive: boolean;
  onChanges(changes: FileChangeInfo[]): void;
}

/** One watched path's polling state, valid in one container. */
interface Poller {
  path: string;
  recursive: boolean;
  subscribers: number;
  /** The next poll's stamp (container clock, seconds); undefined: a fresh start. */
  since?: number;
  /** Fingerprints of the paths the last poll saw modified: seen again unchanged, they are not reported again. */
  fingerprints: Map<string, string>;
  exists?: boolean;
  /** Names this poller's stamp file in the container: the same every poll, so one cut short leaves at most that one behind. */
  stamp: string;
}

class WorkspaceWatch {
  private readonly subscriptions = new Set<Subscription>();
  private readonly pollers = new Map<string, Poller>();
  /** Directories whose kept entries may be stale (a new container, a poll cut short): listed again when there is room. */
  private readonly pending = new Set<string>();
  private containerId: string | undefined;
  private timer: { cancel(): void } | undefined;
  private polling = false;
  private stopped = false;
  private gone = false;
  private lastProblem = '';

  constructor(
    private readonly workspaceId: string,
    private readonly listings: WorkspaceListings,
    private readonly deps: FileWatchDependencies,
    private readonly onStopped: () => void,
  ) {}

  subscribe(subscription: Subscription): { dispose(): void } {
    this.subscriptions.add(subscription);
    const key = pollerKey(subscription);
    const poller = this.pollers.get(key) ?? { path: subscription.path, recursive: subscription.recursive, subscribers: 0, fingerprints: new Map(), stamp: randomBytes(8).toString('hex') };
    poller.subscribers++;
    this.pollers.set(key, poller);
    if (!this.timer && !this.polling) this.schedule(0);
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) return;
        disposed = true;
        this.subscriptions.delete(subscription);
        if (--poller.subscribers === 0) this.pollers.delete(key);
        if (this.subscriptions.size === 0) this.stop();
      },
    };
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.onStopped();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      void this.round();
    }, delayMs);
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    this.polling = true;
    const started = this.deps.clock.now();
    try {
      const container = this.deps.runningContainer(this.workspaceId);
      if (container === 'gone') return this.workspaceGone();
      if (!container) return;
      if (container !== this.containerId) {
        // A session (re)started: what happened meanwhile is unknown. Known directories are
        // listed again (their comparison finds what was made or removed), polls start afresh.
        this.containerId = container;
        for (const poller of this.pollers.values()) Object.assign(poller, { since: undefined, fingerprints: new Map(), exists: undefined });
        for (const path of this.listings.paths()) this.pending.add(path);
      }
      const batch = await this.deps.inContainer(container, (place) => this.poll(place));
      this.lastProblem = '';
      this.deliver(batch);
    } catch (error) {
      const problem = (error as Error)?.message ?? String(error);
      // Once per kind of failure, not every second.
      if (problem !== this.lastProblem) this.deps.log.info(`watching the files of ${this.workspaceId}: ${problem}`);
      this.lastProblem = problem;
    } finally {
      this.polling = false;
      const took = this.deps.clock.now() - started;
      if (this.subscriptions.size > 0) this.schedule(Math.min(MAX_POLL_INTERVAL_MS, Math.max(POLL_INTERVAL_MS, took * POLL_DUTY_FACTOR)));
    }
  }

  /** One round: each active poller's modified paths, then the entries of changed directories compared with what was known. */
  private async poll(place: WatchPlace): Promise<ChangeBatch> {
    const batch = new ChangeBatch();
    const changedDirectories = new Set<string>();
    const changedFiles: string[] = [];
    for (const poller of this.activePollers()) {
      const result = await place.poll(componentsOf(poller.path), { recursive: poller.recursive, since: poller.since, maxBytes: MAX_POLL_OUTPUT_BYTES, stamp: poller.stamp });
      if (result.startedAt !== undefined) poller.since = result.startedAt - 1;
      if (poller.exists !== undefined && poller.exists !== result.exists) batch.add(result.exists ? 'created' : 'deleted', poller.path);
      if (!result.exists) this.forgetWithin(poller.path);
      poller.exists = result.exists;
      if (result.truncated) {
        batch.add('changed', poller.path);
        for (const path of this.listings.paths()) if (isWithin(path, poller.path)) this.pending.add(path);
      }
      const fingerprints = new Map<string, string>();
      for (const changed of result.changed) {
        const path = pathOf(changed.components);
        fingerprints.set(path, changed.fingerprint);
        if (poller.fingerprints.get(path) === changed.fingerprint) continue;
        if (changed.isDirectory) changedDirectories.add(path);
        else changedFiles.push(path);
      }
      poller.fingerprints = fingerprints;
    }
    const created = await this.compareDirectories(place, changedDirectories, batch);
    // A new directory or file is `created`, not also `changed`.
    for (const path of [...changedDirectories, ...changedFiles]) if (!created.has(path)) batch.add('changed', path);
    return batch;
  }

  /**
   * Lists changed directories (and pending ones) and compares them with their kept entries:
   * what is new is `created`, what went `deleted`. Unknown before, a directory's entries are
   * only kept. Returns the paths reported created.
   */
  private async compareDirectories(place: WatchPlace, changed: Set<string>, batch: ChangeBatch): Promise<Set<string>> {
    const created = new Set<string>();
    const toList = [...changed, ...[...this.pending].filter((path) => !changed.has(path))].slice(0, MAX_DIRECTORIES_PER_POLL);
    if (toList.length === 0) return created;
    for (const path of toList) this.pending.delete(path);
    // Left for a later round only when something is kept to compare with.
    for (const path of changed) if (!toList.includes(path) && this.listings.has(path)) this.pending.add(path);
    const listed = await place.listDirectories(toList.map(componentsOf), { limit: MAX_COMPARED_ENTRIES, maxBytes: MAX_LISTING_OUTPUT_BYTES });
    toList.forEach((path, index) => {
      const entries = listed.get(index);
      if (entries === undefined) return this.forgetWithin(path); // gone: its parent's comparison says so
      if (entries === 'incomplete') {
        batch.add('changed', path);
        return this.listings.forget(path);
      }
      const names = new Set(entries.map((entry) => entry.name).filter((name) => !isTemporary(name)));
      const before = this.listings.get(path);
      if (before) {
        for (const name of names) if (!before.has(name)) created.add(batch.add('created', childOf(path, name)));
        for (const name of before) {
          if (names.has(name)) continue;
          batch.add('deleted', childOf(path, name));
          this.forgetWithin(childOf(path, name));
        }
      }
      this.listings.set(path, names);
    });
    return created;
  }

  /** Pollers not covered by a recursive one at or above their path (that one sees all they would). */
  private activePollers(): Poller[] {
    const all = [...this.pollers.values()];
    return all.filter((poller) => !all.some((other) => other !== poller && other.recursive && isWithin(poller.path, other.path) && (other.path !== poller.path || !poller.recursive)));
  }

  private forgetWithin(path: string): void {
    this.listings.forgetWithin(path);
    for (const pending of [...this.pending]) if (isWithin(pending, path)) this.pending.delete(pending);
  }

  /** The workspace was deleted: each watched path is reported deleted, once. */
  private workspaceGone(): void {
    if (this.gone) return;
    this.gone = true;
    this.listings.forgetWithin('/');
    const batch = new ChangeBatch();
    for (const subscription of this.subscriptions) batch.add('deleted', subscription.path);
    this.deliver(batch);
  }

  /** Each subscriber gets the changes in its scope: its path, and below it (recursive) or its direct entries. */
  deliver(batch: ChangeBatch): void {
    const changes = batch.changes().filter((change) => !isTemporary(change.path));
    if (changes.length === 0) return;
    for (const subscription of [...this.subscriptions]) {
      const mine = changes.filter((change) =>
        subscription.recursive ? isWithin(change.path, subscription.path) : change.path === subscription.path || parentOf(change.path) === subscription.path,
      );
      if (mine.length > 0) subscription.onChanges(mine);
    }
  }
}

/** What changes this sidecar made itself mean for the kept entries, and the batch to report. */
function applyMadeChanges(listings: WorkspaceListings, changes: MadeChange[]): ChangeBatch {
  const batch = new ChangeBatch();
  for (const change of changes) {
    const path = pathOf(change.components);
    const parent = parentOf(path);
    const name = change.components.at(-1) ?? '';
    if (change.type === 'created') {
      listings.add(parent, name);
      if (change.isDirectory) listings.set(path, new Set());
      batch.add('changed', parent);
    } else if (change.type === 'deleted') {
      listings.remove(parent, name);
      listings.forgetWithin(path);
      batch.add('changed', parent);
    }
    batch.add(change.type, path);
  }
  return batch;
}

const pollerKey = (subscription: Pick<Subscription, 'path' | 'recursive'>) => `${subscription.recursive ? 'r' : 'n'}${subscription.path}`;

/** Changes of one round, each (type, path) once, in the order found. */
class ChangeBatch {
  private readonly found = new Map<string, FileChangeInfo>();

  add(type: FileChangeInfo['type'], path: string): string {
    this.found.set(`${type}:${path}`, { type, path });
    return path;
  }

  changes(): FileChangeInfo[] {
    return [...this.found.values()];
  }
}
