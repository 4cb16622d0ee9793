import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isRegistryError } from "../src/registry-error.js";
import type { Store, StoreEvent, StoreWatch } from "../src/store/store.js";

/**
 * How {@link storeContract} gets stores and makes leases lapse. Every test asks for a fresh
 * store and uses its own random key prefix, so `create` may also hand out views of one shared
 * backend (one etcd for the whole file).
 */
export interface StoreContractHarness {
  /** A new store; the suite closes it after the test. */
  create(): Promise<Store>;
  /**
   * The fake clock the stores run on, when they run on one: lease tests move it forward instead
   * of waiting. Without it (a real etcd) time passes for real and the tests wait on watch events.
   */
  readonly clock?: { advance(ms: number): Promise<void> } | undefined;
  /**
   * Makes the lease lapse right away, when the backend can (for example by setting its deadline in
   * the past); without it the lease is left to lapse on its TTL, moving `clock` when there is one.
   */
  expire?(store: Store, leaseId: string): Promise<void>;
  /** TTL of the leases the expiry tests grant. Default 1,000 ms; etcd wants 1–2 s. */
  readonly leaseTtlMs?: number | undefined;
  /** Upper bound on the real time one awaited watch event may take. Default 10 s. */
  readonly eventTimeoutMs?: number | undefined;
  /** Delete events always carry `previous` (the embedded store); otherwise it is checked when present. */
  readonly deletesCarryPrevious?: boolean | undefined;
}

/**
 * Declares the behaviour every {@link Store} implementation must have, as one `describe` block:
 * `storeContract("etcd", etcdHarness)`. The suite relies only on the `Store` interface, on
 * ordering (indexes rise; they need not be consecutive, since a shared backend may be written by
 * other tests) and on real or harness-driven time for leases.
 */
