import type { Clock } from '../util/clock';
import { percentile } from './series';

/** Finished commands remembered for latency percentiles; a busier minute uses its newest ones. */
const RECENT_CAPACITY = 4096;

/**
 * What the commands run through the sidecar cost: Exec reports each finished one. Recording is
 * always on and O(1) (a slot of a fixed ring and two counters), so it costs nothing while no
 * dashboard is open; the dashboard reads it only while someone watches.
 */
export class ExecMetrics {
  private readonly finishedAt = new Float64Array(RECENT_CAPACITY);
  private readonly durations = new Float64Array(RECENT_CAPACITY);
  /** Commands recorded so far; the ring's next slot is this modulo its capacity. */
  private count = 0;
  private outputBytes = 0;

  constructor(private readonly clock: Clock) {}

  /** One command finished after `durationMs`, having relayed `outputBytes` of output. */
  record(durationMs: number, outputBytes: number): void {
    const slot = this.count % RECENT_CAPACITY;
    this.finishedAt[slot] = this.clock.now();
    this.durations[slot] = Math.max(0, durationMs);
    this.count++;
    this.outputBytes += Math.max(0, outputBytes);
  }

  /** Commands and output bytes since the sidecar started: throughput is the difference of two readings. */
  totals(): { execs: number; outputBytes: number } {
    return { execs: this.count, outputBytes: this.outputBytes };
  }

  /** Median and 95th percentile of the commands that finished in the last `windowMs`; undefined when none did. */
  latency(windowMs: number): { p50: number; p95: number; count: number } | undefined {
    const since = this.clock.now() - windowMs;
    const recent: number[] = [];
    for (let i = 0; i < Math.min(this.count, RECENT_CAPACITY); i++) {
      if (this.finishedAt[i] >= since) recent.push(this.durations[i]);
    }
    recent.sort((a, b) => a - b);
    const p50 = percentile(recent, 0.5);
    const p95 = percentile(recent, 0.95);
    return p50 === undefined || p95 === undefined ? undefined : { p50, p95, count: recent.length };
  }
}
