/**
 * What the CLI and the extension say about the Docker engine, without VS Code or a sidecar:
 * the engine line of `sandkasten status`, `sandkasten engine`, the switch question, what
 * chose the engine (read off the endpoint the sidecar describes, checked against the real
 * resolution), how to point back, the status bar's details, the mismatch question (once per
 * pair of engines), the engine picker and its address check; and the wait for a restarting
 * sidecar to let go of its storage directory.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { contextEntries, dockerStatusLines, formatEngineReport, switchQuestion } from '../../cli/engine';
import { dockerContextNames } from '../../sidecar/client/dockerContexts';
import {
  contextInUse,
  engineSummary,
  formatRoundTrip,
  mismatchAdvice,
  parseEndpoint,
  pointBackCommand,
  pointBackSetting,
  type EngineMismatch,
} from '../../sidecar/client/engineText';
import { homePaths } from '../../sidecar/client/home';
import type { BoundEngine, DockerStatus } from '../../sidecar/client/protocol';
import { sidecarPid, waitUntilReleased } from '../../sidecar/client/sidecarRestart';
import { resolveDockerEndpoint } from '../../sidecar/docker/connection';
import { AskedMismatches, engineAddressProblem, engineDetails, enginePicks, mismatchDetails, mismatchQuestion, pointBackOffer } from '../../src/engineText';
import { useTempDirectories } from '../support/tempDirectories';

const tempDir = useTempDirectories('sk-surfaces-');

/** A Docker config directory as the docker CLI lays it out, with these contexts. */
function dockerConfig(contexts: Array<{ name: string; host: string }>, current?: string): string {
  const directory = tempDir();
  if (current) fs.writeFileSync(path.join(directory, 'config.json'), JSON.stringify({ currentContext: current }));
  for (const { name, host } of contexts) {
    const meta = path.join(directory, 'contexts', 'meta', createHash('sha256').update(name).digest('hex'));
    fs.mkdirSync(meta, { recursive: true });
    fs.writeFileSync(path.join(meta, 'meta.json'), JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } }));
  }
  return directory;
}

const BOX: DockerStatus = {
  available: true,
  version: '20.10.24',
  endpoint: 'ssh://me@box (setting docker.host)',
  transport: 'ssh',
  roundTripMs: 16.2,
  engineId: 'BBBB:2222:XYZW',
  engineName: 'box',
  outputPath: 'relayed',
};

const LAPTOP: BoundEngine = { id: 'AAAA:1111:QRST', name: 'laptop', endpoint: 'unix:///var/run/docker.sock' };
const REMOTE: BoundEngine = { id: 'BBBB:2222:XYZW', name: 'box', endpoint: 'ssh://me@box (setting docker.host)' };
const TO_BOX: EngineMismatch = { boundTo: LAPTOP, current: REMOTE };

