import type { ServiceInstance } from "../instance.js";

/**
 * The instances a balancer may choose: those whose weight is a finite number above 0, each `id`
 * once (the first occurrence wins), in the given order. A new array; the argument is not kept.
 */
export function eligibleInstances(instances: readonly ServiceInstance[]): ServiceInstance[] {
  const out: ServiceInstance[] = [];
  const seen = new Set<string>();
  for (const instance of instances) {
    if (!isEligible(instance) || seen.has(instance.id)) continue;
    seen.add(instance.id);
    out.push(instance);
  }
  return out;
}

/** True when `instance` can be chosen at all: its weight is finite and above 0. */
export function isEligible(instance: ServiceInstance): boolean {
  const w = instance.weight;
  return typeof w === "number" && w > 0 && w < Number.POSITIVE_INFINITY;
}

/** Orders instances by `id`, so that hash tables come out the same in every client whatever order discovery used. */
export function byId(a: ServiceInstance, b: ServiceInstance): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
