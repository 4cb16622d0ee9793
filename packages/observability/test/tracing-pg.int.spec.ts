import { randomBytes } from "node:crypto";
import { SpanKind } from "@opentelemetry/api";
// Imported before any telemetry starts, as an application importing `pg` statically next to its
// initTelemetry call would: the instrumentation must still patch it.
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { initTelemetry, type Telemetry } from "../src/tracing/telemetry.js";

const connection = { host: "127.0.0.1", port: 5432, user: "postgres", database: "postgres" };

let telemetry: Telemetry | undefined;
let schema: string;
let admin: pg.Client;

beforeEach(async () => {
  schema = `flt_tracing_${randomBytes(6).toString("hex")}`;
  admin = new pg.Client(connection);
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.query(`CREATE TABLE ${schema}.items (id int PRIMARY KEY, name text NOT NULL)`);
});

afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
});

describe("pg tracing", () => {
  it("a query under an active span produces a child client span with database attributes", async () => {
    telemetry = initTelemetry({ serviceName: "pg-test", exporter: "memory" });
    const client = new pg.Client(connection);
    await client.connect();
    try {
      await telemetry.tracer.startActiveSpan("load-items", async (parent) => {
        await client.query(`INSERT INTO ${schema}.items (id, name) VALUES ($1, $2)`, [1, "anchor"]);
        const result = await client.query(`SELECT name FROM ${schema}.items WHERE id = $1`, [1]);
        expect(result.rows).toEqual([{ name: "anchor" }]);
        parent.end();
      });
    } finally {
      await client.end();
    }

    const spans = telemetry.finishedSpans();
    const parent = spans.find((s) => s.name === "load-items")!;
    const dbSpans = spans.filter((s) => s.kind === SpanKind.CLIENT);
    expect(dbSpans).toHaveLength(2);
    for (const span of dbSpans) {
      expect(span.spanContext().traceId).toBe(parent.spanContext().traceId);
      expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
      expect(span.instrumentationScope.name).toContain("pg");
    }
    const select = dbSpans.find((s) =>
      String(s.attributes["db.query.text"] ?? s.attributes["db.statement"]).startsWith("SELECT"),
    );
    expect(select).toBeDefined();
    expect(select!.attributes["db.system.name"] ?? select!.attributes["db.system"]).toBe("postgresql");
    // Query parameters are not recorded.
    expect(JSON.stringify(select!.attributes)).not.toContain("anchor");
  });

  it("a pool query under an active span is traced too", async () => {
    telemetry = initTelemetry({ serviceName: "pg-test", exporter: "memory" });
    const pool = new pg.Pool({ ...connection, max: 1 });
    try {
      await telemetry.tracer.startActiveSpan("pooled", async (parent) => {
        await pool.query(`SELECT count(*) FROM ${schema}.items`);
        parent.end();
      });
    } finally {
      await pool.end();
    }
    const spans = telemetry.finishedSpans();
    const parent = spans.find((s) => s.name === "pooled")!;
    const query = spans.find((s) => s.kind === SpanKind.CLIENT);
    expect(query?.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
  });

  it("queries outside any span start no trace by default (background pollers stay quiet)", async () => {
    telemetry = initTelemetry({ serviceName: "pg-test", exporter: "memory" });
    await admin.query(`SELECT count(*) FROM ${schema}.items`);
    expect(telemetry.finishedSpans()).toEqual([]);
  });

  it("queries outside any span are traced with requireParentSpan: false", async () => {
    telemetry = initTelemetry({
      serviceName: "pg-test",
      exporter: "memory",
      instrumentations: { pg: { requireParentSpan: false } },
    });
    await admin.query(`SELECT count(*) FROM ${schema}.items`);
    const spans = telemetry.finishedSpans();
    expect(spans).toHaveLength(1);
    expect(spans[0]!.parentSpanContext).toBeUndefined();
  });

  it("is not traced with pg: false", async () => {
    telemetry = initTelemetry({
      serviceName: "pg-test",
      exporter: "memory",
      instrumentations: { pg: false },
    });
    await telemetry.tracer.startActiveSpan("untraced-db", async (parent) => {
      await admin.query("SELECT 1");
      parent.end();
    });
    expect(telemetry.finishedSpans().map((s) => s.name)).toEqual(["untraced-db"]);
  });
});
