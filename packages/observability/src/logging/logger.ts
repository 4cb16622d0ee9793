import { hostname } from "node:os";
import { ConfigReader } from "@flotilla/resilience";
import { type DestinationStream, type Logger, pino } from "pino";
import pretty from "pino-pretty";
import { censored, headerSerializers } from "./header-serializers.js";
import { type LoggerOptions, parseLoggerOptions } from "./logger-options.js";
import { stdoutDestination } from "./stdout-destination.js";
import { noTraceFields, traceFields } from "./trace-fields.js";
import { traceFieldsJson } from "./trace-fields-json.js";

/**
 * A pino logger for one service instance. Every line is one JSON object with `level` (as a
 * label), `time` (ISO 8601), `service`, `instance`, `pid`, `hostname`, `msg`, and, at the end,
 * `trace_id`, `span_id` and `trace_flags` while an OpenTelemetry span is active (fields of the
 * call with these names win over the span's). The `authorization`,
 * `proxy-authorization`, `cookie` and `set-cookie` headers are censored in a top-level `headers`
 * object and in `req.headers`, `res.headers`, `request.headers`, `response.headers` and
 * `upstream.headers` (see {@link headerSerializers}); every path in `redact` is censored through
 * pino's redaction.
 *
 * Output:
 * - JSON to stdout goes through an asynchronous `pino.destination` (`sync: false`): lines are
 *   handed over in batches, once they reach 16384 characters or 10 ms after the first of them, and
 *   written by `fs.write` off the call's path; lines that arrive during a write go out together in
 *   the next one. No `minLength`: it would hold the lines of a quiet service back until kilobytes
 *   piled up. pino flushes everything synchronously on `exit`; a process ended by a signal must
 *   call `process.exit()` from its handler (the service runtime does) or `logger.flush()` first, or
 *   its last lines are lost.
 * - `pretty` formats in-process with pino-pretty: every line is parsed back from JSON and formatted
 *   on the main thread, several times the cost of a JSON line. For development only.
 * - `destination` receives the lines as given (JSON, or pretty text when `pretty` is set).
 *
 * Throws a `ConfigError` listing every bad option, including bad `FLOTILLA_LOG_LEVEL`,
 * `LOG_LEVEL` or `FLOTILLA_LOG_PRETTY` values.
 *
 * @example
 * ```ts
 * const log = createLogger({ service: "orders", instanceId: "orders-1" });
 * log.info({ orderId }, "order placed");
 * ```
 */
export function createLogger(options: LoggerOptions): Logger {
  const reader = new ConfigReader();
  const stdoutIsTTY = process.stdout.isTTY === true;
  const o = parseLoggerOptions(options, reader, stdoutIsTTY);
  reader.throwIfInvalid();

  let stream: DestinationStream;
  if (o.pretty) {
    stream = pretty({
      colorize: o.destination === undefined && stdoutIsTTY,
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "pid,hostname,service,instance",
      messageFormat: "[{service}] {msg}",
      ...(o.destination === undefined
        ? { sync: false }
        : { destination: o.destination as NodeJS.WritableStream }),
    });
  } else {
    stream = o.destination ?? stdoutDestination();
  }

  // The trace fields are appended to the finished line as text: merging them into the call's
  // object would cost an object, a merge and three more keys to serialize, on every line. A call
  // that names one of them itself gets them merged the usual way, so that its own values win
  // without a key appearing twice.
  let traceJson = "";
  return pino(
    {
      level: o.level,
      base: { pid: process.pid, hostname: hostname(), service: o.service, instance: o.instanceId },
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err, ...headerSerializers },
      ...(o.redact.length > 0 ? { redact: { paths: [...o.redact], censor: censored } } : {}),
      mixin: (mergeObject: object) => {
        const fields = mergeObject as Partial<Record<"trace_id" | "span_id" | "trace_flags", unknown>>;
        if (
          fields.trace_id !== undefined ||
          fields.span_id !== undefined ||
          fields.trace_flags !== undefined
        ) {
          traceJson = "";
          return traceFields();
        }
        traceJson = traceFieldsJson();
        return noTraceFields;
      },
      // pino's default merge writes the call's fields into the mixin's object; with no fields to
      // add the mixin returns one shared frozen object, so take the call's object as it is.
      mixinMergeStrategy: (mergeObject, mixinObject) =>
        mixinObject === noTraceFields ? mergeObject : Object.assign(mixinObject, mergeObject),
      hooks: {
        streamWrite: (line) => {
          const fields = traceJson;
          if (fields === "") return line;
          traceJson = "";
          // Every line ends with the object's closing brace and a newline.
          return `${line.slice(0, -2)}${fields}}\n`;
        },
      },
    },
    stream,
  );
}

let lastMs = Number.NaN;
let lastTime = "";

/**
 * pino's `isoTime`, formatted once per millisecond: a busy service writes many lines in the same
 * millisecond, and `toISOString` is a good part of the cost of a short line.
 */
function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}
