import type { Duplex } from 'node:stream';
import type { DockerStatus } from '../client/protocol';
import { dockerUnavailableError, hasCode, type SandkastenError } from '../errors';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import type { Engine, ExecProcess } from './engine';
import { isDockerUnreachable } from './errors';

/** The first look again after the engine was found away; each failed look doubles the wait, up to the last. */
export const FIRST_RETRY_MS = 500;
export const MAX_RETRY_MS = 10_000;
/**
 * A first failed look is asked again after this long, on a new connection: the kept-alive
 * connections that broke with the one that made us look (ssh processes killed, a reset) are
 * closed by then, and would otherwise make an engine that answers look away.
 */
export const CONFIRM_AFTER_MS = 250;

/** The engine went away (with why, in one sentence), or answers again after `awayMs`. */
export type EngineChange = { state: 'away'; reason: string } | { state: 'back'; awayMs: number };

/** What domain modules ask of the engine's health. */
export interface EngineAvailability {
  /** The engine did not answer the last look, nor any since. */
  readonly away: boolean;
  /** Whether it is still away, after a look unless one ran within FIRST_RETRY_MS. */
  stillAway(): Promise<boolean>;
  /** Whether it is away, after a look now (on a new connection: an engine shutting down refuses those first). */
  awayNow(): Promise<boolean>;
  /** DockerUnavailable naming the engine and how long it has been away: for what needs it meanwhile. */
  unavailableError(): SandkastenError;
  onChange(listener: (change: EngineChange) => void): () => void;
}

/**
 * Whether the Docker engine answers, as the sidecar last found out. A call that fails as
 * unreachable, a stream of the engine that breaks, or the events stream's end makes it look
 * (one `status`); when that fails too the engine is away: said once in the log, and told to
 * the listeners (sessions show it, timers that would act on sessions wait). Meanwhile the
 * engine is looked at again after 0.5 s, then twice as long each time up to 10 s, until it
 * answers; a call through `engine` fails with DockerUnavailable after one look shared with
 * the calls around it (none when the last was under 0.5 s ago), instead of each waiting for
 * a TCP or ssh timeout of a remote engine that vanished, or failing for seconds after its return.
 */
export class EngineHealth implements EngineAvailability {
  /** The engine as every other module uses it: watched, and failing fast while away. */
  readonly engine: Engine;
  private awaySince: number | undefined;
  /** Why it is away, in one sentence (the engine's status error). */
  private reason = '';
  private endpoint: string | undefined;
  private looking: Promise<void> | undefined;
  private lastLookAt = Number.NEGATIVE_INFINITY;
  private retryTimer: { cancel(): void } | undefined;
  private retryMs = FIRST_RETRY_MS;
  private stopped = false;
  private readonly listeners = new Set<(change: EngineChange) => void>();

  constructor(private readonly deps: { engine: Engine; clock: Clock; log: Logger }) {
    this.engine = watched(deps.engine, this);
  }

  get away(): boolean {
    return this.awaySince !== undefined;
  }

