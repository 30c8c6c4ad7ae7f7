/**
 * The pure parts of the extension API (src/api/): how a failed request becomes the
 * SandkastenError another extension sees, and how its arguments become sidecar requests.
 * The API as a whole is exercised from a second extension in test/e2e/extensionApi.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseError } from 'vscode-languageserver-protocol';
import { SandkastenApiError, toSandkastenError } from '../../src/api/errors';
import { commandParams, createWorkspaceParams, execParams } from '../../src/api/requests';
import { ErrorCode } from '../../sidecar/client/protocol';

const shape = (error: SandkastenApiError) => ({ name: error.name, code: error.code, message: error.message, detail: error.detail });

describe('extension API errors', () => {
  it("carry the sidecar's code name, its sentence and the engine's detail", () => {
    const error = toSandkastenError(new ResponseError(ErrorCode.NotFound, 'No session "ses-1". List sessions with `sandkasten session list`.', { code: 'NotFound' }));
    assert.ok(error instanceof Error);
    assert.deepEqual(shape(error), { name: 'SandkastenError', code: 'NotFound', message: 'No session "ses-1". List sessions with `sandkasten session list`.', detail: undefined });
    const pull = toSandkastenError(new ResponseError(ErrorCode.ImageMissing, 'The image "x" could not be pulled.', { code: 'ImageMissing', detail: 'dial tcp: connection refused' }));
    assert.deepEqual(shape(pull), { name: 'SandkastenError', code: 'ImageMissing', message: 'The image "x" could not be pulled.', detail: 'dial tcp: connection refused' });
  });

  it('name a cancelled request RequestCancelled', () => {
    assert.equal(toSandkastenError(new ResponseError(ErrorCode.RequestCancelled, 'Request got cancelled')).code, 'RequestCancelled');
  });

  it('call a lost or never made connection SidecarUnavailable, and any other failure Internal', () => {
    assert.equal(toSandkastenError(new ResponseError(-32097, 'Pending response rejected since connection got disposed')).code, 'SidecarUnavailable');
    const refused = toSandkastenError(Object.assign(new Error('connect ECONNREFUSED /tmp/x/sidecar.sock\n    at stack'), { code: 'ECONNREFUSED' }));
    assert.deepEqual([refused.code, refused.message], ['SidecarUnavailable', 'The Sandkasten sidecar is not reachable: connect ECONNREFUSED /tmp/x/sidecar.sock']);
    assert.deepEqual(shape(toSandkastenError(new ResponseError(-32603, 'Request handler failed'))), { name: 'SandkastenError', code: 'Internal', message: 'Request handler failed', detail: undefined });
  });

  it('pass an API error through unchanged', () => {
    const error = new SandkastenApiError('Conflict', 'Session "s" is stopped.');
    assert.equal(toSandkastenError(error), error);
  });
});

describe('extension API requests', () => {
  it('send a string as a command line and an array as an argv', () => {
    assert.deepEqual(commandParams('echo hi; cd /tmp'), { line: 'echo hi; cd /tmp' });
    assert.deepEqual(commandParams(['printf', '%s', 'a b']), { command: ['printf', '%s', 'a b'] });
    for (const bad of [[], [1], undefined, 3] as unknown as string[][]) {
      assert.throws(() => commandParams(bad), (error: SandkastenApiError) => error.code === 'InvalidInput', `${JSON.stringify(bad)} is refused`);
    }
  });

  it('pass exec options on and stream only when asked', () => {
    assert.deepEqual(execParams('ses-1', 'ls', {}, undefined), { sessionId: 'ses-1', line: 'ls' });
    assert.deepEqual(execParams('ses-1', ['ls'], { timeoutMs: 500, queue: true, cleanShell: false, onOutput: () => undefined }, 'run-7-1'), {
      sessionId: 'ses-1',
      command: ['ls'],
      timeoutMs: 500,
      queue: true,
      cleanShell: false,
      streamId: 'run-7-1',
    });
  });

  it("create workspaces with version 1's options only: the host's network stays a person's choice", () => {
    const options = { name: 'agent', kind: 'ephemeral', tags: ['a'], allowHostNetwork: true } as Parameters<typeof createWorkspaceParams>[0];
    assert.deepEqual(createWorkspaceParams(options), { name: 'agent', kind: 'ephemeral', tags: ['a'] });
  });
});
