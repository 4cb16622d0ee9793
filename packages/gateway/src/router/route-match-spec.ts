import { z } from "zod";

/**
 * Which paths a route takes. Paths are case-sensitive and compared in normalized form (see
 * `normalizePath`): write `%C3%A9`, not `%c3%a9` or `é`.
 *
 * - `exact`: this path only (`/health` does not match `/health/`).
 * - `prefix`: this path and everything below it on a segment boundary: `/api` matches `/api`,
 *   `/api/` and `/api/x` but not `/apix`. A trailing `/` is dropped (`/api/` is `/api`); `/` matches all.
 * - `template`: `/users/:id/orders/:orderId`, where `:name` matches one non-empty segment and a
 *   last segment `*` matches the rest after its `/`, possibly empty (`/files/*` matches
 *   `/files/` and `/files/a/b` but not `/files`), available as `params["*"]`.
 */
export type PathMatchSpec =
  | { readonly exact: string }
  | { readonly prefix: string }
  | { readonly template: string };

/**
 * A condition on one request header (name case-insensitive). Exactly one of:
 * `exact` (the value equals it, case-sensitive), `regex` (the whole value matches it — the
 * pattern is anchored as `^(?:regex)$`), `present: true` (the header is there, the default when
 * none is given) or `present: false` (it is absent). A header sent several times matches when
 * any of its values does.
 */
export interface HeaderMatchSpec {
  readonly name: string;
  readonly exact?: string;
  readonly present?: boolean;
  readonly regex?: string;
}

/** What a route matches, plus the `payload` handed back when it does. */
export interface RouteMatchSpec<T> {
  /** Unique among the routes. */
  readonly id: string;
  /** Exact host names or `*.example.com` wildcards (one or more labels before the suffix), case-insensitive. Absent: any host. */
  readonly hosts?: readonly string[];
  readonly path: PathMatchSpec;
  /** Methods, case-insensitive (stored upper-case). Absent: any method. `HEAD` is not implied by `GET`. */
  readonly methods?: readonly string[];
  /** All must hold. */
  readonly headers?: readonly HeaderMatchSpec[];
  /** Higher wins. Default 0. */
  readonly priority?: number;
  readonly payload: T;
}

/** The outcome of `Router.match`. */
export type RouteMatch<T> =
  | {
      readonly kind: "matched";
      readonly route: RouteMatchSpec<T>;
      /** Template parameters, percent-decoded; an empty object for exact and prefix routes. */
      readonly params: Readonly<Record<string, string>>;
    }
  | { readonly kind: "not-found" }
  /** Some route matches host, path and headers, none the method; `allow` lists theirs, sorted. */
  | { readonly kind: "method-not-allowed"; readonly allow: readonly string[] };

/** Request headers as Node parses them (lower-case names); `IncomingHttpHeaders` fits. */
export type RequestHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

const headerMatchSchema = z
  .object({
    name: z.string().min(1),
    exact: z.string().optional(),
    present: z.boolean().optional(),
    regex: z.string().optional(),
  })
  .strict();

/**
 * The matching part of a route's configuration (`hosts`, `path`, `methods`, `headers`,
 * `priority`), for the gateway configuration to `.extend()` with `id` and its own fields.
 * Deeper checks (templates, regexes, normalized paths) happen in `compileRouter`.
 */
export const routeMatchSchema = z
  .object({
    hosts: z.array(z.string()).optional(),
    path: z.union([
      z.object({ exact: z.string() }).strict(),
      z.object({ prefix: z.string() }).strict(),
      z.object({ template: z.string() }).strict(),
    ]),
    methods: z.array(z.string()).optional(),
    headers: z.array(headerMatchSchema).optional(),
    priority: z.number().finite().optional(),
  })
  .strict();
