import { ConfigReader } from "@flotilla/resilience";
import type { ServiceInstance } from "../instance.js";
import type { Balancer } from "./balancer.js";
import { type RandomOption, readRandom } from "./balancer-options.js";
import { eligibleInstances } from "./eligible-instances.js";
import type { RandomSource } from "./seeded-random.js";

/** Options of a {@link RoundRobinBalancer}. */
export interface RoundRobinOptions extends RandomOption {
  /**
   * Start the rotation at a random instance (default `true`), as Envoy does, so that many clients
   * started together do not all send their first call to the same instance.
   */
  readonly randomStart?: boolean;
}

interface ResolvedRoundRobinOptions {
  readonly random: RandomSource;
  readonly randomStart: boolean;
}

/** Validates {@link RoundRobinOptions}, recording problems on `reader` under `path`. */
export function parseRoundRobinOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedRoundRobinOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["random", "randomStart"], path);
  return {
    random: readRandom(reader, obj, path),
    randomStart: reader.boolean(obj, "randomStart", path, true),
  };
}

/**
 * Plain round robin: every instance in turn, in membership order, ignoring weights except that
 * weight 0 is never chosen (use {@link WeightedRoundRobinBalancer} for weights). O(1) pick. After an
 * update the rotation goes on from the same position.
 */
export class RoundRobinBalancer implements Balancer {
  readonly algorithm = "round-robin";
  readonly #random: RandomSource;
  readonly #randomStart: boolean;
  #instances: ServiceInstance[] = [];
  #next = 0;
  #started = false;

  /** Validates `options`; throws a `ConfigError` listing every bad one with its path. */
  constructor(options: RoundRobinOptions = {}) {
    const reader = new ConfigReader();
    const resolved = parseRoundRobinOptions(options, reader, "");
    reader.throwIfInvalid();
    this.#random = resolved.random;
    this.#randomStart = resolved.randomStart;
  }

  pick(): ServiceInstance | undefined {
    const instances = this.#instances;
    if (instances.length === 0) return undefined;
    let i = this.#next;
    if (i >= instances.length) i = 0;
    this.#next = i + 1;
    return instances[i];
  }

  update(instances: readonly ServiceInstance[]): void {
    this.#instances = eligibleInstances(instances);
    const n = this.#instances.length;
    if (n === 0) return;
    if (!this.#started) {
      this.#started = true;
      this.#next = this.#randomStart ? Math.floor(this.#random() * n) : 0;
    } else {
      this.#next %= n;
    }
  }
}

/** Creates a {@link RoundRobinBalancer}. */
export function roundRobin(options?: RoundRobinOptions): RoundRobinBalancer {
  return new RoundRobinBalancer(options);
}
