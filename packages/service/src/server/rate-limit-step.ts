import type { RateDecision } from "@flotilla/resilience";
import type { HandlerContext } from "./handler-context.js";
import type { PipelineRequest, PipelineStep } from "./pipeline-step.js";
import { problem } from "./service-error.js";

/** Options of {@link rateLimitStep}. */
export interface RateLimitStepOptions {
  /** A keyed limiter: `gcraLimiter({ rate: 100, period: "1s", burst: 20 })` from `@flotilla/resilience`. */
  readonly limiter: { acquire(key: string, permits?: number): RateDecision | Promise<RateDecision> };
  /**
   * Whom a request counts against. Default the calling service (`x-flotilla-caller`, instance id
   * dropped) when it says, else the client's address.
   */
  readonly key?: (request: PipelineRequest, ctx: HandlerContext) => string;
}

function defaultKey(request: PipelineRequest, ctx: HandlerContext): string {
  if (ctx.caller !== undefined) {
    const slash = ctx.caller.indexOf("/");
    return `service:${slash < 0 ? ctx.caller : ctx.caller.slice(0, slash)}`;
  }
  return `ip:${request.ip}`;
}

/**
 * The `rateLimit` step: takes one permit per request from `limiter` under the request's key, and
 * ends a request that gets none with 429 `FLT_SERVICE_RATE_LIMITED` and `retry-after` (seconds).
 *
 * ```ts
 * defineService({ …, pipeline: [rateLimitStep({ limiter: gcraLimiter({ rate: 50, period: "1s" }) })] });
 * ```
 */
export function rateLimitStep(options: RateLimitStepOptions): PipelineStep {
  const { limiter } = options;
  const keyOf = options.key ?? defaultKey;
  return {
    name: "rateLimit",
    async run(request, ctx, next) {
      const decision = await limiter.acquire(keyOf(request, ctx));
      if (!decision.allowed) {
        const seconds = Number.isFinite(decision.retryAfterMs)
          ? Math.max(1, Math.ceil(decision.retryAfterMs / 1000))
          : 60;
        throw problem(429, "too many requests; slow down", {
          headers: { "retry-after": String(seconds), "ratelimit-limit": String(decision.limit) },
        });
      }
      return next();
    },
  };
}
