import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parse as parseQuery } from "node:querystring";
import {
  createLogger,
  createMetrics,
  currentTraceIds,
  type HealthChecks,
  healthChecks,
  healthContentType,
  inboundCallSpan,
  instrumentServer,
  type Logger,
  type Metrics,
  setHttpRoute,
  traceHttpServer,
} from "@flotilla/observability";
import { DeadlineExceededError, type TimerHandle } from "@flotilla/resilience";
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import type pg from "pg";
import type { z } from "zod";
import { PathTemplate } from "../client/path-template.js";
import { runInRequestScope, scopeHeaders } from "../context/request-scope.js";
import type { AnyRoute } from "../contract/route.js";
import { Database } from "../database/database.js";
import { wireProtocol } from "../wire/wire-protocol.js";
import { WireServer } from "../wire/wire-server.js";
import type { WireAnswer, WireCall, WireHandler } from "../wire/wire-session.js";
import type { AnyService } from "./define-service.js";
import { downstreamProblem } from "./downstream-problem.js";
import type { Dependencies, HandlerClients, HandlerContext, HandlerDatabase } from "./handler-context.js";
import { idempotencyStep } from "./idempotency/idempotency-step.js";
import type { IdempotencyStore } from "./idempotency/idempotency-store.js";
import { memoryIdempotencyStore } from "./idempotency/memory-idempotency-store.js";
import type { PipelineRequest } from "./pipeline-step.js";
import { RequestContext } from "./request-context.js";
import { requestDeadline } from "./request-deadline.js";
import { RequestPipeline, resolvePipeline } from "./request-pipeline.js";
import { isServiceError, ServiceError, ServiceErrorCode } from "./service-error.js";
import { serviceOpenApi } from "./service-openapi.js";
import {
  errorResponse,
  jsonContentType,
  problemResponse,
  type ServiceResponse,
  toServiceError,
} from "./service-response.js";
import {
  parseServiceServerOptions,
  type ResolvedServiceServerOptions,
  type ServiceServerOptions,
} from "./service-server-options.js";
import { validateRequest } from "./validate-request.js";

/** Room for a wire call's head (method, path, headers) on top of the body limit. */
const wireHeadAllowance = 64 * 1024;

/** A request as {@link ServiceServer} serves it, whichever protocol it came by. */
interface InboundRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly ip: string;
  readonly params: unknown;
  readonly query: unknown;
  readonly body: unknown;
}

/** A response ready to write: its status, headers (content type included) and text. */
interface RenderedResponse {
  readonly status: number;
  readonly headers: Record<string, string> | undefined;
  readonly text: string | undefined;
}

const kRoute = Symbol("flotilla.service.route");
type RoutedResponse = ServerResponse & { [kRoute]?: string };

const opsPaths = new Set(["/openapi.json", "/metrics", "/health/live", "/health/ready"]);

function pathOf(url: string | undefined): string {
  const raw = url ?? "/";
  const query = raw.indexOf("?");
  return query < 0 ? raw : raw.slice(0, query);
}

