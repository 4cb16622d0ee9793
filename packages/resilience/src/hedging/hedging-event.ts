/** What a hedging policy reports. */
export type HedgingEvent =
  /**
   * Attempt `attempt` (2, 3, …) started: because the attempts before it ran longer than the
   * delay (`trigger: "delay"`), or because one of them failed (`trigger: "failure"`).
   */
  | {
      readonly type: "hedge";
      readonly name: string;
      readonly attempt: number;
      readonly trigger: "delay" | "failure";
    }
  /** Attempt `attempt` won: its result is the call's result, and every other attempt was aborted. */
  | { readonly type: "success"; readonly name: string; readonly attempt: number }
  /** Attempt `attempt` failed while the call was still open. Outcomes after the call settled are not reported. */
  | { readonly type: "error"; readonly name: string; readonly attempt: number; readonly error: unknown }
  /** The call failed with `error` after `attempts` attempts. Not emitted for an abort by the caller. */
  | { readonly type: "failure"; readonly name: string; readonly attempts: number; readonly error: unknown };
