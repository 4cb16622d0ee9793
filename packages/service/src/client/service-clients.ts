import type { Metrics } from "@flotilla/observability";
import type { ClientLogger, Discovery } from "@flotilla/registry";
import { type Clock, ConfigReader } from "@flotilla/resilience";
import type { Agent } from "undici";
import type { z } from "zod";
import type { CallOptions, ClientOf } from "../contract/client-types.js";
import type { AnyContract } from "../contract/define-contract.js";
import type { AnyRoute, RouteMethod } from "../contract/route.js";
import { type CallRequest, DependencyClient, type RoutePolicy } from "./dependency-client.js";
import {
  type DependencyPolicies,
  parseDependencyPolicies,
  parseVersions,
  type ResolvedDependencyPolicies,
  type ResolvedFallback,
} from "./dependency-policies.js";
import type { FallbackQueue } from "./fallback-queue.js";
import { HttpTransport, type TracePropagation } from "./http-transport.js";
import { PathTemplate } from "./path-template.js";
import { queryString } from "./query-string.js";
import { type SchemaIssue, ServiceInvalidCallError } from "./service-client-error.js";

/** One service this service calls. */
export interface DependencyConfig<C extends AnyContract = AnyContract> {
  /** The callee's contract (import it types-and-schemas only). */
  readonly contract: C;
  /** The callee's registry name. Default the contract's `name`. */
  readonly service?: string;
  /** An npm semver range the callee's instances must satisfy (`^1.0.0`); instances outside it are never called. */
  readonly versions?: string;
  /** Timeout, retry, breaker, bulkhead, rate limit and fallback, as plain data. */
  readonly policies?: DependencyPolicies;
}

/** Options of {@link serviceClients}. */
export interface ServiceClientsOptions<D extends Readonly<Record<string, DependencyConfig>>> {
  /** Picks instances (balancer, outlier detection) and learns from every attempt's outcome. */
  readonly discovery: Discovery;
  /** The services this one calls, by the name its code uses (`clients.inventory`). */
  readonly dependencies: D;
  /** Who is calling, sent as `x-flotilla-caller: <service>/<instanceId>`. */
  readonly caller?: { readonly service: string; readonly instanceId: string };
  /** Options of the undici `Agent` pooling connections per instance (keep-alive; `pipelining` 1 unless set). */
  readonly dispatcherOptions?: Agent.Options;
  /** Time source of the policies. Default the system clock. */
  readonly clock?: Clock;
  /**
   * Epoch milliseconds: the time line of `CallOptions.deadline` and the request scope's
   * deadline. Default `Date.now`. Tests pass `() => fakeClock.now()` with deadlines on that line.
   */
  readonly wallClock?: () => number;
  /** Breaker transitions (warn) and retries (debug). Default: none. */
  readonly logger?: ClientLogger;
  /** Where `queue` fallbacks put calls; required when a dependency has one. */
  readonly fallbackQueue?: FallbackQueue;
  /**
   * Check each typed call's params, query and body against the route's schemas before sending
   * (a `ServiceInvalidCallError` listing each path). Default false: the types already guarantee
   * the shape, and the callee validates anyway.
   */
  readonly validateRequests?: boolean;
  /** How outbound trace context is written; see {@link TracePropagation}. Default `auto`. */
  readonly tracePropagation?: TracePropagation;
  /** The largest response body accepted, in bytes; a larger one is a `ServiceBadResponseError`. Default 16 MiB. */
  readonly maxResponseBytes?: number;
  /**
   * Send typed calls over the Flotilla wire protocol (one multiplexed connection per instance) to
   * instances that advertise it in their registration; HTTP otherwise, and for `call()`. Default
   * `true`.
   */
  readonly wire?: boolean;
  /**
   * Records every attempt in `http_client_request_duration_seconds` {method, server = the callee
   * service, status (none when no answer came)}; `startService` passes the service's metrics.
   */
  readonly metrics?: Pick<Metrics, "observeClient">;
}

