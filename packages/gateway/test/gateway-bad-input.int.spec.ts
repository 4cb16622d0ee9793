// Hostile and malformed requests on a raw socket: each is refused with the right 4xx, and the
// gateway goes on serving the next request.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GatewayLogger } from "../src/chain/gateway-logger.js";
import { type Gateway, startGateway } from "../src/server/gateway.js";
import { rawExchange, statusOf } from "./fixtures/raw-http.js";
import { type UpstreamProcess, Upstreams } from "./fixtures/upstreams.js";

const upstreams = new Upstreams();
let upstream: UpstreamProcess;
let gateway: Gateway;
let port: number;
const logged: { msg: string; obj: Record<string, unknown> }[] = [];
const logger: GatewayLogger = {
  info: (obj, msg) => logged.push({ msg: msg ?? "", obj: obj as Record<string, unknown> }),
  warn: (obj, msg) => logged.push({ msg: msg ?? "", obj: obj as Record<string, unknown> }),
  error: (obj, msg) => logged.push({ msg: msg ?? "", obj: obj as Record<string, unknown> }),
  debug: () => {},
};

beforeAll(async () => {
  upstream = await upstreams.start("bad-input");
  gateway = await startGateway({
    logger,
    config: {
      listen: { port: 0 },
      accessLog: false,
      limits: { maxHeaderBytes: 4096, headersTimeout: "300ms", requestTimeout: "2s", maxBodyBytes: 1024 },
      upstreams: { u: { urls: [upstream.url] } },
      routes: [{ id: "api", match: { path: { prefix: "/api" } }, upstream: "u" }],
    },
  });
  port = Number(new URL(gateway.url).port);
});
afterAll(async () => {
  try {
    await gateway.close(1_000);
  } finally {
    await upstreams.close();
  }
});

async function stillServes(): Promise<void> {
  const answer = await rawExchange(port, "GET /api/echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  expect(statusOf(answer)).toBe(200);
}

describe("malformed requests", () => {
  const cases: [string, string, number][] = [
    ["a malformed request line", "GET /api/echo HTTP/1.1 extra\r\nHost: a\r\n\r\n", 400],
    ["a bad HTTP version", "GET /api/echo HTTP/9.9\r\nHost: a\r\n\r\n", 400],
    ["a header name with a space", "GET /api/echo HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", 400],
    [
      "a bare CR in a header value (injection)",
      "GET /api/echo HTTP/1.1\r\nHost: a\r\nX-A: b\rInjected: 1\r\n\r\n",
      400,
    ],
    [
      "a bare LF line ending (injection)",
      "GET /api/echo HTTP/1.1\r\nHost: a\r\nX-A: b\nInjected: 1\r\n\r\n",
      400,
    ],
    ["a NUL in a header value", "GET /api/echo HTTP/1.1\r\nHost: a\r\nX-A: b\u0000c\r\n\r\n", 400],
    ["no Host header", "GET /api/echo HTTP/1.1\r\n\r\n", 400],
    [
      "headers over the limit",
      `GET /api/echo HTTP/1.1\r\nHost: a\r\nX-Big: ${"x".repeat(8000)}\r\n\r\n`,
      431,
    ],
    [
      "Content-Length with Transfer-Encoding (smuggling)",
      "POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
      400,
    ],
    [
      "two different Content-Lengths (smuggling)",
      "POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello",
      400,
    ],
    [
      "an obfuscated Transfer-Encoding (smuggling)",
      "POST /api/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
      400,
    ],
    [
      "a path climbing above the root",
      "GET /../etc/passwd HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
      400,
    ],
    [
      "an encoded traversal above the root",
      "GET /api/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
      400,
    ],
    [
      "a double-encoded traversal",
      "GET /api/%252e%252e/admin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
      400,
    ],
    ["an encoded slash", "GET /api/..%2Fadmin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 400],
    [
      "a body over the limit",
      `POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2048\r\n\r\n${"x".repeat(2048)}`,
      413,
    ],
  ];
  it.each(cases)("refuses %s", async (_name, bytes, status) => {
    const answer = await rawExchange(port, bytes);
    expect(statusOf(answer)).toBe(status);
    // A request Node could not parse cannot be trusted to end where it says: the connection closes.
    expect(answer.toLowerCase()).toContain("connection: close");
    expect(answer).toContain("application/problem+json");
    await stillServes();
  });

  it("never forwards a smuggled request", async () => {
    const before = await upstream.requests();
    await rawExchange(
      port,
      "POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    expect(await upstream.requests()).toBe(before);
  });

  it("resolves dot segments inside the root before routing", async () => {
    const answer = await rawExchange(
      port,
      "GET /api/x/../echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    expect(statusOf(answer)).toBe(200);
    expect(answer).toContain('"url":"/api/echo"');
    const outside = await rawExchange(
      port,
      "GET /api/../secret HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    expect(statusOf(outside)).toBe(404);
  });

  it("logs what it refused", async () => {
    await rawExchange(port, "GET /../x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    expect(logged.some((l) => l.msg === "refused a malformed request target")).toBe(true);
    await rawExchange(port, "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n");
    expect(logged.some((l) => l.msg === "refused a malformed request")).toBe(true);
  });
});

describe("slow clients", () => {
  it("answers 408 to a client that never finishes its headers (slowloris) and keeps serving", async () => {
    const answer = await rawExchange(port, "GET /api/echo HTTP/1.1\r\nHost: a\r\nX-Slow: ", 5_000);
    expect(statusOf(answer)).toBe(408);
    await stillServes();
  });
});

describe("upgrades", () => {
  it("refuses an upgrade to anything but WebSocket with a problem document", async () => {
    const answer = await rawExchange(
      port,
      "GET /api/echo HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    );
    expect(statusOf(answer)).toBe(400);
    expect(answer).toContain("application/problem+json");
    expect(answer).toContain("only WebSocket upgrades are proxied");
    await stillServes();
  });
});
