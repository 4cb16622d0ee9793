import { describe, expect, it } from "vitest";
import {
  BreakerOpenError,
  ConfigError,
  FlotillaError,
  isBreakerOpenError,
  isFlotillaError,
  parseDuration,
  sleep,
} from "../src/index.js";
import { FakeClock } from "../src/testing/index.js";

describe("parseDuration", () => {
  it.each([
    [250, 250],
    ["250ms", 250],
    ["5s", 5000],
    ["1m30s", 90_000],
    ["1.5s", 1500],
    ["2h", 7_200_000],
    ["40", 40],
  ])("reads %s as %s ms", (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([[-1], [Number.NaN], ["5 parsecs"], [""], ["s"], ["1x"], ["ms5"]])("refuses %s", (input) => {
    expect(() => parseDuration(input as string)).toThrow(TypeError);
  });
});

describe("errors", () => {
  it("are recognised by code across duplicate package copies", () => {
    const foreign = Object.assign(new Error("open"), { code: "FLT_BREAKER_OPEN" });
    Object.defineProperty(foreign, Symbol.for("flotilla.error"), { value: true });
    expect(isBreakerOpenError(foreign)).toBe(true);
    expect(foreign instanceof BreakerOpenError).toBe(true);
    expect(foreign instanceof FlotillaError).toBe(true);
    expect(new ConfigError([]) instanceof BreakerOpenError).toBe(false);
    expect(isFlotillaError(new Error("plain"))).toBe(false);
  });

  it("carry the state and the time of the next attempt", () => {
    const error = new BreakerOpenError("payments", "OPEN", 1500);
    expect(error.code).toBe("FLT_BREAKER_OPEN");
    expect(error.message).toContain("payments");
    expect(error.retryAfterMs).toBe(1500);
  });
});

describe("FakeClock and sleep", () => {
  it("resolves a sleep only when time reaches it", async () => {
    const clock = new FakeClock();
    let done = false;
    const wait = sleep(100, clock).then(() => {
      done = true;
    });
    await clock.advance(99);
    expect(done).toBe(false);
    await clock.advance(1);
    await wait;
    expect(done).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it("rejects a sleep with the signal's reason and clears its timer", async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const wait = sleep(1000, clock, controller.signal);
    controller.abort(new Error("caller gave up"));
    await expect(wait).rejects.toThrow("caller gave up");
    expect(clock.pendingTimers).toBe(0);
  });
});
