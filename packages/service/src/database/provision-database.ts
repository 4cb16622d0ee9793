import { randomBytes } from "node:crypto";
import { ConfigReader, type Duration } from "@flotilla/resilience";
import pg from "pg";
import { advisoryLockKey } from "./advisory-lock-key.js";
import { readConnectionUrl, redactUrl, urlFor } from "./connection-url.js";
import {
  DatabaseConflictError,
  DatabaseConnectError,
  DatabasePermissionError,
  DatabaseProvisionError,
} from "./database-error.js";
import { type DatabaseLogger, readDatabaseLogger } from "./database-logger.js";
import { scramSha256Verifier } from "./scram-verifier.js";
import { checkDatabaseName, checkRoleName, serviceDatabaseName } from "./service-database-name.js";

/** The admin connection string used when none is given: the local server's `postgres` superuser. */
export const defaultAdminUrl = "postgres://postgres@127.0.0.1:5432/postgres";

/**
 * The advisory lock key (in the admin connection's database) that provisioning holds while it
 * looks up and creates roles and databases, so instances starting together do it once.
 */
export const provisionLockKey: bigint = advisoryLockKey("flotilla:provision");

/** What {@link provisionDatabase} needs. */
export interface ProvisionDatabaseOptions {
  /** The service's name; names the database and role by default and is the URL's `application_name`. */
  readonly service: string;
  /**
   * A role that may create roles and databases (superuser, or CREATEROLE and CREATEDB). Default
   * {@link defaultAdminUrl}. Host, port and options such as `sslmode` carry over to the returned URL.
   */
  readonly adminUrl?: string;
  /** The database's name. Default `serviceDatabaseName(service)` (`flotilla_<service>`). */
  readonly database?: string;
  /** The service's own LOGIN role. Default: the same as the database's name. */
  readonly role?: string;
  /**
   * The role's password. Given: set on every call, so all instances share it (read it from a
   * secret). Absent: a random one is set when the role is created, and an existing role keeps its
   * password while the returned URL carries none (enough under trust, peer or cert auth).
   */
  readonly password?: string;
  /** How long to wait for the admin connection. Default `"5s"`. */
  readonly connectionTimeout?: Duration;
  /** Where `created role`/`created database` (info) and warnings go. Default: warnings to stderr. */
  readonly logger?: DatabaseLogger;
}

/** A service's own database, as {@link provisionDatabase} leaves it. */
export interface ProvisionedDatabase {
  /** Connection string that logs in as `role` to `database`, with `application_name` = the service. */
  readonly url: string;
  /** The database's name. */
  readonly database: string;
  /** The role that owns it. */
  readonly role: string;
}

const known = ["service", "adminUrl", "database", "role", "password", "connectionTimeout", "logger"];
const ident = pg.escapeIdentifier;

/**
 * Makes sure `service` has a database of its own: a LOGIN role (not superuser, no CREATEDB, no
 * CREATEROLE) that owns a database which no other role may connect to (`CONNECT` and `TEMPORARY`
 * revoked from `PUBLIC`; superusers still can). Idempotent, and safe when several instances start
 * at once: the steps run under an advisory lock on the admin connection. The password is sent
 * as a SCRAM-SHA-256 verifier, never in clear.
 *
 * Refuses a database that exists but is owned by another role, and a role that is a superuser
 * ({@link DatabaseConflictError}). Throws a `ConfigError` for malformed options,
 * {@link DatabaseNameError} for unusable names, {@link DatabaseConnectError} when the admin
 * connection fails, {@link DatabasePermissionError} when the admin role lacks a privilege and
 * {@link DatabaseProvisionError} for any other failed step.
 *
 * @example
 * ```ts
 * const { url } = await provisionDatabase({ service: "orders", adminUrl: process.env.PG_ADMIN_URL });
 * const db = database({ url });
 * ```
 */
