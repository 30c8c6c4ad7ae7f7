import * as vscode from 'vscode';
import { ListJoinedSharesRequest, ListSharesRequest } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { describeError } from '../errors';
import { leaveJoinedShare } from './joinCommands';
import { answerJoinRequest } from './shareCommands';
import { shareEvents, type ShareEvent, type ShareSnapshot } from './shareEvents';
import { ALLOW, answerFor, DENY, joinRequestQuestion, otherRoleButton, roleMeaning, withArticle } from './shareText';

/** How long "alice joined" and "alice left" stay in the status bar. */
const GUEST_MESSAGE_MS = 8000;
/** At most one "joined" notification this often; more go to the status bar. */
const JOIN_MESSAGE_EVERY_MS = 10_000;

/**
 * Tells the person what happens to their shares: on every 'shares' change it reads the share
 * lists and compares them with the last reading (shareEvents.ts). A join request asks the
 * host (Allow, the other role, Deny); guests coming and going get a short message; a guest
 * hears that their role changed or that a session they joined ended.
 */
export class ShareNotifications implements vscode.Disposable {
  private last: ShareSnapshot | undefined;
  /** Readings run one after another, so events come in order; a burst of changes needs one more reading, not one each. */
  private reading: Promise<void> = Promise.resolve();
  private readAgain = false;
  private lastJoinMessage = 0;
  private readonly disposables: vscode.Disposable[];

  constructor(private readonly ctx: Ctx) {
    this.disposables = [
      ctx.onDidChange((areas) => {
        if (areas.includes('shares')) this.read();
      }),
      // The first reading, and one after the sidecar came back (its shares may be gone).
      ctx.onDidConnect(() => this.read()),
    ];
  }

  private read(): void {
    if (this.readAgain) return;
    this.readAgain = true;
    this.reading = this.reading.then(async () => {
      this.readAgain = false;
      await this.readOnce();
    });
  }

  private async readOnce(): Promise<void> {
    let now: ShareSnapshot;
    try {
      const [shares, joined] = await Promise.all([this.ctx.request(ListSharesRequest.type, {}), this.ctx.request(ListJoinedSharesRequest.type, {})]);
      now = { shares, joined };
    } catch (error) {
      this.ctx.output.warn(`Could not read the shares for notifications: ${describeError(error).message}`);
      return;
    }
    const events = shareEvents(this.last, now);
    this.last = now;
    for (const event of events) this.tell(event);
  }

  private tell(event: ShareEvent): void {
    switch (event.kind) {
      case 'joinRequest':
        void this.askHost(event);
        return;
      case 'guestJoined': {
        const { participant, share } = event;
        const text = `"${participant.name}" (${participant.address}) joined "${share.workspaceName}" as ${participant.role}.`;
        // Let in without asking (approval: anyone): the host hears of it properly (once in a
        // while: a crowd, or someone coming and going, must not bury the window in messages);
        // else they just allowed it.
        const now = Date.now();
        if (share.approval === 'anyone' && now - this.lastJoinMessage >= JOIN_MESSAGE_EVERY_MS) {
          this.lastJoinMessage = now;
          void vscode.window.showInformationMessage(text);
        } else vscode.window.setStatusBarMessage(`$(person-add) ${text}`, GUEST_MESSAGE_MS);
        return;
      }
      case 'guestLeft':
        vscode.window.setStatusBarMessage(`$(person) "${event.participant.name}" left "${event.share.workspaceName}".`, GUEST_MESSAGE_MS);
        return;
      case 'roleChanged': {
        const { joined } = event;
        void vscode.window.showInformationMessage(
          `You are now ${withArticle(joined.role)} of "${joined.workspaceName}" (shared by ${joined.hostName}): you can ${roleMeaning(joined.role)}.`,
        );
        return;
      }
      case 'joinedEnded':
        void this.tellEnded(event);
        return;
    }
  }

  private async askHost({ request, share }: Extract<ShareEvent, { kind: 'joinRequest' }>): Promise<void> {
    const choice = await vscode.window.showInformationMessage(joinRequestQuestion(request, share.workspaceName), ALLOW, otherRoleButton(request.role), DENY);
    const answer = answerFor(choice, request);
    if (!answer) return; // closed: the request waits in the Participants view until it times out
    await answerJoinRequest(this.ctx, request.id, answer).catch((error: unknown) => this.ctx.showError(error, `Could not answer "${request.name}"`));
  }

  private async tellEnded({ joined }: Extract<ShareEvent, { kind: 'joinedEnded' }>): Promise<void> {
    const choice = await vscode.window.showWarningMessage(
      `The shared session "${joined.workspaceName}" of ${joined.hostName} ended: ${joined.endedReason ?? 'the connection is gone.'}`,
      'Leave',
    );
    if (choice !== 'Leave') return;
    await leaveJoinedShare(this.ctx, joined).catch((error: unknown) => this.ctx.showError(error));
  }

  dispose(): void {
    for (const disposable of this.disposables) disposable.dispose();
  }
}
