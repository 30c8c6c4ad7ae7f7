import type { OutputPage, OutputQuery } from '../client/protocol';
import type { ConfigStore } from '../config';
import type { StreamType } from '../docker/frames';
import type { Clock } from '../util/clock';
import type { Cancellation } from './exec';
import { OutputLog } from './outputLog';

/** Sessions whose logs are kept; the one appended to least recently goes first. */
const MAX_SESSION_LOGS = 64;

/**
 * What a session's background jobs print after their command returned — output that arrives
 * on a shell's streams between commands, or in a raw channel's FIFO after its command — kept
 * per session, bounded, never counted as another command's output.
 */
export class SessionLogs {
  private readonly logs = new Map<string, OutputLog>();

  constructor(private readonly deps: { config: ConfigStore; clock: Clock }) {}

  append(sessionId: string, stream: StreamType, data: Buffer): void {
    let log = this.logs.get(sessionId);
    if (log) this.logs.delete(sessionId); // re-inserted below: the map's order is the recency
    log ??= new OutputLog(this.deps.config.current['logs.sessionKb'] * 1024);
    this.logs.set(sessionId, log);
    log.append(stream, data, this.deps.clock.now());
    if (this.logs.size > MAX_SESSION_LOGS) this.logs.delete(this.logs.keys().next().value!);
  }

  read(sessionId: string, query: OutputQuery, cancellation?: Cancellation): Promise<OutputPage> {
    let log = this.logs.get(sessionId);
    if (!log) {
      log = new OutputLog(this.deps.config.current['logs.sessionKb'] * 1024); // a follower waits for the first output
      this.logs.set(sessionId, log);
    }
    return log.read(query, this.deps.clock, cancellation);
  }
}
