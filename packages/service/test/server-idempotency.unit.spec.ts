import { FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it } from "vitest";
import { defineService } from "../src/server/define-service.js";
import { memoryIdempotencyStore } from "../src/server/idempotency/memory-idempotency-store.js";
import { requestFingerprint } from "../src/server/idempotency/request-fingerprint.js";
import { problem } from "../src/server/service-error.js";
import { type ServiceServer, serviceServer } from "../src/server/service-server.js";
import type { ServiceServerOptions } from "../src/server/service-server-options.js";
import { idempotencyStoreContract } from "./fixtures/idempotency-store-contract.js";
import { inventory, testLogger, testMetrics } from "./fixtures/inventory-service.js";

idempotencyStoreContract("memory store", async () => memoryIdempotencyStore({ clock: new FakeClock() }));

const servers: ServiceServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    await server.close();
    await server.idempotencyStore.close();
  }
});

type Reserve = (sku: string, quantity: number) => Promise<{ reservationId: string; quantity: number }>;

function start(reserve: Reserve, options: ServiceServerOptions = {}) {
  const calls = { reserve: 0, stock: 0 };
  const service = defineService({
    contract: inventory,
    handlers: {
      async reserve({ params, body }) {
        calls.reserve++;
        return reserve(params.sku, body.quantity);
      },
      async stock() {
        calls.stock++;
        return [];
      },
      async release() {
        return undefined;
      },
      async adjust({ params }) {
        return { sku: params.sku, available: 1 };
      },
    },
  });
  const server = serviceServer(service, { logger: testLogger().logger, metrics: testMetrics(), ...options });
  servers.push(server);
  return { server, calls };
}

function post(server: ServiceServer, key: string | undefined, quantity = 1, sku = "ABC-1") {
  return server.app.inject({
    method: "POST",
    url: `/reservations/${sku}`,
    headers: { "content-type": "application/json", ...(key === undefined ? {} : { "idempotency-key": key }) },
    payload: { quantity },
  });
}

let sequence = 0;
const counting: Reserve = async (sku, quantity) => ({ reservationId: `${sku}-${++sequence}`, quantity });

