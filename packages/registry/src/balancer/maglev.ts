import { ConfigReader } from "@flotilla/resilience";
import type { ServiceInstance } from "../instance.js";
import type { Balancer, PickContext } from "./balancer.js";
import { joinPath, type RandomOption, readRandom } from "./balancer-options.js";
import { byId, eligibleInstances } from "./eligible-instances.js";
import { hashString } from "./hash-string.js";
import type { RandomSource } from "./seeded-random.js";

/** Options of a {@link MaglevBalancer}. */
export interface MaglevOptions extends RandomOption {
  /**
   * Entries in the lookup table, a prime (default 65537, as Envoy). Keep it well above 100× the
   * number of instances for even shares; an instance past the table's size gets no entry.
   */
  readonly tableSize?: number;
}

interface ResolvedMaglevOptions {
  readonly random: RandomSource;
  readonly tableSize: number;
}

/** Validates {@link MaglevOptions}, recording problems on `reader` under `path`. */
export function parseMaglevOptions(raw: unknown, reader: ConfigReader, path: string): ResolvedMaglevOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["random", "tableSize"], path);
  const tableSize = reader.number(obj, "tableSize", path, 65537, { integer: true, min: 3, max: 5_000_011 });
  if (Number.isInteger(tableSize) && !isPrime(tableSize)) {
    reader.issue(joinPath(path, "tableSize"), `must be a prime (such as 65537 or 655373), got ${tableSize}`);
  }
  return { random: readRandom(reader, obj, path), tableSize };
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/**
 * Google's Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4,
 * https://research.google/pubs/maglev-a-fast-and-reliable-software-network-load-balancer/) with
 * Envoy's weighting: on update every instance walks its own permutation of a prime-sized table
 * (offset and skip from the hash of its `id`) and claims free entries in turn, in proportion to
 * its weight, until the table is full; a pick is one hash of `ctx.key` and one table read, O(1).
 * Shares are even to within about `instances / tableSize`, and when one of N instances leaves
 * little more than its own 1/N of keys move. A pick without a key reads a random entry.
 */
export class MaglevBalancer implements Balancer {
  readonly algorithm = "maglev";
  readonly #random: RandomSource;
  readonly #size: number;
  #instances: ServiceInstance[] = [];
  #table = new Int32Array(0);

  /** Validates `options`; throws a `ConfigError` listing every bad one with its path. */
  constructor(options: MaglevOptions = {}) {
    const reader = new ConfigReader();
    const resolved = parseMaglevOptions(options, reader, "");
    reader.throwIfInvalid();
    this.#random = resolved.random;
    this.#size = resolved.tableSize;
  }

  pick(ctx?: PickContext): ServiceInstance | undefined {
    const table = this.#table;
    if (table.length === 0) return undefined;
    const key = ctx?.key;
    const slot =
      key === undefined ? (this.#random() * table.length) | 0 : (hashString(key) >>> 0) % table.length;
    return this.#instances[table[slot]!];
  }

  update(instances: readonly ServiceInstance[]): void {
    const eligible = eligibleInstances(instances).sort(byId);
    const n = eligible.length;
    this.#instances = eligible;
    if (n === 0) {
      this.#table = new Int32Array(0);
      return;
    }
    const m = this.#size;
    const position = new Float64Array(n);
    const skip = new Float64Array(n);
    const weight = new Float64Array(n);
    const target = new Float64Array(n);
    let maxWeight = 0;
    for (let i = 0; i < n; i++) {
      const h = hashString(eligible[i]!.id);
      position[i] = h % m;
      skip[i] = (Math.floor(h / m) % (m - 1)) + 1;
      weight[i] = eligible[i]!.weight;
      if (weight[i]! > maxWeight) maxWeight = weight[i]!;
    }
    const table = new Int32Array(m).fill(-1);
    let filled = 0;
    // Envoy's weighted fill: an instance of weight w takes a turn in `w / maxWeight` of the rounds.
    for (let round = 1; filled < m; round++) {
      for (let i = 0; i < n && filled < m; i++) {
        if (round * weight[i]! < target[i]!) continue;
        target[i] = target[i]! + maxWeight;
        let c = position[i]!;
        while (table[c] !== -1) c = (c + skip[i]!) % m;
        table[c] = i;
        position[i] = (c + skip[i]!) % m;
        filled++;
      }
    }
    this.#table = table;
  }
}

/** Creates a {@link MaglevBalancer}. */
export function maglev(options?: MaglevOptions): MaglevBalancer {
  return new MaglevBalancer(options);
}
