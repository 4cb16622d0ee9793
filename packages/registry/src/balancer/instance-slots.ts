import type { ServiceInstance } from "../instance.js";
import { eligibleInstances } from "./eligible-instances.js";

/** Per-instance state a load-aware balancer keeps: the instance and its weight, plus its own counters. */
export interface InstanceSlot {
  instance: ServiceInstance;
  weight: number;
}

/** The slots of a membership, in order, and the same slots by instance id. */
export interface InstanceSlots<S extends InstanceSlot> {
  readonly slots: S[];
  readonly byId: Map<string, S>;
}

/**
 * The slots of the eligible `instances`: an instance that stays (same id) keeps its slot, and so its
 * active count or latency estimate; a new one gets `create(instance)`. Instances that left are dropped.
 */
export function reconcileSlots<S extends InstanceSlot>(
  instances: readonly ServiceInstance[],
  previous: ReadonlyMap<string, S>,
  create: (instance: ServiceInstance) => S,
): InstanceSlots<S> {
  const slots: S[] = [];
  const byId = new Map<string, S>();
  for (const instance of eligibleInstances(instances)) {
    const slot = previous.get(instance.id) ?? create(instance);
    slot.instance = instance;
    slot.weight = instance.weight;
    slots.push(slot);
    byId.set(instance.id, slot);
  }
  return { slots, byId };
}
