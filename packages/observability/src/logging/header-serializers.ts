import { IncomingMessage, ServerResponse } from "node:http";
import { pino } from "pino";

/** Header names (lower-case) whose values never reach a log line. */
export const secretHeaderNames: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
]);

/** The value written in place of a secret header's. */
export const censored = "[Redacted]";

/**
 * `headers` with the value of every {@link secretHeaderNames} header (in any letter case) replaced
 * by {@link censored}. Returns `headers` itself when there is nothing to hide, a shallow copy
 * otherwise; never changes the object it is given.
 */
export function censorHeaders(headers: unknown): unknown {
  if (typeof headers !== "object" || headers === null || Array.isArray(headers)) return headers;
  let copy: Record<string, unknown> | undefined;
  for (const key in headers) {
    if (secretHeaderNames.has(key) || secretHeaderNames.has(key.toLowerCase())) {
      copy ??= { ...(headers as Record<string, unknown>) };
      copy[key] = censored;
    }
  }
  return copy ?? headers;
}

function withCensoredHeaders(value: unknown): unknown {
  if (value instanceof IncomingMessage) value = pino.stdSerializers.req(value);
  else if (value instanceof ServerResponse) value = pino.stdSerializers.res(value);
  if (typeof value !== "object" || value === null) return value;
  const headers = (value as { headers?: unknown }).headers;
  const safe = censorHeaders(headers);
  return safe === headers ? value : { ...(value as object), headers: safe };
}

/**
 * pino serializers that censor secret headers in the shapes requests and responses are logged in:
 * a top-level `headers` object, and the `headers` of `req`, `res`, `request`, `response` and
 * `upstream`. A Node `IncomingMessage` or `ServerResponse` is first reduced with pino's standard
 * serializers (method, url, headers, remote address; status code, headers).
 *
 * Serializers run only for the keys a line has, so a line without them pays nothing. pino's
 * `redact` with `*.headers.…` wildcard paths for the same shapes was measured at about 7 µs more on
 * every line, with or without headers (against about 1 µs for the whole line without it).
 */
export const headerSerializers: Readonly<Record<string, (value: unknown) => unknown>> = Object.freeze({
  headers: censorHeaders,
  req: withCensoredHeaders,
  res: withCensoredHeaders,
  request: withCensoredHeaders,
  response: withCensoredHeaders,
  upstream: withCensoredHeaders,
});
