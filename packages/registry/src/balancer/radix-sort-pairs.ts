/**
 * Sorts `keys` ascending, moving `values` along with them, by a stable LSD radix sort (three
 * passes of 11 bits): O(n), about four times faster than a typed-array sort for the ring's
 * million-odd points. Ties keep their input order. Returns the sorted arrays, which may be the
 * ones passed in or new ones.
 */
export function radixSortPairs(
  keys: Uint32Array<ArrayBuffer>,
  values: Int32Array<ArrayBuffer>,
): [Uint32Array<ArrayBuffer>, Int32Array<ArrayBuffer>] {
  const n = keys.length;
  let srcK = keys;
  let srcV = values;
  let dstK = new Uint32Array(n);
  let dstV = new Int32Array(n);
  const counts = new Uint32Array(2048);
  for (let shift = 0; shift < 33; shift += 11) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(srcK[i]! >>> shift) & 2047]!++;
    let sum = 0;
    for (let d = 0; d < 2048; d++) {
      const c = counts[d]!;
      counts[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = srcK[i]!;
      const at = counts[(k >>> shift) & 2047]!++;
      dstK[at] = k;
      dstV[at] = srcV[i]!;
    }
    [srcK, dstK] = [dstK, srcK];
    [srcV, dstV] = [dstV, srcV];
  }
  return [srcK, srcV];
}
