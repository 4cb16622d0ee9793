import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { call, type Harness, openStream, registration, startHarness } from "./registry-server-harness.js";

const harnesses: Harness[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
});

async function start(...args: Parameters<typeof startHarness>): Promise<Harness> {
  const h = await startHarness(...args);
  harnesses.push(h);
  return h;
}

/** Polls `probe` (a cross-request condition) until it holds, with a deadline. */
async function eventually(probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("condition not reached");
}

type Instance = { id: string; status: string; checks: { type: string; status: string; output?: string }[] };

/** Blocking-queries `/v1/services/{service}?status=any` until `done` holds for the instances. */
async function until(
  url: string,
  service: string,
  done: (instances: Instance[]) => boolean,
): Promise<Instance[]> {
  let index = 0;
  for (let round = 0; round < 100; round++) {
    const reply = await call(url, "GET", `/v1/services/${service}?status=any&index=${index}&wait=5s`);
    if (done(reply.json.instances)) return reply.json.instances;
    index = reply.index!;
  }
  throw new Error(`gave up waiting on ${service}`);
}

describe("registry API: instances", () => {
  it("registers an instance and lists it with its lease and index", async () => {
    const { url } = await start();
    const reg = await call(
      url,
      "POST",
      "/v1/instances",
      registration("orders", "orders-1", { version: "1.2.3", tags: ["a"] }),
    );
    expect(reg.status).toBe(200);
    expect(reg.json.instance).toMatchObject({
      id: "orders-1",
      service: "orders",
      status: "passing",
      version: "1.2.3",
      weight: 1,
    });
    expect(reg.json.lease.ttlMs).toBe(10_000);
    expect(reg.json.index).toBe(reg.index);
    expect(reg.json.instance.modifyIndex).toBe(reg.index);
    const list = await call(url, "GET", "/v1/services/orders");
    expect(list.status).toBe(200);
    expect(list.json.instances.map((i: Instance) => i.id)).toEqual(["orders-1"]);
    expect(list.index).toBe(list.json.index);
    expect(list.json.instances[0].checks).toEqual([
      expect.objectContaining({ type: "ttl", status: "passing", kind: "liveness" }),
    ]);
    expect(list.json.instances[0]).not.toHaveProperty("checkDefinitions");
  });

  it("accepts duration strings and answers an unknown service with an empty list", async () => {
    const { url } = await start();
    const reg = await call(url, "POST", "/v1/instances", registration("a", "a-1", { ttlMs: "30s" }));
    expect(reg.json.lease.ttlMs).toBe(30_000);
    const none = await call(url, "GET", "/v1/services/nobody");
    expect(none.status).toBe(200);
    expect(none.json.instances).toEqual([]);
    expect(none.index).toBeGreaterThan(0);
  });

  it("filters by semver range, tags, zone and status", async () => {
    const { url } = await start();
    const add = (id: string, extra: Record<string, unknown>) =>
      call(url, "POST", "/v1/instances", registration("cat", id, extra));
    await add("v1", { version: "1.4.0", tags: ["a", "b"], zone: "z1" });
    await add("v2", { version: "2.0.0-rc.1", tags: ["a"], zone: "z2" });
    await add("v3", { version: "2.1.0", tags: ["b"], zone: "z1" });
    const ids = async (query: string) =>
      (await call(url, "GET", `/v1/services/cat?${query}`)).json.instances.map((i: Instance) => i.id);
    expect(await ids("version=%5E1.2")).toEqual(["v1"]);
    expect(await ids("version=%3E%3D2%20%3C3")).toEqual(["v2", "v3"]);
    expect(await ids("tag=a")).toEqual(["v1", "v2"]);
    expect(await ids("tag=a&tag=b")).toEqual(["v1"]);
    expect(await ids("zone=z1")).toEqual(["v1", "v3"]);
    expect(await ids("status=passing")).toEqual(["v1", "v2", "v3"]);
    expect(await ids("status=critical")).toEqual([]);
    const bad = await call(url, "GET", "/v1/services/cat?version=not%20a%20range");
    expect(bad.status).toBe(400);
    expect(bad.json.issues.map((i: { path: string }) => i.path)).toEqual(["version"]);
    const badStatus = await call(url, "GET", "/v1/services/cat?status=sick");
    expect(badStatus.json.issues[0].path).toBe("status");
  });

  it("renews a lease, refuses an unknown one with FLT_REGISTRY_UNKNOWN_LEASE, and deregisters", async () => {
    const { url } = await start();
    const reg = await call(url, "POST", "/v1/instances", registration("pay", "pay-1", { ttlMs: 5000 }));
    const renew = await call(url, "PUT", `/v1/leases/${reg.json.lease.id}/renew`);
    expect(renew.status).toBe(200);
    expect(renew.json).toEqual({ ttlMs: 5000 });
    const unknown = await call(url, "PUT", "/v1/leases/nope/renew");
    expect(unknown.status).toBe(404);
    expect(unknown.headers["content-type"]).toContain("application/problem+json");
    expect(unknown.json).toMatchObject({
      code: "FLT_REGISTRY_UNKNOWN_LEASE",
      status: 404,
      type: "https://flotilla.dev/problems/flt-registry-unknown-lease",
    });
    const gone = await call(url, "DELETE", "/v1/instances/pay/pay-1");
    expect(gone.status).toBe(200);
    expect(gone.json.index).toBeGreaterThan(reg.json.index);
    expect((await call(url, "GET", "/v1/services/pay")).json.instances).toEqual([]);
    expect((await call(url, "PUT", `/v1/leases/${reg.json.lease.id}/renew`)).status).toBe(404);
    const again = await call(url, "DELETE", "/v1/instances/pay/pay-1");
    expect(again.status).toBe(404);
    expect(again.json.code).toBe("FLT_REGISTRY_NOT_FOUND");
  });

  it("replaces an instance registered again under the same id and revokes its old lease", async () => {
    const { url } = await start();
    const first = await call(url, "POST", "/v1/instances", registration("s", "s-1", { port: 1000 }));
    const second = await call(url, "POST", "/v1/instances", registration("s", "s-1", { port: 2000 }));
    expect(second.json.lease.id).not.toBe(first.json.lease.id);
    const list = await call(url, "GET", "/v1/services/s");
    expect(list.json.instances).toHaveLength(1);
    expect(list.json.instances[0].port).toBe(2000);
    expect((await call(url, "PUT", `/v1/leases/${first.json.lease.id}/renew`)).status).toBe(404);
    expect((await call(url, "PUT", `/v1/leases/${second.json.lease.id}/renew`)).status).toBe(200);
  });

  it("lists services with their counts", async () => {
    const { url } = await start();
    await call(url, "POST", "/v1/instances", registration("b", "b-1"));
    await call(url, "POST", "/v1/instances", registration("a", "a-1"));
    await call(url, "POST", "/v1/instances", registration("a", "a-2"));
    const list = await call(url, "GET", "/v1/services");
    expect(list.json.services).toEqual([
      { name: "a", instances: 2, passing: 2 },
      { name: "b", instances: 1, passing: 1 },
    ]);
    expect(list.index).toBe(list.json.index);
  });
});

