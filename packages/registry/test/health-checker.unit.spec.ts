import { createLogger } from "@flotilla/observability";
import { configIssues, FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it } from "vitest";
import { seededRandom } from "../src/balancer/seeded-random.js";
import { type HealthChecker, healthChecker } from "../src/health/health-checker.js";
import type { HealthCheckerOptions } from "../src/health/health-checker-options.js";
import type { Probe, ProbeResult } from "../src/health/probe.js";
import { type ResolvedCheck, resolveChecks } from "../src/health/resolve-checks.js";
import type { CheckDefinition, CheckStatus } from "../src/registration.js";

interface ProbeCall {
  readonly type: "http" | "tcp";
  /** The URL, or `address:port`. */
  readonly target: string;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  readonly at: number;
  resolve(result: ProbeResult): void;
  reject(error: unknown): void;
}

type Respond = (call: ProbeCall) => ProbeResult | Promise<ProbeResult> | undefined;

/**
 * A probe that records each call and answers with `respond`; `undefined` leaves the call pending
 * until the test resolves it. Counts calls in flight (not yet settled nor aborted).
 */
class FakeProbe implements Probe {
  readonly calls: ProbeCall[] = [];
  active = 0;
  maxActive = 0;
  respond: Respond;

  constructor(
    readonly clock: FakeClock,
    respond: Respond = () => undefined,
  ) {
    this.respond = respond;
  }

  http(url: string, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
    return this.#call("http", url, timeoutMs, signal);
  }

  tcp(address: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
    return this.#call("tcp", `${address}:${port}`, timeoutMs, signal);
  }

  get pending(): ProbeCall[] {
    return this.calls.filter((c) => !c.signal.aborted && (c as { done?: boolean }).done !== true);
  }

  #call(type: "http" | "tcp", target: string, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    let settled = false;
    const end = () => {
      if (settled) return false;
      settled = true;
      this.active--;
      (call as { done?: boolean }).done = true;
      return true;
    };
    let resolve!: (r: ProbeResult) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<ProbeResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    signal.addEventListener("abort", () => end(), { once: true });
    const call: ProbeCall = {
      type,
      target,
      timeoutMs,
      signal,
      at: this.clock.now(),
      resolve: (r) => {
        if (end()) resolve(r);
      },
      reject: (e) => {
        if (end()) reject(e);
      },
    };
    this.calls.push(call);
    let answer: ReturnType<Respond>;
    try {
      answer = this.respond(call);
    } catch (error) {
      end();
      throw error;
    }
    if (answer !== undefined) Promise.resolve(answer).then(call.resolve, call.reject);
    return promise;
  }
}

const passing: ProbeResult = { status: "passing" };
const http503: ProbeResult = { status: "critical", output: "HTTP 503" };
const target = (id = "i1") => ({ id, address: "10.0.0.7", port: 8080 });
const httpCheck = (extra: Partial<CheckDefinition> = {}): CheckDefinition =>
  ({ type: "http", url: "http://10.0.0.7:8080/health/ready", ...extra }) as CheckDefinition;

const open: HealthChecker[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});

function setup(options: Partial<HealthCheckerOptions> = {}, respond?: Respond) {
  const clock = new FakeClock();
  const probe = new FakeProbe(clock, respond);
  const changes: { id: string; checks: readonly CheckStatus[] }[] = [];
  const runs: { type: string; result: ProbeResult }[] = [];
  const checker = healthChecker({
    clock,
    probe,
    random: seededRandom(7),
    wallClock: () => 1_700_000_000_000 + clock.now(),
    onChange: (id, checks) => changes.push({ id, checks }),
    onRun: (type, result) => runs.push({ type, result }),
    ...options,
  });
  open.push(checker);
  return { clock, probe, checker, changes, runs };
}

/** Deterministic scheduling: no spread, no jitter; runs at 0, interval, 2 × interval, … */
const exact = { jitter: 0, firstRunSpreadMs: 0 };

function captureLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    service: "test",
    instanceId: "t",
    level: "debug",
    pretty: false,
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  return { logger, lines };
}

