import { ConfigReader } from "@flotilla/resilience";
import type { DestinationStream } from "pino";
import { isRedactPath } from "./redact-path.js";

/** The levels a logger accepts, most severe first; `silent` turns logging off. */
export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** One of {@link logLevels}. */
export type LogLevel = (typeof logLevels)[number];

/** How to build a logger with {@link createLogger}: plain data, validated by {@link parseLoggerOptions}. */
export interface LoggerOptions {
  /** The service's name, written as `service` on every line. */
  readonly service: string;
  /** This process's instance id, written as `instance` on every line. */
  readonly instanceId: string;
  /** The lowest level written. Default: `FLOTILLA_LOG_LEVEL`, else `LOG_LEVEL`, else `"info"`. */
  readonly level?: LogLevel;
  /**
   * Human-readable lines (pino-pretty) instead of JSON. Default: `FLOTILLA_LOG_PRETTY` when set
   * (`1`/`true` or `0`/`false`), else true when writing to stdout and stdout is a terminal.
   */
  readonly pretty?: boolean;
  /**
   * More paths to censor (`body.password`, `user["api-key"]`), through pino's `redact`, on top of
   * the secret headers that are always censored. Each path costs time on every line that has its
   * first key; a leading `*` costs it on every line.
   */
  readonly redact?: readonly string[];
  /** Where lines go instead of stdout; written to as given (its own buffering applies). */
  readonly destination?: DestinationStream;
  /** Where the defaults are read from. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** {@link LoggerOptions} after validation, with every default decided. */
export interface ResolvedLoggerOptions {
  readonly service: string;
  readonly instanceId: string;
  readonly level: LogLevel;
  readonly pretty: boolean;
  readonly redact: readonly string[];
  readonly destination: DestinationStream | undefined;
}

const known = ["service", "instanceId", "level", "pretty", "redact", "destination", "env"];

/**
 * Validates `options` and decides the defaults from `env` (`options.env`, else `process.env`)
 * and whether stdout is a terminal. Records every problem in `reader` with its path; a bad
 * environment value is reported under `env.FLOTILLA_LOG_LEVEL` and the like.
 */
export function parseLoggerOptions(
  options: LoggerOptions,
  reader: ConfigReader = new ConfigReader(),
  stdoutIsTTY: boolean = process.stdout.isTTY === true,
): ResolvedLoggerOptions {
  const raw = reader.object(options, "");
  reader.knownKeys(raw, known, "");
  if (raw.service === undefined) reader.issue("service", "is required");
  if (raw.instanceId === undefined) reader.issue("instanceId", "is required");
  const env = (raw.env ?? process.env) as Readonly<Record<string, string | undefined>>;

  let level: LogLevel;
  if (raw.level !== undefined) level = reader.oneOf(raw, "level", "", logLevels, "info");
  else {
    const name = env.FLOTILLA_LOG_LEVEL !== undefined ? "FLOTILLA_LOG_LEVEL" : "LOG_LEVEL";
    const fromEnv = env[name]?.trim().toLowerCase();
    level = fromEnv ? reader.oneOf({ [name]: fromEnv }, name, "env", logLevels, "info") : "info";
  }

  const destination = raw.destination as DestinationStream | undefined;
  if (destination !== undefined && typeof (destination as { write?: unknown })?.write !== "function") {
    reader.issue("destination", "expected a stream with a write() method");
  }

  let pretty: boolean;
  if (raw.pretty !== undefined) pretty = reader.boolean(raw, "pretty", "", false);
  else {
    const flag = env.FLOTILLA_LOG_PRETTY?.trim().toLowerCase();
    if (flag === undefined || flag === "") pretty = destination === undefined && stdoutIsTTY;
    else if (flag === "1" || flag === "true") pretty = true;
    else if (flag === "0" || flag === "false") pretty = false;
    else {
      reader.issue("env.FLOTILLA_LOG_PRETTY", `expected 1, true, 0 or false, got "${flag}"`);
      pretty = false;
    }
  }

  const redact: string[] = [];
  if (raw.redact !== undefined) {
    if (!Array.isArray(raw.redact)) reader.issue("redact", "expected an array of paths");
    else {
      raw.redact.forEach((path: unknown, i) => {
        if (typeof path === "string" && isRedactPath(path)) redact.push(path);
        else
          reader.issue(
            `redact[${i}]`,
            `expected a path such as "body.password" or 'headers["x-api-key"]', got ${JSON.stringify(path)}`,
          );
      });
    }
  }

  return {
    service: reader.string(raw, "service", "", "unknown"),
    instanceId: reader.string(raw, "instanceId", "", "unknown"),
    level,
    pretty,
    redact,
    destination,
  };
}
