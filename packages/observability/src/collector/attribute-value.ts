/**
 * An OTLP `AnyValue` as the collector keeps it: strings, booleans, doubles, 64-bit integers (a
 * `number` when it is a safe integer, a `bigint` beyond that), bytes, arrays and key-value lists
 * (nested to a bounded depth), and `null` for an empty `AnyValue`.
 */
export type AttributeValue =
  | string
  | boolean
  | number
  | bigint
  | Uint8Array
  | null
  | readonly AttributeValue[]
  | Attributes;

/**
 * Attributes (`repeated KeyValue`) keyed by name. Objects inherit nothing (their prototype is an
 * empty object without a prototype), so a key such as `__proto__` or `toString` from the wire is an
 * ordinary key and an absent key reads `undefined`. When a key repeats, the last value wins.
 */
export interface Attributes {
  readonly [key: string]: AttributeValue;
}

// `Object.create(null)` would do as well for lookups, but V8 keeps such objects as hash tables from
// the start: about 1 KB for ten attributes, against a fifth of that for an object with a
// prototype, whose spans with the same keys also share one hidden class. The collector holds
// hundreds of thousands of spans.
const attributesPrototype: object = Object.freeze(Object.create(null) as object);

/** A fresh attributes object (see {@link Attributes}) to fill while decoding. */
export function emptyAttributes(): Record<string, AttributeValue> {
  return Object.create(attributesPrototype) as Record<string, AttributeValue>;
}

/** How deep arrays and key-value lists may nest inside one attribute value before decoding fails. */
export const maxAttributeDepth = 16;