describe("HealthChecker: tracking", () => {
  it("starts every http and tcp check critical with 'not yet checked' and ignores ttl checks", () => {
    const { checker, changes, clock } = setup();
    checker.track(target(), resolveChecks([httpCheck(), { type: "tcp", kind: "liveness" }, { type: "ttl" }]));
    const since = 1_700_000_000_000 + clock.now();
    expect(checker.statusOf("i1")).toEqual([
      {
        name: "http-readiness",
        type: "http",
        kind: "readiness",
        status: "critical",
        output: "not yet checked",
        since,
      },
      {
        name: "tcp-liveness",
        type: "tcp",
        kind: "liveness",
        status: "critical",
        output: "not yet checked",
        since,
      },
    ]);
    expect(changes).toEqual([]);
    checker.track(target("ttl-only"), resolveChecks([{ type: "ttl" }]));
    expect(checker.statusOf("ttl-only")).toBeUndefined();
    expect(checker.statusOf("unknown")).toBeUndefined();
    expect(checker.stats()).toEqual({ instances: 1, checks: 2, inFlight: 0, queued: 0 });
  });

  it("probes tcp checks at the instance's address and port unless the check names its own", async () => {
    const { checker, probe, clock } = setup(exact, () => passing);
    checker.track(target(), resolveChecks([{ type: "tcp" }, { type: "tcp", address: "db", port: 5432 }]));
    await clock.advance(0);
    expect(probe.calls.map((c) => `${c.type} ${c.target}`)).toEqual(["tcp 10.0.0.7:8080", "tcp db:5432"]);
  });

  it("passes the check's url and timeout to the probe", async () => {
    const { checker, probe, clock } = setup(exact, () => passing);
    checker.track(target(), resolveChecks([httpCheck({ timeoutMs: 750 })]));
    await clock.advance(0);
    expect(probe.calls).toHaveLength(1);
    expect(probe.calls[0]).toMatchObject({
      type: "http",
      target: "http://10.0.0.7:8080/health/ready",
      timeoutMs: 750,
    });
  });
});

describe("HealthChecker: scheduling", () => {
  it("runs each check every interval when jitter is 0", async () => {
    const { checker, probe, clock } = setup(exact, () => passing);
    checker.track(target(), resolveChecks([httpCheck({ intervalMs: 1000 })]));
    await clock.advance(5500);
    expect(probe.calls.map((c) => c.at)).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
  });

  it("spreads first runs over [0, min(interval, 1 s)) and jitters later runs within ±10 % of the interval", async () => {
    const { checker, probe, clock } = setup({}, () => passing);
    for (let i = 0; i < 20; i++)
      checker.track(target(`i${i}`), resolveChecks([httpCheck({ url: `http://h/${i}` })]));
    await clock.advance(200_000);
    const byTarget = Map.groupBy(probe.calls, (c) => c.target);
    expect(byTarget.size).toBe(20);
    const firsts = [...byTarget.values()].map((calls) => calls[0]?.at as number);
    for (const at of firsts) {
      expect(at).toBeGreaterThanOrEqual(0);
      expect(at).toBeLessThan(1000);
    }
    expect(new Set(firsts).size).toBeGreaterThan(10);
    const gaps = [...byTarget.values()].flatMap((calls) =>
      calls.slice(1).map((c, i) => c.at - (calls[i]?.at as number)),
    );
    expect(gaps.length).toBeGreaterThan(300);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(9000);
      expect(gap).toBeLessThanOrEqual(11_000);
    }
    expect(new Set(gaps).size).toBeGreaterThan(100);
  });

  it("spreads first runs over at most the interval when it is shorter than a second", async () => {
    const { checker, probe, clock } = setup({ jitter: 0 }, () => passing);
    for (let i = 0; i < 20; i++) {
      checker.track(target(`i${i}`), resolveChecks([httpCheck({ url: `http://h/${i}`, intervalMs: 200 })]));
    }
    await clock.advance(199);
    expect(new Set(probe.calls.map((c) => c.target)).size).toBe(20);
  });

  it("never runs a check again while its previous run is in flight", async () => {
    const { checker, probe, clock } = setup(exact);
    checker.track(target(), resolveChecks([httpCheck({ intervalMs: 1000, timeoutMs: 1000 })]));
    await clock.advance(999);
    expect(probe.calls).toHaveLength(1);
    expect(probe.active).toBe(1);
    await clock.advance(5000);
    expect(probe.maxActive).toBe(1);
    // Each run ends by timeout at +1000 and the next starts 1000 later.
    expect(probe.calls.map((c) => c.at)).toEqual([0, 2000, 4000]);
  });
});

