import { describe, expect, it } from "vitest";
import { family, histogramSeries, parsePrometheusText, value } from "./support/prometheus-text.js";

const valid = `# HELP requests_total Requests with a \\\\ backslash.
# TYPE requests_total counter
requests_total{path="/a\\"b",code="200"} 3
requests_total{path="/c",code="500"} 1 1700000000000
# HELP latency_seconds Latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 1
latency_seconds_bucket{le="1"} 2
latency_seconds_bucket{le="+Inf"} 3
latency_seconds_sum 4.5
latency_seconds_count 3
`;

describe("the strict Prometheus text parser used by the metrics tests", () => {
  it("reads families, labels with escapes, histograms and timestamps", () => {
    const families = parsePrometheusText(valid);
    const requests = family(families, "requests_total");
    expect(requests.type).toBe("counter");
    expect(requests.help).toBe("Requests with a \\ backslash.");
    expect(value(requests, { path: '/a"b' })).toBe(3);
    expect(requests.samples[1]!.timestamp).toBe(1_700_000_000_000);
    const [series] = histogramSeries(family(families, "latency_seconds"));
    expect(series!.buckets.map((b) => b.le)).toEqual([0.1, 1, Number.POSITIVE_INFINITY]);
    expect(series!.count).toBe(3);
  });

  it.each([
    ["a missing final newline", "up 1"],
    ["a bad metric name", "9up 1\n"],
    ["a bad value", "up one\n"],
    ["an unterminated label value", 'up{a="1} 1\n'],
    ["a repeated label", 'up{a="1",a="2"} 1\n'],
    ["a bad escape", 'up{a="\\t"} 1\n'],
    ["a duplicate series", 'up{a="1"} 1\nup{a="1"} 2\n'],
    ["a second TYPE", "# TYPE up gauge\n# TYPE up gauge\nup 1\n"],
    ["an unknown type", "# TYPE up meter\nup 1\n"],
    ["interleaved families", 'a 1\nb 1\na{x="1"} 1\n'],
    ["a negative counter", "# TYPE c counter\nc -1\n"],
    [
      "decreasing buckets",
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    ],
    ["a histogram without +Inf", '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    [
      "a count that differs from +Inf",
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n',
    ],
  ])("rejects %s", (_what, text) => {
    expect(() => parsePrometheusText(text)).toThrow();
  });
});
