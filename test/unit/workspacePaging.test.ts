import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { WorkspaceInfo } from '../../sidecar/client/protocol';
import { SandkastenError } from '../../sidecar/errors';
import { makeDomain, type Domain } from './fakes/domain';

let domain: Domain | undefined;
afterEach(() => {
  domain?.dispose();
  domain = undefined;
});

async function withWorkspaces(count: number, shape: (i: number) => Partial<{ kind: WorkspaceInfo['kind']; tags: string[]; name: string; now: number }> = () => ({})) {
  domain = await makeDomain();
  for (let i = 0; i < count; i++) insert(domain, i, shape(i));
  return domain;
}

function insert(parts: Domain, i: number, shape: Partial<{ kind: WorkspaceInfo['kind']; tags: string[]; name: string; now: number }> = {}): string {
  const id = `ws-${String(i).padStart(5, '0')}`;
  parts.store.workspaces.insert({
    id,
    name: shape.name ?? `name-${i}`,
    kind: shape.kind ?? 'session',
    image: 'busybox',
    description: '',
    tags: shape.tags ?? [],
    volume: `volume-${id}`,
    hostNetwork: false,
    // Several share a creation time: the id breaks the tie.
    now: shape.now ?? 1_000 + Math.floor(i / 3),
  });
  return id;
}

/** Every page, first to last, as ids. */
function allPages(parts: Domain, limit: number, filter = {}, between?: (pageNumber: number) => void): string[] {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let pageNumber = 0; ; pageNumber++) {
    const page = parts.workspaces.page(filter, cursor, limit);
    ids.push(...page.workspaces.map((w) => w.id));
    if (!page.nextCursor) return ids;
    cursor = page.nextCursor;
    between?.(pageNumber);
  }
}

describe('workspace pages', () => {
  it('walk every workspace once, oldest first, with a total; the last page has no cursor', async () => {
    const parts = await withWorkspaces(250);
    const first = parts.workspaces.page({}, undefined, 100);
    assert.equal(first.workspaces.length, 100);
    assert.equal(first.total, 250);
    assert.ok(first.nextCursor);
    assert.deepEqual(allPages(parts, 100), parts.workspaces.list().map((w) => w.id));
    assert.equal(allPages(parts, 100).length, 250);
    const exact = parts.workspaces.page({}, undefined, 250);
    assert.equal(exact.nextCursor, undefined, 'no cursor when nothing follows');
  });

  it('stay stable while workspaces are added and deleted between pages: nothing seen twice, none of the old ones skipped', async () => {
    const parts = await withWorkspaces(90);
    const before = parts.workspaces.list().map((w) => w.id);
    let added = 1000;
    const deleted = new Set<string>();
    const seen = allPages(parts, 10, {}, (pageNumber) => {
      insert(parts, added++, { now: 1_000 + pageNumber }); // lands behind or ahead of the cursor
      const victim = before[before.length - 1 - pageNumber];
      parts.store.workspaces.deleteWithSessions(victim);
      deleted.add(victim);
    });
    assert.equal(new Set(seen).size, seen.length, 'no workspace twice');
    for (const id of before) if (!deleted.has(id)) assert.ok(seen.includes(id), `${id}, there all along, was listed`);
    const sorted = [...seen].sort((a, b) => parts.workspaces.get(a).createdAt.localeCompare(parts.workspaces.get(b).createdAt) || a.localeCompare(b));
    assert.deepEqual(seen.filter((id) => !deleted.has(id)), sorted.filter((id) => !deleted.has(id)), 'in order');
  });

  it('filter by kind, state, tag and name prefix, counting only what matches', async () => {
    const parts = await withWorkspaces(60, (i) => ({ kind: i % 3 === 0 ? 'persistent' : 'session', tags: i % 4 === 0 ? ['gpu', 'x'] : ['x'], name: i % 5 === 0 ? `api-${i}` : `dev-${i}` }));
    const persistent = parts.workspaces.page({ kind: 'persistent' }, undefined, 1000);
    assert.equal(persistent.total, 20);
    assert.ok(persistent.workspaces.every((w) => w.kind === 'persistent'));
    assert.equal(parts.workspaces.page({ tag: 'gpu' }, undefined, 1000).total, 15);
    assert.equal(parts.workspaces.page({ namePrefix: 'api-' }, undefined, 1000).total, 12);
    assert.equal(parts.workspaces.page({ kind: 'persistent', tag: 'gpu', namePrefix: 'api-' }, undefined, 1000).total, 1, 'filters combine (i = 0)');
    assert.equal(parts.workspaces.page({ state: 'created' }, undefined, 1000).total, 60);
    assert.equal(parts.workspaces.page({ state: 'active' }, undefined, 1000).total, 0);
    assert.deepEqual(allPages(parts, 7, { tag: 'gpu' }), (await parts.workspaces.listInSlices({ tag: 'gpu' })).map((w) => w.id));
  });

  it('refuse a cursor they did not give out', async () => {
    const parts = await withWorkspaces(3);
    for (const cursor of ['', 'nonsense', Buffer.from('[1]').toString('base64url'), Buffer.from('{"a":1}').toString('base64url')]) {
      assert.throws(() => parts.workspaces.page({}, cursor, 10), (error: unknown) => error instanceof SandkastenError && error.codeName === 'InvalidInput', `cursor ${JSON.stringify(cursor)}`);
    }
  });

  it('list everything in slices, yielding between them, equal to the whole table', async () => {
    const parts = await withWorkspaces(1234);
    let served = 0;
    // Another client's request, answered between two slices rather than after the whole list.
    setImmediate(() => (served = parts.workspaces.page({}, undefined, 1).total));
    const all = await parts.workspaces.listInSlices({});
    assert.deepEqual(all.map((w) => w.id), parts.workspaces.list().map((w) => w.id));
    assert.equal(all.length, 1234);
    assert.equal(served, 1234, 'the other request was served while the list was read');
  });
});