describe("HealthChecker: results", () => {
  it("calls onChange only when a status changes, with all of the instance's checks", async () => {
    const results: ProbeResult[] = [
      passing,
      passing,
      http503,
      { status: "critical", output: "ECONNREFUSED" },
      { status: "warning", output: "HTTP 429" },
      passing,
    ];
    const { checker, clock, changes, runs } = setup(exact, () => results.shift() ?? passing);
    checker.track(target(), resolveChecks([httpCheck({ intervalMs: 1000 }), { type: "ttl" }]));
    await clock.advance(0);
    const base = 1_700_000_000_000;
    expect(changes).toEqual([
      {
        id: "i1",
        checks: [{ name: "http-readiness", type: "http", kind: "readiness", status: "passing", since: base }],
      },
    ]);
    await clock.advance(1000);
    expect(changes).toHaveLength(1);
    await clock.advance(1000);
    expect(changes).toHaveLength(2);
    expect(changes[1]?.checks[0]).toMatchObject({
      status: "critical",
      output: "HTTP 503",
      since: base + 2000,
    });
    await clock.advance(1000);
    // Same status, new output: visible in statusOf, no onChange.
    expect(changes).toHaveLength(2);
    expect(checker.statusOf("i1")?.[0]).toMatchObject({
      status: "critical",
      output: "ECONNREFUSED",
      since: base + 2000,
    });
    await clock.advance(1000);
    expect(changes.at(-1)?.checks[0]).toMatchObject({ status: "warning", output: "HTTP 429" });
    await clock.advance(1000);
    expect(changes.map((c) => c.checks[0]?.status)).toEqual(["passing", "critical", "warning", "passing"]);
    expect(changes.at(-1)?.checks[0]).not.toHaveProperty("output");
    expect(runs.map((r) => `${r.type} ${r.result.status}`)).toEqual([
      "http passing",
      "http passing",
      "http critical",
      "http critical",
      "http warning",
      "http passing",
    ]);
  });

  it("needs successBeforePassing passes in a row to pass and failuresBeforeCritical failures in a row to fail", async () => {
    const script: ProbeResult[] = [
      passing,
      passing,
      http503,
      passing,
      passing,
      passing,
      http503,
      passing,
      http503,
      http503,
    ];
    const { checker, clock, changes } = setup(
      { ...exact, successBeforePassing: 3, failuresBeforeCritical: 2 },
      () => script.shift() ?? passing,
    );
    checker.track(target(), resolveChecks([httpCheck({ intervalMs: 1000 })]));
    const statuses: string[] = [];
    for (let i = 0; i < 10; i++) {
      await clock.advance(i === 0 ? 0 : 1000);
      statuses.push(checker.statusOf("i1")?.[0]?.status as string);
    }
    expect(statuses).toEqual([
      "critical",
      "critical",
      "critical",
      "critical",
      "critical",
      "passing",
      "passing",
      "passing",
      "passing",
      "critical",
    ]);
    expect(changes.map((c) => c.checks[0]?.status)).toEqual(["passing", "critical"]);
    expect(checker.statusOf("i1")?.[0]?.output).toBe("HTTP 503");
  });

  it("counts a probe that throws or rejects as critical with its message and keeps checking", async () => {
    let n = 0;
    const { checker, clock, probe } = setup(exact);
    probe.respond = () => {
      n++;
      // Thrown from inside probe.http: the method throws synchronously, no promise at all.
      if (n === 1) throw new Error("probe exploded");
      if (n === 2)
        return Promise.reject(Object.assign(new Error("connect refused"), { code: "ECONNREFUSED" }));
      if (n === 3) return { status: "bogus" } as unknown as ProbeResult;
      return passing;
    };
    checker.track(target(), resolveChecks([httpCheck({ intervalMs: 1000 })]));
    await clock.advance(0);
    expect(checker.statusOf("i1")?.[0]).toMatchObject({ status: "critical", output: "probe exploded" });
    await clock.advance(1000);
    expect(checker.statusOf("i1")?.[0]).toMatchObject({ status: "critical", output: "ECONNREFUSED" });
    await clock.advance(1000);
    expect(checker.statusOf("i1")?.[0]?.output).toMatch(/invalid result/);
    await clock.advance(1000);
    expect(checker.statusOf("i1")?.[0]?.status).toBe("passing");
    expect(checker.stats().inFlight).toBe(0);
  });

  it("fails a run that outlasts its timeout, aborting the probe's signal", async () => {
    const { checker, clock, probe } = setup(exact);
    checker.track(target(), resolveChecks([httpCheck({ timeoutMs: 2000 })]));
    await clock.advance(1999);
    expect(probe.calls[0]?.signal.aborted).toBe(false);
    await clock.advance(1);
    expect(probe.calls[0]?.signal.aborted).toBe(true);
    expect(checker.statusOf("i1")?.[0]).toMatchObject({
      status: "critical",
      output: "timeout after 2000 ms",
    });
    // A late answer of the timed-out run changes nothing.
    probe.calls[0]?.resolve(passing);
    await clock.flush();
    expect(checker.statusOf("i1")?.[0]?.status).toBe("critical");
  });

  it("survives an onChange that throws, logging it", async () => {
    const { logger, lines } = captureLogger();
    const { checker, clock } = setup(
      {
        ...exact,
        logger,
        onChange: () => {
          throw new Error("store down");
        },
      },
      () => passing,
    );
    checker.track(target(), resolveChecks([httpCheck({ intervalMs: 1000 })]));
    await clock.advance(2000);
    expect(checker.statusOf("i1")?.[0]?.status).toBe("passing");
    expect(lines.filter((l) => l.msg === "health checker: onChange threw")).toHaveLength(1);
    expect(checker.stats().inFlight).toBe(0);
  });
});

