import { createLogger } from "@flotilla/observability";
import { configIssues, FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it } from "vitest";
import {
  type SelfPreservation,
  type SelfPreservationOptions,
  selfPreservation,
} from "../src/health/self-preservation.js";

const open: SelfPreservation[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

function setup(options: SelfPreservationOptions = {}) {
  const clock = new FakeClock();
  const changes: boolean[] = [];
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    service: "test",
    instanceId: "t",
    level: "debug",
    pretty: false,
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  const sp = selfPreservation({
    clock,
    wallClock: () => 1_700_000_000_000 + clock.now(),
    logger,
    onChange: (active) => changes.push(active),
    ...options,
  });
  open.push(sp);
  return { clock, sp, changes, lines };
}

describe("SelfPreservation: entering", () => {
  it("suspends expiry when more than half of the leases lapse, logging a warning", () => {
    const { sp, changes, lines } = setup();
    expect(sp.allowExpiry(7, 3)).toBe(false);
    expect(sp.active).toBe(true);
    expect(changes).toEqual([true]);
    expect(lines.filter((l) => l.level === "warn").map((l) => l.msg)).toEqual([
      "self-preservation on: 7 of 10 leases lapsed within 30 s; expiry suspended",
    ]);
    expect(sp.stats()).toEqual({ active: true, lapsesInWindow: 7, since: 1_700_000_000_000 });
  });

  it("allows expiry at exactly the threshold and suspends it just above", () => {
    const at = setup();
    expect(at.sp.allowExpiry(5, 5)).toBe(true);
    expect(at.sp.active).toBe(false);
    expect(at.changes).toEqual([]);
    const above = setup({ threshold: 0.3 });
    expect(above.sp.allowExpiry(3, 7)).toBe(true);
    expect(above.sp.allowExpiry(1, 6)).toBe(false);
  });

  it("never suspends with threshold 1", () => {
    const { sp } = setup({ threshold: 1 });
    expect(sp.allowExpiry(100, 0)).toBe(true);
    expect(sp.active).toBe(false);
  });

  it("ignores registries with fewer than minLeases leases", () => {
    const below = setup();
    expect(below.sp.allowExpiry(4, 0)).toBe(true);
    const at = setup();
    expect(at.sp.allowExpiry(5, 0)).toBe(false);
    const custom = setup({ minLeases: 20 });
    expect(custom.sp.allowExpiry(15, 4)).toBe(true);
    expect(custom.sp.allowExpiry(1, 4)).toBe(false);
  });

  it("adds up lapses across calls within the window", async () => {
    const { sp, clock, changes } = setup();
    expect(sp.allowExpiry(2, 8)).toBe(true);
    await clock.advance(10_000);
    expect(sp.allowExpiry(2, 6)).toBe(true);
    await clock.advance(10_000);
    expect(sp.allowExpiry(2, 4)).toBe(false);
    expect(sp.stats().lapsesInWindow).toBe(6);
    expect(changes).toEqual([true]);
  });

  it("forgets lapses once they leave the window", async () => {
    const { sp, clock } = setup();
    sp.allowExpiry(3, 7);
    await clock.advance(29_000);
    expect(sp.stats().lapsesInWindow).toBe(3);
    await clock.advance(1000);
    expect(sp.stats().lapsesInWindow).toBe(0);
    // 3 fresh lapses of 7 leases: 43 %, not over half.
    expect(sp.allowExpiry(3, 4)).toBe(true);
  });
});

describe("SelfPreservation: leaving", () => {
  it("ends by its timer once below the threshold for exitAfterMs, with no further calls", async () => {
    const { sp, clock, changes, lines } = setup();
    sp.allowExpiry(6, 4);
    expect(clock.pendingTimers).toBe(1);
    // The lapses leave the window at 30 s; the mode ends 30 s (exitAfterMs = windowMs) later.
    await clock.advance(59_999);
    expect(sp.active).toBe(true);
    await clock.advance(1);
    expect(sp.active).toBe(false);
    expect(changes).toEqual([true, false]);
    expect(lines.filter((l) => l.level === "info").map((l) => l.msg)).toEqual([
      "self-preservation off: lease expiry resumed",
    ]);
    expect(clock.pendingTimers).toBe(0);
    expect(sp.stats()).toEqual({ active: false, lapsesInWindow: 0 });
  });

  it("keeps suspending expiry while it waits to leave, then allows it", async () => {
    const { sp, clock } = setup({ exitAfterMs: 5000 });
    sp.allowExpiry(6, 4);
    await clock.advance(30_000);
    expect(sp.stats().lapsesInWindow).toBe(0);
    expect(sp.allowExpiry(0, 10)).toBe(false);
    await clock.advance(4000);
    expect(sp.allowExpiry(1, 10)).toBe(false);
    await clock.advance(1000);
    expect(sp.allowExpiry(1, 10)).toBe(true);
    expect(sp.active).toBe(false);
  });

  it("restarts the exit wait when the share goes over the threshold again", async () => {
    const { sp, clock, changes } = setup({ windowMs: 10_000, exitAfterMs: 10_000 });
    sp.allowExpiry(6, 4);
    await clock.advance(15_000);
    // Below since 10 s; a new burst at 15 s puts it over again.
    expect(sp.allowExpiry(6, 4)).toBe(false);
    await clock.advance(10_000);
    expect(sp.active).toBe(true);
    await clock.advance(10_000);
    expect(sp.active).toBe(false);
    expect(changes).toEqual([true, false]);
  });

  it("leaves at once with exitAfterMs 0 when a call finds the share below the threshold", async () => {
    const { sp, clock, changes } = setup({ exitAfterMs: 0, windowMs: 5000 });
    sp.allowExpiry(6, 4);
    await clock.advance(4000);
    expect(sp.active).toBe(true);
    await clock.advance(1000);
    expect(sp.active).toBe(false);
    expect(changes).toEqual([true, false]);
  });

  it("close stops the exit timer", () => {
    const { sp, clock } = setup();
    sp.allowExpiry(6, 4);
    expect(clock.pendingTimers).toBe(1);
    sp.close();
    expect(clock.pendingTimers).toBe(0);
    sp.allowExpiry(6, 4);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe("SelfPreservation: options and arguments", () => {
  it("refuses bad options naming each path", () => {
    expect(
      configIssues(() =>
        selfPreservation({
          threshold: 0,
          windowMs: 1500,
          minLeases: -1,
          exitAfterMs: -5,
          extra: true,
        } as unknown as SelfPreservationOptions),
      ),
    ).toEqual([
      "extra: unknown option; expected one of clock, wallClock, threshold, windowMs, minLeases, exitAfterMs, logger, onChange",
      "threshold: must be greater than 0, got 0",
      "windowMs: must be whole seconds, got 1500 ms",
      "minLeases: must be at least 0, got -1",
      "exitAfterMs: must be at least 0, got -5",
    ]);
    expect(configIssues(() => selfPreservation({ threshold: 1.2, windowMs: 500 }))).toEqual([
      "threshold: must be at most 1, got 1.2",
      "windowMs: must be at least 1000, got 500",
    ]);
  });

  it("refuses negative or fractional counts", () => {
    const { sp } = setup();
    expect(() => sp.allowExpiry(-1, 3)).toThrow(RangeError);
    expect(() => sp.allowExpiry(1, 2.5)).toThrow(RangeError);
  });

  it("survives an onChange that throws", () => {
    const { sp } = setup({
      onChange: () => {
        throw new Error("boom");
      },
    });
    expect(sp.allowExpiry(6, 4)).toBe(false);
    expect(sp.active).toBe(true);
  });
});
