/**
 * How long to wait before the next attempt, in milliseconds.
 *
 * A backoff is a plain function so that a custom one is a one-liner and the built-in ones cost a
 * call and a little arithmetic. It keeps no state between calls: what a stateful formula needs
 * (decorrelated jitter's previous sleep) is handed in by the retry.
 *
 * @param attempt - the number of the attempt that just failed: 1 for the delay before the second call.
 * @param reason - what made that attempt fail: the thrown error, or the result that `retryOnResult` rejected.
 * @param previousDelay - the delay actually waited before `attempt` (0 before the first retry);
 *   a `Retry-After` that replaced the backoff counts as the delay waited.
 * @returns milliseconds to wait; anything negative or not a number counts as 0.
 */
export type Backoff = (attempt: number, reason: unknown, previousDelay: number) => number;

/** A source of uniformly distributed numbers in `[0, 1)`, like `Math.random`; injected to make jitter reproducible. */
export type RandomSource = () => number;