describe("registry API: blocking queries", () => {
  it("answers a blocking query as soon as the service changes", async () => {
    const { url } = await start();
    const first = await call(url, "POST", "/v1/instances", registration("w", "w-1"));
    const index = (await call(url, "GET", "/v1/services/w")).index!;
    const waiting = call(url, "GET", `/v1/services/w?index=${index}&wait=1m`);
    await call(url, "POST", "/v1/instances", registration("other", "o-1"));
    await call(url, "POST", "/v1/instances", registration("w", "w-2"));
    const answer = await waiting;
    expect(answer.status).toBe(200);
    expect(answer.index).toBeGreaterThan(index);
    expect(answer.json.instances.map((i: Instance) => i.id)).toEqual(["w-1", "w-2"]);
    expect(first.status).toBe(200);
  });

  it("answers with the unchanged result when the wait runs out", async () => {
    const { url } = await start();
    await call(url, "POST", "/v1/instances", registration("w", "w-1"));
    const index = (await call(url, "GET", "/v1/services/w")).index!;
    const answer = await call(url, "GET", `/v1/services/w?index=${index}&wait=100ms`);
    expect(answer.status).toBe(200);
    expect(answer.index).toBe(index);
    expect(answer.json.instances).toHaveLength(1);
  });

  it("wakes /v1/services waiters on any instance change and refuses a bad index or wait", async () => {
    const { url } = await start();
    const index = (await call(url, "GET", "/v1/services")).index!;
    const waiting = call(url, "GET", `/v1/services?index=${index}&wait=1m`);
    await call(url, "POST", "/v1/instances", registration("n", "n-1"));
    const answer = await waiting;
    expect(answer.json.services).toEqual([{ name: "n", instances: 1, passing: 1 }]);
    const bad = await call(url, "GET", "/v1/services?index=-1&wait=forever");
    expect(bad.status).toBe(400);
    expect(bad.json.issues.map((i: { path: string }) => i.path).sort()).toEqual(["index", "wait"]);
  });

  it("answers every parked query when the server closes", async () => {
    const h = await startHarness();
    const index = (await call(h.url, "GET", "/v1/services/x")).index!;
    const waiting = call(h.url, "GET", `/v1/services/x?index=${index}&wait=5m`);
    await eventually(async () =>
      /flotilla_registry_watchers\{kind="blocking"[^}]*\} 1/.test(
        (await call(h.url, "GET", "/metrics")).text,
      ),
    );
    const closing = h.close();
    const answer = await waiting;
    expect(answer.status).toBe(200);
    await closing;
  });
});

