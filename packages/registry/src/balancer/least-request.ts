import { ConfigReader } from "@flotilla/resilience";
import type { ServiceInstance } from "../instance.js";
import { AliasTable } from "./alias-table.js";
import type { Balancer } from "./balancer.js";
import { type RandomOption, readRandom } from "./balancer-options.js";
import { reconcileSlots } from "./instance-slots.js";
import type { RandomSource } from "./seeded-random.js";

/** Options of a {@link LeastRequestBalancer}. */
export interface LeastRequestOptions extends RandomOption {}

/** Validates {@link LeastRequestOptions}, recording problems on `reader` under `path`. */
export function parseLeastRequestOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): { readonly random: RandomSource } {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["random"], path);
  return { random: readRandom(reader, obj, path) };
}

class Slot {
  instance: ServiceInstance;
  weight: number;
  active = 0;

  constructor(instance: ServiceInstance) {
    this.instance = instance;
    this.weight = instance.weight;
  }
}

/**
 * Least request with the power of two choices, the default balancer, as Envoy's `LEAST_REQUEST`
 * (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/load_balancers):
 * draw two instances at random and send the call to the one with fewer requests in flight, counted
 * through {@link LeastRequestBalancer.onStart} and {@link LeastRequestBalancer.onEnd}.
 *
 * With equal weights the two are distinct and uniformly drawn (Mitzenmacher's P2C). With unequal
 * weights each is drawn in proportion to its weight and the winner is the lower
 * `active / weight`, so an idle membership gets exactly the weight shares and a busy one keeps
 * in-flight requests proportional to weight. O(1) pick with no allocation.
 */
export class LeastRequestBalancer implements Balancer {
  readonly algorithm = "least-request";
  readonly #random: RandomSource;
  readonly #sampler = new AliasTable();
  #slots: Slot[] = [];
  #byId = new Map<string, Slot>();

  /** Validates `options`; throws a `ConfigError` listing every bad one with its path. */
  constructor(options: LeastRequestOptions = {}) {
    const reader = new ConfigReader();
    this.#random = parseLeastRequestOptions(options, reader, "").random;
    reader.throwIfInvalid();
  }

  pick(): ServiceInstance | undefined {
    const slots = this.#slots;
    const n = slots.length;
    if (n < 2) return n === 0 ? undefined : slots[0]!.instance;
    const random = this.#random;
    if (this.#sampler.uniform) {
      const i = (random() * n) | 0;
      let j = (random() * (n - 1)) | 0;
      if (j >= i) j++;
      const a = slots[i]!;
      const b = slots[j]!;
      return b.active < a.active ? b.instance : a.instance;
    }
    const a = slots[this.#sampler.draw(random)]!;
    let b = slots[this.#sampler.draw(random)]!;
    if (b === a) b = slots[this.#sampler.draw(random)]!;
    return b.active * a.weight < a.active * b.weight ? b.instance : a.instance;
  }

  update(instances: readonly ServiceInstance[]): void {
    const { slots, byId } = reconcileSlots(instances, this.#byId, (instance) => new Slot(instance));
    this.#sampler.build(
      slots.map((s) => s.weight),
      slots.length,
    );
    this.#slots = slots;
    this.#byId = byId;
  }

  onStart(instance: ServiceInstance): void {
    const slot = this.#byId.get(instance.id);
    if (slot !== undefined) slot.active++;
  }

  onEnd(instance: ServiceInstance): void {
    const slot = this.#byId.get(instance.id);
    if (slot !== undefined && slot.active > 0) slot.active--;
  }

  /** Requests in flight to the instance with this id (0 when it is not a member). */
  activeRequests(id: string): number {
    return this.#byId.get(id)?.active ?? 0;
  }
}

/** Creates a {@link LeastRequestBalancer}, the default balancer. */
export function leastRequest(options?: LeastRequestOptions): LeastRequestBalancer {
  return new LeastRequestBalancer(options);
}
