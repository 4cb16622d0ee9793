import { ConfigReader } from "@flotilla/resilience";
import type { ServiceInstance } from "../instance.js";
import { AliasTable } from "./alias-table.js";
import type { Balancer } from "./balancer.js";
import { type RandomOption, readRandom } from "./balancer-options.js";
import { eligibleInstances } from "./eligible-instances.js";
import type { RandomSource } from "./seeded-random.js";

/** Options of a {@link WeightedRandomBalancer}. */
export interface WeightedRandomOptions extends RandomOption {}

/** Validates {@link WeightedRandomOptions}, recording problems on `reader` under `path`. */
export function parseWeightedRandomOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): { readonly random: RandomSource } {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["random"], path);
  return { random: readRandom(reader, obj, path) };
}

/**
 * Weighted random choice: each instance with probability proportional to its weight, in O(1) per
 * pick (Vose's alias table, rebuilt on update; a plain uniform index when all weights are equal).
 */
export class WeightedRandomBalancer implements Balancer {
  readonly algorithm = "random";
  readonly #random: RandomSource;
  readonly #sampler = new AliasTable();
  #instances: ServiceInstance[] = [];

  /** Validates `options`; throws a `ConfigError` listing every bad one with its path. */
  constructor(options: WeightedRandomOptions = {}) {
    const reader = new ConfigReader();
    this.#random = parseWeightedRandomOptions(options, reader, "").random;
    reader.throwIfInvalid();
  }

  pick(): ServiceInstance | undefined {
    const instances = this.#instances;
    if (instances.length === 0) return undefined;
    return instances[this.#sampler.draw(this.#random)];
  }

  update(instances: readonly ServiceInstance[]): void {
    const eligible = eligibleInstances(instances);
    this.#sampler.build(
      eligible.map((i) => i.weight),
      eligible.length,
    );
    this.#instances = eligible;
  }
}

/** Creates a {@link WeightedRandomBalancer}. */
export function weightedRandom(options?: WeightedRandomOptions): WeightedRandomBalancer {
  return new WeightedRandomBalancer(options);
}
