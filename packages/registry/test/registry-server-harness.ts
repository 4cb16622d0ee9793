// Shared by the registry server specs: a server on 127.0.0.1:0 over an in-memory embedded store,
// silent logs, metrics without the process collectors, and small HTTP helpers.
import { Writable } from "node:stream";
import { createLogger, createMetrics, type Logger } from "@flotilla/observability";
import { request } from "undici";
import { type RegistryServer, registryServer } from "../src/server/registry-server.js";
import type { RegistryServerOptions } from "../src/server/registry-server-options.js";
import { type EmbeddedStore, embeddedStore } from "../src/store/embedded-store.js";
import type { EmbeddedStoreOptions } from "../src/store/embedded-store-options.js";

/** A running server, its store, and where to reach it. */
export interface Harness {
  readonly server: RegistryServer;
  readonly store: EmbeddedStore;
  readonly url: string;
  /** JSON log lines the server wrote. */
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/** A logger that keeps its JSON lines in `logs` instead of writing them anywhere. */
export function capturingLogger(logs: Record<string, unknown>[]): Logger {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line !== "") logs.push(JSON.parse(line));
      done();
    },
  });
  return createLogger({
    service: "registry-test",
    instanceId: "registry-test-1",
    pretty: false,
    level: "debug",
    destination,
  });
}

/** Starts a server; `options` override the harness's (store, logger and metrics are provided). */
export async function startHarness(
  options: Partial<RegistryServerOptions> = {},
  storeOptions: EmbeddedStoreOptions = {},
): Promise<Harness> {
  const store = await embeddedStore(storeOptions);
  const logs: Record<string, unknown>[] = [];
  const server = registryServer({
    store,
    logger: capturingLogger(logs),
    metrics: createMetrics({
      service: "registry-test",
      instanceId: "registry-test-1",
      collectDefaults: false,
    }),
    ...options,
  });
  const { port } = await server.listen(0);
  return {
    server,
    store,
    url: `http://127.0.0.1:${port}`,
    logs,
    async close() {
      await server.close();
      await store.close();
    },
  };
}

/** What {@link call} answers. */
export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The body parsed as JSON, or `undefined` when it is not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: assertions read whatever shape each route answers
  readonly json: any;
  readonly index: number | undefined;
}

/** One HTTP request; `body` objects are sent as JSON. */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const isText = typeof body === "string" || Buffer.isBuffer(body);
  const res = await request(`${base}${path}`, {
    method: method as "GET",
    headers: body === undefined || isText ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? null : isText ? (body as string) : JSON.stringify(body),
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const index = res.headers["x-flotilla-index"];
  return {
    status: res.statusCode,
    headers: res.headers,
    text,
    json,
    index: typeof index === "string" ? Number(index) : undefined,
  };
}

/** A minimal valid registration of `id` in `service`, with `extra` fields merged in. */
export function registration(
  service: string,
  id: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { service, id, address: "127.0.0.1", port: 9000, ...extra };
}

/** One Server-Sent Event. */
export interface SseEvent {
  readonly event: string;
  readonly id: string;
  readonly data: string;
}

/** An open SSE stream read event by event. */
export interface SseReader {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The next event (comments skipped); rejects when the stream ends first. */
  next(): Promise<SseEvent>;
  /** Comment lines seen so far (`: ping`). */
  readonly comments: string[];
  close(): void;
}

/** Opens `path` as an SSE stream. */
export async function openStream(
  base: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<SseReader> {
  const controller = new AbortController();
  const res = await request(`${base}${path}`, {
    headers: { accept: "text/event-stream", ...headers },
    signal: controller.signal,
  });
  const queue: SseEvent[] = [];
  const comments: string[] = [];
  let waiting: { resolve: (e: SseEvent) => void; reject: (e: Error) => void } | undefined;
  let ended: Error | undefined;
  let buffer = "";
  res.body.setEncoding("utf8");
  res.body.on("data", (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields: Record<string, string> = {};
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) comments.push(line);
        else {
          const colon = line.indexOf(":");
          fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
        }
      }
      if (fields.data === undefined) continue;
      const event = { event: fields.event ?? "message", id: fields.id ?? "", data: fields.data };
      if (waiting !== undefined) {
        const w = waiting;
        waiting = undefined;
        w.resolve(event);
      } else queue.push(event);
    }
  });
  const finish = (error: Error): void => {
    ended ??= error;
    if (waiting !== undefined) waiting.reject(ended);
    waiting = undefined;
  };
  res.body.on("end", () => finish(new Error("the stream ended")));
  res.body.on("error", (error: Error) => finish(error));
  return {
    status: res.statusCode,
    headers: res.headers,
    comments,
    next() {
      const event = queue.shift();
      if (event !== undefined) return Promise.resolve(event);
      if (ended !== undefined) return Promise.reject(ended);
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
      });
    },
    close() {
      controller.abort();
    },
  };
}
