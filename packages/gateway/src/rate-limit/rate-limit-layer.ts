import { type Clock, systemClock } from "@flotilla/resilience";
import type { Exchange } from "../chain/exchange.js";
import { GatewayErrorCode } from "../chain/gateway-error.js";
import { type GatewayLogger, silentLogger } from "../chain/gateway-logger.js";
import type { GatewayResponse } from "../chain/gateway-response.js";
import type { Layer, Next } from "../chain/layer.js";
import { problemResponse } from "../chain/problem-response.js";
import { parseOptions } from "./parse-options.js";
import type { RateLimitBackend, RateLimitDecision } from "./rate-limit-backend.js";
import {
  rateLimitHeaderNames as H,
  quotaPolicyItem,
  retryAfterSeconds,
  serviceLimitItem,
  windowSeconds,
} from "./rate-limit-headers.js";
import {
  type RateLimitLayerConfig,
  type RateLimitLayerConfigInput,
  rateLimitLayerConfigSchema,
} from "./rate-limit-layer-config.js";
import { type RateLimitRule, rateLimitRule } from "./rate-limit-rule.js";

/** Options of {@link rateLimitLayer}: the configuration plus what the gateway wires in. */
export type RateLimitLayerOptions = RateLimitLayerConfigInput & {
  /** Where the buckets live. The caller owns it (several layers may share one) and closes it. */
  readonly backend: RateLimitBackend;
  readonly logger?: GatewayLogger;
  /** Times the backend-failure warnings (at most one per 10 s); tests pass a `FakeClock`. */
  readonly clock?: Clock;
};

/** Counters of a {@link RateLimitLayer} since it was built. */
export interface RateLimitStats {
  /** Requests passed on, those let through because the backend failed (`onBackendError: "allow"`) included. */
  readonly allowed: number;
  /** Requests answered 429. */
  readonly limited: number;
  /** Requests for which the backend failed or timed out. */
  readonly backendErrors: number;
}

/** Milliseconds between two backend-failure warnings of one layer. */
const warnIntervalMs = 10_000;

/** Longest header value used as a key: longer ones are cut, so a client cannot bloat the backend. */
const maxHeaderKeyLength = 256;

const byIp = 0;
const byConsumer = 1;
const byRoute = 2;
const byHeader = 3;

interface CompiledPolicy {
  readonly name: string;
  readonly rule: RateLimitRule;
  readonly keyKind: number;
  /** The lower-case header name for {@link byHeader}. */
  readonly header: string;
  /** `\0<name>\0`, between the route id and the key value. */
  readonly keyInfix: string;
  /** `"<name>";r=`, the start of its `RateLimit` item. */
  readonly itemPrefix: string;
  readonly windowSeconds: number;
}

/**
 * The `rate-limit` layer: takes one permit from every policy's bucket for the request and
 * answers 429 `FLT_GATEWAY_RATE_LIMITED` with `Retry-After` when any refuses — with several
 * refusals, the one that asks to wait longest answers. A policy that allowed keeps the permit
 * it gave even when another refused.
 *
 * Every answer carries `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers):
 * they go into `exchange.responseHeaders` before `next()`, so they reach streamed responses too.
 * The bucket key is `${routeId}\0${policy}\0${value}`; a value that falls back to the client's
 * address is `\0${address}`, so it never shares a bucket with a consumer or header of that text.
 *
 * When the backend fails (Redis down or slow), `onBackendError: "allow"` lets the request through
 * and `"deny"` answers 503 `FLT_GATEWAY_UNAVAILABLE` with `Retry-After: 1`; either way it counts
 * in {@link RateLimitLayer.stats} and is logged at most once per 10 s.
 */
export class RateLimitLayer implements Layer {
  readonly name = "rate-limit";
  readonly #policies: readonly CompiledPolicy[];
  readonly #backend: RateLimitBackend;
  readonly #deny: boolean;
  readonly #logger: GatewayLogger;
  readonly #clock: Clock;
  readonly #policyHeader: string;
  #allowed = 0;
  #limited = 0;
  #backendErrors = 0;
  #lastWarnAt = Number.NEGATIVE_INFINITY;
  #suppressedWarnings = 0;

