// The orchestrator process SIGKILLed at random points over 200 order sagas and restarted each
// time (lease 2 s): every saga ends COMPLETED or COMPENSATED (or FAILED_COMPENSATION, reported),
// every effect is applied at most once, charges − refunds equals the amount of completed orders,
// and every reservation of a compensated saga is released.
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { SagaStore } from "../src/store/saga-store.js";
import { dropSchema, installLedgers, testPool, testSchema } from "./fixtures/order-saga-fixture.js";

const here = dirname(fileURLToPath(import.meta.url));
const node = join(here, "..", "..", "..", "node_modules", ".bin", "node");
const total = 200;

/** Resolves once `child` printed `count` lines starting with `prefix` (or `until()` holds after a line); rejects if it exits first. */
function printed(child: ChildProcess, prefix: string, count: number, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    let buffered = "";
    let stderr = "";
    const timer = setTimeout(
      () => finish(new Error(`${seen} of ${count} "${prefix}" lines within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      seen += lines.filter((line) => line.startsWith(prefix)).length;
      if (seen >= count) finish();
    };
    const onErr = (chunk: Buffer) => {
      stderr += chunk.toString();
    };
    const onExit = (code: number | null) =>
      finish(new Error(`orchestrator process exited (${code}) early:\n${stderr}`));
    const finish = (error?: Error) => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onErr);
      child.off("exit", onExit);
      if (error) reject(error);
      else resolve();
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onErr);
    child.once("exit", onExit);
  });
}

describe("orchestrator crash", () => {
  const pool = testPool();
  const schemas: string[] = [];
  const children: ChildProcess[] = [];

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await once(child, "exit");
      }
    }
    for (const schema of schemas.splice(0)) await dropSchema(pool, schema);
  });
  afterAll(async () => {
    await pool.end();
  });

  it("SIGKILLed at random points and restarted, every saga ends and the ledgers balance", {
    timeout: 80_000,
  }, async () => {
    const schema = testSchema();
    schemas.push(schema);
    await installLedgers(pool, schema);
    const store = new SagaStore(schema);
    await store.install(pool);
    for (let n = 1; n <= total; n++) {
      const failAt = n % 5 === 0 ? "inventory" : n % 7 === 0 ? "shipping" : undefined;
      await store.insert(pool, {
        id: randomUUID(),
        type: "order.place",
        version: 1,
        input: { orderId: `o-${n}`, amount: n, ...(failAt === undefined ? {} : { failAt }) },
        deadlineMs: undefined,
        traceparent: undefined,
        correlationId: undefined,
        leaseOwner: undefined,
        leaseTtlMs: 2000,
      });
    }
    const unfinished = async () =>
      (
        await pool.query(
          `SELECT count(*)::int AS n FROM "${schema}".sagas WHERE state IN ('RUNNING', 'COMPENSATING')`,
        )
      ).rows[0].n as number;

    let kills = 0;
    while ((await unfinished()) > 0 && kills < 25) {
      const child = spawn(
        node,
        [
          "--experimental-transform-types",
          "--no-warnings",
          "--conditions=@flotilla/source",
          "--import",
          "./orchestrator-source-hooks.ts",
          "./orchestrator-process.ts",
        ],
        {
          cwd: join(here, "fixtures"),
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, SAGA_SCHEMA: schema },
        },
      );
      children.push(child);
      try {
        await printed(child, "step ", 40 + Math.floor(Math.random() * 120), 8_000);
      } catch (error) {
        if (child.exitCode !== null) throw error;
        // Fewer steps left than the random kill point: the process ran out of work.
      }
      child.kill("SIGKILL");
      await once(child, "exit");
      children.splice(children.indexOf(child), 1);
      kills++;
    }

    expect(kills).toBeGreaterThan(1);
    expect(await unfinished()).toBe(0);
    const states = await pool.query(`SELECT state, count(*)::int AS n FROM "${schema}".sagas GROUP BY state`);
    const byState = Object.fromEntries(states.rows.map((r) => [r.state, r.n]));
    expect(byState.FAILED_COMPENSATION ?? 0).toBe(0);
    expect((byState.COMPLETED ?? 0) + (byState.COMPENSATED ?? 0)).toBe(total);
    // 1..200: multiples of 5 fail at inventory, other multiples of 7 at shipping.
    expect(byState.COMPENSATED).toBe(40 + 23);

    const balance = await pool.query(`SELECT
        (SELECT coalesce(sum(amount), 0)::int FROM "${schema}".payments WHERE kind = 'charge') AS charges,
        (SELECT coalesce(sum(amount), 0)::int FROM "${schema}".payments WHERE kind = 'refund') AS refunds,
        (SELECT coalesce(sum((input->>'amount')::int), 0)::int FROM "${schema}".sagas WHERE state = 'COMPLETED') AS completed`);
    const { charges, refunds, completed } = balance.rows[0];
    expect(charges - refunds).toBe(completed);
    const perSaga = await pool.query(`SELECT s.id, s.state,
        (SELECT count(*)::int FROM "${schema}".payments p WHERE p.saga_id = s.id AND p.kind = 'charge') AS charges,
        (SELECT count(*)::int FROM "${schema}".payments p WHERE p.saga_id = s.id AND p.kind = 'refund') AS refunds,
        (SELECT count(*)::int FROM "${schema}".reservations r WHERE r.saga_id = s.id AND r.kind = 'reserve') AS reserves,
        (SELECT count(*)::int FROM "${schema}".reservations r WHERE r.saga_id = s.id AND r.kind = 'release') AS releases,
        (SELECT count(*)::int FROM "${schema}".shipments h WHERE h.saga_id = s.id) AS shipments
      FROM "${schema}".sagas s`);
    for (const row of perSaga.rows) {
      if (row.state === "COMPLETED")
        expect([row.charges, row.refunds, row.reserves, row.releases, row.shipments]).toEqual([
          1, 0, 1, 0, 1,
        ]);
      else {
        expect(row.charges).toBe(row.refunds);
        expect(row.reserves).toBe(row.releases);
        expect(row.shipments).toBe(0);
      }
    }
  });
});
