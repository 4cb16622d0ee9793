/**
 * A call that failed and was handed to a {@link FallbackQueue} by a `queue` fallback: everything
 * needed to send it again later, as plain JSON-serialisable data. Non-idempotent calls always
 * carry an idempotency key (the client makes one when the caller gave none), so a replay that
 * reaches the callee twice is applied once.
 */
export interface QueuedCall {
  /** The callee service (its registry name). */
  readonly service: string;
  /** The contract route's name, or `undefined` for an untyped `call()`. */
  readonly route: string | undefined;
  readonly method: string;
  /** Path and query string, already built and encoded. */
  readonly path: string;
  /** The request body as sent (JSON text), if any. */
  readonly body: string | undefined;
  /** The `idempotency-key` of the call, if it has one. */
  readonly idempotencyKey: string | undefined;
  /** The semver range the callee must satisfy, if the dependency requires one. */
  readonly versions: string | undefined;
  /** Why the call failed: the error's `code` when it has one, else its message. */
  readonly reason: string;
}

/**
 * Where a `queue` fallback puts calls for later. `@flotilla/messaging` implements it (an outbox
 * whose relay replays each call); tests and simple services can implement it in memory.
 * `enqueue` resolves to the job's id; when it rejects, the call fails with an `AggregateError`
 * holding the original failure and the queue's.
 */
export interface FallbackQueue {
  enqueue(call: QueuedCall): string | PromiseLike<string>;
}
