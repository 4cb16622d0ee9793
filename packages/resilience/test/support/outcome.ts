/** The observed state of a promise: filled in when it settles, never left unhandled. */
export interface Outcome<T> {
  settled: boolean;
  value?: T;
  error?: unknown;
}

/** Observes `promise` without ever leaving it unhandled; read the returned object after the clock moves. */
export function outcome<T>(promise: Promise<T>): Outcome<T> {
  const state: Outcome<T> = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}