  /** Validates `options`; throws a `GatewayError` `FLT_GATEWAY_CONFIG_INVALID` naming the bad field. */
  constructor(options: RateLimitLayerOptions) {
    const { backend, logger, clock, ...input } = options;
    const config = parseOptions(rateLimitLayerConfigSchema, input, "rate limit layer");
    this.#policies = config.policies.map((policy): CompiledPolicy => {
      const rule = rateLimitRule(policy.rule);
      const key = policy.key;
      return {
        name: policy.name,
        rule,
        keyKind: keyKindOf(key),
        header: typeof key === "object" ? key.header : "",
        keyInfix: `\u0000${policy.name}\u0000`,
        itemPrefix: `"${policy.name}";r=`,
        windowSeconds: windowSeconds(rule),
      };
    });
    this.#policyHeader = this.#policies.map((p) => quotaPolicyItem(p.name, p.rule)).join(", ");
    this.#backend = backend;
    this.#deny = config.onBackendError === "deny";
    this.#logger = logger ?? silentLogger;
    this.#clock = clock ?? systemClock;
  }

  /** What `RateLimit-Policy` says on every answer of this layer. */
  get policyHeader(): string {
    return this.#policyHeader;
  }

  /** The counters since the layer was built. */
  /** The `RateLimit-Policy` value of this layer: its policies, their quotas and windows. */
  get policy(): string {
    return this.#policyHeader;
  }

  stats(): RateLimitStats {
    return { allowed: this.#allowed, limited: this.#limited, backendErrors: this.#backendErrors };
  }

  /** Takes a permit from every policy, then calls `next` or answers 429 (or 503 when denying on backend failure). */
  // Not `async`: with a synchronous backend (memory) an allowed request continues with `next()`'s
  // own promise, without wrapping it in another one.
  handle(exchange: Exchange, next: Next): Promise<GatewayResponse> {
    exchange.responseHeaders[H.policy] = this.#policyHeader;
    const policies = this.#policies;
    if (policies.length !== 1) return this.#handleMany(exchange, next, policies);
    const policy = policies[0]!;
    let result: RateLimitDecision | PromiseLike<RateLimitDecision>;
    try {
      result = this.#backend.take(this.#key(policy, exchange), policy.rule, 1);
    } catch (error) {
      return this.#backendFailed(error, exchange, next);
    }
    if (isPromiseLike(result)) {
      return Promise.resolve(result).then(
        (decision) => this.#decided(policy, decision, exchange, next),
        (error: unknown) => this.#backendFailed(error, exchange, next),
      );
    }
    return this.#decided(policy, result, exchange, next);
  }

  #decided(
    policy: CompiledPolicy,
    decision: RateLimitDecision,
    exchange: Exchange,
    next: Next,
  ): Promise<GatewayResponse> {
    const item = serviceLimitItem(policy.itemPrefix, decision, policy.windowSeconds);
    exchange.responseHeaders[H.limit] = item;
    if (decision.allowed) {
      this.#allowed++;
      return next();
    }
    return Promise.resolve(this.#refuse(policy, [policy.name], decision.retryAfterMs, item));
  }

  async #handleMany(
    exchange: Exchange,
    next: Next,
    policies: readonly CompiledPolicy[],
  ): Promise<GatewayResponse> {
    const count = policies.length;
    const decisions = new Array<RateLimitDecision | undefined>(count);
    let pending: Promise<void>[] | undefined;
    let failure: unknown;
    let failed = false;
    for (let i = 0; i < count; i++) {
      const policy = policies[i]!;
      try {
        const result = this.#backend.take(this.#key(policy, exchange), policy.rule, 1);
        if (isPromiseLike(result)) {
          pending ??= [];
          pending.push(
            Promise.resolve(result).then(
              (decision) => {
                decisions[i] = decision;
              },
              (error: unknown) => {
                if (!failed) failure = error;
                failed = true;
              },
            ),
          );
        } else {
          decisions[i] = result;
        }
      } catch (error) {
        if (!failed) failure = error;
        failed = true;
      }
    }
    if (pending !== undefined) await Promise.all(pending);

    let header = "";
    let refused: CompiledPolicy | undefined;
    let refusedRetryMs = 0;
    let violated: string[] | undefined;
    for (let i = 0; i < count; i++) {
      const decision = decisions[i];
      if (decision === undefined) continue;
      const policy = policies[i]!;
      const item = serviceLimitItem(policy.itemPrefix, decision, policy.windowSeconds);
      header = header === "" ? item : `${header}, ${item}`;
      if (!decision.allowed) {
        violated ??= [];
        violated.push(policy.name);
        if (refused === undefined || decision.retryAfterMs > refusedRetryMs) {
          refused = policy;
          refusedRetryMs = decision.retryAfterMs;
        }
      }
    }
    if (header !== "") exchange.responseHeaders[H.limit] = header;
    if (refused !== undefined) {
      if (failed) this.#noteBackendError(failure, exchange);
      return this.#refuse(refused, violated!, refusedRetryMs, header);
    }
    if (failed) return this.#backendFailed(failure, exchange, next);
    this.#allowed++;
    return next();
  }

  #key(policy: CompiledPolicy, exchange: Exchange): string {
    const prefix = exchange.routeId + policy.keyInfix;
    switch (policy.keyKind) {
      case byIp:
        return prefix + exchange.clientIp;
      case byConsumer: {
        const consumer = exchange.identity?.consumer;
        return consumer === undefined ? `${prefix}\u0000${exchange.clientIp}` : prefix + consumer;
      }
      case byRoute:
        return prefix;
      default: {
        let value = exchange.headers[policy.header];
        if (Array.isArray(value)) value = value[0];
        if (value === undefined || value === "") return `${prefix}\u0000${exchange.clientIp}`;
        return prefix + (value.length > maxHeaderKeyLength ? value.slice(0, maxHeaderKeyLength) : value);
      }
    }
  }

  #refuse(
    policy: CompiledPolicy,
    violated: string[],
    retryAfterMs: number,
    limitHeader: string,
  ): GatewayResponse {
    this.#limited++;
    const seconds = retryAfterSeconds(retryAfterMs, policy.windowSeconds);
    return problemResponse(
      429,
      GatewayErrorCode.RateLimited,
      "Too Many Requests",
      `The rate limit "${policy.name}" is exhausted; retry in ${seconds} s.`,
      { [H.policy]: this.#policyHeader, [H.limit]: limitHeader, [H.retryAfter]: String(seconds) },
      { "violated-policies": violated },
    );
  }

  #backendFailed(error: unknown, exchange: Exchange, next: Next): Promise<GatewayResponse> {
    this.#noteBackendError(error, exchange);
    if (this.#deny) {
      return Promise.resolve(
        problemResponse(
          503,
          GatewayErrorCode.Unavailable,
          "Service Unavailable",
          "Rate limiting is temporarily unavailable; retry shortly.",
          { [H.policy]: this.#policyHeader, [H.retryAfter]: "1" },
        ),
      );
    }
    this.#allowed++;
    return next();
  }

  #noteBackendError(error: unknown, exchange: Exchange): void {
    this.#backendErrors++;
    const now = this.#clock.now();
    if (now - this.#lastWarnAt >= warnIntervalMs) {
      this.#logger.warn(
        {
          layer: this.name,
          routeId: exchange.routeId,
          err: error,
          suppressed: this.#suppressedWarnings,
          onBackendError: this.#deny ? "deny" : "allow",
        },
        this.#deny
          ? "rate limit backend failed; answering 503"
          : "rate limit backend failed; letting requests through",
      );
      this.#lastWarnAt = now;
      this.#suppressedWarnings = 0;
    } else {
      this.#suppressedWarnings++;
    }
  }
}

function keyKindOf(key: RateLimitLayerConfig["policies"][number]["key"]): number {
  if (typeof key === "object") return byHeader;
  return key === "consumer" ? byConsumer : key === "route" ? byRoute : byIp;
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T>).then === "function";
}

/** Creates a {@link RateLimitLayer}. */
export function rateLimitLayer(options: RateLimitLayerOptions): RateLimitLayer {
  return new RateLimitLayer(options);
}
