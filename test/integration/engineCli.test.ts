/**
 * Which Docker engine, as the CLI tells it, against the real sidecar: `status`'s engine line
 * and its JSON, `sandkasten engine` with the Docker contexts, `config set docker.context` and
 * `docker.host` restarting the sidecar and saying which engine answers then, and `engine
 * switch`: nothing to switch, its refusal without a terminal and without --yes, and a switch
 * to the second engine of the test machine (scripts/remote-engine.sh, through its own socket)
 * and back, after which the storage directory has its own state again.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { remoteDocker, REMOTE_ENGINE_SOCKET } from '../support/remoteEngine';
import { cliJson, docker, instanceObjects, runCli, useSidecar, type CliResult, type P } from './harness';

const SECOND_ENGINE = `unix://${REMOTE_ENGINE_SOCKET}`;
const CONTEXT = 'sk-second-engine';

/** The stdout of a `--json` command, parsed, with the whole result in the failure message. */
const json = cliJson;

function ok(result: CliResult): string {
  assert.equal(result.code, 0, `exit code 0 expected; stderr: ${result.stderr}`);
  return result.stdout;
}

describe('the Docker engine in the CLI', () => {
  // The CLI starts the sidecar (and every restart), with the environment below; the harness
  // connects at the end to clean up, checking the local engine.
  const sidecar = useSidecar({ connect: 'after' });
  // A Docker config directory with one context naming the second engine: the CLI lists it, and
  // the sidecars the CLI starts find it there.
  const dockerConfig = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-docker-config-'));
  const env = { ...process.env, DOCKER_CONFIG: dockerConfig };
  const cli = (...args: string[]) => runCli(sidecar.home, args, env);
  const second = remoteDocker();
  /** Every instance this storage directory had (one per engine), for the clean-up on the second engine. */
  const instances = new Set<string>();
  let localEngine: { id: string; address: string };
  let secondEngineId: string;
  let firstStatus: P.SidecarStatus;

  before(async () => {
    const meta = path.join(dockerConfig, 'contexts', 'meta', createHash('sha256').update(CONTEXT).digest('hex'));
    fs.mkdirSync(meta, { recursive: true });
    fs.writeFileSync(path.join(meta, 'meta.json'), JSON.stringify({ Name: CONTEXT, Metadata: {}, Endpoints: { docker: { Host: SECOND_ENGINE, SkipTLSVerify: false } } }));
    secondEngineId = (await second.info().catch(() => assert.fail('The second engine does not answer: run `bash scripts/remote-engine.sh up`; integration tests never skip.'))).ID;
    firstStatus = json<P.SidecarStatus>(await cli('status', '--json'));
    assert.ok(firstStatus.docker.available, `Docker is not reachable: ${firstStatus.docker.error}. Run \`bash scripts/docker-up.sh\`.`);
    instances.add(firstStatus.instanceId);
    localEngine = { id: (await docker.info()).ID, address: firstStatus.docker.endpoint.replace(/ \(.*\)$/, '') };
    assert.notEqual(localEngine.id, secondEngineId, 'the two engines are two');
  });

  after(async () => {
    // Nothing of this storage directory may stay on the second engine, whatever failed.
    const left = await Promise.all([...instances].map((instance) => instanceObjects(instance, second)));
    for (const { containers, volumes, networks } of left) {
      await Promise.all([
        ...containers.map((c) => second.getContainer(c.Id).remove({ force: true }).catch(() => undefined)),
        ...volumes.map((v) => second.getVolume(v.Name).remove({ force: true }).catch(() => undefined)),
      ]);
      await Promise.all(networks.map((n) => second.getNetwork(n.Id).remove().catch(() => undefined)));
    }
    fs.rmSync(dockerConfig, { recursive: true, force: true });
    assert.deepEqual(
      left.flatMap(({ containers, volumes, networks }) => [...containers.map((c) => c.Names[0]), ...volumes.map((v) => v.Name), ...networks.map((n) => n.Name)]),
      [],
      'nothing of this storage directory is left on the second engine',
    );
  });

  it('shows the engine in `status`: version, address, transport, round trip and output path, in JSON too', async () => {
    const { docker: engine } = firstStatus;
    assert.equal(engine.engineId, localEngine.id);
    assert.equal(engine.transport, 'unix');
    assert.ok(typeof engine.roundTripMs === 'number' && engine.roundTripMs >= 0, `a round trip: ${engine.roundTripMs}`);
    assert.ok(engine.outputPath === 'direct pipes' || engine.outputPath === 'relayed', `an output path: ${engine.outputPath}`);
    assert.ok(engine.engineName, 'the engine has a name');
    assert.equal(engine.mismatch, undefined, 'a new storage directory belongs to the first engine it reaches');
    const line = ok(await cli('status'))
      .split('\n')
      .find((text) => text.startsWith('docker '));
    assert.match(line ?? '', new RegExp(`^docker {4}engine ${literal(engine.version!)} at ${literal(engine.endpoint)} — unix, [\\d.]+ ms round trip, output ${engine.outputPath}$`));
  });

  it('shows the engine, what chose it and the Docker contexts in `sandkasten engine`, the one in use marked', async () => {
    const text = ok(await cli('engine'));
    assert.match(text, new RegExp(`^engine {4}"${literal(firstStatus.docker.engineName!)}", ID ${localEngine.id}$`, 'm'));
    assert.match(text, /^chosen by /m);
    assert.match(text, new RegExp(`^contexts {2}default(?: \\(in use\\))?, ${CONTEXT}$`, 'm'), 'the context of the Docker config directory, not in use');
    const engine = json<P.DockerStatus & { contexts: Array<{ name: string; inUse: boolean }> }>(await cli('engine', '--json'));
    assert.equal(engine.engineId, localEngine.id);
    assert.equal(engine.endpoint, firstStatus.docker.endpoint);
    assert.deepEqual(
      engine.contexts.find((context) => context.name === CONTEXT),
      { name: CONTEXT, inUse: false },
    );
  });

  it('says there is nothing to switch while the engine is the storage directory\'s own, and exits 0', async () => {
    assert.match(ok(await cli('engine', 'switch')), /^Nothing to switch: this storage directory belongs to the engine Sandkasten reaches/);
    const answer = json<{ switched: boolean; docker: P.DockerStatus }>(await cli('engine', 'switch', '--json'));
    assert.equal(answer.switched, false);
    assert.equal(answer.docker.engineId, localEngine.id);
  });

  it('restarts the sidecar on the engine `config set docker.host` names and prints the engine it reaches', async () => {
    // The same engine by its address: a restart, and no mismatch.
    const text = ok(await cli('config', 'set', 'docker.host', `unix:///var/run/docker.sock`));
    assert.match(text, /^docker\.host = "unix:\/\/\/var\/run\/docker\.sock"$/m);
    assert.match(text, /^docker {4}engine \S+ at unix:\/\/\/var\/run\/docker\.sock \(setting docker\.host\) — unix, /m);
    const status = json<P.SidecarStatus>(await cli('status', '--json'));
    assert.notEqual(status.pid, firstStatus.pid, 'a new sidecar');
    assert.equal(status.docker.mismatch, undefined);
    assert.match(ok(await cli('config', 'reset', 'docker.host')), /^docker\.host = "" \(default\)\ndocker {4}engine /);
  });

  it('refuses an address that is none and keeps the sidecar as it was', async () => {
    const before = json<P.SidecarStatus>(await cli('status', '--json'));
    const result = await cli('config', 'set', 'docker.host', 'build-box');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /must be an engine address such as/);
    assert.equal(json<P.SidecarStatus>(await cli('status', '--json')).pid, before.pid, 'nothing restarted');
  });

  it('says after `config set docker.context` that the storage directory belongs to the first engine, and what to run', async () => {
    const text = ok(await cli('config', 'set', 'docker.context', CONTEXT));
    assert.match(text, new RegExp(`^docker\\.context = "${CONTEXT}"$`, 'm'));
    assert.match(text, new RegExp(`^docker {4}engine \\S+ at ${literal(SECOND_ENGINE)} \\(setting docker\\.context "${CONTEXT}"\\)`, 'm'));
    assert.match(text, new RegExp(`belongs to Docker engine .* at ${literal(localEngine.address)}, but Sandkasten now reaches .* at ${literal(SECOND_ENGINE)}\\.`));
    assert.match(text, /Switch to it with `sandkasten engine switch`: workspaces and sessions on .* stay there, untouched, and come back when you switch back\./);
    assert.match(text, /Or point Sandkasten back at .*: `sandkasten config reset docker\.context`/);

    const status = json<P.SidecarStatus>(await cli('status', '--json'));
    assert.equal(status.docker.mismatch?.boundTo.id, localEngine.id);
    assert.equal(status.docker.mismatch?.current.id, secondEngineId);
    assert.equal(status.instanceId, firstStatus.instanceId, 'the storage directory keeps its state until someone switches');
    assert.match(ok(await cli('status')), /^ {10}This storage directory belongs to Docker engine/m);
    const engine = json<P.DockerStatus & { contexts: Array<{ name: string; inUse: boolean }> }>(await cli('engine', '--json'));
    assert.equal(engine.mismatch?.current.id, secondEngineId);
    assert.deepEqual(
      engine.contexts.find((context) => context.name === CONTEXT),
      { name: CONTEXT, inUse: true },
    );
    assert.match(ok(await cli('engine')), new RegExp(`^chosen by the docker\\.context setting \\("${CONTEXT}"\\)$`, 'm'));
  });

  it('refuses to switch without a terminal and without --yes: exit 2, and nothing switched', async () => {
    for (const args of [['engine', 'switch'], ['engine', 'switch', '--json']]) {
      const result = await cli(...args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^sandkasten: engine switch asks first, and there is no terminal to ask on: add --yes to switch from "[^"]+"(?: \(ID [^)]+\))? to "[^"]+"(?: \(ID [^)]+\))?\.\n/);
    }
    assert.equal(json<P.SidecarStatus>(await cli('status', '--json')).docker.mismatch?.current.id, secondEngineId, 'still the same question');
  });

  it('switches with --yes, waits for the restart, prints the engine then, and switching back brings the state back', async () => {
    const switched = json<{ switched: boolean; from: P.BoundEngine; to: P.BoundEngine; docker: P.DockerStatus }>(await cli('engine', 'switch', '--yes', '--json'));
    assert.equal(switched.switched, true);
    assert.equal(switched.from.id, localEngine.id);
    assert.equal(switched.to.id, secondEngineId);
    assert.equal(switched.docker.engineId, secondEngineId);
    assert.equal(switched.docker.mismatch, undefined, 'the storage directory belongs to the second engine now');
    const onSecond = json<P.SidecarStatus>(await cli('status', '--json'));
    instances.add(onSecond.instanceId);
    assert.notEqual(onSecond.instanceId, firstStatus.instanceId, 'a state of its own on the second engine');

    // Back: the setting goes, the first engine answers, and the question comes the other way round.
    const reset = ok(await cli('config', 'reset', 'docker.context'));
    assert.match(reset, /belongs to Docker engine .* at unix:\/\/\/run\/sk2\/docker\.sock, but Sandkasten now reaches/);
    const back = ok(await cli('engine', 'switch', '--yes'));
    assert.match(back, new RegExp(`^Switched this storage directory to .* at ${literal(localEngine.address)}\\. Workspaces and sessions on .* stay there, untouched, and come back when you switch back\\.\\ndocker {4}engine `));
    const status = json<P.SidecarStatus>(await cli('status', '--json'));
    assert.equal(status.instanceId, firstStatus.instanceId, 'the first state is back');
    assert.equal(status.docker.engineId, localEngine.id);
    assert.equal(status.docker.mismatch, undefined);
  });

  it('explains `engine` in --help and refuses what it does not take with exit 2', async () => {
    const help = ok(await cli('engine', '--help'));
    assert.match(help, /^sandkasten engine switch \[--yes\] \[--json\]$/m);
    assert.match(help, /sandkasten config set docker\.context NAME/);
    assert.match(ok(await cli('--help')), /sandkasten engine switch \[--yes\] \[--json\]/);
    for (const args of [['engine', 'switch', 'now'], ['engine', 'fly'], ['config', 'reset', 'docker.host', 'extra']]) {
      const result = await cli(...args);
      assert.equal(result.code, 2, `${args.join(' ')} exits 2: ${result.stderr}`);
      assert.match(result.stderr, /^sandkasten: .*\nRun `sandkasten --help` for usage\.\n$/);
    }
  });
});

function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
