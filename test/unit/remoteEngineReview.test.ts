/**
 * Remote engines, from a review: a context's SkipTLSVerify reaches the TLS handshake, a switch
 * of engines carries the files its records name along and never overwrites a parked state, and
 * an engine that comes back as another one is refused like one found at start.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dockerClient, endpointForHost } from '../../sidecar/docker/connection';
import { DockerEngine } from '../../sidecar/docker/dockerEngine';
import { EngineBinding } from '../../sidecar/engineBinding';
import { hasCode } from '../../sidecar/errors';
import { engineDirectoryName, ParkedStates } from '../../sidecar/store/parkedStates';
import { Store } from '../../sidecar/store/store';
import { useTempDirectories } from '../support/tempDirectories';
import { FakeClock } from './fakes/clock';
import { FakeEngine } from './fakes/engine';
import { selfSignedCertificate } from '../support/certificates';

const tempDir = useTempDirectories('sk-review-');

describe('a TLS engine whose context says SkipTLSVerify', () => {
  let server: https.Server;
  let port = 0;
  let certificates = '';

  before(async () => {
    const directory = tempDir();
    // The engine's certificate is signed by nobody ca.pem knows.
    const engine = selfSignedCertificate(directory, 'engine');
    certificates = path.join(directory, 'client');
    fs.mkdirSync(certificates);
    const client = selfSignedCertificate(directory, 'client');
    fs.copyFileSync(selfSignedCertificate(directory, 'unrelated-ca').cert, path.join(certificates, 'ca.pem'));
    fs.copyFileSync(client.cert, path.join(certificates, 'cert.pem'));
    fs.copyFileSync(client.key, path.join(certificates, 'key.pem'));
    server = https.createServer({ cert: fs.readFileSync(engine.cert), key: fs.readFileSync(engine.key) }, (_request, response) => {
      response.setHeader('Content-Type', 'application/json');
      response.end(JSON.stringify({ Version: '27.0.0', ID: 'TLS:ENGINE', Name: 'tls-box' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reaches it without checking its certificate, on the API and status connections alike', async () => {
    const endpoint = endpointForHost(`tcp://127.0.0.1:${port}`, 'context "lax"', { directory: certificates, verify: false });
    assert.equal(endpoint.transport, 'tls');
    const version = (await dockerClient(endpoint.options).version()) as { Version: string };
    assert.equal(version.Version, '27.0.0');
    const status = await new DockerEngine('instance', endpoint).status();
    assert.equal(status.available, true, status.error);
    assert.equal(status.engineId, 'TLS:ENGINE');
  });

  it('still checks it when verification is asked for, and says why it failed', async () => {
    const endpoint = endpointForHost(`tcp://127.0.0.1:${port}`, 'DOCKER_HOST', { directory: certificates, verify: true });
    await assert.rejects(dockerClient(endpoint.options).version(), (error: unknown) => (error as { code?: string }).code === 'DEPTH_ZERO_SELF_SIGNED_CERT');
    const status = await new DockerEngine('instance', endpoint).status();
    assert.equal(status.available, false);
    assert.match(status.error!, /TLS certificate is not signed by the CA in ca\.pem/);
  });
});

describe('switching engines', () => {
  const local = { id: 'LOCAL:ID', name: 'laptop' };
  const remote = { id: 'REMOTE:ID', name: 'build-box' };

  /** A storage directory whose database, archive, snapshot and pipe directory say `tag`. */
  function home(tag: string) {
    const directory = tempDir();
    const paths = {
      database: path.join(directory, 'state.sqlite'),
      archives: path.join(directory, 'archives'),
      snapshots: path.join(directory, 'snapshots'),
      pipes: path.join(directory, 'pipes'),
    };
    fs.writeFileSync(paths.database, `${tag} database`);
    fillFiles(paths, tag);
    const states = () => new ParkedStates(directory, paths.database, [paths.archives, paths.snapshots, paths.pipes]);
    return { directory, paths, states };
  }

  function fillFiles(paths: { archives: string; snapshots: string; pipes: string }, tag: string): void {
    fs.mkdirSync(path.join(paths.snapshots, 'w1'), { recursive: true });
    fs.mkdirSync(path.join(paths.pipes, 'p1'), { recursive: true });
    fs.mkdirSync(paths.archives, { recursive: true });
    fs.writeFileSync(path.join(paths.archives, 'w1.tar.gz'), `${tag} archive`);
    fs.writeFileSync(path.join(paths.snapshots, 'w1', 's1.tar.gz'), `${tag} snapshot`);
  }

  const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined);

  it('sets the archives, snapshots and pipe directories aside with the database, and takes them up again', async () => {
    const { directory, paths, states } = home('local');
    await states().request(local, remote);
    await states().complete();
    // The new engine's records name none of these: left in place, its start-up sweep would remove them.
    for (const moved of [paths.archives, paths.snapshots, paths.pipes]) assert.equal(fs.existsSync(moved), false, `${moved} is parked`);
    const parked = path.join(directory, 'engines', engineDirectoryName(local.id));
    assert.equal(read(path.join(parked, 'archives', 'w1.tar.gz')), 'local archive');
    assert.equal(read(path.join(parked, 'snapshots', 'w1', 's1.tar.gz')), 'local snapshot');
    fs.writeFileSync(paths.database, 'remote database');
    fillFiles(paths, 'remote');
    await states().request(remote, local);
    await states().complete();
    assert.equal(read(paths.database), 'local database');
    assert.equal(read(path.join(paths.archives, 'w1.tar.gz')), 'local archive');
    assert.equal(read(path.join(paths.snapshots, 'w1', 's1.tar.gz')), 'local snapshot');
    assert.equal(fs.existsSync(path.join(paths.pipes, 'p1')), true);
    assert.equal(read(path.join(directory, 'engines', engineDirectoryName(remote.id), 'archives', 'w1.tar.gz')), 'remote archive');
  });

  it('never overwrites a parked state: an intent written again after the switch keeps both', async () => {
    const { directory, paths, states } = home('local');
    await states().request(local, remote);
    // A second request lands after the first switch was carried out (it raced the shutdown)…
    await states().complete();
    fs.writeFileSync(paths.database, 'remote database');
    fillFiles(paths, 'remote');
    await states().request(local, remote);
    // …and the next start carries it out again: the remote state goes where local's is parked.
    await states().complete();
    const parked = path.join(directory, 'engines', engineDirectoryName(local.id));
    const entries = fs.readdirSync(parked);
    const aside = (name: string) => entries.find((entry) => entry.startsWith(`${name}.replaced-`));
    assert.equal(read(path.join(parked, 'state.sqlite')), 'remote database');
    assert.equal(read(path.join(parked, aside('state.sqlite')!)), 'local database', 'the local state is kept beside it');
    assert.equal(read(path.join(parked, aside('archives')!, 'w1.tar.gz')), 'local archive');
  });
});

describe('an engine that comes back as another one', () => {
  it('is refused once it answers, and acting calls made meanwhile wait for the look', async () => {
    const store = await Store.open(undefined, new FakeClock());
    const engine = new FakeEngine();
    engine.engineId = 'LOCAL:ID';
    const binding = new EngineBinding(store, engine);
    await binding.check('unix:///var/run/docker.sock');
    const guarded = binding.guard();
    // The engine was away; what answers at the address now has another data root.
    engine.engineId = 'OTHER:ID';
    binding.checkAgain();
    const refused = await guarded.listOwnContainers().then(
      () => assert.fail('a call reached the other engine'),
      (error: unknown) => error,
    );
    assert.ok(hasCode(refused, 'DockerUnavailable'));
    assert.match((refused as Error).message, /belongs to Docker engine "fake" .* now reaches "fake"/);
    assert.equal(binding.current?.current.id, 'OTHER:ID');
    assert.equal(engine.callsTo('listOwnContainers').length, 0, 'nothing listed the other engine');
    // Pointed back: the next look lets calls through again.
    engine.engineId = 'LOCAL:ID';
    binding.checkAgain();
    assert.deepEqual(await guarded.listOwnContainers(), []);
    store.close();
  });
});
