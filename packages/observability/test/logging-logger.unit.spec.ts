import { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import { Writable } from "node:stream";
import { configIssues as issues } from "@flotilla/resilience/testing";
import { context, INVALID_SPAN_CONTEXT, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { TracerProvider } from "@opentelemetry/sdk-trace";
import type { DestinationStream } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createLogger } from "../src/logging/logger.js";
import { type LoggerOptions, parseLoggerOptions } from "../src/logging/logger-options.js";

/** A destination that keeps every JSON line pino writes to it, parsed. */
function jsonSink(): { stream: DestinationStream; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { stream: { write: (text: string) => void lines.push(JSON.parse(text)) }, lines };
}

function logger(extra: Partial<LoggerOptions> = {}) {
  const sink = jsonSink();
  const log = createLogger({
    service: "orders",
    instanceId: "orders-1",
    destination: sink.stream,
    env: {},
    ...extra,
  });
  return { log, lines: sink.lines };
}

describe("createLogger", () => {
  it("writes one JSON object per line with service, instance, level label and ISO time", () => {
    const { log, lines } = logger();
    log.info({ orderId: 7 }, "order placed");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: "info",
      service: "orders",
      instance: "orders-1",
      pid: process.pid,
      orderId: 7,
      msg: "order placed",
    });
    expect(new Date(lines[0]!.time as string).toISOString()).toBe(lines[0]!.time);
    expect(lines[0]).not.toHaveProperty("trace_id");
  });

  describe("time", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("is the ISO time of the millisecond the line was written in", () => {
      vi.useFakeTimers({ now: new Date("2026-01-02T03:04:05.006Z"), toFake: ["Date"] });
      const { log, lines } = logger();
      log.info("first");
      log.info("same millisecond");
      vi.setSystemTime(new Date("2026-01-02T03:04:05.007Z"));
      log.info("next millisecond");
      vi.setSystemTime(new Date("2031-12-31T23:59:59.999Z"));
      log.info("years later");
      expect(lines.map((line) => line.time)).toEqual([
        "2026-01-02T03:04:05.006Z",
        "2026-01-02T03:04:05.006Z",
        "2026-01-02T03:04:05.007Z",
        "2031-12-31T23:59:59.999Z",
      ]);
    });
  });

  describe("inside an OpenTelemetry span", () => {
    const provider = new TracerProvider();
    const contextManager = new AsyncLocalStorageContextManager();

    beforeAll(() => {
      context.setGlobalContextManager(contextManager.enable());
    });

    afterAll(async () => {
      context.disable();
      await provider.shutdown();
    });

    it("carries the active span's trace_id, span_id and trace_flags", async () => {
      const { log, lines } = logger();
      const tracer = provider.getTracer("test");
      const ids = await tracer.startActiveSpan("handle order", async (span) => {
        await Promise.resolve();
        log.info("inside");
        await tracer.startActiveSpan("child", async (child) => {
          log.info("in the child");
          child.end();
        });
        span.end();
        return span.spanContext();
      });
      log.info("after");

      expect(lines[0]).toMatchObject({
        trace_id: ids.traceId,
        span_id: ids.spanId,
        trace_flags: "01",
        msg: "inside",
      });
      expect(lines[0]!.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(lines[1]).toMatchObject({ trace_id: ids.traceId, msg: "in the child" });
      expect(lines[1]!.span_id).not.toBe(ids.spanId);
      expect(lines[2]).not.toHaveProperty("trace_id");
      expect(lines[2]).not.toHaveProperty("span_id");
    });

    it("leaves an invalid span context out, and lets the call's own fields win", () => {
      const { log, lines } = logger();
      context.with(trace.setSpan(context.active(), trace.wrapSpanContext(INVALID_SPAN_CONTEXT)), () => {
        log.info("invalid");
      });
      const valid = {
        traceId: "0af7651916cd43dd8448eb211c80319c",
        spanId: "b7ad6b7169203331",
        traceFlags: 0,
      };
      context.with(trace.setSpan(context.active(), trace.wrapSpanContext(valid)), () => {
        log.info({ span_id: "mine" }, "sampled out");
      });
      expect(lines[0]).not.toHaveProperty("trace_id");
      expect(lines[1]).toMatchObject({ trace_id: valid.traceId, span_id: "mine", trace_flags: "00" });
    });

    it("writes each trace field once, also when the call names one of them", () => {
      const text: string[] = [];
      const log = createLogger({
        service: "orders",
        instanceId: "orders-1",
        destination: { write: (line: string) => void text.push(line) },
        env: {},
      });
      const valid = {
        traceId: "0af7651916cd43dd8448eb211c80319c",
        spanId: "b7ad6b7169203331",
        traceFlags: 1,
      };
      context.with(trace.setSpan(context.active(), trace.wrapSpanContext(valid)), () => {
        log.info({ orderId: 7 }, "plain");
        log.info({ span_id: "mine" }, "own span id");
      });
      const count = (line: string, key: string) => line.split(`"${key}":`).length - 1;
      for (const line of text) {
        for (const key of ["trace_id", "span_id", "trace_flags", "msg"]) expect(count(line, key)).toBe(1);
      }
      expect(
        text[0]!.endsWith(`"trace_id":"${valid.traceId}","span_id":"${valid.spanId}","trace_flags":"01"}\n`),
      ).toBe(true);
      expect(JSON.parse(text[1]!)).toMatchObject({
        trace_id: valid.traceId,
        span_id: "mine",
        trace_flags: "01",
      });
    });
  });

  it("censors authorization and cookie headers in the usual shapes, and configured paths", () => {
    const { log, lines } = logger({ redact: ["body.password", 'user["api-key"]'] });
    const req = {
      method: "GET",
      headers: { authorization: "Bearer secret", cookie: "sid=secret", accept: "application/json" },
    };
    log.info(
      {
        req,
        res: { statusCode: 200, headers: { "set-cookie": ["sid=secret"], "content-type": "text/plain" } },
        headers: { Authorization: "Basic secret", "Proxy-Authorization": "secret", host: "orders" },
        request: { headers: { COOKIE: "secret" } },
        body: { password: "hunter2", user: "ann" },
        user: { "api-key": "k", id: 1 },
      },
      "request",
    );
    const line = lines[0] as Record<string, Record<string, Record<string, unknown>>>;
    expect(line.req!.headers).toEqual({
      authorization: "[Redacted]",
      cookie: "[Redacted]",
      accept: "application/json",
    });
    expect(line.res!.headers).toEqual({ "set-cookie": "[Redacted]", "content-type": "text/plain" });
    expect(line.headers).toEqual({
      Authorization: "[Redacted]",
      "Proxy-Authorization": "[Redacted]",
      host: "orders",
    });
    expect(line.request!.headers).toEqual({ COOKIE: "[Redacted]" });
    expect(line.body).toEqual({ password: "[Redacted]", user: "ann" });
    expect(line.user).toEqual({ "api-key": "[Redacted]", id: 1 });
    expect(JSON.stringify(lines)).not.toContain("secret");
    // The caller's objects are untouched.
    expect(req.headers.authorization).toBe("Bearer secret");
  });

  it("reduces a Node request to its standard fields and censors its headers", () => {
    const { log, lines } = logger();
    const socket = new Socket();
    const req = new IncomingMessage(socket);
    req.method = "POST";
    req.url = "/orders";
    req.headers = { authorization: "Bearer secret", "content-type": "application/json" };
    log.info({ req }, "incoming");
    socket.destroy();
    expect(lines[0]!.req).toMatchObject({
      method: "POST",
      url: "/orders",
      headers: { authorization: "[Redacted]", "content-type": "application/json" },
    });
  });

  it("takes the level from FLOTILLA_LOG_LEVEL, then LOG_LEVEL, unless one is given", () => {
    const debug = logger({ env: { FLOTILLA_LOG_LEVEL: "debug", LOG_LEVEL: "error" } });
    debug.log.debug("shown");
    debug.log.trace("hidden");
    expect(debug.lines.map((l) => l.msg)).toEqual(["shown"]);
    expect(debug.log.level).toBe("debug");

    const fallback = logger({ env: { LOG_LEVEL: "WARN" } });
    fallback.log.info("hidden");
    fallback.log.warn("shown");
    expect(fallback.lines.map((l) => [l.level, l.msg])).toEqual([["warn", "shown"]]);

    expect(logger({ env: {} }).log.level).toBe("info");
    expect(logger({ level: "error", env: { FLOTILLA_LOG_LEVEL: "debug" } }).log.level).toBe("error");
  });

  it("writes pretty text instead of JSON when asked", async () => {
    const chunks: string[] = [];
    const arrived = Promise.withResolvers<void>();
    const destination = new Writable({
      write(chunk, _encoding, done) {
        chunks.push(String(chunk));
        if (chunks.join("").includes("second")) arrived.resolve();
        done();
      },
    });
    const log = createLogger({
      service: "orders",
      instanceId: "orders-1",
      pretty: true,
      destination: destination as unknown as DestinationStream,
      env: {},
    });
    log.info({ req: { headers: { cookie: "secret" } } }, "first");
    log.warn("second");
    await arrived.promise;
    const text = chunks.join("");
    expect(text).toMatch(/INFO.*\[orders\] first/);
    expect(text).toMatch(/WARN.*\[orders\] second/);
    expect(text).toContain("[Redacted]");
    expect(text).not.toContain("secret");
    expect(() => JSON.parse(text.split("\n")[0]!)).toThrow();
    destination.destroy();
  });

  it("rejects bad options and bad environment values with their paths", () => {
    expect(
      issues(() =>
        createLogger({
          service: "orders",
          level: "loud",
          redact: ["ok.path", "bad..path", 3],
          destination: {},
          env: { FLOTILLA_LOG_PRETTY: "maybe" },
        } as never),
      ),
    ).toEqual([
      "instanceId: is required",
      'level: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud"',
      "destination: expected a stream with a write() method",
      'env.FLOTILLA_LOG_PRETTY: expected 1, true, 0 or false, got "maybe"',
      `redact[1]: expected a path such as "body.password" or 'headers["x-api-key"]', got "bad..path"`,
      `redact[2]: expected a path such as "body.password" or 'headers["x-api-key"]', got 3`,
    ]);
    expect(
      issues(() => createLogger({ service: "s", instanceId: "i", env: { FLOTILLA_LOG_LEVEL: "verbose" } })),
    ).toEqual([
      'env.FLOTILLA_LOG_LEVEL: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "verbose"',
    ]);
  });
});

describe("parseLoggerOptions: pretty or JSON", () => {
  const base = { service: "orders", instanceId: "orders-1" };
  const pretty = (env: Record<string, string>, tty: boolean, extra: Partial<LoggerOptions> = {}) =>
    parseLoggerOptions({ ...base, env, ...extra }, undefined, tty).pretty;

  it("is pretty on a terminal and JSON otherwise, unless FLOTILLA_LOG_PRETTY or the option says", () => {
    expect(pretty({}, true)).toBe(true);
    expect(pretty({}, false)).toBe(false);
    expect(pretty({ FLOTILLA_LOG_PRETTY: "1" }, false)).toBe(true);
    expect(pretty({ FLOTILLA_LOG_PRETTY: "true" }, false)).toBe(true);
    expect(pretty({ FLOTILLA_LOG_PRETTY: "0" }, true)).toBe(false);
    expect(pretty({ FLOTILLA_LOG_PRETTY: "1" }, false, { pretty: false })).toBe(false);
    expect(pretty({}, false, { pretty: true })).toBe(true);
    // A terminal on stdout says nothing about a destination of the caller's own.
    expect(pretty({}, true, { destination: { write() {} } })).toBe(false);
  });
});
