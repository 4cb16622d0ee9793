import { EventEmitter } from "node:events";
import { FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it } from "vitest";
import { resolveChecks } from "../src/health/resolve-checks.js";
import { type SelfPreservation, selfPreservation } from "../src/health/self-preservation.js";
import type { CheckDefinition, InstanceRecord } from "../src/registration.js";
import { BlockingWaits } from "../src/server/blocking-query.js";
import { isHttpProblem } from "../src/server/http-problem.js";
import { aggregateStatus, initialChecks } from "../src/server/instance-status.js";
import { InstanceWriter } from "../src/server/instance-writer.js";
import { LeaseExpiry } from "../src/server/lease-expiry.js";
import { RegistryView } from "../src/server/registry-view.js";
import { encodeInstance, encodeLease, instanceKey, leaseKey } from "../src/server/store-layout.js";
import { type EmbeddedStore, embeddedStore } from "../src/store/embedded-store.js";
import { capturingLogger } from "./registry-server-harness.js";

interface Rig {
  readonly clock: FakeClock;
  readonly store: EmbeddedStore;
  readonly view: RegistryView;
  readonly expiry: LeaseExpiry;
  readonly sp: SelfPreservation | undefined;
  readonly logs: Record<string, unknown>[];
  register(service: string, id: string, ttlMs: number, checks?: CheckDefinition[]): Promise<string>;
  record(service: string, id: string): InstanceRecord | undefined;
  expired: number;
}

const rigs: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) await rig.close();
});

/**
 * The server's lapse machinery without HTTP: an in-memory embedded store on a fake clock, the view,
 * the writer and lease expiry, wired as the server wires them.
 */
async function rig(
  options: {
    spEnabled?: boolean;
    minLeases?: number;
    deregisterAfterMs?: number;
    guardedStore?: boolean;
  } = {},
): Promise<Rig> {
  const clock = new FakeClock();
  const logs: Record<string, unknown>[] = [];
  const logger = capturingLogger(logs);
  let expiry: LeaseExpiry | undefined;
  const sp =
    options.spEnabled === false
      ? undefined
      : selfPreservation({
          clock,
          wallClock: () => 1_000_000 + clock.now(),
          windowMs: 10_000,
          minLeases: options.minLeases ?? 5,
          onChange: (active) => {
            if (!active) expiry?.selfPreservationEnded();
          },
        });
  const store = await embeddedStore({
    clock,
    sweepInterval: 100,
    ...(options.guardedStore ? { expiryGuard: (lapsed, live) => expiry!.expiryGuard(lapsed, live) } : {}),
  });
  const view = new RegistryView({
    store,
    clock,
    observer: {
      leaseDeleted: (lease, marker) => expiry!.leaseDeleted(lease, marker),
      relisted: () => expiry!.sweep(),
    },
  });
  const writer = new InstanceWriter({ store, view, catchUpMs: 1000 });
  const state = { expired: 0 };
  expiry = new LeaseExpiry({
    clock,
    wallClock: () => 1_000_000 + clock.now(),
    view,
    writer,
    selfPreservation: sp,
    deregisterAfterMs: options.deregisterAfterMs ?? 60_000,
    logger,
    onExpired: () => state.expired++,
  });
  const close = async () => {
    expiry?.close();
    sp?.close();
    view.close();
    await store.close();
  };
  rigs.push({ close });
  const r: Rig = {
    clock,
    store,
    view,
    expiry,
    sp,
    logs,
    get expired() {
      return state.expired;
    },
    async register(service, id, ttlMs, checks = [{ type: "ttl" }]) {
      const grant = await store.grantLease(ttlMs);
      await store.put(leaseKey(grant.id), encodeLease({ service, id, ttlMs }), { lease: grant.id });
      const definitions = resolveChecks(checks);
      const statuses = initialChecks(definitions, 1_000_000 + clock.now());
      const record = {
        id,
        service,
        address: "10.0.0.1",
        port: 80,
        version: "1.0.0",
        weight: 1,
        tags: [],
        metadata: {},
        status: aggregateStatus(statuses),
        checks: statuses,
        lease: grant.id,
        ttlMs,
        registeredAt: 1_000_000,
      };
      const written = await store.put(instanceKey(service, id), encodeInstance(record, definitions));
      if (written.ok) await view.waitForIndex(written.index, 1000);
      return grant.id;
    },
    record: (service, id) => view.instance(service, id)?.record,
  };
  await view.start();
  return r;
}

