// Where a caller's time goes besides CPU: the caller's own garbage collections, and the stalls —
// spans of at least 0.5 ms in which none of its calls completed. With 32 calls in flight a stall
// is the whole pipeline waiting: on this process (a GC), on the callee, or on the scheduler.
import { constants, PerformanceObserver } from "node:perf_hooks";
import { percentile } from "../lib/stats.ts";

const stallMs = 0.5;

/** Records completions and GC pauses over a timed window; {@link report} sums them up in one line. */
export class StallDiagnostics {
  readonly #completions: number[] = [];
  readonly #gcs: [start: number, end: number, minor: boolean][] = [];
  readonly #observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      this.#gcs.push([
        entry.startTime,
        entry.startTime + entry.duration,
        kind === constants.NODE_PERFORMANCE_GC_MINOR,
      ]);
    }
  });

  start(): void {
    this.#observer.observe({ entryTypes: ["gc"] });
  }

  stop(): void {
    this.#observer.disconnect();
  }

  /** A call completed at `at` (performance.now()). */
  completed(at: number): void {
    this.#completions.push(at);
  }

  /** One line: GCs, stalls (and how many overlap a GC of this process), the latency percentiles. */
  report(label: string, sortedLatencies: readonly number[]): string {
    const gcMs = this.#gcs.reduce((sum, [start, end]) => sum + end - start, 0);
    const major = this.#gcs.filter(([, , minor]) => !minor).length;
    let stalls = 0;
    let stalledMs = 0;
    let duringGc = 0;
    let duringGcMs = 0;
    const c = this.#completions;
    for (let i = 1; i < c.length; i++) {
      const from = c[i - 1]!;
      const to = c[i]!;
      if (to - from < stallMs) continue;
      stalls++;
      stalledMs += to - from;
      if (this.#gcs.some(([start, end]) => start < to && end > from)) {
        duringGc++;
        duringGcMs += to - from;
      }
    }
    const percentiles = [50, 90, 95, 98, 99, 99.9]
      .map((p) => `p${p} ${percentile(sortedLatencies, p).toFixed(2)}`)
      .join(" ");
    return (
      `${label}: ${this.#gcs.length} GCs (${major} not minor) ${gcMs.toFixed(0)} ms; ` +
      `${stalls} stalls ≥ ${stallMs} ms, ${stalledMs.toFixed(0)} ms, of which ${duringGc} (${duringGcMs.toFixed(0)} ms) overlap a GC of this process; ms ${percentiles}`
    );
  }
}
