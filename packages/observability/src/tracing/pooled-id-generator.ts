import { randomFillSync } from "node:crypto";
import type { IdGenerator } from "@opentelemetry/sdk-trace";

const poolBytes = 4096;
const zeroTraceId = "0".repeat(32);
const zeroSpanId = "0".repeat(16);

/**
 * Trace and span ids cut from a pool of random hex digits: 4 KiB from `crypto.randomFillSync`,
 * converted to hex at once, serve 256 trace ids, each a slice of the pool string (V8 makes a
 * slice of 13 characters or more a view, not a copy). The SDK's `RandomIdGenerator` writes four
 * `Math.random()` words into a buffer and converts it to hex for every id. An id is never all
 * zeros (invalid per W3C Trace Context).
 *
 * {@link PooledIdGenerator.presetTraceId} lets a caller that already drew a trace id, to ask the
 * sampler about it before any span exists, have the SDK's next root span use that same id.
 * @internal
 */
export class PooledIdGenerator implements IdGenerator {
  readonly #bytes = Buffer.allocUnsafe(poolBytes);
  #pool = "";
  #offset = poolBytes;
  #preset: string | undefined;

  /** A new random trace id: 32 lower-case hex digits. */
  generateTraceId(): string {
    const preset = this.#preset;
    if (preset !== undefined) {
      this.#preset = undefined;
      return preset;
    }
    return this.randomTraceId();
  }

  /** A new random span id: 16 lower-case hex digits. */
  generateSpanId(): string {
    const id = this.#next(8);
    return id === zeroSpanId ? this.generateSpanId() : id;
  }

  /** A random trace id that {@link generateTraceId} does not hand out again. */
  randomTraceId(): string {
    const id = this.#next(16);
    return id === zeroTraceId ? this.randomTraceId() : id;
  }

  /**
   * The last {@link randomTraceId} folded to 32 bits: its four big-endian 32-bit words XORed, the
   * value the SDK's `TraceIdRatioBasedSampler` computes from the hex digits and compares with its
   * bound. Read from the pool's bytes, so deciding on a new root costs no parsing of the id.
   */
  get lastTraceIdFold(): number {
    const at = this.#offset - 16;
    const bytes = this.#bytes;
    return (
      (bytes.readUInt32BE(at) ^
        bytes.readUInt32BE(at + 4) ^
        bytes.readUInt32BE(at + 8) ^
        bytes.readUInt32BE(at + 12)) >>>
      0
    );
  }

  /**
   * Makes the next {@link generateTraceId} call return `traceId`, once; `undefined` withdraws it.
   * Withdraw it after the span was started in any case: a start that never asked for a trace id
   * (a suppressed context) must not leave it to an unrelated span.
   */
  presetTraceId(traceId: string | undefined): void {
    this.#preset = traceId;
  }

  #next(bytes: number): string {
    if (this.#offset + bytes > poolBytes) {
      this.#pool = randomFillSync(this.#bytes).toString("hex");
      this.#offset = 0;
    }
    const at = this.#offset;
    this.#offset = at + bytes;
    return this.#pool.slice(at * 2, (at + bytes) * 2);
  }
}
