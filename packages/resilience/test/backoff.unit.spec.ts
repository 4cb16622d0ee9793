import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/errors.js";
import { constantBackoff } from "../src/retry/backoff/constant-backoff.js";
import { decorrelatedJitterBackoff } from "../src/retry/backoff/decorrelated-jitter-backoff.js";
import { exponentialBackoff } from "../src/retry/backoff/exponential-backoff.js";
import { fullJitterBackoff } from "../src/retry/backoff/full-jitter-backoff.js";
import { linearBackoff } from "../src/retry/backoff/linear-backoff.js";

const attempt = fc.integer({ min: 1, max: 10_000 });
const ms = fc.integer({ min: 0, max: 100_000 });
const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

function issuesOf(build: () => unknown): string[] {
  try {
    build();
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

describe("constant backoff", () => {
  it("waits the same delay before every retry, given as options or a duration", () => {
    const fromOptions = constantBackoff({ delay: "250ms" });
    const fromDuration = constantBackoff(40);
    for (const n of [1, 2, 10]) {
      expect(fromOptions(n, undefined, 0)).toBe(250);
      expect(fromDuration(n, undefined, 0)).toBe(40);
    }
    expect(constantBackoff()(1, undefined, 0)).toBe(500);
  });
});

describe("linear backoff", () => {
  it("waits initialDelay + step × (attempt − 1), capped at maxDelay", () => {
    const backoff = linearBackoff({ initialDelay: 100, step: 50, maxDelay: 260 });
    expect([1, 2, 3, 4, 5].map((n) => backoff(n, undefined, 0))).toEqual([100, 150, 200, 250, 260]);
  });

  it("is monotonic and never above its cap (property)", () => {
    fc.assert(
      fc.property(ms, ms, ms, attempt, (initialDelay, step, extra, n) => {
        const maxDelay = initialDelay + extra;
        const backoff = linearBackoff({ initialDelay, step, maxDelay });
        const here = backoff(n, undefined, 0);
        const next = backoff(n + 1, undefined, 0);
        expect(here).toBeGreaterThanOrEqual(Math.min(initialDelay, maxDelay));
        expect(here).toBeLessThanOrEqual(maxDelay);
        expect(next).toBeGreaterThanOrEqual(here);
      }),
    );
  });
});

describe("exponential backoff", () => {
  it("waits initialDelay × multiplier^(attempt − 1), capped at maxDelay", () => {
    const backoff = exponentialBackoff({ initialDelay: "100ms", multiplier: 2, maxDelay: "1s" });
    expect([1, 2, 3, 4, 5].map((n) => backoff(n, undefined, 0))).toEqual([100, 200, 400, 800, 1000]);
  });

  it("stays finite past the point where the power overflows, also from a zero initial delay", () => {
    expect(exponentialBackoff({ initialDelay: 10, multiplier: 10, maxDelay: 5000 })(5000, undefined, 0)).toBe(
      5000,
    );
    expect(exponentialBackoff({ initialDelay: 0, multiplier: 10, maxDelay: 5000 })(5000, undefined, 0)).toBe(
      0,
    );
  });

  it("is monotonic and bounded by [initialDelay, maxDelay] (property)", () => {
    fc.assert(
      fc.property(
        ms,
        fc.double({ min: 1, max: 10, noNaN: true }),
        ms,
        attempt,
        (initialDelay, multiplier, extra, n) => {
          const maxDelay = initialDelay + extra;
          const backoff = exponentialBackoff({ initialDelay, multiplier, maxDelay });
          const here = backoff(n, undefined, 0);
          expect(Number.isFinite(here)).toBe(true);
          expect(here).toBeGreaterThanOrEqual(initialDelay);
          expect(here).toBeLessThanOrEqual(maxDelay);
          expect(backoff(n + 1, undefined, 0)).toBeGreaterThanOrEqual(here);
        },
      ),
    );
  });

  it("rejects a multiplier below 1 and a maxDelay below initialDelay", () => {
    expect(
      issuesOf(() => exponentialBackoff({ initialDelay: "2s", multiplier: 0.5, maxDelay: "1s" })),
    ).toEqual(["multiplier: must be at least 1, got 0.5", "maxDelay: must be at least 2000 ms, got 1000 ms"]);
  });
});

describe("full jitter backoff", () => {
  it("draws uniformly from [0, min(cap, base × multiplier^(attempt − 1))] with the injected random", () => {
    const backoff = fullJitterBackoff({
      initialDelay: 100,
      multiplier: 2,
      maxDelay: 1000,
      random: () => 0.5,
    });
    expect([1, 2, 3, 4, 5].map((n) => backoff(n, undefined, 0))).toEqual([50, 100, 200, 400, 500]);
    expect(fullJitterBackoff({ initialDelay: 100, random: () => 0 })(3, undefined, 0)).toBe(0);
  });

  it("stays within [0, the capped exponential delay] (property)", () => {
    fc.assert(
      fc.property(ms, ms, attempt, unit, (initialDelay, extra, n, r) => {
        const maxDelay = initialDelay + extra;
        const options = { initialDelay, multiplier: 2, maxDelay };
        const ceiling = exponentialBackoff(options)(n, undefined, 0);
        const delay = fullJitterBackoff({ ...options, random: () => r })(n, undefined, 0);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(ceiling);
        expect(delay).toBeLessThanOrEqual(maxDelay);
      }),
    );
  });
});

describe("decorrelated jitter backoff", () => {
  it("waits min(cap, random_between(base, previous × 3)), starting from base", () => {
    const backoff = decorrelatedJitterBackoff({ initialDelay: 100, maxDelay: 1000, random: () => 0.5 });
    // No previous wait yet: the range is [base, base].
    expect(backoff(1, undefined, 0)).toBe(100);
    // Previous 400: halfway between 100 and 1200.
    expect(backoff(2, undefined, 400)).toBe(650);
    expect(backoff(3, undefined, 900)).toBe(1000);
    const top = decorrelatedJitterBackoff({ initialDelay: 100, maxDelay: 10_000, random: () => 0.999 });
    expect(top(2, undefined, 100)).toBeCloseTo(299.8, 6);
  });

  it("stays within [base, cap] whatever the previous wait (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        ms,
        fc.double({ min: 0, max: 1e7, noNaN: true }),
        unit,
        (base, extra, previous, r) => {
          const cap = base + extra;
          const delay = decorrelatedJitterBackoff({ initialDelay: base, maxDelay: cap, random: () => r })(
            2,
            undefined,
            previous,
          );
          expect(delay).toBeGreaterThanOrEqual(base);
          expect(delay).toBeLessThanOrEqual(cap);
          expect(delay).toBeLessThanOrEqual(Math.max(base, previous * 3));
        },
      ),
    );
  });

  it("needs a base above 0, or every wait would be 0", () => {
    expect(issuesOf(() => decorrelatedJitterBackoff({ initialDelay: 0 }))).toEqual([
      "initialDelay: must be longer than 0 ms, got 0 ms",
    ]);
  });
});
