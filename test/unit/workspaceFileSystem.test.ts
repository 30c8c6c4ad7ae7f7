/**
 * The workspace file system without Docker: its paths, what its scripts print and how that is
 * read (a container may print anything), how its errors map on both ends, and watching — what
 * is polled when, what a poll's findings are reported as — over a fake container and clock.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { ResponseError } from 'vscode-languageserver-protocol';
import { createMessageConnection } from 'vscode-languageserver-protocol/node';
import * as P from '../../sidecar/client/protocol';
import { ErrorCode, type FileChangeInfo, type SessionInfo } from '../../sidecar/client/protocol';
import { SandkastenError } from '../../sidecar/errors';
import { parseEntries, parseStat, renameScript, writeScript, type TypedEntry } from '../../sidecar/files/fileScripts';
import { FileError, type FileProblem } from '../../sidecar/files/files';
import { POLL_INTERVAL_MS, type WatchPlace } from '../../sidecar/files/fileWatch';
import { parseDirectoryListings, parsePoll, pollScript, type PollOutput } from '../../sidecar/files/watchScripts';
import { fileSystemError, fileSystemPath, WorkspaceFileSystem, type FileOps } from '../../sidecar/files/workspaceFileSystem';
import { NotificationFlow } from '../../sidecar/server/flow';
import { registerFileHandlers } from '../../sidecar/server/handlers/files';
import { registrar } from '../../sidecar/server/registrar';
import type { Services } from '../../sidecar/server/services';
import { authorityOf, fileSystemErrorKind, targetOf } from '../../src/files/fileSystemMapping';
import { eventually, FakeClock } from './fakes/clock';

const nul = (...records: string[]) => Buffer.from(records.map((record) => `${record}\0`).join(''));

function refusedAsInvalid(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof SandkastenError, String(error));
    assert.equal(error.codeName, 'InvalidInput');
    assert.match(error.message, message);
    return true;
  });
}

describe('the workspace file system', () => {
  describe('paths', () => {
    it('takes absolute paths below the workspace root; slashes repeated or trailing mean nothing', () => {
      assert.deepEqual(fileSystemPath('/'), []);
      assert.deepEqual(fileSystemPath('/src/a.ts'), ['src', 'a.ts']);
      assert.deepEqual(fileSystemPath('//src//deep/'), ['src', 'deep']);
      assert.deepEqual(fileSystemPath('/with space/ünï'), ['with space', 'ünï']);
    });

    it('refuses relative paths, `.` and `..` (never resolved), NUL and names longer than Linux takes', () => {
      refusedAsInvalid(() => fileSystemPath('src/a.ts'), /must start with "\/"/);
      refusedAsInvalid(() => fileSystemPath(''), /must start with "\/"/);
      refusedAsInvalid(() => fileSystemPath('/a/../../etc/passwd'), /"\." or "\.\."/);
      refusedAsInvalid(() => fileSystemPath('/./a'), /"\." or "\.\."/);
      refusedAsInvalid(() => fileSystemPath('/a\0b'), /NUL/);
      refusedAsInvalid(() => fileSystemPath(`/${'x'.repeat(256)}`), /longer than 255 bytes/);
      refusedAsInvalid(() => fileSystemPath(`/${'a/'.repeat(2100)}`), /too long/);
    });
  });

  describe('what the scripts print', () => {
    it('reads a stat line: plain, a link followed inside, a link itself; milliseconds from the fraction', () => {
      assert.deepEqual(parseStat('P81a4|3|1796078639|1796078640|2026-11-30 22:43:59.583167513 +0000|2026-11-30 22:44:00.5 +0000\n'), {
        type: 'file',
        symlink: false,
        size: 3,
        mtimeMs: 1796078639583,
        ctimeMs: 1796078640500,
      });
      assert.deepEqual(parseStat('L41ed|4096|10|10|1970-01-01 00:00:10.000000000 +0000|x')?.type, 'directory');
      assert.equal(parseStat('L41ed|4096|10|10|1970-01-01 00:00:10.000000000 +0000|x')?.symlink, true);
      const outward = parseStat('l41ed|11|10|10|1970-01-01 00:00:10 +0000|x');
      assert.deepEqual([outward?.type, outward?.symlink, outward?.mtimeMs], ['file', true, 10_000], 'a link not followed is a file, whatever its mode says');
      for (const junk of ['', 'hello', 'P81a4|x|1|1|a|b', 'Q81a4|1|1|1|a|b', 'P81a4|1|1|1|a|b|c', 'P81a4|1|1|1|a\n|b']) assert.equal(parseStat(junk), undefined, JSON.stringify(junk));
    });

    it('reads typed entries, drops what sk_entry would never print, and notes a cut listing', () => {
      const output = nul('d-src', 'fla-link', 'dlin', 'f-n\nl', 'x-bad', 'd-', 'f-a/b', 'd-..', 'f-.', 'f', '+');
      const { entries, truncated } = parseEntries(output);
      assert.deepEqual(entries, [
        { name: 'a-link', type: 'file', symlink: true },
        { name: 'in', type: 'directory', symlink: true },
        { name: 'n\nl', type: 'file', symlink: false },
        { name: 'src', type: 'directory', symlink: false },
      ]);
      assert.equal(truncated, true);
      assert.deepEqual(parseEntries(Buffer.from('f-unterminated')).entries, [], 'a record without its NUL is left out');
    });

    it('reads a poll: the clock, whether the path exists, and each modified path with its fingerprint', () => {
      const lines = [
        'd2026-11-30 22:47:16.576299835 +0000 4096 .',
        'f2026-11-30 22:47:16.576299835 +0000 3 ./x',
        'f2026-11-30 22:47:17.1 +0000 9 ./name with',
        'newline',
        'f2026-11-30 22:47:17.1 +0000 9 ./../escape',
        'f2026-11-30 22:47:17.1 +0000 9 ./a//b',
        'garbage before nothing',
      ].join('\n');
      const parsed = parsePoll(Buffer.concat([nul('t1796078836', 'e'), Buffer.from(`${lines}\n`)]), [], 1000);
      assert.equal(parsed.startedAt, 1796078836);
      assert.equal(parsed.exists, true);
      assert.equal(parsed.truncated, false);
      assert.deepEqual(
        parsed.changed.map((change) => [change.components, change.isDirectory]),
        [
          [[], true],
          [['x'], false],
          [['name with\nnewline'], false],
        ],
        'a line that is no record continues the name before; `..` and empty names are left out (with what continues them)',
      );
      assert.equal(parsed.changed[1].fingerprint, 'f2026-11-30 22:47:16.576299835 +0000 3');
    });

    it('reads a poll below a watched path, a missing path, and output cut at its bound', () => {
      const below = parsePoll(Buffer.concat([nul('t5', 'e'), Buffer.from('f2026-11-30 22:47:17.1 +0000 9 ./a.txt\nf2026-11-30 22:47:17.1 +0000 9 ./other\n')]), ['dir', 'a.txt'], 1000);
      assert.deepEqual(below.changed.map((change) => change.components), [['dir', 'a.txt']], 'only the watched path and what is below it');
      assert.deepEqual(parsePoll(nul('t5', 'm'), ['gone'], 1000), { startedAt: 5, exists: false, changed: [], truncated: false });
      assert.equal(parsePoll(Buffer.from('garbage'), [], 1000).exists, false);
      const line = 'f2026-11-30 22:47:17.1 +0000 9 ./x\n';
      const cut = parsePoll(Buffer.concat([nul('t5', 'e'), Buffer.from(line.repeat(3).slice(0, 80))]), [], 80);
      assert.equal(cut.truncated, true);
      assert.equal(cut.changed.length, 2, 'the cut line is left out');
    });

    it('reads several listings, each by its index; a cut one is incomplete, one not printed is missing', () => {
      const output = Buffer.concat([nul('D0', 'd-a', 'f-b', 'D2', 'f-c', '+', 'D9', 'f-z', 'D1'), Buffer.from('f-cut-off')]);
      const listings = parseDirectoryListings(output, 4);
      assert.deepEqual(
        (listings.get(0) as TypedEntry[]).map((entry) => entry.name),
        ['a', 'b'],
      );
      assert.equal(listings.get(2), 'incomplete', 'more entries than its limit');
      assert.equal(listings.get(1), 'incomplete', 'the output ended inside it');
      assert.equal(listings.get(3), undefined, 'not listed: it could not be walked to');
      assert.equal(listings.has(9), false, 'an index that was not asked for is nobody’s');
    });

    it('asks for the create and overwrite checks only when VS Code does, and quotes every name', () => {
      const plain = writeScript(['a'], { base64: '' }, 'n0nce');
      const checks = /then exit (78|70); fi/g;
      assert.deepEqual(plain.match(checks), null, 'the HTTP API’s write is as before');
      const careful = writeScript(['a'], { base64: '' }, 'n0nce', { makeParents: false, create: false, overwrite: false });
      assert.deepEqual(careful.match(checks), ['then exit 78; fi', 'then exit 70; fi']);
      assert.doesNotMatch(careful, /sk_dir '[^']*' 1/, 'no parent is made');
      const renamed = renameScript(["it's", 'x'], ['$(rm -rf /)', 'y`z`'], true);
      assert.match(renamed, /sk_dir 'it'\\''s' 0/);
      assert.match(renamed, /sk_dir '\$\(rm -rf \/\)' 0/);
      assert.match(renamed, /\/proc\/self\/fd\/5\/'y`z`'/);
      const poll = pollScript(['a'], { recursive: false, since: 1700000000.7, nonce: 'n', maxBytes: 10 });
      assert.match(poll, /touch -d "@1700000000"/, 'whole seconds');
      assert.match(poll, /find "\$f" -maxdepth 1 /, 'only its direct entries');
      assert.match(poll, /head -c 10$/m, 'bounded');
    });
  });

  describe('errors', () => {
    const cases: Array<[FileProblem, string, string | undefined]> = [
      ['notFound', 'NotFound', undefined],
      ['notADirectory', 'InvalidInput', 'notADirectory'],
      ['isADirectory', 'InvalidInput', 'isADirectory'],
      ['exists', 'Exists', undefined],
      ['notEmpty', 'Conflict', undefined],
      ['intoItself', 'InvalidInput', undefined],
      ['notARegularFile', 'Forbidden', undefined],
      ['outsideWorkspace', 'Forbidden', undefined],
      ['symbolicLink', 'Forbidden', undefined],
      ['timeout', 'Timeout', undefined],
      ['noWorkspace', 'Conflict', undefined],
      ['failed', 'Conflict', undefined],
    ];
    it('turns each FileError into the code (and kind of path) a client maps, naming the path', () => {
      for (const [problem, code, file] of cases) {
        const mapped = fileSystemError(new FileError(problem, 'what happened'), '/src/a.ts');
        assert.ok(mapped instanceof SandkastenError, problem);
        assert.equal(mapped.codeName, code, problem);
        assert.equal(mapped.data.file, file, problem);
        assert.match(mapped.message, /\/src\/a\.ts|\/workspace/, problem);
      }
      const refused = fileSystemError(new FileError('failed', 'status 77', "rm: can't remove 'x': Permission denied"), '/x');
      assert.equal((refused as SandkastenError).codeName, 'Forbidden', 'the sandbox’s own permissions refuse');
      const other = new Error('not a file error');
      assert.equal(fileSystemError(other, '/x'), other);
    });

    it("maps the sidecar's errors to VS Code's FileSystemErrors in the extension", () => {
      const error = (code: number, file?: string) => ({ code, message: 'raw sentence', data: { code: 'x', ...(file ? { file } : {}) } });
      assert.equal(fileSystemErrorKind(error(ErrorCode.NotFound)), 'FileNotFound');
      assert.equal(fileSystemErrorKind(error(ErrorCode.Exists)), 'FileExists');
      assert.equal(fileSystemErrorKind(error(ErrorCode.InvalidInput, 'notADirectory')), 'FileNotADirectory');
      assert.equal(fileSystemErrorKind(error(ErrorCode.InvalidInput, 'isADirectory')), 'FileIsADirectory');
      for (const code of [ErrorCode.Forbidden, ErrorCode.Conflict, ErrorCode.InvalidInput]) assert.equal(fileSystemErrorKind(error(code)), 'NoPermissions');
      for (const code of [ErrorCode.DockerUnavailable, ErrorCode.Timeout, ErrorCode.Internal, ErrorCode.RequestCancelled]) assert.equal(fileSystemErrorKind(error(code)), 'Unavailable');
      assert.equal(fileSystemErrorKind(new Error('the sidecar is gone')), 'Unavailable');
      assert.equal(fileSystemErrorKind(undefined), 'Unavailable');
    });

    it('names workspaces and joined shares in URIs without ambiguity', () => {
      assert.equal(authorityOf({ workspaceId: 'my-api-a7b3c2d1' }), 'my-api-a7b3c2d1');
      assert.equal(authorityOf({ joinedShareId: 'js-1234' }), 'shared.js-1234');
      assert.deepEqual(targetOf('my-api-a7b3c2d1'), { workspaceId: 'my-api-a7b3c2d1' });
      assert.deepEqual(targetOf('shared.js-1234'), { joinedShareId: 'js-1234' });
      assert.equal(targetOf(''), undefined);
    });
  });

  describe('over JSON-RPC (the handlers, with a stand-in FileOps)', () => {
    /** A client and a server connection over cross-wired in-memory streams, the server with the real registrar and file handlers. */
    function connect(fileOps: (target: P.FileTarget) => Partial<FileOps>) {
      const toServer = new PassThrough();
      const toClient = new PassThrough();
      const server = createMessageConnection(toServer, toClient);
      const client = createMessageConnection(toClient, toServer);
      const { handle, onNotification } = registrar(server, { info: () => undefined, error: () => undefined });
      const services = { fileOps } as unknown as Services;
      registerFileHandlers({ handle, onNotification, connection: server, flow: new NotificationFlow(server), services, client: { origin: 'cli' } });
      server.listen();
      client.listen();
      return { client, server, close: () => (client.dispose(), server.dispose()) };
    }
    const failure = async (promise: Promise<unknown>) => {
      const error = await promise.then(() => assert.fail('it succeeded'), (error: unknown) => error);
      assert.ok(error instanceof ResponseError, String(error));
      return error as ResponseError<P.ErrorData>;
    };

    it('checks the target and the content before anything is done, and carries the kind of path in the error', async () => {
      const written: Array<{ path: string; content: string; options: unknown }> = [];
      const { client, close } = connect(() => ({
        writeFile: async (path, content, options) => void written.push({ path, content: content.toString(), options }),
        readFile: async () => Buffer.from([0, 1, 2, 255]),
        readDirectory: async () => {
          throw new SandkastenError('InvalidInput', 'Not a directory.', undefined, { file: 'notADirectory' });
        },
      }));
      for (const target of [{}, { workspaceId: '' }, { workspaceId: 'a', joinedShareId: 'b' }, 'ws', null]) {
        const error = await failure(client.sendRequest(P.FileStatRequest.method, { target, path: '/' }));
        assert.equal(error.code, ErrorCode.InvalidInput, JSON.stringify(target));
        assert.match(error.message, /"target" must be/);
      }
      for (const content of ['not base64!', 'abc', 'YQ===']) {
        assert.equal((await failure(client.sendRequest(P.WriteFileRequest.type, { target: { workspaceId: 'w' }, path: '/a', content, create: true, overwrite: true }))).code, ErrorCode.InvalidInput);
      }
      await failure(client.sendRequest(P.WriteFileRequest.method, { target: { workspaceId: 'w' }, path: '/a', content: '' }));
      assert.deepEqual(written, [], 'nothing was written');
      assert.equal(await client.sendRequest(P.WriteFileRequest.type, { target: { workspaceId: 'w' }, path: '/a', content: Buffer.from('hé').toString('base64'), create: true, overwrite: false }), null);
      assert.deepEqual(written, [{ path: '/a', content: 'hé', options: { create: true, overwrite: false } }]);
      assert.deepEqual(await client.sendRequest(P.ReadFileRequest.type, { target: { workspaceId: 'w' }, path: '/a' }), { content: 'AAEC/w==' });
      const kind = await failure(client.sendRequest(P.ReadDirectoryRequest.type, { target: { workspaceId: 'w' }, path: '/a' }));
      assert.deepEqual([kind.code, kind.data?.file], [ErrorCode.InvalidInput, 'notADirectory']);
      close();
    });

    it('sends a watch’s changes to its connection under its id; a second watch of that id replaces it; closing ends them all', async () => {
      const watches: Array<{ path: string; onChanges(changes: FileChangeInfo[]): void; disposed: boolean }> = [];
      const fileOps = () => ({
        watch: (path: string, _options: { recursive: boolean }, onChanges: (changes: FileChangeInfo[]) => void) => {
          const watch = { path, onChanges, disposed: false };
          watches.push(watch);
          return { dispose: () => void (watch.disposed = true) };
        },
      });
      const first = connect(fileOps);
      const second = connect(fileOps);
      const heard: Array<{ who: string } & P.FileChangedParams> = [];
      first.client.onNotification(P.FileChangedNotification.type, (params) => void heard.push({ who: 'first', ...params }));
      second.client.onNotification(P.FileChangedNotification.type, (params) => void heard.push({ who: 'second', ...params }));
      await first.client.sendRequest(P.WatchFilesRequest.type, { target: { workspaceId: 'w' }, path: '/', watchId: 'w1', recursive: true });
      await second.client.sendRequest(P.WatchFilesRequest.type, { target: { workspaceId: 'w' }, path: '/src', watchId: 'w1', recursive: false });
      watches[0].onChanges([{ type: 'created', path: '/x' }]);
      await eventually(() => heard.length === 1, 'the change to arrive');
      assert.deepEqual(heard, [{ who: 'first', watchId: 'w1', changes: [{ type: 'created', path: '/x' }] }]);

      await first.client.sendRequest(P.WatchFilesRequest.type, { target: { workspaceId: 'w' }, path: '/', watchId: 'w1', recursive: true });
      assert.deepEqual(watches.map((watch) => watch.disposed), [true, false, false], 'watching again with the same id replaced the first');
      watches[0].onChanges([{ type: 'changed', path: '/late' }]);
      await first.client.sendRequest(P.UnwatchFilesRequest.type, { watchId: 'w1' });
      await first.client.sendRequest(P.UnwatchFilesRequest.type, { watchId: 'never-made' });
      assert.deepEqual(watches.map((watch) => watch.disposed), [true, false, true]);
      second.close();
      await eventually(() => watches[1].disposed, 'the closed connection’s watch to end');
      assert.equal(heard.length, 1, 'a replaced watch says nothing more');
      first.close();
    });
  });

  describe('visits', () => {
    /** A file system whose Files counts visits and lets the test end each stat when it likes. */
    function visiting(fail?: Error) {
      const state = { visits: 0, running: 0, most: 0, pending: [] as Array<() => void> };
      const place = {
        stat: () =>
          new Promise((resolve) => {
            state.running++;
            state.most = Math.max(state.most, state.running);
            state.pending.push(() => {
              state.running--;
              resolve({ type: 'file', symlink: false, size: 1, mtimeMs: 1, ctimeMs: 1 });
            });
          }),
      };
      const fileSystem = new WorkspaceFileSystem({
        files: {
          inWorkspace: async (_workspaceId, work) => {
            state.visits++;
            if (fail) throw fail;
            return work(place as never);
          },
          inRunningContainer: async () => assert.fail('no watch here'),
        },
        sessions: { list: () => [] },
        workspaces: { get: () => ({}) as never },
        clock: new FakeClock(),
        log: { info: () => undefined, error: () => undefined },
      });
      const settle = () => new Promise((resolve) => setImmediate(resolve));
      const finishAll = async () => {
        while (state.pending.length > 0) {
          for (const finish of state.pending.splice(0)) finish();
          await settle();
        }
      };
      return { ops: fileSystem.forWorkspace('ws'), state, settle, finishAll };
    }

    it('runs requests that come together in one visit (one helper container), four at a time', async () => {
      const { ops, state, settle, finishAll } = visiting();
      const stats = Array.from({ length: 20 }, (_, index) => ops.stat(`/f${index}`));
      await settle();
      const late = ops.stat('/late'); // joins while the visit lasts
      await finishAll();
      await Promise.all([...stats, late]);
      assert.equal(state.visits, 1);
      assert.equal(state.most, 4);
      const after = ops.stat('/after');
      await settle();
      await finishAll();
      await after;
      assert.equal(state.visits, 2, 'a request after the visit ended makes a new one');
    });

    it('fails every request of a visit that could not be made, with its error', async () => {
      const { ops } = visiting(new SandkastenError('Conflict', 'archived'));
      const results = await Promise.allSettled([ops.stat('/a'), ops.stat('/b')]);
      assert.deepEqual(
        results.map((result) => result.status === 'rejected' && (result.reason as SandkastenError).codeName),
        ['Conflict', 'Conflict'],
      );
    });
  });

  describe('watching', () => {
    /** A workspace file system over fakes: sessions as the test sets them, a container whose polls the test scripts. */
    function setUp() {
      const clock = new FakeClock();
      const session = (state: SessionInfo['state'], frozen = false) => ({ id: 'ses-1', workspaceId: 'ws', state, containerId: 'c1', ...(frozen ? { frozenAt: 'x' } : {}) }) as SessionInfo;
      const world = {
        sessions: [session('running')] as SessionInfo[] | 'gone',
        polls: [] as Array<{ path: string; since?: number; recursive: boolean }>,
        /** What the next polls find, by watched path. */
        found: new Map<string, PollOutput>(),
        /** Directories' entries as the container would list them, by path. */
        directories: new Map<string, string[]>(),
        listed: [] as string[][],
        /** Requests that reached the files as a use (a listing, a read). */
        uses: 0,
        session,
      };
      const place: WatchPlace = {
        async poll(components, options) {
          const path = `/${components.join('/')}`;
          world.polls.push({ path, since: options.since, recursive: options.recursive });
          return world.found.get(path) ?? { startedAt: 100, exists: true, changed: [], truncated: false };
        },
        async listDirectories(directories) {
          world.listed.push(...directories.map((components) => components));
          return new Map(directories.flatMap((components, index) => {
            const names = world.directories.get(`/${components.join('/')}`);
            return names ? [[index, names.map((name) => ({ name, type: 'file' as const, symlink: false }))]] : [];
          }));
        },
      };
      const fileSystem = new WorkspaceFileSystem({
        files: {
          inWorkspace: async (_workspaceId, work) => {
            world.uses++;
            return work({ entries: async (components: string[]) => ({ entries: (world.directories.get(`/${components.join('/')}`) ?? []).map((name) => ({ name, type: 'file', symlink: false })), truncated: false }) } as never);
          },
          inRunningContainer: async (_containerId, _timeoutMs, work) => work(place as never),
        },
        sessions: {
          list: () => {
            if (world.sessions === 'gone') throw new SandkastenError('NotFound', 'no such workspace');
            return world.sessions;
          },
        },
        workspaces: { get: () => ({}) as never },
        clock,
        log: { info: () => undefined, error: () => undefined },
      });
      const ops = fileSystem.forWorkspace('ws');
      const seen: Array<{ who: string } & FileChangeInfo> = [];
      const watch = (who: string, path: string, recursive = true) => ops.watch(path, { recursive }, (changes) => seen.push(...changes.map((change) => ({ who, ...change }))));
      const tick = () => clock.advance(POLL_INTERVAL_MS);
      const modified = (changed: Array<[string, boolean, string]>, startedAt = 100): PollOutput => ({
        startedAt,
        exists: true,
        truncated: false,
        changed: changed.map(([at, isDirectory, fingerprint]) => ({ components: at === '/' ? [] : at.slice(1).split('/'), isDirectory, fingerprint })),
      });
      world.found.set('/', modified([]));
      return { clock, world, fileSystem, ops, seen, watch, tick, modified };
    }

    it('polls only while a session runs unfrozen: never a frozen, paused or stopped one', async () => {
      const { world, watch, tick } = setUp();
      world.sessions = [world.session('running', true)];
      world.sessions[0].state = 'paused';
      const handle = watch('a', '/');
      for (let round = 0; round < 3; round++) await tick();
      world.sessions = [world.session('stopped')];
      await tick();
      world.sessions = [world.session('paused')];
      await tick();
      assert.deepEqual(world.polls, [], 'nothing polled');
      world.sessions = [world.session('running')];
      await tick();
      assert.equal(world.polls.length, 1, 'polled once it runs');
      assert.equal(world.uses, 0, 'and never as a use of the workspace');
      handle.dispose();
    });

    it('reports new and removed entries against what was listed before, a modified file once', async () => {
      const { world, ops, watch, tick, seen, modified } = setUp();
      world.directories.set('/', ['old', 'kept']);
      // The Explorer lists, then watches: that listing is what the first change is compared with.
      assert.deepEqual((await ops.readDirectory('/')).map((entry) => entry.name), ['old', 'kept']);
      const handle = watch('a', '/');
      await tick();
      seen.length = 0;
      world.directories.set('/', ['kept', 'new']);
      world.found.set('/', modified([['/', true, 'd1'], ['/kept', false, 'f1'], ['/new', false, 'f1']], 101));
      await tick();
      assert.deepEqual(
        seen.map((change) => `${change.type} ${change.path}`).sort(),
        ['changed /', 'changed /kept', 'created /new', 'deleted /old'],
      );
      assert.equal(world.polls.at(-1)?.since, 99, 'the next stamp: a second before the previous poll began');
      seen.length = 0;
      await tick(); // the same fingerprints again: nothing new
      assert.equal(seen.length, 0, JSON.stringify(seen));
      world.found.set('/', modified([['/kept', false, 'f2']], 102));
      await tick();
      assert.deepEqual(seen.map((change) => `${change.type} ${change.path}`), ['changed /kept']);
      handle.dispose();
    });

    it('shares a recursive poll with every watch below it, and stops polling with the last watch', async () => {
      const { world, watch, tick, seen, modified } = setUp();
      world.directories.set('/', ['src']);
      const root = watch('root', '/');
      const file = watch('file', '/src/a.ts', false);
      const other = watch('other', '/docs', false);
      await tick();
      assert.deepEqual(new Set(world.polls.map((poll) => poll.path)), new Set(['/']), 'the recursive poll of / covers the others');
      world.found.set('/', modified([['/src/a.ts', false, 'f9']], 101));
      seen.length = 0;
      await tick();
      assert.deepEqual(seen.map((change) => `${change.who} ${change.type} ${change.path}`).sort(), ['file changed /src/a.ts', 'root changed /src/a.ts'], 'each watch hears what is in its scope');
      root.dispose();
      world.polls.length = 0;
      await tick();
      assert.deepEqual(new Set(world.polls.map((poll) => poll.path)), new Set(['/src/a.ts', '/docs']), 'uncovered, they poll themselves');
      file.dispose();
      other.dispose();
      world.polls.length = 0;
      for (let round = 0; round < 5; round++) await tick();
      assert.deepEqual(world.polls, [], 'no watch, no poll');
    });

    it('reports changes made through FileOps at once, with no temporary write file', async () => {
      const { watch, seen, fileSystem } = setUp();
      const handle = watch('a', '/');
      // Writes go through Files: here only the report matters.
      const watches = (fileSystem as unknown as { watches: { report(id: string, changes: unknown[]): void } }).watches;
      watches.report('ws', [{ type: 'created', components: ['made'] }, { type: 'deleted', components: ['.sandkasten-write-00ff'] }]);
      assert.deepEqual(seen.map((change) => `${change.type} ${change.path}`), ['changed /', 'created /made']);
      handle.dispose();
    });

    it('reports the watched paths deleted, once, when the workspace goes away', async () => {
      const { world, watch, tick, seen } = setUp();
      const handle = watch('a', '/src');
      world.sessions = 'gone';
      await tick();
      await tick();
      assert.deepEqual(seen.map((change) => `${change.type} ${change.path}`), ['deleted /src']);
      handle.dispose();
    });
  });
});
