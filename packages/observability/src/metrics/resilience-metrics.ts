import {
  BreakerState,
  Bulkhead,
  CircuitBreaker,
  Fallback,
  Hedging,
  type Policy,
  type PolicyKind,
  RateLimiter,
  ResilienceRegistry,
  Retry,
  Timeout,
  type Unsubscribe,
} from "@flotilla/resilience";
import { Counter, Gauge, type LabelValues, type Registry } from "prom-client";
import { MetricsConflictError } from "./metrics-error.js";

/** Where {@link ResilienceMetrics} finds policies: a registry (and every instance it builds later), or a list. */
export type ResilienceMetricsSource = ResilienceRegistry | Iterable<Policy>;

type Labels = LabelValues<string>;
type Fill = (set: (labels: Labels, value: number) => void) => void;

const breakerStates = Object.values(BreakerState);
const breakerCallKinds = ["successful", "failed", "ignored", "not_permitted"] as const;

interface BoundCounter {
  inc(value?: number): void;
}

interface TimeoutEntry {
  readonly policy: Timeout;
  readonly scope: "attempt" | "total";
}

/**
 * Exports the state and counters of `@flotilla/resilience` policies as Prometheus metrics, named
 * after Resilience4j's Micrometer metrics with a `flotilla_` prefix and a `name` label.
 *
 * Gauges and most counters read each policy's `snapshot()` when Prometheus scrapes (prom-client
 * collect callbacks: no timer, nothing to do between scrapes). Only the circuit breaker's call
 * counters listen to its events, because its snapshot describes a sliding window, not totals;
 * listening makes the breaker time every call (one clock reading at each end).
 *
 * | metric | type | labels |
 * | --- | --- | --- |
 * | `flotilla_circuitbreaker_state` | gauge, 1 for the current state | `name`, `state` |
 * | `flotilla_circuitbreaker_calls_total` | counter | `name`, `kind`: successful, failed, ignored, not_permitted |
 * | `flotilla_circuitbreaker_slow_calls_total` | counter | `name`, `kind`: successful, failed |
 * | `flotilla_circuitbreaker_failure_rate`, `…_slow_call_rate` | gauge, percent, -1 below the minimum calls | `name` |
 * | `flotilla_circuitbreaker_buffered_calls` | gauge | `name`, `kind`: successful, failed |
 * | `flotilla_retry_calls_total` | counter | `name`, `kind`: successful_without_retry, successful_with_retry, failed_without_retry, failed_with_retry, aborted |
 * | `flotilla_retry_retries_total` | counter | `name` |
 * | `flotilla_bulkhead_in_flight_calls`, `…_queued_calls`, `…_available_concurrent_calls`, `…_max_allowed_concurrent_calls`, `…_max_queued_calls` | gauge | `name` |
 * | `flotilla_bulkhead_rejected_calls_total` | counter | `name` |
 * | `flotilla_ratelimiter_available_permissions`, `…_waiting_calls` | gauge | `name` |
 * | `flotilla_ratelimiter_rejected_calls_total` | counter | `name` |
 * | `flotilla_timeout_calls_total`, `…_timeouts_total` | counter | `name`, `scope`: attempt, total |
 * | `flotilla_timeout_in_flight_calls` | gauge | `name`, `scope` |
 * | `flotilla_fallback_calls_total` | counter | `name`, `kind`: successful, fallback, failed, unhandled, cancelled |
 * | `flotilla_hedging_calls_total` | counter | `name`, `kind`: first_attempt_won, hedge_won, failed, cancelled |
 * | `flotilla_hedging_hedged_attempts_total` | counter | `name` |
 *
 * @example
 * ```ts
 * const policies = resilienceRegistry(config);
 * const exporter = resilienceMetrics(metrics.registry, policies);
 * // instances the registry builds from now on are exported as they are created
 * ```
 */
export class ResilienceMetrics {
  /** The prom-client registry the metrics are registered in. */
  readonly registry: Registry;
  readonly #exported = new Map<string, Policy>();
  readonly #unsubscribes: Unsubscribe[] = [];
  readonly #families: string[] = [];
  readonly #breakers: CircuitBreaker[] = [];
  readonly #retries: Retry[] = [];
  readonly #bulkheads: Bulkhead[] = [];
  readonly #rateLimiters: RateLimiter[] = [];
  readonly #timeouts: TimeoutEntry[] = [];
  readonly #fallbacks: Fallback<unknown>[] = [];
  readonly #hedgings: Hedging[] = [];
  #breakerCalls: Counter<string> | undefined;
  #breakerSlowCalls: Counter<string> | undefined;

