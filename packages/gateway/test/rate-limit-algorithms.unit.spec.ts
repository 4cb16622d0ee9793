import { gcraDecide } from "@flotilla/resilience";
import { FakeClock } from "@flotilla/resilience/testing";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isGatewayError } from "../src/chain/gateway-error.js";
import { memoryRateLimitBackend } from "../src/rate-limit/memory-rate-limit-backend.js";
import { rateLimitRule } from "../src/rate-limit/rate-limit-rule.js";
import { tokenBucketDecide } from "../src/rate-limit/token-bucket.js";

const algorithms = ["gcra", "token-bucket"] as const;

describe("rateLimitRule", () => {
  it("defaults to GCRA with a burst of `limit` and precomputes both forms", () => {
    const rule = rateLimitRule({ limit: 10, period: "1s" });
    expect(rule).toMatchObject({
      algorithm: "gcra",
      limit: 10,
      periodMs: 1000,
      burst: 10,
      refillPerMs: 0.01,
    });
    expect(rule.gcra).toEqual({ emissionIntervalMs: 100, burstToleranceMs: 900, limit: 10 });
  });

  it.each([
    [{ limit: 0, period: "1s" }, "limit"],
    [{ limit: 1.5, period: "1s" }, "limit"],
    [{ limit: 1, period: 0 }, "period"],
    [{ limit: 1, period: "soon" }, "period"],
    [{ limit: 1, period: "1s", burst: 0 }, "burst"],
    [{ limit: 1, period: "1s", algorithm: "leaky" }, "algorithm"],
    [{ limit: 1, period: "1s", brust: 2 }, "brust"],
  ])("rejects %j naming %s", (config, field) => {
    let thrown: unknown;
    try {
      rateLimitRule(config as never);
    } catch (error) {
      thrown = error;
    }
    expect(isGatewayError(thrown)).toBe(true);
    expect((thrown as Error & { code: string }).code).toBe("FLT_GATEWAY_CONFIG_INVALID");
    expect((thrown as Error).message).toContain(field);
  });
});