describe('which engine, as the sidecar describes it', () => {
  it('reads the address and what chose it off every endpoint the resolution makes', () => {
    const config = dockerConfig(
      [
        { name: 'chosen', host: 'tcp://chosen.example:2376' },
        { name: 'fromenv', host: 'unix:///run/fromenv.sock' },
        { name: 'current', host: 'ssh://me@current.example' },
      ],
      'current',
    );
    const cases: Array<[ReturnType<typeof resolveDockerEndpoint>, ReturnType<typeof parseEndpoint>, string | undefined]> = [
      [resolveDockerEndpoint({ host: 'ssh://me@setting.example' }, { DOCKER_CONFIG: config }), { address: 'ssh://me@setting.example', source: { kind: 'setting', key: 'docker.host' } }, undefined],
      [
        resolveDockerEndpoint({ context: 'chosen' }, { DOCKER_CONFIG: config }),
        { address: 'tcp://chosen.example:2376', source: { kind: 'setting', key: 'docker.context', context: 'chosen' } },
        'chosen',
      ],
      [resolveDockerEndpoint({}, { DOCKER_CONFIG: config, DOCKER_HOST: 'tcp://env.example:2375' }), { address: 'tcp://env.example:2375', source: { kind: 'variable', variable: 'DOCKER_HOST' } }, undefined],
      [
        resolveDockerEndpoint({}, { DOCKER_CONFIG: config, DOCKER_CONTEXT: 'fromenv' }),
        { address: 'unix:///run/fromenv.sock', source: { kind: 'variable', variable: 'DOCKER_CONTEXT', context: 'fromenv' } },
        'fromenv',
      ],
      [resolveDockerEndpoint({}, { DOCKER_CONFIG: config }), { address: 'ssh://me@current.example', source: { kind: 'currentContext', context: 'current' } }, 'current'],
      [resolveDockerEndpoint({ context: 'default' }, { DOCKER_CONFIG: config }), { address: 'unix:///var/run/docker.sock', source: { kind: 'defaultContext' } }, 'default'],
      [resolveDockerEndpoint({}, { DOCKER_CONFIG: dockerConfig([]) }), { address: 'unix:///var/run/docker.sock', source: { kind: 'default' } }, 'default'],
      // A context that does not exist: no address, the source still says what was asked for.
      [resolveDockerEndpoint({ context: 'gone' }, { DOCKER_CONFIG: config }), { source: { kind: 'setting', key: 'docker.context', context: 'gone' } }, 'gone'],
    ];
    for (const [endpoint, expected, context] of cases) {
      const parsed = parseEndpoint(endpoint.description);
      assert.deepEqual(parsed, expected, endpoint.description);
      assert.equal(contextInUse(parsed.source), context, `the context in use for ${endpoint.description}`);
    }
  });

  it('lists the Docker contexts, "default" first, and marks the one that chose the engine', () => {
    const config = dockerConfig([
      { name: 'zeta', host: 'tcp://z:2375' },
      { name: 'alpha', host: 'tcp://a:2375' },
    ]);
    const names = dockerContextNames({ DOCKER_CONFIG: config });
    assert.deepEqual(names, ['default', 'alpha', 'zeta']);
    assert.deepEqual(dockerContextNames({ DOCKER_CONFIG: path.join(config, 'missing') }), ['default'], 'without contexts there is still "default"');
    const viaContext = { ...BOX, endpoint: 'tcp://z:2375 (setting docker.context "zeta")' };
    assert.deepEqual(contextEntries(viaContext, names), [
      { name: 'default', inUse: false },
      { name: 'alpha', inUse: false },
      { name: 'zeta', inUse: true },
    ]);
    assert.ok(
      contextEntries(BOX, names).every((entry) => !entry.inUse),
      'an address from the docker.host setting is no context',
    );
    assert.deepEqual(contextEntries({ ...BOX, endpoint: 'unix:///var/run/docker.sock' }, names)[0], { name: 'default', inUse: true }, 'the default socket is the "default" context');
  });
});

