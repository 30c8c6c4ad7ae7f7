import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ContainerSpec } from '../../sidecar/docker/engine';
import { SandkastenError } from '../../sidecar/errors';
import { FILE_STATUS, parseListing } from '../../sidecar/files/fileScripts';
import { FileError, Files, INLINE_WRITE_MAX_BYTES, containerSays, type FileProblem } from '../../sidecar/files/files';
import { planReconciliation } from '../../sidecar/reconcile';
import { eventually } from './fakes/clock';
import { makeDomain, type Domain } from './fakes/domain';
import type { ScriptedOutput, WrittenCommand } from './fakes/shell';

const TIMEOUT_MS = 5000;

let domain: Domain | undefined;
let files: Files | undefined;
afterEach(() => {
  files?.dispose();
  files = undefined;
  domain?.dispose();
  domain = undefined;
});

/** The domain over the fake engine, Files on it, and what the file scripts were (answered by `answer`). */
async function setUp(answer: (command: WrittenCommand) => ScriptedOutput | undefined = () => ({}), settings = {}) {
  domain = await makeDomain(settings);
  const parts = domain;
  const errors: string[] = [];
  files = new Files({ ...parts, log: { info: () => undefined, error: (message) => errors.push(message) }, timeoutMs: TIMEOUT_MS });
  const scripts: string[] = [];
  parts.engine.script = (_text, command) => {
    if (!command.line?.includes('sk_dir')) return undefined; // not a file script (a session's own commands)
    scripts.push(command.line);
    return answer(command);
  };
  return { ...parts, files, scripts, errors };
}

async function runningSession(parts: Domain) {
  const workspace = await parts.workspaces.create({ name: 'files' });
  const session = await parts.sessions.start(workspace.id);
  return { workspace, session, containerId: session.containerId! };
}

function failsWith(problem: FileProblem) {
  return (error: unknown) => {
    assert.ok(error instanceof FileError, `a FileError, got ${String(error)}`);
    assert.equal(error.problem, problem);
    return true;
  };
}

const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString();
const execCount = (parts: Domain) => parts.engine.callsTo('exec').length;