  constructor(registry: Registry, source?: ResilienceMetricsSource) {
    this.registry = registry;
    if (source instanceof ResilienceRegistry) {
      for (const { kind, name, policy } of source.instances()) this.#add(policy, kind, name);
      this.#unsubscribes.push(
        source.events.subscribe((event) => this.#add(event.policy, event.kind, event.name)),
      );
    } else if (source !== undefined) {
      for (const policy of source) this.add(policy);
    }
  }

  /**
   * Exports one more policy. Its kind is read from its class; pass `"totalTimeout"` for a timeout
   * that covers all attempts (exported with `scope="total"`). Adding the same instance again does
   * nothing; a different instance of the same kind under an exported name throws
   * {@link MetricsConflictError}.
   */
  add(policy: Policy, kind?: PolicyKind): this {
    const resolved = kind ?? kindOf(policy);
    if (resolved === undefined) {
      throw new TypeError(
        "resilience metrics: unsupported policy; expected a CircuitBreaker, Retry, Timeout, Bulkhead, RateLimiter, Fallback or Hedging",
      );
    }
    this.#add(policy, resolved, (policy as { name?: unknown }).name);
    return this;
  }

  /** Stops listening to policies and the registry, and removes every exported metric from the registry. */
  close(): void {
    for (const unsubscribe of this.#unsubscribes.splice(0)) unsubscribe();
    for (const name of this.#families.splice(0)) this.registry.removeSingleMetric(name);
    this.#exported.clear();
    for (const list of [
      this.#breakers,
      this.#retries,
      this.#bulkheads,
      this.#rateLimiters,
      this.#timeouts,
      this.#fallbacks,
      this.#hedgings,
    ]) {
      list.length = 0;
    }
    this.#breakerCalls = undefined;
    this.#breakerSlowCalls = undefined;
  }

  #add(policy: Policy, kind: PolicyKind, name: unknown): void {
    if (typeof name !== "string") throw new TypeError(`resilience metrics: the ${kind} has no name`);
    const id = `${kind}/${name}`;
    const known = this.#exported.get(id);
    if (known === policy) return;
    if (known !== undefined) throw new MetricsConflictError(kind, name);
    if (!matches(policy, kind)) {
      throw new TypeError(`resilience metrics: "${name}" is not a ${kind}`);
    }
    this.#exported.set(id, policy);
    switch (kind) {
      case "circuitBreaker":
        this.#addBreaker(policy as CircuitBreaker);
        break;
      case "retry":
        if (this.#retries.length === 0) this.#retryFamilies();
        this.#retries.push(policy as Retry);
        break;
      case "bulkhead":
        if (this.#bulkheads.length === 0) this.#bulkheadFamilies();
        this.#bulkheads.push(policy as Bulkhead);
        break;
      case "rateLimiter":
        if (this.#rateLimiters.length === 0) this.#rateLimiterFamilies();
        this.#rateLimiters.push(policy as RateLimiter);
        break;
      case "timeout":
      case "totalTimeout":
        if (this.#timeouts.length === 0) this.#timeoutFamilies();
        this.#timeouts.push({ policy: policy as Timeout, scope: kind === "timeout" ? "attempt" : "total" });
        break;
      case "fallback":
        if (this.#fallbacks.length === 0) this.#fallbackFamilies();
        this.#fallbacks.push(policy as Fallback<unknown>);
        break;
      case "hedging":
        if (this.#hedgings.length === 0) this.#hedgingFamilies();
        this.#hedgings.push(policy as Hedging);
        break;
    }
  }

  #addBreaker(breaker: CircuitBreaker): void {
    if (this.#breakerCalls === undefined) this.#breakerFamilies();
    const calls = this.#breakerCalls!;
    const slowCalls = this.#breakerSlowCalls!;
    const name = breaker.name;
    // Every series exists from the start, so rate() sees the first increment.
    const [successful, failed, ignored, notPermitted] = breakerCallKinds.map((kind) => {
      const child: BoundCounter = calls.labels(name, kind);
      child.inc(0);
      return child;
    }) as [BoundCounter, BoundCounter, BoundCounter, BoundCounter];
    const slowSuccessful: BoundCounter = slowCalls.labels(name, "successful");
    const slowFailed: BoundCounter = slowCalls.labels(name, "failed");
    slowSuccessful.inc(0);
    slowFailed.inc(0);
    // The breaker's own rule: a call is slow when it took longer than the threshold.
    const threshold = breaker.options.slowCallDurationThreshold;
    this.#unsubscribes.push(
      breaker.events.subscribe((event) => {
        switch (event.type) {
          case "success":
            successful.inc();
            if (event.durationMs > threshold) slowSuccessful.inc();
            break;
          case "error":
            failed.inc();
            if (event.durationMs > threshold) slowFailed.inc();
            break;
          case "ignoredError":
            ignored.inc();
            break;
          case "notPermitted":
            notPermitted.inc();
            break;
        }
      }),
    );
    this.#breakers.push(breaker);
  }

  #breakerFamilies(): void {
    const breakers = this.#breakers;
    this.#gauge(
      "flotilla_circuitbreaker_state",
      "The state of the circuit breaker: 1 for the current state, 0 for the others.",
      ["name", "state"],
      (set) => {
        for (const breaker of breakers) {
          const current = breaker.state;
          for (const state of breakerStates) set({ name: breaker.name, state }, state === current ? 1 : 0);
        }
      },
    );
    this.#breakerCalls = this.#counter(
      "flotilla_circuitbreaker_calls_total",
      "Calls through the circuit breaker, by outcome.",
      ["name", "kind"],
    );
    this.#breakerSlowCalls = this.#counter(
      "flotilla_circuitbreaker_slow_calls_total",
      "Calls that took longer than the slow-call threshold, by outcome.",
      ["name", "kind"],
    );
    this.#gauge(
      "flotilla_circuitbreaker_failure_rate",
      "Failed calls in percent of the calls in the window; -1 below the minimum number of calls.",
      ["name"],
      (set) => {
        for (const b of breakers) set({ name: b.name }, b.snapshot().failureRate);
      },
    );
    this.#gauge(
      "flotilla_circuitbreaker_slow_call_rate",
      "Slow calls in percent of the calls in the window; -1 below the minimum number of calls.",
      ["name"],
      (set) => {
        for (const b of breakers) set({ name: b.name }, b.snapshot().slowCallRate);
      },
    );
    this.#gauge(
      "flotilla_circuitbreaker_buffered_calls",
      "Calls in the circuit breaker's window, by outcome.",
      ["name", "kind"],
      (set) => {
        for (const b of breakers) {
          const s = b.snapshot();
          set({ name: b.name, kind: "successful" }, s.successfulCalls);
          set({ name: b.name, kind: "failed" }, s.failedCalls);
        }
      },
    );
  }

  #retryFamilies(): void {
    const retries = this.#retries;
    this.#snapshotCounter(
      "flotilla_retry_calls_total",
      "Calls through the retry policy, by how they ended.",
      ["name", "kind"],
      (set) => {
        for (const r of retries) {
          const s = r.snapshot();
          set({ name: r.name, kind: "successful_without_retry" }, s.successWithoutRetry);
          set({ name: r.name, kind: "successful_with_retry" }, s.successAfterRetry);
          set({ name: r.name, kind: "failed_without_retry" }, s.failedWithoutRetry);
          set({ name: r.name, kind: "failed_with_retry" }, s.failedAfterRetry);
          set({ name: r.name, kind: "aborted" }, s.aborted);
        }
      },
    );
    this.#snapshotCounter(
      "flotilla_retry_retries_total",
      "Retries made, over all calls.",
      ["name"],
      (set) => {
        for (const r of retries) set({ name: r.name }, r.snapshot().retries);
      },
    );
  }

  #bulkheadFamilies(): void {
    const bulkheads = this.#bulkheads;
    const gauges: [string, string, (b: Bulkhead) => number][] = [
      ["in_flight_calls", "Calls holding a slot of the bulkhead.", (b) => b.snapshot().inFlight],
      ["queued_calls", "Calls waiting for a slot of the bulkhead.", (b) => b.snapshot().queued],
      [
        "available_concurrent_calls",
        "Free slots of the bulkhead.",
        (b) => {
          const s = b.snapshot();
          return Math.max(0, s.maxConcurrent - s.inFlight);
        },
      ],
      ["max_allowed_concurrent_calls", "Slots of the bulkhead.", (b) => b.maxConcurrent],
      ["max_queued_calls", "Places in the bulkhead's queue.", (b) => b.snapshot().maxQueue],
    ];
    for (const [suffix, help, read] of gauges) {
      this.#gauge(`flotilla_bulkhead_${suffix}`, help, ["name"], (set) => {
        for (const b of bulkheads) set({ name: b.name }, read(b));
      });
    }
    this.#snapshotCounter(
      "flotilla_bulkhead_rejected_calls_total",
      "Calls the bulkhead refused: full, or waited too long in the queue.",
      ["name"],
      (set) => {
        for (const b of bulkheads) set({ name: b.name }, b.snapshot().rejected);
      },
    );
  }

  #rateLimiterFamilies(): void {
    const limiters = this.#rateLimiters;
    this.#gauge(
      "flotilla_ratelimiter_available_permissions",
      "Permits left in the current cycle; negative while callers hold reservations on future cycles.",
      ["name"],
      (set) => {
        for (const l of limiters) set({ name: l.name }, l.snapshot().availablePermissions);
      },
    );
    this.#gauge(
      "flotilla_ratelimiter_waiting_calls",
      "Calls waiting for a reserved permit.",
      ["name"],
      (set) => {
        for (const l of limiters) set({ name: l.name }, l.snapshot().waitingThreads);
      },
    );
    this.#snapshotCounter(
      "flotilla_ratelimiter_rejected_calls_total",
      "Calls the rate limiter refused.",
      ["name"],
      (set) => {
        for (const l of limiters) set({ name: l.name }, l.snapshot().rejected);
      },
    );
  }

  #timeoutFamilies(): void {
    const timeouts = this.#timeouts;
    this.#snapshotCounter(
      "flotilla_timeout_calls_total",
      "Calls through the timeout policy.",
      ["name", "scope"],
      (set) => {
        for (const t of timeouts) set({ name: t.policy.name, scope: t.scope }, t.policy.snapshot().calls);
      },
    );
    this.#snapshotCounter(
      "flotilla_timeout_timeouts_total",
      "Calls whose time limit elapsed.",
      ["name", "scope"],
      (set) => {
        for (const t of timeouts) set({ name: t.policy.name, scope: t.scope }, t.policy.snapshot().timeouts);
      },
    );
    this.#gauge(
      "flotilla_timeout_in_flight_calls",
      "Operations started under the timeout policy and not settled yet.",
      ["name", "scope"],
      (set) => {
        for (const t of timeouts) set({ name: t.policy.name, scope: t.scope }, t.policy.snapshot().inFlight);
      },
    );
  }

  #fallbackFamilies(): void {
    const fallbacks = this.#fallbacks;
    this.#snapshotCounter(
      "flotilla_fallback_calls_total",
      "Calls through the fallback policy, by how they ended.",
      ["name", "kind"],
      (set) => {
        for (const f of fallbacks) {
          const s = f.snapshot();
          let fellBack = 0;
          for (const count of Object.values(s.fallbacks)) fellBack += count;
          set({ name: f.name, kind: "successful" }, s.successes);
          set({ name: f.name, kind: "fallback" }, fellBack);
          set({ name: f.name, kind: "failed" }, s.failures);
          set({ name: f.name, kind: "unhandled" }, s.unhandled);
          set({ name: f.name, kind: "cancelled" }, s.cancelled);
        }
      },
    );
  }

  #hedgingFamilies(): void {
    const hedgings = this.#hedgings;
    this.#snapshotCounter(
      "flotilla_hedging_calls_total",
      "Calls through the hedging policy, by how they ended.",
      ["name", "kind"],
      (set) => {
        for (const h of hedgings) {
          const s = h.snapshot();
          set({ name: h.name, kind: "first_attempt_won" }, s.firstAttemptWins);
          set({ name: h.name, kind: "hedge_won" }, s.hedgeWins);
          set({ name: h.name, kind: "failed" }, s.failures);
          set({ name: h.name, kind: "cancelled" }, s.cancelled);
        }
      },
    );
    this.#snapshotCounter(
      "flotilla_hedging_hedged_attempts_total",
      "Attempts started beyond the first of each call.",
      ["name"],
      (set) => {
        for (const h of hedgings) set({ name: h.name }, h.snapshot().hedgedAttempts);
      },
    );
  }

  #gauge(name: string, help: string, labelNames: string[], fill: Fill): void {
    this.#families.push(name);
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        fill((labels, value) => this.set(labels, value));
      },
    });
  }

  #counter(name: string, help: string, labelNames: string[]): Counter<string> {
    this.#families.push(name);
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /** A counter whose values are totals the policy keeps itself, copied at scrape time. */
  #snapshotCounter(name: string, help: string, labelNames: string[], fill: Fill): void {
    this.#families.push(name);
    new Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        fill((labels, value) => this.inc(labels, value));
      },
    });
  }
}

/** Builds a {@link ResilienceMetrics} exporter registered in `registry`, exporting `source`'s policies. */
export function resilienceMetrics(registry: Registry, source?: ResilienceMetricsSource): ResilienceMetrics {
  return new ResilienceMetrics(registry, source);
}

function kindOf(policy: Policy): PolicyKind | undefined {
  if (policy instanceof CircuitBreaker) return "circuitBreaker";
  if (policy instanceof Retry) return "retry";
  if (policy instanceof Timeout) return "timeout";
  if (policy instanceof Bulkhead) return "bulkhead";
  if (policy instanceof RateLimiter) return "rateLimiter";
  if (policy instanceof Fallback) return "fallback";
  if (policy instanceof Hedging) return "hedging";
  return undefined;
}

function matches(policy: Policy, kind: PolicyKind): boolean {
  const actual = kindOf(policy);
  return actual === kind || (kind === "totalTimeout" && actual === "timeout");
}
