import type { z } from "zod";

/** HTTP methods a route may use. */
export type RouteMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * One operation of a service: its method, its path (Fastify syntax, `/reservations/:sku`), and zod
 * schemas for what it takes and returns. The schemas validate on the server (a failure is a 400
 * problem listing each path) and on the client (a response that does not match is a typed
 * error, never a silently wrong value), and generate the service's OpenAPI document.
 */
export interface RouteDefinition<
  Params extends z.ZodType | undefined = z.ZodType | undefined,
  Query extends z.ZodType | undefined = z.ZodType | undefined,
  Body extends z.ZodType | undefined = z.ZodType | undefined,
  Response extends z.ZodType = z.ZodType,
> {
  readonly method: RouteMethod;
  readonly path: string;
  readonly params?: Params;
  readonly query?: Query;
  readonly body?: Body;
  readonly response: Response;
  /** HTTP status of a success (default 200; 201 or 204 where it fits). */
  readonly status?: number;
  /**
   * Whether repeating the call is safe. Default: true for GET, PUT and DELETE, false for POST and
   * PATCH. A non-idempotent call is retried only when it carries an idempotency key.
   */
  readonly idempotent?: boolean;
  /** One line for the OpenAPI document. */
  readonly summary?: string;
}

/**
 * Declares a route, keeping its schema types for inference:
 *
 * ```ts
 * const reserve = route({
 *   method: "POST",
 *   path: "/reservations/:sku",
 *   params: z.object({ sku: z.string() }),
 *   body: z.object({ quantity: z.number().int().positive() }),
 *   response: z.object({ reservationId: z.string() }),
 *   status: 201,
 * });
 * ```
 */
export function route<
  Params extends z.ZodType | undefined = undefined,
  Query extends z.ZodType | undefined = undefined,
  Body extends z.ZodType | undefined = undefined,
  Response extends z.ZodType = z.ZodType,
>(
  definition: RouteDefinition<Params, Query, Body, Response>,
): NoInfer<RouteDefinition<Params, Query, Body, Response>> {
  return definition;
}

/** Any route. */
// biome-ignore lint/suspicious/noExplicitAny: the widest route, for constraints.
export type AnyRoute = RouteDefinition<any, any, any, any>;

type Out<S> = S extends z.ZodType ? z.output<S> : never;
type In<S> = S extends z.ZodType ? z.input<S> : never;

// biome-ignore lint/suspicious/noExplicitAny: inference positions.
type ParamsOf<R> = R extends RouteDefinition<infer P, any, any, any> ? P : undefined;
// biome-ignore lint/suspicious/noExplicitAny: inference positions.
type QueryOf<R> = R extends RouteDefinition<any, infer Q, any, any> ? Q : undefined;
// biome-ignore lint/suspicious/noExplicitAny: inference positions.
type BodyOf<R> = R extends RouteDefinition<any, any, infer B, any> ? B : undefined;
// biome-ignore lint/suspicious/noExplicitAny: inference positions.
type ResponseOf<R> = R extends RouteDefinition<any, any, any, infer S> ? S : never;

/** Keys whose part the route declares, made optional when every field of it is optional. */
type Part<Key extends string, S> = [S] extends [z.ZodType]
  ? Record<never, never> extends In<S>
    ? { readonly [K in Key]?: In<S> }
    : { readonly [K in Key]: In<S> }
  : { readonly [K in Key]?: never };

/**
 * What a caller passes: `{ params, query, body }` with exactly the parts the route declares,
 * typed by the schemas' input types.
 */
export type RouteInput<R extends AnyRoute> = Part<"params", ParamsOf<R>> &
  Part<"query", QueryOf<R>> &
  Part<"body", BodyOf<R>>;

/** What a handler receives: the parsed (output) types of the declared parts. */
export interface HandlerInput<R extends AnyRoute> {
  readonly params: [ParamsOf<R>] extends [z.ZodType] ? Out<ParamsOf<R>> : Record<string, never>;
  readonly query: [QueryOf<R>] extends [z.ZodType] ? Out<QueryOf<R>> : Record<string, never>;
  readonly body: [BodyOf<R>] extends [z.ZodType] ? Out<BodyOf<R>> : undefined;
}

/** What a handler returns (the response schema's input) and a caller receives (its output). */
export type RouteResult<R extends AnyRoute> = In<ResponseOf<R>>;

/** What a typed client call resolves to. */
export type RouteOutput<R extends AnyRoute> = Out<ResponseOf<R>>;
