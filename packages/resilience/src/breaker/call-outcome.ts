/**
 * The outcome of one recorded call, packed in two bits so that a window can add it to its
 * running totals without branching: bit 0 is "failed", bit 1 is "slow".
 */
export const CallOutcome = {
  SUCCESS: 0,
  FAILURE: 1,
  SLOW_SUCCESS: 2,
  SLOW_FAILURE: 3,
} as const;

/** One of {@link CallOutcome}'s values. */
export type CallOutcome = (typeof CallOutcome)[keyof typeof CallOutcome];

/** Packs a call's classification into a {@link CallOutcome}. */
export function callOutcome(failed: boolean, slow: boolean): CallOutcome {
  return ((failed ? 1 : 0) | (slow ? 2 : 0)) as CallOutcome;
}
