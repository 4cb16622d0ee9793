/** One request a gateway part (a composite endpoint) sends to a named upstream. */
export interface UpstreamRequest {
  /** The upstream's name in the gateway configuration. */
  readonly upstream: string;
  readonly method: string;
  /** Path and query, already expanded (`/users/42?limit=5`). */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  /** Aborts the call (the part's timeout or the overall deadline). */
  readonly signal: AbortSignal;
}

/** What an upstream answered, body read in full. */
export interface UpstreamReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/**
 * Sends requests to the gateway's upstreams with their balancing and policies. Composite
 * endpoints take one instead of reaching into the proxy.
 */
export interface UpstreamCaller {
  call(request: UpstreamRequest): Promise<UpstreamReply>;
}