/** The typed clients of `D`, by the names `D` gives them. */
export type ClientsOf<D extends Readonly<Record<string, DependencyConfig>>> = {
  readonly [K in keyof D]: ClientOf<D[K]["contract"]>;
};

/** The untyped escape hatch: any method and path of any service. */
export type UntypedCall = (
  service: string,
  method: RouteMethod,
  path: string,
  body?: unknown,
  options?: CallOptions,
) => Promise<unknown>;

/**
 * Typed clients for a service's dependencies, and an untyped `call` for anything else.
 *
 * ```ts
 * const deps = serviceClients({
 *   discovery: discovery({ cache: discoveryCache({ client: registryClient({ url }) }) }),
 *   caller: { service: "orders", instanceId },
 *   dependencies: {
 *     inventory: {
 *       contract: inventoryContract,
 *       versions: "^1.0.0",
 *       policies: { timeout: "2s", retry: { maxAttempts: 3 }, breaker: { slidingWindowSize: 20 } },
 *     },
 *   },
 * });
 * const { reservationId } = await deps.clients.inventory.reserve({ params: { sku }, body: { quantity: 2 } });
 * ```
 */
export class ServiceClients<D extends Readonly<Record<string, DependencyConfig>>> {
  /** One typed client per dependency. */
  readonly clients: ClientsOf<D>;
  /** The runtime of each dependency, by registry name (policies for snapshots and admin). */
  readonly dependencies: ReadonlyMap<string, DependencyClient>;
  readonly #transport: HttpTransport;
  readonly #byName = new Map<string, DependencyClient>();
  readonly #undeclared = new Map<string, DependencyClient>();
  readonly #makeUndeclared: (service: string) => DependencyClient;
  #closed = false;
  #closing: Promise<void> | undefined;

