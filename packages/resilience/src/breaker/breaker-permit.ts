declare const permitBrand: unique symbol;

/**
 * A permission to make one call, from `tryAcquirePermission()` / `acquirePermission()`. Hand it
 * back exactly once, to `onSuccess`, `onResult`, `onError` or `releasePermission`. It names the
 * state generation in which it was granted, so the result of a call that began before a state
 * transition is never recorded in the new state's window.
 */
export type BreakerPermit = number & { readonly [permitBrand]: true };
