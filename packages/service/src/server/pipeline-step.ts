import type { IncomingHttpHeaders } from "node:http";
import type { AnyRoute } from "../contract/route.js";
import type { HandlerContext } from "./handler-context.js";
import type { ServiceResponse } from "./service-response.js";

/**
 * The built-in positions of the request pipeline, in order. `authentication`, `authorization`
 * and `rateLimit` are empty slots a service fills with a step of that name; `validation`,
 * `idempotency` and `handler` are Flotilla's own and cannot be replaced. Any step can be placed
 * `before` or `after` any of them.
 */
export const pipelinePositions = [
  "authentication",
  "authorization",
  "validation",
  "rateLimit",
  "idempotency",
  "handler",
] as const;

/** One of {@link pipelinePositions}. */
export type PipelinePosition = (typeof pipelinePositions)[number];

/** The positions a service may fill with its own step. */
export const fillablePositions: readonly PipelinePosition[] = [
  "authentication",
  "authorization",
  "rateLimit",
];

/** The request as pipeline steps see it. */
export interface PipelineRequest {
  /** The contract route's name (`reserve`). */
  readonly route: string;
  /** The route's definition: method, path, schemas. */
  readonly definition: AnyRoute;
  readonly method: string;
  /** The raw URL, with the query string. */
  readonly url: string;
  /** Lower-case header names, as Node gives them. */
  readonly headers: IncomingHttpHeaders;
  /** The client's address. */
  readonly ip: string;
  /**
   * Path parameters, query and body as received (strings from the path and query, parsed JSON);
   * from the `validation` step on, the schemas' parsed output.
   */
  params: unknown;
  query: unknown;
  body: unknown;
  /** Path parameters, query and body exactly as received, whatever the steps changed. */
  readonly received: { readonly params: unknown; readonly query: unknown; readonly body: unknown };
}

/** Runs the rest of the pipeline; call it at most once. */
export type PipelineNext = () => Promise<ServiceResponse>;

/**
 * One link of the request pipeline (chain of responsibility): it may look at the request, end it
 * by throwing a `problem(401 | 403 | 429 …)` or returning a response, or call `next()` and return
 * (or change) what the rest of the chain answered.
 *
 * ```ts
 * const apiKey: PipelineStep = {
 *   name: "authentication",
 *   async run(req, ctx, next) {
 *     if (req.headers["x-api-key"] !== secret) throw problem(401, "missing or wrong API key");
 *     ctx.state.client = "partner-a";
 *     return next();
 *   },
 * };
 * const audit: PipelineStep = { name: "audit", after: "authorization", run: (req, ctx, next) => next() };
 * ```
 */
export interface PipelineStep {
  /**
   * `authentication`, `authorization` or `rateLimit` (without `before`/`after`) fills that
   * position; any other name adds a step, placed with `before` or `after`.
   */
  readonly name: string;
  /** The name of the step (built-in or added earlier) this one runs just before. */
  readonly before?: string;
  /** The name of the step (built-in or added earlier) this one runs just after. */
  readonly after?: string;
  run(request: PipelineRequest, ctx: HandlerContext, next: PipelineNext): Promise<ServiceResponse>;
}
