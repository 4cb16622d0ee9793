import { afterEach, describe, expect, it } from "vitest";
import { type AdminServer, adminServer } from "../src/admin/admin-server.js";
import type { AdminServerOptions } from "../src/admin/admin-server-options.js";
import type {
  AdminSource,
  BreakerView,
  ConfigVersionView,
  RateLimitView,
  ReloadOutcome,
  RouteView,
  UpstreamView,
} from "../src/admin/admin-source.js";
import { GatewayErrorCode, isGatewayError } from "../src/chain/gateway-error.js";
import { silentLogger } from "../src/chain/gateway-logger.js";

const token = "s3cr3t-admin-token-0123456789";

const routes: RouteView[] = [
  {
    id: "users",
    hosts: ["api.example.com"],
    path: "/api/users/**",
    methods: ["GET", "POST"],
    upstream: "users (registry)",
    policies: ["authentication jwt", "rate-limit 100/1m per consumer", "timeout 5s"],
  },
];

const upstreams: UpstreamView[] = [
  {
    name: "users",
    kind: "registry",
    instances: [
      { address: "10.0.0.5:8080", healthy: true, ejected: false, inFlight: 3 },
      { address: "10.0.0.6:8080", healthy: true, ejected: true, inFlight: 0 },
    ],
  },
  {
    name: "legacy",
    kind: "static",
    instances: [{ address: "legacy.internal:80", healthy: false, ejected: false, inFlight: 0 }],
  },
];

const breakers: BreakerView[] = [
  {
    routeId: "users",
    state: "OPEN",
    failureRate: 62.5,
    slowCallRate: -1,
    bufferedCalls: 8,
    failedCalls: 5,
    slowCalls: 0,
    slowFailedCalls: 0,
    slowSuccessfulCalls: 0,
    successfulCalls: 3,
    notPermittedCalls: 12,
    inFlight: 0,
  },
];

const rateLimits: RateLimitView[] = [
  { route: "users", policy: "100/1m burst 20 per consumer", allowed: 1200, limited: 34, backendErrors: 1 },
];

const config: ConfigVersionView = {
  version: 7,
  loadedAt: "2025-01-02T03:04:05.000Z",
  source: "/etc/flotilla/gateway.yaml",
};

const metricsText =
  "# HELP flotilla_gateway_requests_total Requests.\n# TYPE flotilla_gateway_requests_total counter\nflotilla_gateway_requests_total 42\n";

/** A fake gateway whose reload answers whatever the test queues. */
function fakeSource(): AdminSource & { reloads: number; next: ReloadOutcome | Error } {
  const source = {
    reloads: 0,
    next: { ok: true, version: 8, routes: 1 } as ReloadOutcome | Error,
    routes: () => routes,
    upstreams: () => upstreams,
    breakers: () => breakers,
    rateLimits: () => rateLimits,
    configVersion: () => config,
    async reload(): Promise<ReloadOutcome> {
      source.reloads++;
      if (source.next instanceof Error) throw source.next;
      return source.next;
    },
  };
  return source;
}

let server: AdminServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(
  overrides: Partial<AdminServerOptions> = {},
): Promise<{ url: string; source: ReturnType<typeof fakeSource> }> {
  const source = fakeSource();
  server = adminServer({
    port: 0,
    adminToken: token,
    source,
    metrics: async () => metricsText,
    ...overrides,
  });
  const { url } = await server.start();
  return { url, source };
}

function authed(init: RequestInit = {}): RequestInit {
  return { ...init, headers: { authorization: `Bearer ${token}` } };
}

async function problem(response: Response): Promise<Record<string, unknown>> {
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  return (await response.json()) as Record<string, unknown>;
}

