/**
 * The journal against kill -9, with the real sidecar process and the real engine: several
 * clients make mixed changes (creates, renames, deletes) as fast as they are answered, the
 * sidecar is killed at a random moment, restarted, and everything acknowledged must be there
 * — and nothing else but what was in flight, and no Docker object unaccounted for. Repeated.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SidecarClient } from '../../sidecar/client/sidecarClient';
import { instanceObjects, P, useSidecar } from './harness';

const ROUNDS = 3;
const CLIENTS = 4;
/** Mutations asked for per round, in all (the kill usually comes before the last). */
const MUTATIONS = 1000;

/** A seeded PRNG (mulberry32): the same rounds on every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What one client knows of its own workspaces: acknowledged names, and what may have happened without an answer. */
interface Expected {
  /** id → the name last acknowledged; absent: deleted (acknowledged). */
  names: Map<string, string | undefined>;
  /** id → names a rename in flight at the kill may have left. */
  maybeNames: Map<string, string[]>;
  /** ids whose delete was in flight at the kill: either there or gone. */
  maybeGone: Set<string>;
  /** Creates in flight at the kill, by name prefix: they may appear. */
  maybeCreated: Set<string>;
}

async function mutate(client: SidecarClient, owner: string, rng: () => number, expected: Expected, budget: { left: number; acknowledged: number }): Promise<void> {
  let n = 0;
  for (; budget.left > 0; budget.acknowledged++) {
    budget.left--;
    const ids = [...expected.names].filter(([, name]) => name !== undefined).map(([id]) => id);
    const roll = rng();
    if (ids.length === 0 || roll < 0.35) {
      const name = `${owner}-${n++}`;
      expected.maybeCreated.add(name);
      const workspace = await client.request(P.CreateWorkspaceRequest.type, { name });
      expected.maybeCreated.delete(name);
      expected.names.set(workspace.id, workspace.name);
    } else if (roll < 0.85) {
      const id = ids[Math.floor(rng() * ids.length)];
      const name = `${owner}-r${n++}`;
      expected.maybeNames.set(id, [...(expected.maybeNames.get(id) ?? []), name]);
      await client.request(P.RenameWorkspaceRequest.type, { id, name });
      expected.maybeNames.delete(id);
      expected.names.set(id, name);
    } else {
      const id = ids[Math.floor(rng() * ids.length)];
      expected.maybeGone.add(id);
      await client.request(P.DeleteWorkspaceRequest.type, { id, force: true });
      expected.maybeGone.delete(id);
      expected.names.set(id, undefined);
    }
  }
}

describe('the journal against kill -9 during mixed changes from several clients', () => {
  const sidecar = useSidecar();

  for (let round = 1; round <= ROUNDS; round++) {
    it(`round ${round}: every acknowledged change is there after the restart, nothing else, and no Docker object is unaccounted for`, { timeout: 240_000 }, async () => {
      const rng = random(round * 7919);
      const clients = await Promise.all(Array.from({ length: CLIENTS }, () => sidecar.rawClient()));
      const expected: Expected[] = clients.map(() => ({ names: new Map(), maybeNames: new Map(), maybeGone: new Set(), maybeCreated: new Set() }));
      const budget = { left: MUTATIONS, acknowledged: 0 };
      const work = clients.map((client, index) => mutate(client, `r${round}c${index}`, random(round * 100 + index), expected[index], budget).catch(() => undefined));
      // The kill lands somewhere in the burst: after a random number of acknowledged changes.
      const killAfter = 100 + Math.floor(rng() * 700);
      for (let waited = 0; budget.acknowledged < killAfter && waited < 60_000; waited += 2) await new Promise((resolve) => setTimeout(resolve, 2));
      assert.ok(budget.left > 0, 'the kill came while changes were still being made');
      process.kill(sidecar.pid, 'SIGKILL');
      await Promise.all(work);
      for (const client of clients) client.close();
      await sidecar.kill9();
      await sidecar.reconnect(); // waits for the start-up reconciliation

      const listed = new Map((await sidecar.client.request(P.ListWorkspacesRequest.type, {})).map((workspace) => [workspace.id, workspace]));
      let checked = 0;
      for (const client of expected) {
        for (const [id, name] of client.names) {
          const found = listed.get(id);
          if (name === undefined) {
            assert.equal(found, undefined, `${id} was deleted (acknowledged), yet it is listed`);
          } else if (client.maybeGone.has(id)) {
            if (found) assert.ok([name, ...(client.maybeNames.get(id) ?? [])].includes(found.name), `${id} is "${found.name}"`);
          } else {
            assert.ok(found, `${id} ("${name}") was acknowledged, and it is gone`);
            const possible = [name, ...(client.maybeNames.get(id) ?? [])];
            assert.ok(possible.includes(found.name), `${id} is "${found.name}", acknowledged "${name}"${possible.length > 1 ? `, or one in flight: ${possible.slice(1).join(', ')}` : ''}`);
          }
          checked++;
        }
      }
      // Nothing appears that nobody asked for: every listed workspace of this round is known,
      // or a create that was in flight.
      const known = new Set(expected.flatMap((client) => [...client.names.keys()]));
      const inFlight = new Set(expected.flatMap((client) => [...client.maybeCreated]));
      for (const workspace of listed.values()) {
        if (!workspace.name.startsWith(`r${round}c`)) continue;
        assert.ok(known.has(workspace.id) || inFlight.has(workspace.name), `${workspace.id} ("${workspace.name}") was never acknowledged nor in flight`);
      }
      // Docker agrees with the database: each listed workspace has its volume, no volume is a stray.
      const { volumes, containers } = await instanceObjects(sidecar.instanceId);
      const volumeNames = new Set(volumes.map((volume) => volume.Name));
      for (const workspace of listed.values()) assert.ok(volumeNames.has(workspace.volume), `${workspace.id}'s volume ${workspace.volume} exists`);
      const owned = new Set([...listed.values()].map((workspace) => workspace.volume));
      const strays = volumes.filter((volume) => !owned.has(volume.Name) && volume.Labels?.['sandkasten.role'] !== 'pool').map((volume) => volume.Name);
      assert.deepEqual(strays, [], 'every volume of the instance belongs to a listed workspace');
      assert.deepEqual(containers.filter((container) => container.Labels?.['sandkasten.role'] === 'session'), [], 'no session container was made');
      assert.ok(checked > 0 && budget.acknowledged >= killAfter, `the round checked ${checked} workspaces after ${budget.acknowledged} acknowledged changes`);
    });
  }
});