describe('the engine in the CLI', () => {
  it('prints the status line with version, address and what chose it, transport, round trip and output path', () => {
    assert.equal(engineSummary(BOX), 'engine 20.10.24 at ssh://me@box (setting docker.host) — ssh, 16 ms round trip, output relayed');
    assert.deepEqual(dockerStatusLines(BOX), ['docker    engine 20.10.24 at ssh://me@box (setting docker.host) — ssh, 16 ms round trip, output relayed']);
    assert.equal(formatRoundTrip(0.44), '0.4 ms', 'a tenth of a millisecond shows below ten');
    assert.equal(formatRoundTrip(9.96), '10 ms', 'what rounds to ten shows as ten');
    assert.equal(formatRoundTrip(123.6), '124 ms');
    const unreachable: DockerStatus = { available: false, endpoint: 'tcp://gone:2376 (DOCKER_HOST)', transport: 'tls', error: 'Docker is not reachable at tcp://gone:2376 (DOCKER_HOST): connection refused.' };
    assert.deepEqual(dockerStatusLines(unreachable), ['docker    Docker is not reachable at tcp://gone:2376 (DOCKER_HOST): connection refused.']);
  });

  it('says on a mismatch which engine the storage directory belongs to, which answers, why, and what to run', () => {
    const lines = dockerStatusLines({ ...BOX, mismatch: TO_BOX });
    assert.equal(lines.length, 5);
    assert.ok(lines.slice(1).every((line) => line.startsWith('          ')), 'indented under the docker line');
    const text = lines.join('\n');
    assert.match(text, /belongs to Docker engine "laptop" at unix:\/\/\/var\/run\/docker\.sock, but Sandkasten now reaches "box" at ssh:\/\/me@box\./);
    assert.match(text, /because of the docker\.host setting/);
    assert.match(text, /`sandkasten engine switch`: workspaces and sessions on "laptop" stay there, untouched, and come back when you switch back\./);
    assert.match(text, /point Sandkasten back at "laptop": `sandkasten config reset docker\.host`/);
  });

  it('tells two engines of one host name apart by their IDs', () => {
    const twins: EngineMismatch = { boundTo: { ...LAPTOP, name: 'vm' }, current: { ...REMOTE, name: 'vm' } };
    assert.match(mismatchAdvice(twins)[0], /engine "vm" \(ID AAAA:1111…\) at unix:\/\/\/var\/run\/docker\.sock, but Sandkasten now reaches "vm" \(ID BBBB:2222…\) at ssh:\/\/me@box/);
  });

  it('asks before switching with both engines and the promise that nothing is lost', () => {
    assert.equal(
      switchQuestion(TO_BOX),
      'Switch this storage directory from "laptop" at unix:///var/run/docker.sock to "box" at ssh://me@box? Workspaces and sessions on "laptop" stay there, untouched, and come back when you switch back. [y/N] ',
    );
  });

  it('prints `sandkasten engine`: the engine line, its name and ID, what chose it, the contexts', () => {
    const report = formatEngineReport(BOX, [
      { name: 'default', inUse: false },
      { name: 'box-tls', inUse: false },
    ]);
    assert.equal(
      report,
      [
        'docker    engine 20.10.24 at ssh://me@box (setting docker.host) — ssh, 16 ms round trip, output relayed',
        'engine    "box", ID BBBB:2222:XYZW',
        'chosen by the docker.host setting',
        'contexts  default, box-tls',
      ].join('\n'),
    );
    const viaCurrent = formatEngineReport({ ...BOX, endpoint: 'tcp://box:2376 (current Docker context "box-tls")' }, [
      { name: 'default', inUse: false },
      { name: 'box-tls', inUse: true },
    ]);
    assert.match(viaCurrent, /^chosen by the current Docker context "box-tls" \(`docker context use` changes it\)$/m);
    assert.match(viaCurrent, /^contexts {2}default, box-tls \(in use\)$/m);
  });

  it('points back with the setting that undoes the choice, or one that names the first engine', () => {
    assert.deepEqual(pointBackSetting(TO_BOX), { key: 'docker.host', value: null }, 'a setting chose the new engine, the environment the first: reset it');
    const fromContext: EngineMismatch = { boundTo: { ...LAPTOP, endpoint: 'tcp://laptop:2376 (current Docker context "laptop")' }, current: { ...REMOTE, endpoint: 'ssh://me@box (DOCKER_HOST)' } };
    assert.equal(pointBackCommand(fromContext), 'sandkasten config set docker.context laptop', 'the first came from a context: name it');
    const pastHost: EngineMismatch = { boundTo: { ...LAPTOP, endpoint: 'tcp://laptop:2376 (setting docker.context "laptop")' }, current: REMOTE };
    assert.equal(pointBackCommand(pastHost), 'sandkasten config set docker.host tcp://laptop:2376', 'docker.host wins over a context: its address instead');
    const fromEnvironment: EngineMismatch = { boundTo: LAPTOP, current: { ...REMOTE, endpoint: 'ssh://me@box (DOCKER_HOST)' } };
    assert.equal(pointBackCommand(fromEnvironment), 'sandkasten config set docker.host unix:///var/run/docker.sock');
    assert.equal(pointBackCommand({ boundTo: { ...LAPTOP, endpoint: '' }, current: { ...REMOTE, endpoint: 'ssh://me@box (DOCKER_HOST)' } }), undefined, 'no address known, nothing to name');
  });
});

