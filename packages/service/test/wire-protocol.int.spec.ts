// The Flotilla wire protocol end to end: a real ServiceServer on loopback, serviceClients over a
// static discovery, and what must hold whichever protocol a call takes.
import { once } from "node:events";
import { createServer } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { initTelemetry } from "@flotilla/observability";
import { discovery, type ServiceInstance } from "@flotilla/registry";
import { afterEach, describe, expect, it } from "vitest";
import { RemoteServiceError } from "../src/client/service-client-error.js";
import { serviceClients } from "../src/client/service-clients.js";
import { defineService } from "../src/server/define-service.js";
import type { HandlerContext } from "../src/server/handler-context.js";
import { problem } from "../src/server/service-error.js";
import { type ServiceServer, serviceServer } from "../src/server/service-server.js";
import type { ServiceServerOptions } from "../src/server/service-server-options.js";
import { WireUnavailableError } from "../src/wire/wire-connection.js";
import { WireConnections } from "../src/wire/wire-connections.js";
import { encodeFrame, FrameKind } from "../src/wire/wire-frame.js";
import { upgradeRequest, wireProtocol } from "../src/wire/wire-protocol.js";
import { StaticSource } from "./client-fixtures.js";
import { inventory, testLogger, testMetrics } from "./fixtures/inventory-service.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The metadata of an instance that accepts the wire protocol. */
const advertised = { [wireProtocol.metadataKey]: wireProtocol.version };

/** An `inventory` instance on 127.0.0.1:`port`. */
function inventoryInstance(id: string, port: number, metadata: Record<string, string>): ServiceInstance {
  return {
    id,
    service: "inventory",
    address: "127.0.0.1",
    port,
    version: "1.2.0",
    weight: 1,
    tags: [],
    metadata,
  };
}

interface Held {
  /** Resolves with the handler's context once `adjust` runs. */
  readonly started: Promise<HandlerContext>;
  /** Lets `adjust` answer. */
  release(): void;
}

function holdAdjust(): Held & { ctx: (ctx: HandlerContext) => Promise<void> } {
  let onStart!: (ctx: HandlerContext) => void;
  let onRelease!: () => void;
  const started = new Promise<HandlerContext>((resolve) => (onStart = resolve));
  const released = new Promise<void>((resolve) => (onRelease = resolve));
  return {
    started,
    release: () => onRelease(),
    ctx: (ctx) => {
      onStart(ctx);
      return released;
    },
  };
}

async function start(
  options: ServiceServerOptions & { advertise?: boolean; held?: ReturnType<typeof holdAdjust> } = {},
) {
  const { advertise, held, ...serverOptions } = options;
  const server: ServiceServer = serviceServer(
    defineService({
      contract: inventory,
      handlers: {
        async reserve({ params, body }) {
          if (body.quantity > 100) throw problem(409, "out of stock", { code: "INVENTORY_OUT_OF_STOCK" });
          return { reservationId: `r-${params.sku}`, quantity: body.quantity };
        },
        stock: async ({ query }) =>
          Array.from({ length: query.limit }, (_, i) => ({
            sku: `${query.sku ?? "SKU"}-${i}`,
            available: i,
          })),
        release: async () => undefined,
        async adjust({ params, body }, ctx) {
          await held?.ctx(ctx);
          return { sku: params.sku, available: body.delta };
        },
      },
    }),
    { logger: testLogger().logger, metrics: testMetrics(), ...serverOptions },
  );
  const { port } = await server.listen(0, "127.0.0.1");
  cleanups.push(() => server.close({ drainTimeoutMs: 2_000 }));
  let httpRequests = 0;
  server.app.server.on("request", () => httpRequests++);
  const instance = inventoryInstance(
    "inv-1",
    port,
    advertise === true ? advertised : server.registrationMetadata,
  );
  const source = new StaticSource();
  source.set("inventory", [instance]);
  const discover = discovery({ cache: source, balancer: { algorithm: "round-robin", randomStart: false } });
  cleanups.push(() => discover.close());
  const make = (wire: boolean, timeout = "5s") => {
    const clients = serviceClients({
      discovery: discover,
      wire,
      dependencies: { inventory: { contract: inventory, policies: { timeout } } },
    });
    cleanups.push(() => clients.close());
    return clients;
  };
  return { server, port, make, discover, httpRequests: () => httpRequests };
}

/** The outcome of a call as data: its value, or the remote problem without the answering instance. */
async function outcome(call: Promise<unknown>): Promise<unknown> {
  try {
    return { value: await call };
  } catch (error) {
    if (!(error instanceof RemoteServiceError)) throw error;
    const { instance: _instance, ...problem } = error.problem ?? {};
    return { status: error.status, code: error.remoteCode, problem };
  }
}

