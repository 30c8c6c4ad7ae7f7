import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { cryptoRandomHex, type RandomHex } from '../client/ids';
import type { CreateWorkspaceParams, SnapshotInfo, WorkspaceInfo, WorkspaceKind } from '../client/protocol';
import type { Containers } from '../containers';
import { conflict, invalidInput, notFound } from '../errors';
import type { Store } from '../store/store';
import type { Changes } from '../util/changes';
import type { Clock } from '../util/clock';
import type { KeyedLock } from '../util/keyedLock';
import type { Logger } from '../util/log';
import { syncDirectory } from '../util/syncDirectory';
import { VolumeArchives } from '../volumes/volumeArchives';
import type { Workspaces } from '../workspaces';

/** What long work says while it runs (LSP work-done progress, the CLI's stderr line). */
export type Progress = (message: string) => void;

export interface WorkspaceArchivesDependencies {
  store: Store;
  workspaces: Workspaces;
  containers: Containers;
  volumes: VolumeArchives;
  clock: Clock;
  changes: Changes;
  locks: KeyedLock;
  log: Logger;
  /** Runs `work` with the workspace's running sessions frozen (Sessions.frozenDuring). */
  freezeSessionsDuring<T>(workspaceId: string, work: () => Promise<T>): Promise<T>;
  /** The storage directory: nothing is exported into it or imported from it. */
  storageDirectory: string;
  /** `<home>/archives`: one `<workspace>.tar.gz` per archived workspace. */
  archiveDirectory: string;
  /** `<home>/snapshots`: `<workspace>/<snapshot>.tar.gz`. */
  snapshotDirectory: string;
  randomHex?: RandomHex;
}

const MAX_SNAPSHOT_NAME = 100;

/**
 * A workspace's files as archives: archive (volume to a file, volume removed) and transparent
 * restore, snapshots (create, restore with undo, delete), clone, export and import. The bytes
 * move through VolumeArchives (GNU tar in a helper container); this class keeps the database
 * and Docker in step, so that a crash at any moment leaves either the old state or the new one:
 * files are written whole before a row names them, a new volume is filled before the row
 * points at it, and what a crash leaves unnamed (a file, a volume) is removed by `sweep` and
 * reconciliation.
 */
export class WorkspaceArchives {
  /** When this process began: the sweep removes only files from before (see sweep). */
  private readonly startedAt = Date.now();

  constructor(private readonly deps: WorkspaceArchivesDependencies) {
    fs.mkdirSync(deps.archiveDirectory, { recursive: true, mode: 0o700 });
    fs.mkdirSync(deps.snapshotDirectory, { recursive: true, mode: 0o700 });
  }

  /** At start: removes partial files (VolumeArchives.sweepPartials), archives of workspaces no longer archived, snapshot files no row names. */
  sweep(): void {
    const { store, archiveDirectory, snapshotDirectory, log } = this.deps;
    const recorded = store.snapshots.allFiles();
    // One odd entry must not stop the rest. A file written since this process started may be an
    // archive or snapshot whose record is being committed right now (a request that came
    // before the sweep): only what an earlier process left is removed.
    const ours = (file: string) => fs.statSync(file).mtimeMs >= this.startedAt;
    const removeIf = (file: string, unwanted: boolean) => {
      try {
        if (unwanted && fs.lstatSync(file).isFile() && !ours(file)) fs.rmSync(file, { force: true });
      } catch (error) {
        log.error(`sweeping ${file}`, error);
      }
    };
    VolumeArchives.sweepPartials(archiveDirectory);
    for (const name of readDirectory(archiveDirectory)) {
      const id = name.endsWith('.tar.gz') ? name.slice(0, -'.tar.gz'.length) : undefined;
      removeIf(path.join(archiveDirectory, name), !id || store.workspaces.get(id)?.state !== 'archived');
    }
    for (const workspaceDirectory of readDirectory(snapshotDirectory)) {
      const directory = path.join(snapshotDirectory, workspaceDirectory);
      for (const name of readDirectory(directory)) removeIf(path.join(directory, name), !recorded.has(`${workspaceDirectory}/${name}`));
      try {
        if (readDirectory(directory).length === 0) fs.rmdirSync(directory);
      } catch (error) {
        log.error(`sweeping ${directory}`, error);
      }
    }
  }

