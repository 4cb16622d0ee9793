/**
 * True for a native promise or any other thenable, so that a policy can take the synchronous
 * path for an operation that returned a plain value.
 * @internal
 */
export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    value instanceof Promise ||
    (value !== null &&
      (typeof value === "object" || typeof value === "function") &&
      typeof (value as PromiseLike<T>).then === "function")
  );
}
