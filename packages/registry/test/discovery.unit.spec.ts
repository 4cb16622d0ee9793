import { ConfigError } from "@flotilla/resilience";
import { FakeClock } from "@flotilla/resilience/testing";
import { describe, expect, it } from "vitest";
import { type DiscoveryOptions, discovery, type InstanceSource } from "../src/client/discovery.js";
import type { InstanceFilters } from "../src/client/registry-api.js";
import type { ServiceInstance } from "../src/instance.js";
import type { OutlierEvent } from "../src/outlier/outlier-event.js";
import { inst } from "./balancer-fixtures.js";

/** A cache stand-in: the test sets each service's array, as the real cache replaces it on change. */
class StaticSource implements InstanceSource {
  readonly sets = new Map<string, readonly ServiceInstance[]>();
  calls = 0;

  instances(service: string): readonly ServiceInstance[] {
    this.calls++;
    return this.sets.get(service) ?? [];
  }
}

function setup(options: Partial<DiscoveryOptions> = {}) {
  const clock = new FakeClock();
  const source = new StaticSource();
  const discover = discovery({
    cache: source,
    outlier: { clock, consecutive5xx: 2, baseEjectionTime: "30s" },
    ...options,
  });
  return { clock, source, discover };
}

function pickMany(pick: () => ServiceInstance | undefined, count: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let k = 0; k < count; k++) {
    const id = pick()?.id ?? "none";
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe("Discovery", () => {
  it("picks nothing for a service without instances, and reads the cache on every pick", () => {
    const { source, discover } = setup();
    expect(discover.pick("orders")).toBeUndefined();
    expect(discover.pick("orders")).toBeUndefined();
    expect(source.calls).toBe(2);
    expect(discover.inflight("orders")).toBe(0);
  });

  it("spreads picks over the cache's instances with the configured balancer", () => {
    const { source, discover } = setup({ balancer: { algorithm: "round-robin" } });
    source.sets.set("orders", [inst("a"), inst("b"), inst("c")]);
    const counts = pickMany(() => {
      const i = discover.pick("orders");
      if (i !== undefined) discover.report("orders", i, { status: 200, durationMs: 1 });
      return i;
    }, 30);
    expect(counts).toEqual(
      new Map([
        ["a", 10],
        ["b", 10],
        ["c", 10],
      ]),
    );
  });

  it("skips an instance the outlier detector ejected, and picks it again when it returns", async () => {
    const { clock, source, discover } = setup({ balancer: { algorithm: "round-robin" } });
    const events: OutlierEvent[] = [];
    discover.events.subscribe((e) => events.push(e));
    const b = inst("b");
    source.sets.set("orders", [inst("a"), b, inst("c")]);
    discover.pick("orders");
    discover.report("orders", b, { status: 503, durationMs: 5 });
    discover.report("orders", b, { error: new Error("ECONNRESET"), durationMs: 5 });
    expect(discover.outlierDetector("orders")?.isEjected("b")).toBe(true);
    expect(events.map((e) => [e.type, e.name, e.instanceId])).toEqual([["ejected", "orders", "b"]]);
    const during = pickMany(() => discover.pick("orders"), 20);
    expect(during.has("b")).toBe(false);
    await clock.advance(30_000);
    const after = pickMany(() => discover.pick("orders"), 30);
    expect(after.get("b")).toBe(10);
  });

  it("counts a success as breaking a run of errors", () => {
    const { source, discover } = setup();
    const b = inst("b");
    source.sets.set("orders", [inst("a"), b, inst("c")]);
    discover.pick("orders");
    discover.report("orders", b, { status: 500, durationMs: 5 });
    discover.report("orders", b, { durationMs: 5 });
    discover.report("orders", b, { status: 500, durationMs: 5 });
    expect(discover.outlierDetector("orders")?.isEjected("b")).toBe(false);
  });

  it("falls back to every instance when all are ejected (panic mode)", () => {
    const { source, discover } = setup({
      outlier: { consecutive5xx: 1, maxEjectionPercent: 100, alwaysEjectOneInstance: false },
    });
    const a = inst("a");
    const b = inst("b");
    source.sets.set("orders", [a, b]);
    discover.pick("orders");
    discover.report("orders", a, { status: 500, durationMs: 1 });
    discover.report("orders", b, { status: 500, durationMs: 1 });
    expect(discover.outlierDetector("orders")?.snapshot().ejected).toEqual(["a", "b"]);
    expect(discover.pick("orders")).toBeDefined();
  });

  it("lets calls in flight to an instance that left finish, and their reports are harmless", () => {
    const { source, discover } = setup();
    const a = inst("a");
    source.sets.set("orders", [a]);
    expect(discover.pick("orders")).toBe(a);
    expect(discover.pick("orders")).toBe(a);
    source.sets.set("orders", [inst("b")]);
    expect(discover.pick("orders")?.id).toBe("b");
    expect(discover.inflight("orders")).toBe(3);
    expect(() => discover.report("orders", a, { status: 200, durationMs: 10 })).not.toThrow();
    expect(() => discover.report("orders", a, { error: new Error("reset"), durationMs: 10 })).not.toThrow();
    expect(discover.inflight("orders")).toBe(1);
    expect(discover.outlierDetector("orders")?.snapshot().unknownRecords).toBe(2);
    expect(discover.pick("orders")?.id).toBe("b");
  });

  it("counts the calls still in flight to an instance that comes back, so least-request sees its load", () => {
    // random() = 0 makes two-choice least-request compare slot 0 with slot 1 and keep slot 0 on a tie.
    const { source, discover } = setup({ balancer: { algorithm: "least-request", random: () => 0 } });
    const a = inst("a");
    const b = inst("b");
    source.sets.set("orders", [a, b]);
    expect(discover.pick("orders")).toBe(a);
    source.sets.set("orders", [b]);
    const toB = discover.pick("orders");
    expect(toB).toBe(b);
    discover.report("orders", b, { status: 200, durationMs: 1 });
    source.sets.set("orders", [inst("a"), inst("b")]);
    expect(discover.pick("orders")?.id).toBe("b");
  });

  it("avoids the instances a retry already tried, and counts only the instance it returns", () => {
    const { source, discover } = setup({ balancer: { algorithm: "round-robin" } });
    source.sets.set("s", [inst("a"), inst("b"), inst("c")]);
    const exclude = new Set(["a", "b"]);
    for (let k = 0; k < 30; k++) {
      const picked = discover.pick("s", { exclude })!;
      expect(picked.id).toBe("c");
      discover.report("s", picked, { durationMs: 1 });
    }
    expect(discover.inflight("s")).toBe(0);
    const all = new Set(["a", "b", "c"]);
    expect(discover.pick("s", { exclude: all })).toBeDefined();
  });

  it("reaches an instance not yet tried even when the balancer keeps answering a tried one", () => {
    // random() = 0 with least-request compares slots 0 and 1 and keeps slot 0 on a tie: "a" every time.
    const { source, discover } = setup({ balancer: { algorithm: "least-request", random: () => 0 } });
    source.sets.set("s", [inst("a"), inst("b"), inst("c")]);
    expect(discover.pick("s")?.id).toBe("a");
    expect(discover.pick("s", { exclude: new Set(["a"]) })?.id).toBe("b");
    expect(discover.pick("s", { exclude: new Set(["a", "b"]) })?.id).toBe("c");
  });

  it("reports for a service never picked are ignored", () => {
    const { discover } = setup();
    expect(() => discover.report("nothing", inst("a"), { status: 200, durationMs: 1 })).not.toThrow();
  });

  it("rejects a bad balancer or outlier configuration with its path", () => {
    const make = () =>
      discovery({
        cache: new StaticSource(),
        balancer: { algorithm: "fastest" },
        outlier: { consecutive5xx: -1 },
      } as unknown as DiscoveryOptions);
    expect(make).toThrow(ConfigError);
    try {
      make();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual([
        "balancer.algorithm",
        "outlier.consecutive5xx",
      ]);
    }
  });
});

describe("Discovery filters", () => {
  /** A cache stand-in that records the filters it is asked with and ignores them, as a careless source might. */
  class FilterRecordingSource extends StaticSource {
    readonly seen: (InstanceFilters | undefined)[] = [];
    readonly readyCalls: [string, InstanceFilters | undefined][] = [];

    override instances(service: string, filters?: InstanceFilters): readonly ServiceInstance[] {
      this.seen.push(filters);
      return super.instances(service);
    }

    ready(service: string, filters?: InstanceFilters): Promise<readonly ServiceInstance[]> {
      this.readyCalls.push([service, filters]);
      return Promise.resolve(super.instances(service));
    }
  }

  const versioned = (id: string, version: string): ServiceInstance => ({ ...inst(id), version });

  it("passes the filters to the cache and never picks an instance outside the version range", () => {
    const source = new FilterRecordingSource();
    const discover = discovery({ cache: source, balancer: { algorithm: "round-robin" } });
    source.sets.set("s", [
      versioned("a", "1.0.0"),
      versioned("b", "2.0.0"),
      versioned("c", "1.9.3"),
      versioned("d", "1.2.0-rc.1"),
    ]);
    const filters = { version: "^1.0.0" };
    const counts = pickMany(() => {
      const picked = discover.pick("s", { filters });
      if (picked !== undefined) discover.report("s", picked, { durationMs: 1 });
      return picked;
    }, 30);
    expect(counts).toEqual(
      new Map([
        ["a", 10],
        ["c", 10],
        ["d", 10],
      ]),
    );
    expect(source.seen.every((f) => f === filters)).toBe(true);
    expect(discover.inflight("s")).toBe(0);
    discover.close();
  });

  it("keeps the filtered set while the cache's set is unchanged, and follows a change", () => {
    const { source, discover } = setup({ balancer: { algorithm: "round-robin", randomStart: false } });
    source.sets.set("s", [versioned("a", "1.0.0"), versioned("b", "1.1.0"), versioned("x", "3.0.0")]);
    const filters = { version: ">=1 <2" };
    // Round robin carries on across picks only if its membership is not replaced on every pick.
    expect([1, 2, 3, 4].map(() => discover.pick("s", { filters })?.id)).toEqual(["a", "b", "a", "b"]);
    source.sets.set("s", [versioned("b", "1.1.0"), versioned("x", "1.5.0")]);
    expect(new Set([1, 2, 3, 4].map(() => discover.pick("s", { filters })?.id))).toEqual(new Set(["b", "x"]));
  });

  it("picks nothing for a range that is not valid semver", () => {
    const { source, discover } = setup();
    source.sets.set("s", [versioned("a", "1.0.0")]);
    expect(discover.pick("s", { filters: { version: "not a range" } })).toBeUndefined();
    expect(discover.pick("s")?.id).toBe("a");
  });

  it("waits for the cache's first answer with ready(), or answers at once for a source without it", async () => {
    const source = new FilterRecordingSource();
    source.sets.set("s", [versioned("a", "1.0.0")]);
    const discover = discovery({ cache: source });
    await expect(discover.ready("s", { version: "^1" })).resolves.toHaveLength(1);
    expect(source.readyCalls).toEqual([["s", { version: "^1" }]]);
    const { source: plain, discover: other } = setup();
    plain.sets.set("s", [versioned("b", "1.0.0")]);
    await expect(other.ready("s")).resolves.toEqual([versioned("b", "1.0.0")]);
    discover.close();
  });
});
