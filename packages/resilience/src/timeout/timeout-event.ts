/** Emitted when a call's limit elapses, before the call ends with `error` (or `success`, when a cooperative operation returns a value anyway). */
export interface TimeoutElapsedEvent {
  readonly type: "timeout";
  /** The timeout policy's name. */
  readonly name: string;
  /** The limit that elapsed: the policy's duration, or less when the caller's deadline came first. */
  readonly durationMs: number;
}

/** Emitted when a call returns a value. */
export interface TimeoutSuccessEvent {
  readonly type: "success";
  /** The timeout policy's name. */
  readonly name: string;
  /** Milliseconds from the start of the call to its end. */
  readonly elapsedMs: number;
}

/** Emitted when a call fails: the operation's own error, a `TimeoutError`, or a `DeadlineExceededError` when the caller's deadline was spent before it started. */
export interface TimeoutErrorEvent {
  readonly type: "error";
  /** The timeout policy's name. */
  readonly name: string;
  /** Milliseconds from the start of the call to its end. */
  readonly elapsedMs: number;
  /** What the call rejected with. */
  readonly error: unknown;
}

/** Emitted when the caller's own signal ended the call; not a failure of the operation. */
export interface TimeoutAbortedEvent {
  readonly type: "aborted";
  /** The timeout policy's name. */
  readonly name: string;
  /** Milliseconds from the start of the call to its end. */
  readonly elapsedMs: number;
  /** The caller's abort reason, which the call rejected with. */
  readonly reason: unknown;
}

/**
 * Everything a {@link Timeout} reports through its `events`. Every call ends with exactly one
 * `success`, `error` or `aborted`, preceded by `timeout` when the limit elapsed; a call refused
 * because the caller's signal was already aborted reports nothing.
 */
export type TimeoutEvent =
  | TimeoutElapsedEvent
  | TimeoutSuccessEvent
  | TimeoutErrorEvent
  | TimeoutAbortedEvent;
