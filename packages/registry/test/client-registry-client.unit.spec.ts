import { ConfigError } from "@flotilla/resilience";
import { type Interceptable, MockAgent } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { InstancesResult } from "../src/client/registry-api.js";
import { type RegistryClient, registryClient } from "../src/client/registry-client.js";
import type { RegistrationResponse } from "../src/registration.js";
import {
  isRegistryError,
  RegistryErrorCode,
  type RegistryInvalidRequestError,
  type RegistryUnknownLeaseError,
} from "../src/registry-error.js";

const a = "http://reg-a:8500";
const b = "http://reg-b:8500";
const json = { headers: { "content-type": "application/json" } };

function problem(status: number, code: string, detail: string, extra: object = {}) {
  return JSON.stringify({ type: "about:blank", title: "x", status, detail, code, ...extra });
}

let agent: MockAgent;
let client: RegistryClient;

beforeEach(() => {
  agent = new MockAgent({ enableCallHistory: true });
  agent.disableNetConnect();
});

afterEach(async () => {
  await client?.close();
  await agent.close();
});

const pool = (origin: string): Interceptable => agent.get(origin);
const calls = () => agent.getCallHistory()?.calls() ?? [];

describe("RegistryClient", () => {
  it("registers with a JSON POST under the URL's path prefix", async () => {
    client = registryClient({ url: `${a}/registry/`, dispatcher: agent });
    const response: RegistrationResponse = {
      instance: {
        id: "o-1",
        service: "orders",
        address: "10.0.0.1",
        port: 80,
        version: "1.0.0",
        weight: 1,
        tags: [],
        metadata: {},
        status: "passing",
        checks: [],
        lease: "L1",
        ttlMs: 10_000,
        registeredAt: 1,
        modifyIndex: 3,
      },
      lease: { id: "L1", ttlMs: 10_000 },
      index: 3,
    };
    pool(a)
      .intercept({ path: "/registry/v1/instances", method: "POST" })
      .reply(200, JSON.stringify(response), json);
    const request = { service: "orders", id: "o-1", address: "10.0.0.1", port: 80 };
    expect(await client.register(request)).toEqual(response);
    const [call] = calls();
    expect(call?.headers).toMatchObject({ "content-type": "application/json" });
    expect(JSON.parse(String(call?.body))).toEqual(request);
  });

  it("maps a 400 to RegistryInvalidRequestError with the registry's issues", async () => {
    client = registryClient({ url: a, dispatcher: agent });
    const issues = [{ path: "checks[0].url", message: "expected an absolute http: or https: URL" }];
    pool(a)
      .intercept({ path: "/v1/instances", method: "POST" })
      .reply(400, problem(400, RegistryErrorCode.InvalidRequest, "bad", { issues }));
    const error = await client
      .register({ service: "orders", id: "o-1", address: "x", port: 1 })
      .catch((e: unknown) => e);
    expect(isRegistryError(error, RegistryErrorCode.InvalidRequest)).toBe(true);
    expect((error as RegistryInvalidRequestError).issues).toEqual(issues);
  });

  it("maps a 404 on renew to RegistryUnknownLeaseError, and 429 to a limit error", async () => {
    client = registryClient({ url: a, dispatcher: agent });
    pool(a)
      .intercept({ path: "/v1/leases/L%2F1/renew", method: "PUT" })
      .reply(404, problem(404, RegistryErrorCode.UnknownLease, "no lease"));
    const error = await client.renew("L/1").catch((e: unknown) => e);
    expect(isRegistryError(error, RegistryErrorCode.UnknownLease)).toBe(true);
    expect((error as RegistryUnknownLeaseError).lease).toBe("L/1");
    pool(a)
      .intercept({ path: "/v1/instances", method: "POST" })
      .reply(429, problem(429, RegistryErrorCode.LimitExceeded, "too many registrations"));
    await expect(client.register({ service: "s", id: "i", address: "x", port: 1 })).rejects.toMatchObject({
      code: RegistryErrorCode.LimitExceeded,
      message: expect.stringContaining("too many registrations"),
    });
    pool(a).intercept({ path: "/v1/leases/L2/renew", method: "PUT" }).reply(200, '{"ttlMs":9000}');
    expect(await client.renew("L2")).toEqual({ ttlMs: 9_000 });
  });

  it("fails over to the next server on a connection error or a 5xx, and sticks to the one that answered", async () => {
    client = registryClient({ url: [a, b], dispatcher: agent });
    pool(a)
      .intercept({ path: "/v1/leases/L1/renew", method: "PUT" })
      .replyWithError(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
    pool(b).intercept({ path: "/v1/leases/L1/renew", method: "PUT" }).reply(200, '{"ttlMs":1000}').times(2);
    expect(await client.renew("L1")).toEqual({ ttlMs: 1_000 });
    expect(await client.renew("L1")).toEqual({ ttlMs: 1_000 });
    expect(calls().map((c) => c.origin)).toEqual([a, b, b]);
  });

  it("reports FLT_REGISTRY_UNREACHABLE with the last failure as cause when every server fails", async () => {
    client = registryClient({ url: [a, b], dispatcher: agent });
    pool(a)
      .intercept({ path: "/v1/instances/orders/o-1", method: "DELETE" })
      .replyWithError(new Error("connect ECONNREFUSED"));
    pool(b)
      .intercept({ path: "/v1/instances/orders/o-1", method: "DELETE" })
      .reply(503, problem(503, RegistryErrorCode.StoreUnavailable, "etcd is down"));
    const error = await client.deregister("orders", "o-1").catch((e: unknown) => e);
    expect(isRegistryError(error, RegistryErrorCode.Unreachable)).toBe(true);
    const cause = (error as Error).cause;
    expect(isRegistryError(cause, RegistryErrorCode.StoreUnavailable)).toBe(true);
    expect((cause as Error).message).toMatch(/503.*etcd is down/);
  });

  it("deregisters: true when removed, false when the registry did not know the instance", async () => {
    client = registryClient({ url: a, dispatcher: agent });
    pool(a).intercept({ path: "/v1/instances/orders/o-1", method: "DELETE" }).reply(200, '{"index":9}');
    pool(a)
      .intercept({ path: "/v1/instances/orders/o-2", method: "DELETE" })
      .reply(404, problem(404, "FLT_REGISTRY_NOT_FOUND", "no instance"));
    expect(await client.deregister("orders", "o-1")).toBe(true);
    expect(await client.deregister("orders", "o-2")).toBe(false);
  });

  it("sends the filters and blocking parameters of an instances query, and reads the index header", async () => {
    client = registryClient({ url: a, dispatcher: agent });
    const result: InstancesResult = { index: 12, instances: [] };
    pool(a)
      .intercept({ path: (p) => p.startsWith("/v1/services/orders?"), method: "GET" })
      .reply(200, JSON.stringify(result), { headers: { "x-flotilla-index": "12" } });
    const answer = await client.instances("orders", {
      version: "^1.2",
      tags: ["canary", "gpu"],
      zone: "eu-1a",
      status: "any",
      index: 11,
      waitMs: 2_000,
    });
    expect(answer).toEqual(result);
    const url = new URL(calls()[0]!.fullUrl);
    expect(url.searchParams.get("version")).toBe("^1.2");
    expect(url.searchParams.getAll("tag")).toEqual(["canary", "gpu"]);
    expect(url.searchParams.get("zone")).toBe("eu-1a");
    expect(url.searchParams.get("status")).toBe("any");
    expect(url.searchParams.get("index")).toBe("11");
    expect(url.searchParams.get("wait")).toBe("2000ms");
  });

  it("reads KV entries, and reports an absent key or a cas mismatch as not ok", async () => {
    client = registryClient({ url: a, dispatcher: agent });
    const entry = { key: "cfg/a", value: "1", createIndex: 4, modifyIndex: 5 };
    pool(a)
      .intercept({ path: "/v1/kv/cfg/a", method: "GET" })
      .reply(200, JSON.stringify(entry), { headers: { "x-flotilla-index": "5" } });
    pool(a)
      .intercept({ path: "/v1/kv/cfg/b", method: "GET" })
      .reply(404, problem(404, "FLT_REGISTRY_NOT_FOUND", "no key"), { headers: { "x-flotilla-index": "6" } });
    pool(a)
      .intercept({ path: "/v1/kv/cfg/a?cas=4", method: "PUT" })
      .reply(409, '{"ok":false,"modifyIndex":5}');
    pool(a)
      .intercept({ path: "/v1/kv/cfg/a?cas=5", method: "PUT" })
      .reply(200, '{"ok":true,"modifyIndex":7}');
    pool(a)
      .intercept({ path: "/v1/kv/cfg/a?cas=5", method: "DELETE" })
      .reply(409, '{"ok":false,"modifyIndex":7}');
    pool(a)
      .intercept({ path: "/v1/kv/cfg/c", method: "DELETE" })
      .reply(404, problem(404, "X", "no key"));
    pool(a)
      .intercept({ path: "/v1/kv?prefix=cfg%2F", method: "GET" })
      .reply(200, JSON.stringify({ index: 7, entries: [entry] }));
    expect(await client.kvGet("cfg/a")).toEqual({ index: 5, entry });
    expect(await client.kvGet("cfg/b")).toEqual({ index: 6, entry: undefined });
    expect(await client.kvPut("cfg/a", "2", { cas: 4 })).toEqual({ ok: false, modifyIndex: 5 });
    expect(await client.kvPut("cfg/a", "2", { cas: 5 })).toEqual({ ok: true, modifyIndex: 7 });
    expect(await client.kvDelete("cfg/a", { cas: 5 })).toEqual({ ok: false, found: true, modifyIndex: 7 });
    expect(await client.kvDelete("cfg/c")).toEqual({ ok: false, found: false, modifyIndex: 0 });
    expect(await client.kvList("cfg/")).toEqual({ index: 7, entries: [entry] });
    expect(calls()[3]?.body).toBe("2");
  });

  it("rejects with the signal's reason when the caller aborts, without failing over", async () => {
    client = registryClient({ url: [a, b], dispatcher: agent });
    const controller = new AbortController();
    const reason = new Error("shutting down");
    controller.abort(reason);
    await expect(client.renew("L1", { signal: controller.signal })).rejects.toBe(reason);
  });

  it("streams a snapshot and updates, and resolves with the last event id when the server ends the stream", async () => {
    client = registryClient({ url: a, dispatcher: agent });
    const body =
      'event: snapshot\nid: 3\ndata: {"index":3,"instances":[]}\n\n: ping\n\n' +
      'event: update\nid: 4\ndata: {"index":4,\ndata: "instances":[]}\n\n';
    pool(a)
      .intercept({ path: "/v1/services/orders/stream?zone=eu-1a", method: "GET" })
      .reply(200, body, { headers: { "content-type": "text/event-stream" } });
    const seen: string[] = [];
    const end = await client.streamInstances(
      "orders",
      { zone: "eu-1a" },
      {
        onSnapshot: (r) => seen.push(`snapshot ${r.index}`),
        onUpdate: (r) => seen.push(`update ${r.index}`),
        lastEventId: "2",
      },
    );
    expect(seen).toEqual(["snapshot 3", "update 4"]);
    expect(end).toEqual({ lastEventId: "4", error: undefined });
    expect(calls()[0]?.headers).toMatchObject({ "last-event-id": "2", accept: "text/event-stream" });
  });

  it("ends a stream with the error a handler throws, reading nothing after it", async () => {
    client = registryClient({ url: a, dispatcher: agent });
    const body =
      'event: snapshot\nid: 3\ndata: {"index":3,"instances":[]}\n\n' +
      'event: update\nid: 4\ndata: {"index":4,"instances":[]}\n\n';
    pool(a)
      .intercept({ path: "/v1/services/orders/stream", method: "GET" })
      .reply(200, body, { headers: { "content-type": "text/event-stream" } });
    const boom = new Error("listener failed");
    const errors: Error[] = [];
    const updates: number[] = [];
    const end = await client.streamInstances(
      "orders",
      {},
      {
        onSnapshot: () => {
          throw boom;
        },
        onUpdate: (r) => updates.push(r.index),
        onError: (e) => errors.push(e),
      },
    );
    expect(end).toEqual({ lastEventId: "3", error: boom });
    expect(errors).toEqual([boom]);
    expect(updates).toEqual([]);
  });

  it("reports a refused or unreachable stream through onError and the result", async () => {
    client = registryClient({ url: a, dispatcher: agent });
    pool(a)
      .intercept({ path: "/v1/services/orders/stream?version=nonsense", method: "GET" })
      .reply(
        400,
        problem(400, RegistryErrorCode.InvalidRequest, "bad", {
          issues: [{ path: "version", message: "bad range" }],
        }),
      );
    const errors: Error[] = [];
    const refused = await client.streamInstances(
      "orders",
      { version: "nonsense" },
      { onError: (e) => errors.push(e) },
    );
    expect(isRegistryError(refused.error, RegistryErrorCode.InvalidRequest)).toBe(true);
    expect(errors).toEqual([refused.error]);
    pool(a)
      .intercept({ path: "/v1/services/orders/stream", method: "GET" })
      .replyWithError(new Error("ECONNRESET"));
    const broken = await client.streamInstances("orders", {}, {});
    expect(isRegistryError(broken.error, RegistryErrorCode.Unreachable)).toBe(true);
    expect(broken.lastEventId).toBeUndefined();
  });

  it("leaves a dispatcher it was given open on close()", async () => {
    client = registryClient({ url: a, dispatcher: agent });
    await client.close();
    pool(a).intercept({ path: "/v1/leases/L1/renew", method: "PUT" }).reply(200, '{"ttlMs":1000}');
    const second = registryClient({ url: a, dispatcher: agent });
    expect(await second.renew("L1")).toEqual({ ttlMs: 1_000 });
  });

  it("rejects bad options with their paths", () => {
    const make = () => registryClient({ url: [a, "ftp://x", "http://y?q=1"], timeoutMs: 0 });
    expect(make).toThrow(ConfigError);
    try {
      make();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual(["url[1]", "url[2]", "timeoutMs"]);
    }
    expect(() => registryClient({ url: [] })).toThrow(/url/);
  });
});
