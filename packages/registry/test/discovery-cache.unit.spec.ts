import { ConfigError } from "@flotilla/resilience";
import { FakeClock } from "@flotilla/resilience/testing";
import { describe, expect, it } from "vitest";
import type { ClientLogger } from "../src/client/client-logger.js";
import { type DiscoveryCacheOptions, discoveryCache } from "../src/client/discovery-cache.js";
import type { InstancesQuery, InstancesResult, RegistryApi } from "../src/client/registry-api.js";
import { isRegistryClientClosedError } from "../src/client/registry-client-closed-error.js";
import type { InstanceRecord } from "../src/registration.js";
import { RegistryError, RegistryErrorCode } from "../src/registry-error.js";

interface PendingQuery {
  readonly service: string;
  readonly query: InstancesQuery;
  resolve(result: InstancesResult): void;
  reject(error: Error): void;
}

/** A registry whose every `instances` call waits until the test answers it. */
class ScriptedRegistry implements Pick<RegistryApi, "instances"> {
  readonly queries: PendingQuery[] = [];

  instances(service: string, query: InstancesQuery = {}): Promise<InstancesResult> {
    return new Promise((resolve, reject) => {
      const pending = { service, query, resolve, reject };
      this.queries.push(pending);
      query.signal?.addEventListener("abort", () => reject(query.signal?.reason));
    });
  }

  /** The latest query, which must be the only one not answered yet. */
  get last(): PendingQuery {
    const last = this.queries.at(-1);
    if (last === undefined) throw new Error("no query sent");
    return last;
  }
}

function record(id: string, modifyIndex = 1, status: InstanceRecord["status"] = "passing"): InstanceRecord {
  return {
    id,
    service: "orders",
    address: "10.0.0.1",
    port: 8080,
    version: "1.0.0",
    weight: 1,
    tags: [],
    metadata: {},
    status,
    checks: [],
    lease: `lease-${id}`,
    ttlMs: 10_000,
    registeredAt: 0,
    modifyIndex,
  };
}

const unreachable = () =>
  new RegistryError(RegistryErrorCode.Unreachable, "registry unreachable: ECONNREFUSED");

function recordingLogger(): ClientLogger & { warnings: number } {
  const logger = {
    warnings: 0,
    debug() {},
    info() {},
    warn() {
      logger.warnings++;
    },
    error() {},
  };
  return logger;
}

function setup(options: Partial<DiscoveryCacheOptions> = {}) {
  const clock = new FakeClock();
  const registry = new ScriptedRegistry();
  const logger = recordingLogger();
  const cache = discoveryCache({
    client: registry,
    clock,
    logger,
    backoff: () => 1_000,
    staleAfterMs: 30_000,
    waitMs: 60_000,
    ...options,
  });
  return { clock, registry, cache, logger };
}