  /** The workspace is gone: its archive and snapshot files go too. */
  async forget(workspaceId: string): Promise<void> {
    await fsp.rm(this.archiveFileOf(workspaceId), { force: true });
    await fsp.rm(path.join(this.deps.snapshotDirectory, workspaceId), { recursive: true, force: true });
  }

  archiveFileOf(workspaceId: string): string {
    return path.join(this.deps.archiveDirectory, `${workspaceId}.tar.gz`);
  }

  /** Saves the workspace's files to a file and removes its volume (Conflict while a session is live). */
  async archive(id: string, reason: string, progress?: Progress, options: { onlyIf?: () => boolean } = {}): Promise<WorkspaceInfo> {
    const { store, workspaces, locks, clock, changes, containers } = this.deps;
    return locks.run(id, async () => {
      const workspace = workspaces.get(id);
      if (workspace.state === 'archived' || (options.onlyIf && !options.onlyIf())) return workspace;
      this.requireNoLiveSession(id, 'archived');
      const file = this.archiveFileOf(id);
      const summary = await this.deps.volumes.save(workspace.volume, file, bytesSaid(progress, `Archiving ${workspace.name}`));
      await this.forgetStoppedContainers(id);
      store.workspaces.setState(id, 'archived');
      store.events.append(id, 'archived', `${reason} (${summary.bytes} bytes, sha256 ${summary.sha256.slice(0, 12)})`, clock.now());
      await store.commit();
      changes.emit('workspaces', 'sessions');
      // After the commit: a crash here leaves a volume no workspace names, which reconciliation removes.
      await containers.engine.removeVolume(workspace.volume).catch((error: unknown) => this.deps.log.error(`removing the archived volume ${workspace.volume}`, error));
      return workspaces.get(id);
    });
  }

  /** An archived workspace gets its files back in a new volume (a session start does this). Call under the workspace's lock. */
  async unarchive(id: string, progress?: Progress): Promise<void> {
    const { store, workspaces, clock, changes } = this.deps;
    const workspace = workspaces.get(id);
    if (workspace.state !== 'archived') return;
    const file = this.archiveFileOf(id);
    if (!fs.existsSync(file)) throw notFound(`The archive of workspace "${id}" (${file}) is missing, so its files cannot be restored.`);
    const volume = await this.filledVolume(workspace.id, (target) => this.deps.volumes.restore(file, target, bytesRead(progress, `Restoring ${workspace.name}`, file)));
    store.workspaces.setVolume(id, volume);
    store.workspaces.setState(id, 'suspended');
    store.events.append(id, 'restored', 'its archive was opened', clock.now());
    await store.commit();
    changes.emit('workspaces');
    await fsp.rm(file, { force: true });
  }

  async createSnapshot(workspaceId: string, name: string | undefined, progress?: Progress): Promise<SnapshotInfo> {
    const { locks } = this.deps;
    return locks.run(workspaceId, () => this.snapshotNow(workspaceId, name, progress));
  }

  list(workspaceId: string): SnapshotInfo[] {
    this.deps.workspaces.get(workspaceId);
    return this.deps.store.snapshots.list(workspaceId);
  }

