import { once } from "node:events";
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { InstanceSource, ServiceInstance } from "@flotilla/registry";
import { z } from "zod";
import { defineContract, route } from "../src/index.js";

/** What a test server saw of one request. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Raw header lines, to count repeated headers. */
  readonly rawHeaders: readonly string[];
  readonly body: string;
}

/** Answers a request; may answer later (the test holds `res`). */
export type TestHandler = (req: SeenRequest, res: ServerResponse) => void;

/** A real `node:http` server on 127.0.0.1:0 standing for one instance of a service. */
export interface TestInstance {
  readonly instance: ServiceInstance;
  readonly requests: SeenRequest[];
  /** TCP connections accepted so far. */
  readonly connections: () => number;
  handler: TestHandler;
  /** Resolves with the next request the server receives. */
  nextRequest(): Promise<SeenRequest>;
  close(): Promise<void>;
}

/** Sends `body` as JSON with `status`. */
export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(text);
}

/** Starts an instance `id` of `service` at `version`. */
export async function startInstance(
  id: string,
  handler: TestHandler,
  { service = "inventory", version = "1.0.0" }: { service?: string; version?: string } = {},
): Promise<TestInstance> {
  const requests: SeenRequest[] = [];
  const waiters: ((req: SeenRequest) => void)[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const seen: SeenRequest = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(seen);
      for (const waiter of waiters.splice(0)) waiter(seen);
      test.handler(seen, res);
    });
  });
  let connections = 0;
  server.on("connection", () => connections++);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  const test: TestInstance = {
    instance: {
      id,
      service,
      address: "127.0.0.1",
      port,
      version,
      weight: 1,
      tags: [],
      metadata: {},
    },
    requests,
    connections: () => connections,
    handler,
    nextRequest: () => new Promise((resolve) => waiters.push(resolve)),
    close: async () => {
      const closed = once(server, "close");
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
  return test;
}

/** A discovery cache stand-in: the test sets each service's instances. */
export class StaticSource implements InstanceSource {
  readonly sets = new Map<string, readonly ServiceInstance[]>();

  /** Replaces the instances of `service`. */
  set(service: string, instances: readonly ServiceInstance[]): void {
    this.sets.set(service, Object.freeze([...instances]));
  }

  instances(service: string): readonly ServiceInstance[] {
    return this.sets.get(service) ?? [];
  }
}

/** The contract the client tests call. */
export const inventoryContract = defineContract({
  name: "inventory",
  version: "1.2.0",
  routes: {
    reserve: route({
      method: "POST",
      path: "/reservations/:sku",
      params: z.object({ sku: z.string() }),
      query: z.object({ note: z.string().optional(), tags: z.array(z.string()).optional() }),
      body: z.object({ quantity: z.number().int().positive() }),
      response: z.object({ reservationId: z.string() }),
      status: 201,
    }),
    stock: route({
      method: "GET",
      path: "/stock",
      query: z.object({ sku: z.string().optional() }),
      response: z.object({ items: z.array(z.object({ sku: z.string(), available: z.number() })) }),
    }),
    release: route({
      method: "DELETE",
      path: "/reservations/:sku/:id",
      params: z.object({ sku: z.string(), id: z.number() }),
      response: z.undefined(),
      status: 204,
    }),
  },
});
