import { ConfigReader } from "@flotilla/resilience";
import type { ServiceInstance } from "../instance.js";
import type { Balancer, CallResult, PickContext } from "./balancer.js";
import { joinPath } from "./balancer-options.js";
import { isEligible } from "./eligible-instances.js";
import { leastRequest } from "./least-request.js";

/** Options of a {@link ZoneAwareBalancer}. */
export interface ZoneAwareOptions {
  /** The caller's zone. Absent or empty: no preference, every pick goes to the whole membership. */
  readonly zone?: string;
  /**
   * Makes the inner balancer; called twice, for the local zone and for the whole membership
   * (default {@link leastRequest}).
   */
  readonly balancer?: () => Balancer;
  /** The local zone is preferred only with at least this many instances of positive weight (default 2). */
  readonly minLocalInstances?: number;
  /**
   * …and only when it holds at least this share, between 0 and 1, of the membership's total weight
   * (default 0.1), so a small local zone in a large membership is not swamped by its neighbours.
   */
  readonly minLocalShare?: number;
}

interface ResolvedZoneAwareOptions {
  readonly zone: string | undefined;
  readonly balancer: (() => Balancer) | undefined;
  readonly minLocalInstances: number;
  readonly minLocalShare: number;
}

/** Validates {@link ZoneAwareOptions}, recording problems on `reader` under `path`. */
export function parseZoneAwareOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedZoneAwareOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, ["zone", "balancer", "minLocalInstances", "minLocalShare"], path);
  let zone: string | undefined;
  if (obj.zone !== undefined && obj.zone !== "") {
    if (typeof obj.zone === "string") zone = obj.zone;
    else reader.issue(joinPath(path, "zone"), "expected a string");
  }
  return {
    zone,
    balancer: reader.fn<() => Balancer>(obj, "balancer", path),
    minLocalInstances: reader.number(obj, "minLocalInstances", path, 2, { integer: true, min: 1 }),
    minLocalShare: reader.number(obj, "minLocalShare", path, 0.1, { min: 0, max: 1 }),
  };
}

/**
 * Zone-aware routing around any balancer, after Envoy's
 * (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/zone_aware):
 * picks among the instances in the caller's zone while that zone is healthy enough — at least
 * `minLocalInstances` instances and `minLocalShare` of the total weight — and among all instances
 * otherwise. The decision is made on update, so a pick costs one branch more than the inner
 * balancer's. Calls are reported to both inner balancers so their load state agrees whichever
 * one is in use.
 */
export class ZoneAwareBalancer implements Balancer {
  /** The inner balancer's algorithm. */
  readonly algorithm: string;
  /** The caller's zone, or `undefined` for none. */
  readonly zone: string | undefined;
  readonly #local: Balancer;
  readonly #all: Balancer;
  readonly #minLocalInstances: number;
  readonly #minLocalShare: number;
  #preferLocal = false;

  /** Validates `options`; throws a `ConfigError` listing every bad one with its path. */
  constructor(options: ZoneAwareOptions = {}) {
    const reader = new ConfigReader();
    const resolved = parseZoneAwareOptions(options, reader, "");
    reader.throwIfInvalid();
    const make = resolved.balancer ?? leastRequest;
    this.zone = resolved.zone;
    this.#local = make();
    this.#all = make();
    this.algorithm = this.#all.algorithm;
    this.#minLocalInstances = resolved.minLocalInstances;
    this.#minLocalShare = resolved.minLocalShare;
  }

  /** True while picks stay in the caller's zone. */
  get preferringLocal(): boolean {
    return this.#preferLocal;
  }

  pick(ctx?: PickContext): ServiceInstance | undefined {
    return this.#preferLocal ? this.#local.pick(ctx) : this.#all.pick(ctx);
  }

  update(instances: readonly ServiceInstance[]): void {
    const local: ServiceInstance[] = [];
    let localWeight = 0;
    let totalWeight = 0;
    if (this.zone !== undefined) {
      for (const instance of instances) {
        if (!isEligible(instance)) continue;
        totalWeight += instance.weight;
        if (instance.zone !== this.zone) continue;
        local.push(instance);
        localWeight += instance.weight;
      }
    }
    this.#preferLocal =
      local.length >= this.#minLocalInstances &&
      totalWeight > 0 &&
      localWeight / totalWeight >= this.#minLocalShare;
    this.#local.update(local);
    this.#all.update(instances);
  }

  onStart(instance: ServiceInstance): void {
    if (instance.zone === this.zone) this.#local.onStart?.(instance);
    this.#all.onStart?.(instance);
  }

  onEnd(instance: ServiceInstance, result: CallResult): void {
    if (instance.zone === this.zone) this.#local.onEnd?.(instance, result);
    this.#all.onEnd?.(instance, result);
  }
}

/**
 * Creates a {@link ZoneAwareBalancer}.
 *
 * ```ts
 * const b = zoneAware({ zone: process.env.ZONE, balancer: () => peakEwma() });
 * ```
 */
export function zoneAware(options?: ZoneAwareOptions): ZoneAwareBalancer {
  return new ZoneAwareBalancer(options);
}
