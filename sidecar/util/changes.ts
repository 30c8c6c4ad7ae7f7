import type { ChangedArea } from '../client/protocol';

/**
 * Domain modules announce what changed; the server forwards areas to every client, and
 * modules that hold per-session resources (shells, terminals) learn when a session ended.
 */
export class Changes {
  private readonly listeners = new Set<(areas: ChangedArea[]) => void>();
  private readonly sessionEndListeners = new Set<(sessionId: string) => void>();

  emit(...areas: ChangedArea[]): void {
    for (const listener of this.listeners) listener(areas);
  }

  subscribe(listener: (areas: ChangedArea[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The session's container stopped or went away: its shells are gone. */
  sessionEnded(sessionId: string): void {
    for (const listener of this.sessionEndListeners) listener(sessionId);
  }

  onSessionEnded(listener: (sessionId: string) => void): () => void {
    this.sessionEndListeners.add(listener);
    return () => this.sessionEndListeners.delete(listener);
  }
}
