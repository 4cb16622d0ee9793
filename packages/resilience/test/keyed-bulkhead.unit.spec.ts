import { describe, expect, it } from "vitest";
import { keyedBulkhead } from "../src/bulkhead/keyed-bulkhead.js";
import { BulkheadFullError, ConfigError } from "../src/errors.js";
import { FakeClock } from "../src/testing/index.js";
import { deferred } from "./support/deferred.js";

describe("keyed bulkhead", () => {
  it("gives each key its own bulkhead, created on first use from the same options", () => {
    const clock = new FakeClock();
    const policy = keyedBulkhead({ maxConcurrent: 3, maxQueue: 7, maxQueueWait: "1s", name: "deps", clock });
    const payments = policy.get("payments");
    expect(policy.get("payments")).toBe(payments);
    const users = policy.get("users");
    expect(users).not.toBe(payments);
    expect(users).toMatchObject({ name: "deps/users", maxConcurrent: 3, maxQueue: 7, maxQueueWaitMs: 1000 });
    expect(policy.snapshot().keys).toBe(2);
  });

  it("runs a call in the bulkhead of ctx.key", async () => {
    const policy = keyedBulkhead({ maxConcurrent: 1 });
    const gate = deferred<number>();
    const call = policy.execute(() => gate.promise, { key: "payments" });
    expect(policy.get("payments").snapshot().inFlight).toBe(1);
    gate.resolve(5);
    expect(await call).toBe(5);
  });

  it("one saturated key does not affect another", async () => {
    const policy = keyedBulkhead({ maxConcurrent: 1 });
    const gate = deferred<number>();
    const slow = policy.execute(() => gate.promise, { key: "slow" });
    await expect(policy.execute(async () => 1, { key: "slow" })).rejects.toBeInstanceOf(BulkheadFullError);
    expect(await policy.execute(async () => 2, { key: "fast" })).toBe(2);
    expect(await policy.execute(async () => 3, { key: "fast" })).toBe(3);
    gate.resolve(1);
    await slow;
  });

  it("a call without a key is a TypeError that names the fix", async () => {
    const policy = keyedBulkhead({ maxConcurrent: 1, name: "deps" });
    let called = false;
    const run = async () => {
      called = true;
    };
    await expect(policy.execute(run)).rejects.toThrow(TypeError);
    await expect(policy.execute(run, {})).rejects.toThrow(/keyed bulkhead "deps": the call has no key/);
    expect(called).toBe(false);
    expect(policy.snapshot().keys).toBe(0);
  });

  it("evicts idle keys beyond maxKeys, oldest first, and never one with calls in flight or queued", async () => {
    const policy = keyedBulkhead({ maxConcurrent: 1, maxQueue: 1 }, { maxKeys: 2 });
    const a = deferred<number>();
    const busyA = policy.execute(() => a.promise, { key: "a" });
    const b = deferred<number>();
    const runningB = policy.execute(() => b.promise, { key: "b" });
    const queuedB = policy.execute(async () => 0, { key: "b" });
    b.resolve(0);
    await runningB;
    await queuedB;
    // "a" is busy and "b" idle: creating "c" drops "b" only.
    policy.get("c");
    expect(Object.keys(policy.snapshot().byKey)).toEqual(["a", "c"]);
    // Nothing is idle but "c": creating "d" drops "c"; "a" stays although the limit is exceeded.
    const aBulkhead = policy.get("a");
    policy.get("d");
    expect(Object.keys(policy.snapshot().byKey)).toEqual(["a", "d"]);
    expect(policy.get("a")).toBe(aBulkhead);
    const heldD = deferred<number>();
    const busyD = policy.execute(() => heldD.promise, { key: "d" });
    policy.get("e");
    expect(Object.keys(policy.snapshot().byKey)).toEqual(["a", "d", "e"]);
    expect(policy.snapshot().evicted).toBe(2);
    a.resolve(1);
    heldD.resolve(1);
    await Promise.all([busyA, busyD]);
  });

  it("reports a snapshot per key", async () => {
    const policy = keyedBulkhead({ maxConcurrent: 1, maxQueue: 2 });
    const gate = deferred<number>();
    const running = policy.execute(() => gate.promise, { key: "payments" });
    const queued = policy.execute(async () => 2, { key: "payments" });
    await policy.execute(async () => 3, { key: "users" });
    expect(policy.snapshot()).toEqual({
      keys: 2,
      evicted: 0,
      byKey: {
        payments: { inFlight: 1, queued: 1, maxConcurrent: 1, maxQueue: 2, rejected: 0 },
        users: { inFlight: 0, queued: 0, maxConcurrent: 1, maxQueue: 2, rejected: 0 },
      },
    });
    gate.resolve(1);
    await Promise.all([running, queued]);
  });

  it("validates both option objects at construction, with exact paths", () => {
    try {
      keyedBulkhead({ maxConcurrent: 0 }, { maxKeys: 0, max: 1 } as unknown as { maxKeys: number });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual(["maxConcurrent", "max", "maxKeys"]);
    }
  });
});