describe('the engine in VS Code', () => {
  it('shows the engine in the status bar details: version, name, address, transport, round trip, output path', () => {
    assert.equal(
      engineDetails(BOX),
      ['Docker 20.10.24 "box"', 'Engine: ssh://me@box (setting docker.host)', 'Transport: ssh, 16 ms round trip', "Command output: relayed through the engine's API"].join('\n'),
    );
    assert.equal(
      engineDetails({ available: true, version: '27.1', endpoint: 'unix:///var/run/docker.sock', transport: 'unix', roundTripMs: 0.6, outputPath: 'direct pipes' }),
      ['Docker 27.1', 'Engine: unix:///var/run/docker.sock', 'Transport: unix, 0.6 ms round trip', 'Command output: direct pipes (FIFOs on this machine)'].join('\n'),
    );
    assert.match(mismatchDetails(TO_BOX), /belongs to Docker engine "laptop" at unix:\/\/\/var\/run\/docker\.sock; Sandkasten now reaches "box" at ssh:\/\/me@box\./);
  });

  it('asks on a mismatch with both engines, the promise, and a button for each way out', () => {
    const question = mismatchQuestion(TO_BOX);
    assert.equal(
      question.message,
      `Sandkasten's storage directory belongs to Docker engine "laptop" at unix:///var/run/docker.sock. It is now pointed at "box" at ssh://me@box. Switch to "box"?`,
    );
    assert.match(question.detail, /^Workspaces and sessions on "laptop" stay there, untouched, and come back when you switch back\. Sandkasten reaches "box" because of the docker\.host setting\.$/);
    assert.equal(question.switchButton, 'Switch to "box"');
    assert.equal(question.pointBackButton, 'Point Back to "laptop"');
  });

  it('asks once per pair of engines, however often a status reports it, until a person chooses an engine', () => {
    const asked = new AskedMismatches();
    assert.equal(asked.firstTime(TO_BOX), true);
    assert.equal(asked.firstTime({ boundTo: { ...LAPTOP }, current: { ...REMOTE, endpoint: 'tcp://box:2376 (DOCKER_HOST)' } }), false, 'the same engines reached another way: asked already');
    assert.equal(asked.firstTime({ boundTo: REMOTE, current: LAPTOP }), true, 'the other way round is another question');
    asked.clear();
    assert.equal(asked.firstTime(TO_BOX), true, 'after a person chose an engine, asked again');
  });

  it('says what leads to the other engine when no Sandkasten setting chose it, and offers the setting that wins', () => {
    const viaContext = pointBackOffer({ boundTo: LAPTOP, current: { ...REMOTE, endpoint: 'ssh://me@box (current Docker context "box")' } });
    assert.equal(viaContext.message, 'Sandkasten reaches "box" because of the current Docker context "box" (`docker context use` changes it).');
    assert.match(viaContext.detail, /^No Sandkasten setting chose it\. Change that and restart the sidecar \(`sandkasten daemon stop`; .*\), or set sandkasten\.docker\.host to "unix:\/\/\/var\/run\/docker\.sock": a setting wins over it\.$/);
    assert.deepEqual(viaContext.change, { key: 'docker.host', value: 'unix:///var/run/docker.sock' });
    assert.equal(viaContext.button, 'Set Docker Host to "laptop"');
    const viaVariable = pointBackOffer({ boundTo: { ...LAPTOP, endpoint: 'tcp://laptop:2376 (DOCKER_CONTEXT "laptop")' }, current: { ...REMOTE, endpoint: 'ssh://me@box (DOCKER_HOST)' } });
    assert.match(viaVariable.message, /because of DOCKER_HOST in the sidecar's environment/);
    assert.deepEqual(viaVariable.change, { key: 'docker.context', value: 'laptop' });
    const nothingToSet = pointBackOffer({ boundTo: { ...LAPTOP, endpoint: '' }, current: { ...REMOTE, endpoint: 'ssh://me@box (DOCKER_HOST)' } });
    assert.equal(nothingToSet.button, undefined);
    assert.match(nothingToSet.detail, /^No Sandkasten setting chose it\. Change that, then restart the sidecar/);
  });

  it('offers the default, every context and an address, the one in use marked, and the switch first on a mismatch', () => {
    const picks = enginePicks({ ...BOX, endpoint: 'tcp://box:2376 (setting docker.context "box-tls")' }, ['default', 'box-tls']);
    assert.deepEqual(
      picks.map((pick) => [pick.label, pick.description, pick.choice]),
      [
        ['Default (DOCKER_HOST / current context)', 'what the docker CLI would use', { kind: 'default' }],
        ['default', 'Docker context: DOCKER_HOST or the default socket', { kind: 'context', name: 'default' }],
        ['box-tls', 'Docker context · in use', { kind: 'context', name: 'box-tls' }],
        ['Enter an engine address…', 'ssh://, tcp:// or unix://', { kind: 'address' }],
      ],
    );
    const fromEnvironment = enginePicks({ ...BOX, endpoint: 'unix:///var/run/docker.sock', mismatch: TO_BOX }, ['default']);
    assert.deepEqual(fromEnvironment[0].choice, { kind: 'switch' }, 'a mismatch puts the switch first');
    assert.match(fromEnvironment[0].label, /Switch the Storage Directory to "box"…$/);
    assert.equal(fromEnvironment[1].description, 'what the docker CLI would use · in use');
    assert.equal(enginePicks(BOX, ['default']).at(-1)?.description, 'ssh://me@box · in use', 'an address from the setting is shown on its entry');
  });

  it('checks an entered address as the docker.host setting does, and refuses an empty one', () => {
    assert.equal(engineAddressProblem('ssh://me@build-box'), undefined);
    assert.equal(engineAddressProblem('  tcp://build-box:2376 '), undefined, 'surrounding blanks are trimmed');
    assert.match(engineAddressProblem('') ?? '', /pick Default instead/);
    assert.match(engineAddressProblem('build-box') ?? '', /^The address must be an engine address such as/);
    assert.match(engineAddressProblem('ssh://-oProxyCommand=x') ?? '', /^The address must be/);
  });
});

describe('waiting for a restarting sidecar', () => {
  it('reads the pid of the sidecar that owns the storage directory from its lock file', () => {
    const home = tempDir();
    assert.equal(sidecarPid(home), undefined, 'no lock, no sidecar');
    fs.writeFileSync(homePaths(home).lock, '4242\n');
    assert.equal(sidecarPid(home), 4242);
    fs.writeFileSync(homePaths(home).lock, 'garbage');
    assert.equal(sidecarPid(home), undefined);
  });

  it('goes on once the lock no longer names the old sidecar, and gives up with a sentence while it still does', async () => {
    const home = tempDir();
    fs.writeFileSync(homePaths(home).lock, String(process.pid));
    await assert.rejects(waitUntilReleased(home, process.pid, 100), /did not restart within 0\.1 s\. See .*sidecar\.log\./);
    const waiting = waitUntilReleased(home, process.pid, 10_000);
    fs.writeFileSync(homePaths(home).lock, '1'); // its successor took the directory
    await waiting;
    fs.writeFileSync(homePaths(home).lock, String(process.pid));
    const released = waitUntilReleased(home, process.pid, 10_000);
    fs.rmSync(homePaths(home).lock);
    await released;
  });
});
