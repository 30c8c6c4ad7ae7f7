/**
 * The extension's menus, checked against the rows' context values (src/views/items.ts): each
 * row offers what its state allows, nothing more, and every menu names a declared command.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

interface MenuEntry {
  command: string;
  when: string;
  group: string;
}
const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
const declared = new Map<string, { title: string; icon?: string }>(manifest.contributes.commands.map((c: { command: string }) => [c.command, c]));
const itemMenus: MenuEntry[] = manifest.contributes.menus['view/item/context'];

/** Evaluates the subset of when-clauses the manifest uses: `a == b`, `a =~ /re/`, joined by &&. */
function holds(when: string, context: Record<string, string>): boolean {
  return when.split('&&').every((clause) => {
    const equal = clause.match(/^\s*([\w.]+)\s*==\s*([\w.]+)\s*$/);
    if (equal) return context[equal[1]] === equal[2];
    const regex = clause.match(/^\s*([\w.]+)\s*=~\s*\/(.*)\/\s*$/);
    if (regex) return new RegExp(regex[2]).test(context[regex[1]] ?? '');
    throw new Error(`unexpected when clause: ${clause}`);
  });
}

function offered(view: string, viewItem: string, inline: boolean): string[] {
  return itemMenus
    .filter((entry) => entry.group.startsWith('inline') === inline && holds(entry.when, { view, viewItem }))
    .map((entry) => entry.command)
    .sort();
}

describe('the extension manifest', () => {
  it('declares every command its menus name, each with a title and an icon', () => {
    for (const entry of itemMenus) assert.ok(declared.has(entry.command), `${entry.command} is not declared`);
    for (const [id, command] of declared) {
      assert.ok(command.title, `${id} has a title`);
      assert.ok(command.icon, `${id} has an icon`);
    }
  });

  it('gives Open Terminal and Run Command icons that differ', () => {
    assert.equal(declared.get('sandkasten.terminal.open')?.icon, '$(terminal)');
    assert.equal(declared.get('sandkasten.exec.run')?.icon, '$(run)');
  });

  it('offers a running session its terminal, commands, logs, inspect, restart and copy', () => {
    const menu = offered('sandkasten.sessions', 'session.running', false);
    for (const command of [
      'sandkasten.terminal.open',
      'sandkasten.exec.run',
      'sandkasten.session.stop',
      'sandkasten.session.restart',
      'sandkasten.session.showLogs',
      'sandkasten.session.inspect',
      'sandkasten.session.copyContainerId',
      'sandkasten.session.destroy',
    ]) {
      assert.ok(menu.includes(command), `${command} in ${JSON.stringify(menu)}`);
    }
    assert.ok(!menu.includes('sandkasten.session.start'), 'a running session is not started again');
    assert.ok(!menu.includes('sandkasten.session.showLastOutput'), 'no last output before a Run Command');
    assert.ok(offered('sandkasten.sessions', 'session.running.output', false).includes('sandkasten.session.showLastOutput'));
    assert.deepEqual(offered('sandkasten.sessions', 'session.running.output', true), offered('sandkasten.sessions', 'session.running', true), 'kept output changes no inline action');
    assert.deepEqual(offered('sandkasten.sessions', 'session.running', true), ['sandkasten.exec.run', 'sandkasten.session.stop', 'sandkasten.terminal.open']);
  });

  it('offers a frozen session what a running one has: the sidecar thaws it on use', () => {
    assert.deepEqual(offered('sandkasten.sessions', 'session.running.frozen', true), offered('sandkasten.sessions', 'session.running', true));
    const running = offered('sandkasten.sessions', 'session.running', false);
    assert.ok(running.includes('sandkasten.session.freeze'));
    assert.deepEqual(offered('sandkasten.sessions', 'session.running.frozen', false), running.filter((command) => command !== 'sandkasten.session.freeze'), 'everything but Freeze again');
  });

  it('offers a stopped session Start, not Stop, Run Command or a terminal', () => {
    for (const viewItem of ['session.stopped', 'session.stopped.output']) {
      const menu = offered('sandkasten.sessions', viewItem, false);
      assert.ok(menu.includes('sandkasten.session.start'), `${viewItem}: ${JSON.stringify(menu)}`);
      for (const command of ['sandkasten.session.stop', 'sandkasten.exec.run', 'sandkasten.terminal.open']) assert.ok(!menu.includes(command), `${viewItem} offers ${command}`);
      assert.deepEqual(offered('sandkasten.sessions', viewItem, true), ['sandkasten.session.start']);
    }
  });

  it('offers a workspace Start, Start Another, Rename, Change Image, snapshots, Clone, Export, Copy Id, Delete and Pin; ▷ inline', () => {
    const always = [
      'sandkasten.copyId',
      'sandkasten.session.start',
      'sandkasten.session.startAnother',
      'sandkasten.snapshot.create',
      'sandkasten.snapshot.delete',
      'sandkasten.snapshot.restore',
      'sandkasten.workspace.changeImage',
      'sandkasten.workspace.clone',
      'sandkasten.workspace.delete',
      'sandkasten.workspace.export',
      'sandkasten.workspace.rename',
    ];
    for (const state of ['created', 'active', 'suspended', 'archived']) {
      // Archive only while no session runs and not twice.
      const archive = state === 'created' || state === 'suspended' ? ['sandkasten.workspace.archive'] : [];
      assert.deepEqual(offered('sandkasten.workspaces', `workspace.${state}.unpinned`, false), [...always, ...archive, 'sandkasten.workspace.pin'].sort());
      assert.deepEqual(offered('sandkasten.workspaces', `workspace.${state}.pinned`, false), [...always, ...archive, 'sandkasten.workspace.unpin'].sort());
      assert.deepEqual(offered('sandkasten.workspaces', `workspace.${state}.unpinned`, true), ['sandkasten.session.start']);
    }
  });

  it('offers Keep, inline too, only while a workspace is warned', () => {
    assert.ok(offered('sandkasten.workspaces', 'workspace.suspended.unpinned.warned', false).includes('sandkasten.workspace.keep'));
    assert.deepEqual(offered('sandkasten.workspaces', 'workspace.suspended.unpinned.warned', true), ['sandkasten.session.start', 'sandkasten.workspace.keep'].sort());
    assert.ok(!offered('sandkasten.workspaces', 'workspace.suspended.unpinned', false).includes('sandkasten.workspace.keep'));
  });
});
