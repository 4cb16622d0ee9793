import { type Clock, ConfigReader, type Duration } from "@flotilla/resilience";
import type { ServiceInstance } from "../instance.js";
import { AliasTable } from "./alias-table.js";
import type { Balancer, CallResult } from "./balancer.js";
import { joinPath, type RandomOption, readRandom } from "./balancer-options.js";
import { reconcileSlots } from "./instance-slots.js";
import type { RandomSource } from "./seeded-random.js";

/** Options of a {@link PeakEwmaBalancer}. */
export interface PeakEwmaOptions extends RandomOption {
  /** Time constant of the latency average's decay (default `"10s"`, as Linkerd). */
  readonly decay?: Duration;
  /** Latency estimate of an instance not yet measured (default `"30ms"`); it decays like any other. */
  readonly defaultRtt?: Duration;
  /**
   * The latency a failed call counts as at least (default `"1s"`), so that an instance failing
   * fast (a quick 503) looks slow instead of attractive.
   */
  readonly failurePenalty?: Duration;
  /**
   * Which results are failures (default: an `error`, status 429, or status 500 and above).
   */
  readonly isFailure?: (result: CallResult) => boolean;
  /** Source of time (default the system clock); only `now()` is used. */
  readonly clock?: Clock;
}

interface ResolvedPeakEwmaOptions {
  readonly random: RandomSource;
  readonly decayMs: number;
  readonly defaultRttMs: number;
  readonly failurePenaltyMs: number;
  readonly isFailure: (result: CallResult) => boolean;
  readonly clock: Clock;
}

const keys = ["random", "decay", "defaultRtt", "failurePenalty", "isFailure", "clock"];

/** Validates {@link PeakEwmaOptions}, recording problems on `reader` under `path`. */
export function parsePeakEwmaOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedPeakEwmaOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, keys, path);
  const decayMs = reader.duration(obj, "decay", path, 10_000, { above: 0 });
  if (!Number.isFinite(decayMs)) reader.issue(joinPath(path, "decay"), "must be finite");
  return {
    random: readRandom(reader, obj, path),
    decayMs,
    defaultRttMs: reader.duration(obj, "defaultRtt", path, 30, { min: 0 }),
    failurePenaltyMs: reader.duration(obj, "failurePenalty", path, 1000, { min: 0 }),
    isFailure: reader.fn<(result: CallResult) => boolean>(obj, "isFailure", path) ?? isFailedCall,
    clock: reader.clock(obj, "clock", path),
  };
}

/** The default failure rule of {@link PeakEwmaBalancer}: an error, a 429, or any 5xx. */
export function isFailedCall(result: CallResult): boolean {
  const status = result.status;
  return result.error !== undefined || (status !== undefined && (status === 429 || status >= 500));
}

// Estimates at or below this (ms) compare as equal; keeps the logarithm finite.
const floorRtt = 1e-9;

class Slot {
  instance: ServiceInstance;
  weight: number;
  active = 0;
  /** Peak-EWMA latency estimate in ms as of `stamp`; it decays by `exp(-(now - stamp) / tau)`. */
  rtt: number;
  stamp: number;
  /**
   * `ln(rtt) + stamp / tau`: the estimate in a form that needs no clock to compare, since
   * `rttA·e^(-(now-stampA)/tau) < rttB·e^(-(now-stampB)/tau)` exactly when `keyA < keyB`.
   */
  key: number;

  constructor(instance: ServiceInstance, rtt: number, now: number, tau: number) {
    this.instance = instance;
    this.weight = instance.weight;
    this.rtt = rtt;
    this.stamp = now;
    this.key = Math.log(rtt > floorRtt ? rtt : floorRtt) + now / tau;
  }
}

/**
 * Power of two choices on peak-EWMA latency, as Finagle's and Linkerd's (tower's) `PeakEwma`
 * (https://github.com/tower-rs/tower/blob/master/tower/src/load/peak_ewma.rs): each instance
 * carries a latency estimate that jumps at once to any slower sample (the "peak") and otherwise
 * decays toward newer samples — and toward zero while idle — with time constant `decay`. An
 * instance's cost is `estimate × (active / weight + 1)`; of two instances drawn at random (in
 * proportion to weight) the cheaper wins, the first on a tie.
 *
 * Unlike Linkerd, a failed call (see `isFailure`) counts as at least `failurePenalty`, so an
 * instance that answers 503 in a millisecond repels traffic instead of attracting it.
 * O(1) pick with no clock read (estimates are compared in log space, where the decay to "now"
 * cancels out); `onEnd` reads the clock once.
 */
