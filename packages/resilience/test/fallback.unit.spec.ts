import { describe, expect, expectTypeOf, it, vi } from "vitest";
import { ConfigReader } from "../src/config/config-reader.js";
import { Fallback, fallback } from "../src/fallback/fallback.js";
import type { FallbackEvent } from "../src/fallback/fallback-event.js";
import { parseFallbackOptions } from "../src/fallback/fallback-options.js";
import { isPending, type LaterQueue, type PendingMarker } from "../src/fallback/pending.js";
import { pipeline } from "../src/pipeline.js";
import type { Policy, PolicyContext } from "../src/policy-context.js";
import { configIssues, FakeClock } from "../src/testing/index.js";

const boom = new Error("boom");
const fails = (): Promise<never> => Promise.reject(boom);

function record(policy: { events: { subscribe(l: (e: FallbackEvent) => void): unknown } }): FallbackEvent[] {
  const events: FallbackEvent[] = [];
  policy.events.subscribe((e) => events.push(e));
  return events;
}

function queue(ids: string[] = ["job-1"]): LaterQueue & { jobs: unknown[] } {
  const jobs: unknown[] = [];
  return {
    jobs,
    enqueue(job) {
      jobs.push(job);
      return Promise.resolve(ids[jobs.length - 1]!);
    },
  };
}

