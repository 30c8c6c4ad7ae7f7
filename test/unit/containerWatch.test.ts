import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ContainerWatch } from '../../sidecar/containerWatch';
import { SandkastenError } from '../../sidecar/errors';
import { eventually, settle } from './fakes/clock';
import { makeDomain, type Domain } from './fakes/domain';

let domain: Domain | undefined;
let watch: ContainerWatch | undefined;
afterEach(() => {
  watch?.stop();
  domain?.dispose();
  domain = watch = undefined;
});

/** A running session and the watch following its container, as the sidecar starts them. */
async function watched() {
  domain = await makeDomain();
  const parts = domain;
  const workspace = await parts.workspaces.create({ name: 'watched' });
  const session = await parts.sessions.start(workspace.id);
  const logged: string[] = [];
  watch = new ContainerWatch({ ...parts, log: { info: (message) => logged.push(message), error: (message) => logged.push(message) } });
  await watch.start();
  const state = () => parts.sessions.get(session.id);
  return { ...parts, workspace, session, state, logged, containerId: session.containerId! };
}

describe('the container watch', () => {
  it('marks a session stopped, with why, when its container died behind the sidecar\'s back', async () => {
    const { engine, state, containerId, sessions, session } = await watched();
    engine.containers.get(containerId)!.running = false;
    engine.emitContainerEvent({ containerId, action: 'die', exitCode: 137 });
    await eventually(() => state().state === 'stopped', 'the session to be stopped');

    assert.match(state().stateReason ?? '', /stopped outside Sandkasten \(exit code 137\)/);
    assert.throws(() => sessions.running(session.id), (error: unknown) => error instanceof SandkastenError && error.codeName === 'Conflict' && /outside Sandkasten/.test(error.message));
  });

  it('says "out of memory" when Docker reported an OOM before the death', async () => {
    const { engine, state, containerId } = await watched();
    engine.emitContainerEvent({ containerId, action: 'oom' });
    engine.emitContainerEvent({ containerId, action: 'die', exitCode: 137 });
    await eventually(() => state().state === 'stopped');
    assert.match(state().stateReason ?? '', /out of memory \(limit \d+ MiB\)/);
  });

  it('follows pause and unpause, and resume thaws a paused session', async () => {
    const { engine, state, containerId, sessions, session } = await watched();
    engine.containers.get(containerId)!.paused = true;
    engine.emitContainerEvent({ containerId, action: 'pause' });
    await eventually(() => state().state === 'paused', 'the session to be paused');
    assert.throws(() => sessions.running(session.id), /paused/);

    const resumed = await sessions.resume(session.id);
    assert.equal(resumed.state, 'running');
    assert.equal(resumed.stateReason, undefined);
    assert.equal(engine.containers.get(containerId)!.paused, false);
  });

  it('forgets a removed container, and resume repairs the same session with a new one on the same volume', async () => {
    const { engine, state, containerId, sessions, session, workspace } = await watched();
    engine.vanish(containerId);
    engine.emitContainerEvent({ containerId, action: 'destroy' });
    await eventually(() => state().state === 'stopped' && state().containerId === null, 'the container to be forgotten');
    assert.match(state().stateReason ?? '', /removed outside Sandkasten/);

    const resumed = await sessions.resume(session.id);
    assert.equal(resumed.id, session.id);
    assert.notEqual(resumed.containerId, containerId);
    assert.equal(engine.containers.get(resumed.containerId!)!.mounts[0].source, workspace.volume);
  });

  it('changes nothing for what the sidecar did itself', async () => {
    const { engine, state, containerId, sessions, session } = await watched();
    const stopping = sessions.stop(session.id);
    engine.emitContainerEvent({ containerId, action: 'die', exitCode: 0 }); // arrives while the stop still holds the lock
    await stopping;
    await settle();
    assert.equal(state().state, 'stopped');
    assert.equal(state().stateReason, undefined, 'a stop the person asked for needs no explanation');
  });

  it('catches up after its stream dropped: what happened meanwhile is seen', async () => {
    const { engine, state, containerId, clock } = await watched();
    engine.endContainerEvents(new Error('connection reset'));
    engine.vanish(containerId); // while nobody listens
    await clock.advance(1000);
    await eventually(() => state().state === 'stopped', 'the re-list to find the container gone');
    assert.equal(engine.eventFollowers.size, 1, 'following again');
  });

  it('session start repairs a session whose container went away instead of adding a second one', async () => {
    domain = await makeDomain();
    const { workspaces, sessions, engine } = domain;
    const workspace = await workspaces.create({ name: 'repair' });
    const first = await sessions.start(workspace.id);
    engine.vanish(first.containerId!); // no watch: the event never came

    const again = await sessions.start(workspace.id);
    assert.equal(again.id, first.id);
    assert.equal(again.state, 'running');
    assert.equal(sessions.list(workspace.id).length, 1);
  });
});
