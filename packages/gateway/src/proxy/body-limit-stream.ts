import { Transform, type TransformCallback } from "node:stream";
import { GatewayError, GatewayErrorCode } from "../chain/gateway-error.js";

/**
 * Passes a request body through while counting it, and fails with `FLT_GATEWAY_BODY_TOO_LARGE`
 * once it grows past `limit`: the guard for chunked bodies, whose size is not known up front.
 */
export class BodyLimitStream extends Transform {
  readonly limit: number;
  #bytes = 0;

  constructor(limit: number) {
    super();
    this.limit = limit;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.limit) {
      callback(bodyTooLarge(this.limit));
      return;
    }
    callback(null, chunk);
  }
}

/** The error of a request body over `limit` bytes. */
export function bodyTooLarge(limit: number): GatewayError {
  return new GatewayError(GatewayErrorCode.BodyTooLarge, `request body is larger than ${limit} bytes`);
}
