import type * as vscode from 'vscode';
import type { RequestParam, RequestType } from 'vscode-languageclient/node';
import type { ExecOptions, SandkastenApi, SandkastenApiV1 } from '../../api/sandkasten';
import * as P from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { SandkastenApiError, toSandkastenError } from './errors';
import { commandParams, createWorkspaceParams, execParams } from './requests';

/**
 * The object `activate()` returns to other extensions (api/sandkasten.d.ts declares it; the
 * `SandkastenApiV1` annotation keeps this implementation true to it). Each method is one
 * sidecar request through `ctx.request`, which connects on first use; whatever a request
 * fails with becomes a SandkastenError carrying the sidecar's code and sentence.
 */
export function createApi(ctx: Ctx): SandkastenApi {
  /** One request, its failure as a SandkastenError. */
  const request = async <Params, Result>(type: RequestType<Params, Result, void>, params: RequestParam<Params>, token?: vscode.CancellationToken): Promise<Result> => {
    try {
      return await ctx.request(type, params, token);
    } catch (error) {
      throw toSandkastenError(error);
    }
  };

  const exec = async (sessionId: string, command: string | string[], options: ExecOptions = {}) => {
    const { onOutput } = options;
    // Output comes as exec/output notifications tagged with this stream's id, the way Run Command gets it.
    const stream = onOutput
      ? ctx.execStreams.open(({ stream, data }) => {
          try {
            onOutput({ stream, data });
          } catch (error) {
            ctx.output.warn(`An extension's exec output listener threw: ${error instanceof Error ? error.message : String(error)}`);
          }
        })
      : undefined;
    try {
      return await request(P.ExecRequest.type, execParams(sessionId, command, options, stream?.streamId), options.token);
    } finally {
      stream?.dispose();
    }
  };

  const api: SandkastenApiV1 = {
    version: 1,
    getApi(version) {
      if (version === 1) return api;
      throw new SandkastenApiError('InvalidInput', `This Sandkasten offers API version 1; version ${String(version)} is unknown to it.`);
    },
    onDidChange: ctx.onDidChange,

    listWorkspaces: () => request(P.ListWorkspacesRequest.type, {}),
    createWorkspace: async (options) => request(P.CreateWorkspaceRequest.type, createWorkspaceParams(options)),
    deleteWorkspace: async (id, options = {}) => {
      await request(P.DeleteWorkspaceRequest.type, { id, ...(options.force !== undefined ? { force: options.force } : {}) });
    },

    listSessions: (workspaceId) => request(P.ListSessionsRequest.type, workspaceId === undefined ? {} : { workspaceId }),
    startSession: (workspaceId) => request(P.StartSessionRequest.type, { workspaceId }),
    stopSession: (id) => request(P.StopSessionRequest.type, { id }),
    destroySession: async (id) => {
      await request(P.DestroySessionRequest.type, { id });
    },

    exec,

    startProcess: async (sessionId, command) => request(P.StartProcessRequest.type, { sessionId, ...commandParams(command) }),
    listProcesses: (sessionId) => request(P.ListProcessesRequest.type, sessionId === undefined ? {} : { sessionId }),
    processOutput: (processId, { offset, waitMs, token } = {}) =>
      request(P.ProcessOutputRequest.type, { processId, ...(offset !== undefined ? { offset } : {}), ...(waitMs !== undefined ? { waitMs } : {}) }, token),
    signalProcess: (processId, signal) => request(P.SignalProcessRequest.type, { processId, ...(signal !== undefined ? { signal } : {}) }),
    waitProcess: (processId, { timeoutMs, token } = {}) => request(P.WaitProcessRequest.type, { processId, ...(timeoutMs !== undefined ? { timeoutMs } : {}) }, token),

    openTerminal: async (sessionId, options = {}) => {
      const session = (await request(P.ListSessionsRequest.type, {})).find((candidate) => candidate.id === sessionId);
      if (!session) throw new SandkastenApiError('NotFound', `No session "${sessionId}".`);
      if (session.state !== 'running') throw new SandkastenApiError('Conflict', `Session "${sessionId}" is ${session.state}; a terminal needs a running session (startSession resumes it).`);
      return ctx.terminals.openInSession(session.id, options.name ?? session.workspaceName, options.preserveFocus ?? false);
    },
  };
  return Object.freeze(api);
}
