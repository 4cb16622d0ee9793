import { ConfigError } from "@flotilla/resilience";
import { FakeClock } from "@flotilla/resilience/testing";
import { describe, expect, it } from "vitest";
import type { ClientLogger } from "../src/client/client-logger.js";
import { type DiscoveryCacheOptions, discoveryCache } from "../src/client/discovery-cache.js";
import type { InstanceFilters } from "../src/client/registry-api.js";
import type { InstanceStreamHandlers, RegistryClient, StreamEnd } from "../src/client/registry-client.js";
import { isRegistryClientClosedError } from "../src/client/registry-client-closed-error.js";
import type { InstanceRecord } from "../src/registration.js";
import { RegistryError, RegistryErrorCode } from "../src/registry-error.js";

/** One `streamInstances` call, driven by the test. */
interface ScriptedStream {
  readonly service: string;
  readonly filters: InstanceFilters;
  readonly handlers: InstanceStreamHandlers;
  /** The stream has ended (by the test or by the signal). */
  ended: boolean;
  /** The registry accepts the stream and sends its snapshot. */
  snapshot(index: number, instances: readonly InstanceRecord[]): void;
  update(index: number, instances: readonly InstanceRecord[]): void;
  /** A `delta` event: what changed from index `from` to `index`. */
  delta(index: number, from: number, put: readonly InstanceRecord[], deleted?: readonly string[]): void;
  /** The stream fails: could not connect, or broke. */
  fail(error: Error): void;
  /** The registry ends the stream. */
  end(): void;
}

/** A registry whose every stream does what the test says, as `RegistryClient.streamInstances` would. */
class ScriptedRegistry implements Pick<RegistryClient, "streamInstances"> {
  readonly streams: ScriptedStream[] = [];

  streamInstances(
    service: string,
    filters: InstanceFilters,
    handlers: InstanceStreamHandlers,
  ): Promise<StreamEnd> {
    return new Promise((resolve) => {
      let opened = false;
      const stream: ScriptedStream = {
        service,
        filters,
        handlers,
        ended: false,
        snapshot(index, instances) {
          if (!opened) handlers.onOpen?.();
          opened = true;
          handlers.onSnapshot?.({ index, instances });
        },
        update(index, instances) {
          handlers.onUpdate?.({ index, instances });
        },
        delta(index, from, put, deleted = []) {
          handlers.onDelta?.({ index, from, put, delete: deleted });
        },
        fail(error) {
          handlers.onError?.(error);
          finish(error);
        },
        end() {
          finish(undefined);
        },
      };
      const finish = (error: Error | undefined) => {
        if (stream.ended) return;
        stream.ended = true;
        resolve({ lastEventId: undefined, error });
      };
      handlers.signal?.addEventListener("abort", () => finish(undefined));
      this.streams.push(stream);
    });
  }

