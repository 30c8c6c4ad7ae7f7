/**
 * Sharing in the CLI, so a teammate without VS Code (or a script) can host and join:
 * `share SESSION_ID` prints the link, `share stop|list|allow|deny|role|remove|revoke` manage
 * it, `join LINK` attaches this terminal to the host's shared terminal, `share joined|leave`
 * list and leave what this sidecar joined.
 */
import { WorkDoneProgress } from 'vscode-languageserver-protocol';
import type { SidecarClient } from '../sidecar/client/sidecarClient';
import * as P from '../sidecar/client/protocol';
import { formatTable, print, UsageError } from './format';
import { runShell } from './shell';

export interface ShareCommandOptions {
  json: boolean;
  role?: string;
  anyone: boolean;
  name?: string;
  terminal?: string;
  detach: boolean;
}

/** Answers the command, or undefined when it is none of these. */
export async function runShareCommand(client: SidecarClient, group: string, verb: string | undefined, args: string[], options: ShareCommandOptions): Promise<number | undefined> {
  const output = (result: unknown, human: () => string) => print(options.json ? JSON.stringify(result, null, 2) : human());
  const take = (count: number, what: string) => {
    if (args.length !== count) throw new UsageError(`share ${verb} takes ${what}.`);
    return args;
  };
  if (group === 'join') return join(client, verb, args, options);
  if (group !== 'share') return undefined;
  switch (verb) {
    case undefined:
      throw new UsageError('share takes a SESSION_ID (or: share stop|list|allow|deny|role|remove|revoke|joined|leave).');
    case 'stop': {
      const [sessionId] = take(1, 'a SESSION_ID');
      const result = await client.request(P.StopShareRequest.type, { sessionId });
      output(result, () => `Session ${sessionId} is no longer shared; every guest was disconnected.`);
      return 0;
    }
    case 'list':
    case 'ls': {
      take(0, 'no arguments');
      const shares = await client.request(P.ListSharesRequest.type, {});
      output(shares, () => (shares.length === 0 ? 'Nothing is shared.' : shares.map(describeShare).join('\n\n')));
      return 0;
    }
    case 'allow':
    case 'deny': {
      const [requestId] = take(1, 'a REQUEST_ID (see share list)');
      const share = await client.request(P.AnswerJoinRequest.type, { requestId, allow: verb === 'allow', role: roleOption(options.role) });
      output(share, () => (verb === 'allow' ? `Let ${requestId} in.` : `Turned ${requestId} away.`));
      return 0;
    }
    case 'role': {
      const [sessionId, guestId, role] = take(3, 'a SESSION_ID, a GUEST_ID and a role (viewer or editor)');
      const share = await client.request(P.SetGuestRoleRequest.type, { sessionId, guestId, role: roleOption(role)! });
      output(share, () => `${guestId} is now ${role}.`);
      return 0;
    }
    case 'remove':
    case 'rm': {
      const [sessionId, guestId] = take(2, 'a SESSION_ID and a GUEST_ID');
      const share = await client.request(P.RemoveGuestRequest.type, { sessionId, guestId });
      output(share, () => `Removed ${guestId}; to come back they must ask again with the link.`);
      return 0;
    }
    case 'revoke': {
      const [sessionId] = take(1, 'a SESSION_ID');
      const share = await client.request(P.RevokeShareLinkRequest.type, { sessionId });
      output(share, () => `The old link is refused from now on. New link:\n${share.link}\nCode: ${share.code}`);
      return 0;
    }
    case 'joined': {
      take(0, 'no arguments');
      const joined = await client.request(P.ListJoinedSharesRequest.type, {});
      output(joined, () =>
        joined.length === 0
          ? 'You joined no shared session.'
          : formatTable(
              ['SESSION', 'WORKSPACE', 'HOST', 'ROLE', 'STATE', 'TERMINALS'],
              joined.map((j) => [j.sessionId, j.workspaceName, j.hostName, j.role, j.state === 'ended' ? `ended: ${j.endedReason ?? ''}` : j.state, String(j.terminals.length)]),
            ),
      );
      return 0;
    }
    case 'leave': {
      const [id] = take(1, 'a joined SESSION (shared.…) or its id');
      const result = await client.request(P.LeaveShareRequest.type, { joinedShareId: id.replace(/^shared\./, '') });
      output(result, () => `Left ${id}.`);
      return 0;
    }
    default: {
      // `share SESSION_ID`: start sharing (or show the share that is up).
      take(0, 'a SESSION_ID only');
      const share = await client.request(P.StartShareRequest.type, { sessionId: verb, defaultRole: roleOption(options.role), approval: options.anyone ? 'anyone' : undefined });
      if (share.warning) process.stderr.write(`sandkasten: warning: ${share.warning}\n`);
      output(share, () =>
        [
          `Sharing session ${share.sessionId} (${share.workspaceName}); new guests are ${share.defaultRole}s, ${share.approval === 'ask' ? 'and each asks you first (sandkasten share list, share allow ID)' : 'and anyone with the link comes in'}.`,
          '',
          `Link: ${share.link}`,
          `Code: ${share.code}`,
          '',
          `A guest joins with: sandkasten join '${share.code}'`,
        ].join('\n'),
      );
      return 0;
    }
  }
}

