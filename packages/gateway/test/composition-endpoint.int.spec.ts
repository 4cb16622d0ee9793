import { once } from "node:events";
import { createServer, type IncomingMessage, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GatewayResponse } from "../src/chain/gateway-response.js";
import type { UpstreamCaller } from "../src/chain/upstream-caller.js";
import { compositeEndpoint } from "../src/composition/composite-endpoint.js";
import type { CompositeOptions } from "../src/composition/composite-options.js";
import { fakeExchange, fixedNext } from "./fixtures/exchange.js";

const servers: Server[] = [];
const bases = new Map<string, string>();
const agent = new Agent();
/** Requests the slow server holds; each resolves when the gateway side gives up on it. */
const abandoned: Promise<void>[] = [];
let lastUsersRequest: IncomingMessage | undefined;

async function serve(name: string, listener: RequestListener): Promise<void> {
  const server = createServer(listener);
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  bases.set(name, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
}

/** The gateway's caller in miniature: upstream names to local servers, over undici. */
const caller: UpstreamCaller = {
  async call({ upstream, method, path, headers, signal }) {
    const base = bases.get(upstream);
    if (base === undefined) throw new Error(`unknown upstream ${upstream}`);
    const reply = await request(`${base}${path}`, { method, headers, signal, dispatcher: agent });
    const body = Buffer.from(await reply.body.arrayBuffer());
    return { status: reply.statusCode, headers: reply.headers, body };
  },
};

beforeAll(async () => {
  await serve("users", (req, res) => {
    lastUsersRequest = req;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id: req.url?.split("/")[2], name: "Ada" }));
  });
  await serve("orders", (_req, res) => {
    res
      .writeHead(500, { "content-type": "application/json" })
      .end('{"error":"relation orders does not exist"}');
  });
  await serve("recommendations", (req, res) => {
    abandoned.push(once(res, "close").then(() => undefined));
    req.resume();
  });
});

afterAll(async () => {
  await agent.close();
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

function run(options: CompositeOptions): Promise<GatewayResponse> {
  const exchange = fakeExchange({
    params: { userId: "42" },
    requestId: "req-composite-1",
    headers: { traceparent },
    upstreamHeaders: { "x-flotilla-identity-subject": "ada" },
  });
  return compositeEndpoint(options, caller).handle(exchange, fixedNext());
}

const users = { name: "user", upstream: "users", path: "/users/{userId}", timeout: "2s", required: true };
const orders = {
  name: "orders",
  upstream: "orders",
  path: "/users/{userId}/orders",
  timeout: "2s",
  fallback: [],
};
const recommendations = {
  name: "recommendations",
  upstream: "recommendations",
  path: "/recs/{userId}",
  timeout: "100ms",
};

function json(response: GatewayResponse): Record<string, unknown> {
  return JSON.parse(response.body!.toString("utf8"));
}

describe("compositeEndpoint against real servers", () => {
  it("merges the answers, falling back for the slow and the failing part", async () => {
    const before = abandoned.length;
    const response = await run({ deadline: "5s", parts: [users, orders, recommendations] });
    expect(response.status).toBe(200);
    expect(json(response)).toEqual({
      user: { id: "42", name: "Ada" },
      orders: [],
      recommendations: null,
      _meta: {
        partial: ["orders", "recommendations"],
        errors: { orders: "status 500", recommendations: "timeout" },
      },
    });
    expect(response.body!.toString()).not.toContain("relation");
    expect(lastUsersRequest?.headers).toMatchObject({
      "x-request-id": "req-composite-1",
      traceparent,
      "x-flotilla-identity-subject": "ada",
    });
    expect(abandoned.length).toBe(before + 1);
    // The slow server sees the aborted request's connection go away.
    await abandoned[before];
  });

  it("answers 502 when a required part answers 500", async () => {
    const response = await run({ deadline: "5s", parts: [users, { ...orders, required: true }] });
    expect(response.status).toBe(502);
    expect(json(response)).toMatchObject({ code: "FLT_GATEWAY_BAD_GATEWAY", part: "orders" });
  });

  it("answers 504 when a required part times out", async () => {
    const response = await run({ deadline: "5s", parts: [users, { ...recommendations, required: true }] });
    expect(response.status).toBe(504);
    expect(json(response)).toMatchObject({ code: "FLT_GATEWAY_TIMEOUT", part: "recommendations" });
  });

  it("ends slow parts at the overall deadline", async () => {
    const response = await run({ deadline: "400ms", parts: [users, { ...recommendations, timeout: "10s" }] });
    expect(response.status).toBe(200);
    expect(json(response)).toEqual({
      user: { id: "42", name: "Ada" },
      recommendations: null,
      _meta: { partial: ["recommendations"], errors: { recommendations: "timeout" } },
    });
  });
});
