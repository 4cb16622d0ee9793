import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { GatewayErrorCode } from "../chain/gateway-error.js";
import type { GatewayLogger } from "../chain/gateway-logger.js";
import { bufferedResponse, type GatewayResponse } from "../chain/gateway-response.js";
import { problemResponse } from "../chain/problem-response.js";
import {
  type AdminServerOptions,
  parseAdminServerOptions,
  type ResolvedAdminServerOptions,
} from "./admin-server-options.js";
import { AdminToken } from "./admin-token.js";

type AdminHandler = () => Promise<GatewayResponse> | GatewayResponse;

interface AdminEndpoint {
  readonly handlers: ReadonlyMap<string, AdminHandler>;
  /** The 405 answer, with its `Allow` header. */
  readonly methodNotAllowed: GatewayResponse;
}

const jsonHeaders = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
} as const;

function json(status: number, body: unknown): GatewayResponse {
  return bufferedResponse(status, { ...jsonHeaders }, Buffer.from(JSON.stringify(body)));
}

/** GET routes also answer HEAD; Node leaves the body out. */
function endpoint(path: string, methods: Readonly<Record<string, AdminHandler>>): [string, AdminEndpoint] {
  const handlers = new Map<string, AdminHandler>();
  for (const [method, handler] of Object.entries(methods)) {
    handlers.set(method, handler);
    if (method === "GET") handlers.set("HEAD", handler);
  }
  const allow = [...handlers.keys()].join(", ");
  const methodNotAllowed = problemResponse(
    405,
    GatewayErrorCode.MethodNotAllowed,
    "Method not allowed",
    `${path} accepts ${allow}.`,
    { allow },
  );
  return [path, { handlers, methodNotAllowed }];
}

const healthPath = "/health";
const healthy = json(200, { status: "ok" });

const missingToken = problemResponse(
  401,
  GatewayErrorCode.AdminUnauthorized,
  "Admin token required",
  "Send the admin token as `Authorization: Bearer <token>`.",
  { "www-authenticate": 'Bearer realm="flotilla-admin"' },
);

const invalidToken = problemResponse(
  401,
  GatewayErrorCode.AdminUnauthorized,
  "Admin token rejected",
  "The bearer token is not the admin token.",
  { "www-authenticate": 'Bearer realm="flotilla-admin", error="invalid_token"' },
);

const notFound = problemResponse(
  404,
  GatewayErrorCode.RouteNotFound,
  "Not found",
  "The admin API has no such path.",
);

function writeResponse(res: ServerResponse, response: GatewayResponse): void {
  if (res.headersSent || res.destroyed) return;
  res.statusCode = response.status;
  for (const name in response.headers) res.setHeader(name, response.headers[name] as string | string[]);
  res.setHeader("x-content-type-options", "nosniff");
  const body = response.body ?? Buffer.alloc(0);
  res.setHeader("content-length", body.length);
  res.end(body);
}

/**
 * The gateway's admin API, on a port of its own (default host `127.0.0.1`): what the gateway
 * runs (`GET /routes`, `/upstreams`, `/breakers`, `/rate-limits`, `/config`), its metrics
 * (`GET /metrics`), a configuration reload (`POST /reload`) and `GET /health`. Every route but
 * `GET /health` requires `Authorization: Bearer <adminToken>`; the token is checked before the
 * path, so an anonymous caller learns nothing about which paths exist. Answers are JSON;
 * failures are RFC 9457 problems.
 *
 * ```ts
 * const admin = adminServer({ port: 9901, adminToken: process.env.FLOTILLA_ADMIN_TOKEN!, source, metrics });
 * const { url } = await admin.start();
 * // curl -H "authorization: Bearer $FLOTILLA_ADMIN_TOKEN" $url/routes
 * await admin.close();
 * ```
 */
export class AdminServer {
  /** The validated options. */
  readonly options: ResolvedAdminServerOptions;
  readonly #token: AdminToken;
  readonly #http: Server;
  readonly #endpoints: ReadonlyMap<string, AdminEndpoint>;
  #reloads: Promise<unknown> = Promise.resolve();
  #reloadsRunning = 0;
  #starting: Promise<{ url: string }> | undefined;
  #closing: Promise<void> | undefined;

