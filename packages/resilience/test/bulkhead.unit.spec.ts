import { getEventListeners } from "node:events";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Bulkhead, bulkhead } from "../src/bulkhead/bulkhead.js";
import type { BulkheadEvent } from "../src/bulkhead/bulkhead-event.js";
import { parseBulkheadOptions } from "../src/bulkhead/bulkhead-options.js";
import { ConfigReader } from "../src/config/config-reader.js";
import { BulkheadFullError, BulkheadQueueTimeoutError, ConfigError } from "../src/errors.js";
import { FakeClock } from "../src/testing/index.js";
import { deferred } from "./support/deferred.js";
import { outcome } from "./support/outcome.js";

/** Occupies a slot of `policy` until the returned `release` is called. */
function occupy(policy: Bulkhead, started?: string[], label?: string) {
  const gate = deferred<string>();
  const result = policy.execute(() => {
    if (started && label) started.push(label);
    return gate.promise;
  });
  return { result, release: () => gate.resolve(label ?? "") };
}

function recordEvents(policy: Bulkhead): BulkheadEvent[] {
  const events: BulkheadEvent[] = [];
  policy.events.subscribe((e) => events.push(e));
  return events;
}

describe("bulkhead", () => {
  it("runs a call at once while a slot is free", async () => {
    const policy = bulkhead({ maxConcurrent: 2 });
    const started: string[] = [];
    const a = occupy(policy, started, "a");
    const b = occupy(policy, started, "b");
    expect(started).toEqual(["a", "b"]);
    expect(policy.snapshot()).toMatchObject({ inFlight: 2, queued: 0 });
    a.release();
    b.release();
    expect(await Promise.all([a.result, b.result])).toEqual(["a", "b"]);
    expect(policy.snapshot()).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it("beyond maxQueue waiting calls, a call fails at once with BulkheadFullError", async () => {
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 1, name: "payments" });
    const running = occupy(policy);
    const queued = outcome(policy.execute(async () => "queued"));
    let called = false;
    await expect(
      policy.execute(async () => {
        called = true;
      }),
    ).rejects.toSatisfy((e) => e instanceof BulkheadFullError && e.bulkhead === "payments");
    expect(called).toBe(false);
    expect(policy.snapshot()).toEqual({ inFlight: 1, queued: 1, maxConcurrent: 1, maxQueue: 1, rejected: 1 });
    running.release();
    await running.result;
    await new Promise((r) => setImmediate(r));
    expect(queued.value).toBe("queued");
  });

  it("with the default maxQueue of 0, a call that finds no free slot fails at once", async () => {
    const policy = bulkhead({ maxConcurrent: 1 });
    const running = occupy(policy);
    await expect(policy.execute(async () => 1)).rejects.toBeInstanceOf(BulkheadFullError);
    running.release();
    await running.result;
    expect(await policy.execute(async () => 2)).toBe(2);
  });

  it("passes a freed slot to the waiters in FIFO order", async () => {
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 10 });
    const started: string[] = [];
    const gates = new Map<string, ReturnType<typeof deferred<string>>>();
    const call = (label: string) => {
      const gate = deferred<string>();
      gates.set(label, gate);
      return policy.execute(() => {
        started.push(label);
        return gate.promise;
      });
    };
    const results = ["a", "b", "c", "d", "e"].map(call);
    expect(started).toEqual(["a"]);
    expect(policy.snapshot()).toMatchObject({ inFlight: 1, queued: 4 });
    for (const label of ["a", "b", "c", "d", "e"]) {
      gates.get(label)!.resolve(label);
      await new Promise((r) => setImmediate(r));
    }
    expect(started).toEqual(["a", "b", "c", "d", "e"]);
    expect(await Promise.all(results)).toEqual(["a", "b", "c", "d", "e"]);
    expect(policy.snapshot()).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it("a waiter not started within maxQueueWait fails with BulkheadQueueTimeoutError, all waiters sharing one timer", async () => {
    const clock = new FakeClock();
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 5, maxQueueWait: "1s", clock });
    const events = recordEvents(policy);
    const running = occupy(policy);
    const first = outcome(policy.execute(async () => 1));
    await clock.advance(400);
    const second = outcome(policy.execute(async () => 2));
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(599);
    expect(first.settled).toBe(false);
    await clock.advance(1);
    expect(first.error).toBeInstanceOf(BulkheadQueueTimeoutError);
    expect(second.settled).toBe(false);
    await clock.advance(399);
    expect(second.settled).toBe(false);
    await clock.advance(1);
    expect(second.error).toBeInstanceOf(BulkheadQueueTimeoutError);
    expect(policy.snapshot()).toMatchObject({ inFlight: 1, queued: 0, rejected: 2 });
    expect(events.filter((e) => e.type === "callRejected")).toEqual([
      { type: "callRejected", name: "default", reason: "queueTimeout" },
      { type: "callRejected", name: "default", reason: "queueTimeout" },
    ]);
    expect(clock.pendingTimers).toBe(0);
    running.release();
    await running.result;
  });

  it("sets no timer at all without maxQueueWait", async () => {
    const clock = new FakeClock();
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 5, clock });
    const running = occupy(policy);
    const waiting = [policy.execute(async () => 1), policy.execute(async () => 2)];
    expect(clock.pendingTimers).toBe(0);
    running.release();
    expect(await Promise.all(waiting)).toEqual([1, 2]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("a waiter whose signal aborts leaves the queue at once and rejects with the signal's reason", async () => {
    const clock = new FakeClock();
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 3, maxQueueWait: 1000, clock });
    const started: string[] = [];
    const running = occupy(policy, started, "a");
    const controller = new AbortController();
    const b = outcome(policy.execute(async () => started.push("b"), { signal: controller.signal }));
    const c = policy.execute(async () => started.push("c"));
    expect(policy.snapshot().queued).toBe(2);
    const reason = new Error("caller gave up");
    controller.abort(reason);
    expect(policy.snapshot().queued).toBe(1);
    await clock.flush();
    expect(b.error).toBe(reason);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    expect(policy.snapshot().rejected).toBe(0);
    running.release();
    await c;
    expect(started).toEqual(["a", "c"]);
    await clock.advance(1000);
    expect(clock.pendingTimers).toBe(0);
  });

  it("a started waiter stops listening to its signal", async () => {
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const running = occupy(policy);
    const { signal } = new AbortController();
    const waiting = policy.execute(async () => 1, { signal });
    expect(getEventListeners(signal, "abort")).toHaveLength(1);
    running.release();
    expect(await waiting).toBe(1);
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });

  it("an already aborted signal rejects with its reason without taking a slot", async () => {
    const policy = bulkhead({ maxConcurrent: 1 });
    const controller = new AbortController();
    const reason = new Error("gone");
    controller.abort(reason);
    let called = false;
    await expect(
      policy.execute(
        async () => {
          called = true;
        },
        { signal: controller.signal },
      ),
    ).rejects.toBe(reason);
    expect(called).toBe(false);
    expect(policy.snapshot()).toMatchObject({ inFlight: 0, rejected: 0 });
  });

  it("an operation that fails, throws synchronously or returns a plain value gives its slot back", async () => {
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 2 });
    const failure = new Error("down");
    await expect(policy.execute(() => Promise.reject(failure))).rejects.toBe(failure);
    await expect(
      policy.execute(() => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await policy.execute(() => 3)).toBe(3);
    const running = occupy(policy);
    const throwing = policy.execute(() => {
      throw failure;
    });
    const plain = policy.execute(() => 4);
    running.release();
    await expect(throwing).rejects.toBe(failure);
    expect(await plain).toBe(4);
    expect(policy.snapshot()).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it("hands the slot on through a long queue of synchronous operations without growing the stack", async () => {
    const n = 50_000;
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: n });
    const running = occupy(policy);
    const waiting = Array.from({ length: n }, (_, i) => policy.execute(() => i));
    running.release();
    const values = await Promise.all(waiting);
    expect(values[n - 1]).toBe(n - 1);
    expect(policy.snapshot()).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it("reports callPermitted, callRejected and callFinished events", async () => {
    const clock = new FakeClock();
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 1, name: "db", clock });
    const events = recordEvents(policy);
    const running = occupy(policy);
    const queued = policy.execute(async () => 1);
    await expect(policy.execute(async () => 2)).rejects.toBeInstanceOf(BulkheadFullError);
    await clock.advance(25);
    running.release();
    await queued;
    expect(events).toEqual([
      { type: "callPermitted", name: "db", waitedMs: 0 },
      { type: "callRejected", name: "db", reason: "full" },
      { type: "callFinished", name: "db" },
      { type: "callPermitted", name: "db", waitedMs: 25 },
      { type: "callFinished", name: "db" },
    ]);
  });

  it("never runs more than maxConcurrent calls, starts accepted calls in arrival order and refuses only when the queue is full", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(
          fc.record({ gap: fc.integer({ min: 0, max: 20 }), takes: fc.integer({ min: 1, max: 60 }) }),
          {
            minLength: 1,
            maxLength: 25,
          },
        ),
        async (maxConcurrent, maxQueue, calls) => {
          const clock = new FakeClock();
          const policy = bulkhead({ maxConcurrent, maxQueue, clock });
          let running = 0;
          let peak = 0;
          const started: number[] = [];
          const accepted: number[] = [];
          const all: Promise<unknown>[] = [];
          for (const [i, { gap, takes }] of calls.entries()) {
            await clock.advance(gap);
            const waiting = accepted.length - started.length;
            const shouldRefuse = running === maxConcurrent && waiting === maxQueue;
            const result = policy.execute(
              () =>
                new Promise<void>((resolve) => {
                  started.push(i);
                  running++;
                  peak = Math.max(peak, running);
                  clock.setTimeout(() => {
                    running--;
                    resolve();
                  }, takes);
                }),
            );
            all.push(
              result.then(
                () => expect(shouldRefuse).toBe(false),
                (error: unknown) => {
                  expect(shouldRefuse).toBe(true);
                  expect(error).toBeInstanceOf(BulkheadFullError);
                },
              ),
            );
            if (!shouldRefuse) accepted.push(i);
          }
          await clock.advance(60 * calls.length);
          await Promise.all(all);
          expect(peak).toBeLessThanOrEqual(maxConcurrent);
          expect(started).toEqual(accepted);
          expect(policy.snapshot()).toMatchObject({ inFlight: 0, queued: 0 });
        },
      ),
      { numRuns: 150 },
    );
  });

  it("validates its options with exact paths and rejects unknown keys", () => {
    const bad = () =>
      bulkhead({ maxConcurrent: 0, maxQueue: 1.5, maxQueueWait: "0ms", maxWait: 3 } as unknown as Parameters<
        typeof bulkhead
      >[0]);
    expect(bad).toThrow(ConfigError);
    try {
      bad();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
        expect.stringMatching(/^maxWait: unknown option/),
        "maxConcurrent: must be at least 1, got 0",
        "maxQueue: expected a whole number, got 1.5",
        "maxQueueWait: must be longer than 0 ms, got 0 ms",
      ]);
    }
    expect(() => bulkhead({} as Parameters<typeof bulkhead>[0])).toThrow(/maxConcurrent: required/);
  });

  it("parseBulkheadOptions reports problems under the given path and resolves durations", () => {
    const reader = new ConfigReader();
    const resolved = parseBulkheadOptions(
      { maxConcurrent: 4, maxQueueWait: "250ms" },
      reader,
      "bulkhead.instances.db",
    );
    expect(reader.issues).toEqual([]);
    expect(resolved).toMatchObject({ name: "default", maxConcurrent: 4, maxQueue: 0, maxQueueWaitMs: 250 });
    parseBulkheadOptions({ maxConcurrent: "4", maxQueue: -1 }, reader, "bulkhead.instances.db");
    expect(reader.issues.map((i) => i.path)).toEqual([
      "bulkhead.instances.db.maxConcurrent",
      "bulkhead.instances.db.maxQueue",
    ]);
  });
});
