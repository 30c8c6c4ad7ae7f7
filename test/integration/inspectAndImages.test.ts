/**
 * Docker's own views through the sidecar: a session's container as `docker inspect` shows it,
 * the engine's local images, and an engine's failure kept apart from the sentence a person reads.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { docker, expectError, P, TEST_IMAGE, useSidecar, waitFor } from './harness';

/** An image on a registry nothing listens at: the pull fails at once, with the engine's own reason. */
const UNPULLABLE_IMAGE = 'localhost:1/nope:latest';

describe("Docker's views through the sidecar", () => {
  const sidecar = useSidecar();

  it("inspects a session's container: its id and Docker's own inspect JSON, as docker inspect has it", async () => {
    const session = await sidecar.newSession('inspected');

    const inspection = await sidecar.client.request(P.InspectSessionRequest.type, { id: session.id });

    assert.equal(inspection.containerId, session.containerId);
    const container = inspection.container as { Id: string; Config: { Image: string; Labels: Record<string, string> }; State: { Running: boolean } };
    const direct = await docker.getContainer(session.containerId!).inspect();
    assert.equal(container.Id, direct.Id);
    assert.equal(container.Config.Image, TEST_IMAGE);
    assert.equal(container.Config.Labels['sandkasten.instance'], sidecar.instanceId);
    assert.equal(container.State.Running, true);
  });

  it('refuses to inspect an unknown session, or one whose container was removed, with NotFound', async () => {
    await expectError(sidecar.client.request(P.InspectSessionRequest.type, { id: 'ses-000000000000' }), 'NotFound');
    const session = await sidecar.newSession('removed');
    await docker.getContainer(session.containerId!).remove({ force: true });

    const refused = await expectError(sidecar.client.request(P.InspectSessionRequest.type, { id: session.id }), 'NotFound');

    assert.match(refused.message, new RegExp(`Session "${session.id}" has no container now`));
    // The session itself is still there, and start gives it a container again.
    await waitFor('the removal to show', async () => ((await sidecar.client.request(P.ListSessionsRequest.type, {})).find((s) => s.id === session.id)?.state === 'stopped' ? true : undefined));
    const resumed = await sidecar.client.request(P.ResumeSessionRequest.type, { id: session.id });
    assert.equal((await sidecar.client.request(P.InspectSessionRequest.type, { id: session.id })).containerId, resumed.containerId);
  });

  it("lists the engine's local images, one per repo:tag, newest first, with Docker's id and size", async () => {
    const images = await sidecar.client.request(P.ListImagesRequest.type, {});

    const test = images.find((image) => image.reference === TEST_IMAGE);
    assert.ok(test, `${TEST_IMAGE} is listed`);
    const direct = await docker.getImage(TEST_IMAGE).inspect();
    assert.equal(test.id, direct.Id);
    assert.equal(test.sizeBytes, direct.Size);
    // The list counts whole seconds, inspect has fractions.
    assert.equal(test.createdAt, new Date(Math.floor(Date.parse(direct.Created) / 1000) * 1000).toISOString());
    assert.ok(!images.some((image) => image.reference.includes('<none>')), 'no untagged image');
    const times = images.map((image) => Date.parse(image.createdAt));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => b - a),
      'newest first',
    );
  });

  it("keeps the engine's words out of an unpullable image's sentence, and gives them as the error's detail", async () => {
    const refused = await expectError(sidecar.client.request(P.CreateWorkspaceRequest.type, { name: 'unpullable', image: UNPULLABLE_IMAGE }), 'ImageMissing');

    assert.equal(refused.message, `Image "${UNPULLABLE_IMAGE}" is not available locally and could not be pulled. Check its name, or build or pull it, then try again.`);
    const detail = P.errorDetail(refused);
    assert.ok(detail, `the error has a detail: ${JSON.stringify(refused.data)}`);
    assert.match(detail, /localhost:1|connection refused|dial tcp/);
    assert.deepEqual(await sidecar.client.request(P.ListWorkspacesRequest.type, {}).then((list) => list.filter((w) => w.name === 'unpullable')), [], 'nothing was created');
  });
});
