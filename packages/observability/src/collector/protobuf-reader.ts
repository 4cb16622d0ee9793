import { OtlpDecodeError } from "./collector-error.js";

/** Protobuf wire types (https://protobuf.dev/programming-guides/encoding/#structure). */
export const WireType = {
  Varint: 0,
  Fixed64: 1,
  LengthDelimited: 2,
  StartGroup: 3,
  EndGroup: 4,
  Fixed32: 5,
} as const;

const wireTypeNames = ["varint", "fixed64", "length-delimited", "start-group", "end-group", "fixed32"];

/** A readable name for a wire type, for error messages. */
export function wireTypeName(wireType: number): string {
  return wireTypeNames[wireType] ?? `unknown (${wireType})`;
}

// Short ASCII strings repeat from span to span (attribute keys and most values, span and scope
// names): a direct-mapped table remembers the last string seen in each slot, so a repeat costs one
// comparison of its bytes instead of a decode and a new string, and every stored span shares one
// copy. The slot comes from the length and three sampled bytes, not from hashing every byte: the
// comparison reads every byte anyway.
const internMaxBytes = 64;
const internSlots = 4096;
const interned: (string | undefined)[] = new Array<string | undefined>(internSlots).fill(undefined);

/** The UTF-8 string in `buf[at, end)`, shared with earlier reads when it is ASCII. */
function shortString(buf: Buffer, at: number, end: number): string {
  const length = end - at;
  if (length === 0) return "";
  const slot =
    (Math.imul(
      length ^ (buf[at]! << 8) ^ (buf[at + (length >>> 1)]! << 16) ^ (buf[end - 1]! << 4),
      0x9e3779b1,
    ) >>>
      20) &
    (internSlots - 1);
  const cached = interned[slot];
  if (cached !== undefined && cached.length === length) {
    let i = 0;
    while (i < length && cached.charCodeAt(i) === buf[at + i]) i++;
    if (i === length) return cached;
  }
  for (let i = at; i < end; i++) if (buf[i]! >= 0x80) return buf.toString("utf8", at, end);
  const decoded = buf.toString("latin1", at, end);
  interned[slot] = decoded;
  return decoded;
}

/** Creates a {@link ProtobufReader} over `bytes`. */
export function protobufReader(bytes: Uint8Array): ProtobufReader {
  return new ProtobufReader(bytes);
}

/**
 * A bounds-checked reader of the protobuf wire format
 * (https://protobuf.dev/programming-guides/encoding/) over one message's bytes. Every read checks
 * the bytes left first and fails with an {@link OtlpDecodeError} naming the offset, never with a
 * `RangeError` or a read past the message. Embedded messages are read through {@link message},
 * which returns a reader confined to the embedded bytes. Strings and byte fields are copied, so
 * nothing that is kept holds on to the request buffer.
 */
