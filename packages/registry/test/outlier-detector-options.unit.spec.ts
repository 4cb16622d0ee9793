import { ConfigError, ConfigReader } from "@flotilla/resilience";
import { FakeClock, configIssues as issues } from "@flotilla/resilience/testing";
import { describe, expect, it } from "vitest";
import { outlierDetector } from "../src/outlier/outlier-detector.js";
import {
  outlierDetectorDefaults,
  parseOutlierDetectorOptions,
} from "../src/outlier/outlier-detector-options.js";

describe("outlier detector options", () => {
  it("defaults to Envoy's values", () => {
    const { options } = outlierDetector();
    expect(options).toMatchObject({
      name: "default",
      consecutive5xx: 5,
      consecutiveGatewayErrors: 0,
      baseEjectionTime: 30_000,
      maxEjectionTime: 300_000,
      maxEjectionPercent: 10,
      alwaysEjectOneInstance: true,
      interval: 10_000,
      returnTimer: false,
    });
    expect(outlierDetectorDefaults.maxEjectionPercent).toBe(10);
  });

  it("reads durations as strings or milliseconds", () => {
    const { options } = outlierDetector({
      clock: new FakeClock(),
      baseEjectionTime: "1m30s",
      maxEjectionTime: 600_000,
      interval: "250ms",
    });
    expect(options).toMatchObject({ baseEjectionTime: 90_000, maxEjectionTime: 600_000, interval: 250 });
  });

  it("lists every bad value with its path, unknown keys included", () => {
    expect(
      issues(() =>
        outlierDetector({
          consecutive5xx: 2.5,
          consecutiveGatewayErrors: -1,
          baseEjectionTime: "soon",
          maxEjectionPercent: 120,
          interval: 0,
          returnTimer: "yes",
          maxEjectionTimes: "5m",
        } as never),
      ),
    ).toEqual([
      expect.stringMatching(/^maxEjectionTimes: unknown option; expected one of name, clock, /),
      expect.stringMatching(/^baseEjectionTime: expected a duration/),
      "consecutive5xx: expected a whole number, got 2.5",
      "consecutiveGatewayErrors: must be at least 0, got -1",
      "maxEjectionPercent: must be at most 100, got 120",
      "interval: must be longer than 0 ms, got 0 ms",
      'returnTimer: expected true or false, got "yes"',
    ]);
  });

  it("rejects a maxEjectionTime below baseEjectionTime", () => {
    expect(issues(() => outlierDetector({ baseEjectionTime: "60s", maxEjectionTime: "30s" }))).toEqual([
      "maxEjectionTime: must be at least baseEjectionTime (60000 ms), got 30000 ms",
    ]);
  });

  it("reports paths under the given prefix for configuration files", () => {
    const reader = new ConfigReader();
    parseOutlierDetectorOptions(
      { consecutive5xx: "five", maxEjectionTime: "1s" },
      reader,
      "services.orders.outlierDetection",
    );
    expect(() => reader.throwIfInvalid()).toThrow(ConfigError);
    expect(reader.issues.map((i) => i.path)).toEqual([
      "services.orders.outlierDetection.maxEjectionTime",
      "services.orders.outlierDetection.consecutive5xx",
    ]);
  });

  it("rejects options that are not an object", () => {
    expect(issues(() => outlierDetector(42 as never))).toEqual([": expected an object, got number 42"]);
  });
});
