import type { IncomingMessage, ServerResponse } from "node:http";
import { collectSpans } from "./collect-spans.js";
import {
  isBodyTooLargeError,
  isOtlpDecodeError,
  isUnsupportedMediaTypeError,
  UnsupportedMediaTypeError,
} from "./collector-error.js";
import { decodeTraceRequestJson } from "./otlp-json-decoder.js";
import { decodeTraceRequestProtobuf } from "./otlp-protobuf-decoder.js";
import {
  encodeExportResponse,
  encodeStatus,
  type OtlpEncoding,
  otlpContentType,
  type PartialSuccess,
  RpcCode,
  type RpcStatus,
} from "./otlp-response.js";
import { readRequestBody } from "./read-request-body.js";
import type { SpanStore } from "./span-store.js";

/** What an {@link OtlpTraceReceiver} needs. */
export interface OtlpTraceReceiverOptions {
  readonly store: SpanStore;
  /** Largest body accepted, on the wire and after decompression. */
  readonly maxBodyBytes: number;
  /** Exports handled at once; more are answered 429 with `Retry-After`, which OTLP clients retry. */
  readonly maxConcurrentExports: number;
}

/** Counters of a receiver. */
export interface OtlpTraceReceiverStats {
  readonly requests: number;
  readonly acceptedSpans: number;
  readonly rejectedSpans: number;
  /** Requests answered 4xx or 5xx. */
  readonly failedRequests: number;
}

const maxReasonsInMessage = 5;

/** Creates an {@link OtlpTraceReceiver}. */
export function otlpTraceReceiver(options: OtlpTraceReceiverOptions): OtlpTraceReceiver {
  return new OtlpTraceReceiver(options);
}

/**
 * The OTLP/HTTP trace endpoint (`POST /v1/traces`, https://opentelemetry.io/docs/specs/otlp/#otlphttp):
 * protobuf or JSON bodies, optionally gzip-compressed, answered in the request's encoding — 200 with
 * an `ExportTraceServiceResponse` (with `partial_success` when spans were refused), or a
 * `google.rpc.Status`: 400 for undecodable data, 413 for a body over the limit, 415 for an unknown
 * content type or encoding, 429 when too many exports are in flight.
 */
export class OtlpTraceReceiver {
  readonly #options: OtlpTraceReceiverOptions;
  #inFlight = 0;
  #requests = 0;
  #acceptedSpans = 0;
  #rejectedSpans = 0;
  #failedRequests = 0;

  constructor(options: OtlpTraceReceiverOptions) {
    this.#options = options;
  }

  /** Counters since the receiver was made. */
  stats(): OtlpTraceReceiverStats {
    return {
      requests: this.#requests,
      acceptedSpans: this.#acceptedSpans,
      rejectedSpans: this.#rejectedSpans,
      failedRequests: this.#failedRequests,
    };
  }

