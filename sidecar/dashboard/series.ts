import type { DashboardPoint } from '../client/dashboardProtocol';

/**
 * A time series in a ring buffer: the newest `capacity` points, oldest overwritten first, so a
 * series never grows past its history however long the dashboard stays open. Grows up to its
 * capacity as points come, so a short-lived session's series stays small.
 */
export class Series {
  private readonly times: number[] = [];
  private readonly values: number[] = [];
  /** Where the oldest point is once the ring is full. */
  private start = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`A series holds at least one point, not ${capacity}.`);
  }

  get length(): number {
    return this.times.length;
  }

  push(time: number, value: number): void {
    if (this.times.length < this.capacity) {
      this.times.push(time);
      this.values.push(value);
      return;
    }
    this.times[this.start] = time;
    this.values[this.start] = value;
    this.start = (this.start + 1) % this.capacity;
  }

  /** The newest point's time, undefined when empty. */
  get newestTime(): number | undefined {
    if (this.times.length === 0) return undefined;
    return this.times[(this.start + this.times.length - 1) % this.times.length];
  }

  /** The points from `since` on (inclusive), oldest first. */
  pointsSince(since: number): DashboardPoint[] {
    const points: DashboardPoint[] = [];
    for (let i = 0; i < this.times.length; i++) {
      const index = (this.start + i) % this.times.length;
      if (this.times[index] >= since) points.push([this.times[index], this.values[index]]);
    }
    return points;
  }
}

/**
 * The value below which `share` (0..1) of the values lie, by the nearest-rank method: always
 * one of the values, so a p95 of three commands is the slowest of them, not an invention.
 * undefined for no values. `sorted` must be in ascending order.
 */
export function percentile(sorted: readonly number[], share: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil(share * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}
