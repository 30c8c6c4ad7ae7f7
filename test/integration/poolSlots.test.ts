/**
 * A used workspace's new session from the pool (workspace slots, see WorkspaceSlots): the
 * pooled container gets the workspace's own volume at hand-out and sees its files; its writes
 * land in the volume; it survives a stop, a sidecar restart and a resume; and a kill -9 at any
 * moment of hand-outs leaves no mount or container behind once everything is removed.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import { exec, instanceObjects, P, TEST_IMAGE, useSidecar, waitFor, type SidecarHarness } from './harness';

const SETTLE_LIMIT_MS = 90_000;

/** The mounts under the instance's slot directory, as the kernel lists them: where, and which volume when one is bound. */
function slotBinds(instanceId: string): Array<{ point: string; volume?: string }> {
  const directory = `/run/sandkasten/${instanceId}/`;
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => (fields[4] ?? '').startsWith(directory))
    .map((fields) => ({ point: fields[4], volume: /\/volumes\/([^/]+)\/_data$/.exec(fields[3] ?? '')?.[1] }));
}

function slotMounts(instanceId: string): string[] {
  return slotBinds(instanceId).map((bind) => bind.point);
}

async function poolReady(sidecar: SidecarHarness, count: number): Promise<void> {
  await waitFor(
    `${count} ready pool containers`,
    async () => {
      const status = await sidecar.client.request(P.PoolStatusRequest.type, {});
      const entry = status.images.find((i) => i.image === TEST_IMAGE);
      return entry && entry.ready >= count && entry.refilling === 0 ? true : undefined;
    },
    SETTLE_LIMIT_MS,
  );
}

/** A workspace that had a session (destroyed now), with a file written in it. */
async function usedWorkspace(sidecar: SidecarHarness, name: string, content: string): Promise<P.WorkspaceInfo> {
  const first = await sidecar.newSession(name);
  assert.equal((await exec(sidecar.client, first.id, ['sh', '-c', `printf '%s' '${content}' > /workspace/kept`])).exitCode, 0);
  await sidecar.client.request(P.DestroySessionRequest.type, { id: first.id });
  return sidecar.client.request(P.ListWorkspacesRequest.type, {}).then((all) => all.find((w) => w.id === first.workspaceId)!);
}

describe('a used workspace starts from the pool (workspace slots)', { skip: process.getuid?.() !== 0 ? 'workspace slots need root beside a local engine' : false }, () => {
  const sidecar = useSidecar();

  it('hands a pooled container to a used workspace: it sees the files, writes into the volume, survives stop, restart and resume', async () => {
    await sidecar.client.request(P.SetConfigRequest.type, { values: { 'pool.images': { [TEST_IMAGE]: 2 } } });
    await poolReady(sidecar, 2);
    const workspace = await usedWorkspace(sidecar, 'slot-used', 'from the first session');
    await poolReady(sidecar, 2);

    const session = await sidecar.client.request(P.StartSessionRequest.type, { workspaceId: workspace.id });
    assert.equal(session.fromPool, true, 'the used workspace took a pooled container');
    const read = await exec(sidecar.client, session.id, ['sh', '-c', 'pwd; cat /workspace/kept; cat kept']);
    assert.equal(read.stdout, '/workspace\nfrom the first sessionfrom the first session', 'the main shell and a relative path see the workspace');
    assert.equal((await exec(sidecar.client, session.id, ['sh', '-c', 'echo second > /workspace/second'])).exitCode, 0);
    assert.equal((await sidecar.client.request(P.ListWorkspacesRequest.type, {})).find((w) => w.id === workspace.id)!.volume, workspace.volume, 'it keeps its own volume');

    // A terminal (a new docker exec with /workspace as its directory) sees it too.
    const opened = await sidecar.client.request(P.OpenTerminalRequest.type, { sessionId: session.id, cols: 80, rows: 24 });
    await sidecar.client.request(P.CloseTerminalRequest.type, { terminalId: opened.terminal.id });

    // Stop, restart the sidecar, resume: the same container, with the workspace still bound.
    await sidecar.client.request(P.StopSessionRequest.type, { id: session.id });
    await sidecar.shutdown();
    await sidecar.reconnect();
    const resumed = await sidecar.client.request(P.ResumeSessionRequest.type, { id: session.id });
    assert.equal(resumed.containerId, session.containerId, 'the same container started again');
    assert.equal((await exec(sidecar.client, session.id, ['cat', '/workspace/kept', '/workspace/second'])).stdout, 'from the first sessionsecond\n');

    // Deleting the workspace unmounts its slot; what is left are the pool's own (once it settled).
    await sidecar.client.request(P.DeleteWorkspaceRequest.type, { id: workspace.id, force: true });
    await poolReady(sidecar, 2);
    await waitFor('no slot holding the deleted workspace\'s volume, every slot a container\'s', async () => {
      const binds = slotBinds(sidecar.instanceId);
      const sources = new Set((await instanceObjects(sidecar.instanceId)).containers.flatMap((c) => (c.Mounts ?? []).map((m) => m.Source)));
      return binds.every((bind) => sources.has(bind.point)) && !binds.some((bind) => bind.volume === workspace.volume) ? true : undefined;
    });
  });

  it('leaves no mount and no container after kill -9 during hand-outs, once everything is removed', async () => {
    await sidecar.client.request(P.SetConfigRequest.type, { values: { 'pool.images': { [TEST_IMAGE]: 2 } } });
    const workspaces: P.WorkspaceInfo[] = [];
    for (let round = 0; round < 3; round++) {
      await poolReady(sidecar, 2);
      const workspace = await usedWorkspace(sidecar, `slot-crash-${round}`, `round ${round}`);
      workspaces.push(workspace);
      await poolReady(sidecar, 2);
      // The start is on its way (or done) when the sidecar dies.
      const starting = sidecar.client.request(P.StartSessionRequest.type, { workspaceId: workspace.id }).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, round * 3));
      await sidecar.kill9();
      await starting;
      await sidecar.reconnect();
      // Whatever happened, the workspace starts and has its file.
      const session = await sidecar.client.request(P.StartSessionRequest.type, { workspaceId: workspace.id });
      assert.equal((await exec(sidecar.client, session.id, ['cat', '/workspace/kept'])).stdout, `round ${round}`);
      // Once the pool settled (a slot is mounted a moment before its container exists), every
      // mount under the slot directory belongs to a container of this instance.
      await poolReady(sidecar, 2);
      const containers = (await instanceObjects(sidecar.instanceId)).containers;
      const sources = new Set(containers.flatMap((c) => (c.Mounts ?? []).map((m) => m.Source)));
      for (const point of slotMounts(sidecar.instanceId)) assert.ok(sources.has(point), `${point} is a slot of a container that exists`);
    }
    for (const workspace of workspaces) await sidecar.client.request(P.DeleteWorkspaceRequest.type, { id: workspace.id, force: true });
    await sidecar.client.request(P.SetConfigRequest.type, { values: { 'pool.images': {} } });
    await waitFor('the pool drained', async () => ((await instanceObjects(sidecar.instanceId)).containers.length === 0 ? true : undefined), SETTLE_LIMIT_MS);
    await waitFor('no slot mounted', async () => (slotMounts(sidecar.instanceId).length === 0 ? true : undefined));
  });
});
