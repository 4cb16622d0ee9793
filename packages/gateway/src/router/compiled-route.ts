import type { HeaderPredicate } from "./header-predicate.js";
import type { RouteMatchSpec } from "./route-match-spec.js";

/** A route as the router keeps it: its spec plus everything `match` needs, precomputed. */
export interface CompiledRoute<T> {
  readonly spec: RouteMatchSpec<T>;
  /** Position in precedence order, 0 first; lower wins. */
  rank: number;
  /** Upper-case, or `undefined` for any method. */
  readonly methods: readonly string[] | undefined;
  readonly headers: readonly HeaderPredicate[] | undefined;
  /** Parameter names and the index in `path.split("/")` each is taken from. */
  readonly paramNames: readonly string[];
  readonly paramIndexes: readonly number[];
  /** Index in `path.split("/")` where a `*` rest starts, or -1. */
  readonly restIndex: number;
}
