import { WireType } from "./protobuf-reader.js";

/**
 * A minimal protobuf wire-format writer for the collector's small responses
 * (`ExportTraceServiceResponse`, `google.rpc.Status`): varints, strings, bytes and embedded messages.
 */
export class ProtobufWriter {
  readonly #chunks: Buffer[] = [];
  #length = 0;

  /** Writes an unsigned varint field (`uint32`, `int64` ≥ 0, enums); zero is written too. */
  varint(field: number, value: number): this {
    this.#tag(field, WireType.Varint);
    this.#varint(value);
    return this;
  }

  /** Writes a `string` field. */
  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, "utf8"));
  }

  /** Writes a `bytes` field. */
  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, WireType.LengthDelimited);
    this.#varint(value.length);
    this.#push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    return this;
  }

  /** Writes an embedded message field. */
  message(field: number, message: ProtobufWriter): this {
    return this.bytes(field, message.finish());
  }

  /** The bytes written so far. */
  finish(): Buffer {
    return Buffer.concat(this.#chunks, this.#length);
  }

  #tag(field: number, wireType: number): void {
    this.#varint(field * 8 + wireType);
  }

  #varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`cannot write ${value} as a varint`);
    const bytes: number[] = [];
    let rest = value;
    while (rest >= 0x80) {
      bytes.push((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    bytes.push(rest);
    this.#push(Buffer.from(bytes));
  }

  #push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }
}