describe("lease lapses", () => {
  it("marks a lapsed instance critical with `lease expired`, then removes it after the default delay", async () => {
    const r = await rig();
    await r.register("orders", "o-1", 1_000);
    await r.register("orders", "o-2", 60_000);
    await r.clock.advance(1_100);
    const lapsed = r.record("orders", "o-1")!;
    expect(lapsed.status).toBe("critical");
    expect(lapsed.checks).toEqual([
      expect.objectContaining({ type: "ttl", status: "critical", output: "lease expired", since: 1_001_100 }),
    ]);
    expect(r.record("orders", "o-2")!.status).toBe("passing");
    expect(r.expired).toBe(1);
    await r.clock.advance(59_000);
    expect(r.record("orders", "o-1")).toBeDefined();
    await r.clock.advance(1_000);
    expect(r.record("orders", "o-1")).toBeUndefined();
    expect(r.record("orders", "o-2")).toBeDefined();
  });

  it("uses the ttl check's deregisterCriticalAfterMs, and 0 removes at once", async () => {
    const r = await rig();
    await r.register("a", "quick", 1_000, [{ type: "ttl", deregisterCriticalAfterMs: 0 }]);
    await r.register("a", "slow", 1_000, [{ type: "ttl", deregisterCriticalAfterMs: 5_000 }]);
    await r.clock.advance(1_100);
    expect(r.record("a", "quick")).toBeUndefined();
    expect(r.record("a", "slow")!.status).toBe("critical");
    await r.clock.advance(5_000);
    expect(r.record("a", "slow")).toBeUndefined();
  });

  it("does not take a deregistration or a re-registration for a lapse", async () => {
    const r = await rig();
    const first = await r.register("a", "a-1", 1_000);
    await r.register("a", "a-1", 60_000);
    await r.store.revokeLease(first);
    await r.register("a", "a-2", 60_000);
    const lease = r.record("a", "a-2")!.lease;
    await r.store.delete(instanceKey("a", "a-2"));
    await r.store.revokeLease(lease);
    await r.clock.advance(2_000);
    expect(r.record("a", "a-1")!.status).toBe("passing");
    expect(r.expired).toBe(0);
  });

  it("holds lapses while self-preservation is on and expires them when it ends", async () => {
    const r = await rig({ minLeases: 4 });
    for (let i = 0; i < 5; i++) await r.register("s", `s-${i}`, 1_000);
    await r.register("s", "renewed", 1_000);
    await r.clock.advance(900);
    const renewedLease = r.record("s", "renewed")!.lease;
    expect(await r.store.keepAlive(renewedLease)).toBe(true);
    await r.clock.advance(200);
    expect(r.sp!.active).toBe(true);
    expect(r.expiry.held).toBe(5);
    expect(r.expired).toBe(0);
    for (let i = 0; i < 5; i++) expect(r.record("s", `s-${i}`)!.status).toBe("passing");
    expect(r.logs.some((l) => l.level === "warn" && String(l.msg).includes("keeping 5"))).toBe(true);

    // One of them registers again meanwhile: that one is no longer lapsed.
    await r.register("s", "s-0", 60_000);
    for (let t = 0; t < 40 && r.sp!.active; t++) {
      await r.store.keepAlive(renewedLease);
      await r.clock.advance(500);
    }
    expect(r.sp!.active).toBe(false);
    await r.clock.flush();
    expect(r.expired).toBe(4);
    expect(r.record("s", "s-0")!.status).toBe("passing");
    for (let i = 1; i < 5; i++) expect(r.record("s", `s-${i}`)!.status).toBe("critical");
    expect(r.record("s", "renewed")!.status).toBe("passing");
  });

  it("expires every lapse when self-preservation is off", async () => {
    const r = await rig({ spEnabled: false });
    for (let i = 0; i < 6; i++) await r.register("s", `s-${i}`, 1_000);
    await r.clock.advance(1_100);
    expect(r.expired).toBe(6);
  });

  it("lets a guarded store keep the leases while self-preservation is on", async () => {
    const r = await rig({ minLeases: 4, guardedStore: true });
    const leases: string[] = [];
    for (let i = 0; i < 5; i++) leases.push(await r.register("g", `g-${i}`, 1_000));
    await r.clock.advance(1_100);
    expect(r.sp!.active).toBe(true);
    expect(r.expired).toBe(0);
    // The store kept the leases: a client that comes back can simply renew.
    expect(await r.store.keepAlive(leases[0]!)).toBe(true);
    expect(r.record("g", "g-0")!.status).toBe("passing");
  });

  it("expires, after a restart, instances whose lease vanished while nobody watched", async () => {
    const r = await rig();
    await r.register("x", "x-1", 60_000);
    const lease = r.record("x", "x-1")!.lease;
    r.view.close();
    await r.store.delete(leaseKey(lease));
    const view = new RegistryView({ store: r.store, clock: r.clock });
    const writer = new InstanceWriter({ store: r.store, view, catchUpMs: 1000 });
    const expiry = new LeaseExpiry({
      clock: r.clock,
      wallClock: () => 1_000_000,
      view,
      writer,
      selfPreservation: undefined,
      deregisterAfterMs: 1_000,
      logger: capturingLogger([]),
      onExpired: () => {},
    });
    rigs.push({
      close: async () => {
        expiry.close();
        view.close();
      },
    });
    await view.start();
    expiry.sweep();
    await r.clock.advance(0);
    expect(view.instance("x", "x-1")!.record.status).toBe("critical");
    await r.clock.advance(1_000);
    expect(view.instance("x", "x-1")).toBeUndefined();
  });
});

