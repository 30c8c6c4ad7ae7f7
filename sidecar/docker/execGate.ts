/**
 * Keeps a `docker pause` and the start of a `docker exec` of one container apart. A runc exec
 * whose process joins the container's cgroup while the freezer freezes it hangs there, holding
 * the container's lock in the runtime: unpause, exec and inspect of that container hang from
 * then on (seen with Docker 20.10 on cgroup v1, a few times in a hundred when a look at a
 * session's ports met the lifecycle's freeze). So a pause waits until the execs still being
 * created and started are, and until those started lately say their process runs (Docker
 * answers a start before the runtime starts the process); an exec asked for during a pause
 * waits for it (and is then refused by Docker: the container is paused — an error, never a
 * hang). The execs themselves never wait: only the (rare) pause pays.
 */
export class ExecGate {
  private readonly gates = new Map<string, Gate>();

  constructor(
    /** The longest a pause waits for starting execs (one stuck for another reason must not block the pause forever). */
    private readonly drainLimitMs = 10_000,
  ) {}

  /**
   * An exec was started: until `hasStarted` says its process runs (or `drainLimitMs` passed),
   * a pause of the container asks it first.
   */
  track(containerId: string, hasStarted: () => Promise<boolean>): void {
    const gate = this.gateOf(containerId);
    gate.recent.push({ hasStarted, until: Date.now() + this.drainLimitMs });
    // Forget what no pause asked about in time: nothing grows while no pause comes.
    gate.recent = gate.recent.filter((entry) => entry.until > Date.now());
  }

  /** Call before creating an exec; call the returned function once its process has started (or failed to). */
  async beginExec(containerId: string): Promise<() => void> {
    let gate = this.gates.get(containerId);
    while (gate?.pausing) {
      await gate.pausing;
      gate = this.gates.get(containerId);
    }
    gate ??= this.gateOf(containerId);
    gate.starting++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      gate.starting--;
      if (gate.starting === 0) {
        for (const resolve of gate.drained.splice(0)) resolve();
        this.forgetIfIdle(containerId, gate);
      }
    };
  }

  /** Runs `pause` once no exec of the container is starting; execs asked for meanwhile wait for its end. */
  async pause<T>(containerId: string, pause: () => Promise<T>): Promise<T> {
    let gate = this.gateOf(containerId);
    while (gate.pausing) {
      await gate.pausing; // one pause at a time
      gate = this.gateOf(containerId);
    }
    let finished!: () => void;
    gate.pausing = new Promise<void>((resolve) => (finished = resolve));
    try {
      if (gate.starting > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.drainLimitMs);
          gate.drained.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      await this.untilRecentStarted(gate);
      return await pause();
    } finally {
      gate.pausing = undefined;
      finished();
      this.forgetIfIdle(containerId, gate);
    }
  }

  private async untilRecentStarted(gate: Gate): Promise<void> {
    const pending = gate.recent.filter((entry) => entry.until > Date.now());
    gate.recent = [];
    await Promise.all(
      pending.map(async ({ hasStarted, until }) => {
        for (let wait = 1; Date.now() < until; wait = Math.min(wait * 2, 50)) {
          if (await hasStarted().catch(() => true)) return; // gone: nothing to wait for
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }),
    );
  }

  /** Containers with execs starting or a pause under way (for tests). */
  get busyContainers(): number {
    return this.gates.size;
  }

  private gateOf(containerId: string): Gate {
    let gate = this.gates.get(containerId);
    if (!gate) {
      gate = { starting: 0, drained: [], recent: [] };
      this.gates.set(containerId, gate);
    }
    return gate;
  }

  private forgetIfIdle(containerId: string, gate: Gate): void {
    gate.recent = gate.recent.filter((entry) => entry.until > Date.now());
    if (gate.starting === 0 && !gate.pausing && gate.recent.length === 0 && this.gates.get(containerId) === gate) this.gates.delete(containerId);
  }
}

interface Gate {
  starting: number;
  pausing?: Promise<void>;
  drained: Array<() => void>;
  /** Execs started lately whose process may not run yet. */
  recent: Array<{ hasStarted: () => Promise<boolean>; until: number }>;
}
