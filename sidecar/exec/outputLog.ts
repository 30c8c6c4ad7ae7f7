import type { OutputPage, OutputQuery } from '../client/protocol';
import type { StreamType } from '../docker/frames';
import type { Clock } from '../util/clock';

/** One piece of output, as it came. */
export interface LogEntry {
  /** Bytes from the start of the log, counting what was dropped: a reader's place. */
  offset: number;
  stream: StreamType;
  data: Buffer;
  at: number;
}

/**
 * Output kept in memory up to `capacityBytes`: the oldest goes first. Readers keep an offset
 * (bytes since the log began, dropped ones included), so they can ask for what came after
 * it and know when some of that was dropped. Sandbox output is untrusted input to the host:
 * the cap bounds what a sandbox can make the sidecar hold.
 */
export class OutputLog {
  private readonly entries: LogEntry[] = [];
  private size = 0;
  /** Bytes ever appended. */
  private end = 0;
  private readonly waiters = new Set<() => void>();
  private ended = false;

  constructor(private readonly capacityBytes: number) {}

  append(stream: StreamType, data: Buffer, at: number): void {
    if (data.length === 0) return;
    const kept = data.length > this.capacityBytes ? data.subarray(data.length - this.capacityBytes) : data;
    this.end += data.length - kept.length;
    this.entries.push({ offset: this.end, stream, data: Buffer.from(kept), at });
    this.end += kept.length;
    this.size += kept.length;
    while (this.size > this.capacityBytes) this.size -= this.entries.shift()!.data.length;
    for (const wake of [...this.waiters]) wake();
  }

  /** What came at or after `offset` (or everything kept), and how many bytes of it were dropped. */
  since(offset = 0): { entries: LogEntry[]; nextOffset: number; droppedBytes: number } {
    const first = this.entries[0]?.offset ?? this.end;
    const entries = this.entries.filter((entry) => entry.offset + entry.data.length > offset);
    const trimmed = entries.map((entry) => (entry.offset >= offset ? entry : { ...entry, offset, data: entry.data.subarray(offset - entry.offset) }));
    return { entries: trimmed, nextOffset: this.end, droppedBytes: Math.max(0, Math.min(first, this.end) - offset) };
  }

  get nextOffset(): number {
    return this.end;
  }

  /** Nothing more will come (the process exited): followers stop waiting. */
  close(): void {
    this.ended = true;
    for (const wake of [...this.waiters]) wake();
  }

  /**
   * A page of what came after `query.offset`; when there is none yet and the log is open,
   * waits up to `query.waitMs` for some (or for the cancellation).
   */
  async read(query: OutputQuery, clock: Clock, cancellation?: { onCancellationRequested(listener: () => void): { dispose(): void } }): Promise<OutputPage> {
    if (query.waitMs && !this.ended && this.end <= (query.offset ?? 0)) {
      const next = this.nextAppend();
      const timer = clock.setTimeout(next.cancel, query.waitMs);
      const listener = cancellation?.onCancellationRequested(next.cancel);
      await next.appended;
      timer.cancel();
      listener?.dispose();
    }
    const { entries, nextOffset, droppedBytes } = this.since(query.offset);
    const encoding = query.encoding === 'base64' ? 'base64' : 'utf8';
    return { chunks: entries.map((entry) => ({ stream: entry.stream, data: entry.data.toString(encoding) })), nextOffset, droppedBytes };
  }

  /** Resolves when something is appended, the log closes, or `cancel` is called (a follower went away). */
  private nextAppend(): { appended: Promise<void>; cancel(): void } {
    let wake = () => undefined as void;
    const appended = new Promise<void>((resolve) => (wake = resolve));
    const waiter = () => {
      this.waiters.delete(waiter);
      wake();
    };
    this.waiters.add(waiter);
    return { appended, cancel: waiter };
  }
}
