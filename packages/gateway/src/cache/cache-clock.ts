/**
 * The time source of the response cache: wall-clock milliseconds since the epoch, because
 * entry times are compared with `Date`/`Expires` headers and shared between gateways through
 * Redis. A `FakeClock` from `@flotilla/resilience/testing` fits for tests.
 */
export interface CacheClock {
  now(): number;
}

/** `Date.now()`. */
export const wallClock: CacheClock = { now: () => Date.now() };