describe("idempotency keys (memory store)", () => {
  it("applies a keyed POST once and replays its answer with idempotent-replayed: true", async () => {
    const { server, calls } = start(counting);
    const first = await post(server, "key-1");
    expect(first.statusCode).toBe(201);
    expect(first.headers["idempotent-replayed"]).toBeUndefined();
    const again = await post(server, "key-1");
    expect(again.statusCode).toBe(201);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.headers["content-type"]).toBe(first.headers["content-type"]);
    expect(again.body).toBe(first.body);
    expect(calls.reserve).toBe(1);
  });

  it("runs requests without a key, and idempotent routes, every time", async () => {
    const { server, calls } = start(counting);
    await post(server, undefined);
    await post(server, undefined);
    expect(calls.reserve).toBe(2);
    for (let i = 0; i < 2; i++) {
      const res = await server.app.inject({
        method: "GET",
        url: "/stock",
        headers: { "idempotency-key": "g" },
      });
      expect(res.headers["idempotent-replayed"]).toBeUndefined();
    }
    expect(calls.stock).toBe(2);
  });

  it("answers 422 for the same key with another body or path, and 409 while the first still runs", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { server, calls } = start(async (sku, quantity) => {
      await gate;
      return { reservationId: sku, quantity };
    });
    const first = post(server, "key-2", 1);
    await new Promise<void>((resolve) => {
      const check = () => (calls.reserve === 1 ? resolve() : setImmediate(check));
      check();
    });
    const concurrent = await post(server, "key-2", 1);
    expect(concurrent.statusCode).toBe(409);
    expect(concurrent.headers["retry-after"]).toBe("1");
    expect(concurrent.json()).toMatchObject({ status: 409, code: "FLT_SERVICE_IDEMPOTENCY_IN_PROGRESS" });
    const otherBody = await post(server, "key-2", 5);
    expect(otherBody.statusCode).toBe(422);
    expect(otherBody.json().code).toBe("FLT_SERVICE_IDEMPOTENCY_MISMATCH");
    release();
    expect((await first).statusCode).toBe(201);
    expect((await post(server, "key-2", 1, "XYZ-9")).statusCode).toBe(422);
    expect((await post(server, "key-2", 1)).headers["idempotent-replayed"]).toBe("true");
    expect(calls.reserve).toBe(1);
  });

  it("frees the key when the handler fails with a 5xx, so a retry runs again", async () => {
    let fail = true;
    const { server, calls } = start(async (sku, quantity) => {
      if (fail) throw new Error("database hiccup");
      return { reservationId: sku, quantity };
    });
    expect((await post(server, "key-3")).statusCode).toBe(500);
    fail = false;
    const retry = await post(server, "key-3");
    expect(retry.statusCode).toBe(201);
    expect(retry.headers["idempotent-replayed"]).toBeUndefined();
    expect((await post(server, "key-3")).headers["idempotent-replayed"]).toBe("true");
    expect(calls.reserve).toBe(2);
  });

  it("stores and replays a 4xx problem the handler threw", async () => {
    const { server, calls } = start(async () => {
      throw problem(409, "out of stock", { code: "INVENTORY_OUT_OF_STOCK", headers: { "x-why": "stock" } });
    });
    const first = await post(server, "key-4");
    const again = await post(server, "key-4");
    expect(first.statusCode).toBe(409);
    expect(again.statusCode).toBe(409);
    expect(again.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(again.headers["x-why"]).toBe("stock");
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json()).toEqual(first.json());
    expect(calls.reserve).toBe(1);
  });

  it("does not store a request that failed validation", async () => {
    const { server, calls } = start(counting);
    expect((await post(server, "key-5", -1)).statusCode).toBe(400);
    expect((await post(server, "key-5", 1)).statusCode).toBe(201);
    expect(calls.reserve).toBe(1);
  });

  it("forgets a key after the window", async () => {
    const clock = new FakeClock();
    const { server, calls } = start(counting, {
      clock,
      idempotency: { window: "1h", store: memoryIdempotencyStore({ clock }) },
    });
    await post(server, "key-6");
    await clock.advance(3_599_999);
    expect((await post(server, "key-6")).headers["idempotent-replayed"]).toBe("true");
    await clock.advance(1);
    expect((await post(server, "key-6")).headers["idempotent-replayed"]).toBeUndefined();
    expect(calls.reserve).toBe(2);
  });

  it("answers 400 for an over-long key", async () => {
    const { server } = start(counting);
    const res = await post(server, "k".repeat(256));
    expect(res.statusCode).toBe(400);
    expect(res.json().issues[0].path).toBe("headers.idempotency-key");
  });

  it("keeps the memory store bounded, oldest keys first", async () => {
    const clock = new FakeClock();
    const store = memoryIdempotencyStore({ maxEntries: 3, clock });
    const times = { windowMs: 60_000, lockMs: 60_000 };
    for (const key of ["a", "b", "c", "d"]) await store.begin("r", key, "f", times);
    expect(store.size).toBe(3);
    expect((await store.begin("r", "a", "f", times)).outcome).toBe("started");
    expect((await store.begin("r", "d", "f", times)).outcome).toBe("in-progress");
    expect(() => memoryIdempotencyStore({ maxEntries: 0 })).toThrow(/maxEntries/);
  });

  it("fingerprints requests independently of key order", () => {
    const a = requestFingerprint({ params: { sku: "A" }, query: {}, body: { x: 1, y: [1, { b: 2, a: 1 }] } });
    const b = requestFingerprint({ params: { sku: "A" }, query: {}, body: { y: [1, { a: 1, b: 2 }], x: 1 } });
    const c = requestFingerprint({ params: { sku: "B" }, query: {}, body: { x: 1, y: [1, { a: 1, b: 2 }] } });
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });
});
