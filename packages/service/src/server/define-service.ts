import type { HealthCheck, HealthCheckSpec } from "@flotilla/observability";
import { ConfigError, type ConfigIssue, isFlotillaError } from "@flotilla/resilience";
import type { AnyContract } from "../contract/define-contract.js";
import type { AnyRoute, HandlerInput, RouteResult } from "../contract/route.js";
import type { Dependencies, HandlerContext } from "./handler-context.js";
import type { PipelineStep } from "./pipeline-step.js";
import { resolvePipeline } from "./request-pipeline.js";

/** A route's handler: the parsed input and the request's context in, the response body out. */
export type Handler<R extends AnyRoute, D extends Dependencies = Dependencies> = (
  input: HandlerInput<R>,
  ctx: HandlerContext<D>,
) => Promise<RouteResult<R>>;

/** One handler per route of the contract, by route name; a missing or extra one is a compile error. */
export type Handlers<C extends AnyContract, D extends Dependencies = Dependencies> = {
  readonly [K in keyof C["routes"]]: Handler<C["routes"][K], D>;
};

/** Extra health checks of a service, besides the database and the required dependencies. */
export interface ServiceHealth {
  readonly live?: Readonly<Record<string, HealthCheck | HealthCheckSpec>>;
  readonly ready?: Readonly<Record<string, HealthCheck | HealthCheckSpec>>;
}

/** The service's own database. */
export interface ServiceDatabaseDefinition {
  /** Folder of `.sql` migrations, applied in order at start (a path, or a `file:` URL). */
  readonly migrations?: string | URL;
}

/** What {@link defineService} takes. */
export interface ServiceDefinition<C extends AnyContract, D extends Dependencies> {
  /** The contract this service implements: name, version, routes. */
  readonly contract: C;
  readonly handlers: NoInfer<Handlers<C, D>>;
  /** Contracts of the services this one calls, by the name handlers use on `ctx.clients`. */
  readonly dependencies?: D;
  /** Declares the service's own PostgreSQL database. */
  readonly database?: ServiceDatabaseDefinition;
  /** Steps of the request pipeline: fill `authentication`, `authorization`, `rateLimit`, or add more. */
  readonly pipeline?: readonly PipelineStep[];
  readonly health?: ServiceHealth;
}

/** A defined service: what `startService`, `runService` and `serviceServer` run. */
export interface Service<C extends AnyContract = AnyContract, D extends Dependencies = Dependencies>
  extends ServiceDefinition<C, D> {
  /** The contract's name. */
  readonly name: C["name"];
  /** The contract's semver version. */
  readonly version: string;
  readonly dependencies: D;
  readonly pipeline: readonly PipelineStep[];
}

/** Any service. */
// biome-ignore lint/suspicious/noExplicitAny: the widest service, for constraints.
export type AnyService = Service<AnyContract, any>;

/** Paths every service serves itself; a contract route may not take them. */
export const reservedPaths: readonly string[] = [
  "/openapi.json",
  "/metrics",
  "/health/live",
  "/health/ready",
];

/**
 * Defines a service: the contract it implements and one handler per route, typed from the
 * contract's schemas, plus what it needs (dependencies, database) and how requests flow through it
 * (pipeline, health). Checks at once that every route has a handler and nothing else does, that
 * no route takes a reserved path, and that the pipeline is well-formed; throws a `ConfigError`
 * naming each problem by path.
 *
 * ```ts
 * export const inventoryService = defineService({
 *   contract: inventory,
 *   database: { migrations: new URL("./migrations/", import.meta.url) },
 *   handlers: {
 *     async reserve({ params, body }, ctx) {
 *       const { rows } = await ctx.db.query("INSERT … RETURNING id", [params.sku, body.quantity]);
 *       return { reservationId: rows[0].id };
 *     },
 *     async stock({ query }, ctx) { … },
 *   },
 * });
 * ```
 */
export function defineService<
  const C extends AnyContract,
  const D extends Dependencies = Readonly<Record<never, never>>,
>(definition: ServiceDefinition<C, D>): Service<C, D> {
  const issues: ConfigIssue[] = [];
  const contract = definition?.contract;
  if (typeof contract !== "object" || contract === null || typeof contract.routes !== "object") {
    throw new ConfigError([{ path: "contract", message: "expected a contract from defineContract()" }]);
  }
  if (typeof contract.name !== "string" || !/^[a-z][a-z0-9-]{0,62}$/.test(contract.name)) {
    issues.push({
      path: "contract.name",
      message: "expected lower-case letters, digits and -, starting with a letter",
    });
  }
  if (typeof contract.version !== "string" || !/^\d+\.\d+\.\d+(?:[-+].*)?$/.test(contract.version)) {
    issues.push({
      path: "contract.version",
      message: `expected a semver version, got ${String(contract.version)}`,
    });
  }
  const handlers = (definition.handlers ?? {}) as Record<string, unknown>;
  const seen = new Map<string, string>();
  for (const [name, route] of Object.entries(contract.routes)) {
    if (typeof handlers[name] !== "function") {
      issues.push({ path: `handlers.${name}`, message: `missing handler for route "${name}"` });
    }
    const path = `contract.routes.${name}.path`;
    if (typeof route?.path !== "string" || !route.path.startsWith("/")) {
      issues.push({ path, message: 'expected a path starting with "/"' });
      continue;
    }
    if (reservedPaths.includes(route.path)) {
      issues.push({ path, message: `"${route.path}" is served by Flotilla itself` });
    }
    const signature = `${route.method} ${route.path.replace(/:[^/]+/g, ":")}`;
    const other = seen.get(signature);
    if (other !== undefined) issues.push({ path, message: `same method and path as route "${other}"` });
    seen.set(signature, name);
  }
  for (const name of Object.keys(handlers)) {
    if (!Object.hasOwn(contract.routes, name)) {
      issues.push({ path: `handlers.${name}`, message: `no route "${name}" in the contract` });
    }
  }
  const pipeline = definition.pipeline ?? [];
  try {
    resolvePipeline(pipeline);
  } catch (error) {
    if (!isFlotillaError(error) || !(error instanceof ConfigError)) throw error;
    issues.push(...error.issues);
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return {
    ...definition,
    name: contract.name,
    version: contract.version,
    dependencies: definition.dependencies ?? ({} as D),
    pipeline,
  };
}
