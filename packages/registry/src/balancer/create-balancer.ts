import { ConfigReader } from "@flotilla/resilience";
import type { Balancer } from "./balancer.js";
import { LeastRequestBalancer, type LeastRequestOptions, parseLeastRequestOptions } from "./least-request.js";
import { MaglevBalancer, type MaglevOptions, parseMaglevOptions } from "./maglev.js";
import { PeakEwmaBalancer, type PeakEwmaOptions, parsePeakEwmaOptions } from "./peak-ewma.js";
import { parseRingHashOptions, RingHashBalancer, type RingHashOptions } from "./ring-hash.js";
import { parseRoundRobinOptions, RoundRobinBalancer, type RoundRobinOptions } from "./round-robin.js";
import {
  parseWeightedRandomOptions,
  WeightedRandomBalancer,
  type WeightedRandomOptions,
} from "./weighted-random.js";
import {
  parseWeightedRoundRobinOptions,
  WeightedRoundRobinBalancer,
  type WeightedRoundRobinOptions,
} from "./weighted-round-robin.js";
import { parseZoneAwareOptions, ZoneAwareBalancer, type ZoneAwareOptions } from "./zone-aware.js";

/** The balancing algorithms, as configuration names them. */
export const balancerAlgorithms = [
  "least-request",
  "round-robin",
  "random",
  "weighted-round-robin",
  "peak-ewma",
  "ring-hash",
  "maglev",
] as const;

/** One of {@link balancerAlgorithms}. */
export type BalancerAlgorithm = (typeof balancerAlgorithms)[number];

/** Wraps the balancer in a {@link ZoneAwareBalancer} when present. */
export interface ZoneAwareConfig {
  readonly zoneAware?: Omit<ZoneAwareOptions, "balancer">;
}

/**
 * A balancer as plain data: the algorithm (default `least-request`), its options beside it, and
 * optionally `zoneAware`.
 *
 * ```ts
 * { algorithm: "ring-hash", virtualNodes: 200, zoneAware: { zone: "eu-1a", minLocalInstances: 3 } }
 * ```
 */
export type BalancerConfig = ZoneAwareConfig &
  (
    | ({ readonly algorithm?: "least-request" } & LeastRequestOptions)
    | ({ readonly algorithm: "round-robin" } & RoundRobinOptions)
    | ({ readonly algorithm: "random" } & WeightedRandomOptions)
    | ({ readonly algorithm: "weighted-round-robin" } & WeightedRoundRobinOptions)
    | ({ readonly algorithm: "peak-ewma" } & PeakEwmaOptions)
    | ({ readonly algorithm: "ring-hash" } & RingHashOptions)
    | ({ readonly algorithm: "maglev" } & MaglevOptions)
  );

const parsers: Record<BalancerAlgorithm, (raw: unknown, reader: ConfigReader, path: string) => unknown> = {
  "least-request": parseLeastRequestOptions,
  "round-robin": parseRoundRobinOptions,
  random: parseWeightedRandomOptions,
  "weighted-round-robin": parseWeightedRoundRobinOptions,
  "peak-ewma": parsePeakEwmaOptions,
  "ring-hash": parseRingHashOptions,
  maglev: parseMaglevOptions,
};

const constructors: Record<BalancerAlgorithm, (options: never) => Balancer> = {
  "least-request": (o: LeastRequestOptions) => new LeastRequestBalancer(o),
  "round-robin": (o: RoundRobinOptions) => new RoundRobinBalancer(o),
  random: (o: WeightedRandomOptions) => new WeightedRandomBalancer(o),
  "weighted-round-robin": (o: WeightedRoundRobinOptions) => new WeightedRoundRobinBalancer(o),
  "peak-ewma": (o: PeakEwmaOptions) => new PeakEwmaBalancer(o),
  "ring-hash": (o: RingHashOptions) => new RingHashBalancer(o),
  maglev: (o: MaglevOptions) => new MaglevBalancer(o),
};

/**
 * Validates a {@link BalancerConfig} found at `path` of a larger configuration, recording every
 * problem on `reader`, and returns a function that makes a new balancer from it (one per upstream
 * or per route). Call it only after `reader.throwIfInvalid()`.
 */
export function parseBalancerConfig(raw: unknown, reader: ConfigReader, path: string): () => Balancer {
  const obj = reader.object(raw, path);
  const algorithm = reader.oneOf(obj, "algorithm", path, balancerAlgorithms, "least-request");
  const { algorithm: _algorithm, zoneAware, ...options } = obj;
  parsers[algorithm](options, reader, path);
  const make = () => (constructors[algorithm] as (o: unknown) => Balancer)(options);
  if (zoneAware === undefined) return make;
  const zonePath = path === "" ? "zoneAware" : `${path}.zoneAware`;
  const zoneObj = reader.object(zoneAware, zonePath);
  if ("balancer" in zoneObj) reader.issue(`${zonePath}.balancer`, "set by the algorithm beside zoneAware");
  parseZoneAwareOptions(zoneObj, reader, zonePath);
  return () => new ZoneAwareBalancer({ ...(zoneObj as ZoneAwareOptions), balancer: make });
}

/**
 * Makes a balancer from plain configuration, validated at once: a bad value throws a
 * `ConfigError` naming its path and reason.
 *
 * ```ts
 * const b = createBalancer({ algorithm: "peak-ewma", decay: "5s", zoneAware: { zone: "eu-1a" } });
 * ```
 */
export function createBalancer(config: BalancerConfig = {}): Balancer {
  const reader = new ConfigReader();
  const make = parseBalancerConfig(config, reader, "");
  reader.throwIfInvalid();
  return make();
}
