import type * as vscode from 'vscode';

/**
 * Disposables that end together: the extension's lifetime, or one client connection's.
 * Disposed newest first, since something registered later may rely on what came before.
 * Anything added after the scope ended is disposed at once, so a registration that arrives
 * late (after an awaited start) cannot outlive its scope.
 */
export class DisposableScope implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private ended = false;

  /** Adds one disposable and returns it, so it can be created and scoped in one expression. */
  add<T extends vscode.Disposable>(disposable: T): T {
    if (this.ended) disposable.dispose();
    else this.disposables.push(disposable);
    return disposable;
  }

  push(...disposables: vscode.Disposable[]): void {
    for (const disposable of disposables) this.add(disposable);
  }

  dispose(): void {
    this.ended = true;
    const failures: unknown[] = [];
    for (const disposable of this.disposables.splice(0).reverse()) {
      // One failing disposable must not keep the rest alive.
      try {
        disposable.dispose();
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0) throw new AggregateError(failures, `${failures.length} disposable(s) failed to dispose`);
  }
}