  /** Handles one `POST /v1/traces`. Never rejects: every failure becomes a response. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#requests++;
    const encoding = encodingOf(req.headers["content-type"]);
    if (encoding === undefined) {
      const type = req.headers["content-type"];
      const error = new UnsupportedMediaTypeError(
        type === undefined
          ? "missing content-type; use application/x-protobuf or application/json"
          : `content-type "${type}" is not supported; use application/x-protobuf or application/json`,
      );
      this.#fail(res, 415, "json", { code: RpcCode.InvalidArgument, message: error.message });
      return;
    }
    if (this.#inFlight >= this.#options.maxConcurrentExports) {
      res.setHeader("retry-after", "1");
      this.#fail(res, 429, encoding, {
        code: RpcCode.ResourceExhausted,
        message: `too many exports in flight (${this.#options.maxConcurrentExports}); retry later`,
      });
      return;
    }
    this.#inFlight++;
    try {
      const read = await readRequestBody(req, this.#options.maxBodyBytes);
      if (!read.ok) {
        if (!read.drained) res.setHeader("connection", "close");
        this.#failOnRead(res, encoding, read.error);
        if (!read.drained) res.once("finish", () => req.socket.destroy());
        return;
      }
      let request: ReturnType<typeof decodeTraceRequestJson>;
      try {
        request =
          encoding === "json" ? decodeTraceRequestJson(read.body) : decodeTraceRequestProtobuf(read.body);
      } catch (error) {
        if (!isOtlpDecodeError(error)) throw error;
        this.#fail(res, 400, encoding, {
          code: RpcCode.InvalidArgument,
          message: `cannot decode the ${encoding === "json" ? "OTLP/JSON" : "protobuf"} ExportTraceServiceRequest: ${error.message}`,
          violations: [{ field: error.path || "body", description: error.reason }],
        });
        return;
      }
      const batch = collectSpans(request);
      const added = this.#options.store.add(batch.spans);
      const rejected = batch.rejections.length + added.rejected;
      this.#acceptedSpans += added.accepted + added.duplicates;
      this.#rejectedSpans += rejected;
      let partial: PartialSuccess | undefined;
      if (rejected > 0) {
        const reasons = batch.rejections.slice(0, maxReasonsInMessage).map((r) => `${r.path}: ${r.reason}`);
        if (batch.rejections.length > maxReasonsInMessage) {
          reasons.push(`${batch.rejections.length - maxReasonsInMessage} more`);
        }
        if (added.rejected > 0) {
          const traces = added.rejectedTraces.slice(0, maxReasonsInMessage).join(", ");
          reasons.push(
            `${added.rejected} spans over maxSpansPerTrace (${this.#options.store.options.maxSpansPerTrace}) in trace ${traces}`,
          );
        }
        partial = {
          rejectedSpans: rejected,
          errorMessage: `${rejected} spans rejected: ${reasons.join("; ")}`,
        };
      }
      send(res, 200, encoding, encodeExportResponse(encoding, partial));
    } catch (error) {
      this.#fail(res, 500, encoding, {
        code: RpcCode.Internal,
        message: `internal error: ${error instanceof Error ? error.message : String(error)}`,
      });
    } finally {
      this.#inFlight--;
    }
  }

  #failOnRead(res: ServerResponse, encoding: OtlpEncoding, error: unknown): void {
    if (isBodyTooLargeError(error)) {
      this.#fail(res, 413, encoding, { code: RpcCode.ResourceExhausted, message: error.message });
    } else if (isUnsupportedMediaTypeError(error)) {
      this.#fail(res, 415, encoding, { code: RpcCode.InvalidArgument, message: error.message });
    } else if (isOtlpDecodeError(error)) {
      this.#fail(res, 400, encoding, {
        code: RpcCode.InvalidArgument,
        message: error.message,
        violations: [{ field: error.path || "body", description: error.reason }],
      });
    } else {
      // The client went away mid-body; there is nobody to answer.
      this.#failedRequests++;
      res.destroy();
    }
  }

  #fail(res: ServerResponse, status: number, encoding: OtlpEncoding, body: RpcStatus): void {
    this.#failedRequests++;
    send(res, status, encoding, encodeStatus(encoding, body));
  }
}

function send(res: ServerResponse, status: number, encoding: OtlpEncoding, body: Buffer): void {
  if (res.headersSent || res.destroyed) return;
  res.statusCode = status;
  res.setHeader("content-type", otlpContentType[encoding]);
  res.setHeader("content-length", body.length);
  res.end(body);
}

/** The encoding named by a `content-type` header (parameters and case ignored), or undefined. */
function encodingOf(contentType: string | undefined): OtlpEncoding | undefined {
  const type = contentType?.split(";")[0]?.trim().toLowerCase();
  if (type === "application/x-protobuf" || type === "application/protobuf") return "protobuf";
  if (type === "application/json") return "json";
  return undefined;
}
