import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { CancellationTokenSource, ResponseError, type CancellationToken } from 'vscode-languageserver-protocol';
import { createMessageConnection, type MessageConnection } from 'vscode-languageserver-protocol/node';
import * as P from '../../sidecar/client/protocol';
import * as S from '../../sidecar/client/schema';
import { imageMissing, notFound } from '../../sidecar/errors';
import type { ExecCommand, ExecOutcome } from '../../sidecar/exec/exec';
import type { OutputSink } from '../../sidecar/exec/outputSink';
import { NotificationFlow } from '../../sidecar/server/flow';
import { registerExecHandlers } from '../../sidecar/server/handlers/exec';
import { registerImageHandlers } from '../../sidecar/server/handlers/images';
import { registerSessionHandlers } from '../../sidecar/server/handlers/sessions';
import { registerTerminalHandlers } from '../../sidecar/server/handlers/terminals';
import { registerWorkspaceHandlers } from '../../sidecar/server/handlers/workspaces';
import { registrar } from '../../sidecar/server/registrar';
import type { Services } from '../../sidecar/server/services';
import { eventually } from './fakes/clock';

/** Stand-ins for the domain modules: each test gives only the methods it reaches. */
type StubServices = { [K in keyof Services]?: object };

const connections: MessageConnection[] = [];
afterEach(() => {
  for (const connection of connections.splice(0)) connection.dispose();
});

/**
 * A client and a server connection over two cross-wired in-memory streams, the server with
 * the real registrar and handlers of the workspace, session, exec, terminal and image areas.
 */
function connect(services: StubServices) {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const server = createMessageConnection(toServer, toClient);
  const client = createMessageConnection(toClient, toServer);
  connections.push(client, server);
  const logged: Array<{ message: string; error: unknown }> = [];
  const { handle, onNotification } = registrar(server, { info: () => undefined, error: (message, error) => void logged.push({ message, error }) });
  // Every connection detaches from the terminals when it ends, whatever the test is about.
  const withTerminals = { ...services, terminals: { detachEverywhere: () => undefined, ...services.terminals } };
  // The handlers only reach the services they serve; the stubs stand in for the rest of Services.
  const context = { handle, onNotification, connection: server, flow: new NotificationFlow(server), services: withTerminals as unknown as Services, client: { origin: 'cli' as const } };
  registerWorkspaceHandlers(context);
  registerSessionHandlers(context);
  registerExecHandlers(context);
  registerTerminalHandlers(context);
  registerImageHandlers(context);
  server.listen();
  client.listen();
  return { client, server, logged };
}

/** Sends raw params, as a misbehaving client could: the protocol's types would not allow them. */
function sendRaw(client: MessageConnection, method: string, params: unknown): Promise<unknown> {
  return client.sendRequest(method, params);
}

async function responseError(promise: Promise<unknown>): Promise<ResponseError<{ code: string }>> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ResponseError, `expected a ResponseError, got ${String(error)}`);
    return error as ResponseError<{ code: string }>;
  }
  assert.fail('the request succeeded');
}

const outcome = (overrides: Partial<ExecOutcome> = {}): ExecOutcome => ({ exitCode: 0, durationMs: 3, timedOut: false, cancelled: false, shellReset: false, sideBySide: false, ...overrides });

