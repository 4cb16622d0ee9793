/**
 * Wall-clock time for token lifetimes: milliseconds since the Unix epoch, because `exp` and
 * `nbf` are absolute times. (The `Clock` of `@flotilla/resilience` is monotonic and cannot be
 * compared with a token's claims.)
 */
export interface WallClock {
  /** Milliseconds since 1970-01-01T00:00:00Z. */
  now(): number;
}

/** The process's wall clock, `Date.now()` (read at each call, so fake timers in tests apply). */
export const systemWallClock: WallClock = { now: () => Date.now() };
