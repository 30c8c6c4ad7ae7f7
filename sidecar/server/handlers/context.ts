import type { MessageConnection } from 'vscode-languageserver-protocol';
import type { Origin } from '../../client/protocol';
import type { NotificationFlow } from '../flow';
import type { Handle, HandleNotification } from '../registrar';
import type { Services } from '../services';

/** What each area's handlers get for one client connection. */
export interface HandlerContext {
  handle: Handle;
  onNotification: HandleNotification;
  connection: MessageConnection;
  /** Paces notifications to this client (back-pressure). */
  flow: NotificationFlow;
  services: Services;
  /** Who this client is: a VS Code window (it spoke LSP's initialize) or the CLI; read when something is made. */
  client: { origin: Origin };
}
