import type { Clock } from '../util/clock';

/** Failed attempts one address may make per window before it is turned away unheard. */
const FAILURES_PER_ADDRESS = 10;
/** Failed attempts from everywhere together per window before everyone unknown is turned away. */
const FAILURES_OVERALL = 200;
const WINDOW_MS = 60_000;
/** Addresses remembered at most (a flood from many addresses cannot grow this without bound). */
const MAX_ADDRESSES = 10_000;

/**
 * Counts refused join attempts, so that guessing a secret is slow: an address that failed
 * FAILURES_PER_ADDRESS times within a minute is refused without its secret being looked at
 * until the minute is over, and so is everyone once FAILURES_OVERALL failed (a spread-out
 * flood). 256-bit secrets cannot be guessed anyway; this keeps a flood cheap for the host.
 * A guest that gets in is never counted, so a host's own guests are not locked out by
 * someone else's noise unless the overall limit trips.
 */
export class Refusals {
  private readonly failures = new Map<string, { count: number; since: number }>();
  private overall = { count: 0, since: 0 };
  /** Refusals not yet written to the database as an event (see takeUnrecorded). */
  private unrecorded = 0;

  constructor(private readonly clock: Clock) {}

  /** True when attempts from `address` are turned away unheard right now. */
  isLimited(address: string): boolean {
    const now = this.clock.now();
    if (now - this.overall.since < WINDOW_MS && this.overall.count >= FAILURES_OVERALL) return true;
    const entry = this.failures.get(address);
    return entry !== undefined && now - entry.since < WINDOW_MS && entry.count >= FAILURES_PER_ADDRESS;
  }

  record(address: string): void {
    const now = this.clock.now();
    this.unrecorded++;
    if (now - this.overall.since >= WINDOW_MS) this.overall = { count: 0, since: now };
    this.overall.count++;
    let entry = this.failures.get(address);
    if (!entry || now - entry.since >= WINDOW_MS) {
      if (!entry && this.failures.size >= MAX_ADDRESSES) this.forgetOld(now);
      entry = { count: 0, since: now };
      this.failures.set(address, entry);
    }
    entry.count++;
  }

  /** How many refusals happened since the last call (the caller writes one event for them). */
  takeUnrecorded(): number {
    const count = this.unrecorded;
    this.unrecorded = 0;
    return count;
  }

  private forgetOld(now: number): void {
    for (const [address, entry] of this.failures) if (now - entry.since >= WINDOW_MS) this.failures.delete(address);
    // Still full: a flood from many addresses; the overall limit covers it, forget the oldest.
    if (this.failures.size >= MAX_ADDRESSES) this.failures.delete(this.failures.keys().next().value!);
  }
}
