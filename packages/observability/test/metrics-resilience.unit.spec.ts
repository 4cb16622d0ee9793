import {
  BreakerState,
  bulkhead,
  circuitBreaker,
  rateLimiter,
  resilienceRegistry,
  retry,
  timeout,
} from "@flotilla/resilience";
import { FakeClock } from "@flotilla/resilience/testing";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { isMetricsConflictError, MetricsConflictError } from "../src/metrics/metrics-error.js";
import { resilienceMetrics } from "../src/metrics/resilience-metrics.js";
import { type Family, family, parsePrometheusText, value } from "./support/prometheus-text.js";

async function scrape(registry: Registry): Promise<Map<string, Family>> {
  return parsePrometheusText(await registry.metrics());
}

class Ignored extends Error {}
class Permanent extends Error {}

/** Settles `promise` without letting it go unhandled; returns the error or undefined. */
async function settle(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return error;
  }
}

describe("resilience metrics", () => {
  it("exports a circuit breaker's state, calls by outcome, slow calls and rates", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({
      name: "payments",
      clock,
      slidingWindowSize: 4,
      minimumNumberOfCalls: 4,
      failureRateThreshold: 50,
      slowCallDurationThreshold: 100,
      ignoreExceptions: (e) => e instanceof Ignored,
    });
    const registry = new Registry();
    resilienceMetrics(registry, [breaker]);

    let families = await scrape(registry);
    const stateOf = (fams: Map<string, Family>) =>
      Object.values(BreakerState).filter(
        (state) => value(family(fams, "flotilla_circuitbreaker_state"), { name: "payments", state }) === 1,
      );
    expect(stateOf(families)).toEqual(["CLOSED"]);
    expect(value(family(families, "flotilla_circuitbreaker_calls_total"), { kind: "failed" })).toBe(0);
    expect(value(family(families, "flotilla_circuitbreaker_failure_rate"), { name: "payments" })).toBe(-1);

    await breaker.execute(() => "ok");
    const slow = breaker.execute(
      () => new Promise((resolve) => clock.setTimeout(() => resolve("late"), 150)),
    );
    await clock.advance(150);
    await slow;
    await settle(breaker.execute(() => Promise.reject(new Ignored("not counted"))));
    await settle(breaker.execute(() => Promise.reject(new Error("down"))));
    await settle(breaker.execute(() => Promise.reject(new Error("down"))));
    expect(breaker.state).toBe("OPEN");
    await settle(breaker.execute(() => "refused"));

    families = await scrape(registry);
    expect(stateOf(families)).toEqual(["OPEN"]);
    const calls = family(families, "flotilla_circuitbreaker_calls_total");
    expect(calls.type).toBe("counter");
    expect(Object.fromEntries(calls.samples.map((s) => [s.labels.kind, s.value]))).toEqual({
      successful: 2,
      failed: 2,
      ignored: 1,
      not_permitted: 1,
    });
    const slowCalls = family(families, "flotilla_circuitbreaker_slow_calls_total");
    expect(value(slowCalls, { name: "payments", kind: "successful" })).toBe(1);
    expect(value(slowCalls, { name: "payments", kind: "failed" })).toBe(0);
    expect(value(family(families, "flotilla_circuitbreaker_failure_rate"), { name: "payments" })).toBe(50);
    expect(value(family(families, "flotilla_circuitbreaker_slow_call_rate"), { name: "payments" })).toBe(25);
    const buffered = family(families, "flotilla_circuitbreaker_buffered_calls");
    expect(value(buffered, { kind: "successful" })).toBe(2);
    expect(value(buffered, { kind: "failed" })).toBe(2);
  });

  it("exports retries by kind, bulkhead occupancy, rate-limiter permits and timeouts", async () => {
    const clock = new FakeClock();
    const retrying = retry({
      name: "inventory",
      clock,
      maxAttempts: 3,
      backoff: { type: "constant", delay: 0 },
      retryOn: (e) => !(e instanceof Permanent),
    });
    const slots = bulkhead({ name: "db", maxConcurrent: 1, maxQueue: 1, clock });
    const limiter = rateLimiter({
      name: "emails",
      limitForPeriod: 2,
      limitRefreshPeriod: "1s",
      timeoutDuration: 0,
      clock,
    });
    const limit = timeout({ name: "search", duration: "100ms", clock });
    const registry = new Registry();
    const exporter = resilienceMetrics(registry, [retrying, slots, limiter]).add(limit);

    await retrying.execute(() => "first time");
    let attempts = 0;
    await retrying.execute(() => (++attempts < 2 ? Promise.reject(new Error("flaky")) : "second time"));
    await settle(retrying.execute(() => Promise.reject(new Error("always"))));
    await settle(retrying.execute(() => Promise.reject(new Permanent("no"))));

    const release = Promise.withResolvers<void>();
    const held = slots.execute(() => release.promise);
    const queued = slots.execute(() => "queued");
    const full = await settle(slots.execute(() => "refused"));
    expect(full).toBeInstanceOf(Error);

    await limiter.execute(() => 1);
    await limiter.execute(() => 2);
    await settle(limiter.execute(() => 3));

    const hanging = settle(
      limit.execute(
        ({ signal }) =>
          new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason))),
      ),
    );
    await clock.advance(100);
    await hanging;

    const families = await scrape(registry);
    const retryCalls = family(families, "flotilla_retry_calls_total");
    expect(retryCalls.type).toBe("counter");
    expect(Object.fromEntries(retryCalls.samples.map((s) => [s.labels.kind, s.value]))).toEqual({
      successful_without_retry: 1,
      successful_with_retry: 1,
      failed_with_retry: 1,
      failed_without_retry: 1,
      aborted: 0,
    });
    expect(value(family(families, "flotilla_retry_retries_total"), { name: "inventory" })).toBe(3);

    expect(value(family(families, "flotilla_bulkhead_in_flight_calls"), { name: "db" })).toBe(1);
    expect(value(family(families, "flotilla_bulkhead_queued_calls"), { name: "db" })).toBe(1);
    expect(value(family(families, "flotilla_bulkhead_available_concurrent_calls"), { name: "db" })).toBe(0);
    expect(value(family(families, "flotilla_bulkhead_max_allowed_concurrent_calls"), { name: "db" })).toBe(1);
    expect(value(family(families, "flotilla_bulkhead_max_queued_calls"), { name: "db" })).toBe(1);
    expect(value(family(families, "flotilla_bulkhead_rejected_calls_total"), { name: "db" })).toBe(1);

    expect(value(family(families, "flotilla_ratelimiter_available_permissions"), { name: "emails" })).toBe(0);
    expect(value(family(families, "flotilla_ratelimiter_waiting_calls"), { name: "emails" })).toBe(0);
    expect(value(family(families, "flotilla_ratelimiter_rejected_calls_total"), { name: "emails" })).toBe(1);

    const labels = { name: "search", scope: "attempt" };
    expect(value(family(families, "flotilla_timeout_calls_total"), labels)).toBe(1);
    expect(value(family(families, "flotilla_timeout_timeouts_total"), labels)).toBe(1);

    release.resolve();
    await held;
    await queued;
    const after = await scrape(registry);
    expect(value(family(after, "flotilla_bulkhead_in_flight_calls"), { name: "db" })).toBe(0);
    expect(value(family(after, "flotilla_bulkhead_available_concurrent_calls"), { name: "db" })).toBe(1);
    // A later scrape reads the totals again rather than adding them up twice.
    expect(value(family(after, "flotilla_retry_retries_total"), { name: "inventory" })).toBe(3);

    exporter.close();
    const closed = await scrape(registry);
    expect([...closed.keys()].filter((name) => name.startsWith("flotilla_"))).toEqual([]);
  });

  it("picks up the instances a ResilienceRegistry builds after the exporter exists", async () => {
    const clock = new FakeClock();
    const policies = resilienceRegistry(
      {
        circuitBreaker: { instances: { users: {}, catalog: {} } },
        timeout: { instances: { users: { duration: "1s" } } },
        totalTimeout: { instances: { users: { duration: "5s" } } },
      },
      { clock },
    );
    policies.circuitBreaker("users");
    const registry = new Registry();
    resilienceMetrics(registry, policies);

    let state = family(await scrape(registry), "flotilla_circuitbreaker_state");
    expect(new Set(state.samples.map((s) => s.labels.name))).toEqual(new Set(["users"]));

    const catalog = policies.circuitBreaker("catalog");
    catalog.transitionToForcedOpenState();
    policies.timeout("users");
    policies.totalTimeout("users");
    const families = await scrape(registry);
    state = family(families, "flotilla_circuitbreaker_state");
    expect(new Set(state.samples.map((s) => s.labels.name))).toEqual(new Set(["users", "catalog"]));
    expect(value(state, { name: "catalog", state: "FORCED_OPEN" })).toBe(1);
    const timeouts = family(families, "flotilla_timeout_calls_total");
    expect(timeouts.samples.map((s) => `${s.labels.name}/${s.labels.scope}`).sort()).toEqual([
      "users/attempt",
      "users/total",
    ]);
  });

  it("ignores the same instance twice and refuses another instance under an exported name", () => {
    const first = circuitBreaker({ name: "payments" });
    const exporter = resilienceMetrics(new Registry(), [first]);
    expect(() => exporter.add(first)).not.toThrow();
    let caught: unknown;
    try {
      exporter.add(circuitBreaker({ name: "payments" }));
    } catch (error) {
      caught = error;
    }
    expect(isMetricsConflictError(caught)).toBe(true);
    expect(caught).toBeInstanceOf(MetricsConflictError);
    expect((caught as MetricsConflictError).code).toBe("FLT_METRICS_CONFLICT");
    expect(() => exporter.add({ execute: (op) => Promise.resolve(op({})) })).toThrow(/unsupported policy/);
    exporter.close();
  });
});
