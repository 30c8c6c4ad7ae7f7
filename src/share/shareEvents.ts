/**
 * What changed between two readings of the share lists, as the events a person is told about:
 * someone asks to join, a guest came or went (host side); our role changed, or a session we
 * joined ended (guest side). No `vscode` import: unit tests read it directly.
 */
import type { JoinedShareInfo, JoinRequestInfo, ParticipantInfo, ShareInfo } from '../../sidecar/client/protocol';

/** One reading of `share/list` and `share/joined`. */
export interface ShareSnapshot {
  shares: ShareInfo[];
  joined: JoinedShareInfo[];
}

export type ShareEvent =
  | { kind: 'joinRequest'; share: ShareInfo; request: JoinRequestInfo }
  | { kind: 'guestJoined'; share: ShareInfo; participant: ParticipantInfo }
  | { kind: 'guestLeft'; share: ShareInfo; participant: ParticipantInfo }
  | { kind: 'roleChanged'; joined: JoinedShareInfo }
  | { kind: 'joinedEnded'; joined: JoinedShareInfo };

/**
 * The events from `before` to `after`. The first reading (no `before`) reports only the join
 * requests waiting now: they still need an answer (a window that opens while someone waits
 * asks too), while guests and ended sessions are the state the views show, not news.
 * A share that ended takes its guests along without a "left" for each: Stop Sharing said it.
 */
export function shareEvents(before: ShareSnapshot | undefined, after: ShareSnapshot): ShareEvent[] {
  const events: ShareEvent[] = [];
  for (const share of after.shares) {
    const earlier = before?.shares.find((candidate) => candidate.sessionId === share.sessionId);
    const waitingBefore = new Set(earlier?.pending.map((request) => request.id) ?? []);
    for (const request of share.pending) {
      if (!waitingBefore.has(request.id)) events.push({ kind: 'joinRequest', share, request });
    }
    if (!before) continue;
    const guestsBefore = new Map((earlier?.participants ?? []).map((participant) => [participant.id, participant]));
    for (const participant of share.participants) {
      if (!guestsBefore.has(participant.id)) events.push({ kind: 'guestJoined', share, participant });
    }
    if (!earlier) continue;
    const guestsNow = new Set(share.participants.map((participant) => participant.id));
    for (const participant of earlier.participants) {
      if (!guestsNow.has(participant.id)) events.push({ kind: 'guestLeft', share, participant });
    }
  }
  if (!before) return events;
  for (const joined of after.joined) {
    const earlier = before.joined.find((candidate) => candidate.id === joined.id);
    if (!earlier) continue;
    if (joined.state === 'ended' && earlier.state !== 'ended') events.push({ kind: 'joinedEnded', joined });
    else if (joined.state !== 'ended' && joined.role !== earlier.role) events.push({ kind: 'roleChanged', joined });
  }
  return events;
}
