/** A path parameter's value as a caller may give it. */
type ParamValue = string | number | boolean | bigint;

/** One piece of a compiled template: literal text, or a parameter to encode. */
type Piece =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "param"; readonly name: string; readonly optional: boolean; readonly wildcard: boolean };

/**
 * A route's path template (Fastify syntax: `/reservations/:sku`, `/files/*`, `/a/:id?`,
 * `/time/::hour` for a literal colon, `/:id(^\\d+)` with the regular expression ignored), compiled
 * once so that building a path is a loop of string concatenations. Each value is
 * `encodeURIComponent`-encoded; the wildcard's value keeps its slashes.
 */
export class PathTemplate {
  /** The template as written. */
  readonly template: string;
  /** The parameter names, in order (`*` for the wildcard). */
  readonly params: readonly string[];
  readonly #pieces: readonly Piece[];
  /** The whole path when the template has no parameters. */
  readonly #static: string | undefined;
  #pattern: RegExp | undefined = undefined;

  constructor(template: string) {
    this.template = template;
    const pieces = parse(template);
    this.#pieces = pieces;
    this.params = pieces.flatMap((p) => (p.kind === "param" ? [p.name] : []));
    const first = pieces[0];
    this.#static =
      first === undefined ? "" : pieces.length === 1 && first.kind === "text" ? first.text : undefined;
  }

  /**
   * The parameters of `path` (without its query string) if it matches the template, each value
   * decoded as the router decodes it; `undefined` when it does not match, and the parameter's
   * name (a string) when its value's percent-encoding is invalid.
   */
  match(path: string): Record<string, string> | string | undefined {
    const pieces = this.#pieces;
    if (this.#static !== undefined) return path === this.#static ? {} : undefined;
    this.#pattern ??= compile(pieces);
    const found = this.#pattern.exec(path);
    if (found === null) return undefined;
    const params: Record<string, string> = {};
    let group = 1;
    for (const piece of pieces) {
      if (piece.kind !== "param") continue;
      const raw = found[group++];
      if (raw === undefined) continue;
      try {
        params[piece.name] = piece.wildcard
          ? raw.split("/").map(decodeURIComponent).join("/")
          : decodeURIComponent(raw);
      } catch {
        return piece.name;
      }
    }
    return params;
  }

  /**
   * The path for `params`. Returns the name of the first required parameter that is missing (or
   * not a string, number, boolean or bigint) as `{ missing }` instead of throwing, so that the
   * caller can raise its own typed error.
   */
  build(params: Readonly<Record<string, unknown>> | undefined): string | { readonly missing: string } {
    if (this.#static !== undefined) return this.#static;
    let path = "";
    for (const piece of this.#pieces) {
      if (piece.kind === "text") {
        path += piece.text;
        continue;
      }
      const value = params?.[piece.name];
      if (!isParamValue(value)) {
        if (value === undefined && piece.optional) {
          // An optional last parameter leaves out its segment and the slash before it.
          if (path.endsWith("/")) path = path.slice(0, -1);
          continue;
        }
        return { missing: piece.name };
      }
      const text = String(value);
      path += piece.wildcard ? text.split("/").map(encodeURIComponent).join("/") : encodeURIComponent(text);
    }
    return path;
  }
}

/** Compiles `template`; see {@link PathTemplate}. */
export function pathTemplate(template: string): PathTemplate {
  return new PathTemplate(template);
}

function isParamValue(value: unknown): value is ParamValue {
  const type = typeof value;
  return type === "string" || type === "number" || type === "boolean" || type === "bigint";
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The template as one anchored regular expression, a group per parameter. */
function compile(pieces: readonly Piece[]): RegExp {
  let source = "^";
  for (const piece of pieces) {
    if (piece.kind === "text") source += escapeRegExp(piece.text);
    else if (piece.wildcard) source += "(.*)";
    else if (piece.optional) source = `${source.endsWith("/") ? source.slice(0, -1) : source}(?:/([^/]+))?`;
    else source += "([^/]+)";
  }
  return new RegExp(`${source}$`);
}

// As find-my-way: a parameter's name ends at `/`, `-`, `.`, `(` or `?`.
const nameChar = /[A-Za-z0-9_$]/;

function parse(template: string): Piece[] {
  const pieces: Piece[] = [];
  let text = "";
  let i = 0;
  while (i < template.length) {
    const ch = template[i]!;
    if (ch === ":" && template[i + 1] === ":") {
      text += ":";
      i += 2;
      continue;
    }
    if (ch === "*") {
      if (text !== "") pieces.push({ kind: "text", text });
      text = "";
      pieces.push({ kind: "param", name: "*", optional: false, wildcard: true });
      i++;
      continue;
    }
    const startsParam =
      ch === ":" &&
      (i === 0 || template[i - 1] === "/" || template[i - 1] === "-" || template[i - 1] === ".");
    if (!startsParam) {
      text += ch;
      i++;
      continue;
    }
    let j = i + 1;
    while (j < template.length && nameChar.test(template[j]!)) j++;
    const name = template.slice(i + 1, j);
    if (template[j] === "(") {
      // Skip the parameter's regular expression, which may itself contain parentheses.
      let depth = 0;
      for (; j < template.length; j++) {
        if (template[j] === "\\") j++;
        else if (template[j] === "(") depth++;
        else if (template[j] === ")" && --depth === 0) {
          j++;
          break;
        }
      }
    }
    let optional = false;
    if (template[j] === "?") {
      optional = true;
      j++;
    }
    if (text !== "") pieces.push({ kind: "text", text });
    text = "";
    pieces.push({ kind: "param", name, optional, wildcard: false });
    i = j;
  }
  if (text !== "") pieces.push({ kind: "text", text });
  return pieces;
}
