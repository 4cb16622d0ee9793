import type { Logger } from "@flotilla/observability";
import type { Clock, ConfigReader } from "@flotilla/resilience";

/**
 * Options of {@link etcdStore}. There is no `expiryGuard`: etcd expires leases itself, so this
 * store cannot hold expiries back; self-preservation on etcd is enforced by the registry
 * server, not by the store.
 */
export interface EtcdStoreOptions {
  /**
   * etcd client URLs, `http://host:port` or `https://host:port` (all of one scheme; https uses
   * the system's root certificates). Calls go to any of them; reads are retried on another.
   */
  readonly endpoints: readonly string[];
  /**
   * Prepended to every key, so several registries can share one etcd cluster; keys come back
   * without it. Default `"flotilla/"`; must not be empty.
   */
  readonly prefix?: string | undefined;
  /**
   * The longest one etcd call may take, connecting included, before it fails with
   * `FLT_REGISTRY_STORE_UNAVAILABLE`. Default 5000. (etcd3 has no separate dial timeout: gRPC
   * connects lazily, within the first call's deadline.)
   */
  readonly requestTimeoutMs?: number | undefined;
  /** Timers of watch reconnection. Default the system clock. */
  readonly clock?: Clock | undefined;
  /** Where watch disconnects and handler failures are logged. Default: not logged. */
  readonly logger?: Logger | undefined;
}

/** {@link EtcdStoreOptions} with defaults applied. */
export interface ResolvedEtcdStoreOptions {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly requestTimeoutMs: number;
  readonly clock: Clock;
  readonly logger: Logger | undefined;
}

/** Defaults of {@link EtcdStoreOptions}. */
export const etcdStoreDefaults = {
  prefix: "flotilla/",
  requestTimeoutMs: 5_000,
} as const;

const knownKeys = ["endpoints", "prefix", "requestTimeoutMs", "clock", "logger"] as const;
const endpointPattern = /^(https?:\/\/)?[^\s/:]+:\d{1,5}\/?$|^(https?:\/\/)?\[[0-9a-fA-F:.]+\]:\d{1,5}\/?$/;

/** Validates raw {@link EtcdStoreOptions}, recording each problem at its exact path in `reader`. */
export function parseEtcdStoreOptions(
  raw: unknown,
  reader: ConfigReader,
  path: string,
): ResolvedEtcdStoreOptions {
  const obj = reader.object(raw, path);
  reader.knownKeys(obj, knownKeys, path);
  const at = (key: string) => (path === "" ? key : `${path}.${key}`);
  const endpoints: string[] = [];
  const rawEndpoints = obj.endpoints;
  if (!Array.isArray(rawEndpoints) || rawEndpoints.length === 0) {
    reader.issue(at("endpoints"), "expected a non-empty array of etcd client URLs");
  } else {
    rawEndpoints.forEach((endpoint: unknown, i) => {
      if (typeof endpoint !== "string" || !endpointPattern.test(endpoint)) {
        reader.issue(`${at("endpoints")}[${i}]`, "expected an etcd client URL like http://127.0.0.1:2379");
      } else {
        endpoints.push(endpoint);
      }
    });
    const secure = endpoints.filter((e) => e.startsWith("https://")).length;
    if (secure > 0 && secure < endpoints.length) {
      reader.issue(at("endpoints"), "mixes https and plain endpoints; use one scheme");
    }
  }
  const logger = obj.logger as Partial<Logger> | undefined;
  if (
    logger !== undefined &&
    (typeof logger !== "object" || logger === null || typeof logger.warn !== "function")
  ) {
    reader.issue(at("logger"), "expected a pino Logger");
  }
  return {
    endpoints,
    prefix: reader.string(obj, "prefix", path, etcdStoreDefaults.prefix),
    requestTimeoutMs: reader.number(obj, "requestTimeoutMs", path, etcdStoreDefaults.requestTimeoutMs, {
      above: 0,
    }),
    clock: reader.clock(obj, "clock", path),
    logger: logger as Logger | undefined,
  };
}
