import type { Clock } from '../../../sidecar/util/clock';

interface Timer {
  due: number;
  /** Ties at one due time fire in the order they were set, as Node's timers do. */
  order: number;
  callback: () => void;
}

/** The fake clock's epoch: any fixed instant works, this one reads well in ISO form. */
export const FAKE_EPOCH_MS = Date.UTC(2025, 0, 1);

/**
 * A Clock that only moves when a test says so. `advance(ms)` fires the timers that fall due
 * within the step in order of their due time, each with `now()` at its due time, and lets
 * the promise chains each one starts run before the next fires, so a sleep that schedules
 * another sleep within the same step is honoured too.
 */
export class FakeClock implements Clock {
  private current: number;
  private readonly timers = new Set<Timer>();
  private order = 0;

  constructor(start = FAKE_EPOCH_MS) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): { cancel(): void } {
    const timer: Timer = { due: this.current + Math.max(0, ms), order: this.order++, callback };
    this.timers.add(timer);
    return { cancel: () => this.timers.delete(timer) };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  /** How many timers and sleeps are waiting. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Milliseconds until the next timer is due, undefined when none waits. */
  nextDueIn(): number | undefined {
    const next = this.next();
    return next && next.due - this.current;
  }

  async advance(ms: number): Promise<void> {
    const until = this.current + ms;
    await settle();
    for (let next = this.next(); next && next.due <= until; next = this.next()) {
      this.timers.delete(next);
      this.current = next.due;
      next.callback();
      await settle();
    }
    this.current = until;
    await settle();
  }

  private next(): Timer | undefined {
    let earliest: Timer | undefined;
    for (const timer of this.timers) {
      if (!earliest || timer.due < earliest.due || (timer.due === earliest.due && timer.order < earliest.order)) earliest = timer;
    }
    return earliest;
  }
}

/**
 * Lets pending promise chains and stream events run: each round waits for one turn of the
 * event loop (microtasks and process.nextTick callbacks drain before it). No time passes.
 */
export async function settle(rounds = 10): Promise<void> {
  for (let round = 0; round < rounds; round++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Settles until `condition` holds; fails with `what` when it never does. */
export async function eventually(condition: () => boolean, what = 'the condition'): Promise<void> {
  for (let round = 0; round < 1000; round++) {
    if (condition()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`Timed out waiting for ${what}.`);
}
