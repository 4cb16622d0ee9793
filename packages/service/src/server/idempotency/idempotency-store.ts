/** A response kept for replay: status, headers and the serialised body. */
export interface StoredResponse {
  readonly status: number;
  /** Lower-case names; at least `content-type` when there is a body. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body as sent, or `undefined` for none. */
  readonly body: string | undefined;
}

/** How long a key and its lock last, in milliseconds. */
export interface IdempotencyTimes {
  /** How long the key (and the stored answer) is kept from the first request. */
  readonly windowMs: number;
  /**
   * How long the first request holds the key while it runs. A request that crashed the process
   * leaves its key locked this long; after that a retry may run it again.
   */
  readonly lockMs: number;
}

/** What {@link IdempotencyStore.begin} found. */
export type IdempotencyBegin =
  /** The key was free (or expired): this request runs; finish with `complete` or `release`. */
  | { readonly outcome: "started"; readonly token: string }
  /** The same request is running elsewhere. */
  | { readonly outcome: "in-progress" }
  /** The key was used with another request (other body, params or query). */
  | { readonly outcome: "mismatch" }
  /** The same request finished: replay its answer. */
  | { readonly outcome: "completed"; readonly response: StoredResponse };

/**
 * Where a service keeps the idempotency keys it has seen, per (route, key), for the window. The
 * in-memory store serves one instance; several instances of a service need a shared store such as
 * the PostgreSQL one, so that a retry landing on another instance is still recognised.
 */
export interface IdempotencyStore {
  /**
   * Claims (route, key) for a request with `fingerprint` — atomically, so of two concurrent
   * requests with the same key exactly one starts — or reports what holds it.
   */
  begin(route: string, key: string, fingerprint: string, times: IdempotencyTimes): Promise<IdempotencyBegin>;
  /** Stores the answer of the request that holds `token`; ignored if the key was taken over since. */
  complete(route: string, key: string, token: string, response: StoredResponse): Promise<void>;
  /** Frees a key whose request failed (5xx), so a retry runs again. */
  release(route: string, key: string, token: string): Promise<void>;
  /** Stops timers; the data of an external store stays. */
  close(): Promise<void>;
}