  /** The latest stream, which must be the only one still open. */
  get last(): ScriptedStream {
    const last = this.streams.at(-1);
    if (last === undefined) throw new Error("no stream opened");
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

const ids = (list: readonly { readonly id: string }[]) => list.map((i) => i.id);

describe("DiscoveryCache", () => {
  it("starts a stream on first use, answers [] until its snapshot, then serves from memory", async () => {
    const { registry, cache } = setup();
    expect(cache.instances("orders")).toEqual([]);
    expect(registry.streams).toHaveLength(1);
    expect(registry.last.handlers.lastEventId).toBeUndefined();
    const ready = cache.ready("orders");
    registry.last.snapshot(7, [record("a"), record("b")]);
    expect(ids(await ready)).toEqual(["a", "b"]);
    const first = cache.instances("orders");
    expect(ids(first)).toEqual(["a", "b"]);
    expect(cache.instances("orders")).toBe(first);
    registry.last.update(8, [record("a")]);
    expect(ids(cache.instances("orders"))).toEqual(["a"]);
    expect(registry.streams).toHaveLength(1);
    await cache.close();
  });

  it("keeps the array when an event did not change the set, and replaces it (and tells listeners) when it did", async () => {
    const { registry, cache } = setup();
    const seen: string[][] = [];
    cache.onChange("orders", (instances) => seen.push(ids(instances)));
    registry.last.snapshot(3, [record("a")]);
    const first = cache.instances("orders");
    registry.last.update(3, [record("a")]);
    expect(cache.instances("orders")).toBe(first);
    registry.last.update(4, [record("a", 4, "warning")]);
    expect(cache.instances("orders")).not.toBe(first);
    registry.last.update(5, [record("a", 4, "warning"), record("b", 5)]);
    expect(seen).toEqual([["a"], ["a"], ["a", "b"]]);
    await cache.close();
  });

  it("serves the last known set while the registry is unreachable, reports staleness, then resynchronises", async () => {
    const { clock, registry, cache, logger } = setup();
    cache.instances("orders");
    registry.last.snapshot(3, [record("a")]);
    const known = cache.instances("orders");
    await clock.advance(5_000);
    // An open stream is current, however long ago its last event.
    expect(cache.staleness("orders")).toEqual({ stale: false, lastSyncAt: 5_000, ageMs: 0 });

    registry.last.fail(unreachable());
    await clock.flush();
    for (let t = 0; t < 30; t++) {
      await clock.advance(1_000);
      registry.last.fail(unreachable());
      await clock.flush();
      expect(cache.instances("orders")).toBe(known);
    }
    const stale = cache.staleness("orders");
    expect(stale.stale).toBe(true);
    expect(stale.lastSyncAt).toBe(5_000);
    expect(stale.ageMs).toBe(30_000);
    expect(stale.error?.message).toMatch(/ECONNREFUSED/);
    expect(logger.warnings).toBe(1);

    await clock.advance(1_000);
    expect(registry.streams).toHaveLength(32);
    registry.last.snapshot(9, [record("b", 9)]);
    expect(ids(cache.instances("orders"))).toEqual(["b"]);
    expect(cache.staleness("orders")).toEqual({ stale: false, lastSyncAt: 36_000, ageMs: 0 });
    expect(registry.streams.map((s) => s.handlers.lastEventId)).toEqual(Array(32).fill(undefined));
    await cache.close();
  });

  it("is not stale during a short outage", async () => {
    const { clock, registry, cache } = setup();
    cache.instances("orders");
    registry.last.snapshot(3, [record("a")]);
    registry.last.fail(unreachable());
    await clock.advance(1_000);
    const staleness = cache.staleness("orders");
    expect(staleness).toMatchObject({ stale: false, lastSyncAt: 0, ageMs: 1_000 });
    expect(staleness.error).toBeDefined();
    await cache.close();
  });

  it("backs off between failed streams, counting again once the registry accepts one", async () => {
    const { clock, registry, cache } = setup({ backoff: (attempt) => 1_000 * attempt });
    cache.instances("orders");
    registry.last.fail(unreachable());
    await clock.advance(999);
    expect(registry.streams).toHaveLength(1);
    await clock.advance(1);
    expect(registry.streams).toHaveLength(2);
    registry.last.fail(unreachable());
    await clock.advance(1_999);
    expect(registry.streams).toHaveLength(2);
    await clock.advance(1);
    expect(registry.streams).toHaveLength(3);
    registry.last.snapshot(4, [record("a", 4)]);
    registry.last.fail(unreachable());
    await clock.advance(999);
    expect(registry.streams).toHaveLength(3);
    await clock.advance(1);
    expect(registry.streams).toHaveLength(4);
    await cache.close();
  });

  it("takes the snapshot of a registry restarted without its state, even at the same or a lower index", async () => {
    const { clock, registry, cache } = setup();
    cache.instances("orders");
    registry.last.snapshot(10, [record("a", 10)]);
    registry.last.fail(unreachable());
    await clock.advance(1_000);
    expect(registry.last.handlers.lastEventId).toBeUndefined();
    registry.last.snapshot(10, [record("b", 10)]);
    expect(ids(cache.instances("orders"))).toEqual(["b"]);
    registry.last.fail(unreachable());
    await clock.advance(1_000);
    registry.last.snapshot(4, [record("c", 2)]);
    expect(ids(cache.instances("orders"))).toEqual(["c"]);
    registry.last.update(5, [record("c", 2), record("d", 5)]);
    expect(ids(cache.instances("orders"))).toEqual(["c", "d"]);
    await cache.close();
  });

  it("reconnects without a warning when the registry ends a stream after its snapshot, but not before", async () => {
    const { clock, registry, cache, logger } = setup();
    cache.instances("orders");
    registry.last.snapshot(3, [record("a")]);
    await clock.advance(2_000);
    registry.last.end();
    await clock.flush();
    expect(cache.staleness("orders")).toEqual({ stale: false, lastSyncAt: 2_000, ageMs: 0 });
    expect(logger.warnings).toBe(0);
    await clock.advance(1_000);
    expect(registry.streams).toHaveLength(2);
    registry.last.end();
    await clock.flush();
    expect(cache.staleness("orders").error?.message).toMatch(/before its snapshot/);
    expect(logger.warnings).toBe(1);
    await cache.close();
  });

  it("follows a service the registry has never seen until it appears", async () => {
    const { registry, cache } = setup();
    const ready = cache.ready("orders");
    registry.last.snapshot(0, []);
    expect(await ready).toEqual([]);
    registry.last.update(4, [record("a", 4)]);
    expect(ids(cache.instances("orders"))).toEqual(["a"]);
    expect(registry.streams).toHaveLength(1);
    await cache.close();
  });

  it("keeps one watch per service and filters, whatever the order of the tags", async () => {
    const { registry, cache } = setup();
    cache.instances("orders", { tags: ["b", "a"], version: "^1" });
    cache.instances("orders", { tags: ["a", "b"], version: "^1" });
    cache.ready("orders", { version: "^1", tags: ["a", "b"] });
    expect(registry.streams).toHaveLength(1);
    expect(registry.last.filters).toEqual({ tags: ["a", "b"], version: "^1" });
    cache.instances("orders");
    cache.instances("payments", { zone: "eu-1a" });
    expect(registry.streams.map((s) => s.service)).toEqual(["orders", "orders", "payments"]);
    await cache.close();
  });

  it("close() ends the streams and retry waits, rejects waiting ready() calls and leaves no timer", async () => {
    const { clock, registry, cache } = setup();
    const ready = cache.ready("orders").catch((e: unknown) => e);
    cache.instances("payments");
    registry.streams[1]!.fail(unreachable());
    await clock.flush();
    expect(clock.pendingTimers).toBe(1);
    await cache.close();
    expect(isRegistryClientClosedError(await ready)).toBe(true);
    expect(registry.streams[0]!.handlers.signal?.aborted).toBe(true);
    expect(registry.streams[0]!.ended).toBe(true);
    expect(registry.streams).toHaveLength(2);
    expect(clock.pendingTimers).toBe(0);
    expect(cache.staleness("nothing")).toMatchObject({ stale: true });
    await expect(cache.ready("later")).rejects.toThrow(/closed/);
  });

  it("asks for deltas and applies them in the registry's order, replacing the array on each change", async () => {
    const { registry, cache } = setup();
    const seen: string[][] = [];
    cache.onChange("orders", (instances) => seen.push(ids(instances)));
    expect(registry.last.handlers.onDelta).toBeTypeOf("function");
    registry.last.snapshot(3, [record("a", 2), record("c", 3)]);
    const first = cache.instances("orders");
    registry.last.delta(4, 3, [record("b", 4)]);
    expect(ids(cache.instances("orders"))).toEqual(["a", "b", "c"]);
    expect(first.map((i) => i.id)).toEqual(["a", "c"]);
    registry.last.delta(6, 4, [record("d", 6), record("b", 6, "warning")], ["a"]);
    const now = cache.instances("orders") as readonly InstanceRecord[];
    expect(now.map((i) => [i.id, i.modifyIndex, i.status])).toEqual([
      ["b", 6, "warning"],
      ["c", 3, "passing"],
      ["d", 6, "passing"],
    ]);
    expect(Object.isFrozen(now)).toBe(true);
    registry.last.delta(7, 6, [], ["b", "c", "d"]);
    expect(cache.instances("orders")).toEqual([]);
    expect(seen).toEqual([["a", "c"], ["a", "b", "c"], ["b", "c", "d"], []]);
    expect(registry.streams).toHaveLength(1);
    await cache.close();
  });

  it("opens a new stream at once when a delta does not start from the index it holds, and takes its snapshot", async () => {
    const { clock, registry, cache, logger } = setup();
    cache.instances("orders");
    registry.last.snapshot(3, [record("a", 3)]);
    const held = cache.instances("orders");
    registry.last.delta(9, 5, [record("b", 9)]);
    expect(registry.streams[0]!.ended).toBe(true);
    expect(registry.streams[0]!.handlers.signal?.aborted).toBe(true);
    expect(cache.instances("orders")).toBe(held);
    await clock.flush();
    expect(clock.now()).toBe(0);
    expect(registry.streams).toHaveLength(2);
    registry.last.snapshot(9, [record("a", 3), record("b", 7), record("c", 9)]);
    expect(ids(cache.instances("orders"))).toEqual(["a", "b", "c"]);
    registry.last.delta(10, 9, [], ["a"]);
    expect(ids(cache.instances("orders"))).toEqual(["b", "c"]);
    expect(logger.warnings).toBe(0);
    await cache.close();
  });

  it("resynchronises after a delta that removes an instance it lacks, and backs off when the next stream does it again", async () => {
    const { clock, registry, cache, logger } = setup();
    cache.instances("orders");
    registry.last.snapshot(3, [record("a", 3)]);
    registry.last.delta(4, 3, [], ["x"]);
    await clock.flush();
    expect(registry.streams).toHaveLength(2);
    registry.last.snapshot(4, [record("a", 3)]);
    registry.last.delta(5, 4, [record("a", 5)], ["a"]);
    await clock.flush();
    expect(registry.streams).toHaveLength(2);
    expect(logger.warnings).toBe(1);
    expect(cache.staleness("orders").error?.message).toMatch(/does not apply/);
    expect(ids(cache.instances("orders"))).toEqual(["a"]);
    await clock.advance(1_000);
    expect(registry.streams).toHaveLength(3);
    registry.last.snapshot(5, [record("a", 5)]);
    registry.last.delta(6, 5, [record("b", 6)]);
    registry.last.delta(8, 7, [record("c", 8)]);
    await clock.flush();
    // A delta applied since the last gap: the next gap reconnects at once again.
    expect(registry.streams).toHaveLength(4);
    expect(ids(cache.instances("orders"))).toEqual(["a", "b"]);
    await cache.close();
  });

  it("applies a delta of many changes in the same order as a few, and refuses one naming an id twice", async () => {
    const { clock, registry, cache } = setup();
    cache.instances("orders");
    const start = ["b", "d", "f", "h", "j", "l"].map((id) => record(id, 2));
    registry.last.snapshot(2, start);
    const put = ["a", "c", "d", "e", "g", "k", "m", "n", "z"].map((id) => record(id, 3));
    registry.last.delta(3, 2, put, ["b", "h", "l"]);
    expect(ids(cache.instances("orders"))).toEqual(["a", "c", "d", "e", "f", "g", "j", "k", "m", "n", "z"]);
    expect(
      (cache.instances("orders") as readonly InstanceRecord[]).find((i) => i.id === "d")?.modifyIndex,
    ).toBe(3);
    registry.last.delta(4, 3, [record("q", 4)], ["q"]);
    await clock.flush();
    expect(registry.streams).toHaveLength(2);
    expect(ids(cache.instances("orders"))).toContain("a");
    expect(ids(cache.instances("orders"))).not.toContain("q");
    await cache.close();
  });

  it("takes no delta before the stream's snapshot", async () => {
    const { clock, registry, cache } = setup();
    cache.instances("orders");
    registry.last.snapshot(3, [record("a", 3)]);
    registry.last.end();
    await clock.advance(1_000);
    expect(registry.streams).toHaveLength(2);
    registry.last.delta(4, 3, [record("b", 4)]);
    expect(ids(cache.instances("orders"))).toEqual(["a"]);
    expect(registry.streams[1]!.ended).toBe(true);
    await cache.close();
  });

  it("rejects bad options with their paths", () => {
    const make = () =>
      discoveryCache({
        client: {} as RegistryClient,
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
