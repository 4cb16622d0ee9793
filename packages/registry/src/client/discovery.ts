import { ConfigReader, EventStream } from "@flotilla/resilience";
import semver from "semver";
import type { Balancer, CallResult, PickContext } from "../balancer/balancer.js";
import { type BalancerConfig, parseBalancerConfig } from "../balancer/create-balancer.js";
import type { ServiceInstance } from "../instance.js";
import { OutlierDetector } from "../outlier/outlier-detector.js";
import {
  type OutlierDetectorOptions,
  parseOutlierDetectorOptions,
} from "../outlier/outlier-detector-options.js";
import type { OutlierEvent } from "../outlier/outlier-event.js";
import type { OutlierOutcome } from "../outlier/outlier-outcome.js";
import type { DiscoveryCache } from "./discovery-cache.js";
import type { InstanceFilters } from "./registry-api.js";

/**
 * Where {@link Discovery} reads a service's instances from: a {@link DiscoveryCache}, or a stand-in.
 * `ready` is optional: a stand-in without it counts as always ready.
 */
export type InstanceSource = Pick<DiscoveryCache, "instances"> & Partial<Pick<DiscoveryCache, "ready">>;

/** Options of {@link discovery}. */
export interface DiscoveryOptions {
  /** The instances of each service, usually a {@link DiscoveryCache}. */
  readonly cache: InstanceSource;
  /** The balancer made for each service. Default least request with two random choices. */
  readonly balancer?: BalancerConfig | undefined;
  /** The outlier detector made for each service (named after it). Default Envoy's defaults. */
  readonly outlier?: OutlierDetectorOptions | undefined;
}

/** What {@link Discovery.pick} takes: the balancer's context and the instances a retry has tried. */
export interface DiscoveryPickContext extends PickContext {
  /** Instance ids to avoid (those a retry of the same call already tried). */
  readonly exclude?: ReadonlySet<string> | undefined;
  /**
   * Only instances that pass these filters (a semver range, tags, zone, status), passed on to the
   * cache's `instances(service, filters)`. A `version` range is also checked here, with
   * `semver.satisfies` (prereleases included, as the registry does), so an instance outside it is
   * never picked even from a source that ignores filters. Pass the same object on every pick of
   * a service: the balancer is fed again whenever the filtered set changes.
   */
  readonly filters?: InstanceFilters | undefined;
}

/** How many times a pick asks the balancer for an instance not in `exclude`. */
export const hostSelectionAttempts = 5;

/** How a call to a picked instance ended, for {@link Discovery.report}. */
export interface CallReport {
  /** The HTTP status of the response, when there was one. */
  readonly status?: number | undefined;
  /** The failure, when the call failed without a response (refused, reset, timed out). */
  readonly error?: unknown;
  /** Milliseconds from sending the request to its response or failure. */
  readonly durationMs: number;
}

interface Upstream {
  readonly balancer: Balancer;
  readonly detector: OutlierDetector;
  /** The cache's array last seen; compared by reference. */
  set: readonly ServiceInstance[] | undefined;
  /** What the balancer was last updated with. */
  fed: readonly ServiceInstance[] | undefined;
  fedIds: ReadonlySet<string>;
  /** Calls picked and not yet reported, by instance id. */
  readonly inflight: Map<string, number>;
  /** The version range last applied, its parsed form (`null`: invalid, matches nothing), the set it was applied to and the result. */
  rangeText: string | undefined;
  range: semver.Range | null;
  rangeFrom: readonly ServiceInstance[] | undefined;
  ranged: readonly ServiceInstance[];
}

/**
 * Client-side discovery: picks an instance of a service from the {@link DiscoveryCache} with a
 * balancer per service, leaving out the instances its outlier detector has ejected. Every
 * {@link Discovery.pick} that returns an instance must be followed by exactly one
 * {@link Discovery.report}, which feeds the balancer (`onEnd`) and the detector.
 *
 * A change of membership (an instance deregistered, its lease lapsed, one ejected or returned)
 * only affects later picks: nothing in flight is cancelled, and a report for an instance that has
 * left is harmless — the balancer and detector ignore it. When an instance comes back (a
 * re-registration under the same id, the end of an ejection) while calls picked before are still
 * in flight, those calls are counted again, so least-request and peak-EWMA see its real load.
 *
 * The balancer is updated only when the cache's array or the set of ejected instances changes,
 * so a pick costs a map lookup, a reference comparison and the balancer's own pick. When every
 * instance is ejected (possible with `maxEjectionPercent: 100`), picks use them all, as Envoy's
 * panic mode does.
 */
