import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";
import type { CompiledRoute } from "./compiled-route.js";
import { type HeaderPredicate, headerPredicate } from "./header-predicate.js";
import { isValidToken } from "./header-safety.js";
import { checkConfiguredPath, type PathTemplate, parsePathTemplate } from "./path-template.js";
import type { RequestHeaders, RouteMatch, RouteMatchSpec } from "./route-match-spec.js";
import { SegmentTrie } from "./segment-trie.js";

/** Finds the route for a request. Built once per configuration by {@link compileRouter}. */
export interface Router<T> {
  /** The routes as given, in declaration order. */
  readonly routes: readonly RouteMatchSpec<T>[];
  /**
   * The best route for a request, by precedence: higher `priority`; then exact path, then
   * template (more literal segments first, a `*` rest after one without), then prefix (longer
   * first); then declaration order. Hosts, methods and headers only filter, they do not rank.
   *
   * `host` is the request's host name without port (lower-cased here if it is not already);
   * `path` is a path `normalizePath` produced. A template route whose parameters do not
   * percent-decode (invalid UTF-8 such as `%FF`) does not match, so a lower route may; the
   * choice keeps a `RouteMatch` three-valued and the client gets 404 when nothing else matches.
   * Never throws.
   */
  match(method: string, host: string, path: string, headers: RequestHeaders): RouteMatch<T>;
}

/**
 * Validates routes and indexes them for {@link Router.match}. Throws a {@link GatewayError}
 * `FLT_GATEWAY_CONFIG_INVALID` listing every problem with the route ids (duplicate or empty ids,
 * empty `hosts` or `methods`, bad host names, templates, regexes, header names, unnormalized paths).
 *
 * Index and cost: routes are bucketed by host — a `Map` of exact host names, a `Map` of wildcard
 * suffixes probed once per distinct suffix length, and one bucket for any host — and inside a
 * bucket exact paths sit in a `Map` and templates and prefixes in a segment trie (literal children
 * in a `Map`, one shared parameter child). A match looks up at most one exact host, one bucket per
 * wildcard suffix length and the any-host bucket, and in each does one `Map` lookup of the path and
 * one walk down the trie: O(path segments) lookups, independent of the number of routes (a literal
 * and a parameter branch at the same depth are both walked, so the bound is the trie's size along
 * the path, not 2^segments). Subtrees whose best rank cannot beat the match in hand are skipped.
 * Per match it allocates the `split("/")` of the path (only when some route is a template or
 * prefix), the result, and the params of a template route; no closures, no regex compilation.
 */
export function compileRouter<T>(routes: readonly RouteMatchSpec<T>[]): Router<T> {
  return new CompiledRouter(routes);
}

class RouteBucket<T> {
  readonly exact = new Map<string, CompiledRoute<T>[]>();
  readonly trie = new SegmentTrie<T>();
  hasTrie = false;
}

interface Pending<T> {
  readonly route: CompiledRoute<T>;
  readonly index: number;
  readonly priority: number;
  /** 0 exact, 1 template, 2 prefix. */
  readonly kind: number;
  readonly template: PathTemplate | undefined;
  /** Normalized prefix without trailing `/` (`""` for the root). */
  readonly prefix: string;
}

const EMPTY_PARAMS: Readonly<Record<string, string>> = Object.freeze(Object.create(null));
const EMPTY_SEGMENTS: readonly string[] = [];
const EMPTY_HEADERS: RequestHeaders = Object.freeze({});
const NOT_FOUND = Object.freeze({ kind: "not-found" as const });
const hostPattern = /^[a-z0-9_\-.:[\]]+$/;

class CompiledRouter<T> implements Router<T> {
  readonly routes: readonly RouteMatchSpec<T>[];
  private readonly exactHosts = new Map<string, RouteBucket<T>>();
  private readonly wildcardHosts = new Map<string, RouteBucket<T>>();
  private readonly wildcardLengths: readonly number[];
  private readonly anyHost: RouteBucket<T> | undefined;
  private readonly hostSensitive: boolean;
  private readonly needsSegments: boolean;

