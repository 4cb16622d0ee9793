import { initTelemetry, type Telemetry } from "@flotilla/observability";
import { type Discovery, discovery, seededRandom } from "@flotilla/registry";
import { BreakerState, ConfigError, DeadlineExceededError } from "@flotilla/resilience";
import { FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { DependencyPolicies } from "../src/client/dependency-policies.js";
import type { FallbackQueue, QueuedCall } from "../src/client/fallback-queue.js";
import {
  RemoteServiceError,
  ServiceBadResponseError,
  ServiceCallQueuedError,
  ServiceClientsClosedError,
  ServiceConnectionError,
  ServiceNoInstanceError,
} from "../src/client/service-client-error.js";
import { type ServiceClients, serviceClients } from "../src/client/service-clients.js";
import { runInRequestScope } from "../src/context/request-scope.js";
import { defineContract } from "../src/contract/define-contract.js";
import { route } from "../src/contract/route.js";
import {
  inventoryContract,
  json,
  StaticSource,
  startInstance,
  type TestInstance,
} from "./client-fixtures.js";

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  readonly clock: FakeClock;
  readonly source: StaticSource;
  readonly discover: Discovery;
  readonly instances: TestInstance[];
}

/** Instances of `inventory` behind a round-robin discovery on a fake clock. */
async function setup(count = 1, versions: readonly string[] = []): Promise<Setup> {
  const clock = new FakeClock(1_000_000);
  const source = new StaticSource();
  const discover = discovery({
    cache: source,
    balancer: { algorithm: "round-robin", randomStart: false },
    outlier: { clock },
  });
  cleanups.push(() => discover.close());
  const instances: TestInstance[] = [];
  for (let i = 0; i < count; i++) {
    const instance = await startInstance(
      `inv-${i}`,
      (_req, res) => json(res, 201, { reservationId: `r-${i}` }),
      {
        version: versions[i] ?? "1.0.0",
      },
    );
    cleanups.push(() => instance.close());
    instances.push(instance);
  }
  source.set(
    "inventory",
    instances.map((i) => i.instance),
  );
  return { clock, source, discover, instances };
}

function clientsFor(
  s: Setup,
  policies: DependencyPolicies = {},
  extra: { versions?: string; fallbackQueue?: FallbackQueue; validateRequests?: boolean } = {},
): ServiceClients<{
  inventory: { contract: typeof inventoryContract; policies: DependencyPolicies; versions?: string };
}> {
  const clients = serviceClients({
    discovery: s.discover,
    clock: s.clock,
    wallClock: () => s.clock.now(),
    caller: { service: "orders", instanceId: "orders-1" },
    dependencies: {
      inventory: {
        contract: inventoryContract,
        policies,
        ...(extra.versions === undefined ? {} : { versions: extra.versions }),
      },
    },
    ...(extra.fallbackQueue === undefined ? {} : { fallbackQueue: extra.fallbackQueue }),
    ...(extra.validateRequests === undefined ? {} : { validateRequests: extra.validateRequests }),
  });
  cleanups.push(() => clients.close());
  return clients;
}

