import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ConfigValues } from '../../../sidecar/client/protocol';
import { ConfigStore } from '../../../sidecar/config';
import { HostFirewall } from '../../../sidecar/docker/hostFirewall';
import { Containers } from '../../../sidecar/containers';
import { Exec } from '../../../sidecar/exec/exec';
import { Shells } from '../../../sidecar/exec/shells';
import { Activity } from '../../../sidecar/lifecycle/activity';
import { Pool } from '../../../sidecar/pool';
import { DirectPipes } from '../../../sidecar/rawChannel/directPipes';
import { Sessions } from '../../../sidecar/sessions';
import { Store } from '../../../sidecar/store/store';
import { Changes } from '../../../sidecar/util/changes';
import { KeyedLock } from '../../../sidecar/util/keyedLock';
import { Workspaces } from '../../../sidecar/workspaces';
import { FakeClock } from './clock';
import { FakeEngine } from './engine';

export const TEST_IMAGE = 'debian:bookworm-slim';

/**
 * The sidecar's domain modules wired as `sidecar.ts` wires them, over the fake engine, the
 * fake clock and an in-memory store. Only the settings file is real (in a temporary
 * directory that `dispose` removes). The pool is built but not started.
 */
export async function makeDomain(settings: ConfigValues = {}) {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-domain-'));
  const config = await ConfigStore.open(path.join(directory, 'config.json'));
  await config.set({ 'pool.images': {}, ...settings });
  const engine = new FakeEngine({ images: [TEST_IMAGE] });
  const clock = new FakeClock();
  const changes = new Changes();
  const locks = new KeyedLock();
  const store = await Store.open(undefined, clock);
  const containers = fakeContainers(engine, config, clock, directory);
  const shells = new Shells(engine, clock);
  const workspaces = new Workspaces({ store, containers, config, clock, changes, locks });
  const errors: string[] = [];
  const pool = new Pool({
    containers,
    config,
    clock,
    changes,
    log: { info: () => undefined, error: (message) => errors.push(message) },
    owned: { container: (id) => store.sessions.ownsContainer(id), volume: (name) => store.workspaces.ownsVolume(name) },
  });
  const activity = new Activity(clock, (workspaceId) => workspaces.recordAccess(workspaceId));
  const sessions = new Sessions({ store, containers, config, clock, changes, locks, workspaces, shells, pool, activity });
  const exec = new Exec({ engine, sessions, workspaces, store, shells, clock });
  return {
    engine,
    clock,
    config,
    changes,
    store,
    containers,
    shells,
    workspaces,
    pool,
    sessions,
    activity,
    exec,
    /** What the pool logged as errors. */
    errors,
    dispose() {
      shells.closeAll();
      store.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

export type Domain = Awaited<ReturnType<typeof makeDomain>>;

/**
 * Containers over the fake engine as for an engine not on this machine: no pipe directories
 * are offered (under `directory`) and the host firewall is left alone.
 */
export function fakeContainers(engine: FakeEngine, config: ConfigStore, clock: FakeClock, directory: string): Containers {
  const pipes = new DirectPipes(path.join(directory, 'pipes'), false, async () => undefined);
  return new Containers({ engine, config, clock, pipes, firewall: new HostFirewall(false) });
}
