import { describe, expect, it } from "vitest";
import {
  BreakerOpenError,
  BreakerState,
  CircuitBreaker,
  type RegistryEvent,
  Retry,
  resilienceRegistry,
} from "../src/index.js";
import { configError, FakeClock } from "../src/testing/index.js";

describe("resilienceRegistry", () => {
  it("builds an instance from its base config and its own overrides", () => {
    const registry = resilienceRegistry({
      circuitBreaker: {
        configs: {
          default: { slidingWindowSize: 20, failureRateThreshold: 40 },
          strict: { failureRateThreshold: 10 },
        },
        instances: { payments: { baseConfig: "strict", waitDurationInOpenState: "5s" }, catalog: {} },
      },
    });
    const payments = registry.circuitBreaker("payments");
    expect(payments).toBeInstanceOf(CircuitBreaker);
    expect(payments.name).toBe("payments");
    expect(payments.options.failureRateThreshold).toBe(10);
    expect(payments.options.slidingWindowSize).toBe(100);
    expect(payments.options.waitDurationInOpenState).toBe(5000);
    const catalog = registry.circuitBreaker("catalog");
    expect(catalog.options.slidingWindowSize).toBe(20);
    expect(catalog.options.failureRateThreshold).toBe(40);
  });

  it("gives a name the configuration does not list the default config", () => {
    const registry = resilienceRegistry({ retry: { configs: { default: { maxAttempts: 5 } } } });
    expect(registry.retry("anything").maxAttempts).toBe(5);
  });

  it("returns the same instance for the same name", () => {
    const registry = resilienceRegistry();
    expect(registry.retry("a")).toBe(registry.retry("a"));
    expect(registry.retry("a")).not.toBe(registry.retry("b"));
    expect(registry.retry("a")).toBeInstanceOf(Retry);
  });

  it("lists every bad value with its exact path in one error", () => {
    const error = configError(() =>
      resilienceRegistry({
        circuitBreaker: {
          instances: {
            payments: { failureRateThreshold: 120, slidingWindowSize: -1 },
            orders: { failureRateThreshold: 0 },
            shipping: { waitDurationInOpenState: "5s", waitIntervalFunctionInOpenState: () => 1000 },
          },
        },
        retry: { instances: { payments: { maxAttempts: 0, backoff: "soon" } } },
        bulkhead: { instances: { inventory: { maxConcurrent: 10, maxQueu: 5 } } },
      }),
    );
    const paths = error.issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "circuitBreaker.instances.payments.failureRateThreshold",
        "circuitBreaker.instances.payments.slidingWindowSize",
        "circuitBreaker.instances.orders.failureRateThreshold",
        "retry.instances.payments.maxAttempts",
        "retry.instances.payments.backoff",
        "bulkhead.instances.inventory.maxQueu",
      ]),
    );
    expect(paths.some((p) => p.startsWith("circuitBreaker.instances.shipping"))).toBe(true);
    expect(error.code).toBe("FLT_CONFIG_INVALID");
    expect(error.message).toContain(
      "circuitBreaker.instances.payments.failureRateThreshold: must be at most 100, got 120",
    );
  });

  it("reports a bad base config once, at the base config's path", () => {
    const error = configError(() =>
      resilienceRegistry({
        timeout: { configs: { default: { duration: "fast" } }, instances: { a: {}, b: {} } },
      }),
    );
    expect(error.issues.map((i) => i.path)).toEqual(["timeout.configs.default.duration"]);
  });

  it("refuses an unknown baseConfig and an unknown kind of policy", () => {
    const error = configError(() =>
      resilienceRegistry({
        retry: { configs: { default: {} }, instances: { a: { baseConfig: "missing" } } },
        circuitbreaker: {},
      } as never),
    );
    expect(error.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          path: "retry.instances.a.baseConfig",
          message: expect.stringContaining("missing"),
        }),
        expect.objectContaining({ path: "circuitbreaker" }),
      ]),
    );
  });

  it("composes a named pipeline in the recommended order and runs it on the registry's clock", async () => {
    const clock = new FakeClock();
    const registry = resilienceRegistry(
      {
        retry: { instances: { payments: { maxAttempts: 3, backoff: "100ms" } } },
        circuitBreaker: { instances: { payments: { slidingWindowSize: 2, minimumNumberOfCalls: 2 } } },
        timeout: { instances: { payments: { duration: "1s" } } },
      },
      { clock },
    );
    const policy = registry.pipeline("payments");
    expect(policy.policies).toEqual([
      registry.retry("payments"),
      registry.circuitBreaker("payments"),
      registry.timeout("payments"),
    ]);
    let calls = 0;
    const result = policy.execute(() => {
      calls++;
      return calls < 3 ? Promise.reject(new Error("flaky")) : Promise.resolve("ok");
    });
    const settled = expect(result).rejects.toBeInstanceOf(BreakerOpenError);
    await clock.advance(1000);
    // Two failures fill the window of two and open the breaker; the third attempt is refused.
    await settled;
    expect(calls).toBe(2);
    expect(registry.circuitBreaker("payments").state).toBe(BreakerState.OPEN);
  });

  it("refuses a pipeline for a name nothing is configured for", () => {
    expect(() => resilienceRegistry().pipeline("ghost")).toThrow('no policy is configured for "ghost"');
  });

  it("announces every instance it builds", () => {
    const registry = resilienceRegistry();
    const seen: RegistryEvent[] = [];
    registry.events.subscribe((e) => seen.push(e));
    const breaker = registry.circuitBreaker("users");
    registry.circuitBreaker("users");
    expect(seen).toEqual([{ type: "created", kind: "circuitBreaker", name: "users", policy: breaker }]);
    expect([...registry.instances()].map((i) => `${i.kind}/${i.name}`)).toEqual(["circuitBreaker/users"]);
  });
});

describe("resilienceRegistry required options", () => {
  it("reports a required option that neither the instance nor its base config gives, at the instance's path", () => {
    const error = configError(() => resilienceRegistry({ bulkhead: { instances: { payments: {} } } }));
    expect(error.issues.map((i) => i.path)).toEqual(["bulkhead.instances.payments.maxConcurrent"]);
  });

  it("lets a base config leave a required option to its instances", () => {
    const registry = resilienceRegistry({
      bulkhead: { configs: { default: { maxQueue: 5 } }, instances: { payments: { maxConcurrent: 2 } } },
    });
    expect(registry.bulkhead("payments").maxQueue).toBe(5);
  });

  it("checks a name the configuration does not list when it is first used, with that name's path", () => {
    const registry = resilienceRegistry({ bulkhead: { configs: { default: { maxQueue: 5 } } } });
    const error = configError(() => registry.bulkhead("unlisted"));
    expect(error.issues.map((i) => i.path)).toEqual(["bulkhead.instances.unlisted.maxConcurrent"]);
  });
});