describe("the wire protocol", () => {
  it("carries typed calls over one multiplexed connection and leaves untyped calls to HTTP", async () => {
    const { server, make, httpRequests } = await start();
    expect(server.registrationMetadata).toEqual({ "flotilla.wire": "1" });
    const { clients, call } = make(true);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        clients.inventory.reserve({ params: { sku: `ABC-${i}` }, body: { quantity: i + 1 } }),
      ),
    );
    expect(answers.map((a) => a.reservationId)).toEqual(Array.from({ length: 50 }, (_, i) => `r-ABC-${i}`));
    expect(server.wireConnections).toBe(1);
    expect(httpRequests()).toBe(0);
    await expect(call("inventory", "GET", "/stock?limit=1")).resolves.toEqual([
      { sku: "SKU-0", available: 0 },
    ]);
    expect(httpRequests()).toBe(1);
  });

  it("answers every kind of call exactly as HTTP does", async () => {
    const { make, server } = await start();
    const wire = make(true).clients.inventory;
    const http = make(false).clients.inventory;
    const calls = (c: typeof wire) => [
      () => c.reserve({ params: { sku: "ABC-1" }, body: { quantity: 2 } }),
      () => c.reserve({ params: { sku: "not a sku/ü" }, body: { quantity: 2 } }),
      () => c.reserve({ params: { sku: "ABC-1" }, body: { quantity: 101 } }),
      () => c.stock({ query: { sku: "X Y&z", limit: 3 } }),
      () => c.stock({ query: { limit: 1000 } }),
      () => c.release({ params: { id: "r-1" } }),
      () => c.adjust({ params: { sku: "a/b?c" }, body: { delta: -4 } }),
    ];
    const viaWire = [];
    for (const call of calls(wire)) viaWire.push(await outcome(call()));
    const viaHttp = [];
    for (const call of calls(http)) viaHttp.push(await outcome(call()));
    expect(viaWire).toEqual(viaHttp);
    expect(viaWire[1]).toMatchObject({ status: 400 });
    expect(viaWire[2]).toMatchObject({ status: 409, code: "INVENTORY_OUT_OF_STOCK" });
    expect(viaWire[4]).toMatchObject({ status: 400 });
    expect(server.wireConnections).toBe(1);
  });

  it("records every call's duration by callee service, over either protocol", async () => {
    const { discover } = await start();
    const metrics = testMetrics("orders");
    for (const wire of [true, false]) {
      const clients = serviceClients({
        discovery: discover,
        wire,
        metrics,
        dependencies: { inventory: { contract: inventory } },
      });
      cleanups.push(() => clients.close());
      await clients.clients.inventory.reserve({ params: { sku: "ABC-1" }, body: { quantity: 1 } });
      await outcome(clients.clients.inventory.reserve({ params: { sku: "bad" }, body: { quantity: 1 } }));
    }
    const text = await metrics.render();
    const count = (status: number) =>
      Number(
        new RegExp(
          `http_client_request_duration_seconds_count\\{[^}]*http_request_method="POST"[^}]*server="inventory"[^}]*http_response_status_code="${status}"[^}]*\\} (\\d+)`,
        ).exec(text)?.[1],
      );
    expect(count(201)).toBe(2);
    expect(count(400)).toBe(2);
  });

  it("falls back to HTTP when an instance advertises the protocol but refuses the upgrade", async () => {
    const { server, make, httpRequests } = await start({ wire: false, advertise: true });
    const { clients } = make(true);
    await expect(
      clients.inventory.reserve({ params: { sku: "ABC-1" }, body: { quantity: 1 } }),
    ).resolves.toEqual({ reservationId: "r-ABC-1", quantity: 1 });
    await expect(
      clients.inventory.reserve({ params: { sku: "ABC-2" }, body: { quantity: 1 } }),
    ).resolves.toEqual({ reservationId: "r-ABC-2", quantity: 1 });
    expect(server.wire).toBe(false);
    // Without a wire server the upgrade request is an ordinary request (answered 404): it is tried
    // once, then the instance is left to HTTP.
    expect(httpRequests()).toBe(3);
  });

  it("cancels the call on the server when the caller gives up", async () => {
    const held = holdAdjust();
    const { make } = await start({ held });
    const { clients } = make(true);
    const caller = new AbortController();
    const call = clients.inventory.adjust(
      { params: { sku: "ABC-1" }, body: { delta: 1 } },
      { signal: caller.signal },
    );
    const ctx = await held.started;
    const aborted = once(ctx.signal, "abort");
    caller.abort(new Error("the caller gave up"));
    await expect(call).rejects.toThrow("the caller gave up");
    await aborted;
    expect(String(ctx.signal.reason)).toMatch(/cancelled/);
    held.release();
  });

  it("on shutdown answers the call in flight, closes the connection and drains", async () => {
    const held = holdAdjust();
    const { server, make } = await start({ held });
    const { clients } = make(true);
    await clients.inventory.stock({ query: { limit: 1 } });
    const call = clients.inventory.adjust({ params: { sku: "ABC-1" }, body: { delta: 7 } });
    await held.started;
    const closing = server.close({ drainTimeoutMs: 5_000 });
    held.release();
    await expect(call).resolves.toEqual({ sku: "ABC-1", available: 7 });
    // The server closes only once every connection has: the client closed its wire connection.
    await expect(closing).resolves.toEqual({ drained: true });
  });

  it("answers bodies over the limit 413 and goes on serving on the same connection", async () => {
    const { make, server } = await start({ limits: { bodyLimit: 1_000 } });
    const { clients } = make(true);
    const big = (bytes: number) =>
      outcome(
        clients.inventory.adjust({
          params: { sku: "A" },
          body: { delta: 1, pad: "x".repeat(bytes) } as never,
        }),
      );
    await expect(big(2_000)).resolves.toMatchObject({ status: 413, code: "FLT_SERVICE_BODY_TOO_LARGE" });
    await expect(big(200_000)).resolves.toMatchObject({ status: 413, code: "FLT_SERVICE_BODY_TOO_LARGE" });
    await expect(clients.inventory.adjust({ params: { sku: "A" }, body: { delta: 3 } })).resolves.toEqual({
      sku: "A",
      available: 3,
    });
    expect(server.wireConnections).toBe(1);
  });

  it("answers calls beyond the per-connection limit 503 at once, and serves the others", async () => {
    const held = holdAdjust();
    const { make } = await start({ held, limits: { wireCallsPerConnection: 2 } });
    const { clients } = make(true);
    const adjust = (delta: number) =>
      outcome(clients.inventory.adjust({ params: { sku: "A" }, body: { delta } }));
    const first = adjust(1);
    await held.started;
    const second = adjust(2);
    await expect(adjust(3)).resolves.toMatchObject({ status: 503, code: "FLT_SERVICE_UNAVAILABLE" });
    held.release();
    await expect(first).resolves.toEqual({ value: { sku: "A", available: 1 } });
    await expect(second).resolves.toEqual({ value: { sku: "A", available: 2 } });
  });

  it("gives up on an upgrade that is never answered, failing the calls as never sent", async () => {
    const silent = createServer((_req, res) => res.end());
    silent.on("upgrade", () => {});
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    cleanups.push(() => {
      silent.closeAllConnections();
      silent.close();
    });
    const { port } = silent.address() as AddressInfo;
    const connections = new WireConnections({
      maxResponseBytes: 1_000,
      now: () => performance.now(),
      handshakeTimeoutMs: 100,
    });
    cleanups.push(() => connections.close());
    const instance = inventoryInstance("silent-1", port, advertised);
    const error = await connections
      .exchange(instance, { label: "stock", method: "GET", path: "/stock", body: undefined }, {}, undefined)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(WireUnavailableError);
    expect((error as WireUnavailableError).refused).toBe(false);
    expect((error as Error).message).toMatch(/did not answer the wire upgrade within 100 ms/);
  });

  it("closes a connection that sends bytes that are not frames, and keeps serving others", async () => {
    const { make, port } = await start();
    const socket = connect(port, "127.0.0.1");
    socket.write(upgradeRequest("127.0.0.1", port));
    const bad = Buffer.alloc(13);
    bad.writeUInt32BE(3, 0);
    socket.write(bad);
    socket.resume();
    await once(socket, "close");
    const { clients } = make(true);
    await expect(clients.inventory.stock({ query: { limit: 1 } })).resolves.toHaveLength(1);
  });

  it("answers a request frame with a bad head 400 on the same connection", async () => {
    const { port } = await start();
    const socket = connect(port, "127.0.0.1");
    cleanups.push(() => void socket.destroy());
    socket.write(upgradeRequest("127.0.0.1", port));
    socket.write(encodeFrame(FrameKind.Request, 9, '{"r":"stock"}', undefined));
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve) => {
      socket.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        if (Buffer.concat(chunks).includes('"status":400')) resolve();
      });
    });
    const text = Buffer.concat(chunks).toString("utf8");
    expect(text).toMatch(/^HTTP\/1\.1 101 /);
    expect(text).toContain("needs r (route), m (method) and p");
  });

  it("continues the caller's trace: a client span and a server span with the same trace id", async () => {
    const telemetry = initTelemetry({
      serviceName: "wire-test",
      exporter: "memory",
      instrumentations: { http: { incoming: false }, undici: false, pg: false },
    });
    cleanups.push(() => telemetry.shutdown());
    const { make } = await start();
    const { clients } = make(true);
    await clients.inventory.reserve({ params: { sku: "ABC-1" }, body: { quantity: 1 } });
    await telemetry.forceFlush?.();
    const spans = telemetry.finishedSpans();
    const client = spans.find((s) => s.name === "POST /reservations/:sku" && s.kind === 2);
    const server = spans.find((s) => s.name === "POST /reservations/:sku" && s.kind === 1);
    expect(client).toBeDefined();
    expect(server).toBeDefined();
    expect(server!.spanContext().traceId).toBe(client!.spanContext().traceId);
    expect(server!.parentSpanContext?.spanId).toBe(client!.spanContext().spanId);
    expect(server!.attributes["network.protocol.name"]).toBe("flotilla-wire/1");
    expect(server!.attributes["http.response.status_code"]).toBe(201);
  });
});