describe("DiscoveryCache", () => {
  it("starts a watch on first use, answers [] until the registry has, then serves from memory", async () => {
    const { clock, registry, cache } = setup();
    expect(cache.instances("orders")).toEqual([]);
    expect(registry.queries).toHaveLength(1);
    expect(registry.last.query.index).toBeUndefined();
    const ready = cache.ready("orders");
    registry.last.resolve({ index: 7, instances: [record("a"), record("b")] });
    expect((await ready).map((i) => i.id)).toEqual(["a", "b"]);
    const first = cache.instances("orders");
    expect(first.map((i) => i.id)).toEqual(["a", "b"]);
    expect(cache.instances("orders")).toBe(first);
    await clock.flush();
    expect(registry.queries).toHaveLength(2);
    expect(registry.last.query).toMatchObject({ index: 7, waitMs: 60_000 });
    await cache.close();
  });

  it("keeps the array when an answer did not change, and replaces it (and tells listeners) when it did", async () => {
    const { clock, registry, cache } = setup();
    const seen: string[][] = [];
    cache.onChange("orders", (instances) => seen.push(instances.map((i) => i.id)));
    registry.last.resolve({ index: 3, instances: [record("a")] });
    await clock.flush();
    const first = cache.instances("orders");
    registry.last.resolve({ index: 3, instances: [record("a")] });
    await clock.flush();
    expect(cache.instances("orders")).toBe(first);
    registry.last.resolve({ index: 4, instances: [record("a", 4, "warning")] });
    await clock.flush();
    expect(cache.instances("orders")).not.toBe(first);
    registry.last.resolve({ index: 5, instances: [record("a", 4, "warning"), record("b", 5)] });
    await clock.flush();
    expect(seen).toEqual([["a"], ["a"], ["a", "b"]]);
    await cache.close();
  });

  it("serves the last known set while the registry is unreachable and reports staleness", async () => {
    const { clock, registry, cache, logger } = setup();
    cache.instances("orders");
    registry.last.resolve({ index: 3, instances: [record("a")] });
    await clock.flush();
    const known = cache.instances("orders");
    expect(cache.staleness("orders")).toEqual({ stale: false, lastSyncAt: 0, ageMs: 0 });

    await clock.advance(5_000);
    registry.last.reject(unreachable());
    await clock.flush();
    for (let t = 0; t < 30; t++) {
      await clock.advance(1_000);
      registry.last.reject(unreachable());
      await clock.flush();
      expect(cache.instances("orders")).toBe(known);
    }
    const stale = cache.staleness("orders");
    expect(stale.stale).toBe(true);
    expect(stale.lastSyncAt).toBe(0);
    expect(stale.ageMs).toBe(35_000);
    expect(stale.error?.message).toMatch(/ECONNREFUSED/);
    expect(logger.warnings).toBe(1);

    await clock.advance(1_000);
    expect(registry.last.query.index).toBeUndefined();
    registry.last.resolve({ index: 9, instances: [record("b", 9)] });
    await clock.flush();
    expect(cache.instances("orders").map((i) => i.id)).toEqual(["b"]);
    expect(cache.staleness("orders")).toEqual({ stale: false, lastSyncAt: 36_000, ageMs: 0 });
    await cache.close();
  });

  it("is not stale during a short outage", async () => {
    const { clock, registry, cache } = setup();
    cache.instances("orders");
    registry.last.resolve({ index: 3, instances: [record("a")] });
    await clock.flush();
    registry.last.reject(unreachable());
    await clock.advance(1_000);
    const staleness = cache.staleness("orders");
    expect(staleness.stale).toBe(false);
    expect(staleness.error).toBeDefined();
    await cache.close();
  });

  it("backs off between failed queries", async () => {
    const { clock, registry, cache } = setup({ backoff: (attempt) => 1_000 * attempt });
    cache.instances("orders");
    registry.last.reject(unreachable());
    await clock.advance(999);
    expect(registry.queries).toHaveLength(1);
    await clock.advance(1);
    expect(registry.queries).toHaveLength(2);
    registry.last.reject(unreachable());
    await clock.advance(1_999);
    expect(registry.queries).toHaveLength(2);
    await clock.advance(1);
    expect(registry.queries).toHaveLength(3);
    await cache.close();
  });

  it("sends the next query without an index when the index went backwards, then blocks on the new one", async () => {
    const { clock, registry, cache } = setup();
    cache.instances("orders");
    registry.last.resolve({ index: 10, instances: [record("a", 10)] });
    await clock.flush();
    expect(registry.last.query.index).toBe(10);
    registry.last.resolve({ index: 4, instances: [record("b", 2)] });
    await clock.flush();
    expect(cache.instances("orders").map((i) => i.id)).toEqual(["b"]);
    expect(registry.last.query.index).toBeUndefined();
    registry.last.resolve({ index: 5, instances: [record("b", 2)] });
    await clock.flush();
    expect(registry.last.query.index).toBe(5);
    await cache.close();
  });

  it("asks about a service the registry has never seen (index 0) once a second, not in a tight loop", async () => {
    const { clock, registry, cache } = setup();
    const ready = cache.ready("orders");
    registry.last.resolve({ index: 0, instances: [] });
    expect(await ready).toEqual([]);
    await clock.advance(999);
    expect(registry.queries).toHaveLength(1);
    await clock.advance(1);
    expect(registry.queries).toHaveLength(2);
    expect(registry.last.query.index).toBe(0);
    registry.last.resolve({ index: 4, instances: [record("a", 4)] });
    await clock.flush();
    expect(registry.queries).toHaveLength(3);
    expect(registry.last.query.index).toBe(4);
    await cache.close();
  });

  it("keeps one watch per service and filters, whatever the order of the tags", async () => {
    const { registry, cache } = setup();
    cache.instances("orders", { tags: ["b", "a"], version: "^1" });
    cache.instances("orders", { tags: ["a", "b"], version: "^1" });
    cache.ready("orders", { version: "^1", tags: ["a", "b"] });
    expect(registry.queries).toHaveLength(1);
    expect(registry.last.query).toMatchObject({ tags: ["a", "b"], version: "^1" });
    cache.instances("orders");
    cache.instances("payments", { zone: "eu-1a" });
    expect(registry.queries.map((q) => q.service)).toEqual(["orders", "orders", "payments"]);
    await cache.close();
  });

  it("close() aborts the queries in flight, rejects waiting ready() calls and leaves no timer", async () => {
    const { clock, registry, cache } = setup();
    const ready = cache.ready("orders").catch((e: unknown) => e);
    cache.instances("payments");
    registry.queries[1]!.reject(unreachable());
    await clock.flush();
    await cache.close();
    expect(isRegistryClientClosedError(await ready)).toBe(true);
    expect(registry.queries[0]!.query.signal?.aborted).toBe(true);
    expect(clock.pendingTimers).toBe(0);
    expect(cache.staleness("nothing")).toMatchObject({ stale: true });
    await expect(cache.ready("later")).rejects.toThrow(/closed/);
  });

  it("rejects bad options with their paths", () => {
    const make = () =>
      discoveryCache({
        client: {} as RegistryApi,
        staleAfterMs: -1,
        waitMs: "10m",
      } as unknown as DiscoveryCacheOptions);
    expect(make).toThrow(ConfigError);
    try {
      make();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual(["client", "staleAfterMs", "waitMs"]);
    }
  });
});