describe("registry API: SSE", () => {
  it("sends a snapshot, then an update per change, and resumes without a snapshot", async () => {
    const { url } = await start();
    await call(url, "POST", "/v1/instances", registration("s", "s-1", { tags: ["x"] }));
    const stream = await openStream(url, "/v1/services/s/stream?tag=x");
    expect(stream.status).toBe(200);
    expect(stream.headers["content-type"]).toContain("text/event-stream");
    const snapshot = await stream.next();
    expect(snapshot.event).toBe("snapshot");
    const first = JSON.parse(snapshot.data);
    expect(first.instances.map((i: Instance) => i.id)).toEqual(["s-1"]);
    expect(snapshot.id).toBe(String(first.index));
    await call(url, "POST", "/v1/instances", registration("s", "s-2", { tags: ["x"] }));
    const update = await stream.next();
    expect(update.event).toBe("update");
    expect(JSON.parse(update.data).instances.map((i: Instance) => i.id)).toEqual(["s-1", "s-2"]);
    stream.close();

    const resumed = await openStream(url, "/v1/services/s/stream?tag=x", { "last-event-id": update.id });
    await call(url, "DELETE", "/v1/instances/s/s-1");
    const next = await resumed.next();
    expect(next.event).toBe("update");
    expect(JSON.parse(next.data).instances.map((i: Instance) => i.id)).toEqual(["s-2"]);
    resumed.close();
  });

  it("refuses streams beyond the limit and ends streams when the server closes", async () => {
    const h = await startHarness({ limits: { maxStreams: 1 } });
    const open = await openStream(h.url, "/v1/kv-stream?key=k");
    await open.next();
    const refused = await call(h.url, "GET", "/v1/services/s/stream");
    expect(refused.status).toBe(429);
    expect(refused.json.code).toBe("FLT_REGISTRY_LIMIT_EXCEEDED");
    await h.close();
    await expect(open.next()).rejects.toThrow();
  });

  it("streams KV entries under a prefix", async () => {
    const { url } = await start();
    await call(url, "PUT", "/v1/kv/app/a", "1");
    const stream = await openStream(url, "/v1/kv-stream?prefix=app/");
    expect(JSON.parse((await stream.next()).data).entries.map((e: { key: string }) => e.key)).toEqual([
      "app/a",
    ]);
    await call(url, "PUT", "/v1/kv/other", "x");
    await call(url, "PUT", "/v1/kv/app/b", "2");
    const update = JSON.parse((await stream.next()).data);
    expect(update.entries.map((e: { key: string; value: string }) => [e.key, e.value])).toEqual([
      ["app/a", "1"],
      ["app/b", "2"],
    ]);
    stream.close();
  });
});