function isOpsRequest(req: IncomingMessage): boolean {
  return opsPaths.has(pathOf(req.url));
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function noDatabase(): Database {
  const refuse = () =>
    Promise.reject(
      new ServiceError({
        status: 500,
        code: ServiceErrorCode.NoDatabase,
        detail: "ctx.db was used, but the service declares no database (defineService({ database }))",
      }),
    );
  return new Database({ query: refuse, connect: refuse, end: () => Promise.resolve() } as unknown as pg.Pool);
}

/**
 * `ctx.db` as the {@link Database} facade: the lifecycle passes one; a `pg.Pool` is wrapped; an
 * object with only `query` gets transactions refused with the error of a pool that cannot connect.
 */
function handlerDatabase(db: HandlerDatabase | undefined): Database {
  if (db === undefined) return noDatabase();
  if (db instanceof Database) return db;
  if (typeof (db as Partial<pg.Pool>).connect === "function") return new Database(db as pg.Pool);
  const refuse = () =>
    Promise.reject(new Error("ctx.db has no transactions: it was given without connect()"));
  return new Database({
    query: (text: string, values?: unknown[]) => db.query(text, values),
    connect: refuse,
    end: () => Promise.resolve(),
  } as unknown as pg.Pool);
}

/** Where a listening server is. */
export interface ServiceAddress {
  readonly url: string;
  readonly host: string;
  readonly port: number;
}

/**
 * The HTTP side of one service instance, on Fastify 5: one Fastify route per contract route,
 * running the request pipeline (authentication → authorization → validation → rateLimit →
 * idempotency → handler) inside the request's scope (deadline, caller, abort signal), and
 * `/openapi.json`, `/health/live`, `/health/ready` and `/metrics`. Every error answer is an RFC
 * 9457 `application/problem+json` document with a stable `code`: schema violations, malformed
 * JSON, wrong content types, oversized bodies, unknown routes, handler failures (logged, 500),
 * spent deadlines (504). Inbound requests are traced (`traceHttpServer`) and timed
 * (`http_server_request_duration_seconds`).
 *
 * `startService` builds one and adds the database, clients, registration and shutdown; tests can
 * use it alone with `server.app.inject(…)`.
 */
export class ServiceServer {
  readonly service: AnyService;
  readonly instanceId: string;
  /** The Fastify instance; `inject` it in tests. */
  readonly app: FastifyInstance;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly health: HealthChecks;
  readonly pipeline: RequestPipeline;
  /** The OpenAPI 3.1 document served at `/openapi.json`. */
  readonly openApi: Readonly<Record<string, unknown>>;
  readonly idempotencyStore: IdempotencyStore;
  /** The validated options. */
  readonly options: ResolvedServiceServerOptions;
  readonly #db: Database;
  readonly #clients: HandlerClients<Dependencies>;
  readonly #inFlight = new Set<AbortController>();
  readonly #openApiText: string;
  readonly #stopInstrumenting: () => void;
  /** The wire protocol's side of the server, unless turned off. */
  readonly #wire: WireServer | undefined;
  readonly #templates = new Map<string, PathTemplate>();
  #accepting = true;
  #address: ServiceAddress | undefined;
  #closing: Promise<{ drained: boolean }> | undefined;

  /** Validates `options`; throws a `ConfigError` naming each bad one. */
  constructor(service: AnyService, options: ServiceServerOptions = {}) {
    const o = parseServiceServerOptions(options);
    this.options = o;
    this.service = service;
    this.instanceId =
      options.instanceId ?? `${service.name}-${process.pid}-${randomBytes(3).toString("hex")}`;
    this.logger = options.logger ?? createLogger({ service: service.name, instanceId: this.instanceId });
    this.metrics = options.metrics ?? createMetrics({ service: service.name, instanceId: this.instanceId });
    this.health =
      options.health ??
      healthChecks({
        live: { ...service.health?.live },
        ready: { ...options.readyChecks, ...service.health?.ready },
        clock: o.clock,
      });
    this.#db = handlerDatabase(options.db);
    this.#clients = (options.clients ?? {}) as HandlerClients<Dependencies>;
    this.idempotencyStore = options.idempotency?.store ?? memoryIdempotencyStore({ clock: o.clock });
    this.openApi = serviceOpenApi(service.contract);
    this.#openApiText = JSON.stringify(this.openApi);
    this.pipeline = new RequestPipeline(resolvePipeline(service.pipeline), {
      validation: (request, _ctx, next) => {
        validateRequest(request);
        return next();
      },
      idempotency: idempotencyStep({
        store: this.idempotencyStore,
        windowMs: o.idempotencyWindowMs,
        lockMs: o.idempotencyLockMs,
        now: o.now,
      }),
      handler: (request, ctx) => this.#runHandler(request, ctx),
    });

    const app = Fastify({
      logger: false,
      bodyLimit: o.bodyLimit,
      return503OnClosing: false,
      forceCloseConnections: "idle",
      serverFactory: (handler) => createServer(traceHttpServer(handler, { ignore: isOpsRequest })),
      frameworkErrors: (error, _request, reply) => {
        void this.#send(reply, problemResponse(this.#fastifyProblem(error)));
      },
    });
    this.app = app;
    app.removeContentTypeParser("text/plain");
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const problem = this.#fastifyProblem(error);
      if (problem.status >= 500) {
        this.logger.error({ err: error, method: request.method, url: request.url }, "request failed");
      }
      return this.#send(reply, problemResponse(problem));
    });
    app.setNotFoundHandler((request, reply) =>
      this.#send(
        reply,
        problemResponse(
          new ServiceError({
            status: 404,
            code: ServiceErrorCode.RouteNotFound,
            detail: `no route for ${request.method} ${pathOf(request.url)}`,
          }),
        ),
      ),
    );
    this.#addOpsRoutes(app);
    for (const [name, route] of Object.entries(service.contract.routes)) this.#addRoute(app, name, route);
    this.#stopInstrumenting = instrumentServer(app.server, this.metrics, {
      route: (_req, res) => (res as RoutedResponse)[kRoute],
      ignore: isOpsRequest,
    });
    if (o.wire) {
      for (const [name, route] of Object.entries(service.contract.routes)) {
        this.#templates.set(name, new PathTemplate(route.path));
      }
      const handler: WireHandler = {
        serve: (call, controller) =>
          this.#serveWire(call, controller).catch((error: unknown) =>
            this.#render(errorResponse(error, { logger: this.logger, traceId: currentTraceIds()?.traceId })),
          ),
        refuse: (reason, detail) =>
          this.#render(
            problemResponse(
              reason === "body-too-large"
                ? new ServiceError({ status: 413, code: ServiceErrorCode.BodyTooLarge, detail })
                : reason === "too-many-calls"
                  ? new ServiceError({
                      status: 503,
                      code: ServiceErrorCode.Unavailable,
                      detail,
                      headers: { "retry-after": "0" },
                    })
                  : new ServiceError({ status: 400, code: ServiceErrorCode.BadRequest, detail }),
            ),
          ),
      };
      this.#wire = new WireServer(handler, {
        maxFrameBytes: o.bodyLimit + wireHeadAllowance,
        maxCallsPerConnection: o.wireCallsPerConnection,
        logger: this.logger,
      });
      app.server.on("upgrade", this.#wire.upgrade);
    }
  }

  /** Whether this server accepts the wire protocol (and what `startService` registers as metadata). */
  get wire(): boolean {
    return this.#wire !== undefined;
  }

  /** Open wire-protocol connections. */
  get wireConnections(): number {
    return this.#wire?.connections ?? 0;
  }

  /** The registration metadata that tells clients what this server speaks. */
  get registrationMetadata(): Readonly<Record<string, string>> {
    return this.#wire === undefined ? {} : { [wireProtocol.metadataKey]: wireProtocol.version };
  }

  /** Requests being handled now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Where the server listens, once it does. */
  get address(): ServiceAddress | undefined {
    return this.#address;
  }

  /** False once {@link ServiceServer.stopAccepting} or `close` was called. */
  get accepting(): boolean {
    return this.#accepting;
  }

  /** Listens on `port` (0: any free one) and `host`. */
  async listen(port = 0, host = "127.0.0.1"): Promise<ServiceAddress> {
    await this.app.listen({ port, host });
    const address = this.app.server.address() as AddressInfo;
    const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
    this.#address = { url: `http://${shown}:${address.port}`, host: address.address, port: address.port };
    return this.#address;
  }

  /**
   * From now on, new requests to contract routes are answered 503 `FLT_SERVICE_SHUTTING_DOWN` with
   * `connection: close` (a client retries them elsewhere; nothing was done); requests in flight go
   * on. Health, metrics and OpenAPI still answer.
   */
  stopAccepting(): void {
    this.#accepting = false;
    this.#wire?.goAway();
  }

  /**
   * Stops accepting, waits up to `drainTimeoutMs` (default 10 s) for requests in flight, then aborts
   * the ones left (their `ctx.signal`) and cuts their connections. Resolves `{ drained }`: whether
   * every request finished in time. Idempotent. Does not close the idempotency store.
   */
  close(options: { readonly drainTimeoutMs?: number } = {}): Promise<{ drained: boolean }> {
    this.#closing ??= this.#close(options.drainTimeoutMs ?? 10_000);
    return this.#closing;
  }

  async #close(drainTimeoutMs: number): Promise<{ drained: boolean }> {
    this.stopAccepting();
    const closed = this.app.close();
    const clock = this.options.clock;
    let timer: TimerHandle | undefined;
    const drained = await Promise.race([
      closed.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = clock.setTimeout(() => resolve(false), drainTimeoutMs);
      }),
    ]);
    if (timer !== undefined) clock.clearTimeout(timer);
    if (!drained) {
      this.logger.warn(
        { inFlight: this.#inFlight.size, drainTimeoutMs },
        "drain timed out: cutting requests",
      );
      const reason = new ServiceError({
        status: 503,
        code: ServiceErrorCode.ShuttingDown,
        detail: "the instance shut down before the request finished",
      });
      for (const controller of this.#inFlight) controller.abort(reason);
      this.app.server.closeAllConnections();
      this.#wire?.destroy();
      await closed;
    }
    this.#stopInstrumenting();
    return { drained };
  }

  #addOpsRoutes(app: FastifyInstance): void {
    app.get("/openapi.json", (_request, reply) =>
      reply.header("content-type", jsonContentType).send(this.#openApiText),
    );
    app.get("/metrics", async (_request, reply) => {
      const text = await this.metrics.render();
      return reply
        .header("content-type", this.metrics.contentType)
        .header("cache-control", "no-store")
        .send(text);
    });
    for (const [path, probe] of [
      ["/health/live", () => this.health.live()],
      ["/health/ready", () => this.health.ready()],
    ] as const) {
      app.get(path, async (_request, reply) => {
        const report = await probe();
        return reply
          .code(report.status === "pass" || report.status === "warn" ? 200 : 503)
          .header("content-type", healthContentType)
          .header("cache-control", "no-store")
          .send(JSON.stringify(report));
      });
    }
  }

  #addRoute(app: FastifyInstance, name: string, route: AnyRoute): void {
    app.route({
      method: route.method,
      url: route.path,
      onRequest: async (_request, reply) => {
        (reply.raw as RoutedResponse)[kRoute] = route.path;
        setHttpRoute(route.path);
        if (!this.#accepting) return this.#send(reply, shuttingDownResponse());
        return undefined;
      },
      handler: (request, reply) => this.#handle(name, route, request, reply),
    });
  }

  async #handle(
    name: string,
    route: AnyRoute,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply> {
    const controller = new AbortController();
    const raw = reply.raw;
    const onClose = () => {
      if (!raw.writableFinished) controller.abort(new Error("the client closed the connection"));
    };
    raw.once("close", onClose);
    try {
      const response = await this.#serve(name, route, request, controller);
      return this.#send(reply, response);
    } finally {
      raw.off("close", onClose);
    }
  }

  /** Serves one call of the wire protocol: the route by name, then as {@link ServiceServer.#handle}. */
  async #serveWire(call: WireCall, controller: AbortController): Promise<WireAnswer> {
    const started = performance.now();
    const routes = this.service.contract.routes;
    const route = Object.hasOwn(routes, call.route) ? routes[call.route] : undefined;
    const url = call.path;
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const params = route?.method === call.method ? this.#templates.get(call.route)!.match(path) : undefined;
    let response: ServiceResponse;
    if (params === undefined || route === undefined) {
      response = problemResponse(
        new ServiceError({
          status: 404,
          code: ServiceErrorCode.RouteNotFound,
          detail: `no route "${call.route}" for ${call.method} ${path}`,
        }),
      );
    } else if (typeof params === "string") {
      response = problemResponse(
        new ServiceError({
          status: 400,
          code: ServiceErrorCode.BadRequest,
          detail: `path parameter "${params}" is not valid percent-encoding`,
        }),
      );
    } else if (!this.#accepting) {
      response = shuttingDownResponse();
    } else {
      const body = wireBody(call, this.options.bodyLimit);
      if (body instanceof ServiceError) response = problemResponse(body);
      else {
        const span = inboundCallSpan(call.headers, {
          method: call.method,
          route: route.path,
          protocol: wireProtocol.token,
          path,
          peerAddress: call.ip,
        });
        const request: InboundRequest = {
          method: call.method,
          url,
          headers: call.headers,
          ip: call.ip,
          params,
          query: q < 0 ? {} : parseQuery(url.slice(q + 1)),
          body,
        };
        response = await span.run(() => this.#serve(call.route, route, request, controller));
        span.end(response.status);
      }
    }
    const answer = this.#render(response);
    this.metrics.observeServer(call.method, route?.path, answer.status, (performance.now() - started) / 1000);
    return answer;
  }

  /**
   * The protocol-free part of a request: its deadline, scope and abort signal, the pipeline, and
   * the deadline's timer. Resolves with the response; never rejects.
   */
  async #serve(
    name: string,
    route: AnyRoute,
    request: InboundRequest,
    controller: AbortController,
  ): Promise<ServiceResponse> {
    const { headers } = request;
    const { clock, now: wallClock } = this.options;
    const traceId = currentTraceIds()?.traceId;
    const now = wallClock();
    let deadline: number | undefined;
    try {
      deadline = requestDeadline(
        headers[scopeHeaders.timeout],
        now,
        this.options.maxTimeoutMs,
        this.options.defaultTimeoutMs,
      );
    } catch (error) {
      return errorResponse(error, { logger: this.logger, traceId });
    }
    if (deadline !== undefined && deadline <= now) return deadlineResponse();
    this.#inFlight.add(controller);
    const ctx = new RequestContext({
      route: name,
      deadline,
      signal: controller.signal,
      caller: header(headers[scopeHeaders.caller]),
      idempotencyKey: header(headers[scopeHeaders.idempotencyKey]),
      traceId,
      db: this.#db,
      clients: this.#clients,
      logger: this.logger,
    });
    const received = { params: request.params, query: request.query, body: request.body };
    const pipelineRequest: PipelineRequest = {
      route: name,
      definition: route,
      method: request.method,
      url: request.url,
      headers,
      ip: request.ip,
      ...received,
      received,
    };
    let timer: TimerHandle | undefined;
    try {
      const work = runInRequestScope({ deadline, caller: ctx.caller, signal: controller.signal }, () =>
        this.pipeline.run(pipelineRequest, ctx),
      ).catch((error: unknown) => errorResponse(downstreamProblem(error) ?? error, ctx));
      if (deadline === undefined) return await work;
      return await new Promise<ServiceResponse>((resolve) => {
        timer = clock.setTimeout(() => {
          controller.abort(new DeadlineExceededError("the request's deadline passed"));
          ctx.logger.warn({ deadline }, "deadline passed before the handler finished");
          resolve(deadlineResponse());
        }, deadline - now);
        void work.then(resolve);
      });
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
      this.#inFlight.delete(controller);
    }
  }

  async #runHandler(request: PipelineRequest, ctx: HandlerContext): Promise<ServiceResponse> {
    const route = request.definition;
    const handler = (this.service.handlers as Record<string, (input: unknown, ctx: unknown) => unknown>)[
      request.route
    ]!;
    let result: unknown;
    try {
      result = await handler({ params: request.params, query: request.query, body: request.body }, ctx);
    } catch (error) {
      // Answered here rather than by the server so that an idempotent replay carries the same body.
      const mapped = downstreamProblem(error) ?? error;
      throw isServiceError(mapped) ? this.#withOrigin(mapped) : mapped;
    }
    if (this.options.validateResponses) {
      const checked = (route.response as z.ZodType).safeParse(result);
      if (!checked.success) {
        ctx.logger.error(
          { issues: checked.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })) },
          "the handler's answer does not match the route's response schema",
        );
        throw new ServiceError({
          status: 500,
          code: ServiceErrorCode.ResponseInvalid,
          detail: "the handler's answer does not match the route's response schema",
          cause: checked.error,
        });
      }
    }
    const status = route.status ?? 200;
    return status === 204 ? { status } : { status, body: result };
  }

  /** The problem with the answering `service` and `instance` (RFC 9457 extension members). */
  #withOrigin(error: ServiceError): ServiceError {
    return error.withExtensions({ service: this.service.name, instance: this.instanceId });
  }

  /** A problem's document with the answering `service` and `instance`; any other body as it is. */
  #document(body: unknown): unknown {
    if (!isServiceError(body)) return body;
    return { ...body.toJSON(), service: this.service.name, instance: this.instanceId };
  }

  /** The status, headers and text of `response`; a body that cannot be serialised becomes a 500. */
  #render(response: ServiceResponse): RenderedResponse {
    let text: string | undefined;
    let res = response;
    try {
      text = res.json ?? (res.body === undefined ? undefined : JSON.stringify(this.#document(res.body)));
    } catch (error) {
      res = errorResponse(error, { logger: this.logger, traceId: currentTraceIds()?.traceId });
      text = JSON.stringify(this.#document(res.body));
    }
    if (text === undefined || res.status === 204 || res.status === 304) {
      return {
        status: res.status,
        headers: res.headers === undefined ? undefined : { ...res.headers },
        text: undefined,
      };
    }
    return {
      status: res.status,
      headers: { ...res.headers, "content-type": res.contentType ?? jsonContentType },
      text,
    };
  }

  #send(reply: FastifyReply, response: ServiceResponse): FastifyReply {
    if (reply.sent) return reply;
    const { status, headers, text } = this.#render(response);
    reply.code(status);
    if (headers !== undefined) {
      for (const name in headers) reply.header(name, headers[name]!);
    }
    if (!this.#accepting) reply.header("connection", "close");
    return text === undefined ? reply.send() : reply.send(text);
  }

  #fastifyProblem(error: FastifyError): ServiceError {
    switch (error.code) {
      case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
        return unsupportedMediaType();
      case "FST_ERR_CTP_BODY_TOO_LARGE":
        return bodyTooLarge(this.options.bodyLimit);
      case "FST_ERR_CTP_INVALID_JSON_BODY":
      case "FST_ERR_CTP_EMPTY_JSON_BODY":
      case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
        return malformedBody(
          error.code === "FST_ERR_CTP_INVALID_CONTENT_LENGTH"
            ? "the body's length does not match its Content-Length"
            : error.code === "FST_ERR_CTP_EMPTY_JSON_BODY"
              ? "the body is empty but its content type is application/json"
              : "the body is not valid JSON",
        );
    }
    const status = error.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return new ServiceError({
        status,
        code: status === 404 ? ServiceErrorCode.RouteNotFound : ServiceErrorCode.BadRequest,
        detail: error.message,
      });
    }
    return toServiceError(error);
  }
}

