import * as vscode from 'vscode';
import { ResponseError } from 'vscode-languageclient/node';
import {
  AnswerJoinRequest,
  ErrorCode,
  ListWorkspacesRequest,
  RemoveGuestRequest,
  RevokeShareLinkRequest,
  SetGuestRoleRequest,
  SetWorkspaceKindRequest,
  StartShareRequest,
  StopShareRequest,
  type SessionInfo,
  type ShareInfo,
  type ShareRole,
  type WorkspaceInfo,
} from '../../sidecar/client/protocol';
import { chooseSession } from '../commands/pickers';
import type { Ctx } from '../ctx';
import { JoinRequestItem, ParticipantItem } from '../views/participants';
import { chooseShare } from './sharePickers';
import { guestCount, withArticle } from './shareText';

/** How long a short confirmation ("link copied") stays in the status bar. */
const STATUS_MESSAGE_MS = 5000;

/**
 * Share Session: a running session of a collaborative workspace (a session or persistent
 * one is offered the change of kind first); the link goes to the clipboard.
 */
export async function shareSession(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await chooseSession(ctx, item, {
    title: 'Share Session…',
    states: ['running'],
    startStopped: { verb: 'start and share' },
    emptyMessage: 'No session is running. Start a session of a collaborative workspace, then share it.',
  });
  if (!session) return;
  const share = await startShare(ctx, session);
  if (share) await announceShare(ctx, share);
}

