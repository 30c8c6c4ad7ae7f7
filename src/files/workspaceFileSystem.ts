import * as vscode from 'vscode';
import {
  CreateDirectoryRequest,
  DeleteFileRequest,
  FileChangedNotification,
  FileStatRequest,
  ReadDirectoryRequest,
  ReadFileRequest,
  RenameFileRequest,
  UnwatchFilesRequest,
  WatchFilesRequest,
  WriteFileRequest,
  type FileChangeInfo,
  type FileTarget,
} from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { describeError } from '../errors';
import { authorityOf, FILES_SCHEME, fileSystemErrorKind, targetOf } from './fileSystemMapping';

const CHANGE_TYPES: Record<FileChangeInfo['type'], vscode.FileChangeType> = {
  created: vscode.FileChangeType.Created,
  changed: vscode.FileChangeType.Changed,
  deleted: vscode.FileChangeType.Deleted,
};

/** One watch VS Code asked for, kept to be asked again of a new sidecar connection. */
interface Watch {
  uri: vscode.Uri;
  target: FileTarget;
  recursive: boolean;
}

/**
 * A workspace's /workspace as a folder of the window: `sandkasten://<workspace id>/src/a.ts`
 * (see fileSystemMapping.ts). Every call is a request to the sidecar, which reaches the files
 * inside a container; its errors become VS Code's FileSystemErrors, named by the URI.
 * Watches are the sidecar's (it polls the running session); they belong to the connection
 * and are made again on every new one.
 */