  /** Replaces the workspace's files with the snapshot's; the current files are snapshotted first (the undo). */
  async restoreSnapshot(snapshotId: string, progress?: Progress): Promise<{ restored: SnapshotInfo; undo: SnapshotInfo }> {
    const { store, workspaces, locks, clock, changes } = this.deps;
    const snapshot = this.requireSnapshot(snapshotId);
    return locks.run(snapshot.workspaceId, async () => {
      const workspace = workspaces.get(snapshot.workspaceId);
      this.requireSnapshot(snapshotId); // not deleted while this waited for the lock
      this.requireNoLiveSession(workspace.id, 'restored from a snapshot');
      // Checked before anything changes: the file is whole and the one that was recorded.
      const file = this.snapshotPath(snapshot.file);
      const found = await this.deps.volumes.verify(file);
      if (found.sha256 !== snapshot.sha256) throw invalidInput(`The file of snapshot "${snapshot.name}" is not the one that was saved (its SHA-256 differs); it cannot be restored.`);
      const undo = await this.snapshotNow(workspace.id, `before restoring ${snapshot.name}`, progress);
      const volume = await this.filledVolume(workspace.id, (target) => this.deps.volumes.restore(file, target, bytesRead(progress, `Restoring ${snapshot.name}`, file)));
      const old = workspace.state === 'archived' ? undefined : workspace.volume;
      await this.forgetStoppedContainers(workspace.id);
      store.workspaces.setVolume(workspace.id, volume);
      if (workspace.state === 'archived') store.workspaces.setState(workspace.id, 'suspended');
      store.events.append(workspace.id, 'snapshot-restored', `restored ${snapshot.name} (version ${snapshot.version}); undo with snapshot ${undo.id}`, clock.now());
      await store.commit();
      changes.emit('workspaces', 'sessions');
      if (old) await this.removeVolumeQuietly(old);
      await fsp.rm(this.archiveFileOf(workspace.id), { force: true });
      return { restored: snapshot, undo };
    });
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    const { store, locks, clock, changes } = this.deps;
    const snapshot = this.requireSnapshot(snapshotId);
    await locks.run(snapshot.workspaceId, async () => {
      if (!store.snapshots.get(snapshotId)) return;
      store.snapshots.delete(snapshotId);
      store.events.append(snapshot.workspaceId, 'snapshot-deleted', `${snapshot.name} (version ${snapshot.version})`, clock.now());
      await store.commit();
      changes.emit('workspaces');
      await fsp.rm(this.snapshotPath(snapshot.file), { force: true });
    });
  }

  /** A new workspace of the same kind and image with a copy of the files. */
  async clone(id: string, name: string, progress?: Progress): Promise<WorkspaceInfo> {
    const { workspaces, locks, store, clock } = this.deps;
    const source = workspaces.get(id);
    const planned = workspaces.plan({ name, kind: source.kind, image: source.image, description: source.description, tags: source.tags });
    await locks.run(id, async () => {
      const fresh = workspaces.get(id);
      const volume = await this.filledVolume(planned.id, (target) =>
        fresh.state === 'archived'
          ? this.deps.volumes.restore(this.archiveFileOf(id), target, bytesRead(progress, `Copying ${fresh.name}`, this.archiveFileOf(id)))
          : this.deps.freezeSessionsDuring(id, () => this.deps.volumes.copy(fresh.volume, target)),
      );
      workspaces.insertPlanned(planned, volume, { reason: `cloned from ${id}`, withFiles: true });
      store.events.append(id, 'cloned', `copied into ${planned.id}`, clock.now());
      await store.commit();
    });
    this.deps.changes.emit('workspaces');
    return workspaces.get(planned.id);
  }

  /** Writes the workspace's files as a .tar.gz at `file` (an absolute path). */
  async export(id: string, file: string, overwrite: boolean, progress?: Progress): Promise<{ file: string; bytes: number; sha256: string }> {
    const { workspaces, locks, store, clock } = this.deps;
    const target = this.checkedFile(file, 'export to');
    const existing = lstatOrUndefined(target);
    if (existing && !existing.isFile()) throw invalidInput(`${target} exists and is not a regular file (a link, a directory, a device): choose another file.`);
    if (existing && !overwrite) throw conflict(`${target} exists. Choose another file, or overwrite it (--force).`);
    if (!fs.existsSync(path.dirname(target))) throw invalidInput(`The directory ${path.dirname(target)} does not exist.`);
    return locks.run(id, async () => {
      const workspace = workspaces.get(id);
      const summary = await this.saveFiles(workspace, target, bytesSaid(progress, `Exporting ${workspace.name}`));
      store.events.append(id, 'exported', `to ${target} (${summary.bytes} bytes)`, clock.now());
      await store.commit();
      return { file: target, ...summary };
    });
  }