async function join(client: SidecarClient, code: string | undefined, rest: string[], options: ShareCommandOptions): Promise<number> {
  if (!code || rest.length > 0) throw new UsageError("join takes one LINK or code (quote it: it has a # in it): sandkasten join 'ws://…#…'");
  if (!options.detach && (!process.stdin.isTTY || !process.stdout.isTTY)) {
    throw new UsageError('join attaches this terminal and needs a TTY; add --detach to join without attaching (then: sandkasten shell shared.…).');
  }
  const token = `cli-join-${process.pid}`;
  const listener = client.connection.onProgress(WorkDoneProgress.type, token, (value) => {
    if (value.kind === 'report' && value.message && process.stderr.isTTY) process.stderr.write(`sandkasten: ${value.message}\n`);
  });
  let joined: P.JoinedShareInfo;
  try {
    // Attached, the guest is this terminal: however the CLI ends (exit, a signal, a closed window), its sidecar leaves.
    joined = await client.request(P.JoinShareRequest.type, { code, name: options.name, leaveOnDisconnect: !options.detach, workDoneToken: token });
  } finally {
    listener.dispose();
  }
  if (options.detach) {
    print(options.json ? JSON.stringify(joined, null, 2) : `Joined ${joined.workspaceName} of ${joined.hostName} as ${joined.role}: ${joined.sessionId}\nAttach with: sandkasten shell ${joined.sessionId}`);
    return 0;
  }
  process.stderr.write(`sandkasten: joined ${joined.workspaceName} of ${joined.hostName} as ${joined.role}${joined.role === 'viewer' ? ' (your keys are not sent)' : ''}\r\n`);
  const terminalId = options.terminal ?? joined.terminals.find((t) => t.state === 'live')?.id ?? joined.terminals[0]?.id;
  if (!terminalId && joined.role !== 'editor') {
    await client.request(P.LeaveShareRequest.type, { joinedShareId: joined.id });
    throw new UsageError('The host has no shared terminal open yet, and a viewer cannot open one. Try again once the host opened a terminal.');
  }
  try {
    return await runShell(client, joined.sessionId, [], terminalId);
  } finally {
    await client.request(P.LeaveShareRequest.type, { joinedShareId: joined.id }).catch(() => undefined);
  }
}

function roleOption(role: string | undefined): P.ShareRole | undefined {
  if (role === undefined) return undefined;
  if (role !== 'viewer' && role !== 'editor') throw new UsageError(`--role takes viewer or editor, not "${role}".`);
  return role;
}

function describeShare(share: P.ShareInfo): string {
  const rows = [
    ...share.participants.map((p) => [p.id, p.name, p.role, p.connected ? `in since ${p.since}` : 'reconnecting', p.address]),
    ...share.pending.map((r) => [r.id, r.name, r.role, `asks since ${r.askedAt} (share allow ${r.id})`, r.address]),
  ];
  return [
    `${share.sessionId} (${share.workspaceName}) — new guests: ${share.defaultRole}, ${share.approval === 'ask' ? 'asked' : 'anyone with the link'}`,
    `  code: ${share.code}`,
    rows.length === 0 ? '  nobody has joined yet' : formatTable(['ID', 'NAME', 'ROLE', 'STATE', 'FROM'], rows),
  ].join('\n');
}
