import type { AnyContract } from "./define-contract.js";
import type { AnyRoute, RouteInput, RouteOutput } from "./route.js";

/** Per-call options of a typed client method. */
export interface CallOptions {
  /** Makes a non-idempotent call safe to retry; the server applies the call once per key. */
  readonly idempotencyKey?: string;
  /** Cancels the call. */
  readonly signal?: AbortSignal;
  /** Epoch ms by which the call must finish; default the current request's deadline, if any. */
  readonly deadline?: number;
  /** Extra headers (lower-case names). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** True when every part of the route's input is optional, so the input argument may be left out. */
type AllOptional<R extends AnyRoute> = Record<never, never> extends RouteInput<R> ? true : false;

/** One typed client method. */
export type ClientMethod<R extends AnyRoute> =
  AllOptional<R> extends true
    ? (input?: RouteInput<R>, options?: CallOptions) => Promise<RouteOutput<R>>
    : (input: RouteInput<R>, options?: CallOptions) => Promise<RouteOutput<R>>;

/** The typed client of a contract: one method per route. */
export type ClientOf<C extends AnyContract> = {
  readonly [K in keyof C["routes"]]: ClientMethod<C["routes"][K]>;
};