describe("fallback", () => {
  describe("success", () => {
    it("returns the operation's result and uses no strategy", async () => {
      const handler = vi.fn(() => "substitute");
      const policy = fallback({ handler });
      const events = record(policy);
      await expect(policy.execute(() => Promise.resolve("real"))).resolves.toBe("real");
      await expect(policy.execute(() => "sync")).resolves.toBe("sync");
      expect(handler).not.toHaveBeenCalled();
      expect(events).toEqual([
        { type: "success", name: "default" },
        { type: "success", name: "default" },
      ]);
      expect(policy.snapshot()).toMatchObject({ calls: 2, successes: 2, failures: 0 });
    });

    it("passes the caller's context to the operation untouched", async () => {
      const policy = fallback({ value: 0 });
      const context: PolicyContext = { key: "k", attempt: 3 };
      let seen: PolicyContext | undefined;
      await policy.execute((ctx) => {
        seen = ctx;
        return 1;
      }, context);
      expect(seen).toBe(context);
    });
  });

  describe("value strategy", () => {
    it("returns the value when the operation rejects", async () => {
      const policy = fallback({ value: [] });
      await expect(policy.execute(fails)).resolves.toEqual([]);
    });

    it("returns the value when the operation throws synchronously", async () => {
      const policy = fallback({ value: "v" });
      await expect(
        policy.execute(() => {
          throw boom;
        }),
      ).resolves.toBe("v");
    });

    it("counts undefined as a value when the key is present", async () => {
      const policy = fallback({ value: undefined });
      await expect(policy.execute(fails)).resolves.toBeUndefined();
      expect(policy.snapshot().fallbacks.value).toBe(1);
    });

    it("emits a fallback event naming the strategy and the error", async () => {
      const policy = fallback({ name: "recs", value: [] });
      const events = record(policy);
      await policy.execute(fails);
      expect(events).toEqual([{ type: "fallback", name: "recs", strategy: "value", error: boom }]);
    });
  });

  describe("handler strategy", () => {
    it("computes the result from the error and the context", async () => {
      const policy = fallback({ handler: (error, ctx) => `${(error as Error).message} for ${ctx.key}` });
      await expect(policy.execute(fails, { key: "u1" })).resolves.toBe("boom for u1");
    });

    it("may be async", async () => {
      const policy = fallback({ handler: async () => "later" });
      await expect(policy.execute(fails)).resolves.toBe("later");
      expect(policy.snapshot().fallbacks.handler).toBe(1);
    });

    it("throws an AggregateError of the original error and the handler's when the handler fails", async () => {
      const handlerError = new Error("handler broke");
      const policy = fallback({
        handler: () => {
          throw handlerError;
        },
      });
      const error = await policy.execute(fails).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AggregateError);
      expect((error as AggregateError).errors).toEqual([boom, handlerError]);
      expect((error as AggregateError).cause).toBe(boom);
      expect(policy.snapshot().failures).toBe(1);
    });
  });

  describe("alternative strategy", () => {
    it("calls the alternative operation with the context and the error", async () => {
      const alternative = vi.fn((_ctx: PolicyContext, _error: unknown) => Promise.resolve("replica"));
      const policy = fallback({ alternative });
      const context = { key: "k" };
      await expect(policy.execute(fails, context)).resolves.toBe("replica");
      expect(alternative).toHaveBeenCalledWith(context, boom);
      expect(policy.snapshot().fallbacks.alternative).toBe(1);
    });

    it("throws an AggregateError keeping both errors when the alternative also fails", async () => {
      const replicaDown = new Error("replica down");
      const policy = fallback({ name: "users", alternative: () => Promise.reject(replicaDown) });
      const events = record(policy);
      const error = (await policy.execute(fails).catch((e: unknown) => e)) as AggregateError;
      expect(error).toBeInstanceOf(AggregateError);
      expect(error.errors).toEqual([boom, replicaDown]);
      expect(error.cause).toBe(boom);
      expect(error.message).toContain('"users"');
      expect(error.message).toContain("alternative");
      expect(events).toEqual([{ type: "failure", name: "users", error }]);
    });

    it("refuses handler and alternative together", () => {
      expect(configIssues(() => fallback({ handler: () => 1, alternative: () => 2 }))).toEqual([
        "alternative: give either handler or alternative, not both",
      ]);
    });
  });

  describe("stale cache strategy", () => {
    it("returns the last successful result for the key while it is younger than ttl", async () => {
      const clock = new FakeClock();
      const policy = fallback({ clock, staleCache: { ttl: "5m" } });
      const events = record(policy);
      await policy.execute(() => "a1", { key: "a" });
      await clock.advance(1000);
      await policy.execute(() => "a2", { key: "a" });
      await clock.advance(299_999);
      await expect(policy.execute(fails, { key: "a" })).resolves.toBe("a2");
      expect(events.at(-1)).toEqual({
        type: "fallback",
        name: "default",
        strategy: "staleCache",
        error: boom,
        ageMs: 299_999,
      });
    });

    it("rethrows the original error once the result is ttl old", async () => {
      const clock = new FakeClock();
      const policy = fallback({ clock, staleCache: { ttl: "5m" } });
      await policy.execute(() => "a1", { key: "a" });
      await clock.advance(300_000);
      await expect(policy.execute(fails, { key: "a" })).rejects.toBe(boom);
      expect(policy.snapshot()).toMatchObject({ failures: 1, fallbacks: { staleCache: 0 } });
    });

    it("keeps one entry per key", async () => {
      const clock = new FakeClock();
      const policy = fallback({ clock, staleCache: { ttl: "1m" } });
      await policy.execute(() => "for a", { key: "a" });
      await policy.execute(() => "for b", { key: "b" });
      await expect(policy.execute(fails, { key: "a" })).resolves.toBe("for a");
      await expect(policy.execute(fails, { key: "b" })).resolves.toBe("for b");
      await expect(policy.execute(fails, { key: "c" })).rejects.toBe(boom);
    });

    it("shares one default entry among calls without a key", async () => {
      const clock = new FakeClock();
      const policy = fallback({ clock, staleCache: { ttl: "1m" } });
      await policy.execute(() => "keyless");
      await expect(policy.execute(fails)).resolves.toBe("keyless");
      await expect(policy.execute(fails, { key: "" })).rejects.toBe(boom);
    });

    it("does not store a result that handleResult rejects", async () => {
      const clock = new FakeClock();
      const policy = fallback({ clock, staleCache: { ttl: "1m" }, handleResult: (v) => v === "bad" });
      await policy.execute(() => "good");
      await expect(policy.execute(() => "bad")).resolves.toBe("good");
      await expect(policy.execute(fails)).resolves.toBe("good");
    });

    it("exposes the cache so that a key can be dropped", async () => {
      const policy = fallback({ clock: new FakeClock(), staleCache: { ttl: "1m" } });
      await policy.execute(() => "old", { key: "a" });
      policy.staleCache!.delete("a");
      await expect(policy.execute(fails, { key: "a" })).rejects.toBe(boom);
    });

    it("reports a bad ttl at its path", () => {
      expect(configIssues(() => fallback({ staleCache: { ttl: "soon" } }))).toEqual([
        'staleCache.ttl: expected a duration such as "250ms", "5s", "1m30s" or milliseconds, got "soon"',
      ]);
      expect(configIssues(() => fallback({ staleCache: { ttl: 0 } }))).toEqual([
        "staleCache.ttl: must be longer than 0 ms, got 0 ms",
      ]);
    });
  });

  describe("later strategy", () => {
    it("enqueues the job built from the context and the error and returns a pending marker", async () => {
      const clock = new FakeClock(5000);
      const outbox = queue(["job-7"]);
      const policy = fallback({
        clock,
        later: { queue: outbox, job: (ctx, error) => ({ key: ctx.key, error }) },
      });
      const events = record(policy);
      const result = await policy.execute(fails, { key: "order-1" });
      expect(outbox.jobs).toEqual([{ key: "order-1", error: boom }]);
      expect(isPending(result)).toBe(true);
      expect(result).toEqual({ pending: true, id: "job-7", queuedAt: 5000 });
      expect(events).toEqual([
        { type: "fallback", name: "default", strategy: "later", error: boom, id: "job-7" },
      ]);
    });

    it("accepts a queue whose enqueue is synchronous", async () => {
      const policy = fallback({ later: { queue: { enqueue: () => "sync-id" }, job: () => "job" } });
      const result = await policy.execute(fails);
      expect(isPending(result) && result.id).toBe("sync-id");
    });

    it("throws an AggregateError of the original error and the enqueue error when the queue refuses", async () => {
      const full = new Error("queue full");
      const policy = fallback({
        later: { queue: { enqueue: () => Promise.reject(full) }, job: () => "job" },
      });
      const error = (await policy.execute(fails).catch((e: unknown) => e)) as AggregateError;
      expect(error).toBeInstanceOf(AggregateError);
      expect(error.errors).toEqual([boom, full]);
      expect(error.cause).toBe(boom);
      expect(boom.cause).toBeUndefined();
    });

    it("does not take a result with pending: true for a pending marker", () => {
      expect(isPending({ pending: true, id: "x", queuedAt: 0 })).toBe(false);
      expect(isPending(null)).toBe(false);
    });

    it("reports a queue without enqueue and a missing job at their paths", () => {
      expect(configIssues(() => fallback({ later: { queue: {} as LaterQueue } as never }))).toEqual([
        "later.queue: expected an object with an enqueue(job) method",
        "later.job: required: a function (context, error) => job",
      ]);
    });
  });

  describe("order of strategies", () => {
    it("tries staleCache, then handler, then later, then value", async () => {
      const clock = new FakeClock();
      const calls: string[] = [];
      const policy = fallback({
        clock,
        staleCache: { ttl: "1m" },
        handler: () => {
          calls.push("handler");
          throw new Error("no handler answer");
        },
        later: {
          queue: {
            enqueue: () => {
              calls.push("later");
              return Promise.reject(new Error("no queue"));
            },
          },
          job: () => "job",
        },
        value: "constant",
      });
      await policy.execute(() => "cached", { key: "hit" });
      await expect(policy.execute(fails, { key: "hit" })).resolves.toBe("cached");
      expect(calls).toEqual([]);
      await expect(policy.execute(fails, { key: "miss" })).resolves.toBe("constant");
      expect(calls).toEqual(["handler", "later"]);
      expect(policy.snapshot().fallbacks).toEqual({
        staleCache: 1,
        handler: 0,
        alternative: 0,
        later: 0,
        value: 1,
      });
    });

    it("stops at the first strategy that produces a result", async () => {
      const enqueue = vi.fn(() => "id");
      const policy = fallback({
        alternative: () => "alt",
        later: { queue: { enqueue }, job: () => 1 },
        value: 0,
      });
      await expect(policy.execute(fails)).resolves.toBe("alt");
      expect(enqueue).not.toHaveBeenCalled();
    });

    it("names every failed strategy in the AggregateError", async () => {
      const altError = new Error("alt");
      const queueError = new Error("queue");
      const policy = fallback({
        alternative: () => Promise.reject(altError),
        later: { queue: { enqueue: () => Promise.reject(queueError) }, job: () => 1 },
      });
      const error = (await policy.execute(fails).catch((e: unknown) => e)) as AggregateError;
      expect(error.errors).toEqual([boom, altError, queueError]);
      expect(error.message).toContain("(alternative, later)");
    });
  });

  describe("which failures fall back", () => {
    it("rethrows untouched an error that handle declines", async () => {
      const policy = fallback({ value: "v", handle: (e) => e !== boom });
      await expect(policy.execute(fails)).rejects.toBe(boom);
      await expect(policy.execute(() => Promise.reject(new Error("other")))).resolves.toBe("v");
      expect(policy.snapshot()).toMatchObject({ unhandled: 1, failures: 0, fallbacks: { value: 1 } });
    });

    it("treats a value that handleResult rejects as a failure", async () => {
      const handler = vi.fn((rejected: unknown) => ({ status: 200, from: rejected }));
      const policy = fallback({ handleResult: (r) => (r as { status: number }).status >= 500, handler });
      await expect(policy.execute(() => Promise.resolve({ status: 503 }))).resolves.toEqual({
        status: 200,
        from: { status: 503 },
      });
      await expect(policy.execute(() => ({ status: 200 }))).resolves.toEqual({ status: 200 });
      expect(handler).toHaveBeenCalledTimes(1);
    });

    it("returns a rejected value as it was when no strategy produces a result", async () => {
      const policy = fallback({
        clock: new FakeClock(),
        staleCache: { ttl: "1m" },
        handleResult: (r) => r === 503,
      });
      await expect(policy.execute(() => Promise.resolve(503))).resolves.toBe(503);
      expect(policy.snapshot()).toMatchObject({ successes: 0, failures: 1 });
    });
  });

  describe("caller abort", () => {
    it("rejects with the signal's reason without calling the operation when already aborted", async () => {
      const controller = new AbortController();
      const reason = new Error("caller left");
      controller.abort(reason);
      const operation = vi.fn(() => "x");
      const policy = fallback({ value: "v" });
      await expect(policy.execute(operation, { signal: controller.signal })).rejects.toBe(reason);
      expect(operation).not.toHaveBeenCalled();
      expect(policy.snapshot().calls).toBe(0);
    });

    it("rejects with the signal's reason instead of falling back when the caller aborts during the call", async () => {
      const controller = new AbortController();
      const reason = new Error("caller left");
      const policy = fallback({ value: "v" });
      const result = policy.execute(
        ({ signal }) =>
          new Promise((_, reject) => signal!.addEventListener("abort", () => reject(new Error("aborted")))),
        { signal: controller.signal },
      );
      controller.abort(reason);
      await expect(result).rejects.toBe(reason);
      expect(policy.snapshot()).toMatchObject({ cancelled: 1, failures: 0, fallbacks: { value: 0 } });
    });

    it("rejects with the signal's reason when the caller aborts during the alternative", async () => {
      const controller = new AbortController();
      const reason = new Error("caller left");
      let alternativeStarted!: () => void;
      const started = new Promise<void>((resolve) => {
        alternativeStarted = resolve;
      });
      const policy = fallback({
        alternative: ({ signal }) => {
          alternativeStarted();
          return new Promise((_, reject) =>
            signal!.addEventListener("abort", () => reject(new Error("alt aborted"))),
          );
        },
      });
      const result = policy.execute(fails, { signal: controller.signal });
      await started;
      controller.abort(reason);
      await expect(result).rejects.toBe(reason);
      expect(policy.snapshot()).toMatchObject({ cancelled: 1, failures: 0 });
    });
  });

  describe("configuration", () => {
    it("needs at least one strategy", () => {
      expect(configIssues(() => new Fallback({}))).toEqual([
        ": expected at least one strategy: staleCache, handler, alternative, later or value",
      ]);
    });

    it("rejects unknown keys", () => {
      expect(configIssues(() => fallback({ value: 1, vaule: 2 } as never))).toEqual([
        "vaule: unknown option; expected one of name, clock, handle, handleResult, staleCache, handler, alternative, later, value",
      ]);
    });

    it("reports exact paths under a prefix for named instances", () => {
      const reader = new ConfigReader();
      parseFallbackOptions(
        { staleCache: { ttl: "5m", maxEntries: 0 }, handle: "yes" },
        reader,
        "fallback.instances.search",
      );
      expect(reader.issues.map((i) => i.path)).toEqual([
        "fallback.instances.search.handle",
        "fallback.instances.search.staleCache.maxEntries",
      ]);
    });

    it("passes function-valued options through", () => {
      const handle = (): boolean => true;
      const handler = (): number => 1;
      const resolved = parseFallbackOptions({ handle, handler }, new ConfigReader(), "");
      expect(resolved.handle).toBe(handle);
      expect(resolved.handler).toBe(handler);
    });
  });

  describe("types", () => {
    it("include what each strategy may return in the result", () => {
      const op = (): Promise<string[]> => Promise.resolve(["a"]);
      expectTypeOf(fallback({ value: [] }).execute(op)).toEqualTypeOf<Promise<string[] | never[]>>();
      expectTypeOf(fallback({ handler: async () => 42 }).execute(op)).toEqualTypeOf<
        Promise<string[] | number>
      >();
      expectTypeOf(fallback({ alternative: () => null }).execute(op)).toEqualTypeOf<
        Promise<string[] | null>
      >();
      expectTypeOf(fallback({ staleCache: { ttl: "5m" } }).execute(op)).toEqualTypeOf<Promise<string[]>>();
      expectTypeOf(fallback({ later: { queue: queue(), job: () => 1 } }).execute(op)).toEqualTypeOf<
        Promise<string[] | PendingMarker>
      >();
      expectTypeOf(
        fallback({ staleCache: { ttl: "5m" }, later: { queue: queue(), job: () => 1 }, value: 0 }).execute(
          op,
        ),
      ).toEqualTypeOf<Promise<string[] | PendingMarker | number>>();
    });

    it("let a fallback stand wherever a Policy is expected", async () => {
      const policy: Policy = fallback({ value: "fallback" });
      await expect(pipeline(policy).execute(fails)).resolves.toBe("fallback");
    });
  });
});
