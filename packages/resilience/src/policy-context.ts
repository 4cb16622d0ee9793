import type { Deadline } from "./deadline.js";

/**
 * What a caller hands to `execute` and what each policy hands on to the operation it wraps.
 * Policies that change nothing pass the caller's object through untouched, so a context costs
 * nothing when no policy needs one.
 */
export interface PolicyContext {
  /** Aborts the call. A policy passes on its own signal when it may cancel the operation (timeout, hedging). */
  readonly signal?: AbortSignal | undefined;
  /** The time by which the whole call must finish; nested calls read its remaining budget. */
  readonly deadline?: Deadline | undefined;
  /** 1 for the first call, 2 for the first retry, … (set by retry and hedging). */
  readonly attempt?: number | undefined;
  /** A key for keyed policies: the stale-cache entry of a fallback, the partition of a keyed bulkhead or rate limiter. */
  readonly key?: string | undefined;
}

/** An operation protected by a policy. It receives the context it should honour. */
export type Operation<T> = (context: PolicyContext) => T | PromiseLike<T>;

/** Anything that runs an operation under a policy; every policy and every pipeline is one. */
export interface Policy {
  /** Runs `operation` under this policy. */
  execute<T>(operation: Operation<T>, context?: PolicyContext): Promise<T>;
}

/** The context used when a caller passes none. */
export const emptyContext: PolicyContext = Object.freeze({});
