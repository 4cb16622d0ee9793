/** What an {@link OutboxRelay} reports on its `events` stream. */
export type OutboxRelayEvent =
  /** This relay took the lease and publishes from now on. */
  | { readonly type: "leader" }
  /** This relay lost or gave up the lease (`reason` says why) and publishes nothing until it takes it again. */
  | { readonly type: "follower"; readonly reason: string }
  /** The transport confirmed these rows, in order; they are marked sent. */
  | { readonly type: "published"; readonly ids: readonly string[] }
  /** A publish failed; the relay waits `delayMs` and tries the unconfirmed rows again. */
  | {
      readonly type: "publish-failed";
      readonly error: unknown;
      /** Consecutive failures, from 1. */
      readonly attempt: number;
      readonly confirmed: number;
      readonly delayMs: number;
    }
  /** A read found no row ready to publish (rows of transactions still open may exist). */
  | { readonly type: "drained" }
  /** Reading, marking or cleaning up failed on the database. */
  | { readonly type: "error"; readonly error: unknown }
  /** Sent rows older than the retention were deleted. */
  | { readonly type: "cleaned"; readonly deleted: number };