describe("adminServer: construction", () => {
  const source = fakeSource();
  const metrics = async (): Promise<string> => "";

  it("refuses a token shorter than 16 characters, without echoing it", () => {
    let caught: unknown;
    try {
      adminServer({ port: 0, adminToken: "short-token-123", source, metrics });
    } catch (error) {
      caught = error;
    }
    expect(isGatewayError(caught)).toBe(true);
    expect((caught as { code: string }).code).toBe(GatewayErrorCode.ConfigInvalid);
    expect((caught as Error).message).toContain("admin.adminToken");
    expect((caught as Error).message).not.toContain("short-token-123");
  });

  it("refuses an empty token and one that cannot be sent as a bearer token", () => {
    expect(() => adminServer({ port: 0, adminToken: "", source, metrics })).toThrow(/admin\.adminToken/);
    expect(() =>
      adminServer({ port: 0, adminToken: "has spaces in the admin token", source, metrics }),
    ).toThrow(/admin\.adminToken/);
  });

  it("refuses unknown settings and accepts exactly 16 characters", () => {
    const options = { port: 0, adminToken: token, source, metrics, prot: 1 } as AdminServerOptions;
    expect(() => adminServer(options)).toThrow(/prot/);
    expect(() => adminServer({ port: 0, adminToken: "a".repeat(16), source, metrics })).not.toThrow();
  });

  it("defaults to 127.0.0.1 and parses closeGrace durations", () => {
    const admin = adminServer({ port: 0, adminToken: token, source, metrics, closeGrace: "250ms" });
    expect(admin.options.host).toBe("127.0.0.1");
    expect(admin.options.closeGraceMs).toBe(250);
  });
});

