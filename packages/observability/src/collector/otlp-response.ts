import { ProtobufWriter } from "./protobuf-writer.js";

/** The two OTLP/HTTP encodings. */
export type OtlpEncoding = "protobuf" | "json";

/** The `content-type` of each encoding. */
export const otlpContentType: Record<OtlpEncoding, string> = {
  protobuf: "application/x-protobuf",
  json: "application/json",
};

/** `ExportTracePartialSuccess`: how many spans were refused and why. */
export interface PartialSuccess {
  readonly rejectedSpans: number;
  readonly errorMessage: string;
}

/** A field that made a request bad (`google.rpc.BadRequest.FieldViolation`). */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** A `google.rpc.Status`, the body of every OTLP/HTTP error response. */
export interface RpcStatus {
  /** A `google.rpc.Code`; OTLP clients only log it. */
  readonly code: number;
  readonly message: string;
  /** Sent as a `google.rpc.BadRequest` detail when present. */
  readonly violations?: readonly FieldViolation[];
}

/** `google.rpc.Code` values the collector uses. */
export const RpcCode = {
  InvalidArgument: 3,
  NotFound: 5,
  ResourceExhausted: 8,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
} as const;

const badRequestType = "type.googleapis.com/google.rpc.BadRequest";

/**
 * Encodes an `ExportTraceServiceResponse` (https://opentelemetry.io/docs/specs/otlp/#full-success):
 * empty on full success, `partial_success` when spans were refused.
 */
export function encodeExportResponse(encoding: OtlpEncoding, partial?: PartialSuccess): Buffer {
  if (encoding === "json") {
    const body =
      partial === undefined
        ? {}
        : // int64 is a decimal string in the proto3 JSON mapping.
          {
            partialSuccess: {
              rejectedSpans: String(partial.rejectedSpans),
              errorMessage: partial.errorMessage,
            },
          };
    return Buffer.from(JSON.stringify(body));
  }
  const writer = new ProtobufWriter();
  if (partial !== undefined) {
    const inner = new ProtobufWriter().varint(1, partial.rejectedSpans);
    if (partial.errorMessage !== "") inner.string(2, partial.errorMessage);
    writer.message(1, inner);
  }
  return writer.finish();
}

/**
 * Encodes a `google.rpc.Status` (https://opentelemetry.io/docs/specs/otlp/#failures-1), with the
 * violations as a `google.rpc.BadRequest` detail.
 */
export function encodeStatus(encoding: OtlpEncoding, status: RpcStatus): Buffer {
  const violations = status.violations ?? [];
  if (encoding === "json") {
    const details =
      violations.length === 0
        ? undefined
        : [{ "@type": badRequestType, fieldViolations: violations.map((v) => ({ ...v })) }];
    return Buffer.from(
      JSON.stringify({ code: status.code, message: status.message, ...(details ? { details } : {}) }),
    );
  }
  const writer = new ProtobufWriter().varint(1, status.code).string(2, status.message);
  if (violations.length > 0) {
    const badRequest = new ProtobufWriter();
    for (const v of violations) {
      badRequest.message(1, new ProtobufWriter().string(1, v.field).string(2, v.description));
    }
    writer.message(3, new ProtobufWriter().string(1, badRequestType).message(2, badRequest));
  }
  return writer.finish();
}
