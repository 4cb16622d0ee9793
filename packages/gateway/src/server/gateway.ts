import { createHash } from "node:crypto";
import { type FSWatcher, readFileSync, watch as watchFile } from "node:fs";
import { createServer, type IncomingMessage, type Server, ServerResponse } from "node:http";
import { createSecureServer, type Http2SecureServer } from "node:http2";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { basename, dirname } from "node:path";
import type { Duplex } from "node:stream";
import { type HttpDurationHistogram, traceHttpServer } from "@flotilla/observability";
import { type DiscoveryCache, discoveryCache, type RegistryClient, registryClient } from "@flotilla/registry";
import { ConfigError } from "@flotilla/resilience";
import { Agent } from "undici";
import { type AdminServer, adminServer } from "../admin/admin-server.js";
import type { ReloadOutcome } from "../admin/admin-source.js";
import { apiKeyAuthenticator } from "../auth/api-key-authenticator.js";
import { jwtAuthenticator } from "../auth/jwt-authenticator.js";
import type { JwtProviderInput } from "../auth/jwt-provider-options.js";
import { memoryCacheStore } from "../cache/memory-cache-store.js";
import { redisCacheStore } from "../cache/redis-cache-store.js";
import { GatewayErrorCode } from "../chain/gateway-error.js";
import { type GatewayLogger, silentLogger } from "../chain/gateway-logger.js";
import { problemResponse } from "../chain/problem-response.js";
import type { GatewayConfig, GatewayConfigInput } from "../config/gateway-config.js";
import { loadGatewayConfig, parseGatewayConfig } from "../config/parse-gateway-config.js";
import { markUpgrade } from "../proxy/upgrade-request.js";
import { memoryRateLimitBackend } from "../rate-limit/memory-rate-limit-backend.js";
import { redisRateLimitBackend } from "../rate-limit/redis-rate-limit-backend.js";
import { upstreamPool } from "../upstream-client/upstream-pool.js";
import { breakerViews, rateLimitViews, routeViews, upstreamViews } from "./admin-views.js";
import type { ChainResources } from "./chain-resources.js";
import { answerClientError } from "./client-error.js";
import { type CompileDependencies, compileGateway } from "./compile-gateway.js";
import type { GatewaySnapshot } from "./gateway-snapshot.js";
import { redisClient } from "./redis-client.js";
import { RequestHandler } from "./request-handler.js";
import { routeComposite, routeLayers } from "./route-layers.js";

/** What {@link startGateway} takes. */
export interface GatewayOptions {
  /** The configuration, inline; or give `configFile`. */
  readonly config?: GatewayConfigInput;
  /** A JSON or YAML file, watched: a change reloads the routes without dropping connections. */
  readonly configFile?: string;
  readonly logger?: GatewayLogger;
  /** RED metrics per route (`http_server_request_duration_seconds` of `@flotilla/observability`'s `Metrics`). */
  readonly durations?: HttpDurationHistogram;
  /** Wrap requests in server spans and continue the trace upstream; needs `initTelemetry` first. */
  readonly tracing?: boolean;
  /** Builds each route's layers and composite endpoints; the gateway's own chain by default. */
  readonly chain?: Pick<CompileDependencies, "layers" | "terminal">;
  /** The Prometheus text the admin API serves at `/metrics`. */
  readonly metricsText?: () => Promise<string>;
  /** Options of the undici `Agent` that pools upstream connections. */
  readonly agent?: Agent.Options;
}

