/**
 * Why `pattern` is not a usable origin pattern, or `undefined` when it is. Patterns are exact
 * origins (`https://app.example.com`, `http://localhost:5173`, `null`) or have `*` as the
 * leftmost host label (`https://*.example.com`), which stands for one or more labels and never
 * for the bare domain.
 */
export function originPatternProblem(pattern: string): string | undefined {
  if (pattern === "null") return undefined;
  const wildcard = pattern.indexOf("*");
  if (wildcard !== -1) {
    const scheme = pattern.indexOf("://");
    if (
      scheme === -1 ||
      wildcard !== scheme + 3 ||
      pattern[wildcard + 1] !== "." ||
      pattern.indexOf("*", wildcard + 1) !== -1
    ) {
      return `expected "*" only as the leftmost host label ("https://*.example.com"), got "${pattern}"`;
    }
  }
  const probe = wildcard === -1 ? pattern : pattern.replace("*", "wildcard");
  let origin: string;
  try {
    origin = new URL(probe).origin;
  } catch {
    return `expected an origin such as "https://app.example.com", got "${pattern}"`;
  }
  if (origin !== probe.toLowerCase()) {
    return `expected an origin (scheme, host and optional port; no path, no trailing slash, no default port), got "${pattern}"`;
  }
  return undefined;
}

/** Decides whether a request's `Origin` is allowed; patterns are compiled once. */
export class OriginMatcher {
  readonly #exact: ReadonlySet<string>;
  readonly #wildcards: RegExp | undefined;

  /** `patterns` must be valid ({@link originPatternProblem}); compare case-insensitively. */
  constructor(patterns: readonly string[]) {
    const exact = new Set<string>();
    const wildcards: string[] = [];
    for (const pattern of patterns) {
      const lower = pattern.toLowerCase();
      if (lower.includes("*")) {
        const [scheme, rest] = lower.split("://*") as [string, string];
        wildcards.push(
          `${escapeRegExp(scheme)}://(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\\.)+${escapeRegExp(rest.slice(1))}`,
        );
      } else {
        exact.add(lower);
      }
    }
    this.#exact = exact;
    this.#wildcards = wildcards.length === 0 ? undefined : new RegExp(`^(?:${wildcards.join("|")})$`, "i");
  }

  /** True when `origin` (the `Origin` header's value) is allowed. */
  matches(origin: string): boolean {
    if (this.#exact.has(origin) || this.#exact.has(origin.toLowerCase())) return true;
    return this.#wildcards?.test(origin) === true;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
