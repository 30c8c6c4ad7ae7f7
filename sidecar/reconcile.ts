import type { Containers } from './containers';
import { LABEL, type OwnContainer, type OwnVolume } from './docker/engine';
import type { Sessions } from './sessions';
import type { Store } from './store/store';
import type { Workspaces } from './workspaces';

export interface KnownWorkspace {
  id: string;
  volume: string;
  state: string;
}
export interface KnownSession {
  id: string;
  workspaceId: string;
  containerId: string | null;
  state: string;
}

export interface ReconciliationPlan {
  /** Workspaces whose delete was acknowledged as started but not finished. */
  finishDeleting: string[];
  /** Containers of this instance that the database does not know. */
  removeContainers: string[];
  /** Pool containers no session owns; the pool removes them once it starts. */
  poolContainers: OwnContainer[];
  /** Sessions whose container is gone: stopped, container forgotten (recreated on resume). */
  markGone: string[];
  /** Sessions whose container exists but is not running. */
  markStopped: string[];
  /** Sessions whose container runs although the database says stopped. */
  markRunning: string[];
  /** A session's container that the database lost track of (crash before the commit of a recreate). */
  adopt: Array<{ sessionId: string; containerId: string }>;
  /** Volumes of this instance that belong to no workspace. */
  removeVolumes: string[];
  /** Workspaces whose volume vanished: create an empty one so sessions can start. */
  recreateVolumes: Array<{ workspaceId: string; volume: string }>;
}

/** Pure: compares the database with what Docker has (of this instance only) and decides. */
export function planReconciliation(
  known: { workspaces: KnownWorkspace[]; sessions: KnownSession[] },
  found: { containers: OwnContainer[]; volumes: OwnVolume[] },
): ReconciliationPlan {
  const plan: ReconciliationPlan = {
    finishDeleting: [],
    removeContainers: [],
    poolContainers: [],
    markGone: [],
    markStopped: [],
    markRunning: [],
    adopt: [],
    removeVolumes: [],
    recreateVolumes: [],
  };
  const deleting = new Set(known.workspaces.filter((w) => w.state === 'deleting').map((w) => w.id));
  plan.finishDeleting = [...deleting];
  const sessions = new Map(known.sessions.filter((s) => !deleting.has(s.workspaceId)).map((s) => [s.id, s]));
  const containersById = new Map(found.containers.map((c) => [c.id, c]));
  const claimed = new Set<string>();

  // A pooled container handed to a session keeps its `pool` label (labels are immutable):
  // the database, not the label, says which session owns it.
  const sessionByContainer = new Map(known.sessions.filter((s) => s.containerId).map((s) => [s.containerId!, s]));
  for (const container of found.containers) {
    const role = container.labels[LABEL.role];
    const owner = sessionByContainer.get(container.id);
    if (owner && !deleting.has(owner.workspaceId)) {
      claimed.add(owner.id);
      if (foundRunning(container, owner.state)) plan.markRunning.push(owner.id);
      if (!container.running && owner.state !== 'stopped') plan.markStopped.push(owner.id);
      continue;
    }
    if (role === 'pool') {
      plan.poolContainers.push(container);
      continue;
    }
    const workspaceId = container.labels[LABEL.workspace];
    if (workspaceId && deleting.has(workspaceId)) continue; // finishDeleting removes it
    const session = sessions.get(container.labels[LABEL.session] ?? '');
    if (!session) {
      plan.removeContainers.push(container.id);
    } else if (session.containerId !== container.id) {
      if (session.containerId && containersById.has(session.containerId)) plan.removeContainers.push(container.id);
      else {
        plan.adopt.push({ sessionId: session.id, containerId: container.id });
        claimed.add(session.id);
        if (foundRunning(container, session.state)) plan.markRunning.push(session.id);
        if (!container.running && session.state !== 'stopped') plan.markStopped.push(session.id);
      }
    } else {
      claimed.add(session.id);
      if (foundRunning(container, session.state)) plan.markRunning.push(session.id);
      if (!container.running && session.state !== 'stopped') plan.markStopped.push(session.id);
    }
  }
  for (const session of sessions.values()) {
    if (!claimed.has(session.id) && (session.containerId !== null || session.state !== 'stopped')) plan.markGone.push(session.id);
  }

  // An archived workspace's files are in its archive (recorded only once that was written and
  // checked): a volume it still names is what a crash left before its removal.
  const workspaceByVolume = new Map(known.workspaces.filter((w) => w.state !== 'archived').map((w) => [w.volume, w]));
  const volumeNames = new Set(found.volumes.map((v) => v.name));
  for (const volume of found.volumes) {
    // Unused pool volumes belong to the pool, which removes them with their containers.
    if (!workspaceByVolume.has(volume.name) && volume.labels[LABEL.role] !== 'pool') plan.removeVolumes.push(volume.name);
  }
  for (const workspace of known.workspaces) {
    if (!deleting.has(workspace.id) && workspace.state !== 'archived' && !volumeNames.has(workspace.volume)) {
      plan.recreateVolumes.push({ workspaceId: workspace.id, volume: workspace.volume });
    }
  }
  return plan;
}

/**
 * Brings the database and Docker into agreement after a start (or a crash): nothing of this
 * instance is left to leak, and objects of other instances are never looked at. The plan
 * is pure (planReconciliation); this applies it.
 */
export async function reconcileWithDocker(deps: {
  store: Store;
  containers: Containers;
  workspaces: Workspaces;
  sessions: Sessions;
}): Promise<ReconciliationPlan> {
  const { store, containers, workspaces, sessions } = deps;
  const engine = containers.engine;
  const [foundContainers, volumes] = await Promise.all([engine.listOwnContainers(), engine.listOwnVolumes()]);
  const plan = planReconciliation(
    { workspaces: store.workspaces.listForReconciliation(), sessions: store.sessions.listForReconciliation() },
    { containers: foundContainers, volumes },
  );
  for (const id of plan.finishDeleting) await workspaces.finishDeletion(id);
  await Promise.all(plan.removeContainers.map((id) => containers.remove(id)));
  await Promise.all(plan.removeVolumes.map((name) => engine.removeVolume(name)));
  for (const { workspaceId, volume } of plan.recreateVolumes) await engine.createVolume(volume, { role: 'workspace', workspaceId });
  // The rows last, right before their commit: a change is never left uncommitted across an await.
  for (const { sessionId, containerId } of plan.adopt) store.sessions.setContainer(sessionId, containerId);
  for (const id of plan.markRunning) store.sessions.markFoundRunning(id);
  for (const id of plan.markStopped) sessions.markStopped(id);
  for (const id of plan.markGone) sessions.markStopped(id, true);
  await store.commit();
  return plan;
}

/** Running in Docker while the database says otherwise; a session frozen by the lifecycle stays frozen (its container is paused). */
function foundRunning(container: { running: boolean; paused: boolean }, state: string): boolean {
  return container.running && state !== 'running' && !(container.paused && state === 'paused');
}
