import type { SidecarClient } from '../sidecar/client';

/** Terminal keystroke echo p50: filled in once sandbox terminals exist. */
export async function measureTerminalEcho(_client: SidecarClient, _sessionId: string): Promise<number[] | undefined> {
  return undefined;
}
