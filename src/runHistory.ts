import type * as vscode from 'vscode';

/** What one Run Command printed, kept so it survives a window reload. */
export interface RunRecord {
  sessionId: string;
  workspaceName: string;
  line: string;
  output: string;
  /** "[exit code 0, 12 ms]" or why there is none. */
  outcome: string;
  at: string;
}

const KEY = 'sandkasten.runHistory';
/** The last outputs kept per window, and how much of each. */
export const MAX_RUNS = 20;
export const MAX_OUTPUT_CHARS = 64 * 1024;

/**
 * The last Run Command outputs of this window, in its workspace state (newest last): the
 * Command Output channel is refilled from them after a reload, and a session row's "Show Last
 * Output" opens its own. Long outputs keep their end, where errors are.
 */
export class RunHistory {
  constructor(private readonly state: vscode.Memento) {}

  all(): RunRecord[] {
    return this.state.get<RunRecord[]>(KEY, []);
  }

  of(sessionId: string): RunRecord[] {
    return this.all().filter((record) => record.sessionId === sessionId);
  }

  countFor(sessionId: string): number {
    return this.of(sessionId).length;
  }

  async add(record: RunRecord): Promise<void> {
    const output = record.output.length > MAX_OUTPUT_CHARS ? `[… ${record.output.length - MAX_OUTPUT_CHARS} characters cut]\n${record.output.slice(-MAX_OUTPUT_CHARS)}` : record.output;
    await this.state.update(KEY, [...this.all(), { ...record, output }].slice(-MAX_RUNS));
  }

  /** The channel text of one record, as Run Command printed it. */
  static format(record: RunRecord): string {
    const output = record.output === '' || record.output.endsWith('\n') ? record.output : `${record.output}\n`;
    return `$ ${record.line}    (${record.sessionId}, ${record.workspaceName})\n${output}${record.outcome}\n\n`;
  }
}
