import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type { DockerStatus } from '../../sidecar/client/protocol';
import { EngineBinding } from '../../sidecar/engineBinding';
import { hasCode, type SandkastenError } from '../../sidecar/errors';
import { engineDirectoryName, ParkedStates } from '../../sidecar/store/parkedStates';
import { Store } from '../../sidecar/store/store';
import { FakeClock } from './fakes/clock';
import { FakeEngine } from './fakes/engine';
import { useTempDirectories } from '../support/tempDirectories';

const LOCAL = 'unix:///var/run/docker.sock';
const REMOTE = 'ssh://me@build-box (setting docker.host)';

const tempDir = useTempDirectories('sk-binding-');

/** An in-memory store whose commits are counted. */
async function countingStore(): Promise<{ store: Store; commits: () => number }> {
  const store = await Store.open(undefined, new FakeClock());
  let commits = 0;
  const commit = store.commit.bind(store);
  store.commit = () => {
    commits++;
    return commit();
  };
  return { store, commits: () => commits };
}

/** What check() threw, which must be DockerUnavailable. */
async function refusal(promise: Promise<unknown>): Promise<SandkastenError> {
  const error = await promise.then(
    () => assert.fail('expected a refusal'),
    (failure: unknown) => failure,
  );
  assert.ok(hasCode(error, 'DockerUnavailable'), `DockerUnavailable, got ${String(error)}`);
  return error as SandkastenError;
}

/** An engine whose ID changes as a test says: the same API, another data root behind it. */
function engineWithId(id: string): FakeEngine {
  const engine = new FakeEngine();
  engine.engineId = id;
  return engine;
}

const status: DockerStatus = { available: true, version: '27.0.0', endpoint: LOCAL };

