import type { Balancer } from "../src/balancer/balancer.js";
import type { ServiceInstance } from "../src/instance.js";

/** A plain instance named `id` for balancer tests. */
export function inst(id: string, weight = 1, zone?: string): ServiceInstance {
  return {
    id,
    service: "svc",
    address: "127.0.0.1",
    port: 8000,
    version: "1.0.0",
    weight,
    tags: [],
    metadata: {},
    ...(zone === undefined ? {} : { zone }),
  };
}

/** `n` instances `i0` … `i<n-1>` of weight 1. */
export function many(n: number, prefix = "i"): ServiceInstance[] {
  return Array.from({ length: n }, (_, k) => inst(`${prefix}${k}`));
}

/** Picks `count` times and counts the picks by instance id. */
export function tally(balancer: Balancer, count: number, key?: (k: number) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (let k = 0; k < count; k++) {
    const picked = balancer.pick(key === undefined ? undefined : { key: key(k) });
    if (picked === undefined) throw new Error("pick returned undefined");
    counts.set(picked.id, (counts.get(picked.id) ?? 0) + 1);
  }
  return counts;
}
