import fc from "fast-check";
import { Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { HistogramSeries } from "../src/metrics/histogram-series.js";

const buckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

function histogram(): { registry: Registry; histogram: Histogram<string> } {
  const registry = new Registry();
  const h = new Histogram({
    name: "d_seconds",
    help: "d",
    labelNames: ["m", "r"],
    buckets,
    registers: [registry],
  });
  return { registry, histogram: h };
}

const durations = fc.oneof(
  fc.double({ min: 0, max: 20, noNaN: true }),
  fc.constantFrom(...buckets),
  fc.constantFrom(0, 1e-9, 10.000001, 1e6),
);

describe("HistogramSeries", () => {
  it("renders exactly what prom-client's bound child renders for the same observations", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom("a", "b"), durations), { maxLength: 60 }),
        async (obs) => {
          const direct = histogram();
          const bound = histogram();
          const series = {
            a: new HistogramSeries(direct.histogram, { m: "GET", r: "/a" }),
            b: new HistogramSeries(direct.histogram, { m: "POST", r: "/b" }),
          };
          const children = {
            a: bound.histogram.labels("GET", "/a"),
            b: bound.histogram.labels("POST", "/b"),
          };
          for (const [which, value] of obs) {
            series[which].observe(value);
            children[which].observe(value);
          }
          expect(await direct.registry.metrics()).toBe(await bound.registry.metrics());
        },
      ),
    );
  });

  it("keeps recording after reset() and remove(), and refuses a value that is not finite", async () => {
    const { registry, histogram: h } = histogram();
    const series = new HistogramSeries(h, { m: "GET", r: "/a" });
    series.observe(0.2);
    series.observe(0.3);
    h.reset();
    series.observe(0.004);
    h.remove("GET", "/a");
    series.observe(7);
    series.observe(8);
    expect(() => series.observe(Number.NaN)).toThrow(TypeError);

    const reference = histogram();
    const child = reference.histogram.labels("GET", "/a");
    child.observe(7);
    child.observe(8);
    expect(await registry.metrics()).toBe(await reference.registry.metrics());
  });
});
