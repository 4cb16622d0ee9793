// The relay SIGKILLed in the middle of a batch (a real process: fixtures/outbox-relay-process.ts,
// whose slow transport records each published id in a table of another schema), then a new relay
// started: every committed row is published at least once, no row was marked sent before the
// broker had it, and the new relay publishes exactly the rows left unmarked.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineEvent } from "../src/envelope/define-event.js";
import { outbox } from "../src/outbox/outbox.js";
import { type OutboxRelay, outboxRelay } from "../src/outbox/outbox-relay.js";
import { RecordingTransport } from "./fixtures/outbox-recording-transport.js";
import { dropSchema, nextEvent, testPool, testSchema } from "./fixtures/outbox-test-db.js";

const here = dirname(fileURLToPath(import.meta.url));
const node = join(here, "..", "..", "..", "node_modules", ".bin", "node");
const ticked = defineEvent({ type: "clock.ticked", schema: z.object({ n: z.number() }) });

/** Resolves once `child` has printed `count` lines starting with `prefix`; rejects if it exits first. */
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
      finish(new Error(`relay process exited (${code}) early:\n${stderr}`));
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

describe("outbox relay crash", () => {
  const pool = testPool();
  const schemas: string[] = [];
  const children: ChildProcess[] = [];
  const relays: OutboxRelay[] = [];

  afterEach(async () => {
    for (const r of relays.splice(0)) await r.stop();
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

  it("SIGKILLed mid-batch, then restarted, delivers every committed row", async () => {
    const schema = testSchema();
    const recordSchema = testSchema();
    schemas.push(schema, recordSchema);
    const box = outbox({ source: "/services/crash", schema });
    await box.install(pool);
    await pool.query(
      `CREATE SCHEMA "${recordSchema}"; CREATE TABLE "${recordSchema}".published (id uuid NOT NULL)`,
    );

    const client = await pool.connect();
    let committed: string[];
    try {
      await client.query("BEGIN");
      const envelopes = await box.publishMany(
        client,
        Array.from({ length: 200 }, (_, n) => ({
          event: ticked,
          data: { n },
          options: { key: `k${n % 7}` },
        })),
      );
      await client.query("COMMIT");
      committed = envelopes.map((e) => e.id);
    } finally {
      client.release();
    }

    const child = spawn(
      node,
      [
        "--experimental-transform-types",
        "--no-warnings",
        "--conditions=@flotilla/source",
        "--import",
        "./outbox-source-hooks.ts",
        "./outbox-relay-process.ts",
      ],
      {
        cwd: join(here, "fixtures"),
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          OUTBOX_SCHEMA: schema,
          RECORD_TABLE: `"${recordSchema}".published`,
          BATCH_SIZE: "20",
          MESSAGE_DELAY_MS: "5",
        },
      },
    );
    children.push(child);
    // 70 recorded: batches 1–3 are through the broker (and 1–2 surely marked), batch 4 is half done.
    await printed(child, "published ", 70);
    child.kill("SIGKILL");
    await once(child, "exit");

    const ids = async (sql: string) => (await pool.query<{ id: string }>(sql)).rows.map((row) => row.id);
    const recorded = new Set(await ids(`SELECT id FROM "${recordSchema}".published`));
    const marked = await ids(`SELECT id FROM ${box.table} WHERE sent_at IS NOT NULL ORDER BY position`);
    const unmarked = await ids(`SELECT id FROM ${box.table} WHERE sent_at IS NULL ORDER BY position`);
    expect(recorded.size).toBeGreaterThanOrEqual(70);
    expect(recorded.size).toBeLessThan(200);
    expect(marked.length).toBeGreaterThanOrEqual(40);
    expect(unmarked.length).toBeGreaterThan(0);
    for (const id of marked) expect(recorded.has(id)).toBe(true);

    const transport = new RecordingTransport();
    const relay = outboxRelay({
      pool,
      outbox: box,
      transport,
      pollInterval: "100ms",
      leaseRetryInterval: "100ms",
    });
    relays.push(relay);
    const drained = nextEvent(
      relay.events,
      (e) => e.type === "drained" && transport.published.length >= unmarked.length,
      15_000,
      "drain after restart",
    );
    relay.start();
    await drained;

    expect(transport.ids).toEqual(unmarked);
    const delivered = new Set([...recorded, ...transport.ids]);
    for (const id of committed) expect(delivered.has(id)).toBe(true);
    expect(await ids(`SELECT id FROM ${box.table} WHERE sent_at IS NULL`)).toEqual([]);
  });
});
