/**
 * A source of uniformly distributed numbers in `[0, 1)`, like `Math.random`. Balancers take one as
 * their `random` option so that tests and benchmarks are reproducible.
 */
export type RandomSource = () => number;

/**
 * A small, fast, deterministic {@link RandomSource}: mulberry32 (Tommy Ettinger's 32-bit
 * generator, period 2^32), returning multiples of 2^-32. Good enough for choosing instances and
 * for tests; not for anything secret.
 *
 * ```ts
 * const b = leastRequest({ random: seededRandom(42) });
 * ```
 */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
