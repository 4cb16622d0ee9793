import { createHash } from "node:crypto";
import { DatabaseNameError } from "./database-error.js";

/** PostgreSQL's identifier limit (NAMEDATALEN - 1), in bytes. */
const maxLength = 63;
const plainIdentifier = /^[a-z_][a-z0-9_]*$/;
const reservedDatabases = new Set(["postgres", "template0", "template1"]);
const reservedRoles = new Set(["public", "none", "postgres", "current_user", "session_user", "current_role"]);

/**
 * The default database and role name of `service`: `flotilla_` and the name in lower case with
 * every run of characters outside `[a-z0-9_]` turned into one `_` (`Order-Service` →
 * `flotilla_order_service`). A result longer than 63 characters is cut to 54 and given `_` and 8
 * hex characters of the name's sha256, so two long names that share a prefix still differ.
 * Throws a {@link DatabaseNameError} when nothing is left of the name.
 */
export function serviceDatabaseName(service: string): string {
  if (typeof service !== "string")
    throw new DatabaseNameError("service", String(service), "expected a string");
  const body = service
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/^_+|_+$/g, "");
  if (body === "") throw new DatabaseNameError("service", service, "has no letter, digit or underscore");
  const name = `flotilla_${body}`;
  if (name.length <= maxLength) return name;
  const hash = createHash("sha256").update(service).digest("hex").slice(0, 8);
  return `${name.slice(0, maxLength - 9)}_${hash}`;
}

/**
 * Returns `name` when it can name a service's database: a plain lower-case identifier
 * (`[a-z_][a-z0-9_]*`, at most 63 characters) other than `postgres`, `template0`, `template1`.
 * Throws a {@link DatabaseNameError} otherwise.
 */
export function checkDatabaseName(name: string): string {
  checkIdentifier("database", name);
  if (reservedDatabases.has(name)) throw new DatabaseNameError("database", name, "is a system database");
  return name;
}

/**
 * Returns `name` when it can name a service's role: a plain lower-case identifier, at most 63
 * characters, not starting with `pg_` and not `public`, `none`, `postgres` or a `current_*` keyword.
 * Throws a {@link DatabaseNameError} otherwise.
 */
export function checkRoleName(name: string): string {
  checkIdentifier("role", name);
  if (name.startsWith("pg_"))
    throw new DatabaseNameError("role", name, "the pg_ prefix is reserved for system roles");
  if (reservedRoles.has(name)) throw new DatabaseNameError("role", name, "is reserved");
  return name;
}

function checkIdentifier(kind: string, name: string): void {
  if (typeof name !== "string") throw new DatabaseNameError(kind, String(name), "expected a string");
  if (!plainIdentifier.test(name)) {
    throw new DatabaseNameError(
      kind,
      name,
      "expected lower-case letters, digits and underscores, not starting with a digit",
    );
  }
  if (name.length > maxLength) {
    throw new DatabaseNameError(kind, name, `longer than ${maxLength} characters (${name.length})`);
  }
}