export class SandkastenFileSystem implements vscode.FileSystemProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.changed.event;
  private readonly watches = new Map<string, Watch>();
  private nextWatch = 0;
  private readonly connected: vscode.Disposable;

  constructor(private readonly ctx: Ctx) {
    ctx.onNotification(FileChangedNotification.type, ({ watchId, changes }) => this.deliver(watchId, changes));
    this.connected = ctx.onDidConnect(() => {
      for (const [watchId, watch] of this.watches) void this.startWatch(watchId, watch);
    });
  }

  watch(uri: vscode.Uri, options: { readonly recursive: boolean }): vscode.Disposable {
    const target = targetOf(uri.authority);
    if (!target) return new vscode.Disposable(() => undefined);
    const watchId = `watch-${process.pid}-${++this.nextWatch}`;
    const watch = { uri, target, recursive: options.recursive };
    this.watches.set(watchId, watch);
    void this.startWatch(watchId, watch);
    return new vscode.Disposable(() => {
      if (!this.watches.delete(watchId)) return;
      // Without a connection there is nothing to end: the watch ended with it, and is not made again.
      if (this.ctx.state === 'ready') void this.ctx.request(UnwatchFilesRequest.type, { watchId }).catch(() => undefined);
    });
  }

  async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    const stat = await this.request(uri, () => this.ctx.request(FileStatRequest.type, this.at(uri)));
    return {
      type: (stat.type === 'directory' ? vscode.FileType.Directory : vscode.FileType.File) | (stat.symlink ? vscode.FileType.SymbolicLink : 0),
      size: stat.size,
      mtime: stat.mtimeMs,
      ctime: stat.ctimeMs,
    };
  }

  async readDirectory(uri: vscode.Uri): Promise<[string, vscode.FileType][]> {
    const entries = await this.request(uri, () => this.ctx.request(ReadDirectoryRequest.type, this.at(uri)));
    return entries.map((entry) => [entry.name, (entry.type === 'directory' ? vscode.FileType.Directory : vscode.FileType.File) | (entry.symlink ? vscode.FileType.SymbolicLink : 0)]);
  }

  async readFile(uri: vscode.Uri): Promise<Uint8Array> {
    const { content } = await this.request(uri, () => this.ctx.request(ReadFileRequest.type, this.at(uri)));
    return Buffer.from(content, 'base64');
  }

  async writeFile(uri: vscode.Uri, content: Uint8Array, options: { readonly create: boolean; readonly overwrite: boolean }): Promise<void> {
    const base64 = Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString('base64');
    await this.request(uri, () => this.ctx.request(WriteFileRequest.type, { ...this.at(uri), content: base64, create: options.create, overwrite: options.overwrite }));
  }

  async delete(uri: vscode.Uri, options: { readonly recursive: boolean }): Promise<void> {
    await this.request(uri, () => this.ctx.request(DeleteFileRequest.type, { ...this.at(uri), recursive: options.recursive }));
  }

  async rename(oldUri: vscode.Uri, newUri: vscode.Uri, options: { readonly overwrite: boolean }): Promise<void> {
    if (oldUri.authority !== newUri.authority) throw vscode.FileSystemError.NoPermissions('Files move within one Sandkasten workspace only: copy them to another one instead.');
    await this.request(oldUri, () => this.ctx.request(RenameFileRequest.type, { ...this.at(oldUri), newPath: newUri.path, overwrite: options.overwrite }));
  }

  async createDirectory(uri: vscode.Uri): Promise<void> {
    await this.request(uri, () => this.ctx.request(CreateDirectoryRequest.type, this.at(uri)));
  }

  dispose(): void {
    this.connected.dispose();
    this.changed.dispose();
    this.watches.clear();
  }

  private async startWatch(watchId: string, watch: Watch): Promise<void> {
    try {
      await this.ctx.request(WatchFilesRequest.type, { target: watch.target, path: watch.uri.path, watchId, recursive: watch.recursive });
    } catch (error) {
      // Not for a message: the folder still works, it only learns of changes made elsewhere later.
      this.ctx.output.warn(`Watching ${watch.uri.toString()} failed: ${describeError(error).message}`);
    }
  }

  private deliver(watchId: string, changes: FileChangeInfo[]): void {
    const watch = this.watches.get(watchId);
    if (!watch) return;
    this.changed.fire(changes.map((change) => ({ type: CHANGE_TYPES[change.type], uri: watch.uri.with({ path: change.path }) })));
  }

  private targetOf(uri: vscode.Uri): FileTarget {
    const target = targetOf(uri.authority);
    if (!target) throw vscode.FileSystemError.FileNotFound(uri);
    return target;
  }

  private at(uri: vscode.Uri): { target: FileTarget; path: string } {
    return { target: this.targetOf(uri), path: uri.path || '/' };
  }

  /** Runs a request; its failure becomes the FileSystemError its code means (fileSystemErrorKind), never the sidecar's text. */
  private async request<T>(uri: vscode.Uri, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      if (error instanceof vscode.FileSystemError) throw error;
      const kind = fileSystemErrorKind(error);
      if (kind === 'Unavailable') this.ctx.output.warn(`${uri.toString()}: ${describeError(error).message}`);
      throw vscode.FileSystemError[kind](uri);
    }
  }
}

/** Registers the `sandkasten:` file system for the extension's lifetime (VS Code activates us for it: onFileSystem). */
export function registerWorkspaceFileSystem(ctx: Ctx): void {
  const provider = new SandkastenFileSystem(ctx);
  ctx.pushExtensionCleanup(provider, vscode.workspace.registerFileSystemProvider(FILES_SCHEME, provider, { isCaseSensitive: true }));
}

/**
 * Adds the files of `target` to the window as a folder named `label` (after the others), or
 * shows it in the Explorer when the window has it already. Adding the window's first folder
 * reopens it as a workspace, as VS Code does for any folder.
 */
export async function openFilesFolder(target: FileTarget, label: string): Promise<void> {
  const uri = vscode.Uri.from({ scheme: FILES_SCHEME, authority: authorityOf(target), path: '/' });
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.some((folder) => folder.uri.toString() === uri.toString())) {
    await vscode.commands.executeCommand('revealInExplorer', uri);
    return;
  }
  if (!vscode.workspace.updateWorkspaceFolders(folders.length, 0, { uri, name: label })) {
    throw new Error('VS Code did not add the folder: another change of the window\'s folders is under way. Try again in a moment.');
  }
  await vscode.commands.executeCommand('workbench.view.explorer');
}
