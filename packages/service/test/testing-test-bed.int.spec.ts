// The test bed of @flotilla/service/testing against the local PostgreSQL: two services, one
// calling the other through discovery, spans in memory, failures by stopping an instance, and a
// close that leaves nothing behind.
import { SpanKind } from "@opentelemetry/api";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { isRemoteServiceError, ServiceClientErrorCode } from "../src/client/service-client-error.js";
import { isTestBedError, startTestBed, type TestBed, TestBedErrorCode } from "../src/testing/index.js";
import { directory, directoryService, greeter, greeterService } from "./fixtures/test-bed-services.js";

const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres";
/** The databases of this file's services, whatever bed made them. */
const bedDatabases = /^flotilla_tb_(directory|greeter)_[0-9a-f]{8}$/;

const beds: TestBed[] = [];
afterEach(async () => {
  for (const bed of beds.splice(0)) await bed.close();
});

async function start(options: Parameters<typeof startTestBed>[0]): Promise<TestBed> {
  const bed = await startTestBed(options);
  beds.push(bed);
  return bed;
}

async function databases(): Promise<string[]> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database UNION ALL SELECT rolname FROM pg_roles",
    );
    return rows.map((r) => r.datname).filter((name) => bedDatabases.test(name));
  } finally {
    await client.end();
  }
}

/** Active handles other than the test runner's own IPC pipe and stdio. */
function resources(): string[] {
  return process
    .getActiveResourcesInfo()
    .filter((r) => r !== "PipeWrap" && r !== "TTYWrap")
    .sort();
}

/** The entries of `now` beyond those of `before`, counting duplicates. */
function surplus(before: readonly string[], now: readonly string[]): string[] {
  const left = [...before];
  return now.filter((r) => {
    const i = left.indexOf(r);
    if (i < 0) return true;
    left.splice(i, 1);
    return false;
  });
}

/** What is left beyond `before` once handles being closed have had up to 1,000 turns to go. */
async function leftOver(before: readonly string[]): Promise<string[]> {
  let extra = surplus(before, resources());
  for (let turn = 0; turn < 1000 && extra.length > 0; turn++) {
    await new Promise((resolve) => setImmediate(resolve));
    extra = surplus(before, resources());
  }
  return extra;
}

/** The error `call` rejects with; fails the test when it resolves. */
async function failure(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to fail");
}

