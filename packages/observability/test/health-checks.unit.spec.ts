import { FakeClock, configIssues as issues } from "@flotilla/resilience/testing";
import { describe, expect, it } from "vitest";
import type { HealthCheckContext } from "../src/health/health-check.js";
import { healthChecks } from "../src/health/health-checks.js";
import { HealthCheckTimeoutError, HealthErrorCode } from "../src/health/health-error.js";

/** A check whose runs the test settles by hand, counting them. */
function manualCheck() {
  const runs: PromiseWithResolvers<void>[] = [];
  const contexts: HealthCheckContext[] = [];
  return {
    runs,
    contexts,
    check: (context: HealthCheckContext) => {
      contexts.push(context);
      const run = Promise.withResolvers<void>();
      runs.push(run);
      return run.promise;
    },
  };
}

describe("health checks", () => {
  it("reports each check and the worst status; a throw, a rejection or a bad result is a failure", async () => {
    const health = healthChecks({
      live: {
        loop: () => {},
        disk: async () => ({ status: "warn", details: { freeBytes: 1024 } }),
      },
      ready: {
        ok: async () => {},
        broken: () => {
          throw new Error("no connection");
        },
        rejected: () => Promise.reject(new AggregateError([new Error("a refused"), new Error("b refused")])),
        odd: async () => ({ status: "green" }) as never,
      },
      clock: new FakeClock(),
    });
    const live = await health.live();
    expect(live).toEqual({
      status: "warn",
      checks: {
        loop: { status: "pass", latencyMs: 0 },
        disk: { status: "warn", latencyMs: 0, details: { freeBytes: 1024 } },
      },
    });
    health.markReady();
    const ready = await health.ready();
    expect(ready.status).toBe("fail");
    expect(ready.checks).toEqual({
      ok: { status: "pass", latencyMs: 0 },
      broken: { status: "fail", latencyMs: 0, error: "no connection" },
      rejected: { status: "fail", latencyMs: 0, error: "a refused; b refused" },
      odd: { status: "fail", latencyMs: 0, error: 'the check returned status "green"' },
    });
    expect(await healthChecks().live()).toEqual({ status: "pass", checks: {} });
  });

  it("fails a check that does not settle within its timeout and aborts its signal", async () => {
    const clock = new FakeClock();
    const hanging = manualCheck();
    const health = healthChecks({
      live: { fast: () => {} },
      ready: { slow: { check: hanging.check, timeout: "50ms" }, fast: () => {} },
      timeout: "5s",
      clock,
    });
    health.markReady();
    let settled = false;
    const report = health.ready().then((r) => {
      settled = true;
      return r;
    });
    await clock.advance(49);
    expect(settled).toBe(false);
    await clock.advance(1);
    const result = await report;
    expect(result.status).toBe("fail");
    expect(result.checks.slow).toEqual({
      status: "fail",
      latencyMs: 50,
      error: 'check "slow" timed out after 50 ms',
    });
    expect(result.checks.fast!.status).toBe("pass");
    const reason = hanging.contexts[0]!.signal.reason;
    expect(reason).toBeInstanceOf(HealthCheckTimeoutError);
    expect((reason as HealthCheckTimeoutError).code).toBe(HealthErrorCode.CheckTimeout);
    expect(clock.pendingTimers).toBe(0);
  });

  it("shares one run among concurrent probes and reuses its result for cacheTtl", async () => {
    const clock = new FakeClock();
    const db = manualCheck();
    const health = healthChecks({ ready: { db: db.check }, cacheTtl: "1s", clock });
    health.markReady();
    const first = health.ready();
    const second = health.ready();
    expect(db.runs).toHaveLength(1);
    await clock.advance(5);
    db.runs[0]!.resolve();
    expect(await first).toEqual({ status: "pass", checks: { db: { status: "pass", latencyMs: 5 } } });
    expect(await second).toEqual(await first);

    await clock.advance(999);
    await health.ready();
    expect(db.runs).toHaveLength(1);
    await clock.advance(1);
    const third = health.ready();
    expect(db.runs).toHaveLength(2);
    db.runs[1]!.reject(new Error("gone"));
    expect((await third).checks.db).toEqual({ status: "fail", latencyMs: 0, error: "gone" });
  });

  it("does not start a check again while its timed-out run is still pending", async () => {
    const clock = new FakeClock();
    const db = manualCheck();
    const health = healthChecks({ ready: { db: db.check }, timeout: 100, cacheTtl: 0, clock });
    health.markReady();
    const timedOut = health.ready();
    await clock.advance(100);
    expect((await timedOut).checks.db!.error).toBe('check "db" timed out after 100 ms');

    await clock.advance(400);
    const refused = await health.ready();
    expect(refused.checks.db).toEqual({
      status: "fail",
      latencyMs: 0,
      error: "the previous run, started 500 ms ago, has not finished",
    });
    expect(db.runs).toHaveLength(1);

    db.runs[0]!.resolve();
    await clock.advance(0);
    const again = health.ready();
    expect(db.runs).toHaveLength(2);
    db.runs[1]!.resolve();
    expect((await again).status).toBe("pass");
  });

  it("answers starting until markReady and draining after drain, without running readiness checks", async () => {
    let calls = 0;
    const health = healthChecks({
      live: { loop: () => {} },
      ready: {
        db: () => {
          calls++;
        },
      },
      cacheTtl: 0,
      clock: new FakeClock(),
    });
    expect(health.phase).toBe("starting");
    expect(await health.ready()).toEqual({ status: "starting", checks: {} });
    expect((await health.live()).status).toBe("pass");
    expect(calls).toBe(0);

    health.markReady();
    expect((await health.ready()).status).toBe("pass");
    expect(calls).toBe(1);

    health.drain();
    expect(await health.ready()).toEqual({ status: "draining", checks: {} });
    expect((await health.live()).status).toBe("pass");
    health.markReady();
    expect(health.phase).toBe("draining");
    expect(calls).toBe(1);
  });

  it("rejects bad options with their paths", () => {
    expect(
      issues(() =>
        healthChecks({
          ready: { db: "SELECT 1", api: { check: () => {}, timeout: "soon" }, cache: { timeout: 5 } },
          timeout: 0,
          cacheTtl: -1,
          paths: { live: "health", ready: "health" },
          retries: 3,
        } as never),
      ),
    ).toEqual([
      "retries: unknown option; expected one of live, ready, timeout, cacheTtl, paths, clock",
      "timeout: must be longer than 0 ms, got 0 ms",
      "cacheTtl: expected a non-negative number of milliseconds, got -1",
      'paths.live: must start with "/", got "health"',
      'paths.ready: must start with "/", got "health"',
      'paths.ready: must differ from paths.live ("health")',
      "ready.db: expected a check function or { check, timeout }",
      'ready.api.timeout: expected a duration such as "250ms", "5s", "1m30s" or milliseconds, got "soon"',
      "ready.cache.check: expected a function",
    ]);
  });
});
