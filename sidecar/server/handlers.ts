import type { CancellationToken, MessageConnection, RequestHandler, RequestType } from 'vscode-languageserver-protocol';
import { toResponseError, SandkastenError } from '../errors';
import type { NotificationFlow } from './flow';
import type { Logger } from '../util/log';
import * as P from '../client/protocol';
import type { Services } from '../sidecar';
import {
  optionalBoolean,
  optionalPositiveInteger,
  optionalString,
  optionalStringArray,
  requireObject,
  requireString,
  requireStringArray,
} from './validation';

type Handler<R> = (params: Record<string, unknown>, token: CancellationToken) => Promise<R> | R;

/** The one wrapper around every request handler: validated params in, typed ResponseError out. */
export function requestRegistrar(connection: MessageConnection, log: Logger) {
  return <P, R>(type: RequestType<P, R, void>, handler: Handler<R>) => {
    const wrapped = async (params: P, token: CancellationToken) => {
      try {
        return await handler(requireObject(params, type.method), token);
      } catch (error) {
        if (!(error instanceof SandkastenError)) log.error(`${type.method} failed`, error);
        throw toResponseError(error);
      }
    };
    // The cast only bridges vscode-jsonrpc's conditional HandlerResult<R> for a generic R.
    connection.onRequest(type, wrapped as RequestHandler<P, R, void>);
  };
}

/**
 * Registers every request on one client connection. Each handler validates its params; one
 * wrapper turns whatever is thrown into a typed ResponseError.
 */
export function registerHandlers(connection: MessageConnection, flow: NotificationFlow, services: Services, log: Logger): void {
  const handle = requestRegistrar(connection, log);
  const { workspaces, sessions, exec, config } = services;

  handle(P.StatusRequest.type, () => services.status());
  handle(P.ShutdownSidecarRequest.type, () => {
    // Answer first, then exit: the client should see the acknowledgement.
    setImmediate(() => void services.shutdown('requested by a client'));
    return null;
  });

  handle(P.ListWorkspacesRequest.type, () => workspaces.list());
  handle(P.CreateWorkspaceRequest.type, (params) =>
    workspaces.create({
      name: typeof params.name === 'string' ? params.name : '',
      kind: optionalString(params, 'kind') as P.WorkspaceKind | undefined,
      image: optionalString(params, 'image'),
      description: optionalString(params, 'description'),
      tags: optionalStringArray(params, 'tags'),
    }),
  );
  handle(P.DeleteWorkspaceRequest.type, async (params) => {
    const id = requireString(params, 'id');
    await workspaces.delete(id, optionalBoolean(params, 'force') ?? false);
    return { id };
  });

  handle(P.ListSessionsRequest.type, (params) => sessions.list(optionalString(params, 'workspaceId')));
  handle(P.StartSessionRequest.type, (params) => sessions.start(requireString(params, 'workspaceId')));
  handle(P.ResumeSessionRequest.type, (params) => sessions.resume(requireString(params, 'id')));
  handle(P.StopSessionRequest.type, (params) => sessions.stop(requireString(params, 'id')));
  handle(P.DestroySessionRequest.type, async (params) => {
    const id = requireString(params, 'id');
    await sessions.destroy(id);
    return { id };
  });

  handle(P.ExecRequest.type, (params, token) => {
    const encoding = optionalString(params, 'encoding');
    if (encoding !== undefined && encoding !== 'utf8' && encoding !== 'base64') throw new SandkastenError('InvalidInput', '"encoding" must be "utf8" or "base64".');
    return exec.run(
      {
        sessionId: requireString(params, 'sessionId'),
        command: params.command === undefined ? undefined : requireStringArray(params, 'command'),
        line: params.line === undefined ? undefined : requireString(params, 'line'),
        timeoutMs: optionalPositiveInteger(params, 'timeoutMs'),
        cleanShell: optionalBoolean(params, 'cleanShell'),
        streamId: optionalString(params, 'streamId'),
        rawChannelId: optionalString(params, 'rawChannelId'),
        encoding,
      },
      token,
      flow,
    );
  });

  handle(P.PoolStatusRequest.type, () => services.pool.status());

  handle(P.GetConfigRequest.type, (params) => config.get(optionalString(params, 'key')));
  handle(P.SetConfigRequest.type, async (params) => {
    const values = params.values;
    if (typeof values !== 'object' || values === null || Array.isArray(values)) {
      throw new SandkastenError('InvalidInput', '"values" must be an object of setting keys and values.');
    }
    await config.set(values as P.ConfigValues);
    return config.get();
  });
}
