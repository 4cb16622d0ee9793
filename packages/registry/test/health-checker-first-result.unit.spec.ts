import { FakeClock } from "@flotilla/resilience/testing";
import { afterEach, describe, expect, it } from "vitest";
import { type HealthChecker, healthChecker } from "../src/health/health-checker.js";
import type { ProbeResult } from "../src/health/probe.js";
import { resolveChecks } from "../src/health/resolve-checks.js";
import type { CheckStatus } from "../src/registration.js";

const open: HealthChecker[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});

const base = 1_700_000_000_000;
const target = { id: "i1", address: "10.0.0.7", port: 8080 };

/** A checker on a fake clock (no spread, no jitter) whose probe answers `answer`. */
function setup() {
  const clock = new FakeClock();
  const state: { answer: ProbeResult } = { answer: { status: "passing" } };
  const changes: (readonly CheckStatus[])[] = [];
  const checker = healthChecker({
    clock,
    wallClock: () => base + clock.now(),
    jitter: 0,
    firstRunSpreadMs: 0,
    probe: { http: async () => state.answer, tcp: async () => state.answer },
    onChange: (_id, checks) => changes.push(checks),
  });
  open.push(checker);
  return { clock, state, changes, checker };
}

describe("HealthChecker: the first result of a check", () => {
  it("reports a check that fails from its very first run, with its output and the original since", async () => {
    const { clock, state, changes, checker } = setup();
    state.answer = { status: "critical", output: "ECONNREFUSED" };
    checker.track(target, resolveChecks([{ type: "tcp", kind: "liveness", intervalMs: 1_000 }]));
    await clock.advance(0);
    expect(changes).toEqual([
      [
        {
          name: "tcp-liveness",
          type: "tcp",
          kind: "liveness",
          status: "critical",
          output: "ECONNREFUSED",
          since: base,
        },
      ],
    ]);
    // Later runs with the same status report nothing.
    await clock.advance(3_000);
    expect(changes).toHaveLength(1);
  });

  it("starts from the statuses it is given and reports the first result even when it agrees", async () => {
    const { clock, changes, checker } = setup();
    const stored: CheckStatus[] = [
      { name: "http-readiness", type: "http", kind: "readiness", status: "passing", since: 42 },
      { name: "ttl-liveness", type: "ttl", kind: "liveness", status: "passing", since: 42 },
    ];
    checker.track(
      target,
      resolveChecks([
        { type: "http", url: "http://10.0.0.7:8080/ready", intervalMs: 1_000 },
        { type: "ttl" },
      ]),
      stored,
    );
    expect(checker.statusOf("i1")).toEqual([stored[0]]);
    await clock.advance(0);
    expect(changes).toEqual([[stored[0]]]);
  });

  it("carries a re-tracked check's own state over the given statuses, and starts changed checks over", async () => {
    const { clock, state, checker } = setup();
    const checks = resolveChecks([
      { type: "http", name: "ready", url: "http://10.0.0.7:8080/ready", intervalMs: 1_000 },
      { type: "tcp", name: "port", intervalMs: 1_000 },
    ]);
    checker.track(target, checks);
    await clock.advance(0);
    expect(checker.statusOf("i1")?.map((c) => c.status)).toEqual(["passing", "passing"]);
    state.answer = { status: "critical", output: "never asked" };
    const stale: CheckStatus[] = [
      { name: "ready", type: "http", kind: "readiness", status: "critical", output: "stale", since: 1 },
      { name: "port", type: "tcp", kind: "readiness", status: "critical", output: "stale", since: 1 },
    ];
    // The tcp check now points elsewhere: it is another check, started from the given status.
    checker.track({ ...target, port: 9090 }, checks, stale);
    expect(checker.statusOf("i1")).toEqual([
      { name: "ready", type: "http", kind: "readiness", status: "passing", since: base },
      stale[1],
    ]);
  });
});