  /** A new workspace with the files of a .tar.gz. */
  async import(file: string, params: { name: string; kind?: WorkspaceKind; image?: string }, progress?: Progress): Promise<WorkspaceInfo> {
    const { workspaces, store, changes } = this.deps;
    const source = this.checkedFile(file, 'import from');
    const found = statOrUndefined(source);
    if (!found) throw notFound(`There is no file ${source}.`);
    // A FIFO or a device would block a read for ever: regular files only.
    if (!found.isFile()) throw invalidInput(`${source} is not a regular file.`);
    const request: CreateWorkspaceParams = { name: params.name, ...(params.kind ? { kind: params.kind } : {}), ...(params.image ? { image: params.image } : {}) };
    const planned = workspaces.plan(request);
    await this.deps.containers.engine.ensureImage(planned.image);
    const volume = await this.filledVolume(planned.id, (target) => this.deps.volumes.restore(source, target, bytesRead(progress, `Importing ${path.basename(source)}`, source)));
    workspaces.insertPlanned(planned, volume, { reason: `imported from ${source}`, withFiles: true });
    await store.commit();
    changes.emit('workspaces');
    return workspaces.get(planned.id);
  }

  /** Called under the workspace's lock. */
  private async snapshotNow(workspaceId: string, name: string | undefined, progress?: Progress): Promise<SnapshotInfo> {
    const { store, workspaces, clock, changes } = this.deps;
    const workspace = workspaces.get(workspaceId);
    const label = (name ?? '').trim() || `snapshot ${new Date(clock.now()).toISOString().slice(0, 16).replace('T', ' ')}`;
    if (label.length > MAX_SNAPSHOT_NAME) throw invalidInput(`A snapshot name has at most ${MAX_SNAPSHOT_NAME} characters.`);
    const id = `snap-${(this.deps.randomHex ?? cryptoRandomHex)(8)}`;
    const relative = `${workspaceId}/${id}.tar.gz`;
    const file = this.snapshotPath(relative);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const summary = await this.saveFiles(workspace, file, bytesSaid(progress, `Snapshotting ${workspace.name}`));
    // The file is whole and checked before a row names it: a crash before this leaves only a file the sweep removes.
    try {
      store.snapshots.insert({ id, workspaceId, name: label, version: store.snapshots.nextVersion(workspaceId), file: relative, ...summary, now: clock.now() });
      store.events.append(workspaceId, 'snapshot-created', `${label} (${summary.bytes} bytes)`, clock.now());
      await store.commit();
    } catch (error) {
      await fsp.rm(file, { force: true });
      throw error;
    }
    changes.emit('workspaces');
    return store.snapshots.get(id)!;
  }

  /** A new volume for the workspace, filled by `fill`; removed again when that fails. */
  private async filledVolume(workspaceId: string, fill: (volume: string) => Promise<unknown>): Promise<string> {
    const { containers } = this.deps;
    const volume = `${containers.workspaceVolumeName(workspaceId)}-${(this.deps.randomHex ?? cryptoRandomHex)(4)}`;
    await containers.engine.createVolume(volume, { role: 'workspace', workspaceId });
    try {
      await fill(volume);
    } catch (error) {
      await this.removeVolumeQuietly(volume);
      throw error;
    }
    return volume;
  }

  /**
   * The workspace's files as a .tar.gz at `file`, written durably and checked: its archive
   * copied when it is archived (that is already such a file), else its volume saved with its
   * running sessions frozen, so the copy is of one moment (see Sessions.frozenDuring).
   */
  private saveFiles(workspace: WorkspaceInfo, file: string, onProgress?: (p: { bytes: number }) => void): Promise<{ bytes: number; sha256: string }> {
    if (workspace.state === 'archived') return copyDurably(this.archiveFileOf(workspace.id), file, this.deps.volumes);
    return this.deps.freezeSessionsDuring(workspace.id, () => this.deps.volumes.save(workspace.volume, file, onProgress));
  }

  /** Stopped sessions' containers still mount the old volume: they go, and a resume makes a new one. */
  private async forgetStoppedContainers(workspaceId: string): Promise<void> {
    const { store, containers } = this.deps;
    for (const session of store.sessions.list(workspaceId)) {
      if (session.state !== 'stopped' || !session.containerId) continue;
      await containers.remove(session.containerId);
      store.sessions.setContainer(session.id, null);
    }
  }

