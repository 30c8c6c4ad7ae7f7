import type { Clock } from './clock';

/**
 * Runs `work` every `intervalMs()` (asked anew each time) through the injected clock, one
 * run at a time: the next is scheduled when the last has ended, so a slow run never overlaps
 * the next. A failing run is the work's to report; the rounds go on.
 */
export class Repeating {
  private timer: { cancel(): void } | undefined;
  private stopped = true;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: () => number,
    private readonly work: () => Promise<void>,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** A new interval takes effect now; during a run there is no timer: the run schedules the next. */
  reschedule(): void {
    if (this.timer && !this.stopped) this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.work()
        .catch(() => undefined)
        .finally(() => this.schedule());
    }, this.intervalMs());
  }
}
