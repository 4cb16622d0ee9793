/**
 * A part's path with placeholders, compiled once: `{userId}` takes the route's path parameter,
 * `{query.limit}` the request's query parameter; values are percent-encoded, a missing one is
 * empty. `"/users/{userId}/orders?limit={query.limit}"`.
 */
export interface PathTemplate {
  /** The template as written. */
  readonly text: string;
  /** The route path parameters it uses (for checking against the route at configuration time). */
  readonly params: readonly string[];
  /** True when it reads the query string. */
  readonly usesQuery: boolean;
  /** The path and query with the placeholders filled in. */
  expand(params: Readonly<Record<string, string>>, query: URLSearchParams | undefined): string;
}

const placeholder = /\{([^{}]*)\}/g;
const namePattern = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Why `text` is not a usable template, or `undefined` when it is. */
export function pathTemplateProblem(text: string): string | undefined {
  if (!text.startsWith("/")) return `expected a path starting with "/", got "${text}"`;
  const stripped = text.replace(placeholder, (_, inner: string) => {
    const name = inner.startsWith("query.") ? inner.slice(6) : inner;
    return namePattern.test(name) ? "" : "\u0000";
  });
  if (stripped.includes("\u0000"))
    return `expected placeholders such as {userId} or {query.limit} in "${text}"`;
  if (stripped.includes("{") || stripped.includes("}")) return `unbalanced "{" or "}" in "${text}"`;
  if (/[\s#]/.test(stripped)) return `whitespace and "#" are not allowed in "${text}"`;
  return undefined;
}

/** Compiles a template; throws a `TypeError` for an invalid one. */
export function compilePathTemplate(text: string): PathTemplate {
  const problem = pathTemplateProblem(text);
  if (problem !== undefined) throw new TypeError(problem);
  return new CompiledPathTemplate(text);
}

type Piece = { readonly literal: string } | { readonly param: string } | { readonly query: string };

class CompiledPathTemplate implements PathTemplate {
  readonly text: string;
  readonly params: readonly string[];
  readonly usesQuery: boolean;
  readonly #pieces: readonly Piece[];

  constructor(text: string) {
    this.text = text;
    const pieces: Piece[] = [];
    const params: string[] = [];
    let last = 0;
    for (const match of text.matchAll(placeholder)) {
      if (match.index > last) pieces.push({ literal: text.slice(last, match.index) });
      const inner = match[1]!;
      if (inner.startsWith("query.")) pieces.push({ query: inner.slice(6) });
      else {
        pieces.push({ param: inner });
        params.push(inner);
      }
      last = match.index + match[0].length;
    }
    if (last < text.length) pieces.push({ literal: text.slice(last) });
    this.#pieces = pieces;
    this.params = params;
    this.usesQuery = pieces.some((piece) => "query" in piece);
  }

  expand(params: Readonly<Record<string, string>>, query: URLSearchParams | undefined): string {
    let out = "";
    for (const piece of this.#pieces) {
      if ("literal" in piece) out += piece.literal;
      else if ("param" in piece)
        out += encodeURIComponent(Object.hasOwn(params, piece.param) ? params[piece.param]! : "");
      else out += encodeURIComponent(query?.get(piece.query) ?? "");
    }
    return out;
  }
}
