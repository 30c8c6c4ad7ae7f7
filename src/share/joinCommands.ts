import * as vscode from 'vscode';
import { JoinShareRequest, LeaveShareRequest, type JoinedShareInfo, type TerminalInfo } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { openFilesFolder } from '../files/workspaceFileSystem';
import { codeFromLinkQuery, readJoinInput } from './joinCode';
import { chooseJoinedShare } from './sharePickers';
import { joinedSessionLabel, terminalToOpen, withArticle } from './shareText';

/** The path of join links: `vscode://sandkasten.sandkasten/join?code=…`. */
const JOIN_LINK_PATH = '/join';

/**
 * Join Shared Session: from a link or code (the argument, else an input box), then into a
 * terminal of the joined session. The sidecar waits for the host's answer (up to two minutes).
 */
export async function joinSharedSession(ctx: Ctx, codeArgument?: unknown): Promise<void> {
  if (typeof codeArgument === 'string') {
    const read = readJoinInput(codeArgument);
    if ('problem' in read) {
      void vscode.window.showErrorMessage(`Cannot join: ${read.problem}`);
      return;
    }
    await joinWithCode(ctx, read.code);
    return;
  }
  const code = await askForCode();
  if (code) await joinWithCode(ctx, code);
}

async function askForCode(): Promise<string | undefined> {
  // A link just copied from the host's message is the likely answer: offered, not used unasked.
  const clipboard = await clipboardText();
  const text = await vscode.window.showInputBox({
    title: 'Join Shared Session',
    prompt: 'Paste the join link (vscode://…) or code (ws://… or wss://…) the host sent you.',
    placeHolder: 'vscode://sandkasten.sandkasten/join?code=…',
    value: 'code' in readJoinInput(clipboard) ? clipboard : '',
    ignoreFocusOut: true,
    validateInput: (input) => {
      if (input.trim() === '') return undefined;
      const read = readJoinInput(input);
      return 'problem' in read ? read.problem : undefined;
    },
  });
  if (!text) return undefined;
  const read = readJoinInput(text);
  return 'code' in read ? read.code : undefined;
}

/** How long the clipboard may take to answer: in a browser (code-server) it may wait for a permission. */
const CLIPBOARD_WAIT_MS = 1000;

/** The clipboard's text, or '' when it cannot be read soon (the box then starts empty). */
async function clipboardText(): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const tooLate = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(''), CLIPBOARD_WAIT_MS)));
  try {
    return (await Promise.race([Promise.resolve(vscode.env.clipboard.readText()).catch(() => ''), tooLate])).trim();
  } finally {
    clearTimeout(timer);
  }
}

/** Joins (your name: sandkasten.share.displayName, which the sidecar reads), then lands in a terminal. */
async function joinWithCode(ctx: Ctx, code: string): Promise<void> {
  let joined: JoinedShareInfo;
  try {
    joined = await ctx.requestWithProgress('Joining the shared session… The host has up to two minutes to let you in.', JoinShareRequest.type, { code });
  } catch (error) {
    await ctx.showError(error, 'Could not join the shared session');
    return;
  }
  void ctx.views?.revealJoinedSession(joined.id).catch(() => false);
  vscode.window.setStatusBarMessage(`$(live-share) Sandkasten: joined "${joined.workspaceName}" of ${joined.hostName} as ${joined.role}`, 8000);
  const target = terminalToOpen(joined);
  const title = joinedSessionLabel(joined);
  if (target === 'new') ctx.terminals.openInSession(joined.sessionId, title, false);
  else if (target !== 'none') ctx.terminals.show(target.terminal, title);
  else {
    void vscode.window.showInformationMessage(
      `You joined "${joined.workspaceName}" of ${joined.hostName} as a viewer. No terminal is open there yet: it appears under "Shared with me" in the Sessions view once ${joined.hostName} opens one.`,
    );
  }
}

/**
 * Opens `vscode://sandkasten.sandkasten/join?code=…` links. A link never connects silently:
 * the person confirms first, since whoever made the link learns their name and address.
 */
export function registerJoinLinkHandler(ctx: Ctx): vscode.Disposable {
  return vscode.window.registerUriHandler({
    handleUri: (uri) => {
      void openJoinLink(ctx, uri).catch((error: unknown) => ctx.showError(error, 'Could not open the join link'));
    },
  });
}