describe("registry API: KV", () => {
  it("writes, reads, lists and deletes keys with cas", async () => {
    const { url } = await start();
    const created = await call(url, "PUT", "/v1/kv/config/db?cas=0", "postgres://a", {
      "content-type": "text/plain",
    });
    expect(created.status).toBe(200);
    expect(created.json).toEqual({ ok: true, modifyIndex: expect.any(Number) });
    const again = await call(url, "PUT", "/v1/kv/config/db?cas=0", "postgres://b");
    expect(again.status).toBe(409);
    expect(again.json).toEqual({ ok: false, modifyIndex: created.json.modifyIndex });
    const read = await call(url, "GET", "/v1/kv/config/db");
    expect(read.json).toEqual({
      key: "config/db",
      value: "postgres://a",
      createIndex: created.json.modifyIndex,
      modifyIndex: created.json.modifyIndex,
    });
    expect(read.index).toBe(created.json.modifyIndex);
    const stale = await call(url, "PUT", `/v1/kv/config/db?cas=${created.json.modifyIndex + 100}`, "x");
    expect(stale.status).toBe(409);
    const updated = await call(
      url,
      "PUT",
      `/v1/kv/config/db?cas=${created.json.modifyIndex}`,
      "postgres://c",
    );
    expect(updated.status).toBe(200);
    await call(url, "PUT", "/v1/kv/config/cache", "redis://");
    await call(url, "PUT", "/v1/kv/other", "x");
    const list = await call(url, "GET", "/v1/kv?prefix=config/");
    expect(list.json.entries.map((e: { key: string }) => e.key)).toEqual(["config/cache", "config/db"]);
    expect(list.json.index).toBe(list.index);
    const casDelete = await call(url, "DELETE", "/v1/kv/config/db?cas=1");
    expect(casDelete.status).toBe(409);
    expect(casDelete.json.modifyIndex).toBe(updated.json.modifyIndex);
    const deleted = await call(url, "DELETE", `/v1/kv/config/db?cas=${updated.json.modifyIndex}`);
    expect(deleted.json).toEqual({ ok: true, index: expect.any(Number) });
    expect((await call(url, "DELETE", "/v1/kv/config/db")).status).toBe(404);
    const missing = await call(url, "GET", "/v1/kv/config/db");
    expect(missing.status).toBe(404);
    expect(missing.index).toBe(deleted.json.index);
    const missingCas = await call(url, "PUT", "/v1/kv/fresh?cas=5", "x");
    expect(missingCas.json).toEqual({ ok: false, modifyIndex: 0 });
  });

  it("holds a blocking read of a missing key until it is created", async () => {
    const { url } = await start();
    const missing = await call(url, "GET", "/v1/kv/flags/new");
    expect(missing.status).toBe(404);
    const waiting = call(url, "GET", `/v1/kv/flags/new?index=${missing.index}&wait=1m`);
    await call(url, "PUT", "/v1/kv/flags/other", "no");
    await call(url, "PUT", "/v1/kv/flags/new", "yes");
    const answer = await waiting;
    expect(answer.status).toBe(200);
    expect(answer.json.value).toBe("yes");
  });

  it("refuses bad keys and cas values", async () => {
    const { url } = await start();
    // undici would resolve the dot segment away; node:http sends the path as given.
    const dotted = await new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(url);
      const req = httpRequest({ hostname, port, path: "/v1/kv/a/../b", method: "PUT" }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end("v");
    });
    expect(dotted).toBe(400);
    for (const key of ["%2Fabs", "sp%20ace", "x".repeat(513)]) {
      const reply = await call(url, "PUT", `/v1/kv/${key}`, "v");
      expect(reply.status, key).toBe(400);
      expect(reply.json.issues[0].path).toBe("key");
    }
    const badCas = await call(url, "PUT", "/v1/kv/k?cas=-3", "v");
    expect(badCas.json.issues[0].path).toBe("cas");
  });
});