function shuttingDownResponse(): ServiceResponse {
  return problemResponse(
    new ServiceError({
      status: 503,
      code: ServiceErrorCode.ShuttingDown,
      detail: "this instance is shutting down; retry on another",
      headers: { "retry-after": "0" },
    }),
  );
}

/** A wire call's body: `undefined` for none, the parsed JSON, or the problem with it (as Fastify would answer). */
function wireBody(call: WireCall, bodyLimit: number): unknown {
  const text = call.body;
  if (text === "") return undefined;
  if (text.length > bodyLimit / 3 && Buffer.byteLength(text) > bodyLimit) return bodyTooLarge(bodyLimit);
  const type = call.headers["content-type"];
  if (type !== undefined && !/^application\/([a-z.+-]+\+)?json\s*(;|$)/i.test(type)) {
    return unsupportedMediaType();
  }
  try {
    return JSON.parse(text);
  } catch {
    return malformedBody("the body is not valid JSON");
  }
}

// The body problems, the same whether Fastify or the wire protocol found them.
function unsupportedMediaType(): ServiceError {
  return new ServiceError({
    status: 415,
    code: ServiceErrorCode.UnsupportedMediaType,
    detail: "the body must be application/json",
    headers: { "accept-post": "application/json" },
  });
}

function bodyTooLarge(bodyLimit: number): ServiceError {
  return new ServiceError({
    status: 413,
    code: ServiceErrorCode.BodyTooLarge,
    detail: `the body is over the limit of ${bodyLimit} bytes`,
  });
}

function malformedBody(detail: string): ServiceError {
  return new ServiceError({
    status: 400,
    code: ServiceErrorCode.MalformedBody,
    title: "Malformed body",
    detail,
  });
}

function deadlineResponse(): ServiceResponse {
  return problemResponse(
    new ServiceError({
      status: 504,
      code: ServiceErrorCode.DeadlineExceeded,
      title: "Deadline exceeded",
      detail: "the request's deadline (x-flotilla-timeout-ms) passed before it was answered",
    }),
  );
}

/** Builds a {@link ServiceServer}; throws a `ConfigError` naming each bad option. */
export function serviceServer(service: AnyService, options: ServiceServerOptions = {}): ServiceServer {
  return new ServiceServer(service, options);
}
