import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { imageInfosOf } from '../../sidecar/docker/dockerEngine';

const HOUR_S = 3600;
const T = Date.UTC(2026, 0, 1) / 1000;

describe("Docker's image list", () => {
  it('gives one entry per repo:tag, newest image first and the tags of one image by name', () => {
    const images = imageInfosOf([
      { Id: 'sha256:aaa', RepoTags: ['busybox:latest'], Size: 4_000_000, Created: T },
      { Id: 'sha256:bbb', RepoTags: ['debian:bookworm-slim', 'debian:12-slim'], Size: 75_000_000, Created: T + HOUR_S },
    ]);

    assert.deepEqual(images, [
      { reference: 'debian:12-slim', id: 'sha256:bbb', sizeBytes: 75_000_000, createdAt: '2026-01-01T01:00:00.000Z' },
      { reference: 'debian:bookworm-slim', id: 'sha256:bbb', sizeBytes: 75_000_000, createdAt: '2026-01-01T01:00:00.000Z' },
      { reference: 'busybox:latest', id: 'sha256:aaa', sizeBytes: 4_000_000, createdAt: '2026-01-01T00:00:00.000Z' },
    ]);
  });

  it('leaves out untagged images, however the engine spells them', () => {
    const images = imageInfosOf([
      { Id: 'sha256:old', RepoTags: ['<none>:<none>'], Size: 1, Created: T + 2 * HOUR_S },
      { Id: 'sha256:new', RepoTags: null, Size: 1, Created: T + 3 * HOUR_S },
      { Id: 'sha256:bare', Size: 1, Created: T + 4 * HOUR_S },
      { Id: 'sha256:kept', RepoTags: ['app:1'], Size: 1, Created: T },
    ]);

    assert.deepEqual(
      images.map((image) => image.reference),
      ['app:1'],
    );
  });
});
