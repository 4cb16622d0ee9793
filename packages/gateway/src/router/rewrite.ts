import { z } from "zod";
import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";
import { isValidHeaderValue } from "./header-safety.js";
import { checkConfiguredPath, parsePathTemplate } from "./path-template.js";
import type { PathMatchSpec } from "./route-match-spec.js";

/**
 * A route's rewrite of the upstream request target; parse raw configuration with it.
 * `prefix` and `template` exclude each other.
 */
export const rewriteOptionsSchema = z
  .object({
    /** Replace a leading path prefix (on a segment boundary): `{ from: "/api", to: "/" }` turns `/api/x` into `/x`. */
    prefix: z.object({ from: z.string(), to: z.string() }).strict().optional(),
    /** A new path built from the route's parameters: `"/v2/users/{id}"`; `{*}` is a template's rest. */
    template: z.string().optional(),
    /** The `Host` to send upstream instead of the client's (name, optional port). */
    host: z.string().optional(),
  })
  .strict();

/** Resolved options of {@link rewriteTarget}. */
export type RewriteOptions = z.output<typeof rewriteOptionsSchema>;

/**
 * A compiled rewrite. Called with the normalized path, the raw query (both as `normalizePath`
 * returned them) and the route's decoded params, it returns the upstream path plus query, or
 * `undefined` when the rewrite cannot be done safely (a parameter is missing, cannot be
 * encoded, or would form a `.`/`..` segment): the server answers 400.
 */
export interface TargetRewriter {
  (path: string, query: string, params: Readonly<Record<string, string>>): string | undefined;
  /** The upstream `Host` to send, validated at construction, or `undefined` to keep the client's. */
  readonly host: string | undefined;
}

/** Where a rewrite sits, for validation and error messages. */
export interface RewriteContext {
  /** Named in configuration errors. */
  readonly routeId?: string;
  /** The route's path match: when given, `{name}` placeholders must be parameters of its template. */
  readonly path?: PathMatchSpec;
}

const placeholderName = /^(?:[A-Za-z_][A-Za-z0-9_]*|\*)$/;
const hostValue = /^(?:[A-Za-z0-9_\-.]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const dotSegment = /\/\.\.?(?:\/|$)/;

/**
 * Compiles a route's rewrite once, at configuration time; the returned function does only
 * string concatenation and `encodeURIComponent` per request. Parameter values are encoded with
 * `encodeURIComponent` (a `{*}` rest segment by segment, keeping its `/`), so no value can add
 * a `/`, `?`, `#`, CR or LF. The query is appended unchanged. Throws a {@link GatewayError}
 * `FLT_GATEWAY_CONFIG_INVALID` naming the route and the problem.
 */
export function rewriteTarget(options: RewriteOptions, context: RewriteContext = {}): TargetRewriter {
  const label = context.routeId === undefined ? "rewrite" : `route "${context.routeId}": rewrite`;
  const fail = (what: string): never => {
    throw new GatewayError(GatewayErrorCode.ConfigInvalid, `${label}.${what}`);
  };
  if (options.host !== undefined && (!hostValue.test(options.host) || !isValidHeaderValue(options.host))) {
    fail(`host: "${options.host}" is not a host name with an optional port`);
  }
  const host = options.host;
  if (options.prefix !== undefined && options.template !== undefined)
    fail('prefix: give "prefix" or "template", not both');

  let rewrite: (path: string, query: string, params: Readonly<Record<string, string>>) => string | undefined;
  if (options.template !== undefined) {
    rewrite = compileTemplate(options.template, allowedNames(context.path, fail), fail);
  } else if (options.prefix !== undefined) {
    rewrite = compilePrefix(options.prefix.from, options.prefix.to, fail);
  } else {
    rewrite = (path, query) => path + query;
  }
  return Object.assign(rewrite, { host });
}

function allowedNames(
  path: PathMatchSpec | undefined,
  fail: (what: string) => never,
): Set<string> | undefined {
  if (path === undefined) return undefined;
  if (!("template" in path)) return new Set();
  try {
    const template = parsePathTemplate(path.template);
    const names = new Set<string>();
    for (const segment of template.segments) if ("param" in segment) names.add(segment.param);
    if (template.rest) names.add("*");
    return names;
  } catch (error) {
    return fail(`template: the route's path: ${(error as Error).message}`);
  }
}

function trimSlash(path: string): string {
  return path.endsWith("/") ? path.slice(0, -1) : path;
}

function compilePrefix(
  from: string,
  to: string,
  fail: (what: string) => never,
): (path: string, query: string) => string {
  for (const [name, value] of [
    ["from", from],
    ["to", to],
  ] as const) {
    const trimmed = value.length > 1 ? trimSlash(value) : value;
    const problem = checkConfiguredPath(trimmed);
    if (problem !== undefined) fail(`prefix.${name}: ${problem}`);
  }
  const fromBase = trimSlash(from);
  const fromSlash = `${fromBase}/`;
  const toBase = trimSlash(to);
  return (path, query) => {
    if (path !== fromBase && !path.startsWith(fromSlash)) return path + query;
    const rewritten = toBase + path.slice(fromBase.length);
    return (rewritten === "" ? "/" : rewritten) + query;
  };
}

function compileTemplate(
  template: string,
  allowed: Set<string> | undefined,
  fail: (what: string) => never,
): (path: string, query: string, params: Readonly<Record<string, string>>) => string | undefined {
  const literals: string[] = [];
  const names: string[] = [];
  let probe = "";
  let from = 0;
  for (;;) {
    const open = template.indexOf("{", from);
    const literal = template.slice(from, open === -1 ? undefined : open);
    if (literal.includes("}")) fail(`template: "${template}" has an unmatched "}"`);
    literals.push(literal);
    probe += literal;
    if (open === -1) break;
    const close = template.indexOf("}", open);
    if (close === -1) fail(`template: "${template}" has an unmatched "{"`);
    const name = template.slice(open + 1, close);
    if (!placeholderName.test(name)) fail(`template: bad placeholder "{${name}}"`);
    if (allowed !== undefined && !allowed.has(name))
      fail(`template: "{${name}}" is not a parameter of the route's path`);
    names.push(name);
    probe += "p";
    from = close + 1;
  }
  const problem = checkConfiguredPath(probe);
  if (problem !== undefined)
    fail(`template: "${template}" must be a normalized path starting with "/" (${problem})`);

  const count = names.length;
  return (_path, query, params) => {
    let out = literals[0]!;
    let dotted = false;
    try {
      for (let i = 0; i < count; i++) {
        const name = names[i]!;
        const value = Object.hasOwn(params, name) ? params[name] : undefined;
        if (value === undefined) return undefined;
        const encoded = name === "*" ? encodeRest(value) : encodeURIComponent(value);
        if (encoded === undefined) return undefined;
        if (encoded.includes(".")) dotted = true;
        out += encoded + literals[i + 1]!;
      }
    } catch {
      return undefined; // a lone surrogate: URIError
    }
    if (dotted && dotSegment.test(out)) return undefined;
    return out + query;
  };
}

// A rest keeps its "/" as separators. One that would start with "/" or hold "//" (only possible
// when an encoded slash was let through and decoded) is refused rather than sent unnormalized.
function encodeRest(value: string): string | undefined {
  if (value.indexOf("/") === -1) return encodeURIComponent(value);
  if (value.startsWith("/") || value.includes("//")) return undefined;
  return value.split("/").map(encodeURIComponent).join("/");
}