async function openJoinLink(ctx: Ctx, uri: vscode.Uri): Promise<void> {
  if (uri.path !== JOIN_LINK_PATH) {
    void vscode.window.showWarningMessage(`Sandkasten cannot open this link (${uri.path}): its links end in ${JOIN_LINK_PATH}?code=…`);
    return;
  }
  const code = codeFromLinkQuery(uri.query);
  const read = code ? readJoinInput(code) : { problem: 'The link holds no join code.' };
  if ('problem' in read) {
    void vscode.window.showErrorMessage(`This Sandkasten join link cannot be used. ${read.problem}`);
    return;
  }
  const answer = await vscode.window.showInformationMessage(
    `Join the shared session at ${read.address}?`,
    {
      modal: true,
      detail:
        'A link asks to connect you to a Sandkasten session that someone shares. The host sees your name (sandkasten.share.displayName) and your address, and decides what you may do there. Join only if you expected this link.',
    },
    'Join',
  );
  if (answer === 'Join') await joinWithCode(ctx, read.code);
}

/** Leaves a joined session (or clears an ended one from the list); its terminal tabs here close. */
export async function leaveSharedSession(ctx: Ctx, item?: unknown): Promise<void> {
  const joined = await chooseJoinedShare(ctx, item, 'Leave Shared Session…');
  if (joined) await leaveJoinedShare(ctx, joined);
}

export async function leaveJoinedShare(ctx: Ctx, joined: JoinedShareInfo): Promise<void> {
  ctx.terminals.closeTerminalsOf(joined.sessionId);
  await ctx.request(LeaveShareRequest.type, { joinedShareId: joined.id });
  if (joined.state !== 'ended') vscode.window.setStatusBarMessage(`Sandkasten: left "${joined.workspaceName}" of ${joined.hostName}`, 5000);
}

/** A terminal of a joined session: one that is open there, or a new one (editors only). */
export async function openSharedTerminal(ctx: Ctx, item?: unknown): Promise<void> {
  const joined = await chooseJoinedShare(ctx, item, 'Open a Terminal of…');
  if (!joined) return;
  const title = joinedSessionLabel(joined);
  if (joined.state === 'ended') return sayEnded(joined);
  const canOpen = joined.role === 'editor';
  if (joined.terminals.length === 0) {
    const target = terminalToOpen(joined);
    if (target === 'new') ctx.terminals.openInSession(joined.sessionId, title, false);
    else void vscode.window.showInformationMessage(`No terminal is open in "${joined.workspaceName}", and as ${withArticle(joined.role)} you cannot open one: ask ${joined.hostName} to.`);
    return;
  }
  const items: Array<vscode.QuickPickItem & { terminal?: TerminalInfo }> = [
    ...joined.terminals.map((terminal) => ({ label: `$(terminal) ${terminal.name}`, description: `${terminal.cwd} · ${terminal.state}`, terminal })),
    ...(canOpen ? [{ label: '$(add) New Terminal', description: "a new shell in the host's session" }] : []),
  ];
  const picked = await vscode.window.showQuickPick(items, { title: `Open a Terminal of ${title}`, placeHolder: 'Choose a terminal of the shared session' });
  if (!picked) return;
  if (picked.terminal) ctx.terminals.show(picked.terminal, title);
  else ctx.terminals.openInSession(joined.sessionId, title, false);
}

/** The files of a joined session, as a folder in this window (the host's /workspace, read only for viewers). */
export async function openSharedFiles(ctx: Ctx, item?: unknown): Promise<void> {
  const joined = await chooseJoinedShare(ctx, item, 'Open the Files of…');
  if (!joined) return;
  if (joined.state === 'ended') return sayEnded(joined);
  await openFilesFolder({ joinedShareId: joined.id }, joinedSessionLabel(joined));
}

function sayEnded(joined: JoinedShareInfo): void {
  void vscode.window.showInformationMessage(`The shared session "${joined.workspaceName}" ended${joined.endedReason ? `: ${joined.endedReason}` : '.'} Leave it to clear it from the list.`);
}