describe("registry API: validation and limits", () => {
  const big = "x".repeat(17 * 1024);
  const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
  const cases: [string, unknown, string][] = [
    ["missing service", { id: "a", address: "h", port: 1 }, "service"],
    ["missing port", { service: "s", id: "a", address: "h" }, "port"],
    ["port 0", registration("s", "a", { port: 0 }), "port"],
    ["port 70000", registration("s", "a", { port: 70_000 }), "port"],
    ["port as text", registration("s", "a", { port: "80" }), "port"],
    ["bad semver", registration("s", "a", { version: "1.x" }), "version"],
    ["v-prefixed semver", registration("s", "a", { version: "v1.2.3" }), "version"],
    ["metadata too large", registration("s", "a", { metadata: { big } }), "metadata"],
    ["metadata too many", registration("s", "a", { metadata: many }), "metadata"],
    [
      "ftp check url",
      registration("s", "a", { checks: [{ type: "http", url: "ftp://x" }] }),
      "checks[0].url",
    ],
    [
      "check url not a url",
      registration("s", "a", { checks: [{ type: "http", url: "not a url" }] }),
      "checks[0].url",
    ],
    [
      "check interval too short",
      registration("s", "a", { checks: [{ type: "tcp", intervalMs: 10 }] }),
      "checks[0].intervalMs",
    ],
    ["unknown check type", registration("s", "a", { checks: [{ type: "grpc" }] }), "checks[0].type"],
    [
      "too many checks",
      registration("s", "a", { checks: Array.from({ length: 9 }, () => ({ type: "tcp" })) }),
      "checks",
    ],
    ["two ttl checks", registration("s", "a", { checks: [{ type: "ttl" }, { type: "ttl" }] }), "checks"],
    ["negative weight", registration("s", "a", { weight: -1 }), "weight"],
    ["ttl too short", registration("s", "a", { ttlMs: 500 }), "ttlMs"],
    ["ttl too long", registration("s", "a", { ttlMs: "2h" }), "ttlMs"],
    ["bad id", registration("s", "bad id!"), "id"],
    ["empty address", registration("s", "a", { address: "" }), "address"],
    [
      "too many tags",
      registration("s", "a", { tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }),
      "tags",
    ],
    ["unknown field", registration("s", "a", { colour: "red" }), "colour"],
    ["not an object", [1, 2], ""],
  ];
  it.each(cases)("refuses %s with 400 naming the field", async (_name, body, path) => {
    const { url } = await start();
    const reply = await call(url, "POST", "/v1/instances", body);
    expect(reply.status).toBe(400);
    expect(reply.json.code).toBe("FLT_REGISTRY_INVALID_REQUEST");
    expect(reply.json.issues.map((i: { path: string }) => i.path)).toContain(path);
  });

  it("answers malformed JSON, wrong content types, unknown routes and wrong methods with problems", async () => {
    const { url } = await start();
    const malformed = await call(url, "POST", "/v1/instances", "{nope", {
      "content-type": "application/json",
    });
    expect(malformed.status).toBe(400);
    expect(malformed.json.issues).toEqual([{ path: "", message: expect.stringContaining("malformed JSON") }]);
    const text = await call(url, "POST", "/v1/instances", JSON.stringify(registration("s", "a")), {
      "content-type": "text/plain",
    });
    expect(text.status).toBe(415);
    const route = await call(url, "GET", "/v2/nothing");
    expect(route.status).toBe(404);
    expect(route.json.code).toBe("FLT_REGISTRY_NOT_FOUND");
    const method = await call(url, "PATCH", "/v1/instances");
    expect(method.status).toBe(405);
    expect(method.headers.allow).toBe("POST");
    const badPath = await call(url, "GET", "/v1/services/%E0%A4%A");
    expect(badPath.status).toBe(400);
    // The server keeps serving after all of that.
    expect((await call(url, "GET", "/health")).status).toBe(200);
  });

  it("refuses bodies over the limits with 413", async () => {
    const { url } = await start({ limits: { maxKvValueBytes: 1024 } });
    const huge = await call(
      url,
      "POST",
      "/v1/instances",
      registration("s", "a", { metadata: { a: "x".repeat(70_000) } }),
    );
    expect(huge.status).toBe(413);
    expect(huge.json.code).toBe("FLT_REGISTRY_LIMIT_EXCEEDED");
    const kv = await call(url, "PUT", "/v1/kv/big", "x".repeat(2048));
    expect(kv.status).toBe(413);
    expect((await call(url, "PUT", "/v1/kv/small", "x".repeat(1024))).status).toBe(200);
  });

  it("rate-limits registrations and caps the instance count with 429 and Retry-After", async () => {
    const limited = await start({ limits: { registrationRate: 1, registrationBurst: 1 } });
    expect((await call(limited.url, "POST", "/v1/instances", registration("s", "a"))).status).toBe(200);
    expect((await call(limited.url, "POST", "/v1/instances", registration("s", "b"))).status).toBe(200);
    const refused = await call(limited.url, "POST", "/v1/instances", registration("s", "c"));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);

    const capped = await start({ limits: { maxInstances: 2 } });
    await call(capped.url, "POST", "/v1/instances", registration("s", "a"));
    await call(capped.url, "POST", "/v1/instances", registration("s", "b"));
    const full = await call(capped.url, "POST", "/v1/instances", registration("s", "c"));
    expect(full.status).toBe(429);
    expect(full.json.code).toBe("FLT_REGISTRY_LIMIT_EXCEEDED");
    // Replacing an existing instance is not a new one.
    expect((await call(capped.url, "POST", "/v1/instances", registration("s", "a"))).status).toBe(200);
  });

  it("limits parked blocking queries", async () => {
    const { url } = await start({ limits: { maxBlockingQueries: 1 } });
    const index = (await call(url, "GET", "/v1/services/q")).index!;
    const parked = call(url, "GET", `/v1/services/q?index=${index}&wait=1m`);
    let second = await call(url, "GET", `/v1/services/q?index=${index}&wait=1m`);
    while (second.status === 200) second = await call(url, "GET", `/v1/services/q?index=${index}&wait=1m`);
    expect(second.status).toBe(429);
    await call(url, "POST", "/v1/instances", registration("q", "q-1"));
    expect((await parked).status).toBe(200);
  });
});

