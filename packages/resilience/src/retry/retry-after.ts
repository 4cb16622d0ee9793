/**
 * `Retry-After` (RFC 9110 §10.2.3): how long a server asks the client to wait, read from whatever
 * an HTTP client hands back.
 */

const months: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

// RFC 9110 §5.6.7: IMF-fixdate, and the obsolete rfc850-date and asctime-date that recipients must accept.
const imfFixdate =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const rfc850Date =
  /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const asctimeDate =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/**
 * Parses an HTTP-date (IMF-fixdate, RFC 850 or asctime form) to epoch milliseconds, or `undefined`
 * when the text is none of them or names an impossible date.
 */
export function parseHttpDate(text: string, nowMs?: number): number | undefined {
  let match = imfFixdate.exec(text);
  if (match !== null) return utc(match[3]!, match[2]!, match[1]!, match[4]!, match[5]!, match[6]!);
  match = asctimeDate.exec(text);
  if (match !== null) return utc(match[6]!, match[1]!, match[2]!.trim(), match[3]!, match[4]!, match[5]!);
  match = rfc850Date.exec(text);
  if (match === null) return undefined;
  // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is the most recent past year with those digits.
  const thisYear = new Date(nowMs ?? Date.now()).getUTCFullYear();
  let year = Math.floor(thisYear / 100) * 100 + Number(match[3]);
  if (year > thisYear + 50) year -= 100;
  return utc(String(year), match[2]!, match[1]!, match[4]!, match[5]!, match[6]!);
}

function utc(year: string, month: string, day: string, hour: string, minute: string, second: string) {
  const m = months[month];
  const d = Number(day);
  const h = Number(hour);
  const min = Number(minute);
  const s = Number(second);
  if (m === undefined || d < 1 || h > 23 || min > 59 || s > 60) return undefined;
  const y = Number(year);
  // Date.UTC rolls 31 Feb over into March; such a date is malformed, not early March.
  if (new Date(Date.UTC(y, m, d)).getUTCDate() !== d) return undefined;
  return Date.UTC(y, m, d, h, min, s);
}

/**
 * Reads a `Retry-After` value as a delay in milliseconds: delay-seconds (`"120"`) or an HTTP-date
 * measured from `nowMs` (epoch milliseconds, default `Date.now()`, read only for a date). A date in
 * the past means 0. Returns `undefined` for anything malformed, which callers treat as absent.
 */
export function parseRetryAfter(value: string, nowMs?: number): number | undefined {
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const now = nowMs ?? Date.now();
  const at = parseHttpDate(text, now);
  if (at === undefined) return undefined;
  return at > now ? at - now : 0;
}

/**
 * Headers in any of the shapes HTTP clients use: a plain object (Node's `IncomingHttpHeaders`,
 * undici's `request()` result), anything with `get(name)` (fetch's `Headers`, a `Map` with
 * lower-case keys), or a lookup function.
 */
export type HeadersLike =
  | { readonly get: (name: string) => unknown }
  | ((name: string) => unknown)
  | Readonly<Record<string, unknown>>;

/** The value of header `name` (lower case) in any {@link HeadersLike}; the first one when repeated. */
export function readHeader(headers: unknown, name: string): string | undefined {
  let value: unknown;
  if (typeof headers === "function") value = headers(name);
  else if (typeof headers !== "object" || headers === null) return undefined;
  else if (typeof (headers as { get?: unknown }).get === "function") {
    value = (headers as { get(name: string): unknown }).get(name);
  } else {
    const record = headers as Record<string, unknown>;
    value = record[name];
    if (value === undefined) {
      for (const key of Object.keys(record)) {
        if (key.toLowerCase() === name) {
          value = record[key];
          break;
        }
      }
    }
  }
  if (Array.isArray(value)) value = value[0];
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return undefined;
}

/**
 * The wait, in milliseconds, that an error or a result asks for, or `undefined` when it asks for
 * none. Looked for, in order:
 * - a numeric `retryAfterMs` (Flotilla's `RateLimitedError` and `BreakerOpenError`);
 * - a `Retry-After` header in `headers` (a response, undici's `ResponseError`) or in
 *   `response.headers` (errors of got and axios).
 *
 * @param wallClock - epoch milliseconds, read only when the header is an HTTP-date.
 */
export function retryAfterFrom(source: unknown, wallClock: () => number = Date.now): number | undefined {
  if (typeof source !== "object" || source === null) return undefined;
  const holder = source as { retryAfterMs?: unknown; headers?: unknown; response?: { headers?: unknown } };
  const ms = holder.retryAfterMs;
  if (typeof ms === "number" && ms >= 0) return ms;
  let header = holder.headers === undefined ? undefined : readHeader(holder.headers, "retry-after");
  if (header === undefined) {
    const response = holder.response;
    if (typeof response === "object" && response !== null && response.headers !== undefined) {
      header = readHeader(response.headers, "retry-after");
    }
  }
  if (header === undefined) return undefined;
  const text = header.trim();
  // Delay-seconds is by far the common form; the wall clock is read only for a date.
  return /^\d+$/.test(text) ? Number(text) * 1000 : parseRetryAfter(text, wallClock());
}
