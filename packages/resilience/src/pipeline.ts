import { emptyContext, type Operation, type Policy, type PolicyContext } from "./policy-context.js";

/**
 * Policies composed outer to inner: `pipeline(a, b, c).execute(fn)` runs `a(b(c(fn)))`.
 *
 * The recommended order, and why:
 *
 * ```
 * pipeline(fallback, timeoutTotal, retry, breaker, timeoutPerAttempt, bulkhead)
 * ```
 * - `fallback` outermost, so it answers for every failure below it, including an open breaker,
 *   a spent total timeout and a full bulkhead.
 * - `timeoutTotal` outside `retry`, so one deadline covers all attempts and their back-off
 *   sleeps; retry reads the remaining budget and gives up instead of sleeping into it.
 * - `retry` outside `breaker`, so each attempt asks the breaker again: once it opens, the next
 *   attempt fails fast with `BreakerOpenError` (not retried by default) instead of calling a dead
 *   dependency.
 * - `breaker` outside `timeoutPerAttempt`, so a timed-out attempt is recorded as a failure (and
 *   as a slow call when the attempt's limit exceeds the breaker's `slowCallDurationThreshold`).
 * - `bulkhead` innermost, so a slot is held only while the dependency is really being called,
 *   never during back-off sleeps or while the breaker rejects.
 */
export class Pipeline implements Policy {
  /** The composed policies, outermost first. */
  readonly policies: readonly Policy[];

  constructor(policies: readonly Policy[]) {
    if (policies.length === 0) throw new TypeError("pipeline() needs at least one policy");
    for (const [i, p] of policies.entries()) {
      if (typeof (p as Partial<Policy> | undefined)?.execute !== "function") {
        throw new TypeError(`pipeline(): argument ${i} is not a policy (it has no execute method)`);
      }
    }
    this.policies = policies;
  }

  /** Runs `operation` through every policy, outermost first. */
  execute<T>(operation: Operation<T>, context: PolicyContext = emptyContext): Promise<T> {
    return this.#run(0, operation, context);
  }

  #run<T>(index: number, operation: Operation<T>, context: PolicyContext): Promise<T> {
    const policy = this.policies[index]!;
    if (index === this.policies.length - 1) return policy.execute(operation, context);
    return policy.execute((inner) => this.#run(index + 1, operation, inner), context);
  }
}

/**
 * Composes policies outer to inner into one {@link Policy}. See {@link Pipeline} for the
 * recommended order: `pipeline(fallback, timeoutTotal, retry, breaker, timeoutPerAttempt, bulkhead)`.
 *
 * @example
 * ```ts
 * const policy = pipeline(retry({ maxAttempts: 3 }), circuitBreaker(), timeout({ duration: "2s" }));
 * const user = await policy.execute(({ signal }) => fetchUser(id, { signal }), { signal: request.signal });
 * ```
 */
export function pipeline(...policies: Policy[]): Pipeline {
  return new Pipeline(policies);
}
