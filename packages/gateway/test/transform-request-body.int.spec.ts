import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { transformLayer } from "../src/transform/transform-layer.js";
import { fakeExchange, fixedNext } from "./fixtures/exchange.js";

const layer = transformLayer({
  requestBody: { rename: { "user.mail": "user.email" }, remove: ["role"] },
  maxBodyBytes: 1024,
});

let server: Server;
let base: string;
const agent = new Agent();

beforeAll(async () => {
  // Answers with what the proxy would send upstream: the rewritten body and its framing headers.
  server = createServer((req, res) => {
    const exchange = fakeExchange({ req, res, method: req.method ?? "GET", headers: req.headers });
    layer.handle(exchange, fixedNext()).then((response) => {
      if (response.status !== 200) {
        res.writeHead(response.status, { "content-type": "application/problem+json" }).end(response.body);
        return;
      }
      const sent = {
        body: exchange.requestBody?.toString("utf8"),
        contentLength: exchange.upstreamHeaders["content-length"],
      };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(sent));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await agent.close();
  server.closeAllConnections();
  server.close();
});

describe("transformLayer over a real node:http request", () => {
  it("rewrites a chunked JSON body", async () => {
    const body = Readable.from([
      Buffer.from('{"user":{"mail":"a@b"},'),
      Buffer.from('"role":"admin","n":1}'),
    ]);
    const reply = await request(`${base}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      dispatcher: agent,
    });
    expect(reply.statusCode).toBe(200);
    const sent = (await reply.body.json()) as { body: string; contentLength: string };
    expect(JSON.parse(sent.body)).toEqual({ user: { email: "a@b" }, n: 1 });
    expect(sent.contentLength).toBe(String(Buffer.byteLength(sent.body)));
  });

  it("answers 413 to a body over the limit and 400 to invalid JSON", async () => {
    const big = await request(`${base}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: Readable.from([Buffer.from(`{"a":"${"x".repeat(600)}`), Buffer.from(`${"y".repeat(600)}"}`)]),
      dispatcher: agent,
    });
    expect(big.statusCode).toBe(413);
    expect(await big.body.json()).toMatchObject({ code: "FLT_GATEWAY_BODY_TOO_LARGE" });
    const invalid = await request(`${base}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"user":',
      dispatcher: agent,
    });
    expect(invalid.statusCode).toBe(400);
    expect(await invalid.body.json()).toMatchObject({ code: "FLT_GATEWAY_BAD_REQUEST" });
  });
});
