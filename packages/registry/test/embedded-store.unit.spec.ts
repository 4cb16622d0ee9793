import { isConfigError } from "@flotilla/resilience";
import { FakeClock, flushMicrotasks } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { isRegistryError } from "../src/registry-error.js";
import { type EmbeddedStore, embeddedStore } from "../src/store/embedded-store.js";
import type { EmbeddedStoreOptions } from "../src/store/embedded-store-options.js";
import type { StoreEvent } from "../src/store/store.js";
import { EventRecorder, storeContract } from "./store-contract.js";

const contractClock = new FakeClock();
storeContract("embedded (memory)", {
  create: () => embeddedStore({ clock: contractClock }),
  clock: contractClock,
  deletesCarryPrevious: true,
});

describe("EmbeddedStore in memory", () => {
  const stores: EmbeddedStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
  });

  async function open(
    options: EmbeddedStoreOptions = {},
  ): Promise<{ store: EmbeddedStore; clock: FakeClock }> {
    const clock = new FakeClock();
    const store = await embeddedStore({ clock, ...options });
    stores.push(store);
    return { store, clock };
  }

  describe("lease sweep", () => {
    it("expires a lease at the first sweep at or after its deadline, not before", async () => {
      const { store, clock } = await open({ sweepInterval: 250 });
      const lease = await store.grantLease(1_000);
      await store.put("k", "v", { lease: lease.id });
      await clock.advance(999);
      expect(await store.get("k")).toBeDefined();
      await clock.advance(1);
      expect(await store.get("k")).toBeUndefined();
      expect(await store.keepAlive(lease.id)).toBe(false);
      expect(store.stats().leases).toBe(0);
    });

    it("counts the TTL from the last keepAlive", async () => {
      const { store, clock } = await open({ sweepInterval: 100 });
      const lease = await store.grantLease(1_000);
      await store.put("k", "v", { lease: lease.id });
      await clock.advance(800);
      expect(await store.keepAlive(lease.id)).toBe(true);
      await clock.advance(900);
      expect(await store.get("k")).toBeDefined();
      await clock.advance(200);
      expect(await store.get("k")).toBeUndefined();
    });

    it("deletes every key of an expired lease, each with a delete event carrying previous", async () => {
      const { store, clock } = await open();
      const lease = await store.grantLease(500);
      await store.put("a", "1", { lease: lease.id });
      await store.put("b", "2", { lease: lease.id });
      const start = await store.currentIndex();
      const events = new EventRecorder(5_000);
      const watch = events.start(store, "", start);
      await clock.advance(1_000);
      await events.waitFor((es) => es.length >= 2);
      watch.close();
      expect(events.events).toEqual([
        { type: "delete", key: "a", index: start + 1, previous: expect.objectContaining({ value: "1" }) },
        { type: "delete", key: "b", index: start + 2, previous: expect.objectContaining({ value: "2" }) },
      ]);
    });

    it("keeps lapsed leases for another TTL while expiryGuard answers false", async () => {
      let allow = false;
      const calls: [readonly string[], number][] = [];
      const { store, clock } = await open({
        sweepInterval: 100,
        expiryGuard: (lapsed, live) => {
          calls.push([[...lapsed], live]);
          return allow;
        },
      });
      const short = await store.grantLease(1_000);
      await store.grantLease(60_000);
      await store.put("k", "v", { lease: short.id });
      await clock.advance(1_000);
      expect(calls).toEqual([[[short.id], 1]]);
      expect(await store.get("k")).toBeDefined();
      await clock.advance(999);
      expect(calls).toHaveLength(1);
      expect(await store.get("k")).toBeDefined();
      allow = true;
      await clock.advance(1);
      expect(calls).toEqual([
        [[short.id], 1],
        [[short.id], 1],
      ]);
      expect(await store.get("k")).toBeUndefined();
      expect(await store.keepAlive(short.id)).toBe(false);
    });

    it("expires anyway, and logs, when expiryGuard throws", async () => {
      const logger = fakeLogger();
      const { store, clock } = await open({
        logger: logger.asLogger(),
        expiryGuard: () => {
          throw new Error("guard bug");
        },
      });
      const lease = await store.grantLease(100);
      await store.put("k", "v", { lease: lease.id });
      await clock.advance(500);
      expect(await store.get("k")).toBeUndefined();
      expect(logger.error).toHaveBeenCalled();
    });

    it("stops its timer on close", async () => {
      const { store, clock } = await open();
      expect(clock.pendingTimers).toBe(1);
      await store.close();
      expect(clock.pendingTimers).toBe(0);
    });
  });

  describe("leases", () => {
    it("hands out unguessable ids: 16 random bytes, base64url", async () => {
      const { store } = await open();
      const ids = new Set<string>();
      for (let n = 0; n < 1_000; n++) ids.add((await store.grantLease(1_000)).id);
      expect(ids.size).toBe(1_000);
      for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    });

    it("moving a key to another lease detaches it from the first", async () => {
      const { store } = await open();
      const one = await store.grantLease(1_000);
      const two = await store.grantLease(1_000);
      await store.put("k", "v", { lease: one.id });
      await store.put("k", "w", { lease: two.id });
      await store.revokeLease(one.id);
      expect(await store.get("k")).toMatchObject({ value: "w", lease: two.id });
      await store.revokeLease(two.id);
      expect(await store.get("k")).toBeUndefined();
    });

    it("refuses a TTL that is not a positive number", async () => {
      const { store } = await open();
      for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        const error = await store.grantLease(ttl).catch((e: unknown) => e);
        expect(isRegistryError(error, "FLT_REGISTRY_INVALID_REQUEST")).toBe(true);
      }
    });

    it("a put with a lease id that was never granted rejects", async () => {
      const { store } = await open();
      const error = await store.put("k", "v", { lease: "AAAAAAAAAAAAAAAAAAAAAA" }).catch((e: unknown) => e);
      expect(isRegistryError(error, "FLT_REGISTRY_UNKNOWN_LEASE")).toBe(true);
      expect(error).toMatchObject({ lease: "AAAAAAAAAAAAAAAAAAAAAA" });
    });
  });

  describe("writes", () => {
    it("give consecutive indexes from 1", async () => {
      const { store } = await open();
      expect(await store.currentIndex()).toBe(0);
      expect(await store.put("a", "1")).toEqual({ ok: true, index: 1 });
      expect(await store.put("b", "1")).toEqual({ ok: true, index: 2 });
      expect(await store.delete("a")).toEqual({ ok: true, index: 3 });
      expect(await store.delete("a")).toEqual({ ok: false, index: 3, current: undefined });
      expect(await store.currentIndex()).toBe(3);
    });

    it("refuse bad arguments with FLT_REGISTRY_INVALID_REQUEST naming the field", async () => {
      const { store } = await open();
      const bad: [() => Promise<unknown>, string][] = [
        [() => store.put("", "v"), "key"],
        [() => store.put("k", "v", { cas: -1 }), "cas"],
        [() => store.put("k", "v", { cas: 1.5 }), "cas"],
        [() => store.put("k", 5 as unknown as string), "value"],
        [() => store.put("k", "v", { lease: "" }), "lease"],
        [() => store.delete("", {}), "key"],
      ];
      for (const [call, path] of bad) {
        const error = await call().catch((e: unknown) => e);
        expect(isRegistryError(error, "FLT_REGISTRY_INVALID_REQUEST")).toBe(true);
        expect((error as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual([path]);
      }
      expect(await store.currentIndex()).toBe(0);
    });
  });

  describe("watch", () => {
    it("never delivers inside the write, only after it", async () => {
      const { store } = await open();
      const seen: StoreEvent[] = [];
      store.watch("", 0, { onEvents: (events) => seen.push(...events) });
      const write = store.put("k", "v");
      expect(seen).toEqual([]);
      await write;
      await flushMicrotasks();
      expect(seen.map((e) => e.key)).toEqual(["k"]);
    });

    it("batches the events of one turn into one delivery", async () => {
      const { store } = await open();
      const batches: number[] = [];
      store.watch("", 0, { onEvents: (events) => batches.push(events.length) });
      await Promise.all([store.put("a", "1"), store.put("b", "1"), store.put("c", "1")]);
      await flushMicrotasks();
      expect(batches).toEqual([3]);
    });

    it("resets a watch that asks for history older than is kept, then continues live", async () => {
      const { store } = await open({ historySize: 3 });
      for (let n = 0; n < 5; n++) await store.put(`k${n}`, "v");
      const resets: number[] = [];
      const seen: StoreEvent[] = [];
      store.watch("", 1, {
        onEvents: (events) => seen.push(...events),
        onReset: (index) => resets.push(index),
      });
      await flushMicrotasks();
      expect(resets).toEqual([5]);
      expect(seen).toEqual([]);
      await store.put("later", "v");
      await flushMicrotasks();
      expect(seen.map((e) => [e.key, e.index])).toEqual([["later", 6]]);
    });

    it("replays from within the kept history without a reset", async () => {
      const { store } = await open({ historySize: 3 });
      for (let n = 0; n < 5; n++) await store.put(`k${n}`, "v");
      const resets: number[] = [];
      const seen: StoreEvent[] = [];
      store.watch("", 2, {
        onEvents: (events) => seen.push(...events),
        onReset: (index) => resets.push(index),
      });
      await flushMicrotasks();
      expect(resets).toEqual([]);
      expect(seen.map((e) => e.index)).toEqual([3, 4, 5]);
    });

    it("resets a live watch that more writes than the history holds overtook between deliveries", async () => {
      const { store } = await open({ historySize: 3 });
      const resets: number[] = [];
      store.watch("", 0, { onEvents: () => undefined, onReset: (index) => resets.push(index) });
      for (let n = 0; n < 5; n++) void store.put(`k${n}`, "v");
      await flushMicrotasks();
      expect(resets).toEqual([5]);
    });

    it("bounds the history by characters as well as by count", async () => {
      const { store } = await open({ historyChars: 10_000 });
      for (let n = 0; n < 5; n++) await store.put(`k${n}`, "x".repeat(3_000));
      const resets: number[] = [];
      const seen: StoreEvent[] = [];
      store.watch("", 0, {
        onEvents: (events) => seen.push(...events),
        onReset: (index) => resets.push(index),
      });
      await flushMicrotasks();
      expect(resets).toEqual([5]);
      store.watch("", 3, {
        onEvents: (events) => seen.push(...events),
        onReset: (index) => resets.push(index),
      });
      await flushMicrotasks();
      expect(seen.map((e) => e.index)).toEqual([4, 5]);
    });

    it("keeps delivering to other watches when a handler throws, and logs it", async () => {
      const logger = fakeLogger();
      const { store } = await open({ logger: logger.asLogger() });
      const seen: string[] = [];
      store.watch("", 0, {
        onEvents: () => {
          throw new Error("handler bug");
        },
      });
      store.watch("", 0, { onEvents: (events) => seen.push(...events.map((e) => e.key)) });
      await store.put("k", "v");
      await flushMicrotasks();
      expect(seen).toEqual(["k"]);
      expect(logger.error).toHaveBeenCalledTimes(1);
    });

    it("a watch on a closed store throws FLT_REGISTRY_STORE_CLOSED, and close ends open watches", async () => {
      const { store } = await open();
      const seen: StoreEvent[] = [];
      store.watch("", 0, { onEvents: (events) => seen.push(...events) });
      void store.put("k", "v");
      await store.close();
      await flushMicrotasks();
      expect(seen).toEqual([]);
      expect(() => store.watch("", 0, { onEvents: () => undefined })).toThrowError(
        expect.objectContaining({ code: "FLT_REGISTRY_STORE_CLOSED" }),
      );
    });
  });

  describe("options", () => {
    it("rejects bad options with every path", async () => {
      const error = await embeddedStore({
        sync: "sometimes" as "batch",
        snapshotEvery: 0,
        historySize: 1.5,
        sweepInterval: "soon" as "1s",
        expiryGuard: "yes" as unknown as () => boolean,
        clock: {} as FakeClock,
        logger: 1 as unknown as EmbeddedStoreOptions["logger"],
        dataDir: "",
        bogus: true,
      } as EmbeddedStoreOptions).catch((e: unknown) => e);
      expect(isConfigError(error)).toBe(true);
      const paths = (error as { issues: { path: string }[] }).issues.map((i) => i.path).sort();
      expect(paths).toEqual(
        [
          "bogus",
          "clock",
          "dataDir",
          "expiryGuard",
          "historySize",
          "logger",
          "snapshotEvery",
          "sweepInterval",
          "sync",
        ].sort(),
      );
    });

    it("accepts durations as strings", async () => {
      const { store } = await open({ sweepInterval: "2s" });
      expect(store.options.sweepInterval).toBe(2_000);
      expect(store.options.sync).toBe("batch");
      expect(store.kind).toBe("embedded");
    });
  });
});

function fakeLogger() {
  const error = vi.fn();
  const warn = vi.fn();
  return {
    error,
    warn,
    asLogger: () =>
      ({ error, warn, info: vi.fn(), debug: vi.fn() }) as unknown as EmbeddedStoreOptions["logger"],
  };
}