  onChange(listener: (change: EngineChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  unavailableError(): SandkastenError {
    const since = this.awaySince ?? this.deps.clock.now();
    const seconds = Math.max(1, Math.round((this.deps.clock.now() - since) / 1000));
    return dockerUnavailableError(
      `The Docker engine ${this.endpoint ? `at ${this.endpoint} ` : ''}has not answered for ${seconds} s. Sandkasten keeps trying and removes nothing meanwhile; retry once it is back.`,
      this.reason || undefined,
    );
  }

  /** Something suggests the engine is gone (a failed call, a broken stream): look now, unless it is known away (looks are due). */
  suspect(): void {
    if (!this.stopped && !this.away) void this.lookNow();
  }

  /** Whether the engine is still away, after a look unless one ran within FIRST_RETRY_MS (a call while away waits for this). */
  async stillAway(): Promise<boolean> {
    if (this.looking || this.deps.clock.now() - this.lastLookAt >= FIRST_RETRY_MS) await this.lookNow();
    return this.away;
  }

  async awayNow(): Promise<boolean> {
    await this.lookNow();
    return this.away;
  }

  /** What a `status` call found, whoever made it: the engine's state follows it. */
  observe(status: DockerStatus): void {
    this.lastLookAt = this.deps.clock.now();
    this.endpoint = status.endpoint;
    if (status.available) {
      if (this.away) this.back();
      return;
    }
    this.reason = status.error ?? `Docker is not reachable at ${status.endpoint}.`;
    if (!this.away) this.goAway();
  }

  /** No more looks (the sidecar shuts down). */
  stop(): void {
    this.stopped = true;
    this.retryTimer?.cancel();
  }

  /** One `status`, shared by whoever asks while it runs. */
  private lookNow(): Promise<void> {
    const ask = () => this.deps.engine.status().catch((error: unknown): DockerStatus => ({ available: false, endpoint: this.endpoint ?? 'its address', error: (error as Error).message }));
    this.looking ??= (async () => {
      let status = await ask();
      if (!status.available && !this.away && !this.stopped) {
        await this.deps.clock.sleep(CONFIRM_AFTER_MS);
        status = await ask();
      }
      if (!this.stopped) this.observe(status);
    })().finally(() => (this.looking = undefined));
    return this.looking;
  }

  /** The next scheduled look; each one later than the last, up to MAX_RETRY_MS. */
  private retryLater(): void {
    if (this.stopped) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
    this.retryTimer = this.deps.clock.setTimeout(() => {
      this.retryTimer = undefined;
      void this.lookNow().then(() => this.away && !this.retryTimer && this.retryLater());
    }, delay);
  }

  private goAway(): void {
    this.awaySince = this.deps.clock.now();
    this.deps.log.info(`${this.reason} Sessions are marked until it is back; nothing is removed meanwhile. Trying again with backoff (${FIRST_RETRY_MS / 1000} s to ${MAX_RETRY_MS / 1000} s).`);
    this.notify({ state: 'away', reason: this.reason });
    this.retryTimer?.cancel();
    this.retryMs = FIRST_RETRY_MS;
    this.retryLater();
  }

  private back(): void {
    const awayMs = this.deps.clock.now() - this.awaySince!;
    this.awaySince = undefined;
    this.reason = '';
    this.retryMs = FIRST_RETRY_MS;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    this.deps.log.info(`the Docker engine${this.endpoint ? ` at ${this.endpoint}` : ''} answers again, after ${Math.round(awayMs / 1000)} s away`);
    this.notify({ state: 'back', awayMs });
  }

  private notify(change: EngineChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        this.deps.log.error(`acting on the engine's ${change.state === 'away' ? 'absence' : 'return'} failed`, error);
      }
    }
  }
}

/** A Docker call failed as unreachable, or a stream broke that way. */
function unreachable(error: unknown): boolean {
  return hasCode(error, 'DockerUnavailable') || isDockerUnreachable(error);
}

/**
 * The engine with every call watched: while it is away a call fails at once; a call that
 * fails as unreachable, a stream that breaks that way, and an events stream that ends make
 * the health look; every `status` answer is a look.
 */
function watched(engine: Engine, health: EngineHealth): Engine {
  const onStreamError = (stream: Duplex) =>
    stream.on('error', (error) => {
      if (unreachable(error)) health.suspect();
    });
  const wrap = (method: string, call: (...args: unknown[]) => Promise<unknown>) =>
    async (...args: unknown[]): Promise<unknown> => {
      if (method === 'status') {
        const status = (await call(...args)) as DockerStatus;
        health.observe(status);
        return status;
      }
      if (health.away && (await health.stillAway())) throw health.unavailableError();
      if (method === 'followContainerEvents' || method === 'followStats') {
        // The events stream ends only when the engine or the connection goes (or we close it, which calls nobody).
        const onEnd = args[args.length - 1] as (error?: Error) => void;
        args[args.length - 1] = (error?: Error) => {
          if (method === 'followContainerEvents' || unreachable(error)) health.suspect();
          onEnd(error);
        };
      }
      try {
        const result = await call(...args);
        if (method === 'attach') onStreamError(result as Duplex);
        if (method === 'exec') onStreamError((result as ExecProcess).stream);
        return result;
      } catch (error) {
        if (unreachable(error)) health.suspect();
        throw error;
      }
    };
  return new Proxy(engine, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return wrap(property, (...args) => (value as (...args: unknown[]) => Promise<unknown>).apply(target, args));
    },
  });
}
