import { ConfigReader } from "@flotilla/resilience";
import type { ServiceInstance } from "../instance.js";
import type { Balancer, PickContext } from "./balancer.js";
import { type RandomOption, readRandom } from "./balancer-options.js";
import { byId, eligibleInstances } from "./eligible-instances.js";
import { hashString, mix32 } from "./hash-string.js";
import { radixSortPairs } from "./radix-sort-pairs.js";
import type { RandomSource } from "./seeded-random.js";

/** Options of a {@link RingHashBalancer}. */
export interface RingHashOptions extends RandomOption {
  /**
   * Points on the ring per unit of weight (default 160, as libketama gives a server of average
   * weight): an instance of weight `w` gets `round(virtualNodes × w)` points, at least 1. More
   * points spread keys more evenly and cost memory (8 bytes a point) and update time.
   */
  readonly virtualNodes?: number;
  /**
   * Upper bound on the ring's points (default 2^21). Past it every instance's count is scaled
   * down in proportion, which moves some keys between instances that stayed.
   */
  readonly maxRingSize?: number;
}

interface ResolvedRingHashOptions {
  readonly random: RandomSource;
  readonly virtualNodes: number;
  readonly maxRingSize: number;
}

/** Validates {@link RingHashOptions}, recording problems on `reader` under `path`. */
export function parseRingHashOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedRingHashOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["random", "virtualNodes", "maxRingSize"], path);
  return {
    random: readRandom(reader, obj, path),
    virtualNodes: reader.number(obj, "virtualNodes", path, 160, { integer: true, min: 1, max: 1_000_000 }),
    maxRingSize: reader.number(obj, "maxRingSize", path, 2 ** 21, { integer: true, min: 1, max: 2 ** 26 }),
  };
}

/**
 * Consistent hashing on a ring, Ketama style
 * (https://www.metabrew.com/article/libketama-consistent-hashing-algo-memcached-clients): every
 * instance puts `round(virtualNodes × weight)` points on a 32-bit ring, at positions derived from
 * the hash of its `id`; a call goes to the owner of the first point at or after the hash of
 * `ctx.key` ({@link hashString}), found by binary search in O(log points). When one of N
 * instances leaves, only the keys it owned (about 1/N) move. A pick without a key lands on a
 * random point. Points are laid out in `id` order, so every client with the same membership
 * builds the same ring.
 */
export class RingHashBalancer implements Balancer {
  readonly algorithm = "ring-hash";
  readonly #random: RandomSource;
  readonly #virtualNodes: number;
  readonly #maxRingSize: number;
  #instances: ServiceInstance[] = [];
  #points = new Uint32Array(0);
  #owners = new Int32Array(0);

  /** Validates `options`; throws a `ConfigError` listing every bad one with its path. */
  constructor(options: RingHashOptions = {}) {
    const reader = new ConfigReader();
    const resolved = parseRingHashOptions(options, reader, "");
    reader.throwIfInvalid();
    this.#random = resolved.random;
    this.#virtualNodes = resolved.virtualNodes;
    this.#maxRingSize = resolved.maxRingSize;
  }

  pick(ctx?: PickContext): ServiceInstance | undefined {
    const points = this.#points;
    const size = points.length;
    if (size === 0) return undefined;
    const key = ctx?.key;
    const h = key === undefined ? (this.#random() * 4294967296) >>> 0 : hashString(key) >>> 0;
    let lo = 0;
    let hi = size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.#instances[this.#owners[lo === size ? 0 : lo]!];
  }

  update(instances: readonly ServiceInstance[]): void {
    const eligible = eligibleInstances(instances).sort(byId);
    const n = eligible.length;
    const counts = new Int32Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) total += Math.max(1, Math.round(this.#virtualNodes * eligible[i]!.weight));
    const scale = total > this.#maxRingSize ? this.#maxRingSize / total : 1;
    total = 0;
    for (let i = 0; i < n; i++) {
      counts[i] = Math.max(1, Math.round(this.#virtualNodes * eligible[i]!.weight * scale));
      total += counts[i]!;
    }
    const points = new Uint32Array(total);
    const owners = new Int32Array(total);
    let k = 0;
    for (let i = 0; i < n; i++) {
      const h = hashString(eligible[i]!.id);
      const lo = h >>> 0;
      const hi = Math.floor(h / 4294967296);
      for (let j = 0; j < counts[i]!; j++) {
        points[k] = mix32(lo ^ mix32(hi + Math.imul(j + 1, 0x9e3779b9)));
        owners[k++] = i;
      }
    }
    // Stable, so points that collide stay in owner (id) order and every client agrees.
    [this.#points, this.#owners] = radixSortPairs(points, owners);
    this.#instances = eligible;
  }

  /** Points currently on the ring. */
  get ringSize(): number {
    return this.#points.length;
  }
}

/** Creates a {@link RingHashBalancer}. */
export function ringHash(options?: RingHashOptions): RingHashBalancer {
  return new RingHashBalancer(options);
}
