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

  it('offers a workspace Start, Start Another, Open Files, Rename, Change Image, snapshots, Clone, Export, Copy Id, Delete and Pin; ▷ inline', () => {
    const always = [
      'sandkasten.copyId',
      'sandkasten.openWorkspaceFiles',
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

  it("offers every session row its workspace's files, whatever its state (a helper container reaches them)", () => {
    for (const viewItem of ['session.running', 'session.running.frozen', 'session.stopped', 'session.paused', 'session.starting']) {
      assert.ok(offered('sandkasten.sessions', viewItem, false).includes('sandkasten.openWorkspaceFiles'), viewItem);
    }
    assert.ok(!offered('sandkasten.sessions', 'terminal', false).includes('sandkasten.openWorkspaceFiles'));
  });

  it('is activated by its file system, so a window with a sandkasten: folder opens it', () => {
    assert.ok(manifest.activationEvents.includes('onFileSystem:sandkasten'));
  });

  it('offers Keep, inline too, only while a workspace is warned', () => {
    assert.ok(offered('sandkasten.workspaces', 'workspace.suspended.unpinned.warned', false).includes('sandkasten.workspace.keep'));
    assert.deepEqual(offered('sandkasten.workspaces', 'workspace.suspended.unpinned.warned', true), ['sandkasten.session.start', 'sandkasten.workspace.keep'].sort());
    assert.ok(!offered('sandkasten.workspaces', 'workspace.suspended.unpinned', false).includes('sandkasten.workspace.keep'));
  });

  it('offers a running session Share Session; a shared one Copy Link (inline too), Copy Code, Revoke, Stop Sharing and a private terminal', () => {
    const sharing = ['sandkasten.copyShareCode', 'sandkasten.copyShareLink', 'sandkasten.openPrivateTerminal', 'sandkasten.revokeShareLink', 'sandkasten.stopSharing'];
    for (const viewItem of ['session.running', 'session.running.output', 'session.running.frozen']) {
      const menu = offered('sandkasten.sessions', viewItem, false);
      assert.ok(menu.includes('sandkasten.shareSession'), `${viewItem}: ${JSON.stringify(menu)}`);
      for (const command of sharing) assert.ok(!menu.includes(command), `${viewItem} offers ${command}`);
    }
    for (const viewItem of ['session.running.shared', 'session.running.output.shared', 'session.running.frozen.shared']) {
      const unshared = viewItem.replace('.shared', '');
      const menu = offered('sandkasten.sessions', viewItem, false);
      assert.deepEqual(menu, [...offered('sandkasten.sessions', unshared, false).filter((command) => command !== 'sandkasten.shareSession'), ...sharing].sort(), viewItem);
      assert.deepEqual(offered('sandkasten.sessions', viewItem, true), [...offered('sandkasten.sessions', unshared, true), 'sandkasten.copyShareLink'].sort(), viewItem);
    }
    assert.ok(!offered('sandkasten.sessions', 'session.stopped', false).includes('sandkasten.shareSession'), 'only a running session is shared');
  });

  it('offers a session shared with us its terminals, files and Leave, and none of our own sessions\' actions', () => {
    for (const state of ['connected', 'reconnecting']) {
      assert.deepEqual(offered('sandkasten.sessions', `joinedSession.${state}`, true), ['sandkasten.leaveSharedSession', 'sandkasten.openSharedTerminal']);
      assert.deepEqual(offered('sandkasten.sessions', `joinedSession.${state}`, false), ['sandkasten.copyId', 'sandkasten.leaveSharedSession', 'sandkasten.openSharedFiles', 'sandkasten.openSharedTerminal']);
    }
    assert.deepEqual(offered('sandkasten.sessions', 'joinedSession.ended', true), ['sandkasten.leaveSharedSession']);
    assert.deepEqual(offered('sandkasten.sessions', 'sharedWithMe', false), []);
    assert.deepEqual(offered('sandkasten.sessions', 'terminal.shared', true), [], "the host's terminal is not ours to close");
    assert.deepEqual(offered('sandkasten.sessions', 'terminal.shared', false), ['sandkasten.copyId', 'sandkasten.terminal.open']);
  });

  it('lets the host answer join requests inline and change or remove guests from the Participants view', () => {
    const view = 'sandkasten.participants';
    assert.deepEqual(offered(view, 'share', true), ['sandkasten.copyShareLink', 'sandkasten.stopSharing']);
    assert.deepEqual(offered(view, 'share', false), ['sandkasten.copyShareCode', 'sandkasten.copyShareLink', 'sandkasten.revokeShareLink', 'sandkasten.stopSharing']);
    assert.deepEqual(offered(view, 'joinRequest.viewer', true), ['sandkasten.allowJoin', 'sandkasten.allowJoinAsEditor', 'sandkasten.denyJoin']);
    assert.deepEqual(offered(view, 'joinRequest.editor', true), ['sandkasten.allowJoin', 'sandkasten.allowJoinAsViewer', 'sandkasten.denyJoin']);
    assert.deepEqual(offered(view, 'participant.viewer', false), ['sandkasten.makeGuestEditor', 'sandkasten.removeGuest']);
    assert.deepEqual(offered(view, 'participant.editor', false), ['sandkasten.makeGuestViewer', 'sandkasten.removeGuest']);
    assert.deepEqual(offered(view, 'joinedShare.connected', true), ['sandkasten.leaveSharedSession', 'sandkasten.openSharedTerminal']);
    assert.deepEqual(offered(view, 'joinedParticipant', false), [], "another guest is the host's to manage");
  });

  it('declares the Participants view with a welcome that shares or joins, and opens join links', () => {
    assert.ok(manifest.contributes.views.sandkasten.some((view: { id: string }) => view.id === 'sandkasten.participants'));
    const welcome = manifest.contributes.viewsWelcome.find((entry: { view: string }) => entry.view === 'sandkasten.participants');
    assert.match(welcome.contents, /command:sandkasten\.shareSession/);
    assert.match(welcome.contents, /command:sandkasten\.joinSharedSession/);
    assert.ok(manifest.activationEvents.includes('onUri'), 'a join link activates the extension');
  });

  it('keeps commands that need a row out of the palette', () => {
    const hidden = new Set(manifest.contributes.menus.commandPalette.filter((entry: MenuEntry) => entry.when === 'false').map((entry: MenuEntry) => entry.command));
    for (const command of ['sandkasten.makeGuestEditor', 'sandkasten.makeGuestViewer', 'sandkasten.removeGuest', 'sandkasten.allowJoin', 'sandkasten.allowJoinAsEditor', 'sandkasten.allowJoinAsViewer', 'sandkasten.denyJoin']) {
      assert.ok(hidden.has(command), `${command} is hidden from the palette`);
    }
    for (const command of ['sandkasten.shareSession', 'sandkasten.joinSharedSession', 'sandkasten.stopSharing', 'sandkasten.leaveSharedSession']) assert.ok(!hidden.has(command), `${command} is in the palette`);
  });
});
