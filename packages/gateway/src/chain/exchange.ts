import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Identity } from "./identity.js";

/** The request a layer sees: Node's request, plus what routing and earlier layers found out. */
export interface Exchange {
  readonly req: IncomingMessage | Http2ServerRequest;
  readonly res: ServerResponse | Http2ServerResponse;
  /** Upper-case method. */
  readonly method: string;
  /** The request's host without port, lower-case. */
  readonly host: string;
  /** The normalized path, percent-encoded as received but with dot segments resolved; no query. */
  readonly path: string;
  /** The query string including its `?`, or `""`. */
  readonly query: string;
  /** The request headers (lower-case names), as Node parsed them. */
  readonly headers: IncomingHttpHeaders;
  /** The peer's address (the socket's, never a client-supplied header). */
  readonly clientIp: string;
  /** `https` when TLS terminated here. */
  readonly protocol: "http" | "https";
  /** The request id: the client's `x-request-id` when well-formed, else a new one. */
  readonly requestId: string;
  /** The matched route's id. */
  readonly routeId: string;
  /** Path parameters of the matched route (`:userId` → `params.userId`), decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** Set by authentication. */
  identity: Identity | undefined;
  /** Headers to add to the response, set by layers before the upstream answers (CORS, RateLimit). */
  readonly responseHeaders: Record<string, string>;
  /** Headers to add to (or, with `null`, remove from) the upstream request (transforms, identity). */
  readonly upstreamHeaders: Record<string, string | null>;
  /** Replaces the request body sent upstream (a transform that rewrote a JSON body); `undefined` streams the client's. */
  requestBody: Buffer | undefined;
  /** Ask the upstream step for the whole body as a `Buffer` instead of streaming it to the client. */
  bufferResponse: boolean;
  /** `performance.now()` when the request arrived. */
  readonly startedAt: number;
}
