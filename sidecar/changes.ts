import type { ChangedArea } from './protocol';

/** Domain modules announce what changed; the server forwards it to every client. */
export class Changes {
  private readonly listeners = new Set<(areas: ChangedArea[]) => void>();

  emit(...areas: ChangedArea[]): void {
    for (const listener of this.listeners) listener(areas);
  }

  subscribe(listener: (areas: ChangedArea[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