describe("typed calls", () => {
  it("builds the path from the template with encoded params, the query string and a JSON body", async () => {
    const s = await setup();
    const clients = clientsFor(s);
    const result = await clients.clients.inventory.reserve({
      params: { sku: "a b/c?d" },
      query: { note: "x&y=z", tags: ["t1", "t 2"] },
      body: { quantity: 2 },
    });
    expect(result).toEqual({ reservationId: "r-0" });
    const [seen] = s.instances[0]!.requests;
    expect(seen?.method).toBe("POST");
    expect(seen?.url).toBe("/reservations/a%20b%2Fc%3Fd?note=x%26y%3Dz&tags=t1&tags=t%202");
    expect(seen?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(seen?.body ?? "")).toEqual({ quantity: 2 });
    expect(seen?.headers["x-flotilla-caller"]).toBe("orders/orders-1");
    expect(seen?.headers["x-flotilla-timeout-ms"]).toBe("10000");
  });

  it("sends a GET without body or idempotency key, and a 204 resolves to undefined", async () => {
    const s = await setup();
    s.instances[0]!.handler = (req, res) => {
      if (req.method === "GET") json(res, 200, { items: [{ sku: "a", available: 3 }] });
      else res.writeHead(204).end();
    };
    const clients = clientsFor(s);
    await expect(clients.clients.inventory.stock()).resolves.toEqual({ items: [{ sku: "a", available: 3 }] });
    await expect(clients.clients.inventory.release({ params: { sku: "a", id: 7 } })).resolves.toBeUndefined();
    const [get, del] = s.instances[0]!.requests;
    expect(get?.url).toBe("/stock");
    expect(get?.body).toBe("");
    expect(get?.headers["content-type"]).toBeUndefined();
    expect(get?.headers["idempotency-key"]).toBeUndefined();
    expect(del?.method).toBe("DELETE");
    expect(del?.url).toBe("/reservations/a/7");
  });

  it("turns a response that does not match the schema into FLT_SERVICE_BAD_RESPONSE with the issues", async () => {
    const s = await setup();
    s.instances[0]!.handler = (_req, res) => json(res, 201, { reservationId: 42 });
    const clients = clientsFor(s);
    const error = await clients.clients.inventory
      .reserve({ params: { sku: "a" }, body: { quantity: 1 } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceBadResponseError);
    expect(error).toMatchObject({
      code: "FLT_SERVICE_BAD_RESPONSE",
      service: "inventory",
      route: "reserve",
      status: 201,
      instance: "inv-0",
    });
    expect((error as ServiceBadResponseError).issues).toEqual([
      expect.objectContaining({ path: "reservationId", code: "invalid_type" }),
    ]);
  });

  it("turns a body that is not JSON into FLT_SERVICE_BAD_RESPONSE with the parse error as cause", async () => {
    const s = await setup();
    s.instances[0]!.handler = (_req, res) =>
      res.writeHead(200, { "content-type": "text/html" }).end("<html>");
    const clients = clientsFor(s);
    const error = await clients.clients.inventory.stock().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceBadResponseError);
    expect((error as ServiceBadResponseError).issues).toEqual([]);
    expect((error as Error).cause).toBeInstanceOf(SyntaxError);
  });

  it("refuses a response body larger than maxResponseBytes as a bad response", async () => {
    const s = await setup();
    s.instances[0]!.handler = (_req, res) => json(res, 200, { items: [], padding: "x".repeat(5_000) });
    const clients = serviceClients({
      discovery: s.discover,
      clock: s.clock,
      maxResponseBytes: 1_024,
      dependencies: { inventory: { contract: inventoryContract } },
    });
    cleanups.push(() => clients.close());
    await expect(clients.clients.inventory.stock()).rejects.toMatchObject({
      code: "FLT_SERVICE_BAD_RESPONSE",
      message: expect.stringContaining("larger than 1024 bytes"),
    });
  });

  it("stops a call when the caller's signal aborts, with the signal's reason", async () => {
    const s = await setup();
    s.instances[0]!.handler = () => {}; // never answers
    const clients = clientsFor(s);
    const controller = new AbortController();
    const arrived = s.instances[0]!.nextRequest();
    const call = clients.clients.inventory
      .stock(undefined, { signal: controller.signal })
      .catch((e: unknown) => e);
    await arrived;
    const reason = new Error("client went away");
    controller.abort(reason);
    await expect(call).resolves.toBe(reason);
    expect(s.discover.inflight("inventory")).toBe(0);
  });

  it("turns problem+json into a RemoteServiceError with callee, status, code and the remote cause chain", async () => {
    const s = await setup();
    s.instances[0]!.handler = (_req, res) => {
      res.writeHead(502, { "content-type": "application/problem+json" });
      res.end(
        JSON.stringify({
          type: "https://flotilla.dev/problems/dependency-failed",
          title: "Dependency failed",
          status: 502,
          detail: "warehouse did not answer",
          code: "FLT_SERVICE_REMOTE",
          service: "inventory",
          cause: {
            title: "Service Unavailable",
            status: 503,
            code: "WAREHOUSE_DOWN",
            service: "warehouse",
            detail: "maintenance",
          },
        }),
      );
    };
    const clients = clientsFor(s);
    const error = await clients.clients.inventory.stock().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteServiceError);
    const remote = error as RemoteServiceError;
    expect(remote).toMatchObject({
      code: "FLT_SERVICE_REMOTE",
      service: "inventory",
      instance: "inv-0",
      status: 502,
      remoteCode: "FLT_SERVICE_REMOTE",
      title: "Dependency failed",
      detail: "warehouse did not answer",
    });
    expect(remote.cause).toBeInstanceOf(RemoteServiceError);
    expect(remote.cause).toMatchObject({
      service: "warehouse",
      status: 503,
      remoteCode: "WAREHOUSE_DOWN",
      detail: "maintenance",
    });
  });

  it("turns an error status without a problem body into a RemoteServiceError with the body's start", async () => {
    const s = await setup();
    s.instances[0]!.handler = (_req, res) =>
      res.writeHead(404, { "content-type": "text/plain" }).end("no such sku");
    const clients = clientsFor(s);
    await expect(clients.clients.inventory.stock()).rejects.toMatchObject({
      code: "FLT_SERVICE_REMOTE",
      status: 404,
      detail: "no such sku",
      remoteCode: undefined,
    });
  });

  it("rejects a call with a missing path parameter without sending it", async () => {
    const s = await setup();
    const clients = clientsFor(s);
    await expect(
      // @ts-expect-error: sku is required
      clients.clients.inventory.reserve({ params: {}, body: { quantity: 1 } }),
    ).rejects.toMatchObject({
      code: "FLT_SERVICE_INVALID_CALL",
      issues: [expect.objectContaining({ path: "params.sku" })],
    });
    expect(s.instances[0]!.requests).toHaveLength(0);
  });

  it("validates request input against the route's schemas when asked to", async () => {
    const s = await setup();
    const clients = clientsFor(s, {}, { validateRequests: true });
    await expect(
      clients.clients.inventory.reserve({ params: { sku: "a" }, body: { quantity: -1 } }),
    ).rejects.toMatchObject({
      code: "FLT_SERVICE_INVALID_CALL",
      issues: [expect.objectContaining({ path: "body.quantity" })],
    });
    expect(s.instances[0]!.requests).toHaveLength(0);
  });
});