describe("startTestBed", () => {
  it("runs a caller and a callee with databases of their own; the call goes through discovery in one trace", async () => {
    const bed = await start({
      services: [{ service: directoryService, instances: 2 }, { service: greeterService }],
      telemetry: true,
    });
    expect(bed.url("tb-directory", 1)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(bed.url("tb-directory", 1)).not.toBe(bed.url("tb-directory", 0));
    const { instances } = await bed.registry.instances("tb-directory");
    expect(instances.map((i) => i.id).sort()).toEqual(
      [bed.instance("tb-directory", 0).instanceId, bed.instance("tb-directory", 1).instanceId].sort(),
    );

    bed.resetSpans();
    const answer = await bed.client(greeter).greet({ params: { id: "ada" } });
    expect(answer.greeting).toBe("Hello, Ada Lovelace!");
    expect(answer.database).toMatch(/^flotilla_tb_greeter_[0-9a-f]{8}$/);
    expect(answer.directoryDatabase).toMatch(/^flotilla_tb_directory_[0-9a-f]{8}$/);
    expect(bed.databaseUrl("tb-directory")).toContain(`/${answer.directoryDatabase}?`);
    expect(await databases()).toEqual(expect.arrayContaining([answer.database, answer.directoryDatabase]));

    const isServer = (name: string) => (s: { name: string; kind: SpanKind }) =>
      s.kind === SpanKind.SERVER && s.name === name;
    const spans = await bed.waitForSpans(
      (all) => all.some(isServer("POST /greetings/:id")) && all.some(isServer("GET /people/:id")),
    );
    const caller = spans.find(isServer("POST /greetings/:id"));
    const callee = spans.find(isServer("GET /people/:id"));
    expect(callee?.spanContext().traceId).toBe(caller?.spanContext().traceId);
    expect(callee?.spanContext().spanId).not.toBe(caller?.spanContext().spanId);

    // A contract's typed client of the bed calls the callee directly too, and a 404 comes back typed.
    const direct = bed.client(directory);
    expect(await direct.lookup({ params: { id: "alan" } })).toMatchObject({ name: "Alan Turing" });
    const missing = await failure(() => direct.lookup({ params: { id: "nobody" } }));
    expect(isRemoteServiceError(missing) && [missing.status, missing.remoteCode]).toEqual([
      404,
      "TB_NO_SUCH_PERSON",
    ]);
  });

  it("stopping the callee's only instance makes the caller's call fail typed, and a restart brings it back", async () => {
    const bed = await start({ services: [{ service: directoryService }, { service: greeterService }] });
    const greeterClient = bed.client(greeter);
    const directoryClient = bed.client(directory);
    expect((await greeterClient.greet({ params: { id: "alan" } })).greeting).toBe("Hello, Alan Turing!");
    const port = bed.instance("tb-directory").port;

    await bed.stop("tb-directory");
    expect((await bed.registry.instances("tb-directory", { status: "any" })).instances).toEqual([]);
    expect(() => bed.url("tb-directory")).toThrow(
      expect.objectContaining({ code: TestBedErrorCode.UnknownInstance }),
    );

    // The caller's discovery cache hears of the deregistration through its stream: until then a
    // call may still reach the closed port (a connection error), never anything else.
    let error: unknown;
    const deadline = Date.now() + 5_000;
    for (;;) {
      error = await failure(() => greeterClient.greet({ params: { id: "alan" } }));
      expect(isRemoteServiceError(error)).toBe(true);
      const remote = error as { status: number; remoteCode: string | undefined };
      expect([
        [503, ServiceClientErrorCode.NoInstance],
        [502, ServiceClientErrorCode.Connection],
      ]).toContainEqual([remote.status, remote.remoteCode]);
      if (remote.remoteCode === ServiceClientErrorCode.NoInstance || Date.now() > deadline) break;
    }
    expect(error).toMatchObject({ status: 503, remoteCode: ServiceClientErrorCode.NoInstance });
    let direct: unknown;
    for (const end = Date.now() + 5_000; ; ) {
      direct = await failure(() => directoryClient.lookup({ params: { id: "alan" } }));
      if ((direct as { code?: string }).code !== ServiceClientErrorCode.Connection || Date.now() > end) break;
    }
    expect(direct).toMatchObject({ code: ServiceClientErrorCode.NoInstance, service: "tb-directory" });

    const restarted = await bed.restart("tb-directory");
    expect(restarted.port).toBe(port);
    let greeting: string | undefined;
    for (const end = Date.now() + 5_000; greeting === undefined; ) {
      try {
        greeting = (await greeterClient.greet({ params: { id: "ada" } })).greeting;
      } catch (e) {
        // Until the caller's cache hears of the new registration, it still knows no instance.
        if (Date.now() > end) throw e;
      }
    }
    expect(greeting).toBe("Hello, Ada Lovelace!");
  });

  it("close() stops everything, drops the databases and roles, leaves no handle open and is idempotent", async () => {
    const existing = await databases();
    const before = resources();
    const bed = await startTestBed({
      services: [{ service: directoryService }, { service: greeterService }],
      telemetry: true,
    });
    await bed.client(greeter).greet({ params: { id: "ada" } });
    const created = (await databases()).filter((name) => !existing.includes(name));
    expect(created).toHaveLength(4); // two databases, two roles
    const directoryUrl = bed.url("tb-directory");

    await bed.close();
    await bed.close();
    const left = await databases();
    expect(created.filter((name) => left.includes(name))).toEqual([]);
    expect(() => bed.client(greeter)).toThrow(expect.objectContaining({ code: TestBedErrorCode.Closed }));
    await expect(fetch(`${directoryUrl}/health/live`)).rejects.toThrow();
    expect(await leftOver(before)).toEqual([]);
  });

  it("a failed start stops what had started and drops what it had provisioned", async () => {
    const existing = await databases();
    const before = resources();
    const error = await failure(() =>
      startTestBed({
        services: [
          { service: directoryService },
          { service: greeterService, config: { limits: { bodyLimit: -1 } } },
        ],
      }),
    );
    expect(error).toMatchObject({ code: "FLT_CONFIG_INVALID" });
    expect((await databases()).filter((name) => !existing.includes(name))).toEqual([]);
    expect(await leftOver(before)).toEqual([]);
  });

  it("refuses malformed options and names unknown services and instances", async () => {
    const twice = await failure(() =>
      startTestBed({ services: [{ service: directoryService }, { service: directoryService }] }),
    );
    expect(isTestBedError(twice) && twice.code).toBe(TestBedErrorCode.InvalidOptions);
    const bed = await start({ services: [{ service: directoryService }] });
    expect(() => bed.url("nope")).toThrow(/no service "nope"/);
    expect(() => bed.url("tb-directory", 1)).toThrow(/no instance 1 of "tb-directory" \(it has 1\)/);
    expect(() => bed.spans()).toThrow(expect.objectContaining({ code: TestBedErrorCode.NoTelemetry }));
    expect(() => bed.databaseUrl("tb-directory")).not.toThrow();
  });
});