function requestShare(ctx: Ctx, session: SessionInfo): Thenable<ShareInfo> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Sharing "${session.workspaceName}"…` }, () =>
    ctx.request(StartShareRequest.type, { sessionId: session.id }),
  );
}

/** share/start; a Conflict because of the workspace's kind becomes the offer to change it. */
async function startShare(ctx: Ctx, session: SessionInfo): Promise<ShareInfo | undefined> {
  try {
    return await requestShare(ctx, session);
  } catch (error) {
    if (!(error instanceof ResponseError && error.code === ErrorCode.Conflict)) throw error;
    const workspace = await workspaceOf(ctx, session);
    if (!workspace || workspace.kind === 'collaborative') throw error;
    if (workspace.kind === 'ephemeral') {
      const choice = await vscode.window.showWarningMessage(
        `Only sessions of collaborative workspaces can be shared, and "${workspace.name}" is ephemeral: it vanishes with its session and does not change kind.`,
        'Create Workspace…',
      );
      if (choice) await vscode.commands.executeCommand('sandkasten.workspace.create');
      return undefined;
    }
    const convert = 'Make Collaborative and Share';
    const answer = await vscode.window.showWarningMessage(
      `Only sessions of collaborative workspaces can be shared; "${workspace.name}" is a ${workspace.kind} workspace.`,
      {
        modal: true,
        detail: `Make "${workspace.name}" collaborative? Its files and sessions stay as they are; from now on it is kept like a persistent workspace (the lifecycle of the collaborative kind), and its sessions can be shared.`,
      },
      convert,
    );
    if (answer !== convert) return undefined;
    await ctx.request(SetWorkspaceKindRequest.type, { id: workspace.id, kind: 'collaborative' });
    return requestShare(ctx, session);
  }
}

async function workspaceOf(ctx: Ctx, session: SessionInfo): Promise<WorkspaceInfo | undefined> {
  const candidates = await ctx.request(ListWorkspacesRequest.type, { namePrefix: session.workspaceName });
  return candidates.find((workspace) => workspace.id === session.workspaceId);
}

/** The link on the clipboard, the share's row shown, and a message with what to do next. */
async function announceShare(ctx: Ctx, share: ShareInfo): Promise<void> {
  await vscode.env.clipboard.writeText(share.link);
  void ctx.views?.revealShare(share.sessionId).catch(() => false);
  const who = share.approval === 'ask' ? 'You allow each guest when they ask to join.' : 'Anyone with the link joins without asking (sandkasten.share.approval).';
  const message = `Sharing "${share.workspaceName}": its join link is on the clipboard. Send it to the people who should join; they come in as ${share.defaultRole}s. ${who}`;
  const buttons = ['Copy Link', 'Copy Code', 'Stop Sharing'];
  const choice = share.warning
    ? await vscode.window.showWarningMessage(`${message} ${share.warning}`, ...buttons)
    : await vscode.window.showInformationMessage(message, ...buttons);
  if (choice === 'Copy Link') await copy(share.link, `the join link of "${share.workspaceName}"`);
  else if (choice === 'Copy Code') await copy(share.code, `the join code of "${share.workspaceName}"`);
  else if (choice === 'Stop Sharing') await confirmAndStop(ctx, share);
}

async function copy(text: string, what: string): Promise<void> {
  await vscode.env.clipboard.writeText(text);
  vscode.window.setStatusBarMessage(`$(clippy) Sandkasten: copied ${what}`, STATUS_MESSAGE_MS);
}

export async function stopSharing(ctx: Ctx, item?: unknown): Promise<void> {
  const share = await chooseShare(ctx, item, 'Stop Sharing…');
  if (share) await confirmAndStop(ctx, share);
}

async function confirmAndStop(ctx: Ctx, share: ShareInfo): Promise<void> {
  const guests = share.participants;
  const detail =
    guests.length === 0
      ? 'Nobody has joined yet. The join link stops working.'
      : `${guestCount(guests.length)} ${guests.length === 1 ? 'is' : 'are'} disconnected (${guests.map((guest) => `"${guest.name}"`).join(', ')}), and the join link stops working. The session itself keeps running.`;
  const answer = await vscode.window.showWarningMessage(`Stop sharing "${share.workspaceName}"?`, { modal: true, detail }, 'Stop Sharing');
  if (answer !== 'Stop Sharing') return;
  await ctx.request(StopShareRequest.type, { sessionId: share.sessionId });
  vscode.window.setStatusBarMessage(`Sandkasten: stopped sharing "${share.workspaceName}"`, STATUS_MESSAGE_MS);
}

export async function copyShareLink(ctx: Ctx, item?: unknown): Promise<void> {
  const share = await chooseShare(ctx, item, 'Copy the Join Link of…');
  if (share) await copy(share.link, `the join link of "${share.workspaceName}"`);
}

export async function copyShareCode(ctx: Ctx, item?: unknown): Promise<void> {
  const share = await chooseShare(ctx, item, 'Copy the Join Code of…');
  if (share) await copy(share.code, `the join code of "${share.workspaceName}"`);
}

/** A new link; the old one is refused from now on, guests already in stay. */
export async function revokeShareLink(ctx: Ctx, item?: unknown): Promise<void> {
  const share = await chooseShare(ctx, item, 'Revoke the Join Link of…');
  if (!share) return;
  const stay = share.participants.length === 0 ? '' : ` The ${guestCount(share.participants.length)} in the session stay.`;
  const answer = await vscode.window.showWarningMessage(
    `Revoke the join link of "${share.workspaceName}"?`,
    { modal: true, detail: `The old link stops working at once: nobody can ask to join with it any more.${stay} You get a new link to send to whoever should still join.` },
    'Revoke Link',
  );
  if (answer !== 'Revoke Link') return;
  const renewed = await ctx.request(RevokeShareLinkRequest.type, { sessionId: share.sessionId });
  await vscode.env.clipboard.writeText(renewed.link);
  const choice = await vscode.window.showInformationMessage(`The new join link of "${renewed.workspaceName}" is on the clipboard; the old one no longer works.`, 'Copy Code');
  if (choice) await copy(renewed.code, `the join code of "${renewed.workspaceName}"`);
}

/** A terminal in a session that only the host sees: guests of its share neither see nor open it. */
export async function openPrivateTerminal(ctx: Ctx, item?: unknown): Promise<void> {
  const session = await chooseSession(ctx, item, {
    title: 'Open Private Terminal in…',
    states: ['running'],
    startStopped: { verb: 'start and open' },
    emptyMessage: 'There is no session yet. Start one on a workspace first.',
  });
  if (session) ctx.terminals.openPrivate(session);
}

// ----- guests and join requests (Participants view) -----

async function setGuestRole(ctx: Ctx, item: unknown, role: ShareRole): Promise<void> {
  if (!(item instanceof ParticipantItem)) return;
  const { participant, share } = item;
  await ctx.request(SetGuestRoleRequest.type, { sessionId: share.sessionId, guestId: participant.id, role });
  vscode.window.setStatusBarMessage(`Sandkasten: "${participant.name}" is now ${withArticle(role)} of "${share.workspaceName}"`, STATUS_MESSAGE_MS);
}

export const makeGuestEditor = (ctx: Ctx, item?: unknown) => setGuestRole(ctx, item, 'editor');
export const makeGuestViewer = (ctx: Ctx, item?: unknown) => setGuestRole(ctx, item, 'viewer');

export async function removeGuest(ctx: Ctx, item?: unknown): Promise<void> {
  if (!(item instanceof ParticipantItem)) return;
  const { participant, share } = item;
  const answer = await vscode.window.showWarningMessage(
    `Remove "${participant.name}" from "${share.workspaceName}"?`,
    {
      modal: true,
      detail: 'They are disconnected at once and their access ends. With the join link they could ask to join again: revoke it (Revoke Join Link) to keep them out.',
    },
    'Remove',
  );
  if (answer !== 'Remove') return;
  await ctx.request(RemoveGuestRequest.type, { sessionId: share.sessionId, guestId: participant.id });
}

/**
 * Answers a join request. A request answered meanwhile (another window, or the guest gave
 * up) is NotFound: nothing to say, the views drop it.
 */
export async function answerJoinRequest(ctx: Ctx, requestId: string, answer: { allow: boolean; role?: ShareRole }): Promise<void> {
  try {
    await ctx.request(AnswerJoinRequest.type, { requestId, ...answer });
  } catch (error) {
    if (error instanceof ResponseError && error.code === ErrorCode.NotFound) return;
    throw error;
  }
}

function answerFromTree(answer: { allow: boolean; role?: ShareRole }) {
  return async (ctx: Ctx, item?: unknown): Promise<void> => {
    if (item instanceof JoinRequestItem) await answerJoinRequest(ctx, item.request.id, answer);
  };
}

export const allowJoin = answerFromTree({ allow: true });
export const allowJoinAsEditor = answerFromTree({ allow: true, role: 'editor' });
export const allowJoinAsViewer = answerFromTree({ allow: true, role: 'viewer' });
export const denyJoin = answerFromTree({ allow: false });
