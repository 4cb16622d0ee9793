import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { Next } from "../src/chain/layer.js";
import { transformLayer } from "../src/transform/transform-layer.js";
import type { TransformOptions } from "../src/transform/transform-options.js";
import { fakeExchange, fixedNext } from "./fixtures/exchange.js";

const json = { "content-type": "application/json; charset=utf-8" };

/** A request whose body is `chunks`, with `headers`, as the layer reads it. */
function requestOf(headers: Record<string, string>, chunks: (string | Buffer)[]): IncomingMessage {
  const stream = Readable.from(
    chunks.map((c) => (typeof c === "string" ? Buffer.from(c) : c)),
    { objectMode: false },
  );
  return Object.assign(stream, { headers, httpVersionMajor: 1 }) as unknown as IncomingMessage;
}

function bodyExchange(headers: Record<string, string>, chunks: (string | Buffer)[]) {
  return fakeExchange({ method: "POST", headers, req: requestOf(headers, chunks) });
}

function parse(body: Buffer | undefined): unknown {
  return JSON.parse(body!.toString("utf8"));
}

describe("transformLayer headers", () => {
  it("sets, appends and removes upstream request headers", async () => {
    const layer = transformLayer({
      requestHeaders: {
        set: { "X-Api-Version": "2", "X-Debug": null },
        add: { "X-Forwarded-Tag": "gw", Cookie: "b=2", "X-New": "n" },
        remove: ["Authorization"],
      },
    });
    const exchange = fakeExchange({
      headers: { "x-forwarded-tag": ["a", "b"], cookie: "a=1", authorization: "Bearer t" },
      upstreamHeaders: { "x-earlier": "kept" },
    });
    const next = fixedNext();
    await layer.handle(exchange, next);
    expect(next.calls).toBe(1);
    expect(exchange.upstreamHeaders).toEqual({
      "x-earlier": "kept",
      "x-api-version": "2",
      "x-debug": null,
      "x-forwarded-tag": "a, b, gw",
      cookie: "a=1; b=2",
      "x-new": "n",
      authorization: null,
    });
    expect(exchange.bufferResponse).toBe(false);
  });

  it("sets response headers on the exchange and on a buffered response, and removes upstream ones", async () => {
    const layer = transformLayer({
      responseHeaders: { set: { "X-Frame-Options": "DENY" }, remove: ["Server"] },
    });
    const exchange = fakeExchange();
    const response = await layer.handle(
      exchange,
      fixedNext(200, "ok", { server: "nginx", "content-type": "text/plain" }),
    );
    expect(exchange.bufferResponse).toBe(true);
    expect(exchange.responseHeaders["x-frame-options"]).toBe("DENY");
    expect(response.headers).toEqual({ "content-type": "text/plain", "x-frame-options": "DENY" });
  });

  it("refuses framing headers and header values with line breaks", () => {
    expect(() => transformLayer({ requestHeaders: { set: { "Content-Length": "1" } } })).toThrow(
      /transform\.requestHeaders\.set\.Content-Length/,
    );
    expect(() => transformLayer({ responseHeaders: { set: { "x-a": "1\r\nset-cookie: x" } } })).toThrow(
      /control characters/,
    );
    expect(() => transformLayer({ responseBody: { remove: ["a.__proto__"] } })).toThrow(/not allowed/);
  });
});

