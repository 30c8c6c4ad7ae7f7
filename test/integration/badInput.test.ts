import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { docker, exec, expectError, instanceObjectNames, instanceObjects, P, TEST_IMAGE, useSidecar } from './harness';

describe('bad input gets a typed error and changes nothing', () => {
  const sidecar = useSidecar();
  let workspace: P.WorkspaceInfo;
  let running: P.SessionInfo;

  /** Everything a bad request could have changed: the sidecar's state and this instance's Docker objects. */
  async function snapshot() {
    const prefix = `sandkasten-${sidecar.instanceId}`;
    const [workspaces, sessions, labelled, named, volumes] = await Promise.all([
      sidecar.client.request(P.ListWorkspacesRequest.type, {}),
      sidecar.client.request(P.ListSessionsRequest.type, {}),
      instanceObjectNames(sidecar.instanceId),
      docker.listContainers({ all: true, filters: { name: [prefix] } }),
      docker.listVolumes({ filters: { name: [prefix] } }),
    ]);
    return {
      workspaces: workspaces.map(({ lastAccessedAt: _, ...rest }) => rest),
      sessions,
      labelled,
      named: { containers: named.map((c) => c.Id).sort(), volumes: (volumes.Volumes ?? []).map((v) => v.Name).sort() },
    };
  }

  /** Runs a request that must fail with `code`, and checks that nothing changed. */
  async function refuses(request: () => Promise<unknown>, code: P.ErrorCodeName): Promise<string> {
    const before = await snapshot();
    const error = await expectError(request(), code);
    assert.deepEqual(await snapshot(), before, 'nothing changed');
    return error.message;
  }

  before(async () => {
    workspace = await sidecar.createWorkspace('keep');
    running = await sidecar.startSession(workspace.id);
  });

  const create = (params: Record<string, unknown>) =>
    sidecar.client.request(P.CreateWorkspaceRequest.type, { image: TEST_IMAGE, ...params } as unknown as P.CreateWorkspaceParams);

  for (const name of ['Bad', '1abc', 'a_b', 'a'.repeat(33), '', 'abc-', 'my api', 'ünïcode', '-abc']) {
    it(`refuses the workspace name ${JSON.stringify(name)} with InvalidName`, async () => {
      const message = await refuses(() => create({ name }), 'InvalidName');
      assert.ok(message.length < 300, 'a sentence a person can act on');
    });
  }

  it('refuses a create without a name with InvalidName', async () => {
    await refuses(() => create({}), 'InvalidName');
  });

  it('refuses an unknown kind with InvalidInput, naming the kinds', async () => {
    const message = await refuses(() => create({ name: 'kind', kind: 'huge' }), 'InvalidInput');
    assert.match(message, /ephemeral/);
  });

  it('refuses tags that are not a list of strings with InvalidInput', async () => {
    await refuses(() => create({ name: 'tags', tags: 'a,b' }), 'InvalidInput');
    await refuses(() => create({ name: 'tags', tags: [1, 2] }), 'InvalidInput');
  });

  it('refuses an image that does not exist with ImageMissing', async () => {
    const message = await refuses(() => create({ name: 'noimage', image: 'sandkasten-test/does-not-exist:nope' }), 'ImageMissing');
    assert.match(message, /sandkasten-test\/does-not-exist:nope/, 'the message names the image');
  });

  it('refuses to delete an unknown workspace with NotFound', async () => {
    await refuses(() => sidecar.client.request(P.DeleteWorkspaceRequest.type, { id: 'ghost-00000000' }), 'NotFound');
  });

  it('refuses to start a session on an unknown workspace with NotFound', async () => {
    await refuses(() => sidecar.client.request(P.StartSessionRequest.type, { workspaceId: 'ghost-00000000' }), 'NotFound');
  });

  it('refuses to list the sessions of an unknown workspace with NotFound', async () => {
    await refuses(() => sidecar.client.request(P.ListSessionsRequest.type, { workspaceId: 'ghost-00000000' }), 'NotFound');
  });

  for (const [label, request] of [
    ['stop', (id: string) => sidecar.client.request(P.StopSessionRequest.type, { id })],
    ['resume', (id: string) => sidecar.client.request(P.ResumeSessionRequest.type, { id })],
    ['destroy', (id: string) => sidecar.client.request(P.DestroySessionRequest.type, { id })],
    ['exec in', (id: string) => exec(sidecar.client, id, ['true'])],
  ] as const) {
    it(`refuses to ${label} an unknown session with NotFound`, async () => {
      await refuses(() => request('ses-000000000000'), 'NotFound');
    });
  }

  it('answers a second delete of the same workspace with NotFound', async () => {
    const doomed = await sidecar.createWorkspace('twice');
    await sidecar.client.request(P.DeleteWorkspaceRequest.type, { id: doomed.id });
    await refuses(() => sidecar.client.request(P.DeleteWorkspaceRequest.type, { id: doomed.id }), 'NotFound');
  });

  it('refuses to delete a workspace with a running session without force, with Conflict', async () => {
    const message = await refuses(() => sidecar.client.request(P.DeleteWorkspaceRequest.type, { id: workspace.id }), 'Conflict');
    assert.match(message, /force/i, 'the message says how to go ahead');
  });

  it('refuses exec params of the wrong type with InvalidInput', async () => {
    const send = (params: Record<string, unknown>) =>
      sidecar.client.request(P.ExecRequest.type, { sessionId: running.id, ...params } as unknown as P.ExecParams);
    await refuses(() => send({ command: 'ls' }), 'InvalidInput');
    await refuses(() => send({ command: [1, 2] }), 'InvalidInput');
    await refuses(() => send({ command: [] }), 'InvalidInput');
    await refuses(() => send({ command: ['true'], timeoutMs: -5 }), 'InvalidInput');
    await refuses(() => send({ command: ['true'], timeoutMs: 'soon' }), 'InvalidInput');
    await refuses(() => send({ sessionId: 42, command: ['true'] }), 'InvalidInput');
  });

  it('refuses ids of the wrong type with InvalidInput', async () => {
    const raw = (type: { method: string }, params: unknown) => sidecar.client.connection.sendRequest(type.method, params);
    await refuses(() => raw(P.DeleteWorkspaceRequest, { id: 42 }), 'InvalidInput');
    await refuses(() => raw(P.DeleteWorkspaceRequest, { id: workspace.id, force: 'yes' }), 'InvalidInput');
    await refuses(() => raw(P.StartSessionRequest, { workspaceId: ['a'] }), 'InvalidInput');
    await refuses(() => raw(P.StopSessionRequest, {}), 'InvalidInput');
  });

  describe('configuration', () => {
    const configFile = () => path.join(sidecar.home, 'config.json');

    it('refuses limits.memoryMb "abc" with InvalidConfig naming the key, and leaves config.json unchanged', async () => {
      const file = fs.readFileSync(configFile());
      const message = await refuses(
        () => sidecar.client.request(P.SetConfigRequest.type, { values: { 'limits.memoryMb': 'abc' } }),
        'InvalidConfig',
      );
      assert.match(message, /limits\.memoryMb/);
      assert.deepEqual(fs.readFileSync(configFile()), file);
      const config = await sidecar.client.request(P.GetConfigRequest.type, { key: 'limits.memoryMb' });
      assert.equal(typeof config['limits.memoryMb'], 'number');
    });

    it('applies none of several values when one of them is invalid', async () => {
      const file = fs.readFileSync(configFile());
      const before = await sidecar.client.request(P.GetConfigRequest.type, {});
      await refuses(
        () => sidecar.client.request(P.SetConfigRequest.type, { values: { 'limits.pids': 256, 'limits.memoryMb': 'abc' } }),
        'InvalidConfig',
      );
      assert.deepEqual(await sidecar.client.request(P.GetConfigRequest.type, {}), before);
      assert.deepEqual(fs.readFileSync(configFile()), file);
    });

    it('refuses to set an unknown setting with InvalidConfig', async () => {
      const file = fs.readFileSync(configFile());
      await refuses(() => sidecar.client.request(P.SetConfigRequest.type, { values: { 'no.such.key': 1 } }), 'InvalidConfig');
      assert.deepEqual(fs.readFileSync(configFile()), file);
    });

    it('refuses config values that are not an object with InvalidInput', async () => {
      await refuses(() => sidecar.client.connection.sendRequest(P.SetConfigRequest.method, { values: 'limits.pids=3' }), 'InvalidInput');
    });

    it('answers a get of an unknown setting with NotFound (protocol.ts: "no workspace, session or config key with that id")', async () => {
      await refuses(() => sidecar.client.request(P.GetConfigRequest.type, { key: 'no.such.key' }), 'NotFound');
    });
  });
});

