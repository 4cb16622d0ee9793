import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigReader } from "../src/config/config-reader.js";
import { ConfigError, RateLimitedError } from "../src/errors.js";
import { type GcraRule, gcraDecide, gcraRule } from "../src/rate-limiter/gcra.js";
import { GcraLimiter, gcraLimiter } from "../src/rate-limiter/gcra-limiter.js";
import { parseGcraLimiterOptions } from "../src/rate-limiter/gcra-limiter-options.js";
import { MemoryRateLimitStore } from "../src/rate-limiter/memory-rate-limit-store.js";
import type { RateDecision, RateLimitStore } from "../src/rate-limiter/rate-limit-store.js";
import type { GcraLimiterEvent } from "../src/rate-limiter/rate-limiter-event.js";
import { FakeClock } from "../src/testing/index.js";

/** Runs requests through gcraDecide the way a store does, keeping the TAT. */
function bucket(rule: GcraRule) {
  let tat: number | undefined;
  return {
    take(now: number, permits = 1): RateDecision {
      const result = gcraDecide(tat, rule, permits, now);
      if (result.decision.allowed) tat = result.newTat;
      return result.decision;
    },
    get tat() {
      return tat;
    },
  };
}

describe("gcraDecide", () => {
  it("gives an idle key burst + 1 permits at once, counting remaining down", () => {
    const rule = gcraRule(10, 1000, 4);
    expect(rule).toEqual({ emissionIntervalMs: 100, burstToleranceMs: 400, limit: 5 });
    const key = bucket(rule);
    const remaining = [1, 2, 3, 4, 5].map(() => key.take(0));
    expect(remaining.map((d) => [d.allowed, d.remaining, d.resetAfterMs])).toEqual([
      [true, 4, 100],
      [true, 3, 200],
      [true, 2, 300],
      [true, 1, 400],
      [true, 0, 500],
    ]);
    expect(key.take(0)).toEqual({
      allowed: false,
      remaining: 0,
      retryAfterMs: 100,
      resetAfterMs: 500,
      limit: 5,
    });
  });

  it("refuses with the exact wait after which the same request is allowed", () => {
    const key = bucket(gcraRule(10, 1000, 4));
    key.take(0, 5);
    expect(key.take(30, 2)).toMatchObject({ allowed: false, retryAfterMs: 170 });
    expect(key.take(199, 2).allowed).toBe(false);
    expect(key.take(200, 2)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it("leaves the TAT unchanged when it refuses", () => {
    const rule = gcraRule(10, 1000, 0);
    const first = gcraDecide(undefined, rule, 1, 0);
    const refused = gcraDecide(first.newTat, rule, 1, 50);
    expect(refused.decision.allowed).toBe(false);
    expect(refused.newTat).toBe(first.newTat);
  });

  it("reports resetAfterMs as the time until the bucket is full again", () => {
    const key = bucket(gcraRule(10, 1000, 4));
    key.take(0, 3);
    expect(key.take(50).resetAfterMs).toBe(350);
    expect(key.take(400)).toMatchObject({ remaining: 4, resetAfterMs: 100 });
  });

  it("treats a TAT in the past as an idle, full bucket", () => {
    const rule = gcraRule(10, 1000, 4);
    expect(gcraDecide(120, rule, 1, 5000).decision).toEqual(gcraDecide(undefined, rule, 1, 5000).decision);
  });

  it("never allows a request for more permits than the limit, and says so with an infinite wait", () => {
    const decision = gcraDecide(undefined, gcraRule(10, 1000, 4), 6, 0).decision;
    expect(decision).toMatchObject({ allowed: false, remaining: 5, retryAfterMs: Number.POSITIVE_INFINITY });
  });

  it("peeks without taking when asked for 0 permits", () => {
    const rule = gcraRule(10, 1000, 4);
    const result = gcraDecide(300, rule, 0, 100);
    expect(result.decision).toMatchObject({ allowed: true, remaining: 3 });
    expect(result.newTat).toBe(300);
  });

  it.each([
    [0, 3, 20],
    [0.1, 3, 20],
    [1_000_000_000.77, 3, 20],
    [12_345.678, 7, 200],
    [5e9, 60, 50],
  ])(
    "gives exactly burst + 1 at once at time %s for rates whose interval doubles cannot hold (rate %s, burst %s)",
    (now, rate, burst) => {
      const key = bucket(gcraRule(rate, 1000, burst));
      let allowed = 0;
      for (let i = 0; i < burst + 5; i++) if (key.take(now).allowed) allowed++;
      expect(allowed).toBe(burst + 1);
    },
  );

  const ruleArb = fc
    .record({
      rate: fc.integer({ min: 1, max: 100 }),
      periodMs: fc.constantFrom(1, 7, 100, 1000, 60_000),
      burst: fc.integer({ min: 0, max: 20 }),
    })
    .map(({ rate, periodMs, burst }) => gcraRule(rate, periodMs, burst));
  const requestsArb = fc.array(
    fc.record({ gap: fc.integer({ min: 0, max: 2000 }), permits: fc.integer({ min: 0, max: 4 }) }),
    { maxLength: 120 },
  );

  it("never allows more than (burst + 1) + t / emissionInterval permits in any interval of length t", () => {
    fc.assert(
      fc.property(ruleArb, fc.integer({ min: 0, max: 1e9 }), requestsArb, (rule, start, requests) => {
        const key = bucket(rule);
        const allowed: { at: number; permits: number }[] = [];
        let now = start;
        for (const request of requests) {
          now += request.gap;
          if (key.take(now, request.permits).allowed) allowed.push({ at: now, permits: request.permits });
        }
        for (let i = 0; i < allowed.length; i++) {
          let permits = 0;
          for (let j = i; j < allowed.length; j++) {
            permits += allowed[j]!.permits;
            const t = allowed[j]!.at - allowed[i]!.at;
            expect(permits).toBeLessThanOrEqual(rule.limit + t / rule.emissionIntervalMs + 1e-9);
          }
        }
      }),
    );
  });

  it("keeps remaining within 0..limit and retryAfterMs at 0 exactly when allowed", () => {
    fc.assert(
      fc.property(ruleArb, requestsArb, (rule, requests) => {
        const key = bucket(rule);
        let now = 0;
        for (const request of requests) {
          now += request.gap;
          const decision = key.take(now, request.permits);
          expect(decision.remaining).toBeGreaterThanOrEqual(0);
          expect(decision.remaining).toBeLessThanOrEqual(rule.limit);
          expect(Number.isInteger(decision.remaining)).toBe(true);
          expect(decision.retryAfterMs === 0).toBe(decision.allowed);
          expect(decision.resetAfterMs).toBeGreaterThanOrEqual(0);
          expect(decision.resetAfterMs).toBeLessThanOrEqual(
            rule.burstToleranceMs + rule.emissionIntervalMs * 1.0001,
          );
        }
      }),
    );
  });

  it("allows a refused request once its retryAfterMs has passed", () => {
    fc.assert(
      fc.property(ruleArb, requestsArb, (rule, requests) => {
        const key = bucket(rule);
        let now = 0;
        for (const request of requests) {
          now += request.gap;
          const decision = key.take(now, request.permits);
          if (!decision.allowed && Number.isFinite(decision.retryAfterMs)) {
            expect(
              gcraDecide(key.tat, rule, request.permits, now + decision.retryAfterMs).decision.allowed,
            ).toBe(true);
          }
        }
      }),
    );
  });
});

function setup(options: { rate?: number; burst?: number; store?: RateLimitStore } = {}) {
  const clock = new FakeClock();
  const limiter = gcraLimiter({
    name: "api",
    rate: options.rate ?? 10,
    period: "1s",
    burst: options.burst ?? 1,
    clock,
    ...(options.store === undefined ? {} : { store: options.store }),
  });
  return { clock, limiter };
}

/** A store that answers through a promise, like a Redis store. */
function asyncStore(): RateLimitStore & { calls: number } {
  const memory = new MemoryRateLimitStore();
  return {
    calls: 0,
    acquire(key, rule, permits, now) {
      this.calls++;
      return Promise.resolve().then(() => memory.acquire(key, rule, permits, now));
    },
  };
}

describe("GcraLimiter", () => {
  it("answers with a plain decision, no promise, from the memory store", () => {
    const { limiter } = setup();
    const decision = limiter.acquire("10.0.0.1");
    expect(decision).not.toBeInstanceOf(Promise);
    expect(decision).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0, resetAfterMs: 100, limit: 2 });
  });

  it("limits each key on its own", () => {
    const { limiter } = setup({ burst: 0 });
    expect((limiter.acquire("a") as RateDecision).allowed).toBe(true);
    expect((limiter.acquire("a") as RateDecision).allowed).toBe(false);
    expect((limiter.acquire("b") as RateDecision).allowed).toBe(true);
  });

  it("lets refused requests consume no capacity", () => {
    const { clock, limiter } = setup({ burst: 0 });
    limiter.acquire("a");
    for (let t = 10; t < 100; t += 10) {
      clock.set(t);
      expect((limiter.acquire("a") as RateDecision).allowed).toBe(false);
    }
    clock.set(100);
    expect((limiter.acquire("a") as RateDecision).allowed).toBe(true);
  });

  it("runs the operation under the context's key, or the key 'default' when it has none", async () => {
    const { limiter } = setup({ burst: 0 });
    await expect(limiter.execute(() => "tenant a", { key: "a" })).resolves.toBe("tenant a");
    await expect(limiter.execute(() => "no key")).resolves.toBe("no key");
    await expect(limiter.execute(() => "tenant b", { key: "b" })).resolves.toBe("tenant b");
    expect((limiter.acquire("default") as RateDecision).allowed).toBe(false);
  });

  it("rejects with RateLimitedError carrying retryAfterMs, without calling the operation", async () => {
    const { clock, limiter } = setup({ burst: 0 });
    await limiter.execute(() => "first");
    clock.set(30);
    let called = false;
    const refused = limiter.execute(() => {
      called = true;
    });
    await expect(refused).rejects.toBeInstanceOf(RateLimitedError);
    await expect(refused).rejects.toMatchObject({ limiter: "api", retryAfterMs: 70 });
    expect(called).toBe(false);
  });

  it("rejects with the reason of an already aborted signal and takes nothing", async () => {
    const { limiter } = setup({ burst: 0 });
    const reason = new Error("gone");
    await expect(limiter.execute(() => "never", { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect((limiter.acquire("default") as RateDecision).allowed).toBe(true);
  });

  it("lets an operation's failure through", async () => {
    const { limiter } = setup();
    const failure = new Error("boom");
    await expect(
      limiter.execute(() => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    await expect(limiter.execute(() => Promise.reject(failure))).rejects.toBe(failure);
  });

  it("returns the promise of an asynchronous store and waits for it in execute", async () => {
    const store = asyncStore();
    const { limiter } = setup({ burst: 0, store });
    const decision = limiter.acquire("a");
    expect(decision).toBeInstanceOf(Promise);
    await expect(decision).resolves.toMatchObject({ allowed: true });
    await expect(limiter.execute(() => "ok", { key: "b" })).resolves.toBe("ok");
    await expect(limiter.execute(() => "refused", { key: "b" })).rejects.toBeInstanceOf(RateLimitedError);
    expect(store.calls).toBe(3);
    expect(limiter.snapshot()).toMatchObject({ allowed: 2, rejected: 1 });
  });

  it("rejects with the signal's reason when it aborts while an asynchronous store answers", async () => {
    const { limiter } = setup({ store: asyncStore() });
    const controller = new AbortController();
    let called = false;
    const call = limiter.execute(
      () => {
        called = true;
      },
      { signal: controller.signal },
    );
    const reason = new Error("gone");
    controller.abort(reason);
    await expect(call).rejects.toBe(reason);
    expect(called).toBe(false);
  });

  it("turns a store's failure into a rejection of execute", async () => {
    const outage = new Error("redis down");
    const { limiter } = setup({
      store: {
        acquire() {
          throw outage;
        },
      },
    });
    await expect(limiter.execute(() => "never")).rejects.toBe(outage);
  });

  it("emits one event per decision and counts them in the snapshot", () => {
    const { limiter } = setup({ burst: 0 });
    const events: GcraLimiterEvent[] = [];
    limiter.events.subscribe((e) => events.push(e));
    limiter.acquire("a");
    limiter.acquire("a");
    expect(events).toEqual([
      { type: "successfulAcquire", name: "api", key: "a", permits: 1, remaining: 0 },
      { type: "failedAcquire", name: "api", key: "a", permits: 1, retryAfterMs: 100 },
    ]);
    expect(limiter.snapshot()).toEqual({ allowed: 1, rejected: 1, limit: 1, emissionIntervalMs: 100 });
  });

  it("refuses permit counts that are not whole numbers of at least 0", () => {
    const { limiter } = setup();
    expect(() => limiter.acquire("a", -1)).toThrow(RangeError);
    expect(() => limiter.acquire("a", 0.5)).toThrow(RangeError);
  });

  it("defaults to a one-second period and a burst that spends one period's quota at once", () => {
    const limiter = new GcraLimiter({ rate: 100, clock: new FakeClock() });
    expect(limiter.name).toBe("default");
    expect(limiter.rule).toEqual({ emissionIntervalMs: 10, burstToleranceMs: 990, limit: 100 });
    expect(new GcraLimiter({ rate: 0.5, clock: new FakeClock() }).rule.limit).toBe(1);
  });

  it("rejects invalid options, naming each path", () => {
    const build = () => gcraLimiter({ rate: 0, period: "0s", burst: 1.5, store: {}, brust: 3 } as never);
    expect(build).toThrow(ConfigError);
    try {
      build();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.path).sort()).toEqual([
        "brust",
        "burst",
        "period",
        "rate",
        "store",
      ]);
    }
  });

  it("parses named instances with paths under the given prefix, rate required", () => {
    const reader = new ConfigReader();
    parseGcraLimiterOptions({ burst: -1 }, reader, "routes.search.rateLimit");
    expect(reader.issues.map((i) => i.path).sort()).toEqual([
      "routes.search.rateLimit.burst",
      "routes.search.rateLimit.rate",
    ]);
  });
});
