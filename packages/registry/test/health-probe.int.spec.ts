import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { type AddressInfo, createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { healthChecker } from "../src/health/health-checker.js";
import { SystemProbe } from "../src/health/probe.js";
import { resolveChecks } from "../src/health/resolve-checks.js";
import type { CheckStatus } from "../src/registration.js";

let server: Server;
let base: string;
const probe = new SystemProbe();

beforeAll(async () => {
  server = createServer((req, res) => {
    switch (req.url) {
      case "/ok":
        res.end("ok");
        return;
      case "/no-content":
        res.writeHead(204).end();
        return;
      case "/busy":
        res.writeHead(429).end("slow down");
        return;
      case "/down":
        res.writeHead(503).end("down");
        return;
      case "/moved":
        res.writeHead(302, { location: "/ok" }).end();
        return;
      case "/hang":
        return; // never answers
      default:
        res.writeHead(404).end();
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await probe.close();
  server.closeAllConnections();
  server.close();
  await once(server, "close");
});

const signal = () => new AbortController().signal;

describe("SystemProbe: HTTP", () => {
  it("passes on 2xx", async () => {
    expect(await probe.http(`${base}/ok`, 2000, signal())).toEqual({ status: "passing" });
    expect(await probe.http(`${base}/no-content`, 2000, signal())).toEqual({ status: "passing" });
  });

  it("warns on 429 and fails on anything else, with the status as output", async () => {
    expect(await probe.http(`${base}/busy`, 2000, signal())).toEqual({
      status: "warning",
      output: "HTTP 429",
    });
    expect(await probe.http(`${base}/down`, 2000, signal())).toEqual({
      status: "critical",
      output: "HTTP 503",
    });
    expect(await probe.http(`${base}/missing`, 2000, signal())).toEqual({
      status: "critical",
      output: "HTTP 404",
    });
    expect(await probe.http(`${base}/moved`, 2000, signal())).toEqual({
      status: "critical",
      output: "HTTP 302",
    });
  });

  it("fails a server that does not answer in time", async () => {
    expect(await probe.http(`${base}/hang`, 200, signal())).toEqual({
      status: "critical",
      output: "timeout after 200 ms",
    });
  });

  it("fails with ECONNREFUSED when nothing listens", async () => {
    const port = await closedPort();
    expect(await probe.http(`http://127.0.0.1:${port}/`, 2000, signal())).toEqual({
      status: "critical",
      output: "ECONNREFUSED",
    });
  });

  it("stops when the caller aborts", async () => {
    const controller = new AbortController();
    const pending = probe.http(`${base}/hang`, 10_000, controller.signal);
    controller.abort();
    expect(await pending).toEqual({ status: "critical", output: "aborted" });
  });

  it("identifies itself and reuses its connections, also after a large body", async () => {
    // A server of its own, so that no other test's late connection is counted.
    let accepted = 0;
    const agents = new Set<string>();
    const own = createServer((req, res) => {
      agents.add(String(req.headers["user-agent"]));
      res.writeHead(req.url === "/down" ? 503 : 200).end(req.url === "/big" ? "x".repeat(100_000) : "ok");
    });
    own.on("connection", () => accepted++);
    own.listen(0, "127.0.0.1");
    await once(own, "listening");
    const url = `http://127.0.0.1:${(own.address() as AddressInfo).port}`;
    const p = new SystemProbe({ connectionsPerOrigin: 2 });
    try {
      for (const path of ["/ok", "/down", "/ok", "/down", "/ok", "/down", "/ok"])
        await p.http(`${url}${path}`, 2000, signal());
      expect(accepted).toBeGreaterThanOrEqual(1);
      expect(accepted).toBeLessThanOrEqual(2);
      expect(agents).toEqual(new Set(["flotilla-registry"]));
      expect(await p.http(`${url}/big`, 2000, signal())).toEqual({ status: "passing" });
      expect(await p.http(`${url}/ok`, 2000, signal())).toEqual({ status: "passing" });
    } finally {
      await p.close();
      own.closeAllConnections();
      own.close();
      await once(own, "close");
    }
  });
});

describe("SystemProbe: TCP", () => {
  let tcp: TcpServer;

  beforeAll(async () => {
    tcp = createTcpServer((socket) => socket.destroy());
    tcp.listen(0, "127.0.0.1");
    await once(tcp, "listening");
  });

  afterAll(async () => {
    tcp.close();
    await once(tcp, "close");
  });

  it("passes when the port accepts a connection", async () => {
    const { port } = tcp.address() as AddressInfo;
    expect(await probe.tcp("127.0.0.1", port, 2000, signal())).toEqual({ status: "passing" });
  });

  it("fails with ECONNREFUSED on a closed port", async () => {
    expect(await probe.tcp("127.0.0.1", await closedPort(), 2000, signal())).toEqual({
      status: "critical",
      output: "ECONNREFUSED",
    });
  });
});

describe("HealthChecker with its own SystemProbe", () => {
  it("checks a real server and closes without leaving handles", async () => {
    const changed: CheckStatus[][] = [];
    let notify: () => void = () => {};
    const passed = new Promise<void>((resolve) => {
      notify = resolve;
    });
    const checker = healthChecker({
      firstRunSpreadMs: 0,
      onChange: (_id, checks) => {
        changed.push([...checks]);
        if (checks.every((c) => c.status === "passing")) notify();
      },
    });
    try {
      const port = (server.address() as AddressInfo).port;
      checker.track(
        { id: "real", address: "127.0.0.1", port },
        resolveChecks([
          { type: "http", url: `${base}/ok`, intervalMs: 200 },
          { type: "tcp", intervalMs: 200 },
        ]),
      );
      await passed;
      expect(checker.statusOf("real")?.map((c) => c.status)).toEqual(["passing", "passing"]);
    } finally {
      await checker.close();
    }
    expect(checker.stats()).toEqual({ instances: 0, checks: 0, inFlight: 0, queued: 0 });
  });
});

/** A port that was just free: listen on an ephemeral port, then close it. */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const { port } = s.address() as AddressInfo;
  s.close();
  await once(s, "close");
  return port;
}
