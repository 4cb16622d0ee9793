import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/errors.js";
import { RetryBudget, retryBudget } from "../src/retry/retry-budget.js";
import { FakeClock } from "../src/testing/index.js";

function withdrawals(budget: RetryBudget, tries: number): number {
  let granted = 0;
  for (let i = 0; i < tries; i++) if (budget.tryWithdraw()) granted++;
  return granted;
}

describe("RetryBudget", () => {
  it("always allows minRetriesPerSecond for every second of the window, even with no traffic", () => {
    const budget = retryBudget({ clock: new FakeClock(), minRetriesPerSecond: 10, window: "10s" });
    expect(withdrawals(budget, 150)).toBe(100);
    expect(budget.snapshot()).toEqual({ requests: 0, retries: 100, available: 0 });
  });

  it("allows at most ratio retries per recent request on top of that reserve", () => {
    const budget = retryBudget({ clock: new FakeClock(), ratio: 0.2, minRetriesPerSecond: 0 });
    for (let i = 0; i < 100; i++) budget.deposit();
    expect(withdrawals(budget, 50)).toBe(20);
    budget.deposit();
    budget.deposit();
    budget.deposit();
    budget.deposit();
    budget.deposit();
    expect(withdrawals(budget, 5)).toBe(1);
  });

  it("does not refuse the last retry of a ratio that floating point rounds down", () => {
    const budget = retryBudget({ clock: new FakeClock(), ratio: 0.29, minRetriesPerSecond: 0 });
    for (let i = 0; i < 100; i++) budget.deposit();
    expect(withdrawals(budget, 40)).toBe(29);
  });

  it("forgets requests and retries once they leave the window, second by second", async () => {
    const clock = new FakeClock();
    const budget = retryBudget({ clock, ratio: 1, minRetriesPerSecond: 0, window: "3s" });
    budget.deposit(); // second 0
    await clock.advance(1000);
    budget.deposit(); // second 1
    expect(withdrawals(budget, 5)).toBe(2);
    await clock.advance(2000); // second 3: second 0 has left the window, second 1 has not
    expect(budget.snapshot()).toEqual({ requests: 1, retries: 2, available: 0 });
    await clock.advance(1000); // second 4: everything from second 1 is gone
    expect(budget.snapshot()).toEqual({ requests: 0, retries: 0, available: 0 });
    budget.deposit();
    expect(withdrawals(budget, 5)).toBe(1);
  });

  it("starts afresh after an idle gap longer than the window", () => {
    const clock = new FakeClock();
    const budget = retryBudget({ clock, ratio: 0, minRetriesPerSecond: 1, window: "2s" });
    expect(withdrawals(budget, 5)).toBe(2);
    clock.set(1e12);
    expect(withdrawals(budget, 5)).toBe(2);
  });

  it("matches a model that remembers every event, for any sequence of requests, retries and pauses (property)", () => {
    const step = fc.oneof(
      fc.constant({ kind: "deposit" as const }),
      fc.constant({ kind: "withdraw" as const }),
      fc.integer({ min: 1, max: 4000 }).map((ms) => ({ kind: "wait" as const, ms })),
    );
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 300 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom(0, 0.1, 0.2, 0.5, 1, 2),
        (steps, seconds, minRetriesPerSecond, ratio) => {
          const clock = new FakeClock();
          const budget = new RetryBudget({ clock, ratio, minRetriesPerSecond, window: seconds * 1000 });
          const requests: number[] = [];
          const retries: number[] = [];
          for (const s of steps) {
            if (s.kind === "wait") {
              clock.set(clock.now() + s.ms);
              continue;
            }
            const second = Math.floor(clock.now() / 1000);
            const inWindow = (at: number) => at > second - seconds;
            if (s.kind === "deposit") {
              budget.deposit();
              requests.push(second);
            } else {
              const allowed =
                retries.filter(inWindow).length + 1 <=
                minRetriesPerSecond * seconds + ratio * requests.filter(inWindow).length + 1e-9;
              expect(budget.tryWithdraw()).toBe(allowed);
              if (allowed) retries.push(second);
            }
          }
        },
      ),
    );
  });

  it("validates its options with the path of each problem", () => {
    try {
      new RetryBudget({ ratio: -1, minRetriesPerSecond: -2, window: "1500ms" });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual([
        "ratio",
        "minRetriesPerSecond",
        "window",
      ]);
    }
    expect(() => new RetryBudget({ window: "2m" })).toThrow(/window: must be at most 60000 ms/);
    expect(() => new RetryBudget({ windw: "2s" } as never)).toThrow(/windw: unknown option/);
  });
});
