import type { RateDecision } from "./rate-limit-store.js";

/**
 * One GCRA (generic cell rate algorithm) rule, in the form redis-cell and throttled use. A key
 * conforms while its theoretical arrival time (TAT) runs at most `burstToleranceMs +
 * emissionIntervalMs` ahead of now; each permit moves the TAT `emissionIntervalMs` further.
 */
export interface GcraRule {
  /** Milliseconds between permits at the sustained rate: `period / rate`. */
  readonly emissionIntervalMs: number;
  /** The delay variation tolerance τ: `emissionIntervalMs * burst`. */
  readonly burstToleranceMs: number;
  /** Permits an idle key gets at once: `burst + 1`. */
  readonly limit: number;
}

/** The outcome of {@link gcraDecide}: the decision and the TAT a store must write. */
export interface GcraResult {
  readonly decision: RateDecision;
  /**
   * When allowed, the TAT to store (a store may drop the key instead when it is `<= now`); when
   * refused, the `tat` passed in, unchanged — a refused request consumes nothing.
   */
  readonly newTat: number | undefined;
}

/**
 * Builds the rule for `rate` permits per `periodMs` with `burst` extra permits at once, following
 * redis-cell's `CL.THROTTLE key max_burst count period`: an idle key gets `burst + 1` permits at
 * once, then one every `periodMs / rate`.
 */
export function gcraRule(rate: number, periodMs: number, burst: number): GcraRule {
  const emissionIntervalMs = periodMs / rate;
  return { emissionIntervalMs, burstToleranceMs: emissionIntervalMs * burst, limit: burst + 1 };
}

/**
 * The pure GCRA decision (https://en.wikipedia.org/wiki/Generic_cell_rate_algorithm, virtual
 * scheduling form, generalised to several permits as in redis-cell). `tat` is the key's stored
 * theoretical arrival time or `undefined`; a TAT at or before `now` means an idle, full bucket.
 *
 * With `ahead = max(tat - now, 0)`, `increment = permits * emissionIntervalMs` and
 * `capacity = burstToleranceMs + emissionIntervalMs + slack`, the request is allowed when
 * `ahead + increment <= capacity`; then `newTat = now + ahead + increment`,
 * `remaining = floor((capacity - ahead - increment) / emissionIntervalMs)` and
 * `resetAfterMs = ahead + increment`. Refused, `retryAfterMs = ahead + increment - capacity`
 * without the slack (`Infinity` when `increment > capacity`),
 * `remaining = floor((capacity - ahead) / emissionIntervalMs)`, `resetAfterMs = ahead`, and the
 * TAT stays as it was. `remaining` is clamped to `0..limit`.
 *
 * `slack = min((|now| + burstToleranceMs + emissionIntervalMs + increment) * (limit + permits + 1)
 * * 2^-52, emissionIntervalMs / 16)` absorbs the floating-point rounding a TAT accumulates over
 * one burst, so that an idle key gets exactly `limit` permits at once even when
 * `emissionIntervalMs` has no exact binary form (1000 / 3). Times should be of moderate magnitude
 * (a process-relative clock such as `performance.now()`); at epoch-millisecond magnitudes doubles
 * cannot resolve sub-millisecond intervals exactly. A Redis script mirrors this function line by line.
 */
export function gcraDecide(
  tat: number | undefined,
  rule: GcraRule,
  permits: number,
  now: number,
): GcraResult {
  const interval = rule.emissionIntervalMs;
  const limit = rule.limit;
  const capacity = rule.burstToleranceMs + interval;
  const ahead = tat !== undefined && tat > now ? tat - now : 0;
  const increment = permits * interval;
  const needed = ahead + increment;
  // Each permit of a burst rounds now + ahead once; allow for that drift, bounded well below one permit.
  const drift = (Math.abs(now) + capacity + increment) * (limit + permits + 1) * Number.EPSILON;
  const slack = Math.min(drift, interval / 16);
  if (needed <= capacity + slack) {
    return {
      decision: {
        allowed: true,
        remaining: clamp(Math.floor((capacity + slack - needed) / interval), limit),
        retryAfterMs: 0,
        resetAfterMs: needed,
        limit,
      },
      newTat: now + needed,
    };
  }
  return {
    decision: {
      allowed: false,
      remaining: clamp(Math.floor((capacity + slack - ahead) / interval), limit),
      retryAfterMs: increment > capacity + slack ? Number.POSITIVE_INFINITY : needed - capacity,
      resetAfterMs: ahead,
      limit,
    },
    newTat: tat,
  };
}

function clamp(permits: number, limit: number): number {
  return Math.max(0, Math.min(permits, limit));
}
