/** Injected wherever time matters, so unit tests need no timers. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): { cancel(): void };
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    const handle = setTimeout(callback, ms);
    handle.unref?.();
    return { cancel: () => clearTimeout(handle) };
  },
};

export const isoTime = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());