  // Scratch state of the match in progress: match is synchronous and calls out to nothing but
  // regexes, so one set of fields per router replaces per-request closures or state objects.
  private method = "";
  private path = "";
  private headers: RequestHeaders = EMPTY_HEADERS;
  private segments: readonly string[] = EMPTY_SEGMENTS;
  private best: CompiledRoute<T> | undefined;
  private wrongMethod = false;
  private allow: Set<string> | undefined;
  private excluded: Set<CompiledRoute<T>> | undefined;

  constructor(routes: readonly RouteMatchSpec<T>[]) {
    this.routes = Object.freeze([...routes]);
    const problems: string[] = [];
    const pending: Pending<T>[] = [];
    const ids = new Set<string>();
    routes.forEach((spec, index) => {
      const label = typeof spec.id === "string" && spec.id !== "" ? `route "${spec.id}"` : `routes[${index}]`;
      const before = problems.length;
      const fail = (what: string): void => {
        problems.push(`${label}: ${what}`);
      };
      if (typeof spec.id !== "string" || spec.id === "") fail("id must be a non-empty string");
      else if (ids.has(spec.id)) fail("duplicate id");
      else ids.add(spec.id);
      const item = compileOne(spec, index, fail);
      if (item !== undefined && problems.length === before) pending.push(item);
    });
    if (problems.length > 0) {
      throw new GatewayError(
        GatewayErrorCode.ConfigInvalid,
        `invalid routes:\n  - ${problems.join("\n  - ")}`,
      );
    }

    pending.sort(precedence);
    pending.forEach((item, rank) => {
      item.route.rank = rank;
    });

    let anyHost: RouteBucket<T> | undefined;
    let needsSegments = false;
    for (const item of pending) {
      const buckets: RouteBucket<T>[] = [];
      const hosts = item.route.spec.hosts;
      if (hosts === undefined) {
        anyHost ??= new RouteBucket();
        buckets.push(anyHost);
      } else {
        for (const raw of new Set(hosts.map((h) => h.toLowerCase()))) {
          const wildcard = raw.startsWith("*.");
          const map = wildcard ? this.wildcardHosts : this.exactHosts;
          const key = wildcard ? raw.slice(1) : raw;
          let bucket = map.get(key);
          if (bucket === undefined) {
            bucket = new RouteBucket();
            map.set(key, bucket);
          }
          buckets.push(bucket);
        }
      }
      if (item.kind !== 0) needsSegments = true;
      for (const bucket of buckets) index(bucket, item);
    }
    for (const bucket of [
      ...this.exactHosts.values(),
      ...this.wildcardHosts.values(),
      ...(anyHost ? [anyHost] : []),
    ]) {
      for (const list of bucket.exact.values()) list.sort((a, b) => a.rank - b.rank);
      bucket.trie.sort();
    }
    this.anyHost = anyHost;
    this.wildcardLengths = [...new Set([...this.wildcardHosts.keys()].map((k) => k.length))].sort(
      (a, b) => b - a,
    );
    this.hostSensitive = this.exactHosts.size > 0 || this.wildcardHosts.size > 0;
    this.needsSegments = needsSegments;
  }

  match(method: string, host: string, path: string, headers: RequestHeaders): RouteMatch<T> {
    this.method = method;
    this.path = path;
    this.headers = headers;
    this.segments = this.needsSegments ? path.split("/") : EMPTY_SEGMENTS;
    this.best = undefined;
    this.wrongMethod = false;
    this.allow = undefined;
    this.excluded = undefined;
    const lowerHost = this.hostSensitive ? host.toLowerCase() : host;
    try {
      for (;;) {
        const best = this.search(lowerHost);
        if (best === undefined) break;
        const params = this.params(best);
        if (params !== undefined) return { kind: "matched", route: best.spec, params };
        // Undecodable parameters: this route does not match; look again without it.
        this.excluded ??= new Set();
        this.excluded.add(best);
        this.best = undefined;
      }
      if (!this.wrongMethod) return NOT_FOUND;
      const allow = new Set<string>();
      this.allow = allow;
      this.search(lowerHost);
      return { kind: "method-not-allowed", allow: [...allow].sort() };
    } finally {
      // Drop references to the request so the router does not keep it alive.
      this.path = "";
      this.headers = EMPTY_HEADERS;
      this.segments = EMPTY_SEGMENTS;
      this.best = undefined;
      this.allow = undefined;
      this.excluded = undefined;
    }
  }

