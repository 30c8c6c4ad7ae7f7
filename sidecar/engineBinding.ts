import type { BoundEngine, DockerStatus } from './client/protocol';
import type { Engine } from './docker/engine';
import { conflict, dockerUnavailableError } from './errors';
import type { Store } from './store/store';

/** Engine calls that only look at the engine itself: they stay allowed when it is not ours. */
const HARMLESS = new Set<string | symbol>(['instanceId', 'isLocal', 'status', 'identity', 'runtimes', 'engineInfo', 'hasImage', 'whyNotPullable']);

/**
 * A storage directory belongs to one Docker engine: its records describe objects on that
 * engine. The first engine reached is written down; when a different engine answers later (a
 * new DOCKER_HOST, context or setting), nothing that would act on records runs — no
 * reconciliation, no session, no cleanup that would take "not found here" for "gone" — until
 * someone switches (see ParkedStates) or points Sandkasten back.
 */
export class EngineBinding {
  private mismatch: { boundTo: BoundEngine; current: BoundEngine } | undefined;
  /** Where the engine was last reached from, once a check passed or failed (see checkAgain). */
  private endpoint: string | undefined;
  /** A look at the engine's identity after it came back: acting calls wait for it. */
  private rechecking: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
  ) {}

  /** Binds on first contact; throws (and remembers) a mismatch with another engine, reached at `endpoint`. */
  async check(endpoint: string): Promise<void> {
    this.endpoint = endpoint;
    const identity = await this.engine.identity();
    const current: BoundEngine = { id: identity.engineId, name: identity.engineName, endpoint };
    const bound = this.store.meta.boundEngine();
    if (!bound || !bound.id) {
      this.store.meta.bindEngine(current);
      await this.store.commit();
    } else if (bound.id !== current.id) {
      this.mismatch = { boundTo: bound, current };
      throw this.refusal();
    }
    this.mismatch = undefined;
  }

  /**
   * The engine answers again after it was away: it may be another one now (the address leads
   * elsewhere, the engine was reinstalled), whose missing containers must not read as gone.
   * Acting calls wait for this look; a mismatch found refuses them as at start.
   */
  checkAgain(): void {
    if (this.endpoint === undefined || this.rechecking) return;
    this.rechecking = this.check(this.endpoint)
      .catch(() => undefined) // a mismatch is remembered; an engine away again fails the calls itself
      .finally(() => (this.rechecking = undefined));
  }

  get current(): { boundTo: BoundEngine; current: BoundEngine } | undefined {
    return this.mismatch;
  }

  /** Adds the mismatch (if any) to a status answer. */
  describe(status: DockerStatus): DockerStatus {
    return this.mismatch ? { ...status, mismatch: this.mismatch } : status;
  }

  /** The engine as the rest of the sidecar sees it: every call that acts on objects fails while it is not ours. */
  guard(): Engine {
    return new Proxy(this.engine, {
      get: (target, property, receiver) => {
        const value = Reflect.get(target, property, receiver);
        // Whoever asks the guarded engine for its status learns of a mismatch too (doctor).
        if (property === 'status') return async () => this.describe(await target.status());
        if (typeof value !== 'function' || HARMLESS.has(property)) return typeof value === 'function' ? value.bind(target) : value;
        // Every Engine method returns a promise: a refusal is a rejection, never a synchronous throw.
        return async (...args: unknown[]) => {
          await this.rechecking;
          if (this.mismatch) throw this.refusal();
          return value.apply(target, args);
        };
      },
    });
  }

  /** Checks a switch request against what status showed. */
  assertSwitchable(engineId: string): { boundTo: BoundEngine; current: BoundEngine } {
    if (!this.mismatch) throw conflict('There is nothing to switch: the engine answering is the one this storage directory belongs to.');
    if (this.mismatch.current.id !== engineId) {
      throw conflict(`The engine answering now is ${describeEngine(this.mismatch.current)}, not the one asked for (${engineId}); look at \`sandkasten status\` again.`);
    }
    return this.mismatch;
  }

  private refusal(): Error {
    const { boundTo, current } = this.mismatch!;
    return dockerUnavailableError(
      `This storage directory belongs to Docker engine ${describeEngine(boundTo)}, but Sandkasten now reaches ${describeEngine(current)}. ` +
        'Switch engines (`sandkasten engine switch`, or the prompt in VS Code; nothing on either engine is deleted) or point Sandkasten back.',
    );
  }
}

export function describeEngine(engine: BoundEngine): string {
  return `"${engine.name || engine.id}" at ${engine.endpoint || 'an unknown address'}`;
}
