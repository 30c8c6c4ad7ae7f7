import * as vscode from 'vscode';
import { ListJoinedSharesRequest, ListSharesRequest, type JoinedShareInfo, type ShareInfo } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { JoinedSessionItem, SessionItem, shortId } from '../views/items';
import { JoinedShareItem, ShareItem } from '../views/participants';
import { joinedSessionDescription, joinedSessionLabel, shareDescription } from './shareText';

/**
 * The share a host command acts on: a share row's, a shared session row's, else the only
 * one, else one the person picks. Unlike a session, the only share is no guess: few people
 * share two sessions at once, and what these commands do to it is named (a confirmation, a
 * "copied" message). Read fresh from the sidecar, so a confirmation counts the guests there
 * are now, not when the row was drawn.
 */
export async function chooseShare(ctx: Ctx, item: unknown, title: string): Promise<ShareInfo | undefined> {
  const shares = await ctx.request(ListSharesRequest.type, {});
  const sessionId = item instanceof ShareItem ? item.share.sessionId : item instanceof SessionItem ? item.session.id : undefined;
  if (sessionId !== undefined) {
    const share = shares.find((candidate) => candidate.sessionId === sessionId);
    if (!share) void vscode.window.showInformationMessage(`Session ${shortId(sessionId)} is not shared (any more).`);
    return share;
  }
  if (shares.length === 0) {
    const choice = await vscode.window.showInformationMessage('You share no session.', 'Share Session…');
    if (choice) await vscode.commands.executeCommand('sandkasten.shareSession');
    return undefined;
  }
  if (shares.length === 1) return shares[0];
  const picked = await vscode.window.showQuickPick(
    shares.map((share) => ({ label: share.workspaceName, description: `${shareDescription(share)} · ${shortId(share.sessionId)}`, share })),
    { title, placeHolder: 'Choose a shared session by its workspace' },
  );
  return picked?.share;
}

/** The session someone shares with us that a guest command acts on: the row's, else one the person picks. */
export async function chooseJoinedShare(ctx: Ctx, item: unknown, title: string): Promise<JoinedShareInfo | undefined> {
  const joined = await ctx.request(ListJoinedSharesRequest.type, {});
  const id = item instanceof JoinedShareItem || item instanceof JoinedSessionItem ? item.joined.id : undefined;
  if (id !== undefined) {
    const entry = joined.find((candidate) => candidate.id === id);
    if (!entry) void vscode.window.showInformationMessage('You left that shared session already.');
    return entry;
  }
  if (joined.length === 0) {
    const choice = await vscode.window.showInformationMessage('No session is shared with you.', 'Join Shared Session…');
    if (choice) await vscode.commands.executeCommand('sandkasten.joinSharedSession');
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    joined.map((entry) => ({ label: joinedSessionLabel(entry), description: joinedSessionDescription(entry), joined: entry })),
    { title, placeHolder: 'Choose a session shared with you' },
  );
  return picked?.joined;
}