  /** Validates `options`; a bad one throws a `ConfigError` naming its path (`dependencies.inventory.policies.timeout`). */
  constructor(options: ServiceClientsOptions<D>) {
    const reader = new ConfigReader();
    const obj = reader.object(options, "");
    reader.knownKeys(
      obj,
      [
        "discovery",
        "dependencies",
        "caller",
        "dispatcherOptions",
        "clock",
        "wallClock",
        "logger",
        "fallbackQueue",
        "validateRequests",
        "tracePropagation",
        "maxResponseBytes",
        "wire",
        "metrics",
      ],
      "",
    );
    const discovery = options.discovery as Partial<Discovery> | undefined;
    if (typeof discovery?.pick !== "function" || typeof discovery.report !== "function") {
      reader.issue("discovery", "expected a Discovery (pick and report)");
    }
    const clock = reader.clock(obj, "clock", "");
    const wallClock = reader.fn<() => number>(obj, "wallClock", "") ?? Date.now;
    const validate = reader.boolean(obj, "validateRequests", "", false);
    const wire = reader.boolean(obj, "wire", "", true);
    const maxResponseBytes = reader.number(obj, "maxResponseBytes", "", 16 * 1024 * 1024, {
      integer: true,
      min: 1,
    });
    const propagation = obj.tracePropagation ?? "auto";
    if (propagation !== "auto" && propagation !== "always" && propagation !== "off") {
      reader.issue(
        "tracePropagation",
        `expected "auto", "always" or "off", got ${JSON.stringify(propagation)}`,
      );
    }
    let caller: string | undefined;
    if (obj.caller !== undefined) {
      const c = reader.object(obj.caller, "caller");
      reader.knownKeys(c, ["service", "instanceId"], "caller");
      const service = reader.string(c, "service", "caller", "");
      const instanceId = reader.string(c, "instanceId", "caller", "");
      if (service === "") reader.issue("caller.service", "required: this service's name");
      if (instanceId === "") reader.issue("caller.instanceId", "required: this instance's id");
      caller = `${service}/${instanceId}`;
    }
    const fallbackQueue = options.fallbackQueue;
    if (
      fallbackQueue !== undefined &&
      typeof (fallbackQueue as Partial<FallbackQueue>).enqueue !== "function"
    ) {
      reader.issue("fallbackQueue", "expected a FallbackQueue (enqueue)");
    }

    const parsed: {
      key: string;
      service: string;
      contract: AnyContract;
      versions: string | undefined;
      policies: ResolvedDependencyPolicies;
    }[] = [];
    const deps = reader.object(obj.dependencies, "dependencies");
    for (const [key, raw] of Object.entries(deps)) {
      const at = `dependencies.${key}`;
      const dep = reader.object(raw, at);
      reader.knownKeys(dep, ["contract", "service", "versions", "policies"], at);
      const contract = dep.contract as AnyContract | undefined;
      if (
        typeof contract?.name !== "string" ||
        typeof contract.routes !== "object" ||
        contract.routes === null
      ) {
        reader.issue(`${at}.contract`, "expected a contract from defineContract()");
        continue;
      }
      const service =
        dep.service === undefined ? contract.name : reader.string(dep, "service", at, contract.name);
      const versions = parseVersions(dep.versions, reader, `${at}.versions`);
      const policies = parseDependencyPolicies(
        dep.policies,
        reader,
        `${at}.policies`,
        Object.keys(contract.routes),
      );
      checkFallbacks(policies, contract, fallbackQueue, reader, `${at}.policies`);
      if (parsed.some((p) => p.service === service)) {
        reader.issue(`${at}.service`, `another dependency already calls the service "${service}"`);
      }
      parsed.push({ key, service, contract, versions, policies });
    }
    reader.throwIfInvalid();

    const transport = new HttpTransport({
      discovery: options.discovery,
      clock,
      wallClock,
      caller,
      tracePropagation: propagation as TracePropagation,
      dispatcherOptions: options.dispatcherOptions,
      maxResponseBytes,
      wire,
      metrics: options.metrics,
    });
    this.#transport = transport;
    const context = {
      transport,
      discovery: options.discovery,
      clock,
      wallClock,
      fallbackQueue,
      logger: options.logger,
      closed: () => this.#closed,
    };
    const clients: Record<string, unknown> = {};
    for (const { key, service, contract, versions, policies } of parsed) {
      const dependency = new DependencyClient(service, versions, policies, context);
      this.#byName.set(service, dependency);
      clients[key] = typedClient(dependency, contract, validate);
    }
    const defaults = parseDependencyPolicies(undefined, new ConfigReader(), "", []);
    this.#makeUndeclared = (service) => new DependencyClient(service, undefined, defaults, context);
    this.clients = clients as ClientsOf<D>;
    this.dependencies = this.#byName;
  }

  /**
   * Calls any route of any service, untyped: `path` is sent as given (with its query string),
   * `body` as JSON. A declared dependency's calls run under its policies and version range;
   * another service's under the default policies (a 10 s timeout, nothing else). Resolves with
   * the JSON body (the text when the response is not JSON, `undefined` when there is none).
   */
  readonly call: UntypedCall = (service, method, path, body, options) => {
    let dependency = this.#byName.get(service) ?? this.#undeclared.get(service);
    if (dependency === undefined) {
      dependency = this.#makeUndeclared(service);
      this.#undeclared.set(service, dependency);
    }
    const request: CallRequest = {
      label: `${method} ${path}`,
      route: undefined,
      method,
      path,
      body: body === undefined ? undefined : JSON.stringify(body),
      idempotent: method === "GET" || method === "PUT" || method === "DELETE",
    };
    return dependency.start(request, dependency.routePolicy(undefined), options);
  };

