// Lease expiry as the server wires it: self-preservation behind an embedded store's guard, and the
// expiration count of servers that share one store.
import { FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it } from "vitest";
import { resolveChecks } from "../src/health/resolve-checks.js";
import { type SelfPreservation, selfPreservation } from "../src/health/self-preservation.js";
import type { CheckDefinition } from "../src/registration.js";
import { aggregateStatus, initialChecks, isLeaseExpired } from "../src/server/instance-status.js";
import { InstanceWriter } from "../src/server/instance-writer.js";
import { LeaseExpiry } from "../src/server/lease-expiry.js";
import { RegistryView } from "../src/server/registry-view.js";
import { encodeInstance, encodeLease, instanceKey, leaseKey } from "../src/server/store-layout.js";
import { type EmbeddedStore, embeddedStore } from "../src/store/embedded-store.js";
import type { ExpiryGuard } from "../src/store/embedded-store-options.js";
import type { Store } from "../src/store/store.js";
import { capturingLogger } from "./registry-server-harness.js";

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const wall = (clock: FakeClock) => () => 1_000_000 + clock.now();

/** One server's lapse machinery (view, writer, expiry) over `store`; it writes through `writeTo`. */
async function server(
  store: EmbeddedStore,
  clock: FakeClock,
  sp: SelfPreservation | undefined,
  writeTo: Store = store,
) {
  let expiry: LeaseExpiry | undefined;
  const view = new RegistryView({
    store,
    clock,
    observer: {
      leaseDeleted: (lease, marker) => expiry?.leaseDeleted(lease, marker),
      relisted: () => expiry?.sweep(),
    },
  });
  const counted = { expired: 0 };
  expiry = new LeaseExpiry({
    clock,
    wallClock: wall(clock),
    view,
    writer: new InstanceWriter({ store: writeTo, view, catchUpMs: 1000 }),
    selfPreservation: sp,
    deregisterAfterMs: 60_000,
    logger: capturingLogger([]),
    onExpired: () => counted.expired++,
  });
  const e = expiry;
  closers.push(() => {
    e.close();
    view.close();
  });
  await view.start();
  return { view, expiry: e, counted };
}

async function register(
  store: EmbeddedStore,
  clock: FakeClock,
  id: string,
  ttlMs: number,
  checks: CheckDefinition[] = [{ type: "ttl" }],
): Promise<string> {
  const grant = await store.grantLease(ttlMs);
  await store.put(leaseKey(grant.id), encodeLease({ service: "s", id, ttlMs }), { lease: grant.id });
  const definitions = resolveChecks(checks);
  const statuses = initialChecks(definitions, wall(clock)());
  await store.put(
    instanceKey("s", id),
    encodeInstance(
      {
        id,
        service: "s",
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
        registeredAt: wall(clock)(),
      },
      definitions,
    ),
  );
  return grant.id;
}

describe("self-preservation behind the embedded store's guard", () => {
  it("counts each kept lease once, so the mode ends while the instances stay away, and then expires them", async () => {
    const clock = new FakeClock();
    let guard: ExpiryGuard = () => true;
    const store = await embeddedStore({
      clock,
      sweepInterval: 100,
      expiryGuard: (lapsed, live) => guard(lapsed, live),
    });
    closers.push(() => store.close());
    let onEnd = () => {};
    const sp = selfPreservation({
      clock,
      windowMs: 10_000,
      minLeases: 4,
      onChange: (active) => {
        if (!active) onEnd();
      },
    });
    closers.push(() => sp.close());
    const s = await server(store, clock, sp);
    guard = s.expiry.expiryGuard;
    onEnd = () => s.expiry.selfPreservationEnded();
    const leases: string[] = [];
    for (let i = 0; i < 6; i++) leases.push(await register(store, clock, `s-${i}`, 1_000));
    await clock.advance(1_100);
    expect(sp.active).toBe(true);
    expect(s.counted.expired).toBe(0);

    // Nobody renews. The kept leases lapse again every second; the window (10 s) and the exit
    // delay (10 s) pass once, and the mode is over well within 30 s.
    for (let t = 0; t < 60; t++) await clock.advance(500);
    expect(sp.active).toBe(false);
    expect(sp.stats().lapsesInWindow).toBe(0);
    expect(s.counted.expired).toBe(6);
    for (let i = 0; i < 6; i++) {
      expect(isLeaseExpired(s.view.instance("s", `s-${i}`)!.record.checks)).toBe(true);
      expect(await store.keepAlive(leases[i]!)).toBe(false);
    }
  });
});

describe("lease expirations shared by servers", () => {
  it("are counted only by the server whose write marked (or removed) the instance", async () => {
    const clock = new FakeClock();
    const store = await embeddedStore({ clock, sweepInterval: 100 });
    closers.push(() => store.close());
    // Writes wait at a gate, as etcd round trips do, so both servers decide before either write lands.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const gated = new Proxy(store, {
      get(target, property) {
        const value = Reflect.get(target, property, target) as unknown;
        if (typeof value !== "function") return value;
        if (property !== "put" && property !== "delete") return value.bind(target);
        return async (...args: unknown[]) => {
          await gate;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const a = await server(store, clock, undefined, gated);
    const b = await server(store, clock, undefined, gated);
    await register(store, clock, "marked", 1_000);
    await register(store, clock, "removed", 1_000, [{ type: "ttl", deregisterCriticalAfterMs: 0 }]);
    await register(store, clock, "alive", 60_000);
    await clock.advance(1_100);
    await clock.advance(0);
    open();
    for (let i = 0; i < 10; i++) await clock.advance(0);
    expect(a.view.instance("s", "marked")!.record.status).toBe("critical");
    expect(a.view.instance("s", "removed")).toBeUndefined();
    expect(b.view.instance("s", "alive")!.record.status).toBe("passing");
    expect(a.counted.expired + b.counted.expired).toBe(2);
  });
});
