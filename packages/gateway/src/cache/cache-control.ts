/** The `Cache-Control` response directives the cache acts on (RFC 9111 §5.2.2, RFC 5861 §4). */
export interface ResponseCacheControl {
  noStore: boolean;
  /** `no-cache`, with or without field names: not stored. */
  noCache: boolean;
  /** `private`, with or without field names: not stored by a shared cache. */
  private: boolean;
  public: boolean;
  mustRevalidate: boolean;
  proxyRevalidate: boolean;
  /** Seconds; `undefined` when absent or malformed. */
  maxAge: number | undefined;
  sMaxAge: number | undefined;
  staleIfError: number | undefined;
}

/** The `Cache-Control` request directives the cache acts on (RFC 9111 §5.2.1). */
export interface RequestCacheControl {
  noStore: boolean;
  noCache: boolean;
  onlyIfCached: boolean;
  /** Seconds; `undefined` when absent or malformed. */
  maxAge: number | undefined;
}

/** Parses a response's `Cache-Control` (several field lines allowed). */
export function parseResponseCacheControl(
  value: string | readonly string[] | undefined,
): ResponseCacheControl {
  const cc: ResponseCacheControl = {
    noStore: false,
    noCache: false,
    private: false,
    public: false,
    mustRevalidate: false,
    proxyRevalidate: false,
    maxAge: undefined,
    sMaxAge: undefined,
    staleIfError: undefined,
  };
  if (value === undefined) return cc;
  forEachDirective(typeof value === "string" ? value : value.join(","), (name, argument) => {
    switch (name) {
      case "no-store":
        cc.noStore = true;
        break;
      case "no-cache":
        cc.noCache = true;
        break;
      case "private":
        cc.private = true;
        break;
      case "public":
        cc.public = true;
        break;
      case "must-revalidate":
        cc.mustRevalidate = true;
        break;
      case "proxy-revalidate":
        cc.proxyRevalidate = true;
        break;
      case "max-age":
        cc.maxAge ??= seconds(argument);
        break;
      case "s-maxage":
        cc.sMaxAge ??= seconds(argument);
        break;
      case "stale-if-error":
        cc.staleIfError ??= seconds(argument);
        break;
    }
  });
  return cc;
}

/** Parses a request's `Cache-Control` (several field lines allowed). */
export function parseRequestCacheControl(value: string | readonly string[] | undefined): RequestCacheControl {
  const cc: RequestCacheControl = { noStore: false, noCache: false, onlyIfCached: false, maxAge: undefined };
  if (value === undefined) return cc;
  forEachDirective(typeof value === "string" ? value : value.join(","), (name, argument) => {
    if (name === "no-store") cc.noStore = true;
    else if (name === "no-cache") cc.noCache = true;
    else if (name === "only-if-cached") cc.onlyIfCached = true;
    else if (name === "max-age") cc.maxAge ??= seconds(argument);
  });
  return cc;
}

// RFC 9111 §5.2: `token [ "=" ( token / quoted-string ) ]`, comma separated, names case-insensitive.
// Commas inside a quoted argument (`no-cache="a, b"`) do not split directives.
function forEachDirective(text: string, visit: (name: string, argument: string | undefined) => void): void {
  let start = 0;
  let quoted = false;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 44;
    if (c === 34) quoted = !quoted;
    else if (c === 92 && quoted) i++;
    else if (c === 44 && (!quoted || i === text.length)) {
      const part = text.slice(start, i);
      start = i + 1;
      const eq = part.indexOf("=");
      const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
      if (name === "") continue;
      let argument = eq < 0 ? undefined : part.slice(eq + 1).trim();
      if (
        argument !== undefined &&
        argument.length >= 2 &&
        argument.startsWith('"') &&
        argument.endsWith('"')
      ) {
        argument = argument.slice(1, -1);
      }
      visit(name, argument);
      quoted = false;
    }
  }
}

// RFC 9111 §1.2.2 delta-seconds: digits only; anything else makes the directive invalid.
function seconds(argument: string | undefined): number | undefined {
  if (argument === undefined || argument.length === 0) return undefined;
  for (let i = 0; i < argument.length; i++) {
    const c = argument.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  return Math.min(Number(argument), 2 ** 31);
}
