// The gateway's proxying against real upstream processes: routing, forwarding headers, hop-by-hop
// removal, rewrite, canary split, retries, the breaker, streaming both ways, SSE and WebSocket.
import { connect } from "node:net";
import { Readable } from "node:stream";
import { Agent, request } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { GatewayConfigInput } from "../src/config/gateway-config.js";
import { type Gateway, startGateway } from "../src/server/gateway.js";
import { untilClosed } from "./fixtures/raw-http.js";
import { type UpstreamProcess, Upstreams } from "./fixtures/upstreams.js";

const upstreams = new Upstreams();
const client = new Agent({ keepAliveTimeout: 1_000 });
let a: UpstreamProcess;
let b: UpstreamProcess;
let gateway: Gateway | undefined;

beforeAll(async () => {
  [a, b] = await Promise.all([upstreams.start("a"), upstreams.start("b")]);
});
afterEach(async () => {
  await gateway?.close(1_000);
  gateway = undefined;
});
afterAll(async () => {
  await client.close();
  await upstreams.close();
});

async function start(config: Omit<GatewayConfigInput, "listen">): Promise<Gateway> {
  gateway = await startGateway({ config: { listen: { port: 0 }, accessLog: false, ...config } });
  return gateway;
}

async function get(path: string, headers: Record<string, string> = {}, method = "GET") {
  const res = await request(`${gateway!.url}${path}`, {
    method: method as "GET",
    headers,
    dispatcher: client,
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    text,
    json: () => JSON.parse(text) as Record<string, unknown>,
  };
}

describe("routing", () => {
  it("routes by priority, then exact over template over prefix, and answers 404 and 405", async () => {
    await start({
      upstreams: { a: { urls: [a.url] }, b: { urls: [b.url] } },
      routes: [
        { id: "prefix", match: { path: { prefix: "/api" } }, upstream: "a" },
        { id: "exact", match: { path: { exact: "/api/users" } }, upstream: "b" },
        { id: "template", match: { path: { template: "/api/users/:id" } }, upstream: "b" },
        { id: "urgent", priority: 10, match: { path: { prefix: "/api/urgent" } }, upstream: "b" },
        { id: "post-only", match: { path: { exact: "/submit" }, methods: ["POST"] }, upstream: "a" },
        {
          id: "by-header",
          match: { path: { prefix: "/h" }, headers: [{ name: "x-tenant", exact: "blue" }] },
          upstream: "b",
        },
        { id: "h-default", match: { path: { prefix: "/h" } }, upstream: "a" },
      ],
    });
    expect((await get("/api/other")).json().name).toBe("a");
    expect((await get("/api/users")).json().name).toBe("b");
    expect((await get("/api/users/7")).json().name).toBe("b");
    expect((await get("/api/users/7/orders")).json().name).toBe("a");
    expect((await get("/api/urgent/x")).json().name).toBe("b");
    expect((await get("/h/x", { "x-tenant": "blue" })).json().name).toBe("b");
    expect((await get("/h/x", { "x-tenant": "red" })).json().name).toBe("a");
    const missing = await get("/nothing");
    expect(missing.status).toBe(404);
    expect(missing.headers["content-type"]).toBe("application/problem+json");
    const wrongMethod = await get("/submit");
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe("POST");
  });

  it("rewrites the prefix and the host, and keeps the query", async () => {
    await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [
        {
          id: "r",
          match: { path: { prefix: "/public/v1" } },
          rewrite: { prefix: { from: "/public/v1", to: "/echo" }, host: "internal.example" },
          upstream: "a",
        },
      ],
    });
    const body = (await get("/public/v1/items?limit=5")).json();
    expect(body.url).toBe("/echo/items?limit=5");
    expect((body.headers as Record<string, string>).host).toBe("internal.example");
  });

  it("splits traffic by weight within tolerance (canary 20 %)", async () => {
    await start({
      upstreams: { stable: { urls: [a.url] }, canary: { urls: [b.url] } },
      routes: [
        {
          id: "split",
          match: { path: { prefix: "/" } },
          upstream: [
            { upstream: "stable", weight: 80 },
            { upstream: "canary", weight: 20 },
          ],
        },
      ],
    });
    let canary = 0;
    const n = 400;
    for (let i = 0; i < n; i++) if ((await get("/echo")).json().name === "b") canary++;
    // Binomial(400, 0.2): mean 80, sd 8; ±4 sd.
    expect(canary).toBeGreaterThan(48);
    expect(canary).toBeLessThan(112);
  });
});