describe('files', () => {
  describe('in a session', () => {
    it("works in a warm shell of its own, reused from one call to the next, never the session's shell", async () => {
      const parts = await setUp((command) => (command.line!.includes('head -c') ? { stdout: 'hello' } : {}));
      const { session, containerId } = await runningSession(parts);
      const before = execCount(parts);
      const read = await parts.files.inSession(session.id, (place) => place.read(['a.txt'], 100));
      assert.deepEqual({ text: text(read.chunks), bytes: read.bytes, truncated: read.truncated }, { text: 'hello', bytes: 5, truncated: false });
      await parts.files.inSession(session.id, (place) => place.write(['dir', 'b.txt'], Buffer.from('x')));
      await parts.files.inSession(session.id, (place) => place.read(['a.txt'], 100));
      assert.equal(execCount(parts) - before, 1, 'one exec, for the warm shell');
      const main = parts.engine.shellsOf(containerId).find((shell) => shell.origin === 'main')!;
      assert.ok(!main.commands.some((command) => command.includes('sk_dir')), "the session's own shell ran no file script");
      assert.equal(parts.scripts.length, 3);
    });

    it('asks for one byte more than it returns, to tell a truncated file', async () => {
      const parts = await setUp(() => ({ stdout: ['hel', 'lo '] }));
      const { session } = await runningSession(parts);
      const read = await parts.files.inSession(session.id, (place) => place.read(['big'], 5));
      assert.match(parts.scripts[0], /head -c 6 <&3/);
      assert.deepEqual({ text: text(read.chunks), bytes: read.bytes, truncated: read.truncated }, { text: 'hello', bytes: 5, truncated: true });
    });

    it('sends a small write as base64 in the script, a large one as the stdin of an exec of its own', async () => {
      const parts = await setUp();
      const { session, containerId } = await runningSession(parts);
      await parts.files.inSession(session.id, (place) => place.write(['small'], Buffer.from([0, 1, 255])));
      assert.match(parts.scripts[0], /printf %s 'AAH\/' \| base64 -d >&3/);
      const before = execCount(parts);
      await parts.files.inSession(session.id, (place) => place.write(['large'], Buffer.alloc(INLINE_WRITE_MAX_BYTES + 1)));
      const [id, options] = parts.engine.callsTo('exec').at(-1) as [string, { command: string[] }];
      assert.equal(execCount(parts) - before, 1);
      assert.equal(id, containerId);
      assert.deepEqual(options.command.slice(0, 2), ['sh', '-c']);
      assert.match(options.command[2], /\ncat >&3 \|\|/);
    });

    it('turns each status of the scripts into the problem it stands for, and any other into a failure with what the container said', async () => {
      let status = 0;
      let stderr = '';
      const parts = await setUp(() => ({ exitCode: status, stderr }));
      const { session } = await runningSession(parts);
      const cases: Array<[number, FileProblem]> = [
        [FILE_STATUS.notFound, 'notFound'],
        [FILE_STATUS.notADirectory, 'notADirectory'],
        [FILE_STATUS.isADirectory, 'isADirectory'],
        [FILE_STATUS.notARegularFile, 'notARegularFile'],
        [FILE_STATUS.outsideWorkspace, 'outsideWorkspace'],
        [FILE_STATUS.symbolicLink, 'symbolicLink'],
        [FILE_STATUS.noWorkspace, 'noWorkspace'],
        [FILE_STATUS.failed, 'failed'],
        [1, 'failed'],
        [127, 'failed'],
      ];
      for ([status] of cases) {
        const expected = cases.find(([code]) => code === status)![1];
        await assert.rejects(parts.files.inSession(session.id, (place) => place.read(['x'], 10)), failsWith(expected), `status ${status}`);
      }
      status = FILE_STATUS.failed;
      stderr = 'sh: mv: unknown option -- T\r\n\u001b[31mmv: No space left on device\u001b[0m\n';
      await assert.rejects(parts.files.inSession(session.id, (place) => place.write(['x'], Buffer.from('x'))), (error: unknown) => {
        assert.ok(error instanceof FileError);
        assert.equal(error.detail, '[31mmv: No space left on device[0m');
        assert.match(error.message, /status 77: .*No space left on device/);
        return true;
      });
    });

    it('stops a container that prints more than asked, and does not use that shell again', async () => {
      const parts = await setUp(() => ({ stdout: ['1234', '567890'] }));
      const { session } = await runningSession(parts);
      const before = execCount(parts);
      await assert.rejects(parts.files.inSession(session.id, (place) => place.read(['x'], 3)), failsWith('failed'));
      await assert.rejects(parts.files.inSession(session.id, (place) => place.read(['x'], 3)), failsWith('failed'));
      assert.equal(execCount(parts) - before, 2, 'a new shell for the second call');
    });

    it('gives up on a script that outlives its deadline (a FIFO swapped in), stopping it', async () => {
      let hang = true;
      const parts = await setUp(() => (hang ? { hang: true } : { stdout: 'ok' }));
      const { session, containerId } = await runningSession(parts);
      const reading = parts.files.inSession(session.id, (place) => place.read(['fifo'], 10));
      reading.catch(() => undefined);
      await eventually(() => parts.scripts.length === 1, 'the script to be sent');
      await parts.clock.advance(TIMEOUT_MS - 1);
      assert.equal(parts.engine.runOnceScripts.length, 0, 'not before its deadline');
      await parts.clock.advance(1);
      await assert.rejects(reading, failsWith('timeout'));
      await eventually(() => parts.engine.runOnceScripts.some((script) => script.includes('kill -INT')), 'the interrupt');
      await parts.clock.advance(10_000);
      const fileShells = parts.engine.shellsOf(containerId).filter((shell) => shell.origin === 'exec');
      assert.ok(fileShells.every((shell) => !shell.alive), 'the shell that hung is closed');
      hang = false;
      assert.equal(text((await parts.files.inSession(session.id, (place) => place.read(['x'], 10))).chunks), 'ok');
    });

    it('says so when the container stops during the operation', async () => {
      const parts = await setUp(() => ({ hang: true }));
      const { session, containerId } = await runningSession(parts);
      const reading = parts.files.inSession(session.id, (place) => place.read(['x'], 10));
      reading.catch(() => undefined);
      await eventually(() => parts.scripts.length === 1, 'the script to be sent');
      await parts.engine.stopContainer(containerId);
      await assert.rejects(reading, (error: unknown) => {
        assert.ok(error instanceof FileError);
        assert.equal(error.problem, 'failed');
        assert.match(error.message, /container stopped/);
        return true;
      });
    });

    it('closes its idle shells after a minute unused', async () => {
      const parts = await setUp();
      const { session, containerId } = await runningSession(parts);
      await parts.files.inSession(session.id, (place) => place.write(['x'], Buffer.from('x')));
      const shell = parts.engine.shellsOf(containerId).find((candidate) => candidate.origin === 'exec')!;
      await parts.clock.advance(59_999);
      assert.ok(shell.alive);
      await parts.clock.advance(1);
      await eventually(() => !shell.alive, 'the idle shell to close');
    });

    it('refuses a session that does not run with Conflict, as exec does', async () => {
      const parts = await setUp();
      const { session } = await runningSession(parts);
      await parts.sessions.stop(session.id);
      await assert.rejects(parts.files.inSession(session.id, (place) => place.read(['x'], 1)), (error: unknown) => error instanceof SandkastenError && error.codeName === 'Conflict');
    });
  });

  describe('in a workspace', () => {
    it("uses a running session's container when there is one", async () => {
      const parts = await setUp(() => ({ stdout: 'dfile\0' }));
      const { workspace, containerId } = await runningSession(parts);
      const listed = await parts.files.inWorkspace(workspace.id, (place) => place.list([]));
      assert.deepEqual(listed, { entries: [{ name: 'file', isDirectory: true }], truncated: false });
      assert.equal(parts.engine.callsTo('createContainer').length, 1, 'only the session container');
      assert.equal((parts.engine.callsTo('exec').at(-1) as [string])[0], containerId);
    });

    it('otherwise makes a helper container with its volume (no network, read-only root, role files), and removes it', async () => {
      const parts = await setUp(() => ({}), { 'sandbox.user': { persistent: '1000:1000' } });
      const workspace = await parts.workspaces.create({ name: 'nosession', kind: 'persistent' });
      await parts.files.inWorkspace(workspace.id, async (place) => {
        const helper = parts.engine.containers.get(place.containerId)!;
        assert.ok(helper.running);
        const spec = helper.spec as ContainerSpec;
        assert.deepEqual(
          { role: spec.role, workspaceId: spec.workspaceId, network: spec.network, readOnlyRoot: spec.readOnlyRoot, user: spec.user, image: spec.image, mounts: spec.mounts },
          { role: 'files', workspaceId: workspace.id, network: 'none', readOnlyRoot: true, user: '1000:1000', image: workspace.image, mounts: [{ type: 'volume', source: workspace.volume, target: '/workspace' }] },
        );
        assert.deepEqual(helper.labels, { 'sandkasten.managed': 'true', 'sandkasten.instance': parts.engine.instanceId, 'sandkasten.role': 'files', 'sandkasten.workspace': workspace.id });
        await place.write(['a'], Buffer.from('a'));
        await place.write(['b'], Buffer.from('b'));
      });
      assert.equal(parts.engine.callsTo('exec').length, 0, "the helper's main shell did the work: no exec");
      assert.equal(parts.scripts.length, 2);
      assert.deepEqual(parts.engine.containersWithRole('files'), [], 'the helper is gone');
    });

    it('removes the helper when the work fails, and pulls a missing image first', async () => {
      const parts = await setUp(() => ({ exitCode: FILE_STATUS.notFound }));
      const workspace = await parts.workspaces.create({ name: 'pulled' });
      parts.engine.images.delete(workspace.image);
      await assert.rejects(parts.files.inWorkspace(workspace.id, (place) => place.read(['missing'], 10)), failsWith('notFound'));
      assert.equal(parts.engine.callsTo('ensureImage').filter(([image]) => image === workspace.image).length, 2, 'once at create, once for the helper');
      assert.deepEqual(parts.engine.containersWithRole('files'), []);
    });

    it('leaves a helper that a crash left behind to reconciliation, which removes it (no session owns it)', () => {
      const labels = { 'sandkasten.managed': 'true', 'sandkasten.instance': 'i', 'sandkasten.role': 'files', 'sandkasten.workspace': 'w' };
      const plan = planReconciliation(
        { workspaces: [{ id: 'w', volume: 'vol-w', state: 'ready' }], sessions: [] },
        { containers: [{ id: 'helper', name: 'sandkasten-i-files-abc', running: true, paused: false, labels, mounts: [{ source: 'vol-w', target: '/workspace' }] }], volumes: [{ name: 'vol-w', labels: {} }] },
      );
      assert.deepEqual(plan.removeContainers, ['helper']);
      assert.deepEqual(plan.poolContainers, []);
    });

    it('answers NotFound for a workspace that does not exist, making nothing', async () => {
      const parts = await setUp();
      await assert.rejects(parts.files.inWorkspace('nope', (place) => place.list([])), (error: unknown) => error instanceof SandkastenError && error.codeName === 'NotFound');
      assert.equal(parts.engine.callsTo('createContainer').length, 0);
    });
  });

  describe('listings', () => {
    it('reads entries by name and ignores what listScript would not print', () => {
      const output = Buffer.concat([Buffer.from('fzeta\0dalpha\0'), Buffer.from('x-bogus\0\0f\0'), Buffer.from([0x66, 0xc3, 0xbc, 0]), Buffer.from('+\0ftrailing-without-nul')]);
      assert.deepEqual(parseListing(output), {
        entries: [
          { name: 'alpha', isDirectory: true },
          { name: 'zeta', isDirectory: false },
          { name: 'ü', isDirectory: false },
        ],
        truncated: true,
      });
    });
  });

  it("shows the last line of a container's stderr, plain and short", () => {
    assert.equal(containerSays('first\nsecond line\n\n'), 'second line');
    assert.equal(containerSays('\u0007\u001b]0;title\u0007x'), ']0;titlex');
    assert.equal(containerSays('y'.repeat(300)).length, 201);
    assert.equal(containerSays(''), '');
  });
});
