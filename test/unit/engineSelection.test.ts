import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import Docker from 'dockerode';
import { SETTINGS } from '../../sidecar/client/configSchema';
import { ConfigStore } from '../../sidecar/config';
import { dockerContextNames } from '../../sidecar/client/dockerContexts';
import { dockerClient, resolveDockerEndpoint, type DockerEndpoint } from '../../sidecar/docker/connection';
import { DockerEngine } from '../../sidecar/docker/dockerEngine';
import { asSentence, fromDockerError, isDockerUnreachable, unreachableReason } from '../../sidecar/docker/errors';
import { explainSshFailure, parseSshHost, sshArguments, SshAgent, type SshTarget } from '../../sidecar/docker/sshTransport';
import { hasCode } from '../../sidecar/errors';
import { useTempDirectories } from '../support/tempDirectories';

const tempDir = useTempDirectories('sk-engine-');

interface ContextSpec {
  name: string;
  /** Left out: a context without a docker endpoint. */
  host?: string;
  skipTlsVerify?: boolean;
  /** Client certificates in the context's TLS store (distinct bytes per context). */
  tls?: boolean;
}

/** A Docker config directory as the docker CLI lays it out (see `docker context create`). */
function dockerConfig(options: { current?: string; contexts?: ContextSpec[] } = {}): string {
  const directory = tempDir();
  if (options.current !== undefined) fs.writeFileSync(path.join(directory, 'config.json'), JSON.stringify({ auths: {}, currentContext: options.current }));
  for (const context of options.contexts ?? []) {
    const digest = createHash('sha256').update(context.name).digest('hex');
    const metaDirectory = path.join(directory, 'contexts', 'meta', digest);
    fs.mkdirSync(metaDirectory, { recursive: true });
    const endpoints = context.host === undefined ? {} : { docker: { Host: context.host, SkipTLSVerify: context.skipTlsVerify ?? false } };
    fs.writeFileSync(path.join(metaDirectory, 'meta.json'), JSON.stringify({ Name: context.name, Metadata: {}, Endpoints: endpoints }));
    if (context.tls) writeCertificates(path.join(directory, 'contexts', 'tls', digest, 'docker'), context.name);
  }
  return directory;
}

/** Stand-ins for ca.pem, cert.pem and key.pem (the resolution only reads them). */
function writeCertificates(directory: string, tag: string): void {
  fs.mkdirSync(directory, { recursive: true });
  for (const name of ['ca.pem', 'cert.pem', 'key.pem']) fs.writeFileSync(path.join(directory, name), `${tag} ${name}`);
}

function tlsOptions(endpoint: DockerEndpoint): { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean } {
  return endpoint.options as never;
}