export function storeContract(name: string, harness: StoreContractHarness): void {
  const ttlMs = harness.leaseTtlMs ?? 1_000;
  const eventTimeoutMs = harness.eventTimeoutMs ?? 10_000;

  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let p: string;
    const watches: StoreWatch[] = [];

    beforeEach(async () => {
      store = await harness.create();
      p = `contract-${randomBytes(6).toString("hex")}/`;
    });

    afterEach(async () => {
      for (const w of watches.splice(0)) w.close();
      await store.close();
    });

    /** Watches `prefix` after `afterIndex`, collecting events and resets. */
    function record(prefix: string, afterIndex: number): EventRecorder {
      const recorder = new EventRecorder(eventTimeoutMs);
      watches.push(recorder.start(store, prefix, afterIndex));
      return recorder;
    }

    /** Lets `leaseId` (granted with {@link ttlMs}) lapse by the harness's means. */
    async function lapse(leaseId: string): Promise<void> {
      if (harness.expire !== undefined) await harness.expire(store, leaseId);
      else if (harness.clock !== undefined) await harness.clock.advance(ttlMs * 2 + 1_000);
    }

    describe("get and list", () => {
      it("get answers undefined for a missing key and the entry for a present one", async () => {
        expect(await store.get(`${p}missing`)).toBeUndefined();
        const put = await store.put(`${p}a`, "1");
        expect(await store.get(`${p}a`)).toEqual({
          key: `${p}a`,
          value: "1",
          createIndex: put.index,
          modifyIndex: put.index,
        });
      });

      it("list returns the keys under a prefix, sorted, with an index at least the last write's", async () => {
        const keys = ["m", "a/b", "z", "a", "ab", "b/c/d", "a/a"];
        let last = 0;
        for (const key of keys) last = (await store.put(`${p}${key}`, key)).index;
        await store.put(`${p.slice(0, -1)}-sibling`, "outside");
        const all = await store.list(p);
        expect(all.entries.map((e) => e.key)).toEqual([...keys].sort().map((k) => `${p}${k}`));
        expect(all.entries.map((e) => e.value)).toEqual([...keys].sort());
        expect(all.index).toBeGreaterThanOrEqual(last);
        expect((await store.list(`${p}a`)).entries.map((e) => e.key)).toEqual(
          ["a", "a/a", "a/b", "ab"].map((k) => `${p}${k}`),
        );
        expect((await store.list(`${p}a/`)).entries.map((e) => e.key)).toEqual([`${p}a/a`, `${p}a/b`]);
        expect((await store.list(`${p}nothing/`)).entries).toEqual([]);
      });

      it("list with the empty prefix includes every key, sorted", async () => {
        await store.put(`${p}y`, "1");
        await store.put(`${p}x`, "2");
        const { entries } = await store.list("");
        const keys = entries.map((e) => e.key);
        expect(keys).toEqual([...keys].sort());
        expect(keys).toEqual(expect.arrayContaining([`${p}x`, `${p}y`]));
      });
    });

    describe("put", () => {
      it("creates, then updates keeping createIndex and raising modifyIndex", async () => {
        const created = await store.put(`${p}k`, "v1");
        expect(created.ok).toBe(true);
        const updated = await store.put(`${p}k`, "v2");
        expect(updated.ok).toBe(true);
        expect(updated.index).toBeGreaterThan(created.index);
        expect(await store.get(`${p}k`)).toEqual({
          key: `${p}k`,
          value: "v2",
          createIndex: created.index,
          modifyIndex: updated.index,
        });
      });

      it("re-creating a deleted key starts a new createIndex", async () => {
        await store.put(`${p}k`, "v1");
        await store.delete(`${p}k`);
        const again = await store.put(`${p}k`, "v2");
        expect((await store.get(`${p}k`))?.createIndex).toBe(again.index);
      });

      it("cas 0 creates only when the key is absent", async () => {
        const first = await store.put(`${p}k`, "v1", { cas: 0 });
        expect(first.ok).toBe(true);
        const second = await store.put(`${p}k`, "v2", { cas: 0 });
        expect(second.ok).toBe(false);
        if (second.ok) return;
        expect(second.current).toMatchObject({ key: `${p}k`, value: "v1", modifyIndex: first.index });
        expect((await store.get(`${p}k`))?.value).toBe("v1");
      });

      it("cas n writes only when modifyIndex is n, and reports the current entry otherwise", async () => {
        const first = await store.put(`${p}k`, "v1");
        const stale = await store.put(`${p}k`, "v2", { cas: first.index + 1_000 });
        expect(stale.ok).toBe(false);
        if (stale.ok) return;
        expect(stale.current).toMatchObject({ value: "v1", modifyIndex: first.index });
        const fresh = await store.put(`${p}k`, "v3", { cas: first.index });
        expect(fresh.ok).toBe(true);
        expect(fresh.index).toBeGreaterThan(first.index);
        const again = await store.put(`${p}k`, "v4", { cas: first.index });
        expect(again).toMatchObject({ ok: false, current: { value: "v3", modifyIndex: fresh.index } });
        expect((await store.get(`${p}k`))?.value).toBe("v3");
      });

      it("cas n on a missing key fails without a current entry", async () => {
        const index = (await store.put(`${p}other`, "x")).index;
        const result = await store.put(`${p}missing`, "v", { cas: index });
        expect(result.ok).toBe(false);
        if (result.ok) return;
        expect(result.current).toBeUndefined();
        expect(await store.get(`${p}missing`)).toBeUndefined();
      });

      it("round-trips unicode values and keys' values exactly", async () => {
        const value = 'héllo wörld — 日本語 · emoji 🚀👩‍👩‍👧 · \u0000 nul · \n newline · "quotes" \\ back';
        await store.put(`${p}u`, value);
        expect((await store.get(`${p}u`))?.value).toBe(value);
        expect((await store.list(p)).entries[0]?.value).toBe(value);
      });

      it("round-trips a 256 KiB value", async () => {
        const value = randomBytes(192 * 1024).toString("base64");
        expect(value.length).toBe(256 * 1024);
        await store.put(`${p}big`, value);
        expect((await store.get(`${p}big`))?.value).toBe(value);
      });

      it("of N concurrent cas writes on one modifyIndex exactly one wins", async () => {
        const base = await store.put(`${p}race`, "base");
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, n) => store.put(`${p}race`, `writer-${n}`, { cas: base.index })),
        );
        const winners = results.flatMap((r, n) => (r.ok ? [{ n, index: r.index }] : []));
        expect(winners).toHaveLength(1);
        const winner = winners[0]!;
        for (const r of results) {
          if (!r.ok)
            expect(r.current).toMatchObject({ value: `writer-${winner.n}`, modifyIndex: winner.index });
        }
        expect(await store.get(`${p}race`)).toMatchObject({
          value: `writer-${winner.n}`,
          modifyIndex: winner.index,
        });
      });

      it("of N concurrent cas-0 creates exactly one wins", async () => {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, n) => store.put(`${p}once`, `writer-${n}`, { cas: 0 })),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(1);
      });
    });

    describe("delete", () => {
      it("deletes a present key and answers ok: false for a missing one", async () => {
        const put = await store.put(`${p}k`, "v");
        const deleted = await store.delete(`${p}k`);
        expect(deleted.ok).toBe(true);
        expect(deleted.index).toBeGreaterThan(put.index);
        expect(await store.get(`${p}k`)).toBeUndefined();
        const again = await store.delete(`${p}k`);
        expect(again.ok).toBe(false);
        if (!again.ok) expect(again.current).toBeUndefined();
      });

      it("with cas deletes only when modifyIndex matches", async () => {
        const put = await store.put(`${p}k`, "v");
        const stale = await store.delete(`${p}k`, { cas: put.index + 1_000 });
        expect(stale).toMatchObject({ ok: false, current: { value: "v", modifyIndex: put.index } });
        expect(await store.get(`${p}k`)).toBeDefined();
        expect((await store.delete(`${p}k`, { cas: put.index })).ok).toBe(true);
        expect(await store.get(`${p}k`)).toBeUndefined();
      });
    });

    describe("indexes", () => {
      it("rise strictly with every write, and currentIndex is at least the last one", async () => {
        const indexes: number[] = [];
        indexes.push((await store.put(`${p}a`, "1")).index);
        indexes.push((await store.put(`${p}b`, "1")).index);
        indexes.push((await store.put(`${p}a`, "2")).index);
        indexes.push((await store.delete(`${p}b`)).index);
        indexes.push((await store.put(`${p}b`, "3")).index);
        for (let n = 1; n < indexes.length; n++) expect(indexes[n]).toBeGreaterThan(indexes[n - 1]!);
        expect(await store.currentIndex()).toBeGreaterThanOrEqual(indexes[indexes.length - 1]!);
      });

      it("a failed cas does not move the key's modifyIndex", async () => {
        const put = await store.put(`${p}k`, "v");
        await store.put(`${p}k`, "w", { cas: 0 });
        expect((await store.get(`${p}k`))?.modifyIndex).toBe(put.index);
      });
    });

    describe("leases", () => {
      it("grants a lease with an id and at least the asked TTL; keepAlive renews it", async () => {
        const lease = await store.grantLease(ttlMs);
        expect(typeof lease.id).toBe("string");
        expect(lease.id.length).toBeGreaterThan(0);
        expect(lease.ttlMs).toBeGreaterThanOrEqual(ttlMs);
        expect(await store.keepAlive(lease.id)).toBe(true);
        const other = await store.grantLease(ttlMs);
        expect(other.id).not.toBe(lease.id);
        await store.revokeLease(lease.id);
        await store.revokeLease(other.id);
      });

      it("keepAlive and revoke are false for a revoked lease and for one never granted", async () => {
        const lease = await store.grantLease(ttlMs);
        expect(await store.revokeLease(lease.id)).toBe(true);
        expect(await store.keepAlive(lease.id)).toBe(false);
        expect(await store.revokeLease(lease.id)).toBe(false);
        expect(await store.keepAlive("no-such-lease")).toBe(false);
        expect(await store.revokeLease("no-such-lease")).toBe(false);
      });

      it("attaches keys: entry.lease names the lease; a put without a lease detaches", async () => {
        const lease = await store.grantLease(ttlMs);
        await store.put(`${p}a`, "1", { lease: lease.id });
        await store.put(`${p}b`, "1", { lease: lease.id });
        expect((await store.get(`${p}a`))?.lease).toBe(lease.id);
        await store.put(`${p}b`, "2");
        expect((await store.get(`${p}b`))?.lease).toBeUndefined();
        await store.revokeLease(lease.id);
        expect(await store.get(`${p}a`)).toBeUndefined();
        expect((await store.get(`${p}b`))?.value).toBe("2");
      });

      it("revoke deletes every attached key, emits their delete events, and ends the lease", async () => {
        const lease = await store.grantLease(ttlMs);
        await store.put(`${p}x`, "1", { lease: lease.id });
        await store.put(`${p}y`, "1", { lease: lease.id });
        const stay = await store.put(`${p}z`, "no lease");
        const events = record(p, stay.index);
        expect(await store.revokeLease(lease.id)).toBe(true);
        expect(await store.get(`${p}x`)).toBeUndefined();
        expect(await store.get(`${p}y`)).toBeUndefined();
        expect((await store.get(`${p}z`))?.value).toBe("no lease");
        await events.waitFor((es) => es.filter((e) => e.type === "delete").length === 2);
        expect(events.events.map((e) => [e.type, e.key]).sort()).toEqual([
          ["delete", `${p}x`],
          ["delete", `${p}y`],
        ]);
        expect(await store.revokeLease(lease.id)).toBe(false);
        expect(await store.keepAlive(lease.id)).toBe(false);
      });

      it("a put with an unknown lease rejects with FLT_REGISTRY_UNKNOWN_LEASE and writes nothing", async () => {
        const lease = await store.grantLease(ttlMs);
        await store.revokeLease(lease.id);
        const error = await store.put(`${p}k`, "v", { lease: lease.id }).catch((e: unknown) => e);
        expect(isRegistryError(error, "FLT_REGISTRY_UNKNOWN_LEASE")).toBe(true);
        expect(await store.get(`${p}k`)).toBeUndefined();
      });

      it("an expired lease deletes its keys with delete events, and is then unknown", async () => {
        const lease = await store.grantLease(ttlMs);
        const put = await store.put(`${p}leased`, "v", { lease: lease.id });
        await store.put(`${p}plain`, "v");
        const events = record(p, put.index);
        await lapse(lease.id);
        await events.waitFor((es) => es.some((e) => e.type === "delete" && e.key === `${p}leased`));
        expect(await store.get(`${p}leased`)).toBeUndefined();
        expect(await store.get(`${p}plain`)).toBeDefined();
        expect(await store.keepAlive(lease.id)).toBe(false);
        expect(events.events.filter((e) => e.type === "delete").map((e) => e.key)).toEqual([`${p}leased`]);
      });

      it.runIf(harness.expire === undefined)(
        "keepAlive pushes the deadline out by a full TTL",
        async () => {
          // With a real clock (etcd) the TTL has to pass for real: waiting out time is what is tested.
          const pass = (ms: number) =>
            harness.clock !== undefined
              ? harness.clock.advance(ms)
              : new Promise<void>((resolve) => setTimeout(resolve, ms));
          const lease = await store.grantLease(ttlMs);
          await store.put(`${p}k`, "v", { lease: lease.id });
          for (let n = 0; n < 5; n++) {
            await pass(lease.ttlMs * 0.5);
            expect(await store.keepAlive(lease.id)).toBe(true);
          }
          expect(await store.get(`${p}k`)).toBeDefined();
          const events = record(p, await store.currentIndex());
          if (harness.clock !== undefined) await harness.clock.advance(lease.ttlMs * 2 + 1_000);
          await events.waitFor((es) => es.some((e) => e.type === "delete"));
          expect(await store.keepAlive(lease.id)).toBe(false);
        },
        30_000,
      );
    });

    describe("watch", () => {
      it("delivers live events in index order with their entries", async () => {
        const start = await store.currentIndex();
        const events = record(p, start);
        const a = await store.put(`${p}a`, "1");
        const b = await store.put(`${p}b`, "2");
        const a2 = await store.put(`${p}a`, "3");
        const d = await store.delete(`${p}b`);
        await events.waitFor((es) => es.length >= 4);
        expect(events.events.map((e) => [e.type, e.key, e.index])).toEqual([
          ["put", `${p}a`, a.index],
          ["put", `${p}b`, b.index],
          ["put", `${p}a`, a2.index],
          ["delete", `${p}b`, d.index],
        ]);
        expect(events.events[2]?.entry).toEqual({
          key: `${p}a`,
          value: "3",
          createIndex: a.index,
          modifyIndex: a2.index,
        });
        expect(events.events[3]?.entry).toBeUndefined();
      });

      it("a delete event carries the deleted entry as previous when the store knows it", async () => {
        const put = await store.put(`${p}k`, "last value");
        const events = record(p, put.index);
        await store.delete(`${p}k`);
        await events.waitFor((es) => es.length >= 1);
        const previous = events.events[0]?.previous;
        if (harness.deletesCarryPrevious) expect(previous).toBeDefined();
        if (previous !== undefined) expect(previous).toMatchObject({ key: `${p}k`, value: "last value" });
      });

      it("replays the changes after afterIndex, then continues live, without duplicates", async () => {
        await store.put(`${p}a`, "1");
        const b = await store.put(`${p}b`, "1");
        const c = await store.put(`${p}c`, "1");
        const events = record(p, b.index - 1);
        await events.waitFor((es) => es.length >= 2);
        const d = await store.put(`${p}d`, "1");
        await events.waitFor((es) => es.some((e) => e.key === `${p}d`));
        expect(events.events.map((e) => [e.key, e.index])).toEqual([
          [`${p}b`, b.index],
          [`${p}c`, c.index],
          [`${p}d`, d.index],
        ]);
      });

      it("a watch from the current index sees only later changes", async () => {
        await store.put(`${p}before`, "1");
        const events = record(p, await store.currentIndex());
        await store.put(`${p}after`, "1");
        await events.waitFor((es) => es.length >= 1);
        expect(events.events.map((e) => e.key)).toEqual([`${p}after`]);
      });

      it("sees only keys under its prefix", async () => {
        const start = await store.currentIndex();
        const narrow = record(`${p}a/`, start);
        const wide = record(p, start);
        await store.put(`${p}b/1`, "x");
        await store.put(`${p}a/1`, "x");
        await store.put(`${p}ab`, "x");
        await store.put(`${p}a/2`, "x");
        await wide.waitFor((es) => es.length >= 4);
        await narrow.waitFor((es) => es.length >= 2);
        expect(narrow.events.map((e) => e.key)).toEqual([`${p}a/1`, `${p}a/2`]);
      });

      it("delivers each event once, in non-decreasing index order, under many writes", async () => {
        const start = await store.currentIndex();
        const events = record(p, start);
        const writes = await Promise.all(
          Array.from({ length: 50 }, (_, n) => store.put(`${p}k${n % 7}`, `${n}`)),
        );
        await events.waitFor((es) => es.length >= 50);
        const indexes = events.events.map((e) => e.index);
        expect(indexes).toEqual([...indexes].sort((x, y) => x - y));
        expect(new Set(indexes).size).toBe(50);
        expect(new Set(indexes)).toEqual(new Set(writes.map((w) => w.index)));
      });

      it("close stops delivery", async () => {
        const start = await store.currentIndex();
        const closed = record(p, start);
        const open = record(p, start);
        await store.put(`${p}first`, "1");
        await closed.waitFor((es) => es.length >= 1);
        closed.stop();
        await store.put(`${p}second`, "2");
        await open.waitFor((es) => es.length >= 2);
        expect(closed.events.map((e) => e.key)).toEqual([`${p}first`]);
      });

      it("a handler that writes gets its own write in a later batch", async () => {
        const start = await store.currentIndex();
        const recorder = new EventRecorder(eventTimeoutMs);
        let wrote = false;
        const watch = store.watch(p, start, {
          onEvents(events) {
            recorder.push(events);
            if (!wrote) {
              wrote = true;
              void store.put(`${p}echo`, "from handler");
            }
          },
        });
        watches.push(watch);
        await store.put(`${p}ping`, "1");
        await recorder.waitFor((es) => es.some((e) => e.key === `${p}echo`));
        expect(recorder.events.map((e) => e.key)).toEqual([`${p}ping`, `${p}echo`]);
      });
    });

    describe("close", () => {
      it("is idempotent, and every call after it rejects with FLT_REGISTRY_STORE_CLOSED", async () => {
        const lease = await store.grantLease(ttlMs);
        await store.close();
        await store.close();
        const calls: (() => Promise<unknown>)[] = [
          () => store.get(`${p}k`),
          () => store.list(p),
          () => store.put(`${p}k`, "v"),
          () => store.delete(`${p}k`),
          () => store.grantLease(ttlMs),
          () => store.keepAlive(lease.id),
          () => store.revokeLease(lease.id),
          () => store.currentIndex(),
        ];
        for (const call of calls) {
          const error = await call().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(isRegistryError(error, "FLT_REGISTRY_STORE_CLOSED"), String(call)).toBe(true);
        }
      });
    });
  });
}