  /** Validates `options`; throws a `GatewayError` `FLT_GATEWAY_CONFIG_INVALID` for a bad one (a token under 16 characters). */
  constructor(options: AdminServerOptions) {
    this.options = parseAdminServerOptions(options);
    this.#token = new AdminToken(this.options.adminToken);
    const source = this.options.source;
    this.#endpoints = new Map([
      endpoint(healthPath, { GET: () => healthy }),
      endpoint("/routes", { GET: () => json(200, { routes: source.routes() }) }),
      endpoint("/reload", { POST: () => this.#reload() }),
      endpoint("/upstreams", { GET: () => json(200, { upstreams: source.upstreams() }) }),
      endpoint("/breakers", { GET: () => json(200, { breakers: source.breakers() }) }),
      endpoint("/rate-limits", { GET: () => json(200, { rateLimits: source.rateLimits() }) }),
      endpoint("/config", { GET: () => json(200, source.configVersion()) }),
      endpoint("/metrics", { GET: () => this.#metrics() }),
    ]);
    this.#http = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
      this.#onRequest(req, res).catch((error: unknown) => {
        this.#logger?.error({ err: error }, "admin request failed");
        if (!res.headersSent) writeResponse(res, this.#internal());
        else res.destroy();
      });
    });
  }

  get #logger(): GatewayLogger | undefined {
    return this.options.logger;
  }

  /**
   * Starts listening; resolves with the base URL (`http://127.0.0.1:9901`), with the port the
   * system picked when the options said 0. Calling it again returns the same promise.
   */
  start(): Promise<{ url: string }> {
    this.#starting ??= new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.#http.once("error", onError);
      this.#http.listen(this.options.port, this.options.host, () => {
        this.#http.off("error", onError);
        const address = this.#http.address() as AddressInfo;
        const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
        resolve({ url: `http://${host}:${address.port}` });
      });
    });
    return this.#starting;
  }

  /**
   * Stops accepting connections and closes idle keep-alive ones at once; requests in progress
   * get `closeGrace` to finish before their connections are cut. Safe to call more than once.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // A close during start() waits for the listen, or the server would open after it.
    await this.#starting?.catch(() => undefined);
    await new Promise<void>((resolve) => {
      if (!this.#http.listening) {
        resolve();
        return;
      }
      const cut = setTimeout(() => this.#http.closeAllConnections(), this.options.closeGraceMs);
      cut.unref();
      this.#http.close(() => {
        clearTimeout(cut);
        resolve();
      });
      this.#http.closeIdleConnections();
    });
  }

  /** Runs one reload after any in progress, so two configurations are never built at once. */
  async #reload(): Promise<GatewayResponse> {
    if (this.#reloadsRunning > 0) this.#logger?.info({}, "admin reload queued behind the one in progress");
    this.#reloadsRunning++;
    const run = this.#reloads.then(() => this.options.source.reload());
    this.#reloads = run.catch(() => undefined);
    try {
      const outcome = await run.finally(() => this.#reloadsRunning--);
      if (outcome.ok) return json(200, { ok: true, version: outcome.version, routes: outcome.routes });
      this.#logger?.warn({ issues: outcome.issues }, `admin reload refused: ${outcome.message}`);
      return problemResponse(
        422,
        GatewayErrorCode.ConfigInvalid,
        "Configuration refused",
        outcome.message,
        {},
        { issues: outcome.issues },
      );
    } catch (error) {
      this.#logger?.error({ err: error }, "admin reload failed");
      return this.#internal();
    }
  }

  async #metrics(): Promise<GatewayResponse> {
    const text = await this.options.metrics();
    return bufferedResponse(
      200,
      { "content-type": this.options.metricsContentType, "cache-control": "no-store" },
      Buffer.from(text),
    );
  }

  #internal(): GatewayResponse {
    return problemResponse(
      500,
      GatewayErrorCode.Internal,
      "Internal error",
      "The admin request failed; see the gateway log.",
    );
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Nothing here reads a body; drain it so the connection can be reused.
    req.resume();
    const url = req.url ?? "/";
    const queryAt = url.indexOf("?");
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const method = req.method ?? "GET";
    const found = this.#endpoints.get(path);
    const open = path === healthPath && (method === "GET" || method === "HEAD");
    if (!open) {
      const verdict = this.#token.check(req.headers.authorization);
      if (verdict !== "ok") {
        writeResponse(res, verdict === "missing" ? missingToken : invalidToken);
        return;
      }
    }
    if (found === undefined) {
      writeResponse(res, notFound);
      return;
    }
    const handler = found.handlers.get(method);
    if (handler === undefined) {
      writeResponse(res, found.methodNotAllowed);
      return;
    }
    writeResponse(res, await handler());
  }
}
/** An {@link AdminServer} for `options`; call `start()` to listen. */
export function adminServer(options: AdminServerOptions): AdminServer {
  return new AdminServer(options);
}
