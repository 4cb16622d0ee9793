/** A promise with its resolve and reject functions, for operations a test settles by hand. */
export function deferred<T = unknown>(): PromiseWithResolvers<T> {
  return Promise.withResolvers<T>();
}