describe('with the Docker engine down', () => {
  const sidecar = useSidecar({
    env: { ...process.env, DOCKER_HOST: 'unix:///tmp/nothing.sock' },
    requireDocker: false,
  });

  it('says in its status that Docker is unavailable, and why', async () => {
    const status = await sidecar.client.request(P.StatusRequest.type, {});
    assert.equal(status.docker.available, false);
    assert.match(status.docker.endpoint, /nothing\.sock/);
    assert.ok(status.docker.error && status.docker.error.length > 0, 'a sentence says why');
  });

  it('refuses to create a workspace with DockerUnavailable and creates nothing', async () => {
    const error = await expectError(
      sidecar.client.request(P.CreateWorkspaceRequest.type, { name: 'nodocker', image: TEST_IMAGE }),
      'DockerUnavailable',
    );
    assert.match(error.message, /DOCKER_HOST|Docker/);
    assert.deepEqual(await sidecar.client.request(P.ListWorkspacesRequest.type, {}), []);
    const own = await instanceObjects(sidecar.instanceId);
    assert.deepEqual({ c: own.containers.length, v: own.volumes.length }, { c: 0, v: 0 });
  });

  it('still answers lists and configuration without Docker', async () => {
    assert.deepEqual(await sidecar.client.request(P.ListSessionsRequest.type, {}), []);
    const config = await sidecar.client.request(P.GetConfigRequest.type, {});
    assert.ok('defaultImage' in config);
  });
});