export class ProtobufReader {
  readonly #buf: Buffer;
  #pos: number;
  #end: number;
  #hi = 0;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.#buf = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#pos = start;
    this.#end = end;
  }

  /** Offset of the next byte to read, from the start of the outermost buffer. */
  get pos(): number {
    return this.#pos;
  }

  /** True when every byte of this message has been read. */
  get done(): boolean {
    return this.#pos >= this.#end;
  }

  /**
   * Reads a field tag and returns it whole: the field number is `tag >>> 3`, the wire type `tag & 7`.
   * Fails on field number 0 and on wire types that no proto3 message uses.
   */
  tag(): number {
    const at = this.#pos;
    const tag = this.#varint();
    if (this.#hi !== 0 || tag >>> 3 === 0) throw this.#error(at, `invalid field tag ${tag}`);
    const wireType = tag & 7;
    if (wireType === WireType.StartGroup || wireType === WireType.EndGroup) {
      throw this.#error(
        at,
        `field ${tag >>> 3} uses the ${wireTypeName(wireType)} wire type, which is not supported`,
      );
    }
    if (wireType > WireType.Fixed32)
      throw this.#error(at, `field ${tag >>> 3} has invalid wire type ${wireType}`);
    return tag;
  }

  /** A `uint32` or enum varint: the low 32 bits, as protobuf truncates. */
  uint32(): number {
    return this.#varint();
  }

  /** A `bool` varint. */
  bool(): boolean {
    const lo = this.#varint();
    return lo !== 0 || this.#hi !== 0;
  }

  /** An `int64` varint (two's complement): a `number` when it is a safe integer, otherwise a `bigint`. */
  int64(): number | bigint {
    const lo = this.#varint();
    const hi = this.#hi;
    if (hi === 0) return lo;
    const value = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  }

  /** A `fixed64`, unsigned. */
  fixed64(): bigint {
    const at = this.#take(8);
    return this.#buf.readBigUInt64LE(at);
  }

  /** A `fixed32`, unsigned. */
  fixed32(): number {
    const at = this.#take(4);
    return this.#buf.readUInt32LE(at);
  }

  /** A `double`. */
  double(): number {
    const at = this.#take(8);
    return this.#buf.readDoubleLE(at);
  }

  /** A `string` (UTF-8; invalid sequences become U+FFFD). */
  string(): string {
    const length = this.#length();
    const at = this.#take(length);
    return length <= internMaxBytes
      ? shortString(this.#buf, at, at + length)
      : this.#buf.toString("utf8", at, at + length);
  }

  /** A `bytes` field, copied. */
  bytes(): Uint8Array {
    const length = this.#length();
    const at = this.#take(length);
    const copy = new Uint8Array(length);
    copy.set(this.#buf.subarray(at, at + length));
    return copy;
  }

  /** A `bytes` field as lower-case hex, with its length in bytes checked against `expected` (0 passes too). */
  hex(expected: number, field: string): string {
    const start = this.#pos;
    const length = this.#length();
    if (length !== 0 && length !== expected) {
      throw new OtlpDecodeError(field, `expected ${expected} bytes, got ${length} (at offset ${start})`);
    }
    const at = this.#take(length);
    return this.#buf.toString("hex", at, at + length);
  }

  /**
   * Reads a length-delimited embedded message in place: confines this reader to the message's
   * bytes and returns the end to give back to {@link leave} once the message is read. Cheaper than
   * {@link message}, which makes a reader object per message.
   */
  enter(): number {
    const length = this.#length();
    const outerEnd = this.#end;
    this.#end = this.#pos + length;
    return outerEnd;
  }

  /** Returns to the enclosing message after {@link enter}, past the embedded one. */
  leave(outerEnd: number): void {
    this.#pos = this.#end;
    this.#end = outerEnd;
  }

  /** A length-delimited embedded message, as a reader confined to its bytes. */
  message(): ProtobufReader {
    const length = this.#length();
    const at = this.#take(length);
    return new ProtobufReader(this.#buf, at, at + length);
  }

  /** Skips the value of a field with the given wire type (unknown fields, per proto3). */
  skip(wireType: number): void {
    switch (wireType) {
      case WireType.Varint:
        this.#varint();
        return;
      case WireType.Fixed64:
        this.#take(8);
        return;
      case WireType.LengthDelimited:
        this.#take(this.#length());
        return;
      case WireType.Fixed32:
        this.#take(4);
        return;
      default:
        throw this.#error(this.#pos, `cannot skip a field of wire type ${wireType}`);
    }
  }

  /** Fails because a known field arrived with the wrong wire type. */
  wrongWireType(tag: number, field: string, expected: number): never {
    throw new OtlpDecodeError(
      field,
      `has wire type ${wireTypeName(tag & 7)}, expected ${wireTypeName(expected)} (field ${tag >>> 3}, before offset ${this.#pos})`,
    );
  }

  /** Reserves `n` bytes and returns the offset where they start. */
  #take(n: number): number {
    const at = this.#pos;
    if (n > this.#end - at) {
      throw this.#error(at, `truncated: ${n} bytes needed, ${this.#end - at} left`);
    }
    this.#pos = at + n;
    return at;
  }

  /** A length prefix, checked against the bytes left. */
  #length(): number {
    const at = this.#pos;
    const lo = this.#varint();
    const left = this.#end - this.#pos;
    if (this.#hi !== 0 || lo > left) {
      const length = this.#hi * 2 ** 32 + lo;
      throw this.#error(at, `truncated: length ${length} exceeds the ${left} bytes left`);
    }
    return lo;
  }

  /** Reads a varint of up to 10 bytes; returns the low 32 bits unsigned and leaves the high ones in #hi. */
  #varint(): number {
    const buf = this.#buf;
    const start = this.#pos;
    let pos = start;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= this.#end) throw this.#error(start, "truncated varint");
      const b = buf[pos++]!;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi = (b & 0x7f) >>> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if (b < 0x80) {
        this.#pos = pos;
        this.#hi = hi >>> 0;
        return lo >>> 0;
      }
    }
    throw this.#error(start, "varint longer than 10 bytes");
  }

  #error(offset: number, reason: string): OtlpDecodeError {
    return new OtlpDecodeError("", `${reason} (at offset ${offset})`);
  }
}