describe("transformLayer response bodies", () => {
  const options: TransformOptions = {
    responseBody: {
      rename: { "items.price": "items.cost", "user.login": "user.name" },
      remove: ["user.password", "items.internal"],
      set: { "meta.api": "v2" },
    },
  };

  it("rewrites a JSON response, fixes content-length and drops the etag", async () => {
    const upstream = {
      user: { login: "ada", password: "x" },
      items: [{ price: 5, internal: 1 }, { price: 6 }],
    };
    const exchange = fakeExchange();
    const next = fixedNext(200, JSON.stringify(upstream), {
      ...json,
      "content-length": "999",
      etag: '"abc"',
    });
    const response = await transformLayer(options).handle(exchange, next);
    expect(exchange.bufferResponse).toBe(true);
    expect(exchange.upstreamHeaders["accept-encoding"]).toBe("identity");
    expect(parse(response.body)).toEqual({
      user: { name: "ada" },
      items: [{ cost: 5 }, { cost: 6 }],
      meta: { api: "v2" },
    });
    expect(response.headers["content-length"]).toBe(String(response.body!.length));
    expect(response.headers.etag).toBeUndefined();
  });

  it("rewrites +json media types", async () => {
    const next = fixedNext(201, '{"user":{"password":"x"}}', { "content-type": "application/vnd.api+json" });
    const response = await transformLayer(options).handle(fakeExchange(), next);
    expect(response.status).toBe(201);
    expect(parse(response.body)).toEqual({ user: {}, meta: { api: "v2" } });
  });

  it("leaves non-JSON, error, encoded and streamed responses untouched", async () => {
    const layer = transformLayer(options);
    const text = Buffer.from('{"user":{"password":"x"}}');
    for (const [status, headers] of [
      [200, { "content-type": "text/plain" }],
      [500, json],
      [200, { ...json, "content-encoding": "gzip" }],
    ] as const) {
      const response = await layer.handle(fakeExchange(), fixedNext(status, text, { ...headers }));
      expect(response.body).toBe(text);
    }
    const streamed: Next = async () => ({ status: 200, headers: json, body: undefined, streamed: true });
    const response = await layer.handle(fakeExchange(), streamed);
    expect(response.streamed).toBe(true);
  });

  it("answers 502 when a JSON response is not valid JSON", async () => {
    const response = await transformLayer(options).handle(fakeExchange(), fixedNext(200, "{nope", json));
    expect(response.status).toBe(502);
    expect(parse(response.body)).toMatchObject({ code: "FLT_GATEWAY_BAD_GATEWAY" });
  });
});

describe("transformLayer request bodies", () => {
  const options: TransformOptions = {
    requestBody: {
      rename: { "customer.mail": "customer.email" },
      remove: ["isAdmin", "lines.discount"],
      set: { source: "web" },
    },
    maxBodyBytes: 100,
  };

  it("reads a chunked JSON body, rewrites it into exchange.requestBody and fixes the length upstream", async () => {
    const exchange = bodyExchange({ "content-type": "application/json", "transfer-encoding": "chunked" }, [
      '{"customer":{"mail":"a@b"},',
      '"isAdmin":true,"lines":[{"discount":9,"sku":"x"}]}',
    ]);
    const next = fixedNext();
    await transformLayer(options).handle(exchange, next);
    expect(next.calls).toBe(1);
    expect(parse(exchange.requestBody)).toEqual({
      customer: { email: "a@b" },
      lines: [{ sku: "x" }],
      source: "web",
    });
    expect(exchange.upstreamHeaders["content-length"]).toBe(String(exchange.requestBody!.length));
    expect(exchange.upstreamHeaders["transfer-encoding"]).toBeNull();
  });

  it("answers 413 for a body over maxBodyBytes, declared or streamed, without calling next", async () => {
    const declared = bodyExchange({ "content-type": "application/json", "content-length": "101" }, ["{}"]);
    const big = `{"a":"${"x".repeat(150)}"}`;
    const streamed = bodyExchange({ "content-type": "application/json", "transfer-encoding": "chunked" }, [
      big.slice(0, 80),
      big.slice(80),
    ]);
    for (const exchange of [declared, streamed]) {
      const next = fixedNext();
      const response = await transformLayer(options).handle(exchange, next);
      expect(response.status).toBe(413);
      expect(parse(response.body)).toMatchObject({ code: "FLT_GATEWAY_BODY_TOO_LARGE" });
      expect(next.calls).toBe(0);
      expect(exchange.requestBody).toBeUndefined();
    }
  });

  it("answers 400 for invalid JSON and 415 for an encoded body", async () => {
    const invalid = bodyExchange({ "content-type": "application/json", "content-length": "5" }, ["{nope"]);
    const bad = await transformLayer(options).handle(invalid, fixedNext());
    expect(bad.status).toBe(400);
    expect(parse(bad.body)).toMatchObject({ code: "FLT_GATEWAY_BAD_REQUEST" });
    const gzip = bodyExchange(
      { "content-type": "application/json", "content-length": "2", "content-encoding": "gzip" },
      ["{}"],
    );
    expect((await transformLayer(options).handle(gzip, fixedNext())).status).toBe(415);
  });

  it("streams non-JSON and body-less requests untouched", async () => {
    const text = bodyExchange({ "content-type": "text/plain", "content-length": "2" }, ["hi"]);
    await transformLayer(options).handle(text, fixedNext());
    expect(text.requestBody).toBeUndefined();
    expect(text.req.readableEnded).toBe(false);
    const empty = fakeExchange({ method: "GET", headers: { "content-type": "application/json" } });
    await transformLayer(options).handle(empty, fixedNext());
    expect(empty.requestBody).toBeUndefined();
  });
});