describe('engine selection', () => {
  it('takes the docker.host setting, docker.context, DOCKER_HOST, DOCKER_CONTEXT, the current context, then the default socket', () => {
    const config = dockerConfig({
      current: 'current',
      contexts: [
        { name: 'chosen', host: 'tcp://chosen.example:2375' },
        { name: 'fromenv', host: 'tcp://fromenv.example:2375' },
        { name: 'current', host: 'tcp://current.example:2375' },
      ],
    });
    const env = { DOCKER_CONFIG: config, DOCKER_HOST: 'tcp://dockerhost.example:2375', DOCKER_CONTEXT: 'fromenv' };
    const choice = { host: 'ssh://me@setting.example', context: 'chosen' };
    const steps: Array<[string, DockerEndpoint]> = [
      ['ssh://me@setting.example (setting docker.host)', resolveDockerEndpoint(choice, env)],
      ['tcp://chosen.example:2375 (setting docker.context "chosen")', resolveDockerEndpoint({ context: 'chosen' }, env)],
      ['tcp://dockerhost.example:2375 (DOCKER_HOST)', resolveDockerEndpoint({}, env)],
      ['tcp://fromenv.example:2375 (DOCKER_CONTEXT "fromenv")', resolveDockerEndpoint({}, { ...env, DOCKER_HOST: undefined })],
      ['tcp://current.example:2375 (current Docker context "current")', resolveDockerEndpoint({}, { DOCKER_CONFIG: config })],
      ['unix:///var/run/docker.sock', resolveDockerEndpoint({}, { DOCKER_CONFIG: dockerConfig() })],
    ];
    for (const [description, endpoint] of steps) {
      assert.equal(endpoint.description, description);
      assert.equal(endpoint.problem, undefined, `${description} has no problem`);
    }
    assert.equal(steps[0][1].transport, 'ssh');
    assert.deepEqual(steps[2][1].options, { host: 'dockerhost.example', port: 2375, protocol: 'http' });
    assert.deepEqual(steps[5][1].options, { socketPath: '/var/run/docker.sock' });
    assert.equal(steps[5][1].transport, 'unix');
  });

  it('treats empty settings and variables as unset', () => {
    const endpoint = resolveDockerEndpoint({ host: '', context: '' }, { DOCKER_CONFIG: dockerConfig(), DOCKER_HOST: '', DOCKER_CONTEXT: '' });
    assert.equal(endpoint.description, 'unix:///var/run/docker.sock');
  });

  it('reads a context with client certificates as TLS, and honours SkipTLSVerify', () => {
    const config = dockerConfig({
      contexts: [
        { name: 'secure', host: 'tcp://build-box:2376', tls: true },
        { name: 'lax', host: 'tcp://build-box', tls: true, skipTlsVerify: true },
        { name: 'plain', host: 'tcp://build-box:2375' },
      ],
    });
    const secure = resolveDockerEndpoint({ context: 'secure' }, { DOCKER_CONFIG: config });
    assert.equal(secure.transport, 'tls');
    assert.equal(secure.problem, undefined);
    assert.equal((secure.options as { protocol?: string }).protocol, 'https');
    assert.equal(secure.options.port, 2376);
    assert.equal(tlsOptions(secure).ca?.toString(), 'secure ca.pem');
    assert.equal(tlsOptions(secure).cert?.toString(), 'secure cert.pem');
    assert.equal(tlsOptions(secure).key?.toString(), 'secure key.pem');
    assert.equal(tlsOptions(secure).rejectUnauthorized, undefined, 'the engine certificate is checked');

    const lax = resolveDockerEndpoint({ context: 'lax' }, { DOCKER_CONFIG: config });
    assert.equal(lax.transport, 'tls');
    assert.equal(lax.options.port, 2376, 'TLS without a port means 2376');
    assert.equal(tlsOptions(lax).rejectUnauthorized, false, 'SkipTLSVerify turns the check off');
    assert.equal(tlsOptions(lax).cert?.toString(), 'lax cert.pem', 'and still presents the client certificate');

    const plain = resolveDockerEndpoint({ context: 'plain' }, { DOCKER_CONFIG: config });
    assert.equal(plain.transport, 'tcp');
    assert.deepEqual(plain.options, { host: 'build-box', port: 2375, protocol: 'http' });
  });

  it('says what is wrong with a missing, empty or unreadable context, and names no socket that exists', () => {
    const config = dockerConfig({ contexts: [{ name: 'hollow' }] });
    const brokenDigest = createHash('sha256').update('garbled').digest('hex');
    fs.mkdirSync(path.join(config, 'contexts', 'meta', brokenDigest), { recursive: true });
    fs.writeFileSync(path.join(config, 'contexts', 'meta', brokenDigest, 'meta.json'), '{ not json');
    const cases: Array<[DockerEndpoint, RegExp]> = [
      [resolveDockerEndpoint({ context: 'nowhere' }, { DOCKER_CONFIG: config }), /there is no Docker context "nowhere" \(`docker context ls` lists them\)/],
      [resolveDockerEndpoint({}, { DOCKER_CONFIG: config, DOCKER_CONTEXT: 'hollow' }), /the Docker context "hollow" names no Docker endpoint/],
      [resolveDockerEndpoint({ context: 'garbled' }, { DOCKER_CONFIG: config }), /the Docker context "garbled" cannot be read/],
    ];
    for (const [endpoint, problem] of cases) {
      assert.match(endpoint.problem ?? '', problem);
      assert.equal(fs.existsSync(String(endpoint.options.socketPath)), false, 'the endpoint leads nowhere');
    }
    assert.match(cases[0][0].description, /setting docker\.context "nowhere"/, 'the description says where the name came from');
  });

  it('takes a current context that no longer exists as a problem, not as the default socket', () => {
    const endpoint = resolveDockerEndpoint({}, { DOCKER_CONFIG: dockerConfig({ current: 'deleted' }) });
    assert.match(endpoint.problem ?? '', /no Docker context "deleted"/);
    assert.match(endpoint.description, /current Docker context "deleted"/);
  });

  it('takes the "default" context as DOCKER_HOST or the default socket', () => {
    const config = dockerConfig({ current: 'default' });
    assert.equal(resolveDockerEndpoint({}, { DOCKER_CONFIG: config }).description, 'unix:///var/run/docker.sock');
    assert.equal(resolveDockerEndpoint({ context: 'default' }, { DOCKER_CONFIG: config }).description, 'unix:///var/run/docker.sock (context "default")');
    const viaHost = resolveDockerEndpoint({ context: 'default' }, { DOCKER_CONFIG: config, DOCKER_HOST: 'tcp://elsewhere:2375' });
    assert.equal(viaHost.description, 'tcp://elsewhere:2375 (context "default" (DOCKER_HOST))');
    assert.equal(viaHost.transport, 'tcp');
  });

  it('takes DOCKER_TLS_VERIFY with DOCKER_CERT_PATH for DOCKER_HOST and the docker.host setting', () => {
    const certificates = tempDir();
    writeCertificates(certificates, 'env');
    const env = { DOCKER_CONFIG: dockerConfig(), DOCKER_HOST: 'tcp://box:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certificates };
    const fromEnv = resolveDockerEndpoint({}, env);
    assert.equal(fromEnv.transport, 'tls');
    assert.equal(tlsOptions(fromEnv).cert?.toString(), 'env cert.pem');
    const fromSetting = resolveDockerEndpoint({ host: 'tcp://other-box' }, env);
    assert.equal(fromSetting.transport, 'tls');
    assert.equal(fromSetting.options.port, 2376);
    assert.equal(resolveDockerEndpoint({}, { ...env, DOCKER_TLS_VERIFY: '0' }).transport, 'tcp', 'DOCKER_TLS_VERIFY=0 is off');
    assert.equal(resolveDockerEndpoint({}, { ...env, DOCKER_TLS_VERIFY: '' }).transport, 'tcp', 'empty is off');
  });

  it('finds the certificates in the Docker config directory without DOCKER_CERT_PATH, and says so when they are missing', () => {
    const config = dockerConfig();
    writeCertificates(config, 'config');
    const found = resolveDockerEndpoint({}, { DOCKER_CONFIG: config, DOCKER_HOST: 'tcp://box:2376', DOCKER_TLS_VERIFY: '1' });
    assert.equal(tlsOptions(found).ca?.toString(), 'config ca.pem');

    const empty = tempDir();
    const missing = resolveDockerEndpoint({}, { DOCKER_CONFIG: config, DOCKER_HOST: 'tcp://box:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: empty });
    assert.match(missing.problem ?? '', /the TLS certificates are missing/);
    assert.ok(missing.problem?.includes(empty), 'the problem names the directory');
    assert.match(missing.problem ?? '', /ca\.pem, cert\.pem and key\.pem/);
    const partial = tempDir();
    fs.writeFileSync(path.join(partial, 'ca.pem'), 'ca');
    assert.match(resolveDockerEndpoint({ host: 'tcp://box' }, { DOCKER_CONFIG: config, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: partial }).problem ?? '', /ENOENT/);
  });

  it('turns an address it cannot use into a problem instead of throwing', () => {
    const bad: Array<[string, RegExp]> = [
      ['build-box:2375', /is not a Docker engine address \(unix:\/\/, tcp:\/\/, ssh:\/\/ or npipe:\/\/\)/],
      ['http://build-box:2375', /is not a Docker engine address/],
      ['TCP://build-box', /is not a Docker engine address/],
      ['tcp://', /is not a tcp:\/\/host\[:port\] address/],
      ['tcp://:2375', /is not a tcp:\/\/host\[:port\] address/],
      ['tcp://build box', /is not a tcp:\/\/host\[:port\] address/],
      ['unix://', /names no socket/],
      ['ssh://', /is not an ssh:\/\/\[user@\]host\[:port\] address/],
      ['ssh://me@build-box/var/run/docker.sock', /has a path or query/],
    ];
    for (const [host, problem] of bad) {
      const endpoint = resolveDockerEndpoint({ host }, { DOCKER_CONFIG: dockerConfig() });
      assert.match(endpoint.problem ?? '', problem, host);
      assert.ok(endpoint.description.startsWith(host), `the description shows ${host}`);
    }
  });

  it('lets status say the problem without reaching for an engine', async () => {
    const endpoint = resolveDockerEndpoint({ context: 'nowhere' }, { DOCKER_CONFIG: dockerConfig() });
    const status = await new DockerEngine('instance', endpoint).status();
    assert.equal(status.available, false);
    assert.equal(status.endpoint, endpoint.description);
    assert.match(status.error ?? '', /^Docker is not reachable at .*: there is no Docker context "nowhere" .*\.$/);
  });

  it('reaches an ssh:// engine through the ssh agent', () => {
    const endpoint = resolveDockerEndpoint({}, { DOCKER_CONFIG: dockerConfig(), DOCKER_HOST: 'ssh://me@build-box:2222' });
    assert.equal(endpoint.transport, 'ssh');
    assert.ok((endpoint.options as { agent?: unknown }).agent instanceof SshAgent);
  });

  it('lists the Docker contexts, default first', () => {
    const config = dockerConfig({ contexts: [{ name: 'zeta', host: 'tcp://z:2375' }, { name: 'alpha', host: 'ssh://a' }] });
    assert.deepEqual(dockerContextNames({ DOCKER_CONFIG: config }), ['default', 'alpha', 'zeta']);
    assert.deepEqual(dockerContextNames({ DOCKER_CONFIG: tempDir() }), ['default']);
  });
});

describe('ssh:// addresses', () => {
  it('take a user, a port and IPv6 hosts apart', () => {
    assert.deepEqual(parseSshHost('ssh://build-box'), { host: 'build-box' });
    assert.deepEqual(parseSshHost('ssh://build-box/'), { host: 'build-box' }, 'a lone slash is no path');
    assert.deepEqual(parseSshHost('ssh://me@build-box:2222'), { host: 'build-box', user: 'me', port: 2222 });
    assert.deepEqual(parseSshHost('ssh://[::1]:2222'), { host: '::1', port: 2222 });
    assert.deepEqual(parseSshHost('ssh://me@[fe80::1]'), { host: 'fe80::1', user: 'me' });
    assert.deepEqual(parseSshHost('ssh://first%2Elast@box'), { host: 'box', user: 'first.last' });
  });

  it('refuse a path, a query, a password, another scheme and anything ssh could read as an option', () => {
    const refused: Array<[string, RegExp]> = [
      ['ssh://box/var/run/docker.sock', /has a path or query/],
      ['ssh://box?socket=x', /has a path or query/],
      ['ssh://me:secret@box', /carries a password/],
      ['tcp://box', /is not an ssh:\/\/\[user@\]host\[:port\] address/],
      ['ssh://', /is not an ssh:\/\/\[user@\]host\[:port\] address/],
      ['not a url', /is not an ssh:\/\/ address/],
      ['ssh://-oProxyCommand=touch%20x', /is not a host name/],
      ['ssh://-oProxyCommand=x@box', /is not a host name/],
      ['ssh://%2DoProxyCommand=x@box', /is not a host name/],
    ];
    for (const [url, reason] of refused) {
      const parsed = parseSshHost(url);
      assert.equal(typeof parsed, 'string', `${url} is refused`);
      assert.match(parsed as string, reason, url);
    }
  });

  it('become the docker CLI\'s ssh command line: no questions, and the host after "--"', () => {
    assert.deepEqual(sshArguments({ host: 'box' }), ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=30', '-o', 'ServerAliveInterval=15', '-T', '--', 'box', 'docker', 'system', 'dial-stdio']);
    const full = sshArguments({ user: 'me', host: '::1', port: 2222 });
    assert.deepEqual(full.slice(0, 4), ['-l', 'me', '-p', '2222']);
    assert.equal(full[full.indexOf('--') + 1], '::1', 'the host comes right after "--"');
    assert.deepEqual(full.slice(full.indexOf('--') + 2), ['docker', 'system', 'dial-stdio']);
    assert.ok(full.indexOf('BatchMode=yes') < full.indexOf('--'), 'BatchMode is an option, not a remote argument');
    assert.ok(!full.some((argument) => /^Control/.test(argument)), 'no connection sharing: an sshd allows 10 sessions on one connection (MaxSessions)');
  });
});

describe('ssh failures', () => {
  const target: SshTarget = { user: 'me', host: 'build-box', port: 2222 };
  const cases: Array<[string, string, number | null, RegExp]> = [
    ['an unknown host key', 'No ED25519 host key is known for [build-box]:2222 and you have requested strict checking.\r\nHost key verification failed.\r\n', 255, /does not know the host key of me@build-box:2222 .*`ssh me@build-box:2222` once/],
    ['a changed host key', '@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@\n', 255, /does not know the host key .*\(or it changed\)/],
    ['a refused key', 'me@build-box: Permission denied (publickey).\n', 255, /ssh to me@build-box:2222 was refused: none of your keys is accepted there .*ssh-add/],
    ['an unknown name', 'ssh: Could not resolve hostname build-box: Name or service not known\n', 255, /cannot resolve the host name in me@build-box:2222/],
    ['no server', 'ssh: connect to host build-box port 2222: Connection refused\n', 255, /was refused: no ssh server listens there/],
    ['a timeout', 'ssh: connect to host build-box port 2222: Connection timed out\n', 255, /ssh to me@build-box:2222 timed out/],
    ['no docker there', 'bash: line 1: docker: command not found\n', 127, /me@build-box:2222 has no docker command: install the Docker CLI there/],
    ['no engine there', 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n', 1, /the Docker engine on me@build-box:2222 is not running \(Cannot connect/],
    ['a kill', '', null, /the ssh connection to me@build-box:2222 was cut/],
    ['anything else', 'banner\nkex_exchange_identification: read: Connection reset by peer\n', 255, /ssh to me@build-box:2222 failed: kex_exchange_identification: read: Connection reset by peer\.$/],
    ['silence', '', 3, /ssh to me@build-box:2222 failed \(exit 3\)\.$/],
  ];
  for (const [what, stderr, code, sentence] of cases) {
    it(`explain ${what} in one sentence`, () => {
      const explained = explainSshFailure(target, stderr, code);
      assert.match(explained, sentence);
      assert.doesNotMatch(explained, /\n/, 'one line');
      assert.match(explained, /\.$/, 'a full sentence');
    });
  }

  it('name the host without user or port when the address has none', () => {
    assert.match(explainSshFailure({ host: 'box' }, 'Permission denied (publickey).', 255), /^ssh to box was refused/);
  });

  it('keep only the start of a long last line', () => {
    const explained = explainSshFailure({ host: 'box' }, `${'x'.repeat(5000)}\n`, 1);
    assert.ok(explained.length < 400, `bounded (${explained.length} characters)`);
  });
});

/** A stand-in for ssh: a script that records its arguments (the first run's) and then does what `body` says. */
function fakeSsh(body: string): { command: string; argumentsFile: string } {
  const directory = tempDir();
  const command = path.join(directory, 'ssh');
  const argumentsFile = path.join(directory, 'arguments.json');
  fs.writeFileSync(
    command,
    `#!${process.execPath}\ntry { require('fs').writeFileSync(${JSON.stringify(argumentsFile)}, JSON.stringify(process.argv.slice(2)), { flag: 'wx' }); } catch {}\n${body}\n`,
    { mode: 0o755 },
  );
  return { command, argumentsFile };
}

describe('the ssh agent', () => {
  it('runs the command with the ssh arguments and speaks HTTP over its stdio', async () => {
    const ssh = fakeSsh(`
      let seen = '';
      process.stdin.on('data', (chunk) => {
        seen += chunk;
        if (!seen.includes('\\r\\n\\r\\n')) return;
        const body = JSON.stringify({ Version: 'over-ssh', Request: seen.split('\\r\\n')[0] });
        process.stdout.write('HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: ' + Buffer.byteLength(body) + '\\r\\nConnection: close\\r\\n\\r\\n' + body);
        process.stdout.end();
        process.exit(0);
      });`);
    const target = { user: 'me', host: 'build-box', port: 2222 };
    const agent = new SshAgent(target, ssh.command);
    const docker = new Docker({ protocol: 'http', host: 'docker', port: 80, agent } as Docker.DockerOptions);
    const answer = await (docker.version() as unknown as Promise<{ Version: string; Request: string }>).finally(() => agent.destroy());
    assert.equal(answer.Version, 'over-ssh');
    assert.match(answer.Request, /^GET \/version HTTP\/1\.1$/);
    assert.deepEqual(JSON.parse(fs.readFileSync(ssh.argumentsFile, 'utf8')), sshArguments(target));
  });

  it('fails a call with ssh\'s reason, as an unreachable engine', async () => {
    const ssh = fakeSsh(`process.stderr.write('me@build-box: Permission denied (publickey).\\n'); process.exit(255);`);
    const docker = new Docker({ protocol: 'http', host: 'docker', port: 80, agent: new SshAgent({ user: 'me', host: 'build-box' }, ssh.command) } as Docker.DockerOptions);
    const error = await docker.version().then(
      () => assert.fail('the call succeeded'),
      (failure: unknown) => failure,
    );
    assert.equal((error as { code?: string }).code, 'ESSHFAILED');
    assert.ok(isDockerUnreachable(error));
    assert.match(unreachableReason(error), /ssh to me@build-box was refused: none of your keys is accepted there/);
    const mapped = fromDockerError(error, 'container x');
    assert.ok(hasCode(mapped, 'DockerUnavailable'), 'callers see DockerUnavailable');
    assert.match((mapped as Error).message, /^Docker is not reachable: ssh to me@build-box was refused/);
  });

  it('says so when there is no ssh to run', async () => {
    const docker = new Docker({ protocol: 'http', host: 'docker', port: 80, agent: new SshAgent({ host: 'box' }, path.join(tempDir(), 'no-ssh')) } as Docker.DockerOptions);
    const error = await docker.version().then(
      () => assert.fail('the call succeeded'),
      (failure: unknown) => failure,
    );
    assert.equal((error as { code?: string }).code, 'ESSHFAILED');
    assert.match((error as Error).message, /cannot run ssh .*install an OpenSSH client/);
  });
});

describe('TLS failures', () => {
  const failure = (code: string, message: string): Error & { code: string } => Object.assign(new Error(message), { code });

  it('count as an unreachable engine, each in words a person can act on', () => {
    const cases: Array<[Error & { code: string }, RegExp]> = [
      [failure('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'), /not signed by the CA in ca\.pem \(certificate mismatch: unable to verify the first certificate\); check DOCKER_CERT_PATH or the context/],
      [failure('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'), /certificate mismatch/],
      [failure('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), /certificate mismatch/],
      [failure('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"), /certificate is for another host name/],
      [failure('CERT_HAS_EXPIRED', 'certificate has expired'), /certificate has expired/],
      [failure('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'ssl3_read_bytes:tlsv1 alert unknown ca'), /the engine refused our client certificate: cert\.pem is not signed by a CA the engine trusts/],
      [failure('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'sslv3 alert bad certificate'), /refused our client certificate/],
      [failure('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required'), /refused our client certificate/],
      [failure('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'), /the TLS handshake with the engine failed \(wrong version number\)/],
    ];
    for (const [error, reason] of cases) {
      assert.ok(isDockerUnreachable(error), `${error.code} is unreachable`);
      assert.match(unreachableReason(error), reason, error.code);
      const mapped = fromDockerError(error, 'volume v');
      assert.ok(hasCode(mapped, 'DockerUnavailable'), `${error.code} becomes DockerUnavailable`);
    }
  });

  it('leave other errors alone', () => {
    assert.equal(isDockerUnreachable(failure('EISDIR', 'is a directory')), false);
    assert.equal(unreachableReason(failure('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:2376\n    at stack')), 'connect ECONNREFUSED 127.0.0.1:2376', 'first line only');
  });

  it('end in exactly one full stop', () => {
    assert.equal(asSentence('no engine'), 'no engine.');
    assert.equal(asSentence(' no engine. \n'), 'no engine.');
    assert.equal(asSentence('no engine...'), 'no engine.');
  });
});

describe('the docker.host and docker.context settings', () => {
  it('take engine addresses and context names, or empty', () => {
    for (const value of ['', 'ssh://me@build-box', 'ssh://build-box:2222', 'ssh://me@[::1]:22/', 'tcp://build-box:2376', 'tcp://[::1]:2376', 'unix:///var/run/docker.sock', 'npipe:////./pipe/docker_engine']) {
      assert.equal(SETTINGS['docker.host'].check(value), undefined, `docker.host ${JSON.stringify(value)}`);
    }
    for (const value of ['', 'default', 'build-box', 'my_box.2', 'a+b-c']) {
      assert.equal(SETTINGS['docker.context'].check(value), undefined, `docker.context ${JSON.stringify(value)}`);
    }
  });

  it('refuse anything else with a sentence that shows what would do', () => {
    for (const value of ['build-box', 'http://build-box', 'ssh://-oProxyCommand=x', 'ssh://box/path', 'tcp://', 'tcp://box/a/b', 'unix://', 'ssh://box\nx', 'ssh://a b', 'x'.repeat(600), 42, null]) {
      assert.match(SETTINGS['docker.host'].check(value as never) ?? '', /must be an engine address/, `docker.host ${JSON.stringify(value)?.slice(0, 40)}`);
    }
    for (const value of ['-x', '.hidden', 'a/b', 'a b', 'x'.repeat(101), 7]) {
      assert.match(SETTINGS['docker.context'].check(value as never) ?? '', /must be the name of a Docker context/, `docker.context ${JSON.stringify(value)}`);
    }
  });

  it('are refused by the config store with the key named, and nothing written', async () => {
    const file = path.join(tempDir(), 'config.json');
    const config = await ConfigStore.open(file);
    await config.set({ 'docker.host': 'ssh://me@build-box' });
    const before = fs.readFileSync(file, 'utf8');
    await assert.rejects(config.set({ 'docker.host': 'build-box:2375' }), /docker\.host/);
    await assert.rejects(config.set({ 'docker.context': '../etc' }), /docker\.context/);
    assert.equal(fs.readFileSync(file, 'utf8'), before);
    assert.equal(config.current['docker.host'], 'ssh://me@build-box');
  });
});

describe('the Docker client for an endpoint', () => {
  it('goes where the endpoint says, whatever DOCKER_HOST and DOCKER_CERT_PATH say (docker-modem would mix them in)', () => {
    const saved = { host: process.env.DOCKER_HOST, verify: process.env.DOCKER_TLS_VERIFY, certs: process.env.DOCKER_CERT_PATH };
    process.env.DOCKER_HOST = 'tcp://127.0.0.1:1';
    process.env.DOCKER_TLS_VERIFY = '1';
    process.env.DOCKER_CERT_PATH = '/nonexistent/certificates';
    try {
      const modem = (dockerClient({ socketPath: '/tmp/elsewhere.sock' }) as unknown as { modem: { socketPath?: string; host?: string; protocol: string } }).modem;
      assert.equal(modem.socketPath, '/tmp/elsewhere.sock');
      assert.equal(modem.host, undefined, 'no host from DOCKER_HOST');
      assert.equal(modem.protocol, 'http');
      assert.equal(process.env.DOCKER_HOST, 'tcp://127.0.0.1:1', 'the environment is as it was');
      assert.equal(process.env.DOCKER_CERT_PATH, '/nonexistent/certificates');
    } finally {
      for (const [name, value] of [['DOCKER_HOST', saved.host], ['DOCKER_TLS_VERIFY', saved.verify], ['DOCKER_CERT_PATH', saved.certs]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
