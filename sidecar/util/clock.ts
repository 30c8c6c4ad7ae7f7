/** Injected wherever time matters, so unit tests need no timers. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): { cancel(): void };
  /** Resolves after `ms`. Unlike setTimeout's timers, keeps the process alive: someone awaits it. */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    const handle = setTimeout(callback, ms);
    handle.unref?.();
    return { cancel: () => clearTimeout(handle) };
  },
  sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  },
};

export const isoTime = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());
