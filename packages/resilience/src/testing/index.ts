/**
 * Test helpers for code that uses `@flotilla/resilience`.
 *
 * ```ts
 * import { FakeClock } from "@flotilla/resilience/testing";
 * const clock = new FakeClock();
 * const breaker = circuitBreaker({ clock, waitDurationInOpenState: "5s" });
 * await clock.advance(5_000);
 * ```
 * @packageDocumentation
 */

export { configError, configIssues } from "./config-issues.js";
export { FakeClock, flushMicrotasks } from "./fake-clock.js";