describe("deadlines", () => {
  it("fails fast with FLT_DEADLINE_EXCEEDED, without a request, when the call's deadline is spent", async () => {
    const s = await setup();
    const clients = clientsFor(s);
    const error = await clients.clients.inventory
      .stock(undefined, { deadline: s.clock.now() })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(error).toMatchObject({ code: "FLT_DEADLINE_EXCEEDED" });
    expect(s.instances[0]!.requests).toHaveLength(0);
    expect(s.discover.inflight("inventory")).toBe(0);
  });

  it("fails fast when the current request's deadline is spent", async () => {
    const s = await setup();
    const clients = clientsFor(s);
    const deadline = s.clock.now() + 50;
    await s.clock.advance(50);
    await expect(
      runInRequestScope({ deadline }, () => clients.clients.inventory.stock()),
    ).rejects.toMatchObject({
      code: "FLT_DEADLINE_EXCEEDED",
    });
    expect(s.instances[0]!.requests).toHaveLength(0);
  });

  it("sends the remaining time of the earliest deadline, shrinking as time passes", async () => {
    const s = await setup();
    s.instances[0]!.handler = (_req, res) => json(res, 200, { items: [] });
    const clients = clientsFor(s, { timeout: "5s" });
    const deadline = s.clock.now() + 1_500;
    const seen: string[] = [];
    await runInRequestScope({ deadline }, async () => {
      await clients.clients.inventory.stock();
      await s.clock.advance(400);
      await clients.clients.inventory.stock();
      // The call's own deadline is earlier than the request's.
      await clients.clients.inventory.stock(undefined, { deadline: s.clock.now() + 300 });
    });
    // Without a request scope the dependency's timeout is the limit.
    await clients.clients.inventory.stock();
    for (const r of s.instances[0]!.requests) seen.push(String(r.headers["x-flotilla-timeout-ms"]));
    expect(seen).toEqual(["1500", "1100", "300", "5000"]);
  });

  it("aborts an attempt when the timeout elapses, with a TimeoutError", async () => {
    const s = await setup();
    s.instances[0]!.handler = () => {}; // never answers
    const clients = clientsFor(s, { timeout: "2s" });
    const arrived = s.instances[0]!.nextRequest();
    const call = clients.clients.inventory.stock().catch((e: unknown) => e);
    await arrived;
    await s.clock.advance(2_000);
    const error = await call;
    expect(error).toMatchObject({ code: "FLT_TIMEOUT", timeoutMs: 2_000 });
  });
});

