/** Response header values as the gateway keeps them: lower-case names. */
export type ResponseHeaders = Record<string, string | readonly string[]>;

/**
 * What a layer's `next()` resolves to and what a layer that answers by itself returns.
 *
 * A response the proxy streamed straight to the client has `streamed: true` and no `body`; it
 * is already written and layers can only observe it. A layer that needs the upstream body (the
 * cache, transforms, BFF shaping) sets `exchange.bufferResponse = true` before calling `next()`
 * and then receives the whole body as a `Buffer` it may change before returning.
 */
export interface GatewayResponse {
  readonly status: number;
  readonly headers: ResponseHeaders;
  readonly body: Buffer | undefined;
  readonly streamed: boolean;
}

/** A response the server still has to write. */
export function bufferedResponse(
  status: number,
  headers: ResponseHeaders,
  body: Buffer | undefined,
): GatewayResponse {
  return { status, headers, body, streamed: false };
}