  /** Refuses new calls, lets those in flight finish, and closes every pooled connection. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#transport.close();
    return this.#closing;
  }
}

/** Creates {@link ServiceClients}; see there. Throws a `ConfigError` listing every bad option with its path. */
export function serviceClients<const D extends Readonly<Record<string, DependencyConfig>>>(
  options: ServiceClientsOptions<D>,
): ServiceClients<D> {
  return new ServiceClients(options);
}

/**
 * Checks at construction what a fallback needs: a `value` must match the response schema of
 * every route it answers for, and a `queue` needs the `fallbackQueue` option.
 */
function checkFallbacks(
  policies: ResolvedDependencyPolicies,
  contract: AnyContract,
  queue: FallbackQueue | undefined,
  reader: ConfigReader,
  path: string,
): void {
  const check = (fallback: ResolvedFallback | null | undefined, at: string, routes: readonly string[]) => {
    if (fallback === null || fallback === undefined) return;
    if (fallback.type === "queue" && queue === undefined) {
      reader.issue(at, "a queue fallback needs the fallbackQueue option of serviceClients");
    }
    if (fallback.type !== "value") return;
    for (const name of routes) {
      const result = (contract.routes[name] as AnyRoute).response.safeParse(fallback.value);
      if (!result.success) {
        reader.issue(
          `${at}.value`,
          `does not match the response of route ${name} (${describeIssues(result.error.issues)}); give that route its own fallback under routes.${name}`,
        );
      }
    }
  };
  const unlisted = Object.keys(contract.routes).filter((name) => !policies.routeFallbacks.has(name));
  check(policies.fallback, `${path}.fallback`, unlisted);
  for (const [name, fallback] of policies.routeFallbacks)
    check(fallback, `${path}.routes.${name}.fallback`, [name]);
}

/** Builds one method per route, each with its path template compiled and its policy chosen once. */
function typedClient(dependency: DependencyClient, contract: AnyContract, validate: boolean): unknown {
  const client: Record<string, unknown> = {};
  for (const [name, route] of Object.entries(contract.routes) as [string, AnyRoute][]) {
    const template = new PathTemplate(route.path);
    const routePolicy: RoutePolicy = dependency.routePolicy(name, route);
    const idempotent =
      route.idempotent ?? (route.method === "GET" || route.method === "PUT" || route.method === "DELETE");
    const service = dependency.service;
    client[name] = (input: RouteInputValue | undefined, options?: CallOptions): Promise<unknown> => {
      if (validate) {
        const issues = validateInput(route, input);
        if (issues.length > 0) return Promise.reject(new ServiceInvalidCallError(service, name, issues));
      }
      const built = template.build(input?.params);
      if (typeof built !== "string") {
        return Promise.reject(
          new ServiceInvalidCallError(service, name, [
            { path: `params.${built.missing}`, message: "required by the path", code: "missing_param" },
          ]),
        );
      }
      const query = input?.query;
      const body = input?.body;
      const request: CallRequest = {
        label: name,
        route,
        method: route.method,
        path: query === undefined ? built : built + queryString(query),
        body: body === undefined ? undefined : JSON.stringify(body),
        idempotent,
      };
      return dependency.start(request, routePolicy, options);
    };
  }
  return Object.freeze(client);
}

/** A typed method's input at run time. */
interface RouteInputValue {
  readonly params?: Readonly<Record<string, unknown>>;
  readonly query?: Readonly<Record<string, unknown>>;
  readonly body?: unknown;
}

function validateInput(route: AnyRoute, input: RouteInputValue | undefined): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  for (const part of ["params", "query", "body"] as const) {
    const schema = route[part] as z.ZodType | undefined;
    if (schema === undefined) continue;
    // A route whose params or query are all optional may be called without them.
    const result = schema.safeParse(input?.[part] ?? (part === "body" ? undefined : {}));
    if (result.success) continue;
    for (const issue of result.error.issues) {
      issues.push({
        path: [part, ...issue.path.map(String)].join("."),
        message: issue.message,
        code: issue.code,
      });
    }
  }
  return issues;
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((i) => `${i.path.map(String).join(".") || "(value)"}: ${i.message}`).join("; ");
}