describe("retries and instances", () => {
  it("retries on another instance with the same idempotency key, which the client generated", async () => {
    const s = await setup(3);
    // A random balancer would often pick the same instance again; the retry asks it for another
    // (up to five times, as Envoy's previous-hosts predicate does).
    const discover = discovery({
      cache: s.source,
      balancer: { algorithm: "random", random: seededRandom(7) },
      outlier: { clock: s.clock, consecutive5xx: 1000 },
    });
    cleanups.push(() => discover.close());
    const firstSeen = new Set<string>();
    for (const i of s.instances) {
      // The first attempt of each call fails, wherever it lands; the retry succeeds.
      i.handler = (req, res) => {
        const key = String(req.headers["idempotency-key"]);
        if (firstSeen.has(key)) json(res, 201, { reservationId: key });
        else {
          firstSeen.add(key);
          json(res, 503, { title: "Unavailable" });
        }
      };
    }
    const clients = clientsFor({ ...s, discover }, { retry: { maxAttempts: 3, backoff: 0 } });
    for (let k = 0; k < 12; k++) {
      const { reservationId } = await clients.clients.inventory.reserve({
        params: { sku: "a" },
        body: { quantity: 1 },
      });
      expect(reservationId).toMatch(/^[0-9a-f-]{36}$/);
      const where = s.instances.map(
        (i) => i.requests.filter((r) => r.headers["idempotency-key"] === reservationId).length,
      );
      expect(where.filter((n) => n === 1)).toHaveLength(2);
    }
    expect(discover.inflight("inventory")).toBe(0);
  });

  it("retries a 409 FLT_SERVICE_IDEMPOTENCY_IN_PROGRESS after its Retry-After, with the same key", async () => {
    const s = await setup();
    const instance = s.instances[0]!;
    let first: () => void = () => {};
    const firstSeen = new Promise<void>((resolve) => {
      first = resolve;
    });
    instance.handler = (req, res) => {
      if (instance.requests.length === 1) {
        first();
        json(
          res,
          409,
          { title: "Conflict", status: 409, code: "FLT_SERVICE_IDEMPOTENCY_IN_PROGRESS" },
          { "content-type": "application/problem+json", "retry-after": "1" },
        );
      } else json(res, 201, { reservationId: String(req.headers["idempotency-key"]) });
    };
    const clients = clientsFor(s, { retry: { maxAttempts: 2, backoff: 0 } });
    const call = clients.clients.inventory.reserve({ params: { sku: "a" }, body: { quantity: 1 } });
    await firstSeen;
    // The call's timeout is one timer; the retry's wait for Retry-After is the second.
    for (let spins = 0; s.clock.pendingTimers < 2 && spins < 1_000; spins++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(instance.requests).toHaveLength(1);
    await s.clock.advance(1_000);
    const { reservationId } = await call;
    expect(instance.requests.map((r) => r.headers["idempotency-key"])).toEqual([
      reservationId,
      reservationId,
    ]);
  });

  it("does not retry another 409", async () => {
    const s = await setup();
    s.instances[0]!.handler = (_req, res) =>
      json(res, 409, { title: "Conflict", code: "FLT_SERVICE_CONFLICT" }, { "retry-after": "0" });
    const clients = clientsFor(s, { retry: { maxAttempts: 3, backoff: 0 } });
    await expect(
      clients.clients.inventory.reserve({ params: { sku: "a" }, body: { quantity: 1 } }),
    ).rejects.toMatchObject({ status: 409, remoteCode: "FLT_SERVICE_CONFLICT" });
    expect(s.instances[0]!.requests).toHaveLength(1);
  });

  it("keeps the caller's idempotency key", async () => {
    const s = await setup();
    const clients = clientsFor(s, { retry: { maxAttempts: 2, backoff: 0 } });
    await clients.clients.inventory.reserve(
      { params: { sku: "a" }, body: { quantity: 1 } },
      { idempotencyKey: "order-17-reserve" },
    );
    expect(s.instances[0]!.requests[0]!.headers["idempotency-key"]).toBe("order-17-reserve");
  });

  it("does not retry a non-idempotent POST when no retry is configured, and sends no key", async () => {
    const s = await setup(2);
    for (const i of s.instances) i.handler = (_req, res) => json(res, 503, { title: "Unavailable" });
    const clients = clientsFor(s);
    await expect(
      clients.clients.inventory.reserve({ params: { sku: "a" }, body: { quantity: 1 } }),
    ).rejects.toMatchObject({ code: "FLT_SERVICE_REMOTE", status: 503 });
    const all = [...s.instances[0]!.requests, ...s.instances[1]!.requests];
    expect(all).toHaveLength(1);
    expect(all[0]!.headers["idempotency-key"]).toBeUndefined();
  });

  it("retries a refused connection on another instance, and a last failure is a typed connection error", async () => {
    const s = await setup(2);
    const dead = s.instances[0]!;
    await dead.close();
    s.instances[1]!.handler = (_req, res) => json(res, 200, { items: [] });
    const clients = clientsFor(s, { retry: { maxAttempts: 2, backoff: 0 } });
    // Round robin starts with the dead instance: the retry goes to the other one.
    await expect(clients.clients.inventory.stock()).resolves.toEqual({ items: [] });
    expect(s.instances[1]!.requests).toHaveLength(1);
    s.instances[1]!.handler = (_req, res) => res.destroy();
    const error = await clients.clients.inventory.stock().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceConnectionError);
    expect((error as Error).cause).toBeDefined();
  });

  it("reports every attempt to discovery, whose outlier detector ejects a failing instance", async () => {
    const s = await setup(2);
    const discover = discovery({
      cache: s.source,
      balancer: { algorithm: "round-robin", randomStart: false },
      outlier: { clock: s.clock, consecutive5xx: 2, baseEjectionTime: "30s", maxEjectionPercent: 50 },
    });
    cleanups.push(() => discover.close());
    s.instances[0]!.handler = (_req, res) => json(res, 503, { title: "Unavailable" });
    s.instances[1]!.handler = (_req, res) => json(res, 200, { items: [] });
    const clients = clientsFor({ ...s, discover }, { retry: { maxAttempts: 2, backoff: 0 } });
    for (let k = 0; k < 6; k++)
      await expect(clients.clients.inventory.stock()).resolves.toEqual({ items: [] });
    expect(discover.outlierDetector("inventory")?.isEjected("inv-0")).toBe(true);
    expect(s.instances[0]!.requests).toHaveLength(2);
    expect(s.instances[1]!.requests).toHaveLength(6);
  });

  it("reuses a kept-alive connection per instance", async () => {
    const s = await setup();
    s.instances[0]!.handler = (_req, res) => json(res, 200, { items: [] });
    const clients = clientsFor(s);
    for (let k = 0; k < 20; k++) await clients.clients.inventory.stock();
    // undici may open a second connection while the first is being released; never one per call.
    expect(s.instances[0]!.connections()).toBeLessThanOrEqual(2);
  });

  it("never picks an instance outside the required version range", async () => {
    const s = await setup(3, ["1.0.0", "2.0.0", "1.4.2"]);
    for (const i of s.instances) i.handler = (_req, res) => json(res, 200, { items: [] });
    const clients = clientsFor(s, {}, { versions: "^1.0.0" });
    for (let k = 0; k < 20; k++) await clients.clients.inventory.stock();
    expect(s.instances[1]!.requests).toHaveLength(0);
    expect(s.instances[0]!.requests.length + s.instances[2]!.requests.length).toBe(20);
    expect(s.instances[0]!.requests.length).toBeGreaterThan(0);
    expect(s.instances[2]!.requests.length).toBeGreaterThan(0);
  });

  it("fails with FLT_SERVICE_NO_INSTANCE when no instance is in the range", async () => {
    const s = await setup(1, ["2.0.0"]);
    const clients = clientsFor(s, {}, { versions: "^1.0.0" });
    const error = await clients.clients.inventory.stock().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceNoInstanceError);
    expect(error).toMatchObject({ service: "inventory", versions: "^1.0.0" });
    expect(s.instances[0]!.requests).toHaveLength(0);
  });
});