describe("registry API: health, lapses and operations", () => {
  it("serves an OpenAPI 3.1 document naming every route", async () => {
    const { url } = await start();
    const doc = await call(url, "GET", "/openapi.json");
    expect(doc.status).toBe(200);
    expect(doc.json.openapi).toBe("3.1.0");
    expect(Object.keys(doc.json.paths).sort()).toEqual(
      [
        "/health",
        "/metrics",
        "/openapi.json",
        "/v1/instances",
        "/v1/instances/{service}/{id}",
        "/v1/kv",
        "/v1/kv-stream",
        "/v1/kv/{key}",
        "/v1/leases/{lease}/renew",
        "/v1/services",
        "/v1/services/{service}",
        "/v1/services/{service}/stream",
      ].sort(),
    );
    const refs = JSON.stringify(doc.json).match(/#\/components\/[a-zA-Z]+\/[A-Za-z]+/g) ?? [];
    for (const ref of refs) {
      const [, , kind, name] = ref.split("/");
      expect(doc.json.components[kind!][name!], ref).toBeDefined();
    }
  });

  it("reports health and Prometheus metrics", async () => {
    const { url } = await start();
    const reg = await call(url, "POST", "/v1/instances", registration("m", "m-1"));
    await call(url, "PUT", `/v1/leases/${reg.json.lease.id}/renew`);
    expect((await call(url, "GET", "/health")).json).toEqual({
      status: "pass",
      selfPreservation: false,
      store: "embedded",
    });
    const metrics = await call(url, "GET", "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(
      /flotilla_registry_instances\{registered_service="m",status="passing",service="registry-test"[^}]*\} 1/,
    );
    expect(metrics.text).toMatch(/flotilla_registry_heartbeats_total\{[^}]*\} 1/);
    expect(metrics.text).toMatch(/flotilla_registry_registrations_total\{[^}]*\} 1/);
    expect(metrics.text).toMatch(/flotilla_registry_self_preservation\{[^}]*\} 0/);
    expect(metrics.text).toContain("flotilla_registry_watchers");
    expect(metrics.text).toContain("flotilla_registry_lease_expirations_total");
    expect(metrics.text).toContain('http_route="/v1/instances"');
  });

  it("marks an instance whose lease lapsed critical, then removes it", async () => {
    const { url } = await start();
    await call(
      url,
      "POST",
      "/v1/instances",
      registration("l", "l-1", {
        ttlMs: "1s",
        checks: [{ type: "ttl", deregisterCriticalAfterMs: "300ms" }],
      }),
    );
    const [expired] = await until(url, "l", (list) => list[0]?.status === "critical");
    expect(expired!.checks[0]).toMatchObject({ type: "ttl", status: "critical", output: "lease expired" });
    expect((await call(url, "GET", "/v1/services/l")).json.instances).toEqual([]);
    await until(url, "l", (list) => list.length === 0);
    const metrics = await call(url, "GET", "/metrics");
    expect(metrics.text).toMatch(/flotilla_registry_lease_expirations_total\{[^}]*\} 1/);
  });

  it("keeps instances whose leases all lapse at once (self-preservation)", async () => {
    const { url, logs, store } = await start({ selfPreservation: { minLeases: 3 } });
    const leases: string[] = [];
    for (let i = 0; i < 4; i++) {
      leases.push((await call(url, "POST", "/v1/instances", registration("sp", `sp-${i}`))).json.lease.id);
    }
    // The leases vanish together, as in a partition; revoking them behind the server's back
    // looks to it exactly like their expiry.
    await Promise.all(leases.map((lease) => store.revokeLease(lease)));
    let health = await call(url, "GET", "/health");
    for (let round = 0; round < 200 && health.json.status === "pass"; round++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      health = await call(url, "GET", "/health");
    }
    expect(health.json).toMatchObject({ status: "warn", selfPreservation: true });
    const list = await call(url, "GET", "/v1/services/sp");
    expect(list.json.instances.map((i: Instance) => i.status)).toEqual([
      "passing",
      "passing",
      "passing",
      "passing",
    ]);
    expect(logs.some((l) => l.level === "warn" && String(l.msg).includes("self-preservation"))).toBe(true);
    expect((await call(url, "GET", "/metrics")).text).toMatch(
      /flotilla_registry_self_preservation\{[^}]*\} 1/,
    );
  });

  it("runs http checks: critical until the first pass, then follows the target", async () => {
    let healthy = true;
    const target = createServer((_req, res) => res.writeHead(healthy ? 200 : 503).end());
    servers.push(target);
    await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve));
    const port = (target.address() as AddressInfo).port;
    const { url } = await start({ healthChecks: { firstRunSpreadMs: 0 } });
    const reg = await call(
      url,
      "POST",
      "/v1/instances",
      registration("h", "h-1", {
        port,
        checks: [{ type: "http", url: `http://127.0.0.1:${port}/health`, intervalMs: "100ms" }],
      }),
    );
    expect(reg.json.instance.status).toBe("critical");
    await until(url, "h", (list) => list[0]?.status === "passing");
    healthy = false;
    const [down] = await until(url, "h", (list) => list[0]?.status === "critical");
    expect(down!.checks.find((c) => c.type === "http")).toMatchObject({
      status: "critical",
      output: expect.stringContaining("503"),
    });
    expect((await call(url, "GET", "/metrics")).text).toMatch(
      /flotilla_registry_check_runs_total\{[^}]*type="http"/,
    );
  });
});
