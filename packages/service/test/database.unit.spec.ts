import { createHash } from "node:crypto";
import { isConfigError } from "@flotilla/resilience";
import { configIssues, FakeClock, flushMicrotasks } from "@flotilla/resilience/testing";
import { describe, expect, it } from "vitest";
import { advisoryLockKey } from "../src/database/advisory-lock-key.js";
import { redactUrl, urlFor } from "../src/database/connection-url.js";
import { DatabaseErrorCode, DatabaseNameError, isDatabaseError } from "../src/database/database-error.js";
import { migrate, migrationLockKey } from "../src/database/migrate.js";
import { MigrationChecksumError, MigrationFailedError } from "../src/database/migration-error.js";
import { migrationChecksum, migrationVersion } from "../src/database/migration-file.js";
import { provisionDatabase } from "../src/database/provision-database.js";
import { scramSha256Verifier } from "../src/database/scram-verifier.js";
import {
  checkDatabaseName,
  checkRoleName,
  serviceDatabaseName,
} from "../src/database/service-database-name.js";
import { servicePool } from "../src/database/service-pool.js";
import { withTransaction } from "../src/database/with-transaction.js";

/** A source whose connect() fails the test: option checks must happen before any connection. */
const noConnect = {
  connect: () => {
    throw new Error("connect() must not be called");
  },
};

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("serviceDatabaseName", () => {
  it("prefixes flotilla_ and folds every run of other characters into one underscore", () => {
    expect(serviceDatabaseName("orders")).toBe("flotilla_orders");
    expect(serviceDatabaseName("Order-Service")).toBe("flotilla_order_service");
    expect(serviceDatabaseName("  shop.catalog--v2 ")).toBe("flotilla_shop_catalog_v2");
    expect(serviceDatabaseName("été")).toBe("flotilla_t");
  });

  it("cuts a long name to 63 characters with a hash that keeps two long names apart", () => {
    const a = serviceDatabaseName(`${"x".repeat(80)}-a`);
    const b = serviceDatabaseName(`${"x".repeat(80)}-b`);
    expect(a).toHaveLength(63);
    expect(b).toHaveLength(63);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^flotilla_x+_[0-9a-f]{8}$/);
    expect(serviceDatabaseName("y".repeat(54))).toBe(`flotilla_${"y".repeat(54)}`);
  });

  it("refuses a name with nothing usable in it", () => {
    const error = (() => {
      try {
        serviceDatabaseName("!!!");
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(DatabaseNameError);
    expect(isDatabaseError(error, DatabaseErrorCode.InvalidName)).toBe(true);
    expect((error as Error).message).toBe('invalid service name "!!!": has no letter, digit or underscore');
  });
});

describe("checkDatabaseName / checkRoleName", () => {
  it("accepts plain lower-case identifiers", () => {
    expect(checkDatabaseName("orders_db")).toBe("orders_db");
    expect(checkRoleName("_orders")).toBe("_orders");
  });

  it.each([
    ["Orders", "expected lower-case letters"],
    ["1orders", "not starting with a digit"],
    ['or"ders', "expected lower-case letters"],
    ["a".repeat(64), "longer than 63 characters (64)"],
    ["postgres", "is a system database"],
    ["template1", "is a system database"],
  ])("refuses database %j (%s)", (name, reason) => {
    expect(() => checkDatabaseName(name)).toThrow(reason);
  });

  it.each([
    ["pg_orders", "pg_ prefix is reserved"],
    ["public", "is reserved"],
    ["postgres", "is reserved"],
    ["current_user", "is reserved"],
    ["or ders", "expected lower-case letters"],
  ])("refuses role %j (%s)", (name, reason) => {
    expect(() => checkRoleName(name)).toThrow(reason);
  });
});

describe("connection URLs", () => {
  it("keeps host, port and options, and drops user/password parameters that pg would prefer", () => {
    const base = new URL(
      "postgres://admin:hunter2@db.internal:6543/postgres?sslmode=require&user=admin&password=x",
    );
    const url = urlFor(base, {
      user: "flotilla_orders",
      password: "p@ss/w",
      database: "flotilla_orders",
      applicationName: "orders",
    });
    expect(url.href).toBe(
      "postgres://flotilla_orders:p%40ss%2Fw@db.internal:6543/flotilla_orders?sslmode=require&application_name=orders",
    );
  });

  it("puts the user in the query for a socket URL, which has no authority", () => {
    const url = urlFor(new URL("postgresql:///postgres?host=/run/postgresql"), {
      user: "r",
      password: undefined,
      database: "d",
    });
    expect(url.href).toBe("postgresql:///d?host=%2Frun%2Fpostgresql&user=r");
  });

  it("redacts passwords in the authority and the query", () => {
    expect(redactUrl("postgres://u:secret@h/db?password=secret")).toBe("postgres://u:***@h/db?password=***");
    expect(redactUrl("postgres://u@h/db")).toBe("postgres://u@h/db");
  });
});

describe("migration files", () => {
  it("take the version from the leading number", () => {
    expect(migrationVersion("0001_create_orders.sql")).toBe(1);
    expect(migrationVersion("20250114093000_add-index.sql")).toBe(20250114093000);
    expect(migrationVersion("V1__init.sql")).toBeUndefined();
    expect(migrationVersion("0001-create.sql")).toBeUndefined();
    expect(migrationVersion("0001_.sql")).toBeUndefined();
    expect(migrationVersion("99999999999999999999_huge.sql")).toBeUndefined();
  });

  it("checksum the SQL as sha256 of its text with line endings made \\n and no byte order mark", () => {
    const sql = "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n";
    expect(migrationChecksum(sql)).toBe(createHash("sha256").update(sql).digest("hex"));
    expect(migrationChecksum(sql.replaceAll("\n", "\r\n"))).toBe(migrationChecksum(sql));
    expect(migrationChecksum(`\uFEFF${sql}`)).toBe(migrationChecksum(sql));
    expect(migrationChecksum(`${sql} `)).not.toBe(migrationChecksum(sql));
  });

  it("errors name the file, both checksums, and the line and column of a failure", () => {
    const changed = new MigrationChecksumError("0002_x.sql", "aaa", "bbb");
    expect(changed.code).toBe("FLT_SERVICE_MIGRATION_CHECKSUM");
    expect(changed.message).toContain("0002_x.sql");
    expect(changed.message).toContain("recorded sha256 aaa, file now bbb");
    const cause = Object.assign(new Error('syntax error at or near "SELEC"'), { code: "42601" });
    const failed = new MigrationFailedError("0003_y.sql", { line: 3, column: 1 }, cause);
    expect(failed.message).toBe(
      'migration 0003_y.sql failed at line 3, column 1: syntax error at or near "SELEC" (SQLSTATE 42601); it was rolled back and later migrations were not applied',
    );
    expect(failed.cause).toBe(cause);
  });
});

describe("advisory lock keys", () => {
  it("are stable signed 64-bit integers, one per name", () => {
    const key = advisoryLockKey("flotilla:migrations:flotilla_migrations");
    expect(key).toBe(migrationLockKey());
    expect(key).toBe(
      createHash("sha256").update("flotilla:migrations:flotilla_migrations").digest().readBigInt64BE(0),
    );
    expect(migrationLockKey("other")).not.toBe(key);
    expect(key >= -(2n ** 63n) && key < 2n ** 63n).toBe(true);
  });
});

describe("scramSha256Verifier", () => {
  it("has PostgreSQL's format and depends on password and salt only", async () => {
    const salt = Buffer.alloc(16, 7);
    const a = await scramSha256Verifier("pencil", { salt });
    expect(a).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/);
    expect(await scramSha256Verifier("pencil", { salt })).toBe(a);
    expect(await scramSha256Verifier("pencil2", { salt })).not.toBe(a);
    expect(await scramSha256Verifier("pencil")).not.toBe(a);
  });
});

describe("option checks happen before any connection", () => {
  it("provisionDatabase names each bad option", async () => {
    const error = await rejection(
      provisionDatabase({ adminUrl: "mysql://root@localhost/x", password: "", extra: 1 } as never),
    );
    expect(isConfigError(error)).toBe(true);
    expect((error as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual([
      "extra",
      "service",
      "adminUrl",
      "password",
    ]);
    expect((error as Error).message).not.toContain("root@localhost");
  });

  it("provisionDatabase refuses bad names before connecting", async () => {
    // The admin URL points nowhere: a connection attempt would fail differently.
    const error = await rejection(
      provisionDatabase({
        service: "orders",
        role: "pg_orders",
        adminUrl: "postgres://x@127.0.0.1:1/postgres",
      }),
    );
    expect(isDatabaseError(error, DatabaseErrorCode.InvalidName)).toBe(true);
  });

  it("servicePool names each bad option", () => {
    expect(
      configIssues(() =>
        servicePool({ url: "http://h/db", max: 0, statementTimeout: "fast", logger: {} as never }),
      ),
    ).toEqual([
      "url: expected a postgres:// or postgresql:// connection string, got http://",
      "max: must be at least 1, got 0",
      'statementTimeout: expected a duration such as "250ms", "5s", "1m30s" or milliseconds, got "fast"',
      "logger: expected a logger with info(), warn() and error()",
    ]);
    expect(configIssues(() => servicePool({ url: "postgres://h/db", max: 2, min: 3 }))).toEqual([
      "min: must be at most max (2), got 3",
    ]);
  });

  it("withTransaction names each bad option", async () => {
    const error = await rejection(
      withTransaction(noConnect, async () => {}, { isolation: "snapshot" as never, retries: 11 }),
    );
    expect((error as { issues: { path: string; message: string }[] }).issues).toEqual([
      {
        path: "isolation",
        message: 'expected one of "read committed", "repeatable read", "serializable", got "snapshot"',
      },
      { path: "retries", message: "must be at most 10, got 11" },
    ]);
  });

  it("migrate names each bad option", async () => {
    const error = await rejection(
      migrate(noConnect, { directory: "", table: "Bad Table", lockKey: 2n ** 64n } as never),
    );
    expect((error as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual([
      "directory",
      "table",
      "lockKey",
    ]);
  });
});

describe("withTransaction retries", () => {
  /** Connections whose COMMIT fails with `codes`, one per attempt, then succeeds. */
  function collidingSource(codes: string[]) {
    const log: string[] = [];
    let connections = 0;
    const source = {
      connect: async () => {
        const id = ++connections;
        return {
          query: async (sql: string) => {
            log.push(`${id}:${sql}`);
            const code = sql === "COMMIT" ? codes.shift() : undefined;
            if (code !== undefined) throw Object.assign(new Error(`failed with ${code}`), { code });
            return { rows: [] };
          },
          on: () => {},
          removeListener: () => {},
          release: (error?: Error) => log.push(`${id}:release${error ? " destroyed" : ""}`),
        } as never;
      },
    };
    return { source, log };
  }

  it("waits the backoff on the clock, without holding a connection, before running again", async () => {
    const { source, log } = collidingSource(["40001", "40P01"]);
    const clock = new FakeClock();
    const delays: number[] = [];
    const done = withTransaction(source, async (_client, attempt) => `attempt ${attempt}`, {
      isolation: "serializable",
      retries: 2,
      clock,
      backoff: (attempt) => {
        delays.push(attempt);
        return attempt * 100;
      },
    });
    await flushMicrotasks();
    expect(log).toEqual(["1:BEGIN ISOLATION LEVEL SERIALIZABLE", "1:COMMIT", "1:ROLLBACK", "1:release"]);
    await clock.advance(99);
    expect(log).toHaveLength(4);
    await clock.advance(1);
    await flushMicrotasks();
    expect(log.slice(4)).toEqual([
      "2:BEGIN ISOLATION LEVEL SERIALIZABLE",
      "2:COMMIT",
      "2:ROLLBACK",
      "2:release",
    ]);
    await clock.advance(200);
    expect(await done).toBe("attempt 3");
    expect(delays).toEqual([1, 2]);
    expect(log.slice(8)).toEqual(["3:BEGIN ISOLATION LEVEL SERIALIZABLE", "3:COMMIT", "3:release"]);
  });

  it("gives up after `retries` more attempts with the last error", async () => {
    const { source } = collidingSource(["40001", "40001"]);
    const error = await rejection(withTransaction(source, async () => {}, { retries: 1, backoff: () => 0 }));
    expect((error as { code?: string }).code).toBe("40001");
  });
});
