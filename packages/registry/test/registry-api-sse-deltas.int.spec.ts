// Service streams with `?deltas=true` against a real server: the events on the wire, and a
// discovery cache (which asks for deltas) whose set stays what a fresh query answers.
import { afterEach, describe, expect, it } from "vitest";
import { type DiscoveryCache, discoveryCache } from "../src/client/discovery-cache.js";
import type { InstanceFilters } from "../src/client/registry-api.js";
import { type RegistryClient, registryClient } from "../src/client/registry-client.js";
import type { InstanceRecord } from "../src/registration.js";
import { instanceKey } from "../src/server/store-layout.js";
import {
  call,
  type Harness,
  openStream,
  registration,
  type SseReader,
  startHarness,
} from "./registry-server-harness.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(...args: Parameters<typeof startHarness>): Promise<Harness> {
  const h = await startHarness(...args);
  cleanups.push(() => h.close());
  return h;
}

async function stream(url: string, path: string): Promise<SseReader> {
  const reader = await openStream(url, path);
  cleanups.push(() => reader.close());
  return reader;
}

function follow(url: string): { client: RegistryClient; cache: DiscoveryCache } {
  const client = registryClient({ url, timeoutMs: 2_000 });
  const cache = discoveryCache({ client });
  cleanups.push(() => client.close());
  cleanups.push(() => cache.close());
  return { client, cache };
}

interface Delta {
  readonly index: number;
  readonly from: number;
  readonly put: InstanceRecord[];
  readonly delete: string[];
}

const ids = (records: readonly { readonly id: string }[]) => records.map((r) => r.id);

/** Resolves once the cache's set for `filters` is exactly what a fresh query answers now. */
async function converged(client: RegistryClient, cache: DiscoveryCache, filters: InstanceFilters = {}) {
  const fresh = (await client.instances("s", filters)).instances;
  await new Promise<void>((resolve) => {
    const check = (set: readonly unknown[]) => {
      if (JSON.stringify(set) !== JSON.stringify(fresh)) return false;
      resolve();
      return true;
    };
    if (check(cache.instances("s", filters))) return;
    const unsubscribe = cache.onChange(
      "s",
      (set) => {
        if (check(set)) unsubscribe();
      },
      filters,
    );
  });
  return fresh;
}

describe("registry API: SSE deltas", () => {
  it("sends a snapshot, then one delta per change starting from the previous event's index", async () => {
    const { url } = await start();
    await call(url, "POST", "/v1/instances", registration("s", "s-1", { tags: ["x"] }));
    const events = await stream(url, "/v1/services/s/stream?tag=x&deltas=true");
    const snapshot = await events.next();
    expect(snapshot.event).toBe("snapshot");
    expect(ids(JSON.parse(snapshot.data).instances)).toEqual(["s-1"]);

    const added = await call(url, "POST", "/v1/instances", registration("s", "s-2", { tags: ["x"] }));
    const first = await events.next();
    expect(first.event).toBe("delta");
    const put = JSON.parse(first.data) as Delta;
    expect(put).toMatchObject({ index: added.index, from: Number(snapshot.id), delete: [] });
    expect(put.put).toEqual([added.json.instance]);
    expect(first.id).toBe(String(added.index));

    // Not shown by the filter: no event. Then s-1 leaves the filter and s-2 is deregistered.
    await call(url, "POST", "/v1/instances", registration("s", "s-3"));
    await call(url, "POST", "/v1/instances", registration("s", "s-1", { tags: ["y"] }));
    const second = JSON.parse((await events.next()).data) as Delta;
    expect(second).toMatchObject({ from: put.index, put: [], delete: ["s-1"] });
    const removed = await call(url, "DELETE", "/v1/instances/s/s-2");
    const third = JSON.parse((await events.next()).data) as Delta;
    expect(third).toEqual({ index: removed.index, from: second.index, put: [], delete: ["s-2"] });
  });

  it("keeps sending whole lists to clients that do not ask for deltas, and refuses a bad deltas value", async () => {
    const { url } = await start();
    const events = await stream(url, "/v1/services/s/stream?deltas=false");
    expect((await events.next()).event).toBe("snapshot");
    await call(url, "POST", "/v1/instances", registration("s", "s-1"));
    const update = await events.next();
    expect(update.event).toBe("update");
    expect(ids(JSON.parse(update.data).instances)).toEqual(["s-1"]);
    const bad = await call(url, "GET", "/v1/services/s/stream?deltas=yes");
    expect(bad.status).toBe(400);
    expect(bad.json.issues).toEqual([{ path: "deltas", message: 'expected true or false, got "yes"' }]);
  });

  it("keeps a discovery cache's set equal to a fresh query through registrations, changes and removals", async () => {
    const { url } = await start();
    const { client, cache } = follow(url);
    const tagged = { tags: ["x"] };
    await cache.ready("s");
    await cache.ready("s", tagged);
    for (const id of ["m", "c", "x", "a"]) {
      await call(url, "POST", "/v1/instances", registration("s", id, { tags: ["x"] }));
      await converged(client, cache);
      await converged(client, cache, tagged);
    }
    await call(url, "POST", "/v1/instances", registration("s", "c", { tags: [], port: 9001 }));
    await call(url, "DELETE", "/v1/instances/s/m");
    expect(ids(await converged(client, cache))).toEqual(["a", "c", "x"]);
    expect(ids(await converged(client, cache, tagged))).toEqual(["a", "x"]);
    // Writes in flight together: the stream may carry several changes in one delta.
    await Promise.all([
      call(url, "POST", "/v1/instances", registration("s", "b", { tags: ["x"] })),
      call(url, "DELETE", "/v1/instances/s/a"),
      call(url, "POST", "/v1/instances", registration("s", "z", { tags: ["x"] })),
      call(url, "POST", "/v1/instances", registration("s", "x", { tags: ["x"], port: 9002 })),
    ]);
    const all = await converged(client, cache);
    expect(ids(all)).toEqual(["b", "c", "x", "z"]);
    expect(all.find((i) => i.id === "x")?.port).toBe(9002);
    expect(ids(await converged(client, cache, tagged))).toEqual(["b", "x", "z"]);
  });

  it("sends a snapshot when the server re-lists its store, then deltas from its index", async () => {
    // A history of two events: three store writes in one turn push the watch past it (a reset).
    const h = await start({}, { historySize: 2 });
    const { url } = h;
    await call(url, "POST", "/v1/instances", registration("s", "a"));
    await call(url, "POST", "/v1/instances", registration("s", "b"));
    const { client, cache } = follow(url);
    await cache.ready("s");
    const events = await stream(url, "/v1/services/s/stream?deltas=true");
    const before = await events.next();
    expect(ids(JSON.parse(before.data).instances)).toEqual(["a", "b"]);

    // Removing "a" leaves the service's highest modifyIndex as it was (b's).
    void h.store.delete(instanceKey("s", "a"));
    void h.store.put("kv/one", "1");
    void h.store.put("kv/two", "2");
    const resync = await events.next();
    expect(resync.event).toBe("snapshot");
    expect(Number(resync.id)).toBeGreaterThan(Number(before.id));
    expect(ids(JSON.parse(resync.data).instances)).toEqual(["b"]);
    expect(ids(await converged(client, cache))).toEqual(["b"]);

    const added = await call(url, "POST", "/v1/instances", registration("s", "c"));
    const delta = JSON.parse((await events.next()).data) as Delta;
    expect(delta).toMatchObject({ index: added.index, from: Number(resync.id), delete: [] });
    expect(ids(await converged(client, cache))).toEqual(["b", "c"]);
  });
});
