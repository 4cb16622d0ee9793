// The gateway as a real process (dist/gateway-main.js --config <file>) in front of real upstream
// processes: a 100 MB upload streamed with flat memory, hot reload from the watched file (keep-
// alive connections and requests in flight survive it), a broken file keeping the old routes, a
// bad file at start (exit 78), the admin API on its own port, and a graceful SIGTERM.
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buildPackage } from "@flotilla/registry/testing";
import { Agent, Pool, request } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { GatewayConfigInput } from "../src/config/gateway-config.js";
import {
  freePort,
  GatewayProcesses,
  gatewayPackageDir,
  until,
  writeConfig,
  writeRaw,
} from "./fixtures/gateway-process.js";
import { type UpstreamProcess, Upstreams } from "./fixtures/upstreams.js";

const upstreams = new Upstreams();
const gateways = new GatewayProcesses();
const client = new Agent({ keepAliveTimeout: 1_000 });
const adminToken = "process-test-admin-token-0123456789";
let a: UpstreamProcess;
let b: UpstreamProcess;
let dir: string;
let configCount = 0;

beforeAll(async () => {
  buildPackage(gatewayPackageDir);
  dir = await mkdtemp(join(tmpdir(), "flotilla-gateway-process-"));
  [a, b] = await Promise.all([upstreams.start("a"), upstreams.start("b")]);
}, 120_000);
afterEach(async () => {
  await gateways.killAll();
});
afterAll(async () => {
  await gateways.killAll();
  await client.close();
  await upstreams.close();
  await rm(dir, { recursive: true, force: true });
});

/** A fresh configuration file in the temp dir, written atomically. */
async function configFile(config: GatewayConfigInput, ext: "yaml" | "json" = "yaml"): Promise<string> {
  const file = join(dir, `gateway-${++configCount}.${ext}`);
  await writeConfig(file, config);
  return file;
}

/** Everything to upstream `to` on one catch-all route `r`. */
function catchAll(to: "a" | "b", extra: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return {
    listen: { port: 0 },
    accessLog: false,
    upstreams: { a: { urls: [a.url] }, b: { urls: [b.url] } },
    routes: [{ id: "r", match: { path: { prefix: "/" } }, upstream: to }],
    ...extra,
  };
}

async function get(url: string, dispatcher: Agent | Pool = client) {
  const res = await request(url, { dispatcher });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** The process's peak resident set size (VmHWM) in bytes. */
function peakRss(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (match === null) throw new Error(`no VmHWM for ${pid}`);
  return Number(match[1]) * 1024;
}

/** `total` zero bytes in 64 KB chunks, produced as the consumer reads. */
function zeros(total: number): Readable {
  const chunk = Buffer.alloc(64 * 1024);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const size = Math.min(chunk.length, total - sent);
      sent += size;
      this.push(size === chunk.length ? chunk : chunk.subarray(0, size));
    },
  });
}