describe('the engine binding', () => {
  it('binds the storage directory to the first engine it reaches, and commits that', async () => {
    const { store, commits } = await countingStore();
    const binding = new EngineBinding(store, engineWithId('LOCAL:ID'));
    assert.equal(store.meta.boundEngine(), undefined);
    await binding.check(LOCAL);
    assert.deepEqual(store.meta.boundEngine(), { id: 'LOCAL:ID', name: 'fake', endpoint: LOCAL });
    assert.equal(commits(), 1);
    assert.equal(binding.current, undefined);
    assert.deepEqual(binding.describe(status), status, 'status shows no mismatch');
  });

  it('keeps the binding across a restart of the sidecar', async () => {
    const file = path.join(tempDir(), 'state.sqlite');
    const first = await Store.open(file, new FakeClock());
    await new EngineBinding(first, engineWithId('LOCAL:ID')).check(LOCAL);
    first.close();
    const again = await Store.open(file, new FakeClock());
    assert.equal(again.meta.boundEngine()?.id, 'LOCAL:ID');
    await assert.rejects(new EngineBinding(again, engineWithId('OTHER:ID')).check(REMOTE), /belongs to Docker engine/);
    again.close();
  });

  it('lets the same engine through, wherever it is reached from, and writes nothing', async () => {
    const { store, commits } = await countingStore();
    const engine = engineWithId('LOCAL:ID');
    await new EngineBinding(store, engine).check(LOCAL);
    const binding = new EngineBinding(store, engine);
    await binding.check('tcp://127.0.0.1:2375 (DOCKER_HOST)');
    assert.equal(commits(), 1, 'only the first contact commits');
    assert.equal(store.meta.boundEngine()?.endpoint, LOCAL, 'the binding keeps where it was made');
    assert.equal(binding.current, undefined);
    await binding.guard().createVolume('v', { role: 'workspace' });
    assert.equal(engine.volumes.has('v'), true, 'calls reach the engine');
  });

  describe('with another engine answering', () => {
    async function mismatched() {
      const { store, commits } = await countingStore();
      await new EngineBinding(store, engineWithId('LOCAL:ID')).check(LOCAL);
      const engine = engineWithId('REMOTE:ID');
      const binding = new EngineBinding(store, engine);
      const error = await refusal(binding.check(REMOTE));
      return { store, commits, engine, binding, error };
    }

    it('refuses, names both engines, and keeps the binding', async () => {
      const { store, commits, binding, error } = await mismatched();
      assert.ok(error.message.includes(`"fake" at ${LOCAL}`), error.message);
      assert.ok(error.message.includes(`"fake" at ${REMOTE}`), error.message);
      assert.match(error.message, /Switch engines .*nothing on either engine is deleted.* or point Sandkasten back\.$/);
      assert.deepEqual(store.meta.boundEngine(), { id: 'LOCAL:ID', name: 'fake', endpoint: LOCAL });
      assert.equal(commits(), 1, 'nothing more is written');
      assert.deepEqual(binding.current, {
        boundTo: { id: 'LOCAL:ID', name: 'fake', endpoint: LOCAL },
        current: { id: 'REMOTE:ID', name: 'fake', endpoint: REMOTE },
      });
    });

    it('shows the mismatch in status', async () => {
      const { binding } = await mismatched();
      const described = binding.describe({ ...status, endpoint: REMOTE });
      assert.equal(described.available, true);
      assert.deepEqual(described.mismatch, binding.current);
    });

    it('refuses every call that acts on objects, before it reaches the engine', async () => {
      const { engine, binding } = await mismatched();
      const guarded = binding.guard();
      const before = engine.calls.length;
      const acting: Array<[string, () => Promise<unknown>]> = [
        ['createVolume', () => guarded.createVolume('v', { role: 'workspace' })],
        ['removeVolume', () => guarded.removeVolume('v')],
        ['listOwnVolumes', () => guarded.listOwnVolumes()],
        ['listOwnContainers', () => guarded.listOwnContainers()],
        ['createContainer', () => guarded.createContainer({} as never)],
        ['startContainer', () => guarded.startContainer('c')],
        ['removeContainer', () => guarded.removeContainer('c')],
        ['exec', () => guarded.exec('c', { command: ['true'] } as never)],
        ['ensureSandboxNetwork', () => guarded.ensureSandboxNetwork('n')],
        ['requireAvailable', () => guarded.requireAvailable()],
      ];
      for (const [name, call] of acting) {
        let result: Promise<unknown>;
        assert.doesNotThrow(() => (result = call()), `${name} fails as a promise, not synchronously`);
        const error = await refusal(result!);
        assert.match(error.message, /belongs to Docker engine "fake" at unix:.*now reaches "fake" at ssh:/, name);
      }
      assert.equal(engine.calls.length, before, 'none of them reached the engine');
      assert.equal(engine.volumes.size, 0);
    });

    it('still lets status, identity and other looks at the engine itself through', async () => {
      const { engine, binding } = await mismatched();
      const guarded = binding.guard();
      assert.equal((await guarded.status()).available, true);
      assert.deepEqual(await guarded.identity(), { engineId: 'REMOTE:ID', engineName: 'fake' });
      assert.deepEqual(await guarded.runtimes(), ['runc']);
      assert.equal((await guarded.engineInfo()).version, '27.0.0');
      assert.equal(await guarded.hasImage('debian:bookworm-slim'), true);
      assert.equal(guarded.instanceId, engine.instanceId);
      assert.equal(guarded.isLocal, engine.isLocal);
    });

    it('lets calls through again once the engine it belongs to answers', async () => {
      const { engine, binding } = await mismatched();
      engine.engineId = 'LOCAL:ID';
      await binding.check(LOCAL);
      assert.equal(binding.current, undefined);
      assert.equal(binding.describe(status).mismatch, undefined);
      await binding.guard().createVolume('v', { role: 'workspace' });
      assert.equal(engine.volumes.has('v'), true);
    });

    it('switches only to the engine that answers, by its ID', async () => {
      const { binding } = await mismatched();
      assert.throws(() => binding.assertSwitchable('LOCAL:ID'), (error: unknown) => {
        assert.ok(hasCode(error, 'Conflict'));
        assert.match((error as Error).message, /^The engine answering now is "fake" at ssh:.*not the one asked for \(LOCAL:ID\); look at `sandkasten status` again\.$/);
        return true;
      });
      assert.throws(() => binding.assertSwitchable(''), /not the one asked for/);
      assert.deepEqual(binding.assertSwitchable('REMOTE:ID'), binding.current);
    });
  });

  it('has nothing to switch while the engine is the bound one', async () => {
    const { store } = await countingStore();
    const binding = new EngineBinding(store, engineWithId('LOCAL:ID'));
    await binding.check(LOCAL);
    assert.throws(() => binding.assertSwitchable('LOCAL:ID'), (error: unknown) => hasCode(error, 'Conflict') && /nothing to switch/.test((error as Error).message));
  });
});

