/**
 * The request methods that OpenTelemetry's HTTP semantic conventions call "known": those of
 * RFC 9110 §9, PATCH (RFC 5789) and QUERY. Any other value is reported as {@link otherHttpMethod}.
 */
export const knownHttpMethods: ReadonlySet<string> = new Set([
  "CONNECT",
  "DELETE",
  "GET",
  "HEAD",
  "OPTIONS",
  "PATCH",
  "POST",
  "PUT",
  "QUERY",
  "TRACE",
]);

/** The value that stands for every method outside {@link knownHttpMethods}. */
export const otherHttpMethod = "_OTHER";

/**
 * The `http_request_method` label value for `method`: the method itself when it is known, else
 * `_OTHER`. Method names are case-sensitive, so `get` is `_OTHER` too.
 * https://opentelemetry.io/docs/specs/semconv/http/http-spans/#common-attributes (http.request.method)
 */
export function httpMethodLabel(method: string | undefined): string {
  return method !== undefined && knownHttpMethods.has(method) ? method : otherHttpMethod;
}
