import { Histogram, type Registry } from "prom-client";
import { HistogramSeries } from "./histogram-series.js";
import { httpMethodLabel } from "./http-method.js";
import { MetricsErrorCode } from "./metrics-error.js";

/**
 * Bucket upper bounds in seconds for HTTP durations: the boundaries OpenTelemetry's HTTP
 * semantic conventions recommend for `http.server.request.duration` and
 * `http.client.request.duration`.
 * https://opentelemetry.io/docs/specs/semconv/http/http-metrics/#metric-httpserverrequestduration
 */
export const httpDurationBuckets: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
]);

/** The label value of every label of the one series that collects label sets beyond the limit. */
export const overflowLabel = "_overflow";

/** A pre-bound series of a histogram: observing costs no label lookup of ours. */
export interface BoundObserver {
  /** Records one duration in seconds. */
  observe(seconds: number): void;
}

/** How to build an {@link HttpDurationHistogram}. */
export interface HttpDurationHistogramOptions {
  /** The Prometheus metric name. */
  readonly name: string;
  readonly help: string;
  /** The second label: `http_route` for servers, `server` for clients. */
  readonly targetLabel: string;
  /** The value of the second label when the caller has none (`unmatched` for a route). */
  readonly missingTarget: string;
  /** Bucket upper bounds in seconds; {@link httpDurationBuckets} by default. */
  readonly buckets?: readonly number[];
  /** Distinct label sets kept before new ones are recorded in the overflow series. */
  readonly limit: number;
}

// A status that is not a whole number in 100–999 (or none: the request failed before a response)
// is kept under this key and exported as an empty label, which Prometheus reads as "absent".
const noStatus = 0;

/**
 * A duration histogram labelled `http_request_method`, a target (route template or dependency)
 * and `http_response_status_code`, with bounded cardinality: methods outside the known set are
 * `_OTHER`, a missing target gets a fixed placeholder, and after `limit` distinct label sets every
 * new one is recorded in a single series whose labels are all `_overflow` (the Prometheus shape of
 * OpenTelemetry's `otel.metric.overflow` series). At most `limit + 1` series exist.
 *
 * The series are cached in nested maps keyed by method, target and status code, so a repeated
 * label set costs three map lookups and no allocation; recording into one adds to prom-client's
 * own record of the series (see {@link HistogramSeries}).
 */
export class HttpDurationHistogram {
  /** The underlying prom-client histogram. */
  readonly histogram: Histogram<string>;
  /** The Prometheus metric name. */
  readonly name: string;
  /** Distinct label sets kept before overflow. */
  readonly limit: number;
  readonly #missingTarget: string;
  readonly #labelNames: readonly [string, string, string];
  readonly #children = new Map<string, Map<string, Map<number, BoundObserver>>>();
  #size = 0;
  #overflow: BoundObserver | undefined;

  constructor(registry: Registry, options: HttpDurationHistogramOptions) {
    this.name = options.name;
    this.limit = options.limit;
    this.#missingTarget = options.missingTarget;
    this.#labelNames = ["http_request_method", options.targetLabel, "http_response_status_code"];
    this.histogram = new Histogram({
      name: options.name,
      help: options.help,
      labelNames: [...this.#labelNames],
      buckets: [...(options.buckets ?? httpDurationBuckets)],
      registers: [registry],
    });
  }

  /** Distinct label sets recorded so far, not counting the overflow series. */
  get series(): number {
    return this.#size;
  }

  /** True once a label set was refused because the limit was reached. */
  get overflowed(): boolean {
    return this.#overflow !== undefined;
  }

  /** Records `seconds` for one request. */
  observe(method: string, target: string | undefined, status: number | undefined, seconds: number): void {
    this.child(method, target, status).observe(seconds);
  }

  /**
   * The series for one label set, created on first use. Hold on to it where the labels are known
   * ahead of time (a client bound to one dependency) to skip even the map lookups.
   */
  child(method: string, target: string | undefined, status: number | undefined): BoundObserver {
    const methodLabel = httpMethodLabel(method);
    const targetLabel = target === undefined || target === "" ? this.#missingTarget : target;
    const statusKey =
      status !== undefined && Number.isInteger(status) && status >= 100 && status <= 999 ? status : noStatus;
    let byTarget = this.#children.get(methodLabel);
    let byStatus = byTarget?.get(targetLabel);
    const cached = byStatus?.get(statusKey);
    if (cached !== undefined) return cached;
    if (this.#size >= this.limit) return this.#overflowChild();
    const child = this.#series(methodLabel, targetLabel, statusKey === noStatus ? "" : String(statusKey));
    if (byTarget === undefined) {
      byTarget = new Map();
      this.#children.set(methodLabel, byTarget);
    }
    if (byStatus === undefined) {
      byStatus = new Map();
      byTarget.set(targetLabel, byStatus);
    }
    byStatus.set(statusKey, child);
    this.#size++;
    return child;
  }

  #series(method: string, target: string, status: string): BoundObserver {
    const [methodName, targetName, statusName] = this.#labelNames;
    return new HistogramSeries(this.histogram, {
      [methodName]: method,
      [targetName]: target,
      [statusName]: status,
    });
  }

  #overflowChild(): BoundObserver {
    if (this.#overflow === undefined) {
      this.#overflow = this.#series(overflowLabel, overflowLabel, overflowLabel);
      process.emitWarning(
        `metric ${this.name} reached its limit of ${this.limit} label sets; new ones are recorded with every label "${overflowLabel}"`,
        { code: MetricsErrorCode.CardinalityLimit },
      );
    }
    return this.#overflow;
  }
}

/** Builds an {@link HttpDurationHistogram} registered in `registry`. */
export function httpDurationHistogram(
  registry: Registry,
  options: HttpDurationHistogramOptions,
): HttpDurationHistogram {
  return new HttpDurationHistogram(registry, options);
}