describe('parked states', () => {
  const local = { id: 'LOCAL:ID', name: 'laptop' };
  const remote = { id: 'REMOTE:ID', name: 'build-box' };

  /** A storage directory whose state (database and journal) says `tag`. */
  function home(tag: string) {
    const directory = tempDir();
    const database = path.join(directory, 'state.sqlite');
    fs.writeFileSync(database, `${tag} database`);
    fs.writeFileSync(`${database}.journal`, `${tag} journal`);
    return { directory, database, parked: (engineId: string) => path.join(directory, 'engines', engineDirectoryName(engineId)) };
  }

  const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined);

  it('sets the state aside for the old engine and starts the new one empty', async () => {
    const { directory, database, parked } = home('local');
    const states = new ParkedStates(directory, database);
    assert.equal(await states.complete(), undefined, 'nothing to do without a request');
    assert.equal(read(database), 'local database', 'and nothing moved');
    await states.request(local, remote);
    assert.equal(read(database), 'local database', 'a request moves nothing yet');
    assert.equal(await states.complete(), remote.id);
    assert.equal(read(database), undefined, 'the new engine starts with no state');
    assert.equal(read(`${database}.journal`), undefined);
    assert.equal(read(path.join(parked(local.id), 'state.sqlite')), 'local database');
    assert.equal(read(path.join(parked(local.id), 'state.sqlite.journal')), 'local journal');
    assert.deepEqual(JSON.parse(read(path.join(parked(local.id), 'engine.json'))!), local, 'each parked state says whose it is');
    assert.equal(fs.existsSync(path.join(directory, 'engines', 'switch.json')), false, 'the intent is gone');
    assert.equal(states.hasStateFor(local.id), true);
    assert.equal(states.hasStateFor(remote.id), false);
    assert.equal(await states.complete(), undefined, 'a second complete does nothing');
  });

  it('takes up the old state again when switching back', async () => {
    const { directory, database, parked } = home('local');
    const states = new ParkedStates(directory, database);
    await states.request(local, remote);
    await states.complete();
    fs.writeFileSync(database, 'remote database');
    await states.request(remote, local);
    assert.equal(await states.complete(), local.id);
    assert.equal(read(database), 'local database');
    assert.equal(read(`${database}.journal`), 'local journal');
    assert.equal(read(path.join(parked(remote.id), 'state.sqlite')), 'remote database');
    assert.equal(read(path.join(parked(remote.id), 'state.sqlite.journal')), undefined, 'there was no journal to park');
    assert.equal(read(path.join(parked(local.id), 'state.sqlite')), undefined, 'the local state is in use, not parked');
    // And over again: each engine finds its own state.
    await states.request(local, remote);
    await states.complete();
    assert.equal(read(database), 'remote database');
    assert.equal(read(path.join(parked(local.id), 'state.sqlite')), 'local database');
  });

  it('finishes a switch on the next start when the sidecar died before carrying it out', async () => {
    const { directory, database, parked } = home('local');
    await new ParkedStates(directory, database).request(local, remote);
    // Killed here: the next sidecar's start finds the intent.
    assert.equal(await new ParkedStates(directory, database).complete(), remote.id);
    assert.equal(read(database), undefined);
    assert.equal(read(path.join(parked(local.id), 'state.sqlite')), 'local database');
  });

  it('finishes a switch that was cut off after the old state was set aside', async () => {
    const { directory, database, parked } = home('local');
    const first = new ParkedStates(directory, database);
    await first.request(local, remote);
    await first.complete();
    fs.writeFileSync(database, 'remote database');
    await first.request(remote, local);
    // complete() parked the remote state and wrote that down, then died before taking up the local one.
    fs.renameSync(database, path.join(parked(remote.id), 'state.sqlite'));
    const intentFile = path.join(directory, 'engines', 'switch.json');
    fs.writeFileSync(intentFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(intentFile, 'utf8')), parked: true }));
    assert.equal(await new ParkedStates(directory, database).complete(), local.id);
    assert.equal(read(database), 'local database');
    assert.equal(read(`${database}.journal`), 'local journal');
    assert.equal(read(path.join(parked(remote.id), 'state.sqlite')), 'remote database', 'the remote state stays parked, not lost');
    assert.equal(fs.existsSync(intentFile), false);
  });

  it('finishes a switch that died while parking, before writing that down', async () => {
    const { directory, database, parked } = home('local');
    const states = new ParkedStates(directory, database);
    await states.request(local, remote);
    // The database was moved, the journal not yet, and the intent does not say "parked".
    fs.renameSync(database, path.join(parked(local.id), 'state.sqlite'));
    assert.equal(await new ParkedStates(directory, database).complete(), remote.id);
    assert.equal(read(database), undefined);
    assert.equal(read(path.join(parked(local.id), 'state.sqlite')), 'local database');
    assert.equal(read(path.join(parked(local.id), 'state.sqlite.journal')), 'local journal');
  });

  it('keeps engine IDs that look like paths inside engines/', async () => {
    const { directory, database } = home('local');
    const states = new ParkedStates(directory, database);
    const hostile = { id: '../../../../tmp/escape', name: '../name' };
    const slashed = { id: '/etc/passwd', name: 'x' };
    await states.request(hostile, slashed);
    await states.complete();
    await states.request(slashed, { id: '..', name: '..' });
    await states.complete();
    const engines = path.join(directory, 'engines');
    const entries = fs.readdirSync(engines);
    assert.equal(entries.length, 3);
    for (const entry of entries) assert.match(entry, /^[0-9a-f]{24}$/, 'a digest, not the ID');
    assert.deepEqual(fs.readdirSync(directory).sort(), ['engines'], 'nothing was written beside the state');
    assert.equal(read(path.join(engines, engineDirectoryName(hostile.id), 'state.sqlite')), 'local database');
    assert.equal(JSON.parse(read(path.join(engines, engineDirectoryName(hostile.id), 'engine.json'))!).id, hostile.id);
    assert.equal(engineDirectoryName('a'), engineDirectoryName('a'), 'stable');
    assert.notEqual(engineDirectoryName('a'), engineDirectoryName('b'));
  });
});
