import { FakeClock } from "@flotilla/resilience/testing";
import { describe, expect, it } from "vitest";
import type { GatewayResponse } from "../src/chain/gateway-response.js";
import type { UpstreamCaller, UpstreamReply, UpstreamRequest } from "../src/chain/upstream-caller.js";
import { compositeEndpoint } from "../src/composition/composite-endpoint.js";
import type { CompositeOptions } from "../src/composition/composite-options.js";
import { fakeExchange, fixedNext } from "./fixtures/exchange.js";

interface Pending {
  readonly request: UpstreamRequest;
  reply(status: number, body: string): void;
  fail(error: Error): void;
}

/** A caller whose answers the test gives by hand; it ignores the abort signal unless `honourAbort`. */
function manualCaller(honourAbort = false): UpstreamCaller & { calls: Map<string, Pending> } {
  const calls = new Map<string, Pending>();
  return {
    calls,
    call(request) {
      return new Promise<UpstreamReply>((resolve, reject) => {
        if (honourAbort) request.signal.addEventListener("abort", () => reject(request.signal.reason));
        calls.set(request.upstream, {
          request,
          reply: (status, body) => resolve({ status, headers: {}, body: Buffer.from(body) }),
          fail: reject,
        });
      });
    },
  };
}

const parts: CompositeOptions["parts"] = [
  { name: "user", upstream: "users", path: "/users/{userId}", required: true, timeout: "300ms" },
  { name: "orders", upstream: "orders", path: "/users/{userId}/orders?limit={query.limit}", fallback: [] },
  { name: "recommendations", upstream: "recs", path: "/recs/{userId}", timeout: "100ms" },
];

function start(options: Partial<CompositeOptions> = {}, caller = manualCaller()) {
  const clock = new FakeClock();
  const endpoint = compositeEndpoint({ deadline: "1s", parts, ...options }, caller, { clock });
  const exchange = fakeExchange({
    params: { userId: "u/42" },
    query: "?limit=5&x=1",
    requestId: "req-77",
    headers: {
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "accept-language": "fr",
      cookie: "s=1",
    },
    upstreamHeaders: {
      "x-flotilla-identity-subject": "ada",
      "accept-language": null,
      "content-length": "12",
    },
  });
  const next = fixedNext();
  let settled: GatewayResponse | undefined;
  const response = endpoint.handle(exchange, next).then((r) => {
    settled = r;
    return r;
  });
  return { caller, clock, response, next, settled: () => settled };
}

function body(response: GatewayResponse): Record<string, unknown> {
  return JSON.parse(response.body!.toString("utf8"));
}

