import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { DirectPipe, DirectPipes } from '../../sidecar/rawChannel/directPipes';

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

describe('a FIFO the sidecar reads itself (the streaming exec)', () => {
  let root: string;
  let fifo: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sk-fifo-'));
    fifo = path.join(root, 'out');
    execFileSync('mkfifo', ['-m', '0622', fifo]);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  /** The command's end of the FIFO, as the container opens it. */
  const openWriter = () => fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  const nextData = (socket: NodeJS.EventEmitter) => new Promise<Buffer>((resolve) => socket.once('data', resolve));

  it('streams what the command writes, and hands over what is still in the FIFO at its end without waiting for an end-of-file', async () => {
    const pipe = new DirectPipe(fifo, '/run/sandkasten/out');
    const reader = pipe.readHere();
    const writer = openWriter();
    const first = nextData(reader);
    fs.writeSync(writer, 'streamed ');
    assert.equal((await first).toString(), 'streamed ');
    reader.removeAllListeners('data');
    reader.pause();
    fs.writeSync(writer, 'written just before the end');
    // The writer stays open (a background job holding stdout): the rest comes without an end-of-file.
    assert.equal(Buffer.concat(pipe.takeRest()).toString(), 'written just before the end');
    assert.deepEqual(pipe.takeRest(), [], 'nothing twice');

    const leftovers: Buffer[] = [];
    pipe.handOver((data) => leftovers.push(data))();
    assert.equal(fs.existsSync(fifo), false, 'the name goes with the command');
    const later = nextData(reader);
    fs.writeSync(writer, 'from the job');
    await later;
    fs.closeSync(writer);
    await new Promise((resolve) => reader.once('close', resolve));
    assert.equal(Buffer.concat(leftovers).toString(), 'from the job');
  });

  it('lets the FIFO fill while the reader is paused, so a writer that goes on blocks (back-pressure)', async () => {
    const pipe = new DirectPipe(fifo, '/run/sandkasten/out');
    const reader = pipe.readHere();
    reader.pause();
    const writer = openWriter();
    let written = 0;
    const block = Buffer.alloc(64 * 1024, 'x');
    assert.throws(
      () => {
        for (;;) written += fs.writeSync(writer, block);
      },
      { code: 'EAGAIN' },
    );
    assert.ok(written >= 4096 && written <= 16 * 1024 * 1024, `the FIFO took ${written} bytes, a pipe's buffer`);
    assert.equal(Buffer.concat(pipe.takeRest()).length, written, 'every byte is there');
    fs.closeSync(writer);
    pipe.close();
    assert.equal(fs.existsSync(fifo), false);
  });

  it('refuses a second reader', () => {
    const pipe = new DirectPipe(fifo, '/run/sandkasten/out');
    pipe.readHere();
    assert.throws(() => pipe.readHere(), /already has a reader/);
    pipe.close();
  });
});
