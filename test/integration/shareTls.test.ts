/**
 * Sharing beyond loopback: the endpoint refuses to listen on another address without a
 * certificate, listens with TLS once it has one, and the link pins that certificate — a guest
 * joins over wss with a self-signed certificate, and a guest whose link names another
 * certificate is refused before its secret leaves the machine. Two real sidecars (host and
 * guest), the real engine, openssl for the certificates.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createWorkspace, expectError, P, useSidecars } from './harness';
import { selfSignedCertificate } from '../support/certificates';

describe('sharing beyond loopback', () => {
  const certificates = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-tls-'));
  let sessionId = '';
  // Registered before the sidecars' own clean-up, so it runs while they still answer.
  after(async () => {
    await host.client.request(P.StopShareRequest.type, { sessionId }).catch(() => undefined);
    fs.rmSync(certificates, { recursive: true, force: true });
  });
  const [host, guest] = useSidecars(2);

  before(async () => {
    const workspace = await createWorkspace(host.client, 'tls', { kind: 'collaborative' });
    sessionId = (await host.client.request(P.StartSessionRequest.type, { workspaceId: workspace.id })).id;
  });
  it('refuses to listen beyond loopback without a certificate, and shares nothing', async () => {
    await host.client.request(P.SetConfigRequest.type, { values: { 'share.bindAddress': '0.0.0.0' } });
    const error = await expectError(host.client.request(P.StartShareRequest.type, { sessionId }), 'InvalidConfig');
    assert.match(error.message, /needs TLS: set share\.tlsCertFile and share\.tlsKeyFile/);
    assert.deepEqual(await host.client.request(P.ListSharesRequest.type, {}), []);
  });

  it('listens with TLS, warns, and a guest joins over wss with the pinned self-signed certificate', async () => {
    const { cert, key } = selfSignedCertificate(certificates, 'host');
    await host.client.request(P.SetConfigRequest.type, {
      values: { 'share.bindAddress': '0.0.0.0', 'share.publicAddress': '127.0.0.1', 'share.tlsCertFile': cert, 'share.tlsKeyFile': key, 'share.approval': 'anyone' },
    });
    const share = await host.client.request(P.StartShareRequest.type, { sessionId });
    assert.match(share.code, /^wss:\/\/127\.0\.0\.1:\d+\/share\?fp=[0-9a-f]{64}#[A-Za-z0-9_-]{43}$/);
    assert.match(share.warning ?? '', /listens on 0\.0\.0\.0/);
    const joined = await guest.client.request(P.JoinShareRequest.type, { code: share.link, name: 'tls-guest' });
    assert.equal(joined.state, 'connected');
    assert.equal(joined.hostSessionId, sessionId);
    await guest.client.request(P.LeaveShareRequest.type, { joinedShareId: joined.id });
  });

  it('refuses a host whose certificate is not the one the link pins', async () => {
    const [share] = await host.client.request(P.ListSharesRequest.type, {});
    const other = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', selfSignedCertificate(certificates, 'other').cert], { encoding: 'utf8' });
    const otherFingerprint = other.split('=')[1].trim().replaceAll(':', '').toLowerCase();
    const forged = share.code.replace(/fp=[0-9a-f]{64}/, `fp=${otherFingerprint}`);
    const error = await expectError(guest.client.request(P.JoinShareRequest.type, { code: forged }), 'Forbidden');
    assert.match(error.message, /certificate is not the one the link names/);
    const [after] = await host.client.request(P.ListSharesRequest.type, {});
    assert.deepEqual(after.participants, [], 'nobody got in');
  });

  it('refuses a link that drops the fingerprint or the secret (bad input, nothing joined)', async () => {
    const [share] = await host.client.request(P.ListSharesRequest.type, {});
    await expectError(guest.client.request(P.JoinShareRequest.type, { code: share.code.replace(/\?fp=[0-9a-f]{64}/, '') }), 'InvalidInput');
    await expectError(guest.client.request(P.JoinShareRequest.type, { code: share.code.replace(/#.*$/, '') }), 'InvalidInput');
    assert.deepEqual(await guest.client.request(P.ListJoinedSharesRequest.type, {}), []);
  });
});