describe("blocking query wakeups", () => {
  async function waitsRig(max = 10) {
    const clock = new FakeClock();
    const store = await embeddedStore({ clock });
    const view = new RegistryView({ store, clock });
    await view.start();
    const waits = new BlockingWaits({ clock, max, random: () => 0.5 });
    rigs.push({
      close: async () => {
        waits.close();
        view.close();
        await store.close();
      },
    });
    const put = async (key: string) => {
      const result = await store.put(
        key,
        JSON.stringify({
          service: key.split("/")[1],
          id: key.split("/")[2],
          address: "h",
          port: 1,
          lease: "l",
          checks: [],
        }),
      );
      await view.waitForIndex(result.index, 100);
    };
    return { clock, store, view, waits, put };
  }

  function settled(promise: Promise<unknown>): () => boolean {
    let done = false;
    void promise.then(() => {
      done = true;
    });
    return () => done;
  }

  it("wakes a waiter on its own service only", async () => {
    const { clock, view, waits, put } = await waitsRig();
    const res = new EventEmitter();
    const onA = settled(waits.wait((l) => view.topics.service("a", l), 60_000, res));
    const onList = settled(waits.wait((l) => view.topics.serviceList(l), 60_000, new EventEmitter()));
    expect(waits.size).toBe(2);
    await put("instances/b/b-1");
    await clock.flush();
    expect(onA()).toBe(false);
    expect(onList()).toBe(true);
    await put("instances/a/a-1");
    await clock.flush();
    expect(onA()).toBe(true);
    expect(waits.size).toBe(0);
  });

  it("answers at the end of the wait, when the client goes away, and on close", async () => {
    const { clock, view, waits } = await waitsRig();
    const timed = settled(waits.wait((l) => view.topics.service("a", l), 1_600, new EventEmitter()));
    await clock.advance(1_599);
    expect(timed()).toBe(false);
    await clock.advance(1);
    expect(timed()).toBe(true);
    const res = new EventEmitter();
    const gone = settled(waits.wait((l) => view.topics.kvKey("k", l), 60_000, res));
    res.emit("close");
    await clock.flush();
    expect(gone()).toBe(true);
    const parked = settled(waits.wait((l) => view.topics.kvPrefix("p/", l), 60_000, new EventEmitter()));
    waits.close();
    await clock.flush();
    expect(parked()).toBe(true);
  });

  it("jitters the wait by up to 1/16 and refuses waits beyond the limit with 429", async () => {
    const clock = new FakeClock();
    const early = new BlockingWaits({ clock, max: 1, random: () => 0 });
    const topics = { subscribe: () => () => {} };
    const done = settled(early.wait(topics.subscribe, 16_000, new EventEmitter()));
    let thrown: unknown;
    try {
      await early.wait(topics.subscribe, 16_000, new EventEmitter());
    } catch (error) {
      thrown = error;
    }
    expect(isHttpProblem(thrown) && thrown.status).toBe(429);
    await clock.advance(14_999);
    expect(done()).toBe(false);
    await clock.advance(1);
    expect(done()).toBe(true);
  });

  it("wakes KV waiters by key and by prefix", async () => {
    const { clock, store, view, waits } = await waitsRig();
    const key = settled(waits.wait((l) => view.topics.kvKey("app/x", l), 60_000, new EventEmitter()));
    const prefix = settled(waits.wait((l) => view.topics.kvPrefix("app/", l), 60_000, new EventEmitter()));
    const other = settled(waits.wait((l) => view.topics.kvPrefix("web/", l), 60_000, new EventEmitter()));
    const written = await store.put("kv/app/y", "1");
    await view.waitForIndex(written.index, 100);
    await clock.flush();
    expect([key(), prefix(), other()]).toEqual([false, true, false]);
    const index = view.kvKeyIndex("app/x");
    const second = await store.put("kv/app/x", "2");
    await view.waitForIndex(second.index, 100);
    await clock.flush();
    expect(key()).toBe(true);
    expect(view.kvKeyIndex("app/x")).toBeGreaterThan(index);
  });
});