describe("forwarding", () => {
  it("sets X-Forwarded-* and Forwarded, strips hop-by-hop and client-sent internal headers", async () => {
    await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [{ id: "r", match: { path: { prefix: "/" } }, upstream: "a" }],
    });
    const res = await get("/echo", {
      "x-forwarded-for": "6.6.6.6",
      "x-flotilla-subject": "admin",
      "x-flotilla-roles": "root",
      forwarded: "for=6.6.6.6",
      "x-request-id": "abc-123",
      te: "trailers",
      "proxy-authorization": "Basic x",
    });
    const headers = res.json().headers as Record<string, string>;
    expect(headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(headers["x-forwarded-proto"]).toBe("http");
    expect(headers.forwarded).toMatch(/^for=127\.0\.0\.1;host="127\.0\.0\.1:\d+";proto=http$/);
    expect(headers["x-flotilla-subject"]).toBeUndefined();
    expect(headers["x-flotilla-roles"]).toBeUndefined();
    expect(headers["x-flotilla-timeout-ms"]).toMatch(/^\d+$/);
    expect(headers["x-request-id"]).toBe("abc-123");
    expect(headers.te).toBeUndefined();
    expect(headers["proxy-authorization"]).toBeUndefined();
    // The upstream's `Connection: keep-alive, x-hop` makes x-hop hop-by-hop.
    expect(res.headers["x-hop"]).toBeUndefined();
    expect(res.headers["x-upstream"]).toBe("a");
    expect(res.headers["x-request-id"]).toBeUndefined();
  });

  it("replaces a malformed client request id", async () => {
    await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [{ id: "r", match: { path: { prefix: "/" } }, upstream: "a" }],
    });
    const headers = (await get("/echo", { "x-request-id": "<script>" })).json().headers as Record<
      string,
      string
    >;
    expect(headers["x-request-id"]).toMatch(/^[0-9a-f]{16}-[0-9a-z]+$/);
  });
});

describe("resilience", () => {
  it("retries a 503 on another attempt for GET, and not for POST without an idempotency key", async () => {
    await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [
        {
          id: "r",
          match: { path: { prefix: "/" } },
          upstream: "a",
          retry: { attempts: 3, on: ["503"], backoff: { base: 1, max: 2 } },
        },
      ],
    });
    const ok = await get("/flaky/2?get");
    expect(ok.status).toBe(200);
    expect(ok.json().seen).toBe(3);
    const post = await get("/flaky/2?post", {}, "POST");
    expect(post.status).toBe(503);
    expect(post.json().seen).toBe(1);
    const keyed = await get("/flaky/1?keyed", { "idempotency-key": "k1" }, "POST");
    expect(keyed.status).toBe(200);
  });

  it("does not retry statuses the route does not list, and passes the last answer through", async () => {
    await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [
        {
          id: "r",
          match: { path: { prefix: "/" } },
          upstream: "a",
          retry: { attempts: 3, on: ["503"], backoff: { base: 1, max: 2 } },
        },
      ],
    });
    const before = await a.requests();
    const res = await get("/status/500");
    expect(res.status).toBe(500);
    expect(await a.requests()).toBe(before + 1);
    const exhausted = await get("/flaky/5?x");
    expect(exhausted.status).toBe(503);
    expect(exhausted.json().seen).toBe(3);
  });

  it("retries a refused connection on the next instance, even for POST", async () => {
    await start({
      upstreams: { pair: { urls: ["http://127.0.0.1:1", a.url], balancer: { algorithm: "round-robin" } } },
      routes: [
        {
          id: "r",
          match: { path: { prefix: "/" } },
          upstream: "pair",
          retry: { attempts: 2, on: ["connect-failure"], backoff: { base: 1, max: 1 } },
        },
      ],
    });
    for (let i = 0; i < 4; i++) expect((await get("/echo", {}, "POST")).status).toBe(200);
  });

  it("answers 502 for a dead upstream without leaking its address, and 504 on timeout", async () => {
    await start({
      upstreams: { dead: { urls: ["http://127.0.0.1:1"] }, a: { urls: [a.url] } },
      routes: [
        { id: "dead", match: { path: { prefix: "/dead" } }, upstream: "dead" },
        { id: "slow", match: { path: { prefix: "/slow" } }, upstream: "a", timeout: "100ms" },
      ],
    });
    const dead = await get("/dead");
    expect(dead.status).toBe(502);
    expect(dead.text).not.toContain("127.0.0.1");
    expect(dead.text).not.toContain("ECONNREFUSED");
    const slow = await get("/slow/2000");
    expect(slow.status).toBe(504);
    expect(slow.json().code).toBe("FLT_GATEWAY_TIMEOUT");
  });

  it("opens the route's breaker after failures and answers 503 without calling the upstream", async () => {
    await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [
        {
          id: "guarded",
          match: { path: { prefix: "/status" } },
          upstream: "a",
          breaker: {
            slidingWindowSize: 4,
            minimumNumberOfCalls: 4,
            failureRateThreshold: 50,
            waitDurationInOpenState: "60s",
          },
        },
        { id: "other", match: { path: { prefix: "/echo" } }, upstream: "a" },
      ],
    });
    for (let i = 0; i < 4; i++) expect((await get("/status/500")).status).toBe(500);
    const before = await a.requests();
    const open = await get("/status/200");
    expect(open.status).toBe(503);
    expect(open.json().code).toBe("FLT_GATEWAY_UNAVAILABLE");
    expect(Number(open.headers["retry-after"])).toBeGreaterThan(0);
    expect(await a.requests()).toBe(before);
    // Per route: another route to the same upstream still flows.
    expect((await get("/echo")).status).toBe(200);
  });

  it("refuses requests beyond the route's bulkhead with 503", async () => {
    await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [{ id: "r", match: { path: { prefix: "/" } }, upstream: "a", bulkhead: { maxConcurrent: 1 } }],
    });
    const slow = get("/slow/300");
    let refused = 0;
    for (let i = 0; i < 20 && refused === 0; i++) {
      if ((await get("/echo")).status === 503) refused++;
    }
    expect(refused).toBe(1);
    expect((await slow).status).toBe(200);
  });
});

