import { StringDecoder } from 'node:string_decoder';
import type { SidecarClient } from '../sidecar/client/sidecarClient';
import * as P from '../sidecar/client/protocol';
import { UsageError } from './format';

/**
 * `sandkasten shell SESSION_ID [--terminal ID]`: this TTY becomes a terminal of the session,
 * the same kind the extension shows, with the same persistence. Keys go through unchanged
 * (raw mode: Ctrl-C reaches the shell), window size changes follow (SIGWINCH), and the TTY is
 * put back however this ends. Exiting the shell ends the terminal; closing this window only
 * detaches, and `--terminal ID` reattaches later (or restores it once the shell is gone).
 * Returns the shell's exit code, or 1 when the shell ended with its container.
 */
export async function runShell(client: SidecarClient, sessionId: string | undefined, rest: string[], terminalId: string | undefined): Promise<number> {
  if (!sessionId || rest.length > 0) throw new UsageError('shell takes one SESSION_ID: sandkasten shell SESSION_ID [--terminal ID]');
  const { stdin, stdout, stderr } = process;
  if (!stdin.isTTY || !stdout.isTTY) throw new UsageError('shell needs an interactive terminal: run it with stdin and stdout attached to a TTY.');

  const size = () => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
  const opened = await client.request(P.OpenTerminalRequest.type, { sessionId, terminalId, ...size() });
  const id = opened.terminal.id;
  const how = opened.outcome === 'created' ? 'new' : opened.outcome === 'attached' ? 'reattached to' : 'restored';
  stderr.write(`sandkasten: ${how} ${opened.terminal.name} (${id}) in ${sessionId}; exit the shell to end it, close this window to detach.\r\n`);

  return new Promise<number>((resolve) => {
    const decoder = new StringDecoder('utf8');
    const onInput = (chunk: Buffer) => {
      const data = decoder.write(chunk);
      if (data) void client.connection.sendNotification(P.TerminalInputNotification.type, { terminalId: id, data }).catch(() => undefined);
    };
    const onResize = () =>
      void client.connection.sendNotification(P.TerminalResizeNotification.type, { terminalId: id, ...size() }).catch(() => undefined);
    const restoreTty = () => {
      if (stdin.isTTY) stdin.setRawMode(false);
    };
    const finish = (code: number, message?: string) => {
      stdin.off('data', onInput);
      stdout.off('resize', onResize);
      process.off('exit', restoreTty);
      restoreTty();
      stdin.pause();
      if (message) stderr.write(`\r\nsandkasten: ${message}\n`);
      resolve(code);
    };

    client.onNotification(P.TerminalOutputNotification.type, ({ terminalId, data }) => {
      if (terminalId !== id) return;
      // A slow terminal pauses the socket, which holds back the shell: back-pressure.
      if (!stdout.write(data) && !client.socket.isPaused()) {
        client.socket.pause();
        stdout.once('drain', () => client.socket.resume());
      }
    });
    client.onNotification(P.TerminalExitNotification.type, ({ terminalId, exitCode }) => {
      if (terminalId !== id) return;
      if (exitCode === null) finish(1, `the shell ended with its container; run the same command with --terminal ${id} to restore it.`);
      else finish(exitCode);
    });
    client.connection.onClose(() => finish(1, `the connection to the sidecar closed; reattach with --terminal ${id}.`));

    process.on('exit', restoreTty); // whatever happens, never leave the TTY raw
    stdin.setRawMode(true);
    stdin.on('data', onInput);
    stdin.resume();
    stdout.on('resize', onResize);
    if (opened.replay) stdout.write(opened.replay);
  });
}
