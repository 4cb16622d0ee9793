/** Emitted when a call takes a slot, at once or after waiting in the queue. */
export interface BulkheadCallPermittedEvent {
  readonly type: "callPermitted";
  /** The bulkhead's name. */
  readonly name: string;
  /**
   * Milliseconds the call waited in the queue; 0 when a slot was free. Absent for a queued call
   * when nobody listened at the time it was queued and no `maxQueueWait` is set (the clock was not read).
   */
  readonly waitedMs?: number;
}

/**
 * Emitted when a call is refused: `full` when every slot and queue place was taken
 * (`BulkheadFullError`), `queueTimeout` when it waited longer than `maxQueueWait`
 * (`BulkheadQueueTimeoutError`). A call whose own signal aborted is not a rejection.
 */
export interface BulkheadCallRejectedEvent {
  readonly type: "callRejected";
  /** The bulkhead's name. */
  readonly name: string;
  readonly reason: "full" | "queueTimeout";
}

/** Emitted when a call that held a slot settles and gives the slot back (or to the next in the queue). */
export interface BulkheadCallFinishedEvent {
  readonly type: "callFinished";
  /** The bulkhead's name. */
  readonly name: string;
}

/** Everything a {@link Bulkhead} reports through its `events`. */
export type BulkheadEvent =
  | BulkheadCallPermittedEvent
  | BulkheadCallRejectedEvent
  | BulkheadCallFinishedEvent;
