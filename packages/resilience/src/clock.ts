/**
 * The source of time and timers for every policy. Production code uses {@link systemClock};
 * tests pass a `FakeClock` from `@flotilla/resilience/testing` so that timed behaviour is
 * deterministic.
 */
export interface Clock {
  /** Monotonic milliseconds; only differences between two readings are meaningful. */
  now(): number;
  /**
   * Schedules `callback` after `ms` milliseconds and returns a handle for {@link Clock.clearTimeout}.
   * With `unref`, a pending timer does not keep the process alive (for housekeeping timers).
   */
  setTimeout(callback: () => void, ms: number, unref?: boolean): TimerHandle;
  /** Cancels a timer; a handle that already fired or was cleared is ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = { readonly __timer?: never } | object;

/** The process clock: `performance.now()` and Node's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(callback, ms, unref) {
    const timer = setTimeout(callback, ms);
    if (unref) timer.unref();
    return timer;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
