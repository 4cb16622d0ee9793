// The gateway's TLS listener (HTTPS/1.1 and HTTP/2 by ALPN, certificate rotation without a
// restart) and its registry upstreams (a real registry server, instances of real upstream
// processes selected by semver range, canary split by version, deregistration).
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect as http2Connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import { createLogger, createMetrics } from "@flotilla/observability";
import {
  type EmbeddedStore,
  embeddedStore,
  type RegistryClient,
  type RegistryServer,
  registryClient,
  registryServer,
} from "@flotilla/registry";
import { Agent, request } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { GatewayConfigInput } from "../src/config/gateway-config.js";
import { type Gateway, startGateway } from "../src/server/gateway.js";
import { until } from "./fixtures/gateway-process.js";
import { type UpstreamProcess, Upstreams } from "./fixtures/upstreams.js";

const upstreams = new Upstreams();
const client = new Agent({ keepAliveTimeout: 1_000 });
let one: UpstreamProcess;
let two: UpstreamProcess;
let gateway: Gateway | undefined;

beforeAll(async () => {
  [one, two] = await Promise.all([upstreams.start("one"), upstreams.start("two")]);
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

async function get(url: string, dispatcher: Agent = client) {
  const res = await request(url, { dispatcher });
  const text = await res.body.text();
  // biome-ignore lint/suspicious/noExplicitAny: assertions read the echo's shape
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as any };
}

describe("TLS", () => {
  let dir: string;
  let certFile: string;
  let keyFile: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-gateway-tls-"));
    certFile = join(dir, "cert.pem");
    keyFile = join(dir, "key.pem");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A self-signed certificate for localhost and 127.0.0.1 (generated beside, then returned). */
  function selfSigned(cn: string): { cert: string; key: string; fingerprint: string } {
    const out = join(dir, `${cn}.cert.pem`);
    const key = join(dir, `${cn}.key.pem`);
    execFileSync(
      "openssl",
      [
        ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", out, "-days", "1"],
        ...["-subj", `/CN=${cn}`, "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
      ],
      { stdio: "ignore" },
    );
    const cert = readFileSync(out, "utf8");
    return { cert, key: readFileSync(key, "utf8"), fingerprint: new X509Certificate(cert).fingerprint256 };
  }

  /** Puts a certificate in place the way a secret mount or cert-manager does: key, then certificate. */
  async function install(pair: { cert: string; key: string }): Promise<void> {
    await writeFile(keyFile, pair.key);
    await writeFile(certFile, pair.cert);
  }

  /** The SHA-256 fingerprint of the certificate a new TLS connection is offered. */
  function servedFingerprint(httpsUrl: string): Promise<string> {
    const { hostname, port } = new URL(httpsUrl);
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host: hostname,
        port: Number(port),
        servername: "localhost",
        rejectUnauthorized: false,
      });
      socket.once("secureConnect", () => {
        const fingerprint = socket.getPeerCertificate().fingerprint256;
        socket.destroy();
        resolve(fingerprint);
      });
      socket.once("error", reject);
    });
  }

  /** GET over HTTP/2 (ALPN h2) on `session`. */
  function h2Get(
    session: ReturnType<typeof http2Connect>,
    path: string,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const stream = session.request({ ":path": path, ":method": "GET" });
      let status = 0;
      let text = "";
      stream.setEncoding("utf8");
      stream.on("response", (headers) => {
        status = Number(headers[":status"]);
      });
      stream.on("data", (chunk: string) => {
        text += chunk;
      });
      stream.on("end", () => resolve({ status, body: JSON.parse(text) }));
      stream.on("error", reject);
      stream.end();
    });
  }

  it("serves HTTPS/1.1 and HTTP/2 to the upstream and rotates the certificate without a restart", async () => {
    const first = selfSigned("localhost");
    await install(first);
    const g = await start({
      tls: { port: 0, certFile, keyFile, http2: true },
      upstreams: { one: { urls: [one.url] } },
      routes: [{ id: "r", match: { path: { prefix: "/" } }, upstream: "one" }],
    });
    expect(g.httpsUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);

    // HTTPS/1.1, the certificate verified against its own CA.
    const https1 = new Agent({ connect: { ca: first.cert } });
    const h2 = http2Connect(g.httpsUrl!, { ca: first.cert });
    try {
      const res = await get(`${g.httpsUrl}/echo`, https1);
      expect(res.status).toBe(200);
      expect(res.json().name).toBe("one");
      expect(res.json().headers["x-forwarded-proto"]).toBe("https");
      // The plain listener says http: the header tells them apart.
      expect((await get(`${g.url}/echo`)).json().headers["x-forwarded-proto"]).toBe("http");

      // HTTP/2 negotiated by ALPN.
      const viaH2 = await h2Get(h2, "/echo/h2");
      expect(h2.alpnProtocol).toBe("h2");
      expect(viaH2.status).toBe(200);
      expect(viaH2.body.name).toBe("one");
      expect(viaH2.body.url).toBe("/echo/h2");
      expect((viaH2.body.headers as Record<string, string>)["x-forwarded-proto"]).toBe("https");

      // Rotation by the file watch: new connections get the new certificate...
      expect(await servedFingerprint(g.httpsUrl!)).toBe(first.fingerprint);
      const second = selfSigned("localhost-rotated");
      expect(second.fingerprint).not.toBe(first.fingerprint);
      await install(second);
      await until(
        async () => (await servedFingerprint(g.httpsUrl!)) === second.fingerprint,
        "the rotated certificate",
      );
      const rotated = new Agent({ connect: { ca: second.cert } });
      try {
        expect((await get(`${g.httpsUrl}/echo`, rotated)).status).toBe(200);
      } finally {
        await rotated.close();
      }
      // ...while the HTTP/2 connection opened before the rotation keeps working.
      expect((await h2Get(h2, "/echo/after")).status).toBe(200);

      // reloadCertificates() swaps at once, without waiting for the watch's debounce.
      const third = selfSigned("localhost-third");
      await install(third);
      g.reloadCertificates();
      expect(await servedFingerprint(g.httpsUrl!)).toBe(third.fingerprint);

      // A broken pair is refused and the certificate in use stays.
      await writeFile(certFile, "not a certificate");
      g.reloadCertificates();
      expect(await servedFingerprint(g.httpsUrl!)).toBe(third.fingerprint);
    } finally {
      h2.close();
      await https1.close();
    }
  });
});

