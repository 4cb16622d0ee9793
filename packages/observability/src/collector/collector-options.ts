import { ConfigReader, type Duration } from "@flotilla/resilience";
import { SpanStore } from "./span-store.js";
import { parseSpanStoreOptions, type SpanStoreOptions, spanStoreOptionKeys } from "./span-store-options.js";

/**
 * Options of the embedded trace collector. The retention keys of {@link SpanStoreOptions} configure
 * the collector's own store; pass `store` instead to serve an existing one.
 */
export interface CollectorOptions extends SpanStoreOptions {
  /** Interface to listen on. Default `"127.0.0.1"`: only this machine can send or read traces. */
  readonly host?: string;
  /** Port to listen on; 0 picks a free one. Default 4318, OTLP/HTTP's port. */
  readonly port?: number;
  /** Largest request body, on the wire and after gzip decompression. Default 4 MiB. */
  readonly maxBodyBytes?: number;
  /** Exports handled at once; more are answered 429, which OTLP exporters retry. Default 8. */
  readonly maxConcurrentExports?: number;
  /** Time a client has to send a whole request, such as `"30s"`. Default 30 s. */
  readonly requestTimeout?: Duration;
  /** How long `close()` lets requests in progress finish before cutting their connections. Default 5 s. */
  readonly closeTimeout?: Duration;
  /** A store to fill and serve instead of a new one; excludes the retention keys. */
  readonly store?: SpanStore;
}

/** {@link CollectorOptions} after validation. */
export interface ResolvedCollectorOptions {
  readonly host: string;
  readonly port: number;
  readonly maxBodyBytes: number;
  readonly maxConcurrentExports: number;
  readonly requestTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly store: SpanStore;
}

/** Defaults of {@link CollectorOptions}. */
export const collectorDefaults = {
  host: "127.0.0.1",
  port: 4318,
  maxBodyBytes: 4 * 1024 * 1024,
  maxConcurrentExports: 8,
  requestTimeoutMs: 30_000,
  closeTimeoutMs: 5_000,
} as const;

const collectorKeys = [
  "host",
  "port",
  "maxBodyBytes",
  "maxConcurrentExports",
  "requestTimeout",
  "closeTimeout",
  "store",
  ...spanStoreOptionKeys,
] as const;

/**
 * Validates {@link CollectorOptions}; throws a `ConfigError` (`FLT_CONFIG_INVALID`) listing every
 * problem with its path (`collector.maxBodyBytes: must be at least 1024, got 12`).
 */
export function parseCollectorOptions(raw: CollectorOptions = {}, path = ""): ResolvedCollectorOptions {
  const reader = new ConfigReader();
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, collectorKeys, path);
  const host = reader.string(obj, "host", path, collectorDefaults.host);
  const port = reader.number(obj, "port", path, collectorDefaults.port, {
    integer: true,
    min: 0,
    max: 65_535,
  });
  const maxBodyBytes = reader.number(obj, "maxBodyBytes", path, collectorDefaults.maxBodyBytes, {
    integer: true,
    min: 1024,
    max: 1024 ** 3,
  });
  const maxConcurrentExports = reader.number(
    obj,
    "maxConcurrentExports",
    path,
    collectorDefaults.maxConcurrentExports,
    { integer: true, min: 1 },
  );
  const requestTimeoutMs = reader.duration(obj, "requestTimeout", path, collectorDefaults.requestTimeoutMs, {
    above: 0,
  });
  const closeTimeoutMs = reader.duration(obj, "closeTimeout", path, collectorDefaults.closeTimeoutMs);
  let store: SpanStore | undefined;
  if (obj.store !== undefined) {
    if (!(obj.store instanceof SpanStore)) {
      reader.issue(at(path, "store"), "expected a SpanStore (from spanStore())");
    } else {
      store = obj.store;
      for (const key of spanStoreOptionKeys) {
        if (obj[key] !== undefined) {
          reader.issue(
            at(path, key),
            "not allowed with store: configure the retention of the store you pass",
          );
        }
      }
    }
  }
  // Validated here, with the collector's paths, so one error lists every problem.
  if (store === undefined) parseSpanStoreOptions(obj, reader, path);
  reader.throwIfInvalid();
  store ??= new SpanStore(
    Object.fromEntries(spanStoreOptionKeys.flatMap((k) => (obj[k] === undefined ? [] : [[k, obj[k]]]))),
  );
  return { host, port, maxBodyBytes, maxConcurrentExports, requestTimeoutMs, closeTimeoutMs, store };
}

function at(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}
