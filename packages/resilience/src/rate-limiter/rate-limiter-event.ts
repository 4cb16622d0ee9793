import type { GcraLimiter } from "./gcra-limiter.js";
import type { RateLimiter } from "./rate-limiter.js";

/**
 * Events of a {@link RateLimiter}, named as Resilience4j names them
 * (`RateLimiterOnSuccessEvent`, `RateLimiterOnFailureEvent`, `RateLimiterOnDrainedEvent`).
 */
export type RateLimiterEvent =
  | {
      /** A caller got its permits; emitted once any wait for a reserved permit is over. */
      readonly type: "successfulAcquire";
      readonly name: string;
      readonly permits: number;
      /** How long the caller waited (or, for `reservePermission`, must wait) for a future cycle. */
      readonly waitedMs: number;
    }
  | {
      /**
       * A caller did not get its permits: `rejected` when no permit was available within the
       * timeout (or the call's deadline), `aborted` when its signal aborted the wait.
       */
      readonly type: "failedAcquire";
      readonly name: string;
      readonly permits: number;
      readonly reason: "rejected" | "aborted";
      /** For `rejected`, the wait that was refused; for `aborted`, the wait that was left. */
      readonly retryAfterMs: number;
    }
  | {
      /** `drainPermissions` took the permits left in the current cycle. */
      readonly type: "drained";
      readonly name: string;
      /** How many permits were drained. */
      readonly permits: number;
    };

/** Events of a {@link GcraLimiter}, one per decision. */
export type GcraLimiterEvent =
  | {
      /** The request conformed and its permits were taken. */
      readonly type: "successfulAcquire";
      readonly name: string;
      readonly key: string;
      readonly permits: number;
      /** Single permits left for the key. */
      readonly remaining: number;
    }
  | {
      /** The request was refused; the key's bucket is unchanged. */
      readonly type: "failedAcquire";
      readonly name: string;
      readonly key: string;
      readonly permits: number;
      readonly retryAfterMs: number;
    };
