import { type ConfigIssue, FlotillaError, isFlotillaError } from "@flotilla/resilience";

/**
 * The stable error codes of the embedded trace collector. Like every Flotilla error they are
 * recognised by code, not prototype, so guards hold across duplicate copies of the package.
 */
export const CollectorErrorCode = {
  /** An OTLP payload (protobuf, JSON or its gzip wrapping) could not be decoded. HTTP 400. */
  Decode: "FLT_COLLECTOR_DECODE",
  /** A request body, or its decompressed form, is larger than `maxBodyBytes`. HTTP 413. */
  BodyTooLarge: "FLT_COLLECTOR_BODY_TOO_LARGE",
  /** A content type or content encoding the receiver does not speak. HTTP 415. */
  UnsupportedMediaType: "FLT_COLLECTOR_UNSUPPORTED_MEDIA_TYPE",
  /** A trace query (filters, time window) with a bad value. HTTP 400. */
  InvalidQuery: "FLT_COLLECTOR_INVALID_QUERY",
  /** The collector could not bind its host and port. */
  Listen: "FLT_COLLECTOR_LISTEN",
} as const;

/** One of {@link CollectorErrorCode}'s values. */
export type CollectorErrorCode = (typeof CollectorErrorCode)[keyof typeof CollectorErrorCode];

function hasCode(value: unknown, code: string): boolean {
  return isFlotillaError(value) && value.code === code;
}

/**
 * Thrown by the OTLP decoders for bytes or JSON that are not a well-formed
 * `ExportTraceServiceRequest`. `path` names the field (`resource_spans[0].scope_spans[1].spans[3].trace_id`
 * for protobuf, `resourceSpans[0]…traceId` for JSON, `body` for the envelope) and `reason` says what is wrong.
 */
export class OtlpDecodeError extends FlotillaError {
  /** Where the problem is; empty for the message as a whole. */
  readonly path: string;
  /** What is wrong there. */
  readonly reason: string;

  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super(CollectorErrorCode.Decode, path === "" ? reason : `${path}: ${reason}`, options);
    this.path = path;
    this.reason = reason;
  }

  /** The same problem seen from the enclosing message: `segment` is put in front of the path. */
  within(segment: string): OtlpDecodeError {
    const path =
      this.path === ""
        ? segment
        : this.path.startsWith("[")
          ? segment + this.path
          : `${segment}.${this.path}`;
    return new OtlpDecodeError(path, this.reason, { cause: this.cause });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, CollectorErrorCode.Decode);
  }
}

/** Thrown while reading a request whose body exceeds the collector's `maxBodyBytes`. */
export class BodyTooLargeError extends FlotillaError {
  /** The limit that was exceeded, in bytes. */
  readonly limitBytes: number;
  /** True when the decompressed body, not the bytes on the wire, went over the limit. */
  readonly decompressed: boolean;

  constructor(limitBytes: number, decompressed: boolean) {
    super(
      CollectorErrorCode.BodyTooLarge,
      `request body${decompressed ? " after gzip decompression" : ""} exceeds the limit of ${limitBytes} bytes`,
    );
    this.limitBytes = limitBytes;
    this.decompressed = decompressed;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, CollectorErrorCode.BodyTooLarge);
  }
}

/** Thrown for a request whose `content-type` or `content-encoding` the receiver does not accept. */
export class UnsupportedMediaTypeError extends FlotillaError {
  constructor(message: string) {
    super(CollectorErrorCode.UnsupportedMediaType, message);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, CollectorErrorCode.UnsupportedMediaType);
  }
}

/** Thrown by the store's queries for filters with bad values; lists every problem with its parameter. */
export class InvalidTraceQueryError extends FlotillaError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(
      CollectorErrorCode.InvalidQuery,
      `invalid trace query: ${issues.map((i) => `${i.path || "(query)"}: ${i.message}`).join("; ")}`,
    );
    this.issues = issues;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, CollectorErrorCode.InvalidQuery);
  }
}

/** Thrown by `startCollector` when the server cannot listen, for example because the port is taken. */
export class CollectorListenError extends FlotillaError {
  readonly host: string;
  readonly port: number;

  constructor(host: string, port: number, cause: unknown) {
    const code = (cause as { code?: unknown } | null)?.code;
    const why =
      code === "EADDRINUSE"
        ? "the address is already in use"
        : code === "EACCES"
          ? "permission denied"
          : cause instanceof Error
            ? cause.message
            : String(cause);
    super(CollectorErrorCode.Listen, `trace collector cannot listen on ${host}:${port}: ${why}`, { cause });
    this.host = host;
    this.port = port;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasCode(value, CollectorErrorCode.Listen);
  }
}

/** Type guard for {@link OtlpDecodeError} across package copies. */
export const isOtlpDecodeError = (e: unknown): e is OtlpDecodeError => hasCode(e, CollectorErrorCode.Decode);
/** Type guard for {@link BodyTooLargeError} across package copies. */
export const isBodyTooLargeError = (e: unknown): e is BodyTooLargeError =>
  hasCode(e, CollectorErrorCode.BodyTooLarge);
/** Type guard for {@link UnsupportedMediaTypeError} across package copies. */
export const isUnsupportedMediaTypeError = (e: unknown): e is UnsupportedMediaTypeError =>
  hasCode(e, CollectorErrorCode.UnsupportedMediaType);
/** Type guard for {@link InvalidTraceQueryError} across package copies. */
export const isInvalidTraceQueryError = (e: unknown): e is InvalidTraceQueryError =>
  hasCode(e, CollectorErrorCode.InvalidQuery);
/** Type guard for {@link CollectorListenError} across package copies. */
export const isCollectorListenError = (e: unknown): e is CollectorListenError =>
  hasCode(e, CollectorErrorCode.Listen);
