/**
 * Which ports a reading of the port list has news about, apart from VS Code so it can be
 * tested without it: a port that started listening (its `notice`) is told once per window,
 * and so is each warning about a forward the sidecar made by itself (`ports.autoForward`; one
 * someone asked for came with its warning in the answer). What was listed when the window
 * connected is old news and told never.
 */
import type { PortInfo } from '../../sidecar/client/protocol';

/** Ports remembered as told; the oldest are forgotten first (a session lists at most 256). */
const MAX_REMEMBERED = 10_000;

export interface PortNews {
  /** Ports to announce ("Port 5173 is listening in …"), each with a notice. */
  notices: PortInfo[];
  /** Ports whose automatic forward has a warning not told yet. */
  warnings: PortInfo[];
}

export class PortNotices {
  private readonly told = new Set<string>();
  private baseline = true;

  /**
   * The next reading is what the window found on connecting (the first time, or after the
   * sidecar came back): remembered, not told.
   */
  startOver(): void {
    this.baseline = true;
  }

  /** What this reading has to tell that no earlier one did. */
  read(ports: PortInfo[]): PortNews {
    const news: PortNews = { notices: [], warnings: [] };
    const baseline = this.baseline;
    this.baseline = false;
    for (const info of ports) {
      // A port is one (session, port, first seen): announced anew later, it is news again.
      const noticeKey = `notice\n${info.sessionId}\n${info.port}\n${info.detectedAt ?? ''}`;
      if (info.notice && !this.told.has(noticeKey)) {
        // "Forwarded" is told once the forward is there to open; an offer someone took up already (the
        // tree, the CLI) is no longer news.
        const ready = info.notice === 'offer' || info.forward !== undefined;
        if (baseline || (info.notice === 'offer' && info.forward)) this.remember(noticeKey);
        else if (ready) {
          this.remember(noticeKey);
          news.notices.push(info);
        }
      }
      const warningKey = `warning\n${info.sessionId}\n${info.port}\n${info.warning ?? ''}`;
      if (info.warning && info.forward?.auto && !this.told.has(warningKey)) {
        this.remember(warningKey);
        if (!baseline) news.warnings.push(info);
      }
    }
    return news;
  }

  private remember(key: string): void {
    this.told.add(key);
    if (this.told.size > MAX_REMEMBERED) this.told.delete(this.told.values().next().value!);
  }
}
