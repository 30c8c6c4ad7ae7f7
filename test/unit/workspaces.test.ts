import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { ChangedArea } from '../../sidecar/client/protocol';
import { ConfigStore } from '../../sidecar/config';
import { SandkastenError } from '../../sidecar/errors';
import { Store } from '../../sidecar/store/store';
import { Changes } from '../../sidecar/util/changes';
import { KeyedLock } from '../../sidecar/util/keyedLock';
import { Workspaces } from '../../sidecar/workspaces';
import { FakeClock } from './fakes/clock';
import { fakeContainers, makeDomain, TEST_IMAGE, type Domain } from './fakes/domain';
import { FakeEngine } from './fakes/engine';

const disposals: Array<() => void> = [];
afterEach(() => {
  for (const dispose of disposals.splice(0)) dispose();
});

async function setUp(): Promise<Domain> {
  const domain = await makeDomain();
  disposals.push(() => domain.dispose());
  return domain;
}

/** The areas the domain announces from now on. */
function recordChanges(changes: Changes): ChangedArea[][] {
  const seen: ChangedArea[][] = [];
  disposals.push(changes.subscribe((areas) => void seen.push(areas)));
  return seen;
}

const rejectsWith = (promise: Promise<unknown>, codeName: string, message?: RegExp) =>
  assert.rejects(promise, (error: unknown) => error instanceof SandkastenError && error.codeName === codeName && (!message || message.test(error.message)));

/**
 * Workspaces over a store in a real file whose writes can be made to fail (a full disk), to
 * see what a failed commit leaves behind: in memory, on disk, and told to clients.
 */
async function setUpOnDisk() {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-workspaces-'));
  const file = path.join(directory, 'state.sqlite');
  const disk = { failing: false };
  // The journal append of each commit fails as on a full disk while `failing`.
  const beforeAppend = async () => {
    if (disk.failing) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  };
  const clock = new FakeClock();
  const store = await Store.open(file, clock, { beforeAppend, log: { info: () => undefined, error: () => undefined } });
  const config = await ConfigStore.open(path.join(directory, 'config.json'));
  const engine = new FakeEngine({ images: [TEST_IMAGE] });
  const changes = new Changes();
  const workspaces = new Workspaces({ store, containers: fakeContainers(engine, config, clock, directory), config, clock, changes, locks: new KeyedLock() });
  disposals.push(() => {
    store.close();
    fs.rmSync(directory, { recursive: true, force: true });
  });
  /** The workspace's name as the next start would read it (from a copy: the store under test owns the files). */
  const nameOnDisk = async (id: string) => {
    const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sk-workspaces-copy-')), 'state.sqlite');
    for (const suffix of ['', '.journal']) if (fs.existsSync(file + suffix)) fs.copyFileSync(file + suffix, copy + suffix);
    const reopened = await Store.open(copy, new FakeClock(), { log: { info: () => undefined, error: () => undefined } });
    try {
      return reopened.workspaces.get(id)?.name;
    } finally {
      reopened.close();
      fs.rmSync(path.dirname(copy), { recursive: true, force: true });
    }
  };
  return { workspaces, changes, disk, nameOnDisk };
}

describe('workspace rename', () => {
  it('gives the workspace its new name, keeps its id, and tells clients about workspaces and sessions', async () => {
    const { workspaces, changes } = await setUp();
    const workspace = await workspaces.create({ name: 'old-name' });
    const told = recordChanges(changes);

    const renamed = await workspaces.rename(workspace.id, 'new-name');

    assert.equal(renamed.name, 'new-name');
    assert.equal(renamed.id, workspace.id, 'the id keeps the name it was made with');
    assert.deepEqual({ ...renamed, name: workspace.name }, workspace, 'nothing else changed');
    assert.equal(workspaces.get(workspace.id).name, 'new-name');
    assert.deepEqual(told, [['workspaces', 'sessions']]);
  });

  it("shows the new name on the workspace's sessions", async () => {
    const { workspaces, sessions } = await setUp();
    const workspace = await workspaces.create({ name: 'before' });
    const session = await sessions.start(workspace.id);
    assert.equal(session.workspaceName, 'before');

    await workspaces.rename(workspace.id, 'after');

    assert.equal(sessions.get(session.id).workspaceName, 'after');
    assert.deepEqual(
      sessions.list().map((s) => s.workspaceName),
      ['after'],
    );
  });

  it('refuses a name that breaks the rules with InvalidName, as create does, and changes nothing', async () => {
    const { workspaces, changes } = await setUp();
    const workspace = await workspaces.create({ name: 'keep-me' });
    const told = recordChanges(changes);

    for (const bad of ['', 'Upper', '9lives', 'trailing-', 'with space', 'a'.repeat(33)]) {
      await rejectsWith(workspaces.rename(workspace.id, bad), 'InvalidName', /Example: "my-api"\./);
      await rejectsWith(workspaces.create({ name: bad }), 'InvalidName');
    }

    assert.equal(workspaces.get(workspace.id).name, 'keep-me');
    assert.deepEqual(told, []);
  });

  it('answers an unknown id, or a workspace being deleted, with NotFound', async () => {
    const { workspaces, store, changes } = await setUp();
    await rejectsWith(workspaces.rename('ghost-00000000', 'fine'), 'NotFound', /ghost-00000000/);
    const doomed = await workspaces.create({ name: 'doomed' });
    store.workspaces.markDeleting(doomed.id);
    const told = recordChanges(changes);

    await rejectsWith(workspaces.rename(doomed.id, 'saved'), 'NotFound');

    assert.equal(store.workspaces.get(doomed.id)?.name, 'doomed');
    assert.deepEqual(told, []);
  });

  it('allows a name another workspace has, as create does', async () => {
    const { workspaces } = await setUp();
    const first = await workspaces.create({ name: 'twin' });
    const second = await workspaces.create({ name: 'other' });

    await workspaces.rename(second.id, 'twin');

    assert.equal(workspaces.get(first.id).name, 'twin');
    assert.equal(workspaces.get(second.id).name, 'twin');
  });

  it('keeps the old name in memory and on disk, and tells nobody, when the new one cannot be saved', async () => {
    const { workspaces, changes, disk, nameOnDisk } = await setUpOnDisk();
    const workspace = await workspaces.create({ name: 'durable' });
    const told = recordChanges(changes);
    disk.failing = true;

    await assert.rejects(workspaces.rename(workspace.id, 'lost'), /no space left on device/);

    assert.equal(workspaces.get(workspace.id).name, 'durable', 'the change is undone in memory');
    assert.equal(await nameOnDisk(workspace.id), 'durable');
    assert.deepEqual(told, []);

    disk.failing = false;
    await workspaces.rename(workspace.id, 'saved');
    assert.equal(await nameOnDisk(workspace.id), 'saved', 'a rename that is answered is on disk');
  });
});