describe("streaming", () => {
  it("passes server-sent events through as they come", async () => {
    await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [{ id: "r", match: { path: { prefix: "/" } }, upstream: "a" }],
    });
    const res = await request(`${gateway!.url}/sse`, { dispatcher: client });
    expect(res.headers["content-type"]).toBe("text/event-stream");
    const seen: string[] = [];
    for await (const chunk of res.body) seen.push((chunk as Buffer).toString());
    expect(seen.join("")).toBe("id: 1\ndata: event 1\n\nid: 2\ndata: event 2\n\nid: 3\ndata: event 3\n\n");
    // Each event arrived as its own chunk: nothing waited for the end of the stream.
    expect(seen.length).toBeGreaterThanOrEqual(2);
  });

  it("proxies a WebSocket both ways", async () => {
    await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [{ id: "ws", match: { path: { exact: "/ws" } }, upstream: "a" }],
    });
    const ws = new WebSocket(`${gateway!.url.replace("http", "ws")}/ws`);
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const reply = new Promise<string>((resolve) => ws.once("message", (data) => resolve(data.toString())));
    ws.send("hello");
    expect(await reply).toBe("a: hello");
    ws.close();
    await new Promise((resolve) => ws.once("close", resolve));
  });

  it("streams large responses byte for byte to fast clients while a stalled one holds its response", async () => {
    await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [{ id: "r", match: { path: { prefix: "/" } }, upstream: "a" }],
    });
    const expected = (total: number): Buffer => {
      const out = Buffer.allocUnsafe(total);
      for (let i = 0; i < total; i++) out[i] = (i * 7 + total) % 251;
      return out;
    };
    const collect = async (body: AsyncIterable<unknown>): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    // The slow client reads nothing until the others are done: the kernel's buffers to it fill,
    // the gateway holds what it could not write and pauses that upstream, while the other
    // responses' reads go on through the same upstream connection pool.
    const slowSize = 24_000_013;
    const slow = await request(`${gateway!.url}/bytes/${slowSize}`, { dispatcher: client });
    const sizes = [1_500_007, 2_250_011, 777, 3_000_001];
    const bodies = await Promise.all(
      sizes.map(async (total) =>
        collect((await request(`${gateway!.url}/bytes/${total}`, { dispatcher: client })).body),
      ),
    );
    bodies.forEach((body, i) => {
      expect(body.length).toBe(sizes[i]);
      expect(body.equals(expected(sizes[i]!))).toBe(true);
    });
    const slowBody = await collect(slow.body);
    expect(slowBody.length).toBe(slowSize);
    expect(slowBody.equals(expected(slowSize))).toBe(true);
  });

  it("refuses a body over the route's limit with 413", async () => {
    await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [{ id: "r", match: { path: { prefix: "/" } }, upstream: "a", maxBodyBytes: "1kb" }],
    });
    // No Content-Length: undici sends it chunked, so the limit trips midway.
    const res = await request(`${gateway!.url}/upload`, {
      method: "POST",
      body: Readable.from([Buffer.alloc(800), Buffer.alloc(800)]),
      dispatcher: client,
    });
    expect(res.statusCode).toBe(413);
    expect(((await res.body.json()) as { code: string }).code).toBe("FLT_GATEWAY_BODY_TOO_LARGE");
    // Known length: refused before anything is sent upstream.
    const before = await a.requests();
    const known = await request(`${gateway!.url}/upload`, {
      method: "POST",
      body: Buffer.alloc(2048),
      dispatcher: client,
    });
    expect(known.statusCode).toBe(413);
    await known.body.dump();
    expect(await a.requests()).toBe(before);
  });
});

