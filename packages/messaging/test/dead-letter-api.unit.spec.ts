// The dead-letter HTTP API on a real node:http server (127.0.0.1, random port) over the memory
// transport's dead letters: listing, one letter, replay, purge, and every refusal as problem+json.
import { once } from "node:events";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deadLetterApi } from "../src/dead-letter-api/dead-letter-api.js";
import type { DeadLetterApiOptions } from "../src/dead-letter-api/dead-letter-api-options.js";
import { isMessagingError, MessagingError, MessagingErrorCode } from "../src/errors/messaging-error.js";
import type { DeadLetterAdmin, OutgoingMessage } from "../src/transport/transport.js";
import { type MemoryTransport, memoryTransport } from "../src/transports/memory/memory-transport.js";
import { type Collector, collector } from "./fixtures/wait-for.js";

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly json: unknown;
}

let server: Server | undefined;
let base = "";
let transport: MemoryTransport;
let settled: Collector<string>;
let redelivered: Collector<string>;

async function serve(admin: DeadLetterAdmin, options?: DeadLetterApiOptions): Promise<void> {
  const api = deadLetterApi(admin, options);
  server = createServer((req, res) => {
    if (api(req, res)) return;
    res.writeHead(404, { "content-type": "text/plain" }).end("fell through");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function call(path: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(`${base}${path}`, init);
  const text = await response.text();
  const type = response.headers.get("content-type") ?? "";
  return {
    status: response.status,
    headers: response.headers,
    json: type.includes("json") ? JSON.parse(text) : text,
  };
}

function post(path: string, body: unknown): Promise<Answer> {
  return call(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

function message(topic: string, body: Uint8Array, key?: string): OutgoingMessage {
  return { id: crypto.randomUUID(), topic, body, ...(key === undefined ? {} : { key }) };
}

const envelope = {
  specversion: "1.0",
  id: "e-1",
  type: "invoice.created",
  source: "/billing",
  data: { total: -1 },
};
const jsonBody = new TextEncoder().encode(JSON.stringify(envelope));
const binaryBody = new Uint8Array([0xff, 0xfe, 0x00, 0x01]);

beforeEach(async () => {
  settled = collector<string>();
  redelivered = collector<string>();
  transport = memoryTransport();
  const dead = new Set<string>();
  for (const queue of ["invoices", "refunds"]) {
    await transport.subscribe({
      queue,
      topics: [`${queue}.*`],
      prefetch: 1,
      handler: async (delivery) => {
        if (dead.has(delivery.message.id)) {
          redelivered.push(delivery.message.id);
          await delivery.ack();
          return;
        }
        dead.add(delivery.message.id);
        await delivery.deadLetter({ code: "invalid", message: `bad ${queue}` });
        settled.push(delivery.message.id);
      },
    });
  }
});

afterEach(async () => {
  server?.closeAllConnections();
  if (server !== undefined) await new Promise((resolve) => server?.close(resolve));
  server = undefined;
  await transport.close();
});

async function deadLetterThree(): Promise<OutgoingMessage[]> {
  const messages = [
    message("invoices.created", jsonBody, "customer-1"),
    message("invoices.created", binaryBody),
    message("refunds.created", jsonBody),
  ];
  await transport.publish(messages);
  await settled.waitForCount(3, { what: "3 dead letters", timeout: 2_000 });
  return messages;
}

describe("deadLetterApi", () => {
  it("lists dead letters oldest first with base64 bodies and JSON bodies decoded as envelope", async () => {
    await serve(transport.deadLetters);
    const [json, binary, refund] = await deadLetterThree();
    const answer = await call("/dead-letters");
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
    const list = answer.json as { id: string; queue: string; message: Record<string, unknown> }[];
    expect(list.map((letter) => letter.message.id)).toEqual([json!.id, binary!.id, refund!.id]);
    expect(list[0]).toMatchObject({
      queue: "invoices",
      reason: { code: "invalid", message: "bad invoices" },
      attempts: 1,
      message: { id: json!.id, topic: "invoices.created", key: "customer-1", envelope },
    });
    expect(Buffer.from(list[0]!.message.body as string, "base64").equals(Buffer.from(jsonBody))).toBe(true);
    expect(Buffer.from(list[1]!.message.body as string, "base64").equals(Buffer.from(binaryBody))).toBe(true);
    expect(list[1]!.message).not.toHaveProperty("envelope");
    expect(Number.isNaN(Date.parse((list[0] as unknown as { deadLetteredAt: string }).deadLetteredAt))).toBe(
      false,
    );

    const refunds = await call("/dead-letters?queue=refunds");
    expect((refunds.json as { message: { id: string } }[]).map((letter) => letter.message.id)).toEqual([
      refund!.id,
    ]);
    const limited = await call("/dead-letters?queue=invoices&limit=1");
    expect((limited.json as { message: { id: string } }[]).map((letter) => letter.message.id)).toEqual([
      json!.id,
    ]);
  });

  it("refuses a bad limit or an empty queue parameter with 400 naming it", async () => {
    await serve(transport.deadLetters);
    for (const query of ["limit=0", "limit=abc", "limit=5000", "limit=1.5"]) {
      const answer = await call(`/dead-letters?${query}`);
      expect(answer.status, query).toBe(400);
      expect(answer.headers.get("content-type")).toBe("application/problem+json");
      expect(answer.json).toMatchObject({
        status: 400,
        title: "Bad Request",
        detail: expect.stringContaining("limit"),
      });
    }
    const empty = await call("/dead-letters?queue=");
    expect(empty.status).toBe(400);
    expect(empty.json).toMatchObject({ detail: expect.stringContaining("queue") });
  });

  it("returns one dead letter by id, and 404 problem+json for an unknown id", async () => {
    await serve(transport.deadLetters);
    const [json] = await deadLetterThree();
    const [first] = await transport.deadLetters.list({ limit: 1 });
    const answer = await call(`/dead-letters/${encodeURIComponent(first!.id)}`);
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ id: first!.id, message: { id: json!.id, envelope } });

    const missing = await call("/dead-letters/no-such-id");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toBe("application/problem+json");
    expect(missing.json).toMatchObject({ status: 404, detail: expect.stringContaining("no-such-id") });
  });

  it("replays by ids and purges by queue", async () => {
    await serve(transport.deadLetters);
    const [json, binary, refund] = await deadLetterThree();
    const letters = await transport.deadLetters.list({ queue: "invoices" });
    const replayed = await post("/dead-letters/replay", { ids: [letters[0]!.id, "unknown"] });
    expect(replayed).toMatchObject({ status: 200, json: { replayed: 1 } });
    await redelivered.waitFor((ids) => ids.includes(json!.id), {
      what: "the replayed message",
      timeout: 2_000,
    });

    const purged = await post("/dead-letters/purge", { queue: "invoices" });
    expect(purged).toMatchObject({ status: 200, json: { purged: 1 } });
    const rest = await transport.deadLetters.list();
    expect(rest.map((letter) => letter.message.id)).toEqual([refund!.id]);
    expect(redelivered.items).not.toContain(binary!.id);

    const byQueue = await post("/dead-letters/replay", { queue: "refunds" });
    expect(byQueue.json).toEqual({ replayed: 1 });
    const byIds = await post("/dead-letters/purge", { ids: ["unknown"] });
    expect(byIds.json).toEqual({ purged: 0 });
  });

  it("refuses bad JSON and wrong shapes with 400 naming the problem", async () => {
    await serve(transport.deadLetters);
    const cases: [unknown, string][] = [
      ["{not json", "not valid JSON"],
      ["", "empty"],
      [[], "JSON object"],
      [{ ids: "x" }, '"ids" must be an array'],
      [{ ids: [] }, '"ids" must be an array'],
      [{ ids: ["a", 1] }, '"ids[1]" must be a non-empty string'],
      [{ queue: "" }, '"queue" must be a non-empty string'],
      [{ ids: ["a"], queue: "q" }, "not both"],
      [{ queues: "q" }, 'unknown field(s) "queues"'],
    ];
    for (const [body, detail] of cases) {
      for (const operation of ["replay", "purge"]) {
        const answer = await post(`/dead-letters/${operation}`, body);
        expect(answer.status, `${operation} ${JSON.stringify(body)}`).toBe(400);
        expect(answer.headers.get("content-type")).toBe("application/problem+json");
        expect((answer.json as { detail: string }).detail).toContain(detail);
      }
    }
  });

  it("refuses bodies over 64 KiB with 413, whether declared or streamed", async () => {
    await serve(transport.deadLetters);
    const big = JSON.stringify({ ids: ["x".repeat(70_000)] });
    const declared = await post("/dead-letters/replay", big);
    expect(declared.status).toBe(413);
    expect(declared.json).toMatchObject({ status: 413, detail: expect.stringContaining("65536") });

    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${base}/dead-letters/purge`, {
        method: "POST",
        headers: { "transfer-encoding": "chunked" },
      });
      req.on("response", (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      for (let index = 0; index < 5; index++) req.write("x".repeat(16_000));
      req.end();
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body)).toMatchObject({ status: 413 });
    const fine = await post("/dead-letters/purge", { ids: ["x".repeat(60_000)] });
    expect(fine.json).toEqual({ purged: 0 });
  });

  it("answers a wrong method with 405 and allow", async () => {
    await serve(transport.deadLetters);
    const cases: [string, string, string][] = [
      ["DELETE", "/dead-letters", "GET"],
      ["POST", "/dead-letters", "GET"],
      ["GET", "/dead-letters/replay", "POST"],
      ["PUT", "/dead-letters/purge", "POST"],
      ["DELETE", "/dead-letters/17", "GET"],
    ];
    for (const [method, path, allow] of cases) {
      const answer = await call(path, { method });
      expect(answer.status, `${method} ${path}`).toBe(405);
      expect(answer.headers.get("allow")).toBe(allow);
      expect(answer.headers.get("content-type")).toBe("application/problem+json");
      expect((answer.json as { detail: string }).detail).toContain(method);
    }
  });

  it("returns false for other paths so they reach the next route, and honours basePath", async () => {
    await serve(transport.deadLetters, { basePath: "/admin/dlq" });
    for (const path of ["/", "/dead-letters", "/admin/dlqx", "/admin"]) {
      const answer = await call(path);
      expect(answer, path).toMatchObject({ status: 404, json: "fell through" });
    }
    expect((await call("/admin/dlq")).status).toBe(200);
    const deep = await call("/admin/dlq/a/b");
    expect(deep.status).toBe(404);
    expect(deep.headers.get("content-type")).toBe("application/problem+json");
  });

  it("rejects invalid options, naming them", () => {
    for (const [options, path] of [
      [{ basePath: "dead" }, "deadLetterApi.basePath"],
      [{ basePath: "/dead/" }, "deadLetterApi.basePath"],
      [{ maxBodyBytes: 0 }, "deadLetterApi.maxBodyBytes"],
      [{ base: "/x" }, "deadLetterApi.base"],
    ] as const) {
      let error: unknown;
      try {
        deadLetterApi(transport.deadLetters, options as DeadLetterApiOptions);
      } catch (caught) {
        error = caught;
      }
      expect(isMessagingError(error, MessagingErrorCode.ConfigInvalid)).toBe(true);
      expect((error as Error).message).toContain(path);
    }
  });

  it("maps an unavailable transport to 503 and an unexpected failure to a logged 500 without details", async () => {
    const logged: object[] = [];
    const failing: DeadLetterAdmin = {
      list: async () => {
        throw new MessagingError(MessagingErrorCode.TransportUnavailable, "broker unreachable");
      },
      get: async () => {
        throw new Error("secret internal detail");
      },
      replay: async () => 0,
      purge: async () => 0,
    };
    const ignore = () => undefined;
    await serve(failing, {
      logger: { debug: ignore, info: ignore, warn: ignore, error: (fields) => logged.push(fields) },
    });
    const unavailable = await call("/dead-letters");
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get("retry-after")).toBe("5");
    expect(unavailable.json).toMatchObject({ detail: expect.stringContaining("broker unreachable") });

    const broken = await call("/dead-letters/1");
    expect(broken.status).toBe(500);
    expect(JSON.stringify(broken.json)).not.toContain("secret");
    expect(logged).toEqual([expect.objectContaining({ method: "GET", url: "/dead-letters/1" })]);
  });
});
