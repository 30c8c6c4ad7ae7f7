import {
  CancellationTokenSource,
  ResponseError,
  type CancellationToken,
  type MessageConnection,
  type NotificationHandler,
  type NotificationType,
  type RequestHandler,
  type RequestType,
} from 'vscode-languageserver-protocol';
import { ErrorCode, type ErrorData } from '../client/protocol';
import { SchemaError, type Schema } from '../client/schema';
import { SandkastenError } from '../errors';
import type { Logger } from '../util/log';

/** A request as the protocol declares it: its type and the schema of its parameters. */
export interface RequestDeclaration<P, R, S> {
  type: RequestType<P, R, void>;
  params: Schema<S>;
}
export interface NotificationDeclaration<P, S> {
  type: NotificationType<P>;
  params: Schema<S>;
}

export type Handle = <P, R, S>(request: RequestDeclaration<P, R, S>, handler: (params: S, token: CancellationToken) => Promise<R> | R) => void;
export type HandleNotification = <P, S>(notification: NotificationDeclaration<P, S>, handler: (params: S) => void) => void;

/**
 * The one wrapper around every handler of a connection: parameters are checked against
 * the request's schema before the handler runs (a bad one is InvalidInput and changes
 * nothing), whatever is thrown becomes a typed ResponseError, and a handler's token is
 * cancelled when its client cancels the request or goes away (a killed CLI's command is
 * stopped, its queued ones dropped, as if it had pressed Ctrl-C).
 */
export function registrar(connection: MessageConnection, log: Logger): { handle: Handle; onNotification: HandleNotification } {
  const connectionGone = new CancellationTokenSource();
  connection.onClose(() => connectionGone.cancel());
  connection.onDispose(() => connectionGone.cancel());
  const handle: Handle = (request, handler) => {
    const method = request.type.method;
    const wrapped = async (raw: unknown, token: CancellationToken) => {
      const cancellation = eitherCancelled(token, connectionGone.token);
      try {
        return await handler(request.params.check(raw, method), cancellation.token);
      } catch (error) {
        if (!(error instanceof SandkastenError) && !(error instanceof SchemaError)) log.error(`${method} failed`, error);
        throw toResponseError(error);
      } finally {
        cancellation.dispose();
      }
    };
    // The casts only bridge vscode-jsonrpc's conditional types for a generic P and R.
    connection.onRequest(request.type as RequestType<unknown, unknown, void>, wrapped as RequestHandler<unknown, unknown, void>);
  };
  // Notifications cannot answer with an error: malformed ones are dropped.
  const onNotification: HandleNotification = (notification, handler) => {
    const wrapped = (raw: unknown) => {
      let params;
      try {
        params = notification.params.check(raw, notification.type.method);
      } catch {
        return;
      }
      handler(params);
    };
    connection.onNotification(notification.type as NotificationType<unknown>, wrapped as NotificationHandler<unknown>);
  };
  return { handle, onNotification };
}

/** A token cancelled when either is; dispose it to drop its listeners on both. */
function eitherCancelled(first: CancellationToken, second: CancellationToken): { token: CancellationToken; dispose(): void } {
  const source = new CancellationTokenSource();
  const listeners = [first, second].map((token) => token.onCancellationRequested(() => source.cancel()));
  if (first.isCancellationRequested || second.isCancellationRequested) source.cancel();
  return {
    token: source.token,
    dispose: () => {
      for (const listener of listeners) listener.dispose();
      source.dispose();
    },
  };
}

/** Turns anything thrown by a handler into the ResponseError sent to the client; a raw detail goes in its data (ErrorData). */
export function toResponseError(error: unknown): ResponseError<ErrorData> {
  if (error instanceof ResponseError) return error;
  if (error instanceof SchemaError) return new ResponseError(ErrorCode.InvalidInput, error.message, { code: 'InvalidInput' });
  if (error instanceof SandkastenError) {
    const data: ErrorData = { code: error.codeName, ...(error.detail ? { detail: error.detail } : {}), ...(error.data.file ? { file: error.data.file } : {}) };
    return new ResponseError(ErrorCode[error.codeName], error.message, data);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ResponseError(ErrorCode.Internal, `Internal error: ${message}`, { code: 'Internal' });
}
