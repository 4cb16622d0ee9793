/** The strategies of a fallback, in the order they are tried. */
export type FallbackStrategy = "staleCache" | "handler" | "alternative" | "later" | "value";

/**
 * What a fallback reports. `error` is what made the call fall back: the thrown error, or the
 * value that `handleResult` rejected.
 */
export type FallbackEvent =
  /** The operation succeeded; no strategy was needed. */
  | { readonly type: "success"; readonly name: string }
  /** A stored result answered the call; `ageMs` says how old it is. */
  | {
      readonly type: "fallback";
      readonly name: string;
      readonly strategy: "staleCache";
      readonly error: unknown;
      readonly ageMs: number;
    }
  /** The work went to the `later` queue under `id`. */
  | {
      readonly type: "fallback";
      readonly name: string;
      readonly strategy: "later";
      readonly error: unknown;
      readonly id: string;
    }
  /** The handler, the alternative or the constant value answered the call. */
  | {
      readonly type: "fallback";
      readonly name: string;
      readonly strategy: "handler" | "alternative" | "value";
      readonly error: unknown;
    }
  /**
   * The failure was one to handle but no strategy produced a result; `error` is what the caller
   * receives (or, for a rejected result, the result the caller receives).
   */
  | { readonly type: "failure"; readonly name: string; readonly error: unknown };
