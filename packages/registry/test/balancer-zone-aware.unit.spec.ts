import { describe, expect, it } from "vitest";
import type { Balancer, CallResult } from "../src/balancer/balancer.js";
import { leastRequest } from "../src/balancer/least-request.js";
import { roundRobin } from "../src/balancer/round-robin.js";
import { seededRandom } from "../src/balancer/seeded-random.js";
import { zoneAware } from "../src/balancer/zone-aware.js";
import type { ServiceInstance } from "../src/instance.js";
import { inst, tally } from "./balancer-fixtures.js";

function zoned(spec: Record<string, number>): ServiceInstance[] {
  return Object.entries(spec).flatMap(([zone, n]) =>
    Array.from({ length: n }, (_, k) => inst(`${zone}-${k}`, 1, zone)),
  );
}

const zoneOf = (id: string) => id.split("-")[0];

describe("zoneAware", () => {
  it("keeps every pick in the caller's zone while it has enough instances", () => {
    const b = zoneAware({ zone: "a", balancer: () => leastRequest({ random: seededRandom(1) }) });
    b.update(zoned({ a: 3, b: 3, c: 3 }));
    expect(b.preferringLocal).toBe(true);
    const counts = tally(b, 3000);
    expect([...counts.keys()].every((id) => zoneOf(id) === "a")).toBe(true);
    expect(counts.size).toBe(3);
  });

  it("falls back to all zones when the local zone has too few instances", () => {
    const b = zoneAware({
      zone: "a",
      minLocalInstances: 3,
      balancer: () => leastRequest({ random: seededRandom(2) }),
    });
    b.update(zoned({ a: 2, b: 3, c: 3 }));
    expect(b.preferringLocal).toBe(false);
    expect(new Set([...tally(b, 3000).keys()].map(zoneOf))).toEqual(new Set(["a", "b", "c"]));
    // An instance joining the local zone brings the traffic back home.
    b.update(zoned({ a: 3, b: 3, c: 3 }));
    expect(new Set([...tally(b, 3000).keys()].map(zoneOf))).toEqual(new Set(["a"]));
  });

  it("falls back when the local zone holds too small a share of the weight", () => {
    const b = zoneAware({
      zone: "a",
      minLocalShare: 0.3,
      balancer: () => leastRequest({ random: seededRandom(3) }),
    });
    const members = [...zoned({ a: 2 }), ...zoned({ b: 2 }).map((m) => ({ ...m, weight: 3 }))];
    b.update(members);
    expect(b.preferringLocal).toBe(false);
    b.update(zoned({ a: 2, b: 2 }));
    expect(b.preferringLocal).toBe(true);
  });

  it("ignores instances of weight 0 when judging the local zone, and never picks them", () => {
    const b = zoneAware({ zone: "a" });
    b.update([inst("a-0", 1, "a"), inst("a-1", 0, "a"), inst("b-0", 1, "b")]);
    expect(b.preferringLocal).toBe(false);
    expect(tally(b, 500).get("a-1")).toBeUndefined();
  });

  it("has no preference without a zone, and returns undefined when empty", () => {
    const b = zoneAware({});
    expect(b.pick()).toBeUndefined();
    b.update(zoned({ a: 3, b: 3 }));
    expect(b.preferringLocal).toBe(false);
    expect(tally(b, 2000).size).toBe(6);
  });

  it("reports calls to the inner balancers, and takes their algorithm's name", () => {
    const seen: string[] = [];
    const recording = (): Balancer => {
      const inner = roundRobin({ randomStart: false });
      return {
        algorithm: inner.algorithm,
        pick: () => inner.pick(),
        update: (instances) => inner.update(instances),
        onStart: (i) => seen.push(`start ${i.id}`),
        onEnd: (i, r: CallResult) => seen.push(`end ${i.id} ${r.status}`),
      };
    };
    const b = zoneAware({ zone: "a", balancer: recording });
    expect(b.algorithm).toBe("round-robin");
    b.update(zoned({ a: 2, b: 2 }));
    const i = b.pick()!;
    b.onStart(i);
    b.onEnd(i, { latencyMs: 3, status: 200 });
    const remote = inst("b-0", 1, "b");
    b.onStart(remote);
    expect(seen).toEqual(["start a-0", "start a-0", "end a-0 200", "end a-0 200", "start b-0"]);
  });

  it("rejects bad options with their path", () => {
    expect(() => zoneAware({ minLocalShare: 2 })).toThrowError(/minLocalShare: must be at most 1/);
    expect(() => zoneAware({ zone: 7 as never })).toThrowError(/zone: expected a string/);
  });
});
