import type { Histogram } from "prom-client";

/** prom-client 15's record of one series of a histogram, in `histogram.hashMap`. */
interface SeriesRecord {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

/** The parts of prom-client 15's `Histogram` that a series updates directly. */
interface HistogramInternals {
  readonly hashMap?: Readonly<Record<string, SeriesRecord | undefined>>;
  readonly upperBounds?: readonly number[];
}

/**
 * One labelled series of a prom-client histogram that records an observation by adding to the
 * histogram's own record of the series: its count, its sum and the count of the first bucket the
 * value fits in, as prom-client does. prom-client's bound child (`histogram.labels(...)`) builds a
 * labels object and a string key from the label values on every observation, most of the cost of
 * recording a request.
 *
 * The record is prom-client's internal state (`hashMap`, 15.x). It is found again whenever it is
 * gone (`reset()`, `remove()`), and any observation this cannot make the same way — a value that
 * is not finite, a record it cannot find or recognise, as after an upgrade that changed them — goes
 * to prom-client's bound child instead.
 */
export class HistogramSeries {
  readonly #histogram: HistogramInternals;
  readonly #labels: Readonly<Record<string, string>>;
  readonly #child: { observe(value: number): void };
  readonly #bounds: readonly number[];
  readonly #boundKeys: readonly string[];
  #key = "";
  #record: SeriesRecord | undefined;

  constructor(histogram: Histogram<string>, labels: Readonly<Record<string, string>>) {
    this.#histogram = histogram as unknown as HistogramInternals;
    this.#labels = labels;
    this.#child = histogram.labels(labels);
    const bounds = this.#histogram.upperBounds;
    this.#bounds = Array.isArray(bounds) && bounds.every((b) => typeof b === "number") ? bounds : [];
    // prom-client keys bucket counts by the bound as a property name, that is String(bound).
    this.#boundKeys = this.#bounds.map(String);
  }

  /** Records one value. */
  observe(value: number): void {
    const record = this.#record;
    if (record === undefined || this.#histogram.hashMap?.[this.#key] !== record || !Number.isFinite(value)) {
      this.#child.observe(value);
      this.#find();
      return;
    }
    record.sum += value;
    record.count += 1;
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        record.bucketValues[this.#boundKeys[i]!]! += 1;
        return;
      }
    }
  }

  /** Looks the series' record up after prom-client has recorded into it. */
  #find(): void {
    this.#record = undefined;
    const hashMap = this.#histogram.hashMap;
    if (hashMap === undefined || this.#bounds.length === 0) return;
    const names = Object.keys(this.#labels);
    for (const key in hashMap) {
      const record = hashMap[key];
      if (record === undefined || !names.every((name) => record.labels?.[name] === this.#labels[name])) {
        continue;
      }
      const buckets = record.bucketValues;
      if (
        typeof record.sum === "number" &&
        typeof record.count === "number" &&
        typeof buckets === "object" &&
        this.#boundKeys.every((k) => typeof buckets[k] === "number")
      ) {
        this.#key = key;
        this.#record = record;
      }
      return;
    }
  }
}
