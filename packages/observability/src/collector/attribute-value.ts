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
 * Attributes (`repeated KeyValue`) keyed by name. Objects are created without a prototype, so a key such
 * as `__proto__` from the wire is an ordinary key. When a key repeats, the last value wins.
 */
export interface Attributes {
  readonly [key: string]: AttributeValue;
}

/** A fresh, prototype-less attributes object to fill while decoding. */
export function emptyAttributes(): Record<string, AttributeValue> {
  return Object.create(null) as Record<string, AttributeValue>;
}

/** How deep arrays and key-value lists may nest inside one attribute value before decoding fails. */
export const maxAttributeDepth = 16;