/** Collects a watch's events and lets a test await a condition on them with a deadline. */
export class EventRecorder {
  readonly events: StoreEvent[] = [];
  readonly resets: number[] = [];
  readonly errors: Error[] = [];
  readonly #timeoutMs: number;
  #watch: StoreWatch | undefined;
  #waiters: (() => void)[] = [];

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** Starts watching; the returned watch is also closed by {@link EventRecorder.stop}. */
  start(store: Store, prefix: string, afterIndex: number): StoreWatch {
    this.#watch = store.watch(prefix, afterIndex, {
      onEvents: (events) => this.push(events),
      onReset: (index) => {
        this.resets.push(index);
        this.#notify();
      },
      onError: (error) => {
        this.errors.push(error);
      },
    });
    return this.#watch;
  }

  /** Adds events as a watch handler would. */
  push(events: readonly StoreEvent[]): void {
    this.events.push(...events);
    this.#notify();
  }

  /** Closes the watch. */
  stop(): void {
    this.#watch?.close();
  }

  /** Resolves once `condition(events)` holds; rejects, listing what arrived, after the deadline. */
  waitFor(condition: (events: readonly StoreEvent[]) => boolean): Promise<void> {
    if (condition(this.events)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!condition(this.events)) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== check);
        const seen = this.events.map((e) => `${e.type} ${e.key}@${e.index}`).join(", ");
        reject(new Error(`watch condition not met within ${this.#timeoutMs} ms; events: [${seen}]`));
      }, this.#timeoutMs);
      this.#waiters.push(check);
    });
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