describe("adminServer: authentication", () => {
  it("answers GET /health without a token", async () => {
    const { url } = await start();
    const response = await fetch(`${url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("listens on 127.0.0.1 by default", async () => {
    const { url } = await start();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("answers 401 FLT_GATEWAY_ADMIN_UNAUTHORIZED without a token", async () => {
    const { url } = await start();
    const response = await fetch(`${url}/routes`);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer /);
    const body = await problem(response);
    expect(body).toMatchObject({ status: 401, code: GatewayErrorCode.AdminUnauthorized });
  });

  it("answers 401 for a wrong token, a token of another length and another scheme", async () => {
    const { url } = await start();
    for (const authorization of [
      `Bearer ${token.slice(0, -1)}x`,
      `Bearer ${token}${token}`,
      "Bearer ",
      `Basic ${Buffer.from(`admin:${token}`).toString("base64")}`,
      token,
    ]) {
      const response = await fetch(`${url}/routes`, { headers: { authorization } });
      expect(response.status, authorization).toBe(401);
      expect((await problem(response)).code).toBe(GatewayErrorCode.AdminUnauthorized);
      expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"');
    }
  });

  it("accepts the right token, with the scheme in any case", async () => {
    const { url } = await start();
    const response = await fetch(`${url}/routes`, { headers: { authorization: `bearer ${token}` } });
    expect(response.status).toBe(200);
  });

  it("requires the token before telling whether a path exists", async () => {
    const { url } = await start();
    expect((await fetch(`${url}/no-such-path`)).status).toBe(401);
    expect((await fetch(`${url}/health`, { method: "POST" })).status).toBe(401);
  });
});

describe("adminServer: routes", () => {
  it("GET /routes lists the routes", async () => {
    const { url } = await start();
    const response = await fetch(`${url}/routes`, authed());
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await response.json()).toEqual({ routes });
  });

  it("GET /upstreams, /breakers, /rate-limits and /config answer what the source says", async () => {
    const { url } = await start();
    expect(await (await fetch(`${url}/upstreams`, authed())).json()).toEqual({ upstreams });
    expect(await (await fetch(`${url}/breakers`, authed())).json()).toEqual({ breakers });
    expect(await (await fetch(`${url}/rate-limits`, authed())).json()).toEqual({ rateLimits });
    expect(await (await fetch(`${url}/config?verbose=1`, authed())).json()).toEqual(config);
  });

  it("POST /reload answers the new version", async () => {
    const { url, source } = await start();
    const response = await fetch(`${url}/reload`, authed({ method: "POST" }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, version: 8, routes: 1 });
    expect(source.reloads).toBe(1);
  });

  it("POST /reload answers 422 with the issues when the configuration is refused", async () => {
    const { url, source } = await start();
    const issues = [
      { path: "routes[0].upstream", message: "unknown upstream 'user'" },
      { path: "routes[2].timeout", message: 'expected a duration such as "250ms"' },
    ];
    source.next = { ok: false, message: "2 problems in /etc/flotilla/gateway.yaml", issues };
    const response = await fetch(`${url}/reload`, authed({ method: "POST" }));
    expect(response.status).toBe(422);
    const body = await problem(response);
    expect(body).toMatchObject({
      code: GatewayErrorCode.ConfigInvalid,
      detail: "2 problems in /etc/flotilla/gateway.yaml",
      issues,
    });
  });

  it("POST /reload answers 500 without the error's text when the reload throws", async () => {
    const { url, source } = await start();
    source.next = new Error("ECONNREFUSED 10.1.2.3:6379");
    const response = await fetch(`${url}/reload`, authed({ method: "POST" }));
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).toContain(GatewayErrorCode.Internal);
    expect(text).not.toContain("10.1.2.3");
    // The failed reload does not block the next one.
    source.next = { ok: true, version: 9, routes: 2 };
    expect(await (await fetch(`${url}/reload`, authed({ method: "POST" }))).json()).toEqual({
      ok: true,
      version: 9,
      routes: 2,
    });
  });

  it("runs concurrent reloads one after the other", async () => {
    const logged: string[] = [];
    const logger = { ...silentLogger, info: (_: object, msg?: string) => void logged.push(msg ?? "") };
    const { url, source } = await start({ logger });
    let running = 0;
    let overlapped = false;
    let version = 10;
    const releases: Array<() => void> = [];
    source.reload = async () => {
      running++;
      if (running > 1) overlapped = true;
      await new Promise<void>((resolve) => releases.push(resolve));
      running--;
      return { ok: true, version: version++, routes: 1 };
    };
    const until = async (done: () => boolean): Promise<void> => {
      while (!done()) await new Promise((resolve) => setImmediate(resolve));
    };
    const first = fetch(`${url}/reload`, authed({ method: "POST" }));
    await until(() => releases.length === 1);
    const second = fetch(`${url}/reload`, authed({ method: "POST" }));
    await until(() => logged.some((m) => m.includes("queued")));
    expect(overlapped).toBe(false);
    releases.shift()!();
    await until(() => releases.length === 1);
    releases.shift()!();
    const answers = await Promise.all([first, second].map(async (r) => (await r).json()));
    expect(overlapped).toBe(false);
    expect(answers).toEqual([
      { ok: true, version: 10, routes: 1 },
      { ok: true, version: 11, routes: 1 },
    ]);
  });

  it("GET /metrics answers the text in Prometheus' content type", async () => {
    const { url } = await start();
    const response = await fetch(`${url}/metrics`, authed());
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await response.text()).toBe(metricsText);
  });

  it("answers 500 when a source read throws", async () => {
    const { url, source } = await start();
    source.routes = () => {
      throw new Error("boom at 10.9.9.9");
    };
    const response = await fetch(`${url}/routes`, authed());
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain("10.9.9.9");
  });

  it("answers 404 problem for an unknown path", async () => {
    const { url } = await start();
    const response = await fetch(`${url}/routes/users`, authed());
    expect(response.status).toBe(404);
    expect((await problem(response)).status).toBe(404);
  });

  it("answers 405 with Allow for a wrong method", async () => {
    const { url, source } = await start();
    const get = await fetch(`${url}/reload`, authed());
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect((await problem(get)).code).toBe(GatewayErrorCode.MethodNotAllowed);
    expect(source.reloads).toBe(0);
    const del = await fetch(`${url}/routes`, authed({ method: "DELETE" }));
    expect(del.status).toBe(405);
    expect(del.headers.get("allow")).toBe("GET, HEAD");
    await del.body?.cancel();
  });

  it("answers HEAD on GET routes without a body", async () => {
    const { url } = await start();
    const response = await fetch(`${url}/config`, authed({ method: "HEAD" }));
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
  });
});

describe("adminServer: close", () => {
  it("closes with a keep-alive connection open and stops answering", async () => {
    const { url } = await start();
    const response = await fetch(`${url}/health`, { headers: { connection: "keep-alive" } });
    await response.text();
    await server!.close();
    await expect(fetch(`${url}/health`)).rejects.toThrow();
    // A second close is a no-op.
    await server!.close();
  });

  it("closes a server closed while it was starting", async () => {
    const admin = adminServer({ port: 0, adminToken: token, source: fakeSource(), metrics: async () => "" });
    const started = admin.start();
    await admin.close();
    const { url } = await started;
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });

  it("closes a server that never started", async () => {
    const admin = adminServer({ port: 0, adminToken: token, source: fakeSource(), metrics: async () => "" });
    await expect(admin.close()).resolves.toBeUndefined();
  });
});