/**
 * The responses in a raw HTTP/1.1 answer, in order, bodies framed by Content-Length (or none);
 * `headAnswers` are the indexes of the answers to HEAD requests, which have no body.
 */
function responses(
  raw: string,
  headAnswers: readonly number[] = [],
): { status: number; headers: Map<string, string>; body: string }[] {
  const out: { status: number; headers: Map<string, string>; body: string }[] = [];
  let pos = 0;
  while (pos < raw.length) {
    const end = raw.indexOf("\r\n\r\n", pos);
    if (end < 0) throw new Error(`unterminated head at ${pos}: ${JSON.stringify(raw.slice(pos))}`);
    const [statusLine, ...lines] = raw.slice(pos, end).split("\r\n");
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).toLowerCase();
      if (headers.has(name)) throw new Error(`header ${name} twice`);
      headers.set(name, line.slice(colon + 1).trim());
    }
    const length = Number(headers.get("content-length") ?? 0);
    const hasBody = !/ (204|304) /.test(statusLine!) && !headAnswers.includes(out.length);
    const body = hasBody ? raw.slice(end + 4, end + 4 + length) : "";
    out.push({ status: Number(statusLine!.split(" ")[1]), headers, body });
    pos = end + 4 + body.length;
  }
  return out;
}

describe("response writing", () => {
  it("answers pipelined requests in order, frames each whole body with Content-Length, and closes on request", async () => {
    await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [{ id: "r", match: { path: { prefix: "/" } }, upstream: "a" }],
    });
    const port = Number(new URL(gateway!.url).port);
    // The third is a HEAD: its answer has a Content-Length-free head and no body, then the close.
    const raw = await untilClosed(
      port,
      "GET /echo/1 HTTP/1.1\r\nHost: a\r\n\r\n" +
        "GET /status/204 HTTP/1.1\r\nHost: a\r\n\r\n" +
        "HEAD /echo/3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    const [first, second, third, ...rest] = responses(raw, [2]);
    expect(rest).toEqual([]);
    // The upstream sent this body chunked; the gateway had it whole and sends its length.
    expect(first!.status).toBe(200);
    expect(first!.headers.get("transfer-encoding")).toBeUndefined();
    expect(Number(first!.headers.get("content-length"))).toBe(Buffer.byteLength(first!.body));
    expect(JSON.parse(first!.body)).toMatchObject({ name: "a", url: "/echo/1" });
    expect(first!.headers.get("connection")).toBe("keep-alive");
    expect(first!.headers.get("keep-alive")).toMatch(/^timeout=\d+$/);
    expect(first!.headers.has("date")).toBe(true);
    expect(first!.headers.has("x-hop")).toBe(false);
    expect(second!.status).toBe(204);
    expect(second!.headers.has("content-length")).toBe(false);
    expect(second!.headers.has("transfer-encoding")).toBe(false);
    expect(third!.status).toBe(200);
    expect(third!.headers.get("connection")).toBe("close");
    expect(third!.body).toBe("");
  });

  it("answers HEAD without a body and keeps the connection usable for the next request", async () => {
    await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [{ id: "r", match: { path: { prefix: "/" } }, upstream: "a" }],
    });
    const port = Number(new URL(gateway!.url).port);
    // One connection, one request after the other: a body after the HEAD head would be read as
    // the start of the second response.
    const socket = connect(port, "127.0.0.1");
    let received = "";
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
    });
    const ended = new Promise((resolve) => socket.once("end", resolve));
    socket.write("HEAD /echo/head HTTP/1.1\r\nHost: a\r\n\r\n");
    await new Promise<void>((resolve) => socket.once("data", () => resolve()));
    socket.write("GET /echo/after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    await ended;
    socket.destroy();
    const [head, get, ...rest] = responses(received, [0]);
    expect(rest).toEqual([]);
    expect(head!.status).toBe(200);
    expect(head!.body).toBe("");
    expect(get!.status).toBe(200);
    expect(JSON.parse(get!.body)).toMatchObject({ method: "GET", url: "/echo/after" });
  });

  it("closes after answering an HTTP/1.0 request that did not ask to keep the connection", async () => {
    await start({
      upstreams: { a: { urls: [a.url] } },
      routes: [{ id: "r", match: { path: { prefix: "/" } }, upstream: "a" }],
    });
    const port = Number(new URL(gateway!.url).port);
    const raw = await untilClosed(port, "GET /echo/10 HTTP/1.0\r\nHost: a\r\n\r\n");
    const [only, ...rest] = responses(raw);
    expect(rest).toEqual([]);
    expect(only!.status).toBe(200);
    expect(only!.headers.get("connection")).toBe("close");
    expect(JSON.parse(only!.body)).toMatchObject({ url: "/echo/10" });
  });
});
