import { isConfigError } from "@flotilla/resilience";
import { describe, expect, it } from "vitest";
import { serviceInstance } from "../src/instance.js";

describe("serviceInstance", () => {
  it("applies the defaults and freezes the result", () => {
    const i = serviceInstance({ id: "orders-1", service: "orders", address: "10.0.0.7", port: 8080 });
    expect(i).toEqual({
      id: "orders-1",
      service: "orders",
      address: "10.0.0.7",
      port: 8080,
      version: "0.0.0",
      weight: 1,
      tags: [],
      metadata: {},
    });
    expect(Object.isFrozen(i) && Object.isFrozen(i.tags) && Object.isFrozen(i.metadata)).toBe(true);
    expect("zone" in i).toBe(false);
  });

  it("keeps the optional fields given", () => {
    const i = serviceInstance({
      id: "a",
      service: "s",
      address: "h",
      port: 1,
      version: "2.0.0-rc.1+build.5",
      zone: "eu-1a",
      weight: 0,
      tags: ["canary"],
      metadata: { region: "eu" },
    });
    expect([i.version, i.zone, i.weight, i.tags, i.metadata]).toEqual([
      "2.0.0-rc.1+build.5",
      "eu-1a",
      0,
      ["canary"],
      { region: "eu" },
    ]);
  });

  it("lists every bad field with its path", () => {
    try {
      serviceInstance({
        id: "",
        service: "s",
        address: "h",
        port: 70_000,
        version: "1.2",
        weight: -1,
        tags: [3],
        metadata: { a: 1 },
      } as never);
      expect.unreachable();
    } catch (error) {
      expect(isConfigError(error)).toBe(true);
      const paths = (error as { issues: { path: string }[] }).issues.map((i) => i.path);
      expect(paths).toEqual(["id", "port", "version", "weight", "tags", "metadata.a"]);
    }
  });
});