/** A running gateway. */
export interface Gateway {
  /** `http://host:port` of the plain listener. */
  readonly url: string;
  /** `http://host:port` of the admin API, when configured. */
  readonly adminUrl: string | undefined;
  /** `https://host:port` of the TLS listener, when configured. */
  readonly httpsUrl: string | undefined;
  /** The configuration being served. */
  readonly snapshot: GatewaySnapshot;
  /** Re-reads the configuration file (or takes `config`) and swaps it in; on error keeps the old one. */
  reload(config?: GatewayConfigInput): Promise<ReloadOutcome>;
  /** Re-reads the TLS certificate and key files. */
  reloadCertificates(): void;
  /** Stops accepting, lets running requests finish (up to `graceMs`), closes everything. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts the gateway: the plain listener, the TLS listener (HTTPS and HTTP/2 by ALPN) when
 * configured, WebSocket upgrades, and a watch on the configuration and certificate files.
 * Rejects with a `ConfigError` naming every bad value before anything listens.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const logger = options.logger ?? silentLogger;
  const source = options.configFile ?? "inline";
  const load = async (input?: GatewayConfigInput): Promise<GatewayConfig> =>
    input !== undefined
      ? parseGatewayConfig(input)
      : options.configFile !== undefined
        ? loadGatewayConfig(options.configFile)
        : parseGatewayConfig(options.config);
  const config = await load(options.config);

  const agent = new Agent({ keepAliveTimeout: 4_000, pipelining: 1, ...options.agent });
  const pool = upstreamPool();
  let client: RegistryClient | undefined;
  let cache: DiscoveryCache | undefined;
  if (config.registry !== undefined) {
    client = registryClient({ url: config.registry.urls });
    cache = discoveryCache({ client, logger });
  }
  const redis = config.redis === undefined ? undefined : redisClient(config.redis.url, logger);
  const prefix = config.redis?.prefix ?? "";
  const stores = {
    memoryRateLimit: memoryRateLimitBackend(),
    redisRateLimit:
      redis === undefined
        ? undefined
        : redisRateLimitBackend({ redis, prefix: `${prefix}rl:`, timeout: config.redis!.timeout }),
    memoryCache: memoryCacheStore(config.responseCache),
    redisCache:
      redis === undefined
        ? undefined
        : redisCacheStore({ redis, prefix: `${prefix}cache:`, logger, timeout: config.redis!.timeout }),
  };
  const deps = (c: GatewayConfig): CompileDependencies => {
    const resources: ChainResources = {
      logger,
      ...stores,
      jwt: new Map(
        Object.entries(c.auth.jwt).map(([name, provider]) => [
          name,
          jwtAuthenticator(provider as JwtProviderInput),
        ]),
      ),
      apiKeys: c.auth.apiKeys === undefined ? undefined : apiKeyAuthenticator(c.auth.apiKeys),
    };
    return {
      pool,
      agent,
      cache,
      logger,
      tracing: options.tracing === true,
      layers: (route, issues, path) => routeLayers(route, resources, issues, path),
      terminal: (route, upstreams, issues, path) =>
        routeComposite(route, upstreams, agent, resources, issues, path),
      ...options.chain,
    };
  };
  const compile = (c: GatewayConfig, v: number): GatewaySnapshot => {
    const restartOnly = (
      ["listen", "tls", "admin", "registry", "redis", "limits", "responseCache"] as const
    ).filter((key) => JSON.stringify(c[key]) !== JSON.stringify(config[key]));
    if (restartOnly.length > 0) {
      throw new ConfigError(
        restartOnly.map((key) => ({
          path: key,
          message: `changing ${key} needs a restart; the running gateway keeps the old value`,
        })),
      );
    }
    const built = compileGateway(c, deps(c), v, source);
    // Start the registry watches now rather than at each upstream's first request.
    for (const u of built.upstreams.values())
      if (u.source.kind === "registry") void u.ready().catch(() => undefined);
    return built;
  };
  let version = 1;
  let snapshot: GatewaySnapshot;
  try {
    snapshot = compile(config, version);
  } catch (error) {
    await agent.close();
    await pool.close();
    await redis?.quit().catch(() => undefined);
    throw error;
  }
  // Start the registry watches now rather than at each upstream's first request.
  for (const u of snapshot.upstreams.values())
    if (u.source.kind === "registry") void u.ready().catch(() => undefined);
  const handler = new RequestHandler({
    snapshot,
    logger,
    durations: options.durations,
    onDrained: (old) => {
      old
        .close()
        .catch((error: unknown) => logger.warn({ err: error }, "closing a replaced configuration failed"));
    },
  });
  const serve = options.tracing === true ? traceHttpServer(handler.handle as never) : handler.handle;

  const limits = config.limits;
  const http = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeout,
      requestTimeout: limits.requestTimeout,
      keepAliveTimeout: limits.keepAliveTimeout,
      // Node checks the header and request timeouts on this interval (30 s by default).
      connectionsCheckingInterval: checkingInterval(limits.headersTimeout),
      // Checked by the request handler, which answers with a problem document.
      requireHostHeader: false,
    },
    serve as never,
  );
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const protocol = (req.headers.upgrade ?? "").toLowerCase();
    const res = new ServerResponse(req);
    res.assignSocket(socket as Socket);
    res.shouldKeepAlive = false;
    // An upgrade answered with anything but 101 (refused, 401, 429, upstream error) ends the
    // connection: Node does not manage sockets it handed to an `upgrade` listener.
    res.once("finish", () => socket.end());
    if (protocol !== "websocket") {
      const problem = problemResponse(
        400,
        GatewayErrorCode.BadRequest,
        "Bad Request",
        "only WebSocket upgrades are proxied",
        {
          connection: "close",
        },
      );
      res.writeHead(problem.status, problem.headers as Record<string, string>).end(problem.body);
      return;
    }
    handler.handle(req, res, (exchange) => markUpgrade(exchange, { socket, head, protocol }));
  };
  http.on("upgrade", onUpgrade);
  http.on("clientError", (error, socket) => answerClientError(error, socket, logger));

  let tlsServer: Http2SecureServer | HttpsServer | undefined;
  const tls = config.tls;
  const readCertificates = (): { cert: Buffer; key: Buffer } => {
    if (tls === undefined) throw new Error("no tls configuration");
    try {
      return { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) };
    } catch (error) {
      throw new ConfigError([
        { path: "tls", message: `cannot read the certificate or key: ${(error as Error).message}` },
      ]);
    }
  };
  if (tls !== undefined) {
    const secure = {
      ...readCertificates(),
      maxHeaderSize: limits.maxHeaderBytes,
      handshakeTimeout: limits.headersTimeout,
    };
    tlsServer = tls.http2
      ? createSecureServer({ ...secure, allowHTTP1: true }, serve as never)
      : createHttpsServer(
          {
            ...secure,
            headersTimeout: limits.headersTimeout,
            requestTimeout: limits.requestTimeout,
            keepAliveTimeout: limits.keepAliveTimeout,
          },
          serve as never,
        );
    // The HTTP/2 server has no header or request timeouts of its own: bound the TLS handshake and
    // idle connections instead (slowloris over TLS).
    if (tls.http2) tlsServer.setTimeout(limits.keepAliveTimeout);
    tlsServer.on("upgrade", onUpgrade);
    tlsServer.on("clientError", (error: Error, socket: Duplex) => answerClientError(error, socket, logger));
  }

  const listen = (
    server: Server | Http2SecureServer | HttpsServer,
    host: string,
    port: number,
  ): Promise<AddressInfo> =>
    new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve(server.address() as AddressInfo);
      });
    });
  const address = await listen(http, config.listen.host, config.listen.port);
  const httpsAddress =
    tlsServer === undefined ? undefined : await listen(tlsServer, tls!.host ?? config.listen.host, tls!.port);

  const reload = async (input?: GatewayConfigInput): Promise<ReloadOutcome> => {
    try {
      const next = compile(await load(input), version + 1);
      version++;
      handler.swap(next);
      logger.info({ version, routes: next.routes.length, source }, "configuration reloaded");
      return { ok: true, version, routes: next.routes.length };
    } catch (error) {
      const issues = error instanceof ConfigError ? error.issues : [];
      logger.error({ err: error, source }, "configuration reload failed; the previous one stays in force");
      return { ok: false, message: (error as Error).message, issues };
    }
  };
  const reloadCertificates = (): void => {
    if (tlsServer === undefined) return;
    try {
      tlsServer.setSecureContext(readCertificates());
      logger.info({ certFile: tls!.certFile }, "TLS certificate reloaded");
    } catch (error) {
      logger.error({ err: error }, "TLS certificate reload failed; the previous certificate stays in use");
    }
  };

  const watchers: FSWatcher[] = [];
  const watchPath = (file: string, onChange: () => void): void => {
    // Editors and secret mounts replace files rather than write them: watch the directory. A
    // Kubernetes ConfigMap or Secret volume swaps its `..data` symlink instead of touching the
    // file's own name, so those events count too; a change is acted on only when the file's
    // content differs from what was last seen.
    let timer: NodeJS.Timeout | undefined;
    let seen = fileDigest(file);
    try {
      const w = watchFile(dirname(file), (_event, name) => {
        if (name !== null && name !== basename(file) && !name.startsWith("..data")) return;
        clearTimeout(timer);
        timer = setTimeout(() => {
          const digest = fileDigest(file);
          if (digest === seen) return;
          seen = digest;
          onChange();
        }, 100);
      });
      w.unref();
      watchers.push(w);
    } catch (error) {
      logger.warn({ err: error, file }, "cannot watch a file for changes; reload through the admin API");
    }
  };
  if (options.configFile !== undefined) watchPath(options.configFile, () => void reload());
  if (tls !== undefined) {
    watchPath(tls.certFile, reloadCertificates);
    if (dirname(tls.keyFile) !== dirname(tls.certFile) || basename(tls.keyFile) !== basename(tls.certFile)) {
      watchPath(tls.keyFile, reloadCertificates);
    }
  }

  let admin: AdminServer | undefined;
  if (config.admin !== undefined) {
    admin = adminServer({
      ...config.admin,
      logger,
      metrics: options.metricsText ?? (async () => ""),
      source: {
        routes: () => routeViews(handler.snapshot),
        upstreams: () => upstreamViews(handler.snapshot),
        breakers: () => breakerViews(handler.snapshot),
        rateLimits: () => rateLimitViews(handler.snapshot),
        configVersion: () => ({
          version: handler.snapshot.version,
          loadedAt: handler.snapshot.loadedAt.toISOString(),
          source,
        }),
        reload: () => reload(),
      },
    });
  }
  const adminUrl = admin === undefined ? undefined : (await admin.start()).url;

  const host = (a: AddressInfo): string => (a.family === "IPv6" ? `[${a.address}]` : a.address);
  logger.info(
    {
      url: `http://${host(address)}:${address.port}`,
      routes: snapshot.routes.length,
      tls: httpsAddress !== undefined,
    },
    "gateway listening",
  );
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host(address)}:${address.port}`,
    adminUrl,
    httpsUrl: httpsAddress === undefined ? undefined : `https://${host(httpsAddress)}:${httpsAddress.port}`,
    get snapshot() {
      return handler.snapshot;
    },
    reload,
    reloadCertificates,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        for (const w of watchers) w.close();
        await admin?.close();
        handler.closing = true;
        handler.onIdle = () => {
          http.closeIdleConnections();
          if (tlsServer !== undefined && "closeIdleConnections" in tlsServer)
            tlsServer.closeIdleConnections();
        };
        const servers = [http, ...(tlsServer === undefined ? [] : [tlsServer])];
        const closed = Promise.all(
          servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
        );
        http.closeIdleConnections();
        const grace = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
        await Promise.race([closed, grace]);
        http.closeAllConnections();
        if (tlsServer !== undefined && "closeAllConnections" in tlsServer) tlsServer.closeAllConnections();
        await closed;
        await handler.snapshot.close();
        await agent.close();
        await pool.close();
        cache?.close();
        await client?.close();
        await redis?.quit().catch(() => redis.disconnect());
      })();
      return closing;
    },
  };
}

function checkingInterval(headersTimeoutMs: number): number {
  return Math.max(50, Math.min(1_000, Math.floor(headersTimeoutMs / 4)));
}

function fileDigest(file: string): string | undefined {
  try {
    return createHash("sha256").update(readFileSync(file)).digest("hex");
  } catch {
    return undefined;
  }
}
