import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isWorkspaceId, newSessionId, newWorkspaceId, workspaceNameProblem } from '../../sidecar/client/ids';

describe('workspace names and ids', () => {
  it('accepts lowercase names that start with a letter, with digits and inner hyphens', () => {
    for (const name of ['a', 'my-api', 'web2', 'a'.repeat(32), 'x-1-y']) assert.equal(workspaceNameProblem(name), undefined, name);
  });

  it('rejects empty, long, uppercase, leading digits or hyphens, other characters and a trailing hyphen', () => {
    const bad = ['', 'a'.repeat(33), 'Api', '1abc', '-abc', 'a_b', 'a b', 'abc-', 'ä', 'a.b'];
    for (const name of bad) assert.match(workspaceNameProblem(name) ?? '', /./, `"${name}" should be rejected`);
    assert.match(workspaceNameProblem(undefined) ?? '', /required/);
  });

  it('says what is wrong in words a person can act on', () => {
    assert.match(workspaceNameProblem('a'.repeat(33))!, /at most 32/);
    assert.match(workspaceNameProblem('Api')!, /lowercase letter/);
    assert.match(workspaceNameProblem('a_b')!, /letters, digits and hyphens/);
  });

  it('builds ids as the name plus eight hex digits', () => {
    const id = newWorkspaceId('my-api', () => 'a7b3c2d1');
    assert.equal(id, 'my-api-a7b3c2d1');
    assert.ok(isWorkspaceId(id));
    assert.ok(isWorkspaceId(newWorkspaceId('x')));
    assert.ok(!isWorkspaceId('my-api'));
    assert.ok(!isWorkspaceId('My-api-a7b3c2d1'));
  });

  it('gives sessions distinct ids', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newSessionId()));
    assert.equal(ids.size, 100);
    for (const id of ids) assert.match(id, /^ses-[0-9a-f]{12}$/);
  });
});