export class Discovery {
  /** The outlier events of every service (`name` is the service). */
  readonly events: EventStream<OutlierEvent> = new EventStream<OutlierEvent>();
  readonly #cache: InstanceSource;
  readonly #makeBalancer: () => Balancer;
  readonly #outlier: OutlierDetectorOptions;
  readonly #upstreams = new Map<string, Upstream>();

  /** Validates `options`; a bad one throws a `ConfigError` naming its path (`balancer.algorithm`). */
  constructor(options: DiscoveryOptions) {
    const reader = new ConfigReader();
    const obj = reader.object(options, "");
    reader.knownKeys(obj, ["cache", "balancer", "outlier"], "");
    if (typeof (obj.cache as Partial<InstanceSource> | undefined)?.instances !== "function") {
      reader.issue("cache", "expected a discovery cache with instances()");
    }
    this.#makeBalancer = parseBalancerConfig(obj.balancer ?? {}, reader, "balancer");
    parseOutlierDetectorOptions(obj.outlier ?? {}, reader, "outlier");
    reader.throwIfInvalid();
    this.#cache = options.cache;
    this.#outlier = options.outlier ?? {};
  }

  /**
   * An instance of `service` for one call, or `undefined` when there is none (yet: the cache's
   * first call for a service starts its watch). Counts the call as started.
   *
   * A retry passes the ids it already tried in `ctx.exclude`: like Envoy's `previous_hosts` retry
   * predicate, the balancer is asked again (up to {@link hostSelectionAttempts} times) while it
   * answers an excluded instance; if it keeps answering one, the first eligible instance not
   * excluded is used, and an excluded one only when every eligible instance was excluded.
   */
  pick(service: string, ctx?: DiscoveryPickContext): ServiceInstance | undefined {
    const upstream = this.#upstream(service);
    const filters = ctx?.filters;
    let set: readonly ServiceInstance[];
    if (filters === undefined) set = this.#cache.instances(service);
    else {
      set = this.#cache.instances(service, filters);
      if (filters.version !== undefined) set = inRange(upstream, set, filters.version);
    }
    if (set !== upstream.set) {
      upstream.set = set;
      upstream.detector.update(set.map((i) => i.id));
    }
    let eligible = upstream.detector.filter(set);
    if (eligible.length === 0) eligible = set;
    if (eligible !== upstream.fed) this.#feed(upstream, eligible);
    let instance = upstream.balancer.pick(ctx);
    const exclude = ctx?.exclude;
    if (exclude !== undefined && exclude.size > 0) {
      for (let k = 1; k < hostSelectionAttempts && instance !== undefined && exclude.has(instance.id); k++) {
        instance = upstream.balancer.pick(ctx);
      }
      // A balancer that prefers the excluded instance (least-request favours one that fails fast)
      // can answer it every time; a retry must still reach another instance while one exists.
      if (instance !== undefined && exclude.has(instance.id))
        instance = notExcluded(eligible, exclude) ?? instance;
    }
    if (instance !== undefined) {
      upstream.balancer.onStart?.(instance);
      upstream.inflight.set(instance.id, (upstream.inflight.get(instance.id) ?? 0) + 1);
    }
    return instance;
  }

  /**
   * Reports how a call to `instance` (from {@link Discovery.pick}) ended: a status (5xx count
   * towards ejection), an error without a status (a connection error), or neither (a success).
   */
  report(service: string, instance: ServiceInstance, result: CallReport): void {
    const upstream = this.#upstreams.get(service);
    if (upstream === undefined) return;
    const left = (upstream.inflight.get(instance.id) ?? 0) - 1;
    if (left > 0) upstream.inflight.set(instance.id, left);
    else upstream.inflight.delete(instance.id);
    const callResult: CallResult = {
      latencyMs: result.durationMs,
      ...(result.status === undefined ? {} : { status: result.status }),
      ...(result.error === undefined ? {} : { error: result.error }),
    };
    upstream.balancer.onEnd?.(instance, callResult);
    const outcome: OutlierOutcome =
      result.status !== undefined
        ? result.status
        : result.error !== undefined
          ? "connectionError"
          : "success";
    upstream.detector.record(instance.id, outcome);
  }

