import type { MessageConnection } from 'vscode-languageserver-protocol';
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
}
