import { isConfigError } from "@flotilla/resilience";
import { describe, expect, it } from "vitest";
import { balancerAlgorithms, createBalancer } from "../src/balancer/create-balancer.js";
import { ZoneAwareBalancer } from "../src/balancer/zone-aware.js";
import { inst, many } from "./balancer-fixtures.js";

describe("createBalancer", () => {
  it("defaults to least request", () => {
    expect(createBalancer().algorithm).toBe("least-request");
  });

  it("makes every algorithm from plain data", () => {
    for (const algorithm of balancerAlgorithms) {
      const b = createBalancer({ algorithm } as never);
      expect(b.algorithm).toBe(algorithm);
      b.update(many(3));
      expect(b.pick({ key: "k" })).toBeDefined();
    }
  });

  it("passes options through and wraps in zone-aware routing when asked", () => {
    const b = createBalancer({
      algorithm: "round-robin",
      randomStart: false,
      zoneAware: { zone: "a", minLocalInstances: 1 },
    });
    expect(b).toBeInstanceOf(ZoneAwareBalancer);
    b.update([inst("x", 1, "b"), inst("y", 1, "a"), inst("z", 1, "a")]);
    expect([b.pick()?.id, b.pick()?.id, b.pick()?.id]).toEqual(["y", "z", "y"]);
  });

  it("lists every bad value with its path", () => {
    try {
      createBalancer({
        algorithm: "ring-hash",
        virtualNodes: -1,
        typo: 1,
        zoneAware: { minLocalShare: "x" },
      } as never);
      expect.unreachable();
    } catch (error) {
      expect(isConfigError(error)).toBe(true);
      const text = String(error);
      expect(text).toContain("virtualNodes: must be at least 1");
      expect(text).toContain("typo: unknown option");
      expect(text).toContain("zoneAware.minLocalShare: expected a number");
    }
    expect(() => createBalancer({ algorithm: "fastest" } as never)).toThrowError(
      /algorithm: expected one of/,
    );
  });
});