  /**
   * Resolves with the service's instances (that pass `filters`) once the cache has heard from
   * the registry about them, at once when it has: what a caller awaits when {@link Discovery.pick}
   * found nothing because the cache had only just started watching the service. A source without
   * `ready` resolves at once with what it has. Rejects when the cache closes first.
   */
  ready(service: string, filters?: InstanceFilters): Promise<readonly ServiceInstance[]> {
    const cache = this.#cache;
    if (cache.ready === undefined) {
      return Promise.resolve(
        filters === undefined ? cache.instances(service) : cache.instances(service, filters),
      );
    }
    return filters === undefined ? cache.ready(service) : cache.ready(service, filters);
  }

  /** The outlier detector of `service`, once it has been picked from (for snapshots and `uneject`). */
  outlierDetector(service: string): OutlierDetector | undefined {
    return this.#upstreams.get(service)?.detector;
  }

  /** Calls picked and not yet reported, for `service`. */
  inflight(service: string): number {
    let total = 0;
    for (const count of this.#upstreams.get(service)?.inflight.values() ?? []) total += count;
    return total;
  }

  /** Clears the detectors' timers. The cache is the caller's to close. */
  close(): void {
    for (const upstream of this.#upstreams.values()) upstream.detector.close();
  }

  #upstream(service: string): Upstream {
    let upstream = this.#upstreams.get(service);
    if (upstream === undefined) {
      const detector = new OutlierDetector({ ...this.#outlier, name: this.#outlier.name ?? service });
      detector.events.subscribe((event) => this.events.emit(event));
      upstream = {
        balancer: this.#makeBalancer(),
        detector,
        set: undefined,
        fed: undefined,
        fedIds: new Set(),
        inflight: new Map(),
        rangeText: undefined,
        range: null,
        rangeFrom: undefined,
        ranged: [],
      };
      this.#upstreams.set(service, upstream);
    }
    return upstream;
  }

  /** Updates the balancer, and re-counts the calls still in flight to instances it gains. */
  #feed(upstream: Upstream, eligible: readonly ServiceInstance[]): void {
    const { balancer, inflight } = upstream;
    balancer.update(eligible);
    const previous = upstream.fedIds;
    const ids = new Set<string>();
    for (const instance of eligible) {
      ids.add(instance.id);
      if (previous.has(instance.id) || balancer.onStart === undefined) continue;
      const count = inflight.get(instance.id) ?? 0;
      for (let k = 0; k < count; k++) balancer.onStart(instance);
    }
    upstream.fed = eligible;
    upstream.fedIds = ids;
  }
}

/**
 * The instances of `set` whose version satisfies `range`, memoised on the upstream: the same
 * array comes back while the set and the range stay the same, so the balancer is not fed again.
 */
function inRange(
  upstream: Upstream,
  set: readonly ServiceInstance[],
  range: string,
): readonly ServiceInstance[] {
  if (upstream.rangeText !== range) {
    upstream.rangeText = range;
    upstream.rangeFrom = undefined;
    try {
      upstream.range = new semver.Range(range, { includePrerelease: true });
    } catch {
      upstream.range = null;
    }
  }
  if (upstream.rangeFrom !== set) {
    const parsed = upstream.range;
    upstream.rangeFrom = set;
    upstream.ranged = parsed === null ? [] : set.filter((instance) => parsed.test(instance.version));
  }
  return upstream.ranged;
}

/**
 * Creates a {@link Discovery}:
 *
 * ```ts
 * const discover = discovery({ cache, balancer: { algorithm: "peak-ewma" }, outlier: { consecutive5xx: 3 } });
 * const instance = discover.pick("orders");
 * const started = performance.now();
 * const res = await fetch(`http://${instance.address}:${instance.port}/orders`);
 * discover.report("orders", instance, { status: res.status, durationMs: performance.now() - started });
 * ```
 */
export function discovery(options: DiscoveryOptions): Discovery {
  return new Discovery(options);
}

function notExcluded(
  set: readonly ServiceInstance[],
  exclude: ReadonlySet<string>,
): ServiceInstance | undefined {
  for (const instance of set) if (!exclude.has(instance.id)) return instance;
  return undefined;
}
