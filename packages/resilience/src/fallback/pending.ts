const kPending = Symbol.for("flotilla.pending");

/**
 * What a fallback with a `later` strategy returns instead of a result: the work was handed to a
 * queue and will be done later. Check for it with {@link isPending}; an HTTP service typically
 * answers `202 Accepted` with the `id`.
 */
export interface PendingMarker {
  /** Always `true`. */
  readonly pending: true;
  /** The id the queue returned from {@link LaterQueue.enqueue}. */
  readonly id: string;
  /** When the job was queued, on the fallback's clock (monotonic milliseconds, not a wall-clock time). */
  readonly queuedAt: number;
}

/**
 * Where a fallback hands work that could not be done now: an outbox, a job table, a message
 * transport. `enqueue` may be asynchronous; it resolves to the id of the queued job.
 */
export interface LaterQueue {
  /** Stores `job` for later processing and returns (or resolves to) its id. */
  enqueue(job: unknown): string | PromiseLike<string>;
}

/**
 * Builds a frozen {@link PendingMarker}. The marker carries a non-enumerable brand so that
 * {@link isPending} never mistakes a result that merely has `pending: true` for one.
 */
export function pendingMarker(id: string, queuedAt: number): PendingMarker {
  const marker = { pending: true as const, id, queuedAt };
  Object.defineProperty(marker, kPending, { value: true });
  return Object.freeze(marker);
}

/** True when `value` is a {@link PendingMarker} made by a fallback (of any copy of this package). */
export function isPending(value: unknown): value is PendingMarker {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[kPending] === true;
}
