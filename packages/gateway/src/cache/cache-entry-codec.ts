import type { ResponseHeaders } from "../chain/gateway-response.js";
import type { CachedResponse, CacheEntry } from "./cache-entry.js";

// Layout, all integers big-endian:
//   response: u8 1 | u16 status | f64 storedAt | f64 freshUntil | f64 staleUntil | u16 fields
//             | fields × (u16 name length | name | u32 value length | value) | body (the rest)
//   vary:     u8 2 | f64 until | names joined by "," (the rest)
// A header with several values is written as several fields of the same name.
const kResponse = 1;
const kVary = 2;
const responseFixed = 1 + 2 + 8 + 8 + 8 + 2;

/** Serializes an entry into the compact binary form a shared store (Redis) keeps. */
export function encodeCacheEntry(entry: CacheEntry): Buffer {
  if (entry.kind === "vary") {
    const names = entry.names.join(",");
    const out = Buffer.allocUnsafe(9 + Buffer.byteLength(names));
    out[0] = kVary;
    out.writeDoubleBE(entry.until, 1);
    out.write(names, 9);
    return out;
  }
  let size = responseFixed + entry.body.length;
  let fields = 0;
  for (const name in entry.headers) {
    const value = entry.headers[name] as string | readonly string[];
    const nameBytes = Buffer.byteLength(name);
    if (typeof value === "string") {
      size += 6 + nameBytes + Buffer.byteLength(value);
      fields++;
    } else {
      for (const item of value) size += 6 + nameBytes + Buffer.byteLength(item);
      fields += value.length;
    }
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = kResponse;
  out.writeUInt16BE(entry.status, 1);
  out.writeDoubleBE(entry.storedAt, 3);
  out.writeDoubleBE(entry.freshUntil, 11);
  out.writeDoubleBE(entry.staleUntil, 19);
  out.writeUInt16BE(fields, 27);
  let at = responseFixed;
  for (const name in entry.headers) {
    const value = entry.headers[name] as string | readonly string[];
    if (typeof value === "string") at = writeField(out, at, name, value);
    else for (const item of value) at = writeField(out, at, name, item);
  }
  entry.body.copy(out, at);
  return out;
}

function writeField(out: Buffer, at: number, name: string, value: string): number {
  const nameLength = out.write(name, at + 2);
  out.writeUInt16BE(nameLength, at);
  at += 2 + nameLength;
  const valueLength = out.write(value, at + 4);
  out.writeUInt32BE(valueLength, at);
  return at + 4 + valueLength;
}

/**
 * Reads what {@link encodeCacheEntry} wrote; `undefined` for anything malformed (a foreign or
 * truncated value), which the cache treats as a miss. The body shares memory with `data`.
 */
export function decodeCacheEntry(data: Buffer): CacheEntry | undefined {
  try {
    if (data[0] === kVary) {
      if (data.length < 9) return undefined;
      const names = data.toString("utf8", 9);
      return { kind: "vary", until: data.readDoubleBE(1), names: names === "" ? [] : names.split(",") };
    }
    if (data[0] !== kResponse || data.length < responseFixed) return undefined;
    const fields = data.readUInt16BE(27);
    const headers: Record<string, string | string[]> = {};
    let at = responseFixed;
    for (let i = 0; i < fields; i++) {
      const nameLength = data.readUInt16BE(at);
      const name = data.toString("utf8", at + 2, at + 2 + nameLength);
      at += 2 + nameLength;
      const valueLength = data.readUInt32BE(at);
      if (at + 4 + valueLength > data.length) return undefined;
      const value = data.toString("utf8", at + 4, at + 4 + valueLength);
      at += 4 + valueLength;
      const existing = headers[name];
      if (existing === undefined) headers[name] = value;
      else if (typeof existing === "string") headers[name] = [existing, value];
      else existing.push(value);
    }
    const entry: CachedResponse = {
      kind: "response",
      status: data.readUInt16BE(1),
      headers: headers as ResponseHeaders,
      body: data.subarray(at),
      storedAt: data.readDoubleBE(3),
      freshUntil: data.readDoubleBE(11),
      staleUntil: data.readDoubleBE(19),
    };
    return entry;
  } catch {
    return undefined;
  }
}
