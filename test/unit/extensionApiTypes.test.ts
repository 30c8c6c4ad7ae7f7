/**
 * api/sandkasten.d.ts restates the protocol's data types so that other extensions need none of
 * our modules. This file keeps the two in step: each `true` below type-checks only while the
 * restated type and the protocol's are assignable both ways, with the same optional fields
 * (`tsc -p .`, run by `npm test`, checks it; the runtime assertions are a formality). The API's
 * results are compared with the sidecar's answers to the requests behind them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type * as Api from '../../api/sandkasten';
import type { RequestType } from 'vscode-languageserver-protocol';
import type * as P from '../../sidecar/client/protocol';

/** A and B are assignable both ways, also with every field required (so an optional field on one side only shows). */
type Interchangeable<A, B> = [A] extends [B] ? ([B] extends [A] ? ([Required<A>] extends [Required<B>] ? ([Required<B>] extends [Required<A>] ? true : false) : false) : false) : false;
/** A is assignable to B. */
type Fits<A, B> = [A] extends [B] ? true : false;
/** The parameters of a request of the protocol. */
type ParamsOf<T> = T extends { type: RequestType<infer Params, infer _Result, void> } ? Params : never;
/** What a request of the protocol answers with. */
type AnswerOf<T> = T extends { type: RequestType<infer _Params, infer Result, void> } ? Result : never;
/** What an API method resolves with. */
type ResolvesWith<F> = F extends (...args: never[]) => Promise<infer Result> ? Result : never;
type Api1 = Api.SandkastenApiV1;

const dataTypes: Record<string, true> = {
  WorkspaceKind: true satisfies Interchangeable<Api.WorkspaceKind, P.WorkspaceKind>,
  WorkspaceState: true satisfies Interchangeable<Api.WorkspaceState, P.WorkspaceState>,
  Origin: true satisfies Interchangeable<Api.Origin, P.Origin>,
  WorkspaceInfo: true satisfies Interchangeable<Api.WorkspaceInfo, P.WorkspaceInfo>,
  SessionState: true satisfies Interchangeable<Api.SessionState, P.SessionState>,
  SessionInfo: true satisfies Interchangeable<Api.SessionInfo, P.SessionInfo>,
  ExecResult: true satisfies Interchangeable<Api.ExecResult, P.ExecResult>,
  OutputChunk: true satisfies Interchangeable<Api.OutputChunk, Omit<P.ExecOutputParams, 'streamId'>>,
  ProcessInfo: true satisfies Interchangeable<Api.ProcessInfo, P.ProcessInfo>,
  ProcessOutput: true satisfies Interchangeable<Api.ProcessOutput, P.OutputPage & { process: P.ProcessInfo }>,
  ChangedArea: true satisfies Interchangeable<Api.ChangedArea, P.ChangedArea>,
  // Version 1 leaves the host's network out on purpose (see src/api/requests.ts).
  CreateWorkspaceOptions: true satisfies Interchangeable<Api.CreateWorkspaceOptions, Omit<P.CreateWorkspaceParams, 'allowHostNetwork'>>,
  ProcessSignal: true satisfies Interchangeable<Api.ProcessSignal, NonNullable<ParamsOf<typeof P.SignalProcessRequest>['signal']>>,
  // Every code the sidecar sends has a name in the API (which adds SidecarUnavailable).
  ErrorCodes: true satisfies Fits<P.ErrorCodeName, Api.SandkastenErrorCode>,
};

const results: Record<string, true> = {
  listWorkspaces: true satisfies Interchangeable<ResolvesWith<Api1['listWorkspaces']>, AnswerOf<typeof P.ListWorkspacesRequest>>,
  createWorkspace: true satisfies Interchangeable<ResolvesWith<Api1['createWorkspace']>, AnswerOf<typeof P.CreateWorkspaceRequest>>,
  listSessions: true satisfies Interchangeable<ResolvesWith<Api1['listSessions']>, AnswerOf<typeof P.ListSessionsRequest>>,
  startSession: true satisfies Interchangeable<ResolvesWith<Api1['startSession']>, AnswerOf<typeof P.StartSessionRequest>>,
  stopSession: true satisfies Interchangeable<ResolvesWith<Api1['stopSession']>, AnswerOf<typeof P.StopSessionRequest>>,
  exec: true satisfies Interchangeable<ResolvesWith<Api1['exec']>, AnswerOf<typeof P.ExecRequest>>,
  startProcess: true satisfies Interchangeable<ResolvesWith<Api1['startProcess']>, AnswerOf<typeof P.StartProcessRequest>>,
  listProcesses: true satisfies Interchangeable<ResolvesWith<Api1['listProcesses']>, AnswerOf<typeof P.ListProcessesRequest>>,
  processOutput: true satisfies Interchangeable<ResolvesWith<Api1['processOutput']>, AnswerOf<typeof P.ProcessOutputRequest>>,
  signalProcess: true satisfies Interchangeable<ResolvesWith<Api1['signalProcess']>, AnswerOf<typeof P.SignalProcessRequest>>,
  waitProcess: true satisfies Interchangeable<ResolvesWith<Api1['waitProcess']>, AnswerOf<typeof P.WaitProcessRequest>>,
};

describe('the extension API declarations (api/sandkasten.d.ts)', () => {
  it('restate the protocol\'s data types, assignable both ways (checked by tsc)', () => {
    assert.ok(Object.values(dataTypes).every((checked) => checked === true));
  });

  it("type each method's result as the sidecar's answer to its request (checked by tsc)", () => {
    assert.ok(Object.values(results).every((checked) => checked === true));
  });
});
