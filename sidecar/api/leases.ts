import type { Store } from '../store/store';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import { Repeating } from '../util/repeating';
import type { ApiServices } from './route';

/** How often ended leases are looked for. */
const CHECK_INTERVAL_MS = 30_000;

/**
 * API sessions live as long as their lease (`ttl_seconds`, extended by each call that uses
 * them, as in Sandkasten v1): once it ends the session is destroyed, and a workspace the API
 * made for it alone goes with it. Leases are in the database, so a restart keeps them.
 */
export class ApiLeases {
  private readonly rounds: Repeating;
  private stopped = false;

  constructor(private readonly deps: { services: ApiServices; store: Store; clock: Clock; log: Logger }) {
    this.rounds = new Repeating(deps.clock, () => CHECK_INTERVAL_MS, () => this.endLeases());
  }

  start(): void {
    this.stopped = false;
    this.rounds.start();
  }

  stop(): void {
    this.stopped = true;
    this.rounds.stop();
  }

  /**
   * The Docker engine is back after `ms` away: no call could use (and so extend) a session
   * meanwhile, so every lease moves on by that much instead of ending for the gap.
   */
  async extendBy(ms: number): Promise<void> {
    const { store } = this.deps;
    const leased = store.sessions.list().filter((session) => session.expiresAt);
    if (leased.length === 0) return;
    for (const session of leased) store.sessions.setLease(session.id, Date.parse(session.expiresAt!) + ms);
    await store.commit();
  }

  /** Destroys every session whose lease ended; one failing does not keep the others. */
  async endLeases(): Promise<void> {
    const { store, clock, services, log } = this.deps;
    for (const id of store.sessions.leasesEndedBy(clock.now())) {
      if (this.stopped) return;
      try {
        await services.sessions.destroy(id);
        log.info(`session ${id}: its API lease ended, destroyed`);
      } catch (error) {
        log.error(`ending the lease of session ${id} failed`, error);
      }
    }
  }
}
