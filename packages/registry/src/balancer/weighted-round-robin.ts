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
 * nginx's walk is O(n) per pick, so above {@link edfThreshold} instances the balancer switches to
 * Envoy's earliest-deadline-first scheduler (`source/common/upstream/edf_scheduler.h`): each
 * instance is due again `1 / weight` after its last turn, a binary heap yields the earliest due
 * (lowest index on a tie), O(log n) per pick. Each instance's first turn is offset by a
 * golden-ratio phase so that a heavy instance's turns interleave with the others instead of
 * bursting at the start, as they would with aligned deadlines. It gives every instance exactly its
 * weight's share too. Both keep each surviving instance's position across updates.
 */
export class WeightedRoundRobinBalancer implements Balancer {
  readonly algorithm = "weighted-round-robin";
  #instances: ServiceInstance[] = [];
  #weights = new Float64Array(0);
  #current = new Float64Array(0);
  #total = 0;
  /** EDF mode: when each instance is next due, and a min-heap of instance indexes by that time. */
  #due = new Float64Array(0);
  #heap = new Int32Array(0);
  #now = 0;

  /** Validates `options`; throws a `ConfigError` listing every bad one with its path. */
  constructor(options: WeightedRoundRobinOptions = {}) {
    const reader = new ConfigReader();
    parseWeightedRoundRobinOptions(options, reader, "");
    reader.throwIfInvalid();
  }

  pick(): ServiceInstance | undefined {
    const n = this.#instances.length;
    if (n === 0) return undefined;
    if (n > edfThreshold) return this.#pickEdf();
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

  #pickEdf(): ServiceInstance | undefined {
    const heap = this.#heap;
    const due = this.#due;
    const top = heap[0]!;
    this.#now = due[top]!;
    due[top] = this.#now + 1 / this.#weights[top]!;
    siftDown(heap, due, 0, heap.length);
    return this.#instances[top];
  }

  update(instances: readonly ServiceInstance[]): void {
    if (instances.length > edfThreshold || this.#instances.length > edfThreshold) {
      this.#updateEdf(instances);
      return;
    }
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

  #updateEdf(instances: readonly ServiceInstance[]): void {
    const previous = new Map<string, number>();
    for (let i = 0; i < this.#instances.length; i++) {
      previous.set(this.#instances[i]!.id, this.#due.length > i ? this.#due[i]! : 0);
    }
    const eligible = eligibleInstances(instances);
    const n = eligible.length;
    const weights = new Float64Array(n);
    const due = new Float64Array(n);
    const heap = new Int32Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const instance = eligible[i]!;
      weights[i] = instance.weight;
      total += instance.weight;
      due[i] = previous.get(instance.id) ?? this.#now + phase(i) / instance.weight;
      heap[i] = i;
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) siftDown(heap, due, i, n);
    this.#instances = eligible;
    this.#weights = weights;
    this.#current = new Float64Array(n);
    this.#due = due;
    this.#heap = heap;
    this.#total = total;
  }
}

/** Memberships larger than this use the O(log n) EDF scheduler instead of nginx's O(n) walk. */
export const edfThreshold = 64;

const goldenRatioConjugate = 0.6180339887498949;

/** An evenly spread phase in (0, 1] for the `i`-th instance (the fractional golden-ratio sequence). */
function phase(i: number): number {
  return 1 - (((i + 1) * goldenRatioConjugate) % 1);
}

function before(due: Float64Array, a: number, b: number): boolean {
  const da = due[a]!;
  const db = due[b]!;
  return da < db || (da === db && a < b);
}

function siftDown(heap: Int32Array, due: Float64Array, start: number, n: number): void {
  let i = start;
  const item = heap[i]!;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && before(due, heap[child + 1]!, heap[child]!)) child++;
    if (!before(due, heap[child]!, item)) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = item;
}

/** Creates a {@link WeightedRoundRobinBalancer}. */
export function weightedRoundRobin(options?: WeightedRoundRobinOptions): WeightedRoundRobinBalancer {
  return new WeightedRoundRobinBalancer(options);
}
