import { FlotillaError, isFlotillaError } from "@flotilla/resilience";

/** The stable error codes of `@flotilla/registry`. */
export const RegistryErrorCode = {
  /** A lease id the registry does not know (expired, revoked, never granted): re-register. */
  UnknownLease: "FLT_REGISTRY_UNKNOWN_LEASE",
  /** A request the registry refused as malformed; `issues` lists each bad field path. */
  InvalidRequest: "FLT_REGISTRY_INVALID_REQUEST",
  /** A limit was reached (instances, KV size, watchers, body size). */
  LimitExceeded: "FLT_REGISTRY_LIMIT_EXCEEDED",
  /** The store was used after `close()`. */
  StoreClosed: "FLT_REGISTRY_STORE_CLOSED",
  /** The store's backend (etcd, the data directory) failed. */
  StoreUnavailable: "FLT_REGISTRY_STORE_UNAVAILABLE",
  /** The durable log or snapshot in the data directory cannot be read back. */
  DataCorrupt: "FLT_REGISTRY_DATA_CORRUPT",
  /** The registry server could not be reached or answered with a server error. */
  Unreachable: "FLT_REGISTRY_UNREACHABLE",
  /** A registry client, cache or registration loop was used after `close()`/`stop()`. */
  ClientClosed: "FLT_REGISTRY_CLIENT_CLOSED",
  /** A service has no instance to route to. */
  NoInstance: "FLT_REGISTRY_NO_INSTANCE",
} as const;

/** One of {@link RegistryErrorCode}'s values. */
export type RegistryErrorCode = (typeof RegistryErrorCode)[keyof typeof RegistryErrorCode];

/** Base of every error this package throws; check `code` against {@link RegistryErrorCode}. */
export class RegistryError extends FlotillaError {
  constructor(code: RegistryErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isRegistryError(value);
  }
}

/** True for any registry error from any copy of this package; with `code`, only that code. */
export function isRegistryError(value: unknown, code?: RegistryErrorCode): value is RegistryError {
  return (
    isFlotillaError(value) &&
    value.code.startsWith("FLT_REGISTRY_") &&
    (code === undefined || value.code === code)
  );
}

/** One bad field of a request: its path (`checks[0].url`) and what is wrong with it. */
export interface RequestIssue {
  readonly path: string;
  readonly message: string;
}

/** A request the registry refused; maps to HTTP 400. */
export class RegistryInvalidRequestError extends RegistryError {
  readonly issues: readonly RequestIssue[];

  constructor(issues: readonly RequestIssue[]) {
    super(
      RegistryErrorCode.InvalidRequest,
      `invalid request: ${issues.map((i) => `${i.path || "(body)"}: ${i.message}`).join("; ")}`,
    );
    this.issues = issues;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isRegistryError(value, RegistryErrorCode.InvalidRequest);
  }
}

/** A lease the registry does not know; the instance must register again. */
export class RegistryUnknownLeaseError extends RegistryError {
  readonly lease: string;

  constructor(lease: string) {
    super(RegistryErrorCode.UnknownLease, `unknown lease "${lease}": register again`);
    this.lease = lease;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isRegistryError(value, RegistryErrorCode.UnknownLease);
  }
}
