/** A terminal as clients see it: in its own module, so the protocol's parts (shareProtocol.ts) can name it without a cycle. */
export interface TerminalInfo {
  id: string;
  sessionId: string;
  name: string;
  /** live: a shell runs now; dormant: its shell is gone, opening it restores cwd, env, history. */
  state: 'live' | 'dormant';
  cwd: string;
  createdAt: string;
  /** Connections attached right now (windows, CLI shells). */
  attached: number;
  /** Only the host's: guests of a share neither see nor open it. */
  private?: boolean;
}