describe("compositeEndpoint", () => {
  it("calls every part in parallel with expanded paths and forwarded headers, and merges the answers", async () => {
    const { caller, response, next } = start({
      parts: parts.map((p) =>
        p.name === "orders" ? { ...p, forwardHeaders: ["accept-language", "cookie"] } : p,
      ),
    });
    expect([...caller.calls.keys()]).toEqual(["users", "orders", "recs"]);
    const users = caller.calls.get("users")!.request;
    expect(users.path).toBe("/users/u%2F42");
    expect(users.method).toBe("GET");
    expect(users.headers).toEqual({
      accept: "application/json",
      "x-flotilla-identity-subject": "ada",
      "x-request-id": "req-77",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    });
    const orders = caller.calls.get("orders")!.request;
    expect(orders.path).toBe("/users/u%2F42/orders?limit=5");
    // accept-language was removed by an earlier layer; cookie was asked for.
    expect(orders.headers.cookie).toBe("s=1");
    expect(orders.headers["accept-language"]).toBeUndefined();
    caller.calls.get("recs")!.reply(200, '[{"sku":"x"}]');
    caller.calls.get("orders")!.reply(200, '{"items":[1,2]}');
    caller.calls.get("users")!.reply(200, '{"id":"u/42"}');
    const merged = await response;
    expect(next.calls).toBe(0);
    expect(merged.status).toBe(200);
    expect(merged.headers["content-type"]).toBe("application/json");
    expect(merged.headers["cache-control"]).toBeUndefined();
    expect(body(merged)).toEqual({
      user: { id: "u/42" },
      orders: { items: [1, 2] },
      recommendations: [{ sku: "x" }],
      _meta: { partial: [], errors: {} },
    });
  });

  it("gives failed optional parts their fallback and lists them, without leaking the error", async () => {
    const { caller, response } = start({
      parts: [
        ...parts,
        { name: "broken", upstream: "broken", path: "/b" },
        { name: "garbled", upstream: "garbled", path: "/g" },
      ],
    });
    caller.calls.get("users")!.reply(200, '{"id":1}');
    caller.calls.get("orders")!.reply(503, '{"error":"db down at 10.0.0.3"}');
    caller.calls.get("recs")!.fail(new Error("connect ECONNREFUSED 10.0.0.9:8080"));
    caller.calls.get("broken")!.reply(200, "");
    caller.calls.get("garbled")!.reply(200, "<html>");
    const merged = await response;
    const text = merged.body!.toString("utf8");
    expect(text).not.toContain("10.0.0");
    expect(merged.headers["cache-control"]).toBe("no-store");
    expect(JSON.parse(text)).toEqual({
      user: { id: 1 },
      orders: [],
      recommendations: null,
      broken: null,
      garbled: null,
      _meta: {
        partial: ["orders", "recommendations", "garbled"],
        errors: { orders: "status 503", recommendations: "unavailable", garbled: "bad_response" },
      },
    });
  });

  it("times a part out on its own timer and aborts its signal", async () => {
    const { caller, clock, response } = start();
    await clock.advance(99);
    const recs = caller.calls.get("recs")!.request;
    expect(recs.signal.aborted).toBe(false);
    await clock.advance(1);
    expect(recs.signal.aborted).toBe(true);
    expect((recs.signal.reason as DOMException).name).toBe("TimeoutError");
    caller.calls.get("users")!.reply(200, "{}");
    caller.calls.get("orders")!.reply(200, "[]");
    caller.calls.get("recs")!.reply(200, '"too late"');
    const merged = body(await response);
    expect(merged.recommendations).toBeNull();
    expect(merged._meta).toEqual({ partial: ["recommendations"], errors: { recommendations: "timeout" } });
    expect(clock.pendingTimers).toBe(0);
  });

  it("answers at the overall deadline even when a caller ignores its signal", async () => {
    const { caller, clock, response, settled } = start({ deadline: "500ms" });
    caller.calls.get("users")!.reply(200, '{"id":1}');
    await clock.advance(499);
    expect(settled()).toBeUndefined();
    await clock.advance(1);
    const merged = body(await response);
    expect(merged).toEqual({
      user: { id: 1 },
      orders: [],
      recommendations: null,
      _meta: {
        partial: ["orders", "recommendations"],
        errors: { orders: "timeout", recommendations: "timeout" },
      },
    });
    expect(caller.calls.get("orders")!.request.signal.aborted).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it("fails with 502 as soon as a required part fails, aborting the others", async () => {
    const { caller, clock, response } = start({}, manualCaller(true));
    caller.calls.get("users")!.reply(500, "{}");
    const failed = await response;
    expect(failed.status).toBe(502);
    expect(body(failed)).toMatchObject({ code: "FLT_GATEWAY_BAD_GATEWAY", part: "user" });
    expect(caller.calls.get("orders")!.request.signal.aborted).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it("fails with 504 when a required part times out", async () => {
    const { caller, clock, response } = start({}, manualCaller(true));
    caller.calls.get("orders")!.reply(200, "[]");
    await clock.advance(300);
    const failed = await response;
    expect(failed.status).toBe(504);
    expect(body(failed)).toMatchObject({ code: "FLT_GATEWAY_TIMEOUT", part: "user" });
  });

  it("treats a caller's synchronous throw as an unavailable part", async () => {
    const clock = new FakeClock();
    const caller: UpstreamCaller = {
      call(request) {
        if (request.upstream === "bad") throw new Error("no such upstream");
        return Promise.resolve({ status: 200, headers: {}, body: Buffer.from("1") });
      },
    };
    const endpoint = compositeEndpoint(
      {
        deadline: 1000,
        parts: [
          { name: "a", upstream: "ok", path: "/" },
          { name: "b", upstream: "bad", path: "/", fallback: 0 },
        ],
      },
      caller,
      { clock },
    );
    const merged = body(await endpoint.handle(fakeExchange(), fixedNext()));
    expect(merged).toEqual({ a: 1, b: 0, _meta: { partial: ["b"], errors: { b: "unavailable" } } });
  });

  it("refuses duplicate names, reserved names, bad templates and unforwardable headers", () => {
    const caller = manualCaller();
    const bad: CompositeOptions[] = [
      {
        deadline: "1s",
        parts: [
          { name: "a", upstream: "u", path: "/" },
          { name: "a", upstream: "v", path: "/" },
        ],
      },
      { deadline: "1s", parts: [{ name: "_meta", upstream: "u", path: "/" }] },
      { deadline: "1s", parts: [{ name: "a", upstream: "u", path: "/users/{user id}" }] },
      { deadline: "1s", parts: [{ name: "a", upstream: "u", path: "users" }] },
      { deadline: "1s", parts: [{ name: "a", upstream: "u", path: "/", forwardHeaders: ["Host"] }] },
      { deadline: "soon", parts: [{ name: "a", upstream: "u", path: "/" }] },
    ];
    for (const options of bad) expect(() => compositeEndpoint(options, caller)).toThrow(/composite\./);
    const ok = compositeEndpoint({ deadline: "1s", parts }, caller);
    expect(ok.routeParams).toEqual(["userId"]);
  });
});
