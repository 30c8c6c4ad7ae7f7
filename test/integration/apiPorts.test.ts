import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApiClient, assertApiError, enableApi } from './apiClient';
import { useSidecar, waitFor } from './harness';

/**
 * The ports routes as an agent uses them: start a server with exec, find it, forward it, call
 * the URL it got back, stop forwarding. Against the real engine, through the HTTP API.
 */
describe('HTTP API: ports', () => {
  const sidecar = useSidecar();
  let api: ApiClient;
  let sessionId: string;
  const blockers: net.Server[] = [];

  before(async () => {
    const { url, token } = await enableApi(sidecar.client, { 'ports.autoForward': { ephemeral: 'notify', session: 'notify', persistent: 'notify' } });
    api = new ApiClient(url, token);
    const created = await api.post('/v1/sessions', {});
    assert.equal(created.status, 201, created.text);
    sessionId = created.json<{ id: string }>().id;
    const started = await api.post(`/v1/sessions/${sessionId}/exec`, { cmd: 'mkdir -p /tmp/www && echo agent-page > /tmp/www/index.html && (httpd -p 8081 -h /tmp/www &) ; true' });
    assert.equal(started.status, 200, started.text);
  });

  after(() => {
    for (const server of blockers) server.close();
  });

  it('lists what listens, forwards it with a URL an agent can call, and stops', async () => {
    const listed = await waitFor('port 8081 listed', async () => {
      const response = await api.get(`/v1/sessions/${sessionId}/ports`);
      assert.equal(response.status, 200, response.text);
      const ports = response.json<{ ports: Array<Record<string, unknown>> }>().ports;
      return ports.find((p) => p.port === 8081);
    });
    assert.deepEqual({ ...listed }, { session_id: sessionId, port: 8081, listening: true, process: 'httpd', label: null, forwarded: false, url: null, local_address: null, local_port: null });

    const forwarded = await api.post(`/v1/sessions/${sessionId}/ports`, { port: 8081, label: 'docs' });
    assert.equal(forwarded.status, 201, forwarded.text);
    const body = forwarded.json<{ url: string; forwarded: boolean; label: string; local_port: number }>();
    assert.equal(body.forwarded, true);
    assert.equal(body.label, 'docs');
    assert.equal((await (await fetch(body.url)).text()).trim(), 'agent-page');

    const again = await api.post(`/v1/sessions/${sessionId}/ports`, { port: 8081 });
    assert.equal(again.json<{ local_port: number }>().local_port, body.local_port, 'forwarding again is idempotent');

    const stopped = await api.delete(`/v1/sessions/${sessionId}/ports/8081`);
    assert.equal(stopped.status, 200, stopped.text);
    assert.equal(stopped.json<{ forwarded: boolean }>().forwarded, false);
    await assert.rejects(fetch(body.url), 'the listener is closed');
    assertApiError(await api.delete(`/v1/sessions/${sessionId}/ports/8081`), 404, 'PORT_NOT_FOUND');
  });

  it('refuses bad input with a JSON error and forwards nothing', async () => {
    assertApiError(await api.post(`/v1/sessions/${sessionId}/ports`, {}), 400, 'INVALID_REQUEST');
    assertApiError(await api.post(`/v1/sessions/${sessionId}/ports`, { port: 0 }), 400, 'INVALID_REQUEST');
    assertApiError(await api.post(`/v1/sessions/${sessionId}/ports`, { port: 70000 }), 400, 'INVALID_REQUEST');
    assertApiError(await api.post(`/v1/sessions/${sessionId}/ports`, { port: '8081' }), 400, 'INVALID_REQUEST');
    assertApiError(await api.post(`/v1/sessions/${sessionId}/ports`, { port: 8081, local_port: -1 }), 400, 'INVALID_REQUEST');
    assertApiError(await api.post(`/v1/sessions/${sessionId}/ports`, { port: 8081, label: 'a\nb' }), 400, 'INVALID_REQUEST');
    assertApiError(await api.delete(`/v1/sessions/${sessionId}/ports/http`), 400, 'INVALID_REQUEST');
    assertApiError(await api.get('/v1/sessions/ses-missing/ports'), 404, 'SESSION_NOT_FOUND');
    assertApiError(await api.post('/v1/sessions/ses-missing/ports', { port: 80 }), 404, 'SESSION_NOT_FOUND');
    assertApiError(await api.delete('/v1/sessions/ses-missing/ports/80'), 404, 'SESSION_NOT_FOUND');

    const blocker = net.createServer();
    blockers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    assertApiError(await api.post(`/v1/sessions/${sessionId}/ports`, { port: 8081, local_port: taken }), 409, 'PORT_IN_USE');

    const ports = (await api.get(`/v1/sessions/${sessionId}/ports`)).json<{ ports: Array<{ forwarded: boolean }> }>().ports;
    assert.ok(ports.every((p) => !p.forwarded), 'nothing was forwarded by a refused request');
  });
});
