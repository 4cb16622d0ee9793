/**
 * Serialises collector data as JSON text: `bigint` as a decimal string (the proto3 JSON mapping of
 * 64-bit integers) and `Uint8Array` as base64.
 */
export function collectorJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === "bigint"
      ? v.toString()
      : v instanceof Uint8Array
        ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64")
        : v,
  );
}
