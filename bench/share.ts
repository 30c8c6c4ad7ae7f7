/**
 * Sharing's figures for `npm run bench`: a keystroke typed by a guest through a share (guest's
 * sidecar → WebSocket → host's sidecar → the shell) until the echo reached the guest and the
 * host, beside the same keystroke typed by the host into its own terminal (alternating, one
 * run); and the time from Join (a link, approval by "anyone") to a usable terminal: joined,
 * attached, and the first keystroke echoed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SidecarClient } from '../sidecar/client/sidecarClient';
import * as P from '../sidecar/client/protocol';
import { percentile, time, type Row } from './stats';

const KEYSTROKES = 200;
const CLEAR_LINE_EVERY = 40;
const JOINS = 15;

/** Output of one client, with a wait for something to arrive on one terminal. */
function outputOf(client: SidecarClient) {
  const seen = new Map<string, string>();
  const waiters = new Set<() => void>();
  client.onNotification(P.TerminalOutputNotification.type, ({ terminalId, data }) => {
    seen.set(terminalId, (seen.get(terminalId) ?? '') + data);
    for (const wake of [...waiters]) wake();
  });
  return {
    clear: (terminalId: string) => seen.set(terminalId, ''),
    until: (terminalId: string, done: (text: string) => boolean) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!done(seen.get(terminalId) ?? '')) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      }),
  };
}

export async function measureShare(host: SidecarClient, sidecarScript: string, sessionId: string): Promise<{ rows: Row[]; targets: string }> {
  const guestHome = fs.mkdtempSync(path.join(os.tmpdir(), 'skb-guest-'));
  const guest = await SidecarClient.connect({ home: guestHome, sidecarScript });
  const hostOutput = outputOf(host);
  const guestOutput = outputOf(guest);
  const type = (client: SidecarClient, terminalId: string, data: string) => void client.connection.sendNotification(P.TerminalInputNotification.type, { terminalId, data });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 200));
  try {
    const share = await host.request(P.StartShareRequest.type, { sessionId, defaultRole: 'editor', approval: 'anyone' });
    const opened = await host.request(P.OpenTerminalRequest.type, { sessionId, cols: 120, rows: 40 });
    const hostTerminal = opened.terminal.id;
    await settle();

    // Join → usable terminal: joined, attached to the host's terminal, a keystroke echoed back.
    const joinToTerminal: number[] = [];
    for (let run = 0; run < JOINS; run++) {
      let joinedId = '';
      joinToTerminal.push(
        await time(async () => {
          const joined = await guest.request(P.JoinShareRequest.type, { code: share.code, name: 'bench' });
          joinedId = joined.id;
          const terminal = joined.terminals.find((t) => t.id.endsWith(`.${hostTerminal}`))!;
          await guest.request(P.OpenTerminalRequest.type, { sessionId: joined.sessionId, terminalId: terminal.id, cols: 120, rows: 40 });
          guestOutput.clear(terminal.id);
          type(guest, terminal.id, '7');
          await guestOutput.until(terminal.id, (text) => text.endsWith('7'));
        }),
      );
      type(host, hostTerminal, '\x15');
      await guest.request(P.LeaveShareRequest.type, { joinedShareId: joinedId });
    }

    // Echo through the share (guest types; timed until the guest, and until the host, saw it) beside the host typing itself.
    const joined = await guest.request(P.JoinShareRequest.type, { code: share.code, name: 'bench' });
    const guestTerminal = joined.terminals.find((t) => t.id.endsWith(`.${hostTerminal}`))!.id;
    await guest.request(P.OpenTerminalRequest.type, { sessionId: joined.sessionId, terminalId: guestTerminal, cols: 120, rows: 40 });
    await settle();
    const direct: number[] = [];
    const toGuest: number[] = [];
    const toHost: number[] = [];
    for (let index = 0; index < KEYSTROKES; index++) {
      if (index > 0 && index % CLEAR_LINE_EVERY === 0) {
        type(host, hostTerminal, '\x15');
        await settle();
      }
      // Different keys for the two legs, and the guest has seen the host's echo before its own
      // leg starts: an echo of the other leg must never end a measurement early.
      const hostKey = String(index % 10);
      const guestKey = 'abcdefghij'[index % 10];
      hostOutput.clear(hostTerminal);
      guestOutput.clear(guestTerminal);
      direct.push(await time(async () => (type(host, hostTerminal, hostKey), await hostOutput.until(hostTerminal, (text) => text.endsWith(hostKey)))));
      await guestOutput.until(guestTerminal, (text) => text.endsWith(hostKey));
      hostOutput.clear(hostTerminal);
      guestOutput.clear(guestTerminal);
      const started = performance.now();
      type(guest, guestTerminal, guestKey);
      await Promise.all([
        guestOutput.until(guestTerminal, (text) => text.endsWith(guestKey)).then(() => toGuest.push(performance.now() - started)),
        hostOutput.until(hostTerminal, (text) => text.endsWith(guestKey)).then(() => toHost.push(performance.now() - started)),
      ]);
    }
    await guest.request(P.LeaveShareRequest.type, { joinedShareId: joined.id });
    await host.request(P.CloseTerminalRequest.type, { terminalId: hostTerminal });
    await host.request(P.StopShareRequest.type, { sessionId });
    const rows: Row[] = [
      { name: 'share: keystroke echo seen by the guest (guest types)', samples: toGuest, baseline: direct },
      { name: 'share: the same echo seen by the host', samples: toHost, baseline: direct },
      { name: 'share: Join → usable terminal (joined, attached, first echo)', samples: joinToTerminal },
    ];
    return {
      rows,
      targets: `Share echo p50 < 10 ms on loopback: guest ${percentile(toGuest, 50).toFixed(2)} ms (p95 ${percentile(toGuest, 95).toFixed(2)}), host ${percentile(toHost, 50).toFixed(2)} ms; the host typing itself ${percentile(direct, 50).toFixed(2)} ms; Join → terminal p50 ${percentile(joinToTerminal, 50).toFixed(1)} ms`,
    };
  } finally {
    await guest.request(P.ShutdownSidecarRequest.type, {}).catch(() => undefined);
    guest.close();
    fs.rmSync(guestHome, { recursive: true, force: true });
  }
}