describe('protocol', () => {
  it('answers bad parameters with InvalidInput, without calling the handler', async () => {
    const calls: unknown[] = [];
    const { client, logged } = connect({
      sessions: { stop: (id: string) => void calls.push(id) },
      exec: { run: (command: ExecCommand) => void calls.push(command) },
    });

    const missing = await responseError(sendRaw(client, P.StopSessionRequest.method, {}));
    assert.equal(missing.code, P.ErrorCode.InvalidInput);
    assert.equal(missing.message, '"id" is required and must be a non-empty string.');
    assert.deepEqual(missing.data, { code: 'InvalidInput' });

    const wrongType = await responseError(sendRaw(client, P.StopSessionRequest.method, { id: 42 }));
    assert.equal(wrongType.code, P.ErrorCode.InvalidInput);

    const badTimeout = await responseError(sendRaw(client, P.ExecRequest.method, { sessionId: 'ses-1', line: 'ls', timeoutMs: -5 }));
    assert.equal(badTimeout.code, P.ErrorCode.InvalidInput);
    assert.match(badTimeout.message, /"timeoutMs" must be a positive whole number/);

    const emptyArgv = await responseError(sendRaw(client, P.ExecRequest.method, { sessionId: 'ses-1', command: [] }));
    assert.match(emptyArgv.message, /"command" is required and must be a non-empty list of strings/);

    assert.deepEqual(calls, []);
    assert.deepEqual(logged, [], 'bad input is the client\'s mistake, not worth a log line');
  });

  it('hands the handler its checked parameters, without fields it does not know', async () => {
    const calls: unknown[] = [];
    const session = { id: 'ses-1', state: 'running' };
    const { client } = connect({ sessions: { start: (workspaceId: unknown) => (calls.push(workspaceId), session) } });

    const result = await sendRaw(client, P.StartSessionRequest.method, { workspaceId: 'w-1', sneaky: true });

    assert.deepEqual(result, session);
    assert.deepEqual(calls, ['w-1']);
  });

  it("turns a SandkastenError into its code and keeps its sentence", async () => {
    const { client, logged } = connect({
      sessions: {
        destroy: async () => {
          throw notFound('No session "ses-9". List sessions with `sandkasten session list`.');
        },
      },
    });

    const error = await responseError(client.sendRequest(P.DestroySessionRequest.type, { id: 'ses-9' }));

    assert.equal(error.code, P.ErrorCode.NotFound);
    assert.equal(P.errorCodeName(error.code), 'NotFound');
    assert.equal(error.message, 'No session "ses-9". List sessions with `sandkasten session list`.');
    assert.deepEqual(error.data, { code: 'NotFound' });
    assert.deepEqual(logged, []);
  });

  it("sends a SandkastenError's raw detail as the error's data.detail, apart from its sentence", async () => {
    const sentence = 'Image "localhost:1/nope:latest" is not available locally and could not be pulled. Check its name, or build or pull it, then try again.';
    const detail = 'Get "https://localhost:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused';
    const { client, logged } = connect({
      workspaces: {
        create: async () => {
          throw imageMissing(sentence, detail);
        },
      },
    });

    const error = await responseError(client.sendRequest(P.CreateWorkspaceRequest.type, { name: 'nope', image: 'localhost:1/nope:latest' }));

    assert.equal(error.code, P.ErrorCode.ImageMissing);
    assert.equal(error.message, sentence);
    assert.deepEqual(error.data, { code: 'ImageMissing', detail });
    assert.equal(P.errorDetail(error), detail);
    assert.deepEqual(logged, []);
  });

  it('reads an error detail defensively: anything without a string detail has none', () => {
    assert.equal(P.errorDetail(new ResponseError(P.ErrorCode.NotFound, 'No workspace.', { code: 'NotFound' })), undefined);
    for (const error of [undefined, null, 'text', 42, new Error('plain'), { data: null }, { data: 'detail' }, { data: { detail: 7 } }, { data: { detail: '  ' } }]) {
      assert.equal(P.errorDetail(error), undefined, JSON.stringify(error));
    }
    assert.equal(P.errorDetail({ data: { detail: 'pull access denied' } }), 'pull access denied', 'any object shaped like ErrorData');
  });

  it('routes workspace/rename, session/inspect and image/list to their modules, with checked parameters', async () => {
    const calls: unknown[] = [];
    const { client } = connect({
      workspaces: { rename: (id: string, name: string) => (calls.push(['rename', id, name]), { id, name }) },
      sessions: { inspect: (id: string) => (calls.push(['inspect', id]), { containerId: 'c1', container: { Id: 'c1' } }) },
      engine: { listImages: () => (calls.push(['listImages']), []) },
    });

    assert.deepEqual(await client.sendRequest(P.RenameWorkspaceRequest.type, { id: 'w-1', name: 'renamed' }), { id: 'w-1', name: 'renamed' });
    assert.deepEqual(await client.sendRequest(P.InspectSessionRequest.type, { id: 'ses-1' }), { containerId: 'c1', container: { Id: 'c1' } });
    assert.deepEqual(await client.sendRequest(P.ListImagesRequest.type, {}), []);
    // A missing name reaches the workspace rules, which say InvalidName (as at create); a missing id is InvalidInput.
    await sendRaw(client, P.RenameWorkspaceRequest.method, { id: 'w-1' });
    const noId = await responseError(sendRaw(client, P.RenameWorkspaceRequest.method, { name: 'x' }));
    assert.equal(noId.code, P.ErrorCode.InvalidInput);
    const noSession = await responseError(sendRaw(client, P.InspectSessionRequest.method, {}));
    assert.equal(noSession.code, P.ErrorCode.InvalidInput);

    assert.deepEqual(calls, [['rename', 'w-1', 'renamed'], ['inspect', 'ses-1'], ['listImages'], ['rename', 'w-1', '']]);
  });

  it('turns an unexpected error into Internal, with no stack in the message, and logs it', async () => {
    const failure = new Error('disk on fire');
    const { client, logged } = connect({
      workspaces: {
        listInSlices: async () => {
          throw failure;
        },
      },
    });

    const error = await responseError(client.sendRequest(P.ListWorkspacesRequest.type, {}));

    assert.equal(error.code, P.ErrorCode.Internal);
    assert.equal(error.message, 'Internal error: disk on fire');
    assert.doesNotMatch(error.message, /\n\s*at /);
    assert.doesNotMatch(JSON.stringify(error.data), /protocol\.test|\.ts:/, 'no stack in the data either');
    assert.deepEqual(logged, [{ message: 'workspace/list failed', error: failure }]);
  });

  it("passes a client's cancellation to the handler's token", async () => {
    let seen: CancellationToken | undefined;
    const { client } = connect({
      exec: {
        run: (_command: ExecCommand, _sink: OutputSink, token: CancellationToken) => {
          seen = token;
          return new Promise<ExecOutcome>((resolve) => token.onCancellationRequested(() => resolve(outcome({ exitCode: 143, cancelled: true }))));
        },
      },
    });
    const cancellation = new CancellationTokenSource();

    const result = client.sendRequest(P.ExecRequest.type, { sessionId: 'ses-1', line: 'sleep 100' }, cancellation.token);
    await eventually(() => seen !== undefined, 'the request to reach the handler');
    assert.equal(seen!.isCancellationRequested, false);
    cancellation.cancel();

    const answer = await result;
    assert.equal(seen!.isCancellationRequested, true);
    assert.equal(answer.cancelled, true);
    assert.equal(answer.exitCode, 143);
  });

  it('returns captured output in the exec result', async () => {
    const { client } = connect({
      exec: {
        run: async (_command: ExecCommand, sink: OutputSink) => {
          sink.write('stdout', Buffer.from('hello\n'));
          sink.write('stderr', Buffer.from('careful\n'));
          await sink.finish();
          return outcome({ exitCode: 1 });
        },
      },
    });

    const result = await client.sendRequest(P.ExecRequest.type, { sessionId: 'ses-1', line: 'greet' });

    assert.deepEqual(result, { exitCode: 1, durationMs: 3, timedOut: false, cancelled: false, shellReset: false, sideBySide: false, stdout: 'hello\n', stderr: 'careful\n', droppedBytes: 0 });
  });

  it('streams output as exec/output notifications that arrive before the result', async () => {
    const { client } = connect({
      exec: {
        run: async (_command: ExecCommand, sink: OutputSink) => {
          sink.write('stdout', Buffer.from('part one, '));
          await new Promise((resolve) => setImmediate(resolve));
          sink.write('stdout', Buffer.from('part two'));
          await sink.finish();
          return outcome();
        },
      },
    });
    const received: P.ExecOutputParams[] = [];
    client.onNotification(P.ExecOutputNotification.type, (params) => void received.push(params));

    const result = await client.sendRequest(P.ExecRequest.type, { sessionId: 'ses-1', line: 'talk', streamId: 'stream-7' });

    assert.equal(result.stdout, '', 'streamed output is not in the result too');
    assert.deepEqual(received, [
      { streamId: 'stream-7', stream: 'stdout', data: 'part one, ' },
      { streamId: 'stream-7', stream: 'stdout', data: 'part two' },
    ]);
  });

  it('drops malformed notifications silently and keeps serving', async () => {
    const resized: unknown[] = [];
    const { client, logged } = connect({
      terminals: { resize: (_client: unknown, terminalId: string, size: unknown) => void resized.push([terminalId, size]) },
      workspaces: { listInSlices: async () => [] },
    });

    await client.sendNotification(P.TerminalResizeNotification.method, { terminalId: 'term-1', cols: 0, rows: 24 });
    await client.sendNotification(P.TerminalResizeNotification.method, { terminalId: 'term-1', cols: 'wide', rows: 24 });
    await client.sendNotification(P.TerminalResizeNotification.method, { cols: 80, rows: 24 });
    await client.sendNotification(P.TerminalResizeNotification.method, { terminalId: 'term-1', cols: 70000, rows: 24 });
    await client.sendNotification(P.TerminalResizeNotification.type, { terminalId: 'term-1', cols: 80, rows: 24 });
    await eventually(() => resized.length > 0, 'the valid notification to arrive');

    assert.deepEqual(resized, [['term-1', { cols: 80, rows: 24 }]]);
    assert.deepEqual(await client.sendRequest(P.ListWorkspacesRequest.type, {}), [], 'the connection still answers');
    assert.deepEqual(logged, []);
  });

  it("cancels a handler's token when its client goes away, as if it had cancelled", async () => {
    let seen: CancellationToken | undefined;
    const { client, server } = connect({
      exec: {
        run: (_command: ExecCommand, _sink: OutputSink, token: CancellationToken) => {
          seen = token;
          return new Promise<ExecOutcome>(() => undefined); // a command that never ends by itself
        },
      },
    });

    void client.sendRequest(P.ExecRequest.type, { sessionId: 'ses-1', line: 'yes' }).catch(() => undefined);
    await eventually(() => seen !== undefined, 'the request to reach the handler');
    assert.equal(seen!.isCancellationRequested, false);
    client.dispose();
    server.dispose(); // what the sidecar's server does when the socket closes

    assert.equal(seen!.isCancellationRequested, true);
  });

  it('detaches the client from every terminal when its connection ends', async () => {
    const detached: unknown[] = [];
    const { server } = connect({ terminals: { detachEverywhere: (client: unknown) => void detached.push(client) } });

    server.dispose();

    assert.ok(detached.length > 0);
    assert.ok(detached.every((client) => client instanceof NotificationFlow), "the connection's notification flow is the terminal client");
  });
});