  /**
   * An absolute path of a .tar.gz on this machine (the sidecar's), outside the storage
   * directory (its archives, snapshots and database are the sidecar's own) and outside
   * /proc, /dev and /sys (their files are not files).
   */
  private checkedFile(file: string, what: string): string {
    if (!path.isAbsolute(file)) throw invalidInput(`The file to ${what} must be an absolute path, not "${file}".`);
    const normalized = path.normalize(file);
    let resolved = normalized;
    try {
      resolved = path.join(fs.realpathSync(path.dirname(normalized)), path.basename(normalized));
    } catch {
      throw invalidInput(`The directory ${path.dirname(normalized)} does not exist.`);
    }
    const forbidden = [this.deps.storageDirectory, '/proc', '/dev', '/sys'].map((directory) => realOrSelf(directory));
    if (forbidden.some((directory) => resolved === directory || resolved.startsWith(`${directory}${path.sep}`))) {
      throw invalidInput(`Sandkasten does not ${what} ${normalized}: it is inside ${forbidden.find((d) => resolved.startsWith(d))}. Choose a file elsewhere.`);
    }
    return resolved;
  }

  private requireNoLiveSession(workspaceId: string, what: string): void {
    const live = this.deps.store.sessions.list(workspaceId).filter((s) => s.state !== 'stopped');
    if (live.length > 0) throw conflict(`Workspace "${workspaceId}" has ${live.length} live session(s) (${live.map((s) => s.id).join(', ')}); stop them before it is ${what}.`);
  }

  private requireSnapshot(id: string): SnapshotInfo & { file: string } {
    const snapshot = this.deps.store.snapshots.get(id);
    if (!snapshot) throw notFound(`No snapshot "${id}". List them with \`sandkasten snapshot list WORKSPACE_ID\`.`);
    return snapshot;
  }

  /** A recorded name, under the snapshot directory only. */
  private snapshotPath(relative: string): string {
    const resolved = path.resolve(this.deps.snapshotDirectory, relative);
    if (!resolved.startsWith(this.deps.snapshotDirectory + path.sep)) throw invalidInput(`The snapshot file "${relative}" is not in the snapshot directory.`);
    return resolved;
  }

  private async removeVolumeQuietly(volume: string): Promise<void> {
    await this.deps.containers.engine.removeVolume(volume).catch((error: unknown) => this.deps.log.error(`removing volume ${volume}`, error));
  }
}

function lstatOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(file);
  } catch {
    return undefined;
  }
}

function statOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file);
  } catch {
    return undefined;
  }
}

/** Copies an archive under a temporary name beside the target, fsynced and checked, then renames it into place. */
async function copyDurably(source: string, target: string, volumes: VolumeArchives): Promise<{ bytes: number; sha256: string }> {
  const partial = `${target}.partial-${cryptoRandomHex(8)}`;
  try {
    await fsp.copyFile(source, partial, fs.constants.COPYFILE_EXCL);
    const handle = await fsp.open(partial, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    const summary = await volumes.verify(partial);
    await fsp.rename(partial, target);
    await syncDirectory(path.dirname(target));
    return summary;
  } catch (error) {
    await fsp.rm(partial, { force: true });
    throw error;
  }
}

function bytesSaid(progress: Progress | undefined, what: string): ((p: { bytes: number }) => void) | undefined {
  return progress && ((p) => progress(`${what}: ${megabytes(p.bytes)} written`));
}

function bytesRead(progress: Progress | undefined, what: string, file: string): ((p: { bytes: number }) => void) | undefined {
  if (!progress) return undefined;
  let total = 0;
  try {
    total = fs.statSync(file).size;
  } catch {
    total = 0;
  }
  return (p) => progress(total > 0 ? `${what}: ${Math.min(100, Math.round((p.bytes / total) * 100))} %` : `${what}: ${megabytes(p.bytes)}`);
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function realOrSelf(directory: string): string {
  try {
    return fs.realpathSync(directory);
  } catch {
    return directory;
  }
}

/** The names in a directory; none when it is not one (or is gone). */
function readDirectory(directory: string): string[] {
  try {
    return fs.lstatSync(directory).isDirectory() ? fs.readdirSync(directory) : [];
  } catch {
    return [];
  }
}
