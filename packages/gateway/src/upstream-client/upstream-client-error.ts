import { FlotillaError } from "@flotilla/resilience";

/** Why a request to an upstream failed without a usable response. */
export const UpstreamClientErrorCode = {
  /** No response headers within the attempt's time. */
  HeadersTimeout: "FLT_UPSTREAM_HEADERS_TIMEOUT",
  /** The response body stalled longer than the idle timeout. */
  BodyTimeout: "FLT_UPSTREAM_BODY_TIMEOUT",
  /** The upstream answered something that is not HTTP/1.1 as RFC 9112 allows. */
  BadResponse: "FLT_UPSTREAM_BAD_RESPONSE",
  /** The connection closed before the response was complete. */
  SocketClosed: "FLT_UPSTREAM_SOCKET_CLOSED",
  /** The pool is closed. */
  Closed: "FLT_UPSTREAM_CLIENT_CLOSED",
} as const;

/** One of {@link UpstreamClientErrorCode}'s values. */
export type UpstreamClientErrorCode = (typeof UpstreamClientErrorCode)[keyof typeof UpstreamClientErrorCode];

const kUpstreamClientError = Symbol.for("flotilla.gateway.upstreamClientError");

/** A failed upstream exchange, with a stable code and the low-level cause. */
export class UpstreamClientError extends FlotillaError {
  /** True when the request never reached the upstream's application: safe to send again. */
  readonly unsent: boolean;

  constructor(
    code: UpstreamClientErrorCode,
    message: string,
    options: { cause?: unknown; unsent?: boolean } = {},
  ) {
    super(code, message, { cause: options.cause });
    this.unsent = options.unsent ?? false;
    Object.defineProperty(this, kUpstreamClientError, { value: true });
  }

  // FlotillaError's check answers true for every coded error; this one only for its own kind.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return (
      typeof value === "object" &&
      value !== null &&
      (value as Record<symbol, unknown>)[kUpstreamClientError] === true
    );
  }
}
