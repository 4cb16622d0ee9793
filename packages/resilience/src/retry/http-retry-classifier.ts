import { ConfigReader } from "../config/config-reader.js";
import { isTimeoutError } from "../errors.js";

/**
 * Network error codes retried by default: connections reset, refused or timed out, broken pipes,
 * temporary DNS failures and unreachable hosts, and undici's socket and timeout errors (also when
 * wrapped as the `cause` of fetch's `TypeError: fetch failed`).
 *
 * `ENOTFOUND` is left out on purpose: it is an authoritative "no such name", which a retry a few
 * hundred milliseconds later (from the same resolver cache) will only repeat. Add it through
 * `networkCodes` where names appear during rollouts.
 */
export const defaultRetryableNetworkCodes: readonly string[] = Object.freeze([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/**
 * Codes of failures that happen before a request reaches the server, so that even a request that
 * is not idempotent can be sent again.
 */
export const connectPhaseNetworkCodes: readonly string[] = Object.freeze([
  "ECONNREFUSED",
  "EAI_AGAIN",
  "ENOTFOUND",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** Options of {@link httpRetryClassifier}. */
export interface HttpRetryClassifierOptions {
  /**
   * Whether repeating the request is safe (GET, PUT, DELETE, or a POST with an idempotency key).
   * Default true. When false only failures where the server cannot have acted are retried: the
   * connect-phase codes of {@link connectPhaseNetworkCodes}, 429 and 503 (and 409 when asked);
   * never a reset connection, a timeout, 500, 502 or 504.
   */
  readonly idempotent?: boolean;
  /**
   * Retry 500 Internal Server Error. Default false: a 500 usually reports a bug or a request the
   * handler cannot serve, which fails again and multiplies the load on a struggling service
   * (gRPC likewise retries only UNAVAILABLE by default). Envoy's `5xx` policy does retry it; set
   * true for upstreams known to return 500 for transient faults.
   */
  readonly retry500?: boolean;
  /** Retry 409 Conflict (Envoy's `retriable-4xx`), for optimistic-concurrency conflicts. Default false. */
  readonly retry409?: boolean;
  /** Error codes that count as transient network failures; replaces {@link defaultRetryableNetworkCodes}. */
  readonly networkCodes?: readonly string[];
}

/** The pair of predicates to spread into retry options: `retry({ ...httpRetryClassifier(), maxAttempts: 3 })`. */
export interface HttpRetryClassifier {
  /** True for a transient HTTP or network error; use as `retryOn`. */
  readonly retryOn: (error: unknown, attempt: number) => boolean;
  /** True for a response whose status is transient (a 503 response); use as `retryOnResult`. */
  readonly retryOnResult: (result: unknown) => boolean;
}

const maxCauseDepth = 5;

/**
 * Classifies HTTP outcomes for a retry. Accepts errors and responses in the shapes clients use:
 * a numeric `status` or `statusCode` on the value itself or on its `response` (fetch's `Response`,
 * undici's `request()` result and `ResponseError`, got's and axios's errors), and network errors by
 * their `code`, looked for along the `cause` chain and in an `AggregateError`'s `errors`.
 *
 * Retried by default: 429, 502, 503 and 504; the codes of {@link defaultRetryableNetworkCodes};
 * timeouts (Flotilla's `TimeoutError`, `AbortSignal.timeout`'s `TimeoutError`). Never retried: any
 * other 4xx, 1xx–3xx, 500 unless `retry500`, 409 unless `retry409`, and errors it does not
 * recognise. A `Retry-After` on a 429 or 503 is honoured by the retry itself.
 *
 * Throws a `ConfigError` for bad options.
 */
export function httpRetryClassifier(options: HttpRetryClassifierOptions = {}): HttpRetryClassifier {
  const reader = new ConfigReader();
  const obj = reader.object(options, "");
  reader.knownKeys(obj, ["idempotent", "retry500", "retry409", "networkCodes"], "");
  const idempotent = reader.boolean(obj, "idempotent", "", true);
  const retry500 = reader.boolean(obj, "retry500", "", false);
  const retry409 = reader.boolean(obj, "retry409", "", false);
  let codes = defaultRetryableNetworkCodes;
  if (obj.networkCodes !== undefined) {
    if (Array.isArray(obj.networkCodes) && obj.networkCodes.every((c) => typeof c === "string")) {
      codes = obj.networkCodes as string[];
    } else reader.issue("networkCodes", "expected an array of error code strings");
  }
  reader.throwIfInvalid();

  const statuses = new Set<number>(idempotent ? [429, 502, 503, 504] : [429, 503]);
  if (retry500 && idempotent) statuses.add(500);
  if (retry409) statuses.add(409);
  const networkCodes = new Set(
    idempotent ? codes : codes.filter((c) => connectPhaseNetworkCodes.includes(c)),
  );

  const classify = (value: unknown): boolean => {
    const status = statusOf(value);
    if (status !== undefined) return statuses.has(status);
    return isTransientError(value, networkCodes, idempotent, 0);
  };
  return { retryOn: classify, retryOnResult: classify };
}

let defaultClassifier: HttpRetryClassifier | undefined;

/**
 * True when an error or a response is worth retrying under {@link httpRetryClassifier}'s rules
 * with `options` (the defaults when omitted).
 */
export function isRetryableHttp(value: unknown, options?: HttpRetryClassifierOptions): boolean {
  if (options !== undefined) return httpRetryClassifier(options).retryOnResult(value);
  defaultClassifier ??= httpRetryClassifier();
  return defaultClassifier.retryOnResult(value);
}

function statusOf(value: unknown): number | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const holder = value as { status?: unknown; statusCode?: unknown; response?: unknown };
  let status = holder.status ?? holder.statusCode;
  if (status === undefined && typeof holder.response === "object" && holder.response !== null) {
    const response = holder.response as { status?: unknown; statusCode?: unknown };
    status = response.status ?? response.statusCode;
  }
  return typeof status === "number" && status >= 100 && status <= 599 ? status : undefined;
}

function isTransientError(value: unknown, codes: Set<string>, idempotent: boolean, depth: number): boolean {
  if (typeof value !== "object" || value === null || depth > maxCauseDepth) return false;
  const error = value as { code?: unknown; name?: unknown; cause?: unknown; errors?: unknown };
  if (typeof error.code === "string" && codes.has(error.code)) return true;
  // A timeout may fire after the server acted, so only an idempotent request repeats it.
  if (idempotent && (isTimeoutError(value) || error.name === "TimeoutError")) return true;
  if (Array.isArray(error.errors)) {
    for (const inner of error.errors) if (isTransientError(inner, codes, idempotent, depth + 1)) return true;
  }
  return error.cause !== undefined && isTransientError(error.cause, codes, idempotent, depth + 1);
}