describe('parameter schemas', () => {
  const check = <T>(schema: S.Schema<T>, value: unknown, key = 'test/method') => schema.check(value, key);
  const rejects = (run: () => unknown, message: RegExp) => assert.throws(run, (error: unknown) => error instanceof S.SchemaError && message.test(error.message));

  it('treat missing parameters as an empty object and refuse any other non-object', () => {
    assert.deepEqual(check(S.noParams, undefined), {});
    assert.deepEqual(check(S.noParams, null), {});
    rejects(() => check(S.noParams, [1, 2]), /^test\/method expects an object of parameters\.$/);
    rejects(() => check(S.noParams, 'id'), /expects an object of parameters/);
  });

  it('keep only declared fields, and leave out optional ones that are missing or null', () => {
    const schema = S.params({ id: S.string(), force: S.optional(S.boolean()), note: S.optional(S.text()) });

    const checked = check(schema, { id: 'w-1', force: null, extra: 'dropped' });

    assert.deepEqual(checked, { id: 'w-1' });
    assert.equal('force' in checked, false);
    assert.deepEqual(check(schema, { id: 'w-1', force: true, note: '' }), { id: 'w-1', force: true, note: '' });
    rejects(() => check(schema, { id: 'w-1', force: 'yes' }), /^"force" must be true or false\.$/);
    rejects(() => check(schema, { force: true }), /^"id" is required/);
  });

  it('tell a required string from free text', () => {
    rejects(() => check(S.string(), ''), /non-empty string/);
    rejects(() => check(S.string(), '   '), /non-empty string/);
    assert.equal(check(S.text(), ''), '');
    rejects(() => check(S.text(), 3), /must be a string/);
  });

  it('check string lists, requiring an item when asked to', () => {
    assert.deepEqual(check(S.stringList(), []), []);
    assert.deepEqual(check(S.stringList({ nonEmpty: true }), ['ls', '-la']), ['ls', '-la']);
    rejects(() => check(S.stringList({ nonEmpty: true }), [], 'command'), /^"command" is required and must be a non-empty list of strings\.$/);
    rejects(() => check(S.stringList(), ['ls', 1], 'tags'), /^"tags" must be a list of strings\.$/);
    rejects(() => check(S.stringList(), 'ls'), /list of strings/);
  });

  it('accept positive whole numbers up to the maximum and name the maximum when refusing', () => {
    const cols = S.positiveInteger(65535);
    assert.equal(check(cols, 1), 1);
    assert.equal(check(cols, 65535), 65535);
    for (const bad of [0, -1, 1.5, '80', 65536, Number.NaN]) {
      rejects(() => check(cols, bad, 'cols'), /^"cols" must be a positive whole number of at most 65535\.$/);
    }
    rejects(() => check(S.positiveInteger(), 0, 'timeoutMs'), /^"timeoutMs" must be a positive whole number\.$/);
  });

  it('accept only the listed choices', () => {
    const kind = S.oneOf(P.WORKSPACE_KINDS);
    assert.equal(check(kind, 'ephemeral'), 'ephemeral');
    rejects(() => check(kind, 'forever', 'kind'), /^"kind" must be one of "ephemeral", "session", "persistent", "collaborative"\.$/);
  });
});
