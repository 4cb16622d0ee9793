import { FlotillaError, isFlotillaError } from "@flotilla/resilience";

/** The stable error codes of a service's database provisioning. */
export const DatabaseErrorCode = {
  /** PostgreSQL could not be reached or refused the login (refused, timed out, bad password). */
  ConnectFailed: "FLT_SERVICE_DB_CONNECT_FAILED",
  /** The admin role lacks a privilege a provisioning step needs (CREATEROLE, CREATEDB, ownership). */
  PermissionDenied: "FLT_SERVICE_DB_PERMISSION_DENIED",
  /** A database or role name that is not a plain lower-case identifier, too long, or reserved. */
  InvalidName: "FLT_SERVICE_DB_INVALID_NAME",
  /** An existing database or role does not fit: owned by another role, or a superuser role. */
  Conflict: "FLT_SERVICE_DB_CONFLICT",
  /** Any other failure of a provisioning step; `step` and `cause` say which and why. */
  ProvisionFailed: "FLT_SERVICE_DB_PROVISION_FAILED",
} as const;

/** One of {@link DatabaseErrorCode}'s values. */
export type DatabaseErrorCode = (typeof DatabaseErrorCode)[keyof typeof DatabaseErrorCode];

/** Base of the database provisioning errors; check `code` against {@link DatabaseErrorCode}. */
export class DatabaseError extends FlotillaError {
  constructor(code: DatabaseErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isDatabaseError(value);
  }
}

/** True for any database provisioning error from any copy of this package; with `code`, only that code. */
export function isDatabaseError(value: unknown, code?: DatabaseErrorCode): value is DatabaseError {
  return (
    isFlotillaError(value) &&
    value.code.startsWith("FLT_SERVICE_DB_") &&
    (code === undefined || value.code === code)
  );
}

/** PostgreSQL could not be reached, or refused the login; `cause` is the driver's error. */
export class DatabaseConnectError extends DatabaseError {
  /** The connection string that failed, with its password replaced by `***`. */
  readonly url: string;

  constructor(url: string, cause: unknown) {
    super(DatabaseErrorCode.ConnectFailed, `cannot connect to ${url}: ${messageOf(cause)}`, { cause });
    this.url = url;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isDatabaseError(value, DatabaseErrorCode.ConnectFailed);
  }
}

/** The admin role may not do `step` (PostgreSQL error 42501); `cause` is the driver's error. */
export class DatabasePermissionError extends DatabaseError {
  /** What was being done: `create role "flotilla_orders"`. */
  readonly step: string;
  /** The role the admin connection is logged in as. */
  readonly adminRole: string;

  constructor(step: string, adminRole: string, cause: unknown) {
    super(
      DatabaseErrorCode.PermissionDenied,
      `permission denied to ${step} as role "${adminRole}": ${messageOf(cause)}; the admin role needs CREATEROLE and CREATEDB (or superuser)`,
      { cause },
    );
    this.step = step;
    this.adminRole = adminRole;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isDatabaseError(value, DatabaseErrorCode.PermissionDenied);
  }
}

/** A database or role name that cannot be used; `reason` says why. */
export class DatabaseNameError extends DatabaseError {
  /** Which name: `database`, `role` or `service`. */
  readonly kind: string;
  /** The name as given. */
  readonly value: string;

  constructor(kind: string, name: string, reason: string) {
    super(DatabaseErrorCode.InvalidName, `invalid ${kind} name ${JSON.stringify(name)}: ${reason}`);
    this.kind = kind;
    this.value = name;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isDatabaseError(value, DatabaseErrorCode.InvalidName);
  }
}

/**
 * An existing object that provisioning refuses to take over: a database owned by another role
 * (it may be another service's), or a role with superuser rights.
 */
export class DatabaseConflictError extends DatabaseError {
  constructor(message: string) {
    super(DatabaseErrorCode.Conflict, message);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isDatabaseError(value, DatabaseErrorCode.Conflict);
  }
}

/** A provisioning step failed for a reason other than a refused connection or privilege. */
export class DatabaseProvisionError extends DatabaseError {
  /** What was being done: `create database "flotilla_orders"`. */
  readonly step: string;

  constructor(step: string, cause: unknown) {
    super(DatabaseErrorCode.ProvisionFailed, `cannot ${step}: ${messageOf(cause)}`, { cause });
    this.step = step;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isDatabaseError(value, DatabaseErrorCode.ProvisionFailed);
  }
}

function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map(messageOf).join("; ");
  }
  return error instanceof Error ? error.message || String(error) : String(error);
}