  /** Searches every bucket the host selects; returns the best route found. */
  private search(host: string): CompiledRoute<T> | undefined {
    if (this.exactHosts.size !== 0) {
      const bucket = this.exactHosts.get(host);
      if (bucket !== undefined) this.searchBucket(bucket);
    }
    const lengths = this.wildcardLengths;
    for (let i = 0; i < lengths.length; i++) {
      const length = lengths[i]!;
      const start = host.length - length;
      if (start > 0 && host.charCodeAt(start) === 0x2e) {
        const bucket = this.wildcardHosts.get(host.slice(start));
        if (bucket !== undefined) this.searchBucket(bucket);
      }
    }
    if (this.anyHost !== undefined) this.searchBucket(this.anyHost);
    return this.best;
  }

  private searchBucket(bucket: RouteBucket<T>): void {
    if (bucket.exact.size !== 0) {
      const list = bucket.exact.get(this.path);
      if (list !== undefined) this.consider(list);
    }
    if (bucket.hasTrie) this.walk(bucket.trie, 1);
  }

  private walk(node: SegmentTrie<T>, depth: number): void {
    if (this.best !== undefined && node.minRank >= this.best.rank) return;
    if (node.prefix.length !== 0) this.consider(node.prefix);
    const segments = this.segments;
    if (depth >= segments.length) {
      if (node.terminal.length !== 0) this.consider(node.terminal);
      return;
    }
    if (node.rest.length !== 0) this.consider(node.rest);
    const segment = segments[depth]!;
    if (node.literals !== undefined) {
      const child = node.literals.get(segment);
      if (child !== undefined) this.walk(child, depth + 1);
    }
    if (node.param !== undefined && segment.length !== 0) this.walk(node.param, depth + 1);
  }

  /** Looks at routes whose host and path match, in rank order. */
  private consider(list: readonly CompiledRoute<T>[]): void {
    for (let i = 0; i < list.length; i++) {
      const route = list[i]!;
      if (this.best !== undefined && route.rank >= this.best.rank) return;
      if (this.excluded?.has(route)) continue;
      const methods = route.methods;
      if (methods === undefined || methods.includes(this.method)) {
        if (route.headers === undefined || headersHold(route.headers, this.headers)) {
          this.best = route;
          return;
        }
      } else if (route.headers === undefined || headersHold(route.headers, this.headers)) {
        this.wrongMethod = true;
        if (this.allow !== undefined) for (const m of methods) this.allow.add(m);
      }
    }
  }

  private params(route: CompiledRoute<T>): Readonly<Record<string, string>> | undefined {
    const names = route.paramNames;
    if (names.length === 0 && route.restIndex < 0) return EMPTY_PARAMS;
    const segments = this.segments;
    const params: Record<string, string> = Object.create(null);
    for (let i = 0; i < names.length; i++) {
      const value = decodeParam(segments[route.paramIndexes[i]!]!);
      if (value === undefined) return undefined;
      params[names[i]!] = value;
    }
    if (route.restIndex >= 0) {
      const value = decodeParam(segments.slice(route.restIndex).join("/"));
      if (value === undefined) return undefined;
      params["*"] = value;
    }
    return params;
  }
}

function headersHold(predicates: readonly HeaderPredicate[], headers: RequestHeaders): boolean {
  for (let i = 0; i < predicates.length; i++) if (!predicates[i]!.test(headers)) return false;
  return true;
}

function decodeParam(raw: string): string | undefined {
  if (raw.indexOf("%") === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

function precedence<T>(a: Pending<T>, b: Pending<T>): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.kind !== b.kind) return a.kind - b.kind;
  if (a.template !== undefined && b.template !== undefined) {
    if (a.template.literalCount !== b.template.literalCount)
      return b.template.literalCount - a.template.literalCount;
    if (a.template.rest !== b.template.rest) return a.template.rest ? 1 : -1;
  }
  if (a.kind === 2 && a.prefix.length !== b.prefix.length) return b.prefix.length - a.prefix.length;
  return a.index - b.index;
}

