import type { SidecarClient } from '../sidecar/client/sidecarClient';
import * as P from '../sidecar/client/protocol';

export const KEYSTROKES = 300;
/** The shell's line is cleared (Ctrl-U) this often, so it never wraps. */
const CLEAR_LINE_EVERY = 40;

/**
 * Terminal keystroke echo: one byte typed into a sandbox terminal, timed until the shell's
 * echo of it comes back as terminal/output. Digits, because no prompt or redraw prints one.
 */
export async function measureTerminalEcho(client: SidecarClient, sessionId: string): Promise<number[] | undefined> {
  let output = '';
  let onOutput: (() => void) | undefined;
  client.onNotification(P.TerminalOutputNotification.type, ({ data }) => {
    output += data;
    onOutput?.();
  });
  const opened = await client.request(P.OpenTerminalRequest.type, { sessionId, cols: 120, rows: 40 });
  const terminalId = opened.terminal.id;
  const type = (data: string) => void client.connection.sendNotification(P.TerminalInputNotification.type, { terminalId, data });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 200));
  try {
    await settle(); // the shell's banner and first prompt
    const samples: number[] = [];
    for (let index = 0; index < KEYSTROKES; index++) {
      if (index > 0 && index % CLEAR_LINE_EVERY === 0) {
        type('\x15');
        await settle();
      }
      const key = String(index % 10);
      output = '';
      const started = performance.now();
      await new Promise<void>((resolve) => {
        onOutput = () => {
          if (!output.endsWith(key)) return;
          onOutput = undefined;
          resolve();
        };
        type(key);
      });
      samples.push(performance.now() - started);
    }
    return samples;
  } finally {
    await client.request(P.CloseTerminalRequest.type, { terminalId });
  }
}
