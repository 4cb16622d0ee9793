import { ConfigReader } from "@flotilla/resilience";
import type { ServiceInstance } from "../instance.js";
import type { Balancer } from "./balancer.js";
import { eligibleInstances } from "./eligible-instances.js";

/** Options of a {@link WeightedRoundRobinBalancer}: none yet; unknown keys are still rejected as typos. */
export type WeightedRoundRobinOptions = Record<never, never>;

/** Validates {@link WeightedRoundRobinOptions}, recording problems on `reader` under `path`. */
export function parseWeightedRoundRobinOptions(raw: unknown, reader: ConfigReader, path: string): void {
  reader.knownKeys(reader.object(raw, path), [], path);
}

/**
 * nginx's smooth weighted round robin (`ngx_http_upstream_get_peer` in
 * `src/http/ngx_http_upstream_round_robin.c`, without the failure accounting): each pick
 * adds every instance's weight to its running `current`, chooses the highest `current` (the first
 * one on a tie) and subtracts the total weight from it. Weights 5:1:1 give `a a b a c a a`,
 * spreading the heavy instance's turns instead of sending them in a burst.
 *
 * Exact and deterministic, but O(n) per pick (as in nginx): for large memberships prefer
 * {@link LeastRequestBalancer} or {@link WeightedRandomBalancer}. Each instance's `current` is kept
 * across updates for instances that stay.
 */
export class WeightedRoundRobinBalancer implements Balancer {
  readonly algorithm = "weighted-round-robin";
  #instances: ServiceInstance[] = [];
  #weights = new Float64Array(0);
  #current = new Float64Array(0);
  #total = 0;

  /** Validates `options`; throws a `ConfigError` listing every bad one with its path. */
  constructor(options: WeightedRoundRobinOptions = {}) {
    const reader = new ConfigReader();
    parseWeightedRoundRobinOptions(options, reader, "");
    reader.throwIfInvalid();
  }

  pick(): ServiceInstance | undefined {
    const n = this.#instances.length;
    if (n === 0) return undefined;
    const weights = this.#weights;
    const current = this.#current;
    let best = 0;
    let bestCurrent = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const c = current[i]! + weights[i]!;
      current[i] = c;
      if (c > bestCurrent) {
        bestCurrent = c;
        best = i;
      }
    }
    current[best] = bestCurrent - this.#total;
    return this.#instances[best];
  }

  update(instances: readonly ServiceInstance[]): void {
    const previous = new Map<string, number>();
    for (let i = 0; i < this.#instances.length; i++) previous.set(this.#instances[i]!.id, this.#current[i]!);
    const eligible = eligibleInstances(instances);
    const n = eligible.length;
    const weights = new Float64Array(n);
    const current = new Float64Array(n);
    let total = 0;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const instance = eligible[i]!;
      weights[i] = instance.weight;
      total += instance.weight;
      current[i] = previous.get(instance.id) ?? 0;
      sum += current[i]!;
    }
    // Departed instances take their share of `current` with them; re-centre so the sum stays 0 as nginx keeps it.
    if (sum !== 0) for (let i = 0; i < n; i++) current[i] = current[i]! - sum / n;
    this.#instances = eligible;
    this.#weights = weights;
    this.#current = current;
    this.#total = total;
  }
}

/** Creates a {@link WeightedRoundRobinBalancer}. */
export function weightedRoundRobin(options?: WeightedRoundRobinOptions): WeightedRoundRobinBalancer {
  return new WeightedRoundRobinBalancer(options);
}
