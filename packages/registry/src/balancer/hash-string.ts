/**
 * A stable 53-bit hash of a string, the same in every process and on every platform, for the hash
 * balancers ({@link RingHashBalancer}, {@link MaglevBalancer}).
 *
 * It is 64-bit FNV-1a (http://www.isthe.com/chongo/tech/comp/fnv/) over the string's UTF-8 bytes,
 * computed in two 32-bit halves with `Math.imul` (no BigInt, no allocation), then avalanched with
 * MurmurHash3's 32-bit finaliser on each half, because raw FNV spreads a change in the last
 * character poorly into the high bits and ring positions need every bit. The result keeps the
 * low 32 bits whole (`h >>> 0`) and 21 of the high ones, so it is an exact JavaScript integer
 * in `[0, 2^53)`.
 *
 * Lone surrogates hash as U+FFFD, as `TextEncoder` encodes them.
 */
export function hashString(value: string): number {
  fnv1a64(value);
  const lo = fmix32((fnvLo ^ Math.imul(fnvHi, 0x85ebca6b)) >>> 0);
  const hi = fmix32((fnvHi ^ lo) >>> 0);
  return (hi >>> 11) * 4294967296 + lo;
}

/** The raw 64-bit FNV-1a of `value`'s UTF-8 bytes as 16 hex digits; for checking against the reference vectors. */
export function fnv1a64Hex(value: string): string {
  fnv1a64(value);
  return fnvHi.toString(16).padStart(8, "0") + fnvLo.toString(16).padStart(8, "0");
}

let fnvHi = 0;
let fnvLo = 0;

// Leaves the hash in fnvHi/fnvLo (unsigned). The state stays in int32 locals: one round is
// `h = (h ^ byte) × (2^40 + 0x1b3) mod 2^64`, with the high half taking `hi × 0x1b3`, `lo << 8`
// and the carry out of `lo × 0x1b3`, computed from 16-bit halves so nothing leaves int32.
function fnv1a64(value: string): void {
  let hi = 0xcbf29ce4 | 0;
  let lo = 0x84222325 | 0;
  const n = value.length;
  for (let i = 0; i < n; i++) {
    let c = value.charCodeAt(i);
    // The UTF-8 bytes of this code point, first byte lowest.
    let bytes = 0;
    let count = 0;
    if (c < 0x80) {
      bytes = c;
      count = 1;
    } else if (c < 0x800) {
      bytes = 0xc0 | (c >> 6) | ((0x80 | (c & 63)) << 8);
      count = 2;
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < n ? value.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          c = -1;
          bytes =
            0xf0 |
            (cp >> 18) |
            ((0x80 | ((cp >> 12) & 63)) << 8) |
            ((0x80 | ((cp >> 6) & 63)) << 16) |
            ((0x80 | (cp & 63)) << 24);
          count = 4;
        } else {
          c = 0xfffd;
        }
      }
      if (c >= 0) {
        bytes = 0xe0 | (c >> 12) | ((0x80 | ((c >> 6) & 63)) << 8) | ((0x80 | (c & 63)) << 16);
        count = 3;
      }
    }
    for (let k = 0; k < count; k++) {
      lo ^= (bytes >>> (k << 3)) & 0xff;
      const carry = (((lo >>> 16) * 0x1b3 + (((lo & 0xffff) * 0x1b3) >>> 16)) >>> 16) | 0;
      hi = (Math.imul(hi, 0x1b3) + (lo << 8) + carry) | 0;
      lo = Math.imul(lo, 0x1b3);
    }
  }
  fnvHi = hi >>> 0;
  fnvLo = lo >>> 0;
}

// MurmurHash3's fmix32.
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3's 32-bit finaliser, exported for deriving ring points from an instance's hash. */
export function mix32(h: number): number {
  return fmix32(h >>> 0);
}