export class PeakEwmaBalancer implements Balancer {
  readonly algorithm = "peak-ewma";
  readonly #random: RandomSource;
  readonly #clock: Clock;
  readonly #tau: number;
  readonly #defaultRtt: number;
  readonly #penalty: number;
  readonly #isFailure: (result: CallResult) => boolean;
  readonly #sampler = new AliasTable();
  #slots: Slot[] = [];
  #byId = new Map<string, Slot>();

  /** Validates `options`; throws a `ConfigError` listing every bad one with its path. */
  constructor(options: PeakEwmaOptions = {}) {
    const reader = new ConfigReader();
    const resolved = parsePeakEwmaOptions(options, reader, "");
    reader.throwIfInvalid();
    this.#random = resolved.random;
    this.#clock = resolved.clock;
    this.#tau = resolved.decayMs;
    this.#defaultRtt = resolved.defaultRttMs;
    this.#penalty = resolved.failurePenaltyMs;
    this.#isFailure = resolved.isFailure;
  }

  pick(): ServiceInstance | undefined {
    const slots = this.#slots;
    const n = slots.length;
    if (n < 2) return n === 0 ? undefined : slots[0]!.instance;
    const random = this.#random;
    let a: Slot;
    let b: Slot;
    if (this.#sampler.uniform) {
      const i = (random() * n) | 0;
      let j = (random() * (n - 1)) | 0;
      if (j >= i) j++;
      a = slots[i]!;
      b = slots[j]!;
    } else {
      a = slots[this.#sampler.draw(random)]!;
      b = slots[this.#sampler.draw(random)]!;
      if (b === a) b = slots[this.#sampler.draw(random)]!;
    }
    // Cost is Linkerd's `estimate × (pending + 1)`, with pending counted per unit of weight so
    // equal estimates tie (and the weighted draw decides) and a heavier instance may hold more
    // calls. Estimates are compared through their keys: no clock read, and no Math.exp while both
    // candidates are idle.
    const activeA = a.active;
    const activeB = b.active;
    if (activeA === 0 && activeB === 0) return b.key < a.key ? b.instance : a.instance;
    return Math.exp(b.key - a.key) * (1 + activeB / b.weight) < 1 + activeA / a.weight
      ? b.instance
      : a.instance;
  }

  update(instances: readonly ServiceInstance[]): void {
    const now = this.#clock.now();
    const { slots, byId } = reconcileSlots(
      instances,
      this.#byId,
      (instance) => new Slot(instance, this.#defaultRtt, now, this.#tau),
    );
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

  onEnd(instance: ServiceInstance, result: CallResult): void {
    const slot = this.#byId.get(instance.id);
    if (slot === undefined) return;
    if (slot.active > 0) slot.active--;
    let rtt = result.latencyMs >= 0 && result.latencyMs < Number.POSITIVE_INFINITY ? result.latencyMs : 0;
    if (this.#isFailure(result) && rtt < this.#penalty) rtt = this.#penalty;
    const now = this.#clock.now();
    const tau = this.#tau;
    const decay = Math.exp(-Math.max(0, now - slot.stamp) / tau);
    const current = slot.rtt * decay;
    // Peak: a slower sample replaces the estimate at once; a faster one is blended in with the
    // weight of the time since the last sample.
    slot.rtt = rtt > current ? rtt : current + rtt * (1 - decay);
    slot.stamp = now;
    slot.key = Math.log(slot.rtt > floorRtt ? slot.rtt : floorRtt) + now / tau;
  }

  /** Requests in flight to the instance with this id (0 when it is not a member). */
  activeRequests(id: string): number {
    return this.#byId.get(id)?.active ?? 0;
  }

  /**
   * The instance's latency estimate in ms, decayed to now, or `undefined` when it is not a member.
   */
  latencyEstimate(id: string): number | undefined {
    const slot = this.#byId.get(id);
    if (slot === undefined) return undefined;
    const elapsed = this.#clock.now() - slot.stamp;
    return elapsed > 0 ? slot.rtt * Math.exp(-elapsed / this.#tau) : slot.rtt;
  }
}

/** Creates a {@link PeakEwmaBalancer}. */
export function peakEwma(options?: PeakEwmaOptions): PeakEwmaBalancer {
  return new PeakEwmaBalancer(options);
}
