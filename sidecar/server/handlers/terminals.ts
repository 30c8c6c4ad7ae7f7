import type { MessageConnection } from 'vscode-languageserver-protocol';
import { invalidInput } from '../../errors';
import type { NotificationFlow } from '../flow';
import { requestRegistrar } from '../handlers';
import type { Logger } from '../../util/log';
import * as P from '../../client/protocol';
import type { TerminalSize } from '../../terminals/liveShell';
import type { Terminals } from '../../terminals/terminals';
import { optionalPositiveInteger, optionalString, requireString } from '../validation';

/** A TTY's size travels as 16-bit numbers. */
const MAX_TERMINAL_DIMENSION = 65535;

/**
 * Registers the terminal requests and notifications of one client connection. The connection
 * gets its own notification flow, so a slow client holds back only the shells it watches;
 * when it closes, it is detached from every terminal.
 */
export function registerTerminalHandlers(connection: MessageConnection, client: NotificationFlow, terminals: Terminals, log: Logger): void {
  const handle = requestRegistrar(connection, log);

  handle(P.OpenTerminalRequest.type, (params) =>
    terminals.open(
      {
        sessionId: requireString(params, 'sessionId'),
        terminalId: optionalString(params, 'terminalId'),
        ...requireSize(params),
      },
      client,
    ),
  );
  handle(P.CloseTerminalRequest.type, (params) => terminals.close(requireString(params, 'terminalId')));
  handle(P.ListTerminalsRequest.type, (params) => terminals.list(optionalString(params, 'sessionId')));

  // Notifications cannot answer with an error: malformed ones are dropped.
  connection.onNotification(P.TerminalInputNotification.type, (params) => {
    if (typeof params?.terminalId === 'string' && typeof params.data === 'string') terminals.input(client, params.terminalId, params.data);
  });
  connection.onNotification(P.TerminalResizeNotification.type, (params) => {
    if (typeof params?.terminalId !== 'string') return;
    try {
      terminals.resize(client, params.terminalId, requireSize(params as unknown as Record<string, unknown>));
    } catch {
      // an impossible size: ignored, the terminal keeps its size
    }
  });
  connection.onNotification(P.DetachTerminalNotification.type, (params) => {
    if (typeof params?.terminalId === 'string') terminals.detach(client, params.terminalId);
  });

  const detach = () => terminals.detachEverywhere(client);
  connection.onClose(detach);
  connection.onDispose(detach);
}

function requireSize(params: Record<string, unknown>): TerminalSize {
  const cols = optionalPositiveInteger(params, 'cols');
  const rows = optionalPositiveInteger(params, 'rows');
  if (cols === undefined || rows === undefined) throw invalidInput('"cols" and "rows" are required: the terminal\'s size in characters.');
  if (cols > MAX_TERMINAL_DIMENSION || rows > MAX_TERMINAL_DIMENSION) {
    throw invalidInput(`"cols" and "rows" must be at most ${MAX_TERMINAL_DIMENSION}.`);
  }
  return { cols, rows };
}
