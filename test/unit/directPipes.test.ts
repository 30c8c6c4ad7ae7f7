import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { DirectPipes } from '../../sidecar/rawChannel/directPipes';

describe('pipe directories', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-pipes-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const remaining = () => fs.readdirSync(root).map((name) => path.join(root, name)).sort();

  it('sweeps only what no container mounts and no create is about to mount', async () => {
    const pipes = new DirectPipes(root, true, async () => undefined);
    const mounted = pipes.newDirectory()!;
    pipes.created('c-mounted', mounted);
    const leftover = path.join(root, 'left-by-a-crash');
    fs.mkdirSync(leftover);
    const inFlight = pipes.newDirectory()!;
    const createdWhileListing = pipes.newDirectory()!;

    await pipes.sweep(async () => {
      pipes.created('c-late', createdWhileListing); // Docker listed before this create finished
      return new Set([mounted]);
    });
    assert.deepEqual(remaining(), [mounted, inFlight, createdWhileListing].sort());

    // A later sweep that does not see the late container's mount (it was removed behind our back) removes it.
    await pipes.sweep(async () => new Set([mounted]));
    assert.deepEqual(remaining(), [mounted, inFlight].sort());
  });

  it('removes a directory with its container, and when Docker says the container is gone', () => {
    const pipes = new DirectPipes(root, true, async () => undefined);
    const first = pipes.newDirectory()!;
    const second = pipes.newDirectory()!;
    pipes.created('c1', first);
    pipes.created('c2', second);
    pipes.removed('c1', first);
    pipes.containerGone('c2');
    assert.deepEqual(remaining(), []);
  });

  it('offers nothing when the engine is not local, or once it refused a bind mount', () => {
    assert.equal(new DirectPipes(root, false, async () => undefined).newDirectory(), undefined);
    const pipes = new DirectPipes(root, true, async () => undefined);
    pipes.refusedMount(pipes.newDirectory()!);
    assert.equal(pipes.newDirectory(), undefined);
    assert.deepEqual(remaining(), []);
  });
});