function index<T>(bucket: RouteBucket<T>, item: Pending<T>): void {
  const route = item.route;
  const spec = route.spec;
  if (item.kind === 0) {
    const path = (spec.path as { exact: string }).exact;
    const list = bucket.exact.get(path);
    if (list === undefined) bucket.exact.set(path, [route]);
    else list.push(route);
    return;
  }
  bucket.hasTrie = true;
  let node = bucket.trie;
  if (item.kind === 2) {
    if (item.prefix !== "")
      for (const segment of item.prefix.slice(1).split("/")) node = node.literal(segment);
    node.prefix.push(route);
    return;
  }
  for (const segment of item.template!.segments) {
    node = "literal" in segment ? node.literal(segment.literal) : node.parameter();
  }
  (item.template!.rest ? node.rest : node.terminal).push(route);
}

function compileOne<T>(
  spec: RouteMatchSpec<T>,
  index: number,
  fail: (what: string) => void,
): Pending<T> | undefined {
  const priority = spec.priority ?? 0;
  if (typeof priority !== "number" || !Number.isFinite(priority)) fail("priority must be a finite number");

  if (spec.hosts !== undefined) {
    if (spec.hosts.length === 0) fail("hosts is empty (omit it to match any host)");
    for (const host of spec.hosts) {
      const lower = typeof host === "string" ? host.toLowerCase() : "";
      const name = lower.startsWith("*.") ? lower.slice(2) : lower;
      if (name === "" || !hostPattern.test(name)) fail(`bad host "${String(host)}"`);
    }
  }

  let methods: string[] | undefined;
  if (spec.methods !== undefined) {
    if (spec.methods.length === 0) fail("methods is empty (omit it to match any method)");
    for (const method of spec.methods) if (!isValidToken(method)) fail(`bad method "${method}"`);
    methods = [...new Set(spec.methods.map((m) => m.toUpperCase()))];
  }

  const headers: HeaderPredicate[] = [];
  for (const header of spec.headers ?? []) {
    try {
      headers.push(headerPredicate(header));
    } catch (error) {
      fail((error as Error).message);
    }
  }

  const path = spec.path as Partial<Record<"exact" | "prefix" | "template", unknown>> | undefined;
  const given = path === undefined ? [] : (["exact", "prefix", "template"] as const).filter((k) => k in path);
  if (path === undefined || given.length !== 1 || typeof path[given[0]!] !== "string") {
    fail('path must have exactly one of "exact", "prefix" or "template", a string');
    return undefined;
  }
  const kindName = given[0]!;
  const value = path[kindName] as string;
  let template: PathTemplate | undefined;
  let prefix = "";
  if (kindName === "template") {
    try {
      template = parsePathTemplate(value);
    } catch (error) {
      fail(`path.template: ${(error as Error).message}`);
      return undefined;
    }
  } else {
    const trimmed =
      kindName === "prefix" && value.length > 1 && value.endsWith("/") ? value.slice(0, -1) : value;
    const problem = checkConfiguredPath(trimmed);
    if (problem !== undefined) {
      fail(`path.${kindName}: ${problem}`);
      return undefined;
    }
    if (kindName === "prefix") prefix = trimmed === "/" ? "" : trimmed;
  }

  const paramNames: string[] = [];
  const paramIndexes: number[] = [];
  let restIndex = -1;
  if (template !== undefined) {
    template.segments.forEach((segment, i) => {
      if ("param" in segment) {
        paramNames.push(segment.param);
        paramIndexes.push(i + 1);
      }
    });
    if (template.rest) restIndex = template.segments.length + 1;
  }
  const route: CompiledRoute<T> = {
    spec,
    rank: 0,
    methods,
    headers: headers.length > 0 ? headers : undefined,
    paramNames,
    paramIndexes,
    restIndex,
  };
  const kind = kindName === "exact" ? 0 : kindName === "template" ? 1 : 2;
  return { route, index, priority, kind, template, prefix };
}
