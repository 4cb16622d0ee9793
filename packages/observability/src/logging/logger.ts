import { hostname } from "node:os";
import { ConfigReader } from "@flotilla/resilience";
import { type DestinationStream, type Logger, pino } from "pino";
import pretty from "pino-pretty";
import { censored, headerSerializers } from "./header-serializers.js";
import { type LoggerOptions, parseLoggerOptions } from "./logger-options.js";
import { noTraceFields, traceFields } from "./trace-fields.js";

/**
 * A pino logger for one service instance. Every line is one JSON object with `level` (as a
 * label), `time` (ISO 8601), `service`, `instance`, `pid`, `hostname`, `msg`, and `trace_id`,
 * `span_id` and `trace_flags` while an OpenTelemetry span is active. The `authorization`,
 * `proxy-authorization`, `cookie` and `set-cookie` headers are censored in a top-level `headers`
 * object and in `req.headers`, `res.headers`, `request.headers`, `response.headers` and
 * `upstream.headers` (see {@link headerSerializers}); every path in `redact` is censored through
 * pino's redaction.
 *
 * Output:
 * - JSON to stdout goes through an asynchronous `pino.destination` (`sync: false`): a line is
 *   appended to a buffer and written by `fs.write` off the call's path; under load, lines that
 *   arrive during a write go out together in the next one. No `minLength`: it would hold the lines
 *   of a quiet service back until kilobytes piled up. pino flushes the buffer synchronously on
 *   `exit` and `beforeExit`; a process ended by a signal must call `process.exit()` from its
 *   handler (the service runtime does) or `logger.flush()` first, or its last lines are lost.
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

  return pino(
    {
      level: o.level,
      base: { pid: process.pid, hostname: hostname(), service: o.service, instance: o.instanceId },
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err, ...headerSerializers },
      ...(o.redact.length > 0 ? { redact: { paths: [...o.redact], censor: censored } } : {}),
      mixin: traceFields,
      // pino's default merge writes the call's fields into the mixin's object; with no active span
      // the mixin returns one shared frozen object, so take the call's object as it is.
      mixinMergeStrategy: (mergeObject, mixinObject) =>
        mixinObject === noTraceFields ? mergeObject : Object.assign(mixinObject, mergeObject),
    },
    stream,
  );
}

/**
 * pino's asynchronous stdout destination (SonicBoom) in its `buffer` content mode, each line handed
 * over as a `Buffer`. In the default `utf8` mode SonicBoom appends every line to one pending string
 * and measures that whole string's UTF-8 length again on each write, so while a write is in flight
 * every further line costs time and garbage in proportion to the lines already waiting.
 */
function stdoutDestination(): DestinationStream {
  const sonic = pino.destination({ dest: 1, sync: false, contentMode: "buffer" });
  const writeBuffer = sonic.write as unknown as (line: Buffer) => boolean;
  sonic.write = (line: string): boolean => writeBuffer.call(sonic, Buffer.from(line));
  return sonic;
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