describe("gateway process", () => {
  it("streams a 100 MB upload to the upstream without buffering it", async () => {
    const gateway = await gateways.start(
      await configFile(catchAll("a", { limits: { maxBodyBytes: "200mb" } })),
    );
    const upload = async (bytes: number) => {
      const res = await request(`${gateway.url}/upload`, {
        method: "POST",
        headers: { "content-length": String(bytes), "content-type": "application/octet-stream" },
        body: zeros(bytes),
        dispatcher: client,
      });
      return { status: res.statusCode, body: (await res.body.json()) as { bytes: number } };
    };
    // Warm up to the steady state: the heap and socket buffers of a process that streams bodies
    // settle after ~100 MB of traffic. In 4 MB uploads, so the warm-up cannot hide a gateway that
    // holds a whole body: that would lift the peak by 100 MB below.
    for (let i = 0; i < 32; i++) expect((await upload(4 * 1024 * 1024)).body.bytes).toBe(4 * 1024 * 1024);
    const before = peakRss(gateway.pid);

    const total = 100 * 1024 * 1024;
    const res = await upload(total);

    const growth = peakRss(gateway.pid) - before;
    expect(res.status).toBe(200);
    expect(res.body.bytes).toBe(total);
    // Buffering the body would lift the peak by at least 100 MB.
    expect(growth).toBeLessThan(50 * 1024 * 1024);
  }, 60_000);

  it("reloads the routes when the file changes; keep-alive connections and requests in flight survive", async () => {
    const file = await configFile(catchAll("a"));
    const gateway = await gateways.start(file);
    const pool = new Pool(gateway.url, { connections: 1, keepAliveTimeout: 30_000 });
    let connects = 0;
    pool.on("connect", () => connects++);
    const slowAgent = new Agent();
    try {
      expect((await get(`${gateway.url}/echo`, pool)).json().name).toBe("a");

      // A request in flight at the upstream when the configuration is swapped.
      const seenByA = await a.requests();
      const slow = get(`${gateway.url}/slow/1500`, slowAgent);
      await until(async () => (await a.requests()) > seenByA, "the slow request to reach upstream a");

      await writeConfig(file, catchAll("b"));
      await until(
        async () => (await get(`${gateway.url}/echo`, pool)).json().name === "b",
        "answers from upstream b",
      );
      await gateway.waitFor(/"msg":"configuration reloaded"/);

      const finished = await slow;
      expect(finished.status).toBe(200);
      // Served by the configuration it started on.
      expect(finished.json().name).toBe("a");
      // The keep-alive connection opened before the reload carried every request.
      expect((await get(`${gateway.url}/echo`, pool)).json().name).toBe("b");
      expect(connects).toBe(1);
    } finally {
      await pool.close();
      await slowAgent.close();
    }
  }, 30_000);

  it("keeps serving the old routes when the file becomes invalid, and takes a good one again", async () => {
    const file = await configFile(catchAll("a"));
    const gateway = await gateways.start(file);
    expect((await get(`${gateway.url}/echo`)).json().name).toBe("a");

    // Not YAML at all.
    await writeRaw(file, "routes: [ { id: r, match: \n");
    await gateway.waitFor(/configuration reload failed/);
    expect((await get(`${gateway.url}/echo`)).json().name).toBe("a");

    // Valid YAML, invalid configuration: names the bad setting.
    const failuresBefore = gateway.stdout().split("configuration reload failed").length;
    await writeConfig(file, {
      ...catchAll("b"),
      routes: [{ id: "r", match: { path: { prefix: "/" } }, upstream: "b", timeout: "banana" }],
    });
    await until(
      () => gateway.stdout().split("configuration reload failed").length > failuresBefore,
      "a second failed reload",
    );
    expect(gateway.stdout()).toContain("routes.0.timeout");
    const still = await get(`${gateway.url}/echo`);
    expect(still.status).toBe(200);
    expect(still.json().name).toBe("a");

    // The watch is still alive: a good file is taken.
    await writeConfig(file, catchAll("b"));
    await until(async () => (await get(`${gateway.url}/echo`)).json().name === "b", "the good file");
  }, 30_000);

  it("exits 78 on a bad configuration at start and names the bad setting", async () => {
    const file = await configFile(
      {
        listen: { port: 0 },
        upstreams: { a: { urls: [a.url] } },
        routes: [{ id: "r", match: { path: { prefix: "/" } }, upstream: "a", timeout: "soon" as never }],
      },
      "json",
    );
    const gateway = gateways.spawn(file);
    expect(await gateway.exitCode()).toBe(78);
    await gateway.waitFor(/routes\.0\.timeout/);
    expect(gateway.stderr()).toContain("routes.0.timeout");
    expect(gateway.stdout()).not.toContain("gateway listening");
  });

  /** A gateway with the admin API: route `echo` (breaker, generous limit), route `tight` (2 per hour). */
  async function adminGateway() {
    const port = await freePort();
    const file = await configFile({
      listen: { port: 0 },
      accessLog: false,
      admin: { port, adminToken },
      upstreams: { a: { urls: [a.url] } },
      routes: [
        {
          id: "echo",
          match: { path: { prefix: "/echo" } },
          upstream: "a",
          breaker: { slidingWindowSize: 10, minimumNumberOfCalls: 10, failureRateThreshold: 50 },
          rateLimit: { policies: [{ name: "generous", rule: { limit: 1000, period: "1m" } }] },
        },
        {
          id: "tight",
          match: { path: { prefix: "/status" } },
          upstream: "a",
          rateLimit: { policies: [{ name: "two", rule: { limit: 2, period: "1h" }, key: "route" }] },
        },
      ],
    });
    const gateway = await gateways.start(file);
    const admin = `http://127.0.0.1:${port}`;
    const authed = { authorization: `Bearer ${adminToken}` };
    const adminGet = async (path: string, headers: Record<string, string> = authed) => {
      const res = await request(`${admin}${path}`, { headers, dispatcher: client });
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
    };
    const adminJson = async (path: string) => {
      const res = await adminGet(path);
      expect(res.status, `${path}: ${res.text}`).toBe(200);
      // biome-ignore lint/suspicious/noExplicitAny: assertions read the admin answers' shapes
      return JSON.parse(res.text) as any;
    };
    /** 3 requests on `echo`; 4 on `tight`, the last two refused. */
    const traffic = async () => {
      for (let i = 0; i < 3; i++) expect((await get(`${gateway.url}/echo`)).status).toBe(200);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await get(`${gateway.url}/status/200`)).status);
      expect(statuses).toEqual([200, 200, 429, 429]);
    };
    return { gateway, file, admin, authed, adminGet, adminJson, traffic };
  }

  it("serves the admin API on its own port behind the token", async () => {
    const { gateway, file, admin, authed, adminGet, adminJson, traffic } = await adminGateway();

    // No token, or a wrong one: 401 before anything else; /health is open.
    const anonymous = await adminGet("/routes", {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers["www-authenticate"]).toContain("Bearer");
    expect((await adminGet("/routes", { authorization: "Bearer not-the-admin-token-at-all" })).status).toBe(
      401,
    );
    expect((await adminGet("/health", {})).status).toBe(200);
    // The admin API is not on the public port.
    expect((await get(`${gateway.url}/routes`)).status).toBe(404);

    await traffic();

    const { routes } = await adminJson("/routes");
    expect(routes.map((r: { id: string }) => r.id)).toEqual(["echo", "tight"]);
    expect(routes[0]).toMatchObject({ id: "echo", path: "/echo/**", upstream: "a" });
    expect(routes[0].policies).toContain("circuit breaker");
    expect(routes[1].policies).not.toContain("circuit breaker");

    const { breakers } = await adminJson("/breakers");
    expect(breakers).toHaveLength(1);
    expect(breakers[0]).toMatchObject({
      routeId: "echo",
      state: "CLOSED",
      successfulCalls: 3,
      failedCalls: 0,
    });

    const { upstreams: views } = await adminJson("/upstreams");
    expect(views).toEqual([
      {
        name: "a",
        kind: "static",
        instances: [expect.objectContaining({ address: a.url, ejected: false, healthy: true })],
      },
    ]);

    const metrics = await adminGet("/metrics");
    expect(metrics.status).toBe(200);
    const counts = metrics.text
      .split("\n")
      .filter((line) => line.startsWith("http_server_request_duration_seconds_count{"));
    const count = (route: string, status: number) =>
      counts
        .filter(
          (line) =>
            line.includes(`http_route="${route}"`) && line.includes(`http_response_status_code="${status}"`),
        )
        .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
    expect(count("echo", 200)).toBe(3);
    expect(count("tight", 200)).toBe(2);
    expect(count("tight", 429)).toBe(2);

    expect(await adminJson("/config")).toMatchObject({ version: 1, source: file });
    const reload = await request(`${admin}/reload`, { method: "POST", headers: authed, dispatcher: client });
    expect(reload.statusCode).toBe(200);
    expect(await reload.body.json()).toEqual({ ok: true, version: 2, routes: 2 });
    expect((await adminJson("/config")).version).toBe(2);
  }, 30_000);

  it("GET /rate-limits counts what each route's rate limit let through and refused", async () => {
    const { adminJson, traffic } = await adminGateway();
    await traffic();
    const { rateLimits } = await adminJson("/rate-limits");
    expect(rateLimits).toHaveLength(2);
    expect(rateLimits.find((r: { route: string }) => r.route === "echo")).toMatchObject({
      allowed: 3,
      limited: 0,
      backendErrors: 0,
    });
    expect(rateLimits.find((r: { route: string }) => r.route === "tight")).toMatchObject({
      allowed: 2,
      limited: 2,
      backendErrors: 0,
    });
  }, 30_000);

  it("on SIGTERM lets the request in flight finish, then exits 0", async () => {
    const gateway = await gateways.start(await configFile(catchAll("a")));
    const agent = new Agent();
    try {
      const seen = await a.requests();
      const slow = get(`${gateway.url}/slow/500`, agent);
      await until(async () => (await a.requests()) > seen, "the slow request to reach upstream a");
      gateway.child.kill("SIGTERM");
      const res = await slow;
      expect(res.status).toBe(200);
      expect(res.json().name).toBe("a");
      const stopping = performance.now();
      expect(await gateway.exitCode()).toBe(0);
      // The drain closes the connection its request kept alive instead of waiting out the grace
      // period (10 s): a generous bound, not a timing measurement.
      expect(performance.now() - stopping).toBeLessThan(8_000);
      expect(gateway.stdout()).toContain('"msg":"gateway stopped"');
      // No longer listening.
      await expect(request(`${gateway.url}/echo`, { dispatcher: agent })).rejects.toThrow();
    } finally {
      await agent.close();
    }
  }, 30_000);
});
