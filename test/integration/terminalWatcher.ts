/**
 * One client's view of its terminals in the integration suites: the output and exit
 * notifications it received, per terminal (a connection has one handler per notification
 * type, so one watcher per client), and typing a line until its output and the next prompt.
 */
import { P, waitFor, type SidecarClient } from './harness';

export const SIZE = { cols: 80, rows: 24 };

/** Output without escape sequences and carriage returns. */
export function plainText(output: string): string {
  return output
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .replace(/\x1b\][^\x07]*\x07/g, '')
    .replace(/\x1bc/g, '')
    .replace(/\r/g, '');
}

/** One client's view of its terminals: output and exits per terminal (one watcher per client). */
export class TerminalWatcher {
  private readonly output = new Map<string, string>();
  readonly exits = new Map<string, number | null>();

  constructor(readonly client: SidecarClient) {
    client.onNotification(P.TerminalOutputNotification.type, ({ terminalId, data }) => {
      this.output.set(terminalId, (this.output.get(terminalId) ?? '') + data);
    });
    client.onNotification(P.TerminalExitNotification.type, ({ terminalId, exitCode }) => this.exits.set(terminalId, exitCode));
  }

  /** Opens or attaches a terminal (its replay counts as output). */
  async open(params: Omit<P.OpenTerminalParams, 'cols' | 'rows'> & Partial<P.OpenTerminalParams>): Promise<P.OpenTerminalResult> {
    const result = await this.client.request(P.OpenTerminalRequest.type, { ...SIZE, ...params });
    this.output.set(result.terminal.id, (this.output.get(result.terminal.id) ?? '') + result.replay);
    return result;
  }

  /** Opens a terminal, then waits until its shell answers (so what is typed next starts on a fresh prompt). */
  async openReady(params: Omit<P.OpenTerminalParams, 'cols' | 'rows'> & Partial<P.OpenTerminalParams>): Promise<P.OpenTerminalResult> {
    const result = await this.open(params);
    await this.ready(result.terminal.id);
    return result;
  }

  ready(terminalId: string): Promise<string> {
    return this.run(terminalId, 'echo ready-$((1+1))', /ready-2\n/);
  }

  text(terminalId: string): string {
    return this.output.get(terminalId) ?? '';
  }

  plain(terminalId: string): string {
    return plainText(this.text(terminalId));
  }

  type(terminalId: string, data: string): void {
    void this.client.connection.sendNotification(P.TerminalInputNotification.type, { terminalId, data });
  }

  /** Waits until the terminal's output (from `from` on) matches. */
  async waitForOutput(terminalId: string, pattern: RegExp, from = 0, limitMs?: number): Promise<string> {
    try {
      return await waitFor(`terminal ${terminalId} to show ${pattern}`, () => (pattern.test(plainText(this.text(terminalId).slice(from))) ? this.text(terminalId).slice(from) : undefined), limitMs);
    } catch (error) {
      throw new Error(`${(error as Error).message} It showed: ${JSON.stringify(plainText(this.text(terminalId).slice(from)).slice(-600))}`);
    }
  }

  /** Types a line and waits for `expected` in what follows, and for the next prompt. */
  async run(terminalId: string, line: string, expected: RegExp): Promise<string> {
    const start = this.text(terminalId).length;
    this.type(terminalId, `${line}\r`);
    const output = () => {
      const since = plainText(this.text(terminalId).slice(start));
      const echoed = since.indexOf(`${line}\n`);
      return echoed < 0 ? '' : since.slice(echoed + line.length + 1);
    };
    try {
      return await waitFor(`"${line}" to print ${expected}`, () => (expected.test(output()) && /[#$] $/.test(output()) ? output() : undefined));
    } catch (error) {
      throw new Error(`${(error as Error).message} The terminal showed: ${JSON.stringify(plainText(this.text(terminalId).slice(start)).slice(-600))}`);
    }
  }

  waitForExit(terminalId: string): Promise<number | null> {
    return waitFor(`terminal ${terminalId} to exit`, () => (this.exits.has(terminalId) ? { code: this.exits.get(terminalId)! } : undefined)).then(({ code }) => code);
  }
}
