import type { RandomSource } from "./seeded-random.js";

/**
 * Draws an index with probability proportional to its weight in O(1), with Vose's alias method
 * (https://www.keithschwarz.com/darts-dice-coins/). Built in O(n); one random number per draw:
 * its integer part picks a column, its fraction flips the column's biased coin.
 */
export class AliasTable {
  #prob = new Float64Array(0);
  #alias = new Int32Array(0);
  #n = 0;
  /** True when every weight is the same, so a draw is a plain uniform index. */
  uniform = true;

  /** Rebuilds for `weights[0..n)`, each finite and positive. */
  build(weights: ArrayLike<number>, n: number): void {
    this.#n = n;
    let total = 0;
    let uniform = true;
    for (let i = 0; i < n; i++) {
      total += weights[i]!;
      if (weights[i] !== weights[0]) uniform = false;
    }
    this.uniform = uniform;
    if (uniform) return;
    if (this.#prob.length < n) {
      this.#prob = new Float64Array(n);
      this.#alias = new Int32Array(n);
    }
    const prob = this.#prob;
    const alias = this.#alias;
    const small = new Int32Array(n);
    const large = new Int32Array(n);
    let s = 0;
    let l = 0;
    for (let i = 0; i < n; i++) {
      prob[i] = (weights[i]! * n) / total;
      alias[i] = i;
      if (prob[i]! < 1) small[s++] = i;
      else large[l++] = i;
    }
    while (s > 0 && l > 0) {
      const less = small[--s]!;
      const more = large[--l]!;
      alias[less] = more;
      prob[more] = prob[more]! + prob[less]! - 1;
      if (prob[more]! < 1) small[s++] = more;
      else large[l++] = more;
    }
    // What is left is 1 up to rounding error.
    while (l > 0) prob[large[--l]!] = 1;
    while (s > 0) prob[small[--s]!] = 1;
  }

  /** An index in `[0, n)` drawn by weight; `n` must be at least 1. */
  draw(random: RandomSource): number {
    const u = random() * this.#n;
    const i = u | 0;
    if (this.uniform) return i;
    return u - i < this.#prob[i]! ? i : this.#alias[i]!;
  }
}
