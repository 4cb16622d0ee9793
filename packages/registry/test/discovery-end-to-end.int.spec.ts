import { createMetrics } from "@flotilla/observability";
import { afterEach, describe, expect, it } from "vitest";
import type { ClientLogger } from "../src/client/client-logger.js";
import { discovery } from "../src/client/discovery.js";
import { type DiscoveryCache, discoveryCache } from "../src/client/discovery-cache.js";
import type { RegistrationStateChange } from "../src/client/lease-keeper.js";
import { type RegistryClient, registryClient } from "../src/client/registry-client.js";
import { type SelfRegistration, selfRegistration } from "../src/client/self-registration.js";
import { thirdPartyRegistration } from "../src/client/third-party-registration.js";
import type { ServiceInstance } from "../src/instance.js";
import { type RegistryServer, registryServer } from "../src/server/registry-server.js";
import { type EmbeddedStore, embeddedStore } from "../src/store/embedded-store.js";
import { capturingLogger } from "./registry-server-harness.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Registry {
  readonly store: EmbeddedStore;
  readonly server: RegistryServer;
  readonly port: number;
  stop(): Promise<void>;
}

/** A registry server over a fresh in-memory store, on `port` (0: any). */
async function startRegistry(port = 0): Promise<Registry> {
  const store = await embeddedStore();
  const server = registryServer({
    store,
    logger: capturingLogger([]),
    metrics: createMetrics({ service: "registry-test", instanceId: "e2e", collectDefaults: false }),
  });
  const listening = await server.listen(port);
  let stopped = false;
  const registry = {
    store,
    server,
    port: listening.port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
      await store.close();
    },
  };
  cleanups.push(() => registry.stop());
  return registry;
}

function clientOf(port: number): RegistryClient {
  const client = registryClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 2_000 });
  cleanups.push(() => client.close());
  return client;
}

function cacheOf(client: RegistryClient, logger?: ClientLogger): DiscoveryCache {
  const cache = discoveryCache({ client, ...(logger === undefined ? {} : { logger }) });
  cleanups.push(() => cache.close());
  return cache;
}

const ids = (set: readonly ServiceInstance[]) => set.map((i) => i.id).sort();

/** Resolves with the service's set once `predicate` holds for it (now, or after a change). */
function until(
  cache: DiscoveryCache,
  service: string,
  predicate: (set: readonly ServiceInstance[]) => boolean,
): Promise<readonly ServiceInstance[]> {
  return new Promise((resolve) => {
    const current = cache.instances(service);
    if (predicate(current)) {
      resolve(current);
      return;
    }
    const unsubscribe = cache.onChange(service, (set) => {
      if (!predicate(set)) return;
      unsubscribe();
      resolve(set);
    });
  });
}

/** Collects a registration's state changes and lets a test wait for one. */
function stateLog() {
  const changes: RegistrationStateChange[] = [];
  const waiters: { predicate: (c: RegistrationStateChange) => boolean; resolve: () => void }[] = [];
  return {
    changes,
    onStateChange(change: RegistrationStateChange) {
      changes.push(change);
      for (const w of waiters.splice(0)) {
        if (w.predicate(change)) w.resolve();
        else waiters.push(w);
      }
    },
    next(predicate: (c: RegistrationStateChange) => boolean): Promise<void> {
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
  };
}

function register(client: RegistryClient, id: string, log = stateLog()): SelfRegistration {
  const registration = selfRegistration({
    client,
    registration: { service: "orders", id, address: "127.0.0.1", port: 9000, ttlMs: 1_000 },
    handleSignals: false,
    logger: capturingLogger([]),
    onStateChange: log.onStateChange,
  });
  cleanups.push(() => registration.stop());
  registration.start();
  return registration;
}

describe("self-registration, discovery cache and discovery against a registry server", () => {
  it("discovers registered instances, drops a stopped one, and keeps calls to it harmless", async () => {
    const registry = await startRegistry();
    const client = clientOf(registry.port);
    const a = register(client, "orders-a");
    const b = register(client, "orders-b");
    await Promise.all([a.registered(), b.registered()]);
    const cache = cacheOf(client);
    await cache.ready("orders");
    await until(cache, "orders", (set) => set.length === 2);

    const discover = discovery({ cache });
    cleanups.push(() => discover.close());
    const picked = discover.pick("orders");
    expect(["orders-a", "orders-b"]).toContain(picked?.id);
    const leaving = picked?.id === "orders-a" ? a : b;
    const staying = picked?.id === "orders-a" ? "orders-b" : "orders-a";

    await leaving.stop();
    await until(cache, "orders", (set) => ids(set).join() === staying);
    discover.report("orders", picked!, { status: 200, durationMs: 3 });
    for (let k = 0; k < 10; k++) {
      const next = discover.pick("orders");
      expect(next?.id).toBe(staying);
      discover.report("orders", next!, { status: 200, durationMs: 1 });
    }
    expect(discover.inflight("orders")).toBe(0);
  });

  it("registers again when the registry forgets the lease", async () => {
    const registry = await startRegistry();
    const client = clientOf(registry.port);
    const log = stateLog();
    const registration = register(client, "orders-a", log);
    await registration.registered();
    const firstLease = registration.lease!;
    const lost = log.next((c) => c.state === "registering");
    const back = log.next((c) => c.state === "registered" && c.lease !== firstLease);
    expect(await registry.store.revokeLease(firstLease)).toBe(true);
    await lost;
    await back;
    const cache = cacheOf(client);
    await until(cache, "orders", (set) => set.length === 1);
    expect(registration.lease).not.toBe(firstLease);
  });

  it("serves the last known set while the registry is down, then resynchronises with a restarted one", async () => {
    const first = await startRegistry();
    const client = clientOf(first.port);
    const log = stateLog();
    const registration = register(client, "orders-a", log);
    await registration.registered();
    let outage!: () => void;
    const logged = new Promise<void>((resolve) => {
      outage = resolve;
    });
    const ignore = () => {};
    const cache = cacheOf(client, { debug: ignore, info: ignore, error: ignore, warn: () => outage() });
    await until(cache, "orders", (set) => set.length === 1);
    const known = cache.instances("orders");

    await first.stop();
    await logged;
    expect(cache.instances("orders")).toBe(known);
    expect(cache.staleness("orders").error).toBeDefined();

    const reregistered = log.next((c) => c.state === "registered");
    const second = await startRegistry(first.port);
    await reregistered;
    const after = await until(cache, "orders", (set) => set !== known && set.length === 1);
    expect(cache.staleness("orders")).toMatchObject({ stale: false });
    expect(after[0]?.id).toBe("orders-a");
    await second.stop();
  });

  it("keeps third-party instances registered and deregisters them on stop", async () => {
    const registry = await startRegistry();
    const client = clientOf(registry.port);
    const external = thirdPartyRegistration({
      client,
      registrations: [
        {
          service: "postgres",
          id: "pg-1",
          address: "127.0.0.1",
          port: registry.port,
          ttlMs: 1_000,
          checks: [{ type: "tcp", intervalMs: 1_000 }],
        },
      ],
    });
    cleanups.push(() => external.stop());
    external.start();
    await external.registered();
    const cache = cacheOf(client);
    await until(cache, "postgres", (set) => set.length === 1);
    await external.stop();
    await until(cache, "postgres", (set) => set.length === 0);
  });
});