describe("breaker, bulkhead and fallbacks", () => {
  it("opens the breaker after failures, and the fallback value answers without calling", async () => {
    const s = await setup();
    s.instances[0]!.handler = (_req, res) => json(res, 500, { title: "boom" });
    const clients = clientsFor(s, {
      breaker: { slidingWindowSize: 2, minimumNumberOfCalls: 2, waitDurationInOpenState: "30s" },
      fallback: { type: "value", value: { items: [] } },
      routes: { reserve: { fallback: { type: "none" } }, release: { fallback: { type: "none" } } },
    });
    for (let k = 0; k < 3; k++)
      await expect(clients.clients.inventory.stock()).resolves.toEqual({ items: [] });
    expect(s.instances[0]!.requests).toHaveLength(2);
    expect(clients.dependencies.get("inventory")?.breaker?.state).toBe(BreakerState.OPEN);
    // A route without a fallback sees the breaker's own error.
    await expect(
      clients.clients.inventory.reserve({ params: { sku: "a" }, body: { quantity: 1 } }),
    ).rejects.toMatchObject({ code: "FLT_BREAKER_OPEN" });
    expect(s.instances[0]!.requests).toHaveLength(2);
  });

  it("answers with the fallback value as the route's schema outputs it", async () => {
    const s = await setup();
    s.instances[0]!.handler = (_req, res) => res.destroy();
    const contract = defineContract({
      name: "inventory",
      version: "1.0.0",
      routes: {
        count: route({
          method: "GET",
          path: "/count",
          response: z.object({ total: z.number().default(0), source: z.string().default("fallback") }),
        }),
      },
    });
    const clients = serviceClients({
      discovery: s.discover,
      clock: s.clock,
      dependencies: { inventory: { contract, policies: { fallback: { type: "value", value: {} } } } },
    });
    cleanups.push(() => clients.close());
    await expect(clients.clients.inventory.count()).resolves.toEqual({ total: 0, source: "fallback" });
  });

  it("does not count a 4xx answer against the breaker, and does not fall back for it", async () => {
    const s = await setup();
    s.instances[0]!.handler = (_req, res) => json(res, 404, { title: "Not Found" });
    const clients = clientsFor(s, {
      breaker: { slidingWindowSize: 2, minimumNumberOfCalls: 2 },
      fallback: { type: "value", value: { items: [] } },
      routes: { reserve: { fallback: { type: "none" } }, release: { fallback: { type: "none" } } },
    });
    for (let k = 0; k < 3; k++)
      await expect(clients.clients.inventory.stock()).rejects.toMatchObject({ status: 404 });
    expect(clients.dependencies.get("inventory")?.breaker?.state).toBe(BreakerState.CLOSED);
  });

  it("rejects with FLT_BULKHEAD_FULL while the bulkhead is full", async () => {
    const s = await setup();
    const held: (() => void)[] = [];
    s.instances[0]!.handler = (_req, res) => held.push(() => json(res, 200, { items: [] }));
    const clients = clientsFor(s, { bulkhead: { maxConcurrent: 1 } });
    const arrived = s.instances[0]!.nextRequest();
    const first = clients.clients.inventory.stock();
    await arrived;
    await expect(clients.clients.inventory.stock()).rejects.toMatchObject({ code: "FLT_BULKHEAD_FULL" });
    for (const release of held) release();
    await expect(first).resolves.toEqual({ items: [] });
    expect(s.instances[0]!.requests).toHaveLength(1);
  });

  it("serves the last good response from the stale cache when the dependency fails", async () => {
    const s = await setup();
    let up = true;
    s.instances[0]!.handler = (req, res) =>
      up ? json(res, 200, { items: [{ sku: req.url, available: 1 }] }) : res.destroy();
    const clients = clientsFor(s, {
      fallback: { type: "stale-cache", ttl: "1m" },
    });
    const fresh = await clients.clients.inventory.stock({ query: { sku: "a" } });
    up = false;
    await expect(clients.clients.inventory.stock({ query: { sku: "a" } })).resolves.toEqual(fresh);
    // Another query is another cache entry.
    await expect(clients.clients.inventory.stock({ query: { sku: "b" } })).rejects.toBeInstanceOf(
      ServiceConnectionError,
    );
  });

  it("sends the call to the alternative service when the dependency fails", async () => {
    const s = await setup();
    s.instances[0]!.handler = (_req, res) => json(res, 503, { title: "down" });
    const replica = await startInstance("replica-0", (_req, res) => json(res, 200, { items: [] }), {
      service: "inventory-replica",
    });
    cleanups.push(() => replica.close());
    s.source.set("inventory-replica", [replica.instance]);
    const clients = clientsFor(s, { fallback: { type: "service", service: "inventory-replica" } });
    await expect(clients.clients.inventory.stock({ query: { sku: "a" } })).resolves.toEqual({ items: [] });
    expect(replica.requests[0]?.url).toBe("/stock?sku=a");
  });

  it("hands the call to the fallback queue, with an idempotency key, and rejects with the job id", async () => {
    const s = await setup();
    s.instances[0]!.handler = (_req, res) => res.destroy();
    const queued: QueuedCall[] = [];
    const queue: FallbackQueue = { enqueue: (call) => String(queued.push(call)) };
    const clients = clientsFor(s, { fallback: { type: "queue" } }, { fallbackQueue: queue });
    const error = await clients.clients.inventory
      .reserve({ params: { sku: "a" }, body: { quantity: 3 } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceCallQueuedError);
    expect(error).toMatchObject({ jobId: "1", service: "inventory", route: "reserve" });
    expect(queued).toEqual([
      {
        service: "inventory",
        route: "reserve",
        method: "POST",
        path: "/reservations/a",
        body: '{"quantity":3}',
        idempotencyKey: expect.stringMatching(/^[0-9a-f-]{36}$/),
        versions: undefined,
        reason: "FLT_SERVICE_CONNECTION",
      },
    ]);
  });
});

describe("trace context, untyped calls and closing", () => {
  let telemetry: Telemetry | undefined;
  afterEach(async () => {
    await telemetry?.shutdown();
    telemetry = undefined;
  });

  it("injects the active trace context as traceparent", async () => {
    telemetry = initTelemetry({
      serviceName: "orders",
      exporter: "memory",
      instrumentations: { http: false, undici: false, pg: false },
    });
    const s = await setup();
    s.instances[0]!.handler = (_req, res) => json(res, 200, { items: [] });
    const clients = clientsFor(s);
    const span = await telemetry.tracer.startActiveSpan("handle order", async (active) => {
      await clients.clients.inventory.stock();
      active.end();
      return active;
    });
    const { traceId, spanId } = span.spanContext();
    expect(s.instances[0]!.requests[0]!.headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);
  });

  it("sends exactly one traceparent when the undici instrumentation propagates too", async () => {
    telemetry = initTelemetry({
      serviceName: "orders",
      exporter: "memory",
      instrumentations: { http: false, undici: true, pg: false },
    });
    const s = await setup();
    s.instances[0]!.handler = (_req, res) => json(res, 200, { items: [] });
    const clients = clientsFor(s);
    const span = await telemetry.tracer.startActiveSpan("handle order", async (active) => {
      await clients.clients.inventory.stock();
      active.end();
      return active;
    });
    const raw = s.instances[0]!.requests[0]!.rawHeaders;
    const traceparents = raw.filter((_v, i) => i % 2 === 0 && raw[i]!.toLowerCase() === "traceparent");
    expect(traceparents).toHaveLength(1);
    expect(s.instances[0]!.requests[0]!.headers.traceparent).toContain(span.spanContext().traceId);
  });

  it("makes untyped calls through the same path, to declared and other services", async () => {
    const s = await setup();
    s.instances[0]!.handler = (req, res) =>
      json(res, 200, { echo: req.body === "" ? null : JSON.parse(req.body) });
    const other = await startInstance(
      "pay-0",
      (_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end("ok"),
      {
        service: "payments",
      },
    );
    cleanups.push(() => other.close());
    s.source.set("payments", [other.instance]);
    const clients = clientsFor(s);
    await expect(clients.call("inventory", "POST", "/anything?x=1", { a: 1 })).resolves.toEqual({
      echo: { a: 1 },
    });
    expect(s.instances[0]!.requests[0]!.url).toBe("/anything?x=1");
    await expect(clients.call("payments", "GET", "/health")).resolves.toBe("ok");
    expect(other.requests[0]!.headers["x-flotilla-caller"]).toBe("orders/orders-1");
  });

  it("refuses calls after close()", async () => {
    const s = await setup();
    const clients = clientsFor(s);
    await clients.close();
    await expect(clients.clients.inventory.stock()).rejects.toBeInstanceOf(ServiceClientsClosedError);
    expect(s.instances[0]!.requests).toHaveLength(0);
  });
});

describe("configuration", () => {
  it("rejects bad policies at construction with the exact paths", async () => {
    const s = await setup();
    let error: unknown;
    try {
      serviceClients({
        discovery: s.discover,
        dependencies: {
          inventory: {
            contract: inventoryContract,
            versions: "one",
            policies: {
              timeout: "2 seconds",
              retry: { maxAttempts: 0 },
              breaker: { failureRateThreshold: 120 },
              bulkhead: {} as { maxConcurrent: number },
              fallback: { type: "value", value: { items: "none" } },
              routes: { nope: {} },
            },
          },
        },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "dependencies.inventory.versions",
        "dependencies.inventory.policies.timeout",
        "dependencies.inventory.policies.retry.maxAttempts",
        "dependencies.inventory.policies.breaker.failureRateThreshold",
        "dependencies.inventory.policies.bulkhead.maxConcurrent",
        "dependencies.inventory.policies.fallback.value",
        "dependencies.inventory.policies.routes.nope",
      ]),
    );
  });

  it("requires a fallback queue for a queue fallback", async () => {
    const s = await setup();
    expect(() =>
      serviceClients({
        discovery: s.discover,
        dependencies: {
          inventory: { contract: inventoryContract, policies: { fallback: { type: "queue" } } },
        },
      }),
    ).toThrow(/dependencies\.inventory\.policies\.fallback: a queue fallback needs the fallbackQueue option/);
  });
});