describe("HealthChecker: concurrency", () => {
  it("never has more than maxConcurrent runs in flight and queues the rest in order", async () => {
    const { checker, clock, probe } = setup({ ...exact, maxConcurrent: 3 });
    for (let i = 0; i < 10; i++)
      checker.track(target(`i${i}`), resolveChecks([httpCheck({ url: `http://h/${i}` })]));
    await clock.advance(0);
    expect(probe.active).toBe(3);
    expect(checker.stats()).toMatchObject({ inFlight: 3, queued: 7 });
    const done: string[] = [];
    while (done.length < 10) {
      const call = probe.pending[0];
      if (call === undefined) throw new Error("nothing in flight");
      call.resolve(passing);
      done.push(call.target);
      await clock.flush();
      expect(probe.active).toBeLessThanOrEqual(3);
    }
    expect(done).toEqual(Array.from({ length: 10 }, (_, i) => `http://h/${i}`));
    expect(probe.maxActive).toBe(3);
    expect(checker.stats()).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it("frees a slot when a run times out", async () => {
    const { checker, clock, probe } = setup({ ...exact, maxConcurrent: 1 });
    checker.track(target("a"), resolveChecks([httpCheck({ url: "http://a/", timeoutMs: 500 })]));
    checker.track(target("b"), resolveChecks([httpCheck({ url: "http://b/", timeoutMs: 500 })]));
    await clock.advance(0);
    expect(probe.calls.map((c) => c.target)).toEqual(["http://a/"]);
    await clock.advance(500);
    expect(probe.calls.map((c) => `${c.target}@${c.at}`)).toEqual(["http://a/@0", "http://b/@500"]);
    expect(probe.maxActive).toBe(1);
  });
});

describe("HealthChecker: untrack, track again, close", () => {
  it("untrack aborts the run in flight, frees its slot and stops all runs", async () => {
    const { checker, clock, probe, changes } = setup({ ...exact, maxConcurrent: 1 });
    checker.track(target("a"), resolveChecks([httpCheck({ url: "http://a/" })]));
    checker.track(target("b"), resolveChecks([httpCheck({ url: "http://b/" })]));
    await clock.advance(0);
    const first = probe.calls[0];
    checker.untrack("a");
    expect(first?.signal.aborted).toBe(true);
    expect(checker.statusOf("a")).toBeUndefined();
    await clock.flush();
    // b's queued run took the slot.
    expect(probe.calls.map((c) => c.target)).toEqual(["http://a/", "http://b/"]);
    checker.untrack("b");
    await clock.advance(60_000);
    expect(probe.calls).toHaveLength(2);
    expect(changes).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
    expect(checker.stats()).toEqual({ instances: 0, checks: 0, inFlight: 0, queued: 0 });
  });

  it("untrack drops a run that waits in the queue", async () => {
    const { checker, clock, probe } = setup({ ...exact, maxConcurrent: 1 });
    checker.track(target("a"), resolveChecks([httpCheck({ url: "http://a/" })]));
    checker.track(target("b"), resolveChecks([httpCheck({ url: "http://b/" })]));
    await clock.advance(0);
    checker.untrack("b");
    probe.calls[0]?.resolve(passing);
    await clock.flush();
    expect(probe.calls.map((c) => c.target)).toEqual(["http://a/"]);
  });

  it("track replaces the previous tracking, keeping the status of an unchanged check", async () => {
    const { checker, clock, probe } = setup(exact, () => passing);
    checker.track(target(), resolveChecks([httpCheck({ intervalMs: 1000 }), { type: "tcp" }]));
    await clock.advance(0);
    expect(checker.statusOf("i1")?.map((c) => c.status)).toEqual(["passing", "passing"]);
    probe.respond = () => undefined;
    checker.track(target(), resolveChecks([httpCheck({ intervalMs: 1000 }), { type: "tcp", port: 9090 }]));
    expect(checker.statusOf("i1")).toEqual([
      expect.objectContaining({ name: "http-readiness", status: "passing" }),
      expect.objectContaining({ name: "tcp-readiness", status: "critical", output: "not yet checked" }),
    ]);
    expect(checker.stats().checks).toBe(2);
    await clock.advance(0);
    expect(probe.calls.slice(2).map((c) => c.target)).toEqual([
      "http://10.0.0.7:8080/health/ready",
      "10.0.0.7:9090",
    ]);
    // Only the new chain runs: two calls per interval, not four.
    checker.untrack("i1");
    await clock.advance(10_000);
    expect(probe.calls).toHaveLength(4);
    expect(clock.pendingTimers).toBe(0);
  });

  it("close clears every timer, aborts runs in flight and ignores later tracks", async () => {
    const { checker, clock, probe } = setup({ maxConcurrent: 2 });
    for (let i = 0; i < 5; i++) checker.track(target(`i${i}`), resolveChecks([httpCheck(), { type: "tcp" }]));
    await clock.advance(1000);
    expect(probe.active).toBe(2);
    expect(clock.pendingTimers).toBeGreaterThan(0);
    await checker.close();
    expect(clock.pendingTimers).toBe(0);
    expect(probe.calls.every((c) => c.signal.aborted)).toBe(true);
    expect(probe.active).toBe(0);
    checker.track(target("late"), resolveChecks([httpCheck()]));
    expect(checker.statusOf("late")).toBeUndefined();
    expect(clock.pendingTimers).toBe(0);
    await checker.close();
  });
});

describe("HealthChecker: options", () => {
  it("refuses bad options naming each path", () => {
    expect(
      configIssues(() =>
        healthChecker({
          maxConcurrent: 0,
          jitter: 0.7,
          successBeforePassing: 1.5,
          probe: {} as Probe,
          nope: 1,
        } as unknown as HealthCheckerOptions),
      ),
    ).toEqual([
      "nope: unknown option; expected one of clock, wallClock, probe, maxConcurrent, jitter, firstRunSpreadMs, random, logger, successBeforePassing, failuresBeforeCritical, onChange, onRun",
      "probe: expected a Probe with http() and tcp()",
      "onChange: required",
      "maxConcurrent: must be at least 1, got 0",
      "jitter: must be at most 0.5, got 0.7",
      "successBeforePassing: expected a whole number, got 1.5",
    ]);
  });

  it("accepts resolved checks of every type", () => {
    const checks: ResolvedCheck[] = resolveChecks([httpCheck(), { type: "tcp" }, { type: "ttl" }]);
    const { checker } = setup();
    checker.track(target(), checks);
    expect(checker.statusOf("i1")).toHaveLength(2);
  });
});