export async function provisionDatabase(options: ProvisionDatabaseOptions): Promise<ProvisionedDatabase> {
  const reader = new ConfigReader();
  const raw = reader.object(options, "");
  reader.knownKeys(raw, known, "");
  if (raw.service === undefined) reader.issue("service", "is required");
  const service = reader.string(raw, "service", "", "");
  const adminUrl = readConnectionUrl(reader, raw, "adminUrl", defaultAdminUrl);
  const databaseOption = raw.database === undefined ? undefined : reader.string(raw, "database", "", "");
  const roleOption = raw.role === undefined ? undefined : reader.string(raw, "role", "", "");
  const givenPassword = raw.password === undefined ? undefined : reader.string(raw, "password", "", "");
  const connectionTimeout = reader.duration(raw, "connectionTimeout", "", 5000, { above: 0 });
  const logger = readDatabaseLogger(reader, raw, "logger");
  reader.throwIfInvalid();

  const database = checkDatabaseName(databaseOption ?? serviceDatabaseName(service));
  const role = checkRoleName(roleOption ?? database);

  const client = new pg.Client({
    connectionString: adminUrl.href,
    connectionTimeoutMillis: connectionTimeout,
    fallback_application_name: "flotilla-provision",
  });
  // A connection that drops mid-way fails the pending query; without a listener it would also crash the process.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw new DatabaseConnectError(redactUrl(adminUrl), error);
  }

  try {
    let adminRole = decodeURIComponent(adminUrl.username) || "(default user)";
    const run = async <R extends pg.QueryResultRow>(step: string, sql: string, values?: unknown[]) => {
      try {
        return await client.query<R>(sql, values);
      } catch (error) {
        if ((error as { code?: unknown }).code === "42501") {
          throw new DatabasePermissionError(step, adminRole, error);
        }
        throw new DatabaseProvisionError(step, error);
      }
    };
    const admin = await run<{ name: string; superuser: boolean }>(
      "identify the admin role",
      "SELECT current_user AS name, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user",
    );
    adminRole = admin.rows[0]?.name ?? adminRole;

    await run("take the provisioning advisory lock", "SELECT pg_advisory_lock($1::bigint)", [
      provisionLockKey.toString(),
    ]);
    try {
      const password = await ensureRole(run, role, givenPassword, logger);
      if (admin.rows[0]?.superuser !== true) {
        // CREATE DATABASE … OWNER and REVOKE on it need a non-superuser admin to be a member of the role.
        const member = await run<{ member: boolean }>(
          `check membership in role "${role}"`,
          "SELECT pg_has_role(current_user, $1, 'MEMBER') AS member",
          [role],
        );
        if (member.rows[0]?.member !== true) {
          await run(`grant role "${role}" to "${adminRole}"`, `GRANT ${ident(role)} TO CURRENT_USER`);
        }
      }
      await ensureDatabase(run, database, role, logger);
      const url = urlFor(adminUrl, { user: role, password, database, applicationName: service });
      return { url: url.href, database, role };
    } finally {
      await client
        .query("SELECT pg_advisory_unlock($1::bigint)", [provisionLockKey.toString()])
        .catch(() => {});
    }
  } finally {
    await client.end().catch(() => {});
  }
}

type Run = <R extends pg.QueryResultRow>(
  step: string,
  sql: string,
  values?: unknown[],
) => Promise<pg.QueryResult<R>>;

/** Creates or checks the role; returns the password the service's URL should carry. */
async function ensureRole(
  run: Run,
  role: string,
  givenPassword: string | undefined,
  logger: DatabaseLogger,
): Promise<string | undefined> {
  const lookup = () =>
    run<{ rolsuper: boolean; rolcanlogin: boolean }>(
      `look up role "${role}"`,
      "SELECT rolsuper, rolcanlogin FROM pg_roles WHERE rolname = $1",
      [role],
    );
  let existing = (await lookup()).rows[0];
  if (existing === undefined) {
    const password = givenPassword ?? randomBytes(24).toString("base64url");
    const verifier = await scramSha256Verifier(password);
    try {
      await run(
        `create role "${role}"`,
        `CREATE ROLE ${ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD ${pg.escapeLiteral(verifier)}`,
      );
      logger.info({ role }, "created role");
      return password;
    } catch (error) {
      // Another instance won a race this lock did not cover (an admin URL naming another database).
      if (!isDuplicate(error)) throw error;
      existing = (await lookup()).rows[0];
      if (existing === undefined) throw error;
    }
  }
  if (existing.rolsuper) {
    throw new DatabaseConflictError(
      `role "${role}" exists and is a superuser; a service's role must not be: pick another role name`,
    );
  }
  if (!existing.rolcanlogin) await run(`allow role "${role}" to log in`, `ALTER ROLE ${ident(role)} LOGIN`);
  if (givenPassword === undefined) {
    logger.warn(
      { role },
      "role exists and no password was given: keeping its password; the URL carries none (fine under trust, peer or cert auth)",
    );
    return undefined;
  }
  const verifier = await scramSha256Verifier(givenPassword);
  await run(
    `set the password of role "${role}"`,
    `ALTER ROLE ${ident(role)} PASSWORD ${pg.escapeLiteral(verifier)}`,
  );
  return givenPassword;
}

async function ensureDatabase(
  run: Run,
  database: string,
  role: string,
  logger: DatabaseLogger,
): Promise<void> {
  const lookup = () =>
    run<{ owner: string }>(
      `look up database "${database}"`,
      "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1",
      [database],
    );
  let existing = (await lookup()).rows[0];
  if (existing === undefined) {
    try {
      await run(`create database "${database}"`, `CREATE DATABASE ${ident(database)} OWNER ${ident(role)}`);
      logger.info({ database, role }, "created database");
    } catch (error) {
      if (!isDuplicate(error)) throw error;
      existing = (await lookup()).rows[0];
      if (existing === undefined) throw error;
    }
  }
  if (existing !== undefined && existing.owner !== role) {
    throw new DatabaseConflictError(
      `database "${database}" exists and is owned by role "${existing.owner}", not "${role}"; refusing to take it over (it may be another service's): pick another name, or ALTER DATABASE ${ident(database)} OWNER TO ${ident(role)} if it is this service's`,
    );
  }
  await run(
    `revoke access to database "${database}" from PUBLIC`,
    `REVOKE ALL ON DATABASE ${ident(database)} FROM PUBLIC`,
  );
}

function isDuplicate(error: unknown): boolean {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  return cause?.code === "42710" || cause?.code === "42P04" || cause?.code === "23505";
}
