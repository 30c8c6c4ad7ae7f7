import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OwnContainer } from '../../sidecar/docker/engine';
import { planReconciliation, type KnownSession, type KnownWorkspace } from '../../sidecar/reconcile';

const workspace = (id: string, state = 'active'): KnownWorkspace => ({ id, volume: `vol-${id}`, state });
const session = (id: string, workspaceId: string, containerId: string | null, state = 'running'): KnownSession => ({ id, workspaceId, containerId, state });
const container = (id: string, labels: Record<string, string>, running = true): OwnContainer => ({
  id,
  name: id,
  running,
  labels: { 'sandkasten.managed': 'true', 'sandkasten.instance': 'i1', ...labels },
  mounts: [],
  paused: false,
});
const sessionContainer = (id: string, sessionId: string, workspaceId: string, running = true) =>
  container(id, { 'sandkasten.role': 'session', 'sandkasten.session': sessionId, 'sandkasten.workspace': workspaceId }, running);

describe('reconciliation plan', () => {
  it('does nothing when the database and Docker agree', () => {
    const plan = planReconciliation(
      { workspaces: [workspace('w-1')], sessions: [session('s1', 'w-1', 'c1')] },
      { containers: [sessionContainer('c1', 's1', 'w-1')], volumes: [{ name: 'vol-w-1', labels: {} }] },
    );
    for (const [action, items] of Object.entries(plan)) assert.equal(items.length, 0, action);
  });

  it('never recreates an archived workspace\'s volume, and removes one a crash left before its removal', () => {
    const missing = planReconciliation({ workspaces: [workspace('w-1', 'archived')], sessions: [] }, { containers: [], volumes: [] });
    assert.deepEqual(missing.recreateVolumes, [], 'its files are in its archive: an empty volume would hide them');
    const left = planReconciliation({ workspaces: [workspace('w-1', 'archived')], sessions: [] }, { containers: [], volumes: [{ name: 'vol-w-1', labels: {} }] });
    assert.deepEqual(left.removeVolumes, ['vol-w-1']);
  });

  it('keeps a frozen session frozen: its container is paused as the database says', () => {
    const paused = { ...sessionContainer('c1', 's1', 'w-1'), paused: true };
    const plan = planReconciliation({ workspaces: [workspace('w-1')], sessions: [session('s1', 'w-1', 'c1', 'paused')] }, { containers: [paused], volumes: [{ name: 'vol-w-1', labels: {} }] });
    for (const [action, items] of Object.entries(plan)) assert.equal(items.length, 0, action);
  });

  it('removes containers and volumes the database does not know', () => {
    const plan = planReconciliation(
      { workspaces: [], sessions: [] },
      { containers: [sessionContainer('c9', 'ses-ghost', 'ghost-1')], volumes: [{ name: 'vol-ghost', labels: {} }] },
    );
    assert.deepEqual(plan.removeContainers, ['c9']);
    assert.deepEqual(plan.removeVolumes, ['vol-ghost']);
  });

  it('marks a session whose container vanished as gone, and one whose container stopped as stopped', () => {
    const plan = planReconciliation(
      { workspaces: [workspace('w-1')], sessions: [session('s1', 'w-1', 'c1'), session('s2', 'w-1', 'c2')] },
      { containers: [sessionContainer('c2', 's2', 'w-1', false)], volumes: [{ name: 'vol-w-1', labels: {} }] },
    );
    assert.deepEqual(plan.markGone, ['s1']);
    assert.deepEqual(plan.markStopped, ['s2']);
  });

  it('marks a running container of a stopped session as running', () => {
    const plan = planReconciliation(
      { workspaces: [workspace('w-1')], sessions: [session('s1', 'w-1', 'c1', 'stopped')] },
      { containers: [sessionContainer('c1', 's1', 'w-1', true)], volumes: [{ name: 'vol-w-1', labels: {} }] },
    );
    assert.deepEqual(plan.markRunning, ['s1']);
  });

  it('adopts a container created for a known session whose id was not yet committed', () => {
    const plan = planReconciliation(
      { workspaces: [workspace('w-1')], sessions: [session('s1', 'w-1', null, 'stopped')] },
      { containers: [sessionContainer('c7', 's1', 'w-1', true)], volumes: [{ name: 'vol-w-1', labels: {} }] },
    );
    assert.deepEqual(plan.adopt, [{ sessionId: 's1', containerId: 'c7' }]);
    assert.deepEqual(plan.markRunning, ['s1']);
    assert.deepEqual(plan.removeContainers, []);
  });

  it('finishes an interrupted delete instead of touching its containers one by one', () => {
    const plan = planReconciliation(
      { workspaces: [workspace('w-1', 'deleting')], sessions: [session('s1', 'w-1', 'c1')] },
      { containers: [sessionContainer('c1', 's1', 'w-1')], volumes: [{ name: 'vol-w-1', labels: {} }] },
    );
    assert.deepEqual(plan.finishDeleting, ['w-1']);
    assert.deepEqual(plan.removeContainers, []);
    assert.deepEqual(plan.markGone, []);
    assert.deepEqual(plan.recreateVolumes, []);
  });

  it('recreates a missing workspace volume and hands pool containers to the pool', () => {
    const pooled = container('p1', { 'sandkasten.role': 'pool' });
    const plan = planReconciliation({ workspaces: [workspace('w-1')], sessions: [] }, { containers: [pooled], volumes: [] });
    assert.deepEqual(plan.recreateVolumes, [{ workspaceId: 'w-1', volume: 'vol-w-1' }]);
    assert.deepEqual(plan.poolContainers, [pooled]);
  });
});