describe("registry upstreams", () => {
  let store: EmbeddedStore;
  let registry: RegistryServer;
  let registryUrl: string;
  let registrar: RegistryClient;

  beforeAll(async () => {
    store = await embeddedStore({});
    const silent = new Writable({
      write(_chunk, _encoding, done) {
        done();
      },
    });
    registry = registryServer({
      store,
      logger: createLogger({ service: "registry-test", instanceId: "registry-test-1", destination: silent }),
      metrics: createMetrics({
        service: "registry-test",
        instanceId: "registry-test-1",
        collectDefaults: false,
      }),
    });
    const { port } = await registry.listen(0);
    registryUrl = `http://127.0.0.1:${port}`;
    registrar = registryClient({ url: registryUrl });
  });
  afterAll(async () => {
    await registrar?.close();
    await registry?.close();
    await store?.close();
  });

  it("balances a service, selects versions by range, splits a canary and drops a deregistered instance", async () => {
    const service = `orders-${Math.random().toString(36).slice(2, 8)}`;
    const register = (id: string, upstream: UpstreamProcess, version: string) =>
      registrar.register({
        service,
        id,
        address: "127.0.0.1",
        port: upstream.port,
        version,
        ttlMs: 300_000,
      });
    await register(`${service}-1`, one, "1.0.0");
    await register(`${service}-2`, two, "2.0.0");

    const g = await start({
      registry: { urls: [registryUrl] },
      upstreams: {
        v1: { service, version: "^1" },
        v2: { service, version: "^2" },
        any: { service },
      },
      routes: [
        {
          id: "any",
          match: { path: { prefix: "/any" } },
          rewrite: { prefix: { from: "/any", to: "/echo" } },
          upstream: "any",
        },
        {
          id: "v1",
          match: { path: { prefix: "/v1" } },
          rewrite: { prefix: { from: "/v1", to: "/echo" } },
          upstream: "v1",
        },
        {
          id: "canary",
          match: { path: { prefix: "/canary" } },
          rewrite: { prefix: { from: "/canary", to: "/echo" } },
          upstream: [
            { upstream: "v1", weight: 90 },
            { upstream: "v2", weight: 10 },
          ],
        },
      ],
    });
    const known = (name: string) => g.snapshot.upstreams.get(name)!.instances().length;
    await until(
      () => known("any") === 2 && known("v1") === 1 && known("v2") === 1,
      "the registry's instances",
    );

    const names = async (path: string, n: number) => {
      const seen: string[] = [];
      for (let i = 0; i < n; i++) {
        const res = await get(`${g.url}${path}`);
        expect(res.status).toBe(200);
        seen.push(res.json().name);
      }
      return seen;
    };

    // The whole service: both instances in rotation.
    expect(new Set(await names("/any", 20))).toEqual(new Set(["one", "two"]));
    // ^1: only the 1.x instance, ever.
    expect(new Set(await names("/v1", 30))).toEqual(new Set(["one"]));
    // 90/10 by version. Binomial(400, 0.1): mean 40, sd 6; ±4 sd.
    const canary = (await names("/canary", 400)).filter((name) => name === "two").length;
    expect(canary).toBeGreaterThan(16);
    expect(canary).toBeLessThan(64);

    // Deregistered: out of rotation once the registry's stream says so.
    expect(await registrar.deregister(service, `${service}-2`)).toBe(true);
    await until(() => known("any") === 1 && known("v2") === 0, "the deregistration to reach the gateway");
    expect(new Set(await names("/any", 20))).toEqual(new Set(["one"]));
  }, 60_000);
});
