import { durationSchema } from "@flotilla/registry";
import { type GcraRule, gcraRule } from "@flotilla/resilience";
import { z } from "zod";
import { parseOptions } from "./parse-options.js";

/**
 * A rate limit rule in configuration (zod 4): `limit` permits per `period` sustained, and at most
 * `burst` (default `limit`) at once for a key that was idle. `period` is a duration (`"1m"`,
 * `"500ms"` or milliseconds). Both algorithms refill continuously, so a client that spent its
 * burst gets one permit back every `period / limit`.
 *
 * - `gcra` (default): the generic cell rate algorithm; one number per key, the same decision as
 *   `gcraDecide` of `@flotilla/resilience`.
 * - `token-bucket`: a bucket of `burst` tokens refilled lazily at `limit / period`; two numbers per key.
 */
export const rateLimitRuleSchema = z
  .object({
    algorithm: z.enum(["gcra", "token-bucket"]).default("gcra"),
    limit: z.number().int().min(1),
    period: durationSchema.refine((ms) => ms > 0, { error: "expected a period longer than 0 ms" }),
    burst: z.number().int().min(1).optional(),
  })
  .strict();

/** A rule as written in configuration: {@link rateLimitRuleSchema}'s input. */
export type RateLimitRuleConfig = z.input<typeof rateLimitRuleSchema>;

/** A validated rule with everything a backend needs precomputed; built by {@link rateLimitRule}. */
export interface RateLimitRule {
  readonly algorithm: "gcra" | "token-bucket";
  /** Permits per period, sustained. */
  readonly limit: number;
  /** The period in milliseconds. */
  readonly periodMs: number;
  /** The most permits a key gets at once (the bucket's capacity). */
  readonly burst: number;
  /** The GCRA form: an idle key gets `burst` permits, then one every `periodMs / limit`. */
  readonly gcra: GcraRule;
  /** Tokens (permits) refilled per millisecond: `limit / periodMs`. */
  readonly refillPerMs: number;
}

/**
 * Validates a rule and precomputes its derived values. Throws a `GatewayError`
 * `FLT_GATEWAY_CONFIG_INVALID` naming the bad field.
 */
export function rateLimitRule(config: RateLimitRuleConfig): RateLimitRule {
  const { algorithm, limit, period, burst } = parseOptions(rateLimitRuleSchema, config, "rate limit rule");
  const capacity = burst ?? limit;
  return Object.freeze({
    algorithm,
    limit,
    periodMs: period,
    burst: capacity,
    gcra: Object.freeze(gcraRule(limit, period, capacity - 1)),
    refillPerMs: limit / period,
  });
}
