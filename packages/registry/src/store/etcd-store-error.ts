import { ClientClosedError, EtcdLeaseInvalidError, isRecoverableError } from "etcd3";
import { RegistryError, RegistryErrorCode } from "../registry-error.js";

/**
 * The registry error for a failed etcd call: `FLT_REGISTRY_LIMIT_EXCEEDED` when etcd refused a
 * request as too large, `FLT_REGISTRY_STORE_CLOSED` when the client was already closed, and
 * `FLT_REGISTRY_STORE_UNAVAILABLE` for everything else (unreachable, deadline, no leader, no
 * space), always with the etcd error as `cause`.
 */
export function etcdStoreError(operation: string, error: unknown): RegistryError {
  if (error instanceof RegistryError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ClientClosedError) {
    return new RegistryError(RegistryErrorCode.StoreClosed, `etcd store is closed (${operation})`, {
      cause: error,
    });
  }
  if (message.includes("request is too large")) {
    return new RegistryError(RegistryErrorCode.LimitExceeded, `etcd ${operation} refused: ${message}`, {
      cause: error,
    });
  }
  return new RegistryError(RegistryErrorCode.StoreUnavailable, `etcd ${operation} failed: ${message}`, {
    cause: error,
  });
}

/** True when etcd answered "requested lease not found". */
export function isEtcdLeaseNotFound(error: unknown): boolean {
  return (
    error instanceof EtcdLeaseInvalidError ||
    (error instanceof Error && error.message.includes("requested lease not found"))
  );
}

/**
 * True when an etcd call failed in a way worth retrying on another endpoint: unavailable,
 * deadline, connection reset (etcd3's "recoverable" errors, and its open per-host breaker).
 */
export function isEtcdRetryable(error: unknown): boolean {
  return (
    error instanceof Error &&
    (isRecoverableError(error) || (error as { isBrokenCircuitError?: boolean }).isBrokenCircuitError === true)
  );
}