describe.each(algorithms)("memoryRateLimitBackend with %s", (algorithm) => {
  it("gives an idle key `burst` permits at once, then one every period / limit", async () => {
    const clock = new FakeClock(1_000);
    const backend = memoryRateLimitBackend({ clock, maxKeys: 10 });
    const rule = rateLimitRule({ algorithm, limit: 10, period: "1s" });
    const remaining: number[] = [];
    for (let i = 0; i < 10; i++) {
      const decision = backend.take("k", rule);
      expect(decision.allowed).toBe(true);
      remaining.push(decision.remaining);
    }
    expect(remaining).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    const refused = backend.take("k", rule);
    expect(refused).toMatchObject({ allowed: false, limit: 10, remaining: 0 });
    expect(refused.retryAfterMs).toBeCloseTo(100, 6);
    expect(refused.resetAfterMs).toBeCloseTo(1000, 6);

    await clock.advance(99);
    expect(backend.take("k", rule).allowed).toBe(false);
    await clock.advance(1);
    expect(backend.take("k", rule)).toMatchObject({ allowed: true, remaining: 0 });
    expect(backend.take("k", rule).allowed).toBe(false);

    await clock.advance(1_000);
    let allowed = 0;
    while (backend.take("k", rule).allowed) allowed++;
    expect(allowed).toBe(10);
  });

  it("answers synchronously, without a promise", () => {
    const backend = memoryRateLimitBackend({ clock: new FakeClock(), maxKeys: 10 });
    const decision = backend.take("k", rateLimitRule({ algorithm, limit: 1, period: "1s" }));
    expect(decision).not.toBeInstanceOf(Promise);
    expect(decision.allowed).toBe(true);
  });

  it("honours a burst below the limit", () => {
    const clock = new FakeClock();
    const backend = memoryRateLimitBackend({ clock, maxKeys: 10 });
    const rule = rateLimitRule({ algorithm, limit: 10, period: "1s", burst: 3 });
    const decisions = [1, 2, 3, 4].map(() => backend.take("k", rule).allowed);
    expect(decisions).toEqual([true, true, true, false]);
  });

  it("refills at a rate that is not a whole number of milliseconds per permit", async () => {
    const clock = new FakeClock();
    const backend = memoryRateLimitBackend({ clock, maxKeys: 10 });
    const rule = rateLimitRule({ algorithm, limit: 3, period: "1s", burst: 5 });
    for (let i = 0; i < 5; i++) expect(backend.take("k", rule).allowed).toBe(true);
    expect(backend.take("k", rule).allowed).toBe(false);
    await clock.advance(333);
    expect(backend.take("k", rule).allowed).toBe(false);
    await clock.advance(1);
    expect(backend.take("k", rule).allowed).toBe(true);
    await clock.advance(1_000 - 334);
    // At exactly 1 s the bucket has refilled 3 permits, one already spent.
    expect(backend.take("k", rule).allowed).toBe(true);
    expect(backend.take("k", rule).allowed).toBe(true);
    expect(backend.take("k", rule).allowed).toBe(false);
  });

  it("takes several permits at once and never more than the burst", () => {
    const backend = memoryRateLimitBackend({ clock: new FakeClock(), maxKeys: 10 });
    const rule = rateLimitRule({ algorithm, limit: 5, period: "1s" });
    expect(backend.take("k", rule, 3)).toMatchObject({ allowed: true, remaining: 2 });
    expect(backend.take("k", rule, 3)).toMatchObject({ allowed: false, remaining: 2 });
    expect(backend.take("k", rule, 6).retryAfterMs).toBe(Number.POSITIVE_INFINITY);
    expect(backend.take("k", rule, 2)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it("keeps keys apart and stores nothing for a refused request", () => {
    const backend = memoryRateLimitBackend({ clock: new FakeClock(), maxKeys: 10 });
    const rule = rateLimitRule({ algorithm, limit: 1, period: "1m" });
    expect(backend.take("a", rule).allowed).toBe(true);
    expect(backend.take("b", rule).allowed).toBe(true);
    expect(backend.take("a", rule).allowed).toBe(false);
    expect(backend.size).toBe(2);
    expect(backend.take("c", rule, 2).allowed).toBe(false);
    expect(backend.size).toBe(2);
  });

  it("holds at most maxKeys, dropping expired keys before the least recently written live one", async () => {
    const clock = new FakeClock();
    const backend = memoryRateLimitBackend({ clock, maxKeys: 3 });
    const short = rateLimitRule({ algorithm, limit: 1, period: "100ms" });
    const long = rateLimitRule({ algorithm, limit: 1, period: "1h" });
    backend.take("short", short);
    backend.take("old", long);
    backend.take("newer", long);
    await clock.advance(100);
    backend.take("fresh", long);
    expect(backend.size).toBe(3);
    // "short" expired and went first; "old" is still limited.
    expect(backend.take("old", long).allowed).toBe(false);
    backend.take("newest", long);
    expect(backend.size).toBe(3);
    // Now the least recently written live key ("old") was dropped: its client starts afresh.
    expect(backend.take("old", long).allowed).toBe(true);
    expect(backend.size).toBe(3);
  });

  it("drops a key once its bucket is full again", async () => {
    const clock = new FakeClock();
    const backend = memoryRateLimitBackend({ clock, maxKeys: 10 });
    const rule = rateLimitRule({ algorithm, limit: 2, period: "1s" });
    backend.take("a", rule);
    await clock.advance(500);
    backend.take("b", rule);
    expect(backend.size).toBe(1);
  });
});

describe("GCRA and token bucket", () => {
  it("decide exactly as an integer model of the same bucket (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(
          fc.record({ gap: fc.integer({ min: 0, max: 3_000 }), permits: fc.integer({ min: 1, max: 4 }) }),
          {
            maxLength: 60,
          },
        ),
        (limit, periodMs, burst, requests) => {
          const clock = new FakeClock(5_000);
          const gcra = memoryRateLimitBackend({ clock, maxKeys: 2 });
          const bucket = memoryRateLimitBackend({ clock, maxKeys: 2 });
          const gcraRule = rateLimitRule({ algorithm: "gcra", limit, period: periodMs, burst });
          const bucketRule = rateLimitRule({ algorithm: "token-bucket", limit, period: periodMs, burst });
          // Tokens scaled by periodMs: refilling `gap` ms adds exactly gap * limit units.
          const capacity = burst * periodMs;
          let units = capacity;
          for (const { gap, permits } of requests) {
            clock.set(clock.now() + gap);
            units = Math.min(capacity, units + gap * limit);
            const cost = permits * periodMs;
            const allowed = cost <= units;
            if (allowed) units -= cost;
            const remaining = Math.floor(units / periodMs);
            const a = gcra.take("k", gcraRule, permits);
            const b = bucket.take("k", bucketRule, permits);
            expect([a.allowed, a.remaining]).toEqual([allowed, remaining]);
            expect([b.allowed, b.remaining]).toEqual([allowed, remaining]);
            if (!allowed && permits <= burst) {
              const retry = ((cost - units) * 1) / limit;
              expect(a.retryAfterMs).toBeCloseTo(retry, 6);
              expect(b.retryAfterMs).toBeCloseTo(retry, 6);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("the memory backend's GCRA is gcraDecide on the stored TAT", () => {
    const rule = rateLimitRule({ limit: 3, period: "1s" });
    const clock = new FakeClock();
    const backend = memoryRateLimitBackend({ clock, maxKeys: 10 });
    let tat: number | undefined;
    for (const gap of [0, 0, 10, 0, 400, 1, 0, 2_000]) {
      clock.set(clock.now() + gap);
      const expected = gcraDecide(tat, rule.gcra, 1, clock.now());
      if (expected.decision.allowed) tat = expected.newTat;
      expect(backend.take("k", rule)).toEqual(expected.decision);
    }
  });

  it("tokenBucketDecide reports reset and retry times in milliseconds", () => {
    const rule = rateLimitRule({ algorithm: "token-bucket", limit: 4, period: "1s", burst: 2 });
    const first = tokenBucketDecide(undefined, undefined, rule, 1, 0);
    expect(first).toEqual({
      decision: { allowed: true, limit: 2, remaining: 1, resetAfterMs: 250, retryAfterMs: 0 },
      tokens: 1,
    });
    const refused = tokenBucketDecide(0, 0, rule, 1, 100);
    expect(refused.tokens).toBeUndefined();
    expect(refused.decision).toMatchObject({ allowed: false, remaining: 0 });
    expect(refused.decision.retryAfterMs).toBeCloseTo(150, 9);
    expect(refused.decision.resetAfterMs).toBeCloseTo(400, 9);
  });
});
